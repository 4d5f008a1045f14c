/* SPDX-License-Identifier: MIT */
/*
 * Coroutines awaiting the pool: sequential code that writes, reads and stats a file,
 * resolves a name and runs a job, each a plain vow_await; and a coroutine cancelled
 * while it awaits a job that is stuck (the await returns VOW_ECANCELED, the job, whose
 * only consumer the await was, is told and its result released on the loop) or still
 * queued (withdrawn, never run).
 */
#include "work-test.h"

#include "vow/co.h"

#include <netdb.h>
#include <sys/stat.h>

#define THREADS 4

static char dir[64];

static int add_one(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    *ret = vow_val_num((int64_t)(intptr_t)arg + 1);
    return 0;
}

/* The whole errand in straight-line code; fulfils with the file's length. */
static vow_ret errand(void *arg)
{
    vow_loop *l = arg;
    char path[128];
    snprintf(path, sizeof(path), "%s/co", dir);
    vow *p = vow_fs_write_file(l, path, "awaited", 7);
    int r = vow_await(p);
    vow_unref(p);
    if (r < 0)
        return vow_fail(r, vow_val_none());

    p = vow_fs_read_file(l, path);
    r = vow_await(p);
    if (r < 0) {
        vow_unref(p);
        return vow_fail(r, vow_val_none());
    }
    const vow_fs_buf *b = vow_value(p)->ptr;
    int64_t len = (int64_t)b->len;
    int same = strcmp(b->data, "awaited") == 0;
    vow_unref(p);
    if (!same)
        return vow_fail(VOW_EINVAL, vow_val_none());

    p = vow_fs_stat(l, path);
    r = vow_await(p);
    int64_t size = r == 0 ? ((const struct stat *)vow_value(p)->ptr)->st_size : -1;
    vow_unref(p);
    if (size != len)
        return vow_fail(VOW_EINVAL, vow_val_none());

    p = vow_getaddrinfo(l, "localhost", NULL, NULL);
    r = vow_await(p);
    vow_unref(p);
    if (r < 0)
        return vow_fail(r, vow_val_none());

    p = vow_work(l, VOW_WORK_CPU, add_one, (void *)(intptr_t)len, NULL);
    r = vow_await(p);
    int64_t n = r == 0 ? vow_value(p)->num : -1;
    vow_unref(p);
    unlink(path);
    return vow_ok(vow_val_num(n - 1));
}

static void test_errand(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    assert_int_equal(wt_num(l, vow_co_spawn(l, errand, l, NULL)), 7);
    wt_finish(l);
}

/* Awaits a job at the gate; returns what the await said. */
struct stuck {
    vow_loop *l;       /* the loop */
    struct gate *g;    /* where the job waits */
    int lane;          /* the job's lane */
    int await_code;    /* vow_await's result */
    vow_work_fn fn;    /* the job */
};

static atomic_int ran;
static int count_run(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    (void)arg;
    (void)ret;
    atomic_fetch_add(&ran, 1);
    return 0;
}

static vow_ret await_stuck(void *arg)
{
    struct stuck *s = arg;
    vow *p = vow_work(s->l, s->lane, s->fn, s->g, NULL);
    s->await_code = vow_await(p);
    /* The await was p's only consumer: cancelling the coroutine cancelled p already
     * (withdrawn if queued, told if running); this lets go of its memory. */
    vow_unref(p);
    return vow_ok(vow_val_none());
}

static void test_cancel_at_await(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);

    /* The job runs, stuck at the gate. */
    struct stuck s = { l, &g, VOW_WORK_CPU, 1, gate_job };
    vow *co = vow_co_spawn(l, await_stuck, &s, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    gate_wait_started(&g, 1);
    assert_int_equal(vow_cancel(co), 0);
    /* Cancelling the coroutine cancelled the job it awaited (its only consumer),
     * which tells the job; the coroutine wakes with VOW_ECANCELED; then the job is
     * poked to look. */
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(s.await_code, VOW_ECANCELED);
    gate_poke(&g);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(s.await_code, VOW_ECANCELED);
    assert_int_equal(gate_count(&g, &g.saw_cancel), 1);
    vow_unref(co);

    /* The job is queued behind stuck ones: withdrawn, it never runs. */
    gate_init(&g);
    vow *ps[THREADS];
    for (int i = 0; i < THREADS; i++)
        ps[i] = vow_work(l, VOW_WORK_CPU, gate_job, &g, NULL);
    gate_wait_started(&g, THREADS);
    atomic_store(&ran, 0);
    struct stuck q = { l, &g, VOW_WORK_FS, 1, count_run };
    co = vow_co_spawn(l, await_stuck, &q, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(co), 0);
    vow_unref(co);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(q.await_code, VOW_ECANCELED);
    gate_open(&g);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(wt_num(l, ps[i]), 42);
    wt_finish(l);
    assert_int_equal(atomic_load(&ran), 0);
    gate_destroy(&g);
}

int main(void)
{
    tu_install_allocator();
    assert_int_equal(vow_work_configure(THREADS, 64), 0);
    wt_tmpdir(dir, sizeof(dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errand),
        cmocka_unit_test(test_cancel_at_await),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    wt_rmdir(dir);
    return r;
}
