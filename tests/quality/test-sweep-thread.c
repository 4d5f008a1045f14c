/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweep across threads: vows settled from other threads through
 * vow_remote, and callbacks posted from other threads with vow_loop_post. A failed
 * vow_remote_new is NULL; a failed remote settle or post returns VOW_ENOMEM and
 * leaves everything as it was, so the thread retries. Run under ThreadSanitizer too.
 */
#include "sweep.h"

#include <pthread.h>
#include <stdio.h>

enum { THREADS = 3 };

struct job {
    vow_loop *l;     /* the loop to post to */
    vow_remote *r;   /* the remote to settle, or NULL */
    int index;       /* which thread */
    int post_failed; /* posts that returned VOW_ENOMEM (then retried) */
};

static atomic_int posted_runs;

static void on_post(vow_loop *l, void *arg)
{
    (void)l;
    struct job *j = arg;
    assert_true(j->index >= 0 && j->index < THREADS);
    atomic_fetch_add(&posted_runs, 1);
}

/* cmocka's assertions may only fail on the main thread: workers abort instead. */
static void worker_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "test-sweep-thread: worker: %s\n", what);
        abort();
    }
}

static void *worker(void *arg)
{
    struct job *j = arg;
    int r;
    while ((r = vow_loop_post(j->l, on_post, j)) == VOW_ENOMEM)
        j->post_failed++;
    worker_check(r == 0, "vow_loop_post failed other than VOW_ENOMEM");
    if (j->r) {
        /* Odd threads reject; a failed settle leaves the remote ours to retry. */
        for (;;) {
            r = j->index & 1 ? vow_remote_reject(j->r, -EIO, vow_val_none())
                             : vow_remote_resolve(j->r, vow_val_num(j->index));
            if (r != VOW_ENOMEM)
                break;
        }
        worker_check(r == 0, "remote settle failed other than VOW_ENOMEM");
    }
    return NULL;
}

static int prog_threads(void *arg)
{
    (void)arg;
    atomic_store(&posted_runs, 0);
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *p[THREADS];
    struct job jobs[THREADS];
    pthread_t tid[THREADS];
    int complete = 1;
    for (int i = 0; i < THREADS; i++) {
        p[i] = vow_pending(l);
        jobs[i] = (struct job){.l = l, .r = p[i] ? vow_remote_new(p[i]) : NULL, .index = i};
        complete &= jobs[i].r != NULL;
    }
    /* Posts keep the loop alive until they run; remotes until they are used. */
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, worker, &jobs[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    sweep_run(l);
    assert_int_equal(atomic_load(&posted_runs), THREADS);
    for (int i = 0; i < THREADS; i++) {
        if (jobs[i].r)
            complete &= sweep_expect(p[i], i & 1 ? -EIO : 0, i);
        else if (p[i])
            assert_int_equal(vow_cancel(p[i]), 0);
        vow_unref(p[i]);
    }
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

static void sweep_threads(void **state)
{
    (void)state;
    SWEEP(prog_threads, NULL);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
