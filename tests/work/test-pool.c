/* SPDX-License-Identifier: MIT */
/*
 * The thread pool through vow_work: results and ownership, withdrawal before a job
 * starts (cancel, drop), cancellation observed while it runs, close while jobs are
 * in flight, a full queue, lane caps and fairness, batched completions, several
 * loops sharing the pool, and the seams (then, timeout, race, all). The pool has 4
 * threads and room for 8 waiting jobs (set in main). Jobs that must stay running
 * wait at a gate the test opens; nothing sleeps.
 */
#include "work-test.h"

#include "work_int.h"

#include <sched.h>

#define THREADS 4
#define QUEUE 8

static pthread_t main_thread;

/* Counts drops of an argument or value, and checks they run on the loop thread. */
static atomic_int drops;
static atomic_int drops_off_thread;

static void count_drop(void *p)
{
    (void)p;
    atomic_fetch_add(&drops, 1);
    if (!pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&drops_off_thread, 1);
}

static void drops_reset(void)
{
    atomic_store(&drops, 0);
    atomic_store(&drops_off_thread, 0);
}

/* Fulfils with arg + 1 as a number. */
static int add_one(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    *ret = vow_val_num((int64_t)(intptr_t)arg + 1);
    return 0;
}

/* Rejects with -EDOM and a detail whose drop is counted. */
static int fail_edom(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    (void)arg;
    *ret = vow_val_ptr(&drops, count_drop);
    return -EDOM;
}

/* Fulfils with a value whose drop is counted. */
static int give_value(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    (void)arg;
    *ret = vow_val_ptr(&drops, count_drop);
    return 0;
}

/* Counts its runs (must never run when withdrawn). */
static atomic_int ran;
static int count_run(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    (void)arg;
    (void)ret;
    atomic_fetch_add(&ran, 1);
    return 0;
}

/* Holds every thread of the pool at g (CPU lane). */
static void fill_pool(vow_loop *l, struct gate *g, vow **ps)
{
    for (int i = 0; i < THREADS; i++) {
        ps[i] = vow_work(l, VOW_WORK_CPU, gate_job, g, NULL);
        assert_non_null(ps[i]);
    }
    gate_wait_started(g, THREADS);
}

static void release_pool(vow_loop *l, struct gate *g, vow **ps)
{
    gate_open(g);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(wt_num(l, ps[i]), 42);
}

static void test_result(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    drops_reset();
    assert_int_equal(wt_num(l, vow_work(l, VOW_WORK_CPU, add_one, (void *)41, count_drop)), 42);
    assert_int_equal(atomic_load(&drops), 1);

    vow *p = vow_work(l, VOW_WORK_FS, fail_edom, NULL, NULL);
    wt_wait(l, p);
    assert_int_equal(vow_code(p), -EDOM);
    assert_ptr_equal(vow_value(p)->ptr, &drops);
    assert_int_equal(atomic_load(&drops), 1);
    vow_unref(p);
    assert_int_equal(atomic_load(&drops), 2);

    p = vow_work(l, VOW_WORK_NET, give_value, NULL, count_drop);
    wt_wait(l, p);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(atomic_load(&drops), 3); /* the arg */
    vow_unref(p);
    assert_int_equal(atomic_load(&drops), 4); /* the value, when the vow let go */
    assert_int_equal(atomic_load(&drops_off_thread), 0);
    wt_finish(l);
}

static void test_bad_args(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    drops_reset();
    assert_null(vow_work(NULL, VOW_WORK_CPU, add_one, NULL, count_drop));
    assert_int_equal(wt_code(l, vow_work(l, VOW_WORK_CPU, NULL, NULL, count_drop)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_work(l, -1, add_one, NULL, count_drop)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_work(l, _VOW_WORK_LANE_MAX, add_one, NULL, count_drop)),
                     VOW_EINVAL);
    /* The argument is consumed on every failure. */
    assert_int_equal(atomic_load(&drops), 4);
    assert_int_equal(vow_work_cancelled(NULL), 0);
    assert_int_equal(vow_work_configure(VOW_WORK_MAX_THREADS + 1, 0), VOW_EINVAL);
    wt_finish(l);
}

/* The pool has started: its size is fixed. */
static void test_configure_after_start(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    assert_int_equal(wt_num(l, vow_work(l, VOW_WORK_CPU, add_one, (void *)1, NULL)), 2);
    assert_int_equal(vow_work_configure(2, 0), VOW_EBUSY);
    assert_int_equal(vow_work_threads(), THREADS);
    wt_finish(l);
}

/* Cancelled or dropped while queued: withdrawn at once, fn never runs, arg dropped. */
static void test_withdraw(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    vow *ps[THREADS];
    fill_pool(l, &g, ps);
    drops_reset();
    atomic_store(&ran, 0);

    vow *a = vow_work(l, VOW_WORK_CPU, count_run, NULL, count_drop);
    vow *b = vow_work(l, VOW_WORK_FS, count_run, NULL, count_drop);
    vow *c = vow_work(l, VOW_WORK_NET, count_run, NULL, count_drop);
    assert_int_equal(vow_cancel(a), 0);
    assert_int_equal(vow_code(a), VOW_ECANCELED);
    assert_int_equal(atomic_load(&drops), 1);
    vow_unref(b); /* dropping is withdrawing */
    assert_int_equal(atomic_load(&drops), 2);
    /* Through a chain: cancelling the chain withdraws the job under it (dropping a
     * chain would not: a fire-and-forget chain still runs). */
    vow *chain = vow_then(c, NULL, NULL, NULL);
    assert_int_equal(vow_cancel(chain), 0);
    assert_int_equal(atomic_load(&drops), 3);
    vow_unref(chain);

    release_pool(l, &g, ps);
    assert_int_equal(wt_code(l, a), VOW_ECANCELED);
    wt_finish(l);
    assert_int_equal(atomic_load(&ran), 0);
    assert_int_equal(atomic_load(&drops_off_thread), 0);
    gate_destroy(&g);
}

/* Cancelled while running: fn sees the flag; the result reaches nobody, and what it
 * owns is dropped on the loop thread when the job finishes. */
static void test_cancel_running(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    drops_reset();
    vow *p = vow_work(l, VOW_WORK_CPU, gate_job, &g, count_drop);
    gate_wait_started(&g, 1);
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    assert_int_equal(atomic_load(&drops), 0); /* still running: arg still lent to it */
    gate_poke(&g);
    /* The loop stays alive until the job is back, then the arg goes. */
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(gate_count(&g, &g.saw_cancel), 1);
    assert_int_equal(atomic_load(&drops), 1);
    vow_unref(p);

    wt_finish(l);
    assert_int_equal(atomic_load(&drops_off_thread), 0);
    gate_destroy(&g);
}

/* A value-returning job dropped while it runs: its value is dropped on the loop. */
static int value_at_gate(vow_work_job *job, void *arg, vow_val *ret)
{
    int r = gate_job(job, arg, ret);
    *ret = vow_val_ptr(&drops, count_drop);
    return r < 0 ? 0 : r;
}

static void test_drop_running_value(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    drops_reset();
    vow *p = vow_work(l, VOW_WORK_CPU, value_at_gate, &g, NULL);
    gate_wait_started(&g, 1);
    vow_unref(p);
    gate_open(&g);
    wt_finish(l);
    assert_int_equal(atomic_load(&drops), 1);
    assert_int_equal(atomic_load(&drops_off_thread), 0);
    gate_destroy(&g);
}

/* A loop cannot close while one of its jobs runs, even one nobody waits for. */
static void test_close_busy(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    vow *p = vow_work(l, VOW_WORK_CPU, gate_job, &g, NULL);
    gate_wait_started(&g, 1);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(vow_loop_alive(l), 1);
    gate_open(&g);
    wt_finish(l);
    gate_destroy(&g);
}

/* Every thread busy and QUEUE jobs waiting: the next one is refused, at once. */
static void test_queue_full(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    vow *ps[THREADS];
    fill_pool(l, &g, ps);
    vow *qs[QUEUE];
    for (int i = 0; i < QUEUE; i++) {
        qs[i] = vow_work(l, VOW_WORK_CPU, add_one, (void *)(intptr_t)i, NULL);
        assert_int_equal(vow_state(qs[i]), VOW_PENDING);
    }
    drops_reset();
    vow *full = vow_work(l, VOW_WORK_FS, add_one, NULL, count_drop);
    assert_int_equal(vow_state(full), VOW_REJECTED);
    assert_int_equal(vow_code(full), VOW_EQUEUEFULL);
    assert_int_equal(atomic_load(&drops), 1);
    assert_string_equal(vow_strerror(VOW_EQUEUEFULL), "thread pool queue is full");
    vow_unref(full);
    /* Withdrawing one makes room for one. */
    vow_unref(qs[0]);
    qs[0] = vow_work(l, VOW_WORK_CPU, add_one, (void *)0, NULL);
    assert_int_equal(vow_state(qs[0]), VOW_PENDING);
    release_pool(l, &g, ps);
    for (int i = 0; i < QUEUE; i++)
        assert_int_equal(wt_num(l, qs[i]), i + 1);
    wt_finish(l);
    gate_destroy(&g);
}

/*
 * NET jobs stuck (a dead name server) hold at most half the threads: a third NET job
 * waits, and FS and CPU jobs still run meanwhile.
 */
static void test_net_lane_cap(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    vow *net[3];
    for (int i = 0; i < 3; i++)
        net[i] = vow_work(l, VOW_WORK_NET, gate_job, &g, NULL);
    gate_wait_started(&g, THREADS / 2);
    assert_int_equal(wt_num(l, vow_work(l, VOW_WORK_FS, add_one, (void *)1, NULL)), 2);
    assert_int_equal(wt_num(l, vow_work(l, VOW_WORK_CPU, add_one, (void *)2, NULL)), 3);
    vow *more[2];
    for (int i = 0; i < 2; i++)
        more[i] = vow_work(l, VOW_WORK_CPU, add_one, (void *)(intptr_t)i, NULL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(wt_num(l, more[i]), i + 1);
    assert_int_equal(gate_count(&g, &g.started), THREADS / 2);
    gate_open(&g);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wt_num(l, net[i]), 42);
    wt_finish(l);
    gate_destroy(&g);
}

/*
 * Fairness: with CPU jobs queued ahead of it (each of which would block), an FS job
 * is taken within one pass over the lanes, not after the CPU queue.
 */
static void test_lane_fairness(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g1, g2;
    gate_init(&g1);
    gate_init(&g2);
    vow *ps[THREADS];
    fill_pool(l, &g1, ps);
    vow *cpu[THREADS];
    for (int i = 0; i < THREADS; i++)
        cpu[i] = vow_work(l, VOW_WORK_CPU, gate_job, &g2, NULL);
    vow *fs = vow_work(l, VOW_WORK_FS, add_one, (void *)7, NULL);
    release_pool(l, &g1, ps);
    /* With one FIFO, the freed threads would all be stuck at g2 before fs ran. */
    assert_int_equal(wt_num(l, fs), 8);
    gate_open(&g2);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(wt_num(l, cpu[i]), 42);
    wt_finish(l);
    gate_destroy(&g1);
    gate_destroy(&g2);
}

/* Counts finished jobs; the test thread waits for them all before running the loop. */
static struct gate done_gate;
static int finish_then_count(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    *ret = vow_val_num((int64_t)(intptr_t)arg);
    pthread_mutex_lock(&done_gate.mu);
    done_gate.left++;
    pthread_cond_broadcast(&done_gate.cv);
    pthread_mutex_unlock(&done_gate.mu);
    return 0;
}

/* Jobs that finish while the loop is busy elsewhere reach it in one batch (one
 * drain), not one wake-up each. */
static void test_batched(void **state)
{
    (void)state;
    enum { N = 16 };
    vow_loop *l = wt_loop_new();
    gate_init(&done_gate);
    struct gate g;
    gate_init(&g);
    vow *ps[THREADS];
    fill_pool(l, &g, ps);
    vow *qs[QUEUE];
    for (int i = 0; i < QUEUE; i++)
        qs[i] = vow_work(l, VOW_WORK_CPU, finish_then_count, (void *)(intptr_t)i, NULL);
    /* The loop does not run until every job has been handed to it. */
    unsigned long before = atomic_load(&vow__work_drains);
    unsigned long handed = atomic_load(&vow__work_completions);
    gate_open(&g);
    gate_wait_left(&done_gate, QUEUE);
    while (atomic_load(&vow__work_completions) < handed + THREADS + QUEUE)
        sched_yield();
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(wt_num(l, ps[i]), 42);
    vow *all = vow_all(l, qs, QUEUE);
    wt_wait(l, all);
    const vow_list *list = vow_list_get(vow_value(all));
    for (int i = 0; i < QUEUE; i++)
        assert_int_equal(vow_value(list->items[i])->num, i);
    unsigned long drains = atomic_load(&vow__work_drains) - before;
    /* One wake-up of the loop for the whole batch. */
    if (drains != 1)
        fail_msg("%lu drains for %d jobs", drains, THREADS + QUEUE);
    vow_unref(all);
    wt_finish(l);
    gate_destroy(&g);
    gate_destroy(&done_gate);
    (void)N;
}

/* --------------------------------------------------------------- seams */

static vow_ret double_it(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num * 2));
}

static vow_ret chain_more(void *ctx, const vow_val *v)
{
    vow_loop *l = ctx;
    return vow_follow(vow_work(l, VOW_WORK_CPU, add_one, (void *)(intptr_t)v->num, NULL));
}

static void test_then_chain(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    vow *p = vow_work(l, VOW_WORK_CPU, add_one, (void *)1, NULL);
    p = vow_then(p, double_it, NULL, NULL);
    p = vow_then(p, chain_more, NULL, l);
    assert_int_equal(wt_num(l, p), 5);
    wt_finish(l);
}

/* Under vow_timeout: a job stuck queued is withdrawn when the time is up; one stuck
 * running is told. */
static void test_timeout(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    drops_reset();
    atomic_store(&ran, 0);
    vow *running = vow_timeout(vow_work(l, VOW_WORK_CPU, gate_job, &g, NULL), 20);
    gate_wait_started(&g, 1);
    vow *ps[THREADS - 1];
    for (int i = 0; i < THREADS - 1; i++)
        ps[i] = vow_work(l, VOW_WORK_CPU, gate_job, &g, NULL);
    gate_wait_started(&g, THREADS);
    uint64_t t0 = vow_loop_now(l);
    vow *queued = vow_timeout(vow_work(l, VOW_WORK_CPU, count_run, NULL, count_drop), 10);
    wt_wait(l, queued);
    assert_true(vow_loop_now(l) >= t0 + 10);
    assert_int_equal(vow_code(queued), VOW_ETIMEDOUT);
    assert_int_equal(atomic_load(&drops), 1); /* withdrawn */
    assert_int_equal(wt_code(l, running), VOW_ETIMEDOUT);
    gate_poke(&g);
    gate_wait_left(&g, 1);
    assert_int_equal(gate_count(&g, &g.saw_cancel), 1);
    gate_open(&g);
    for (int i = 0; i < THREADS - 1; i++)
        assert_int_equal(wt_num(l, ps[i]), 42);
    vow_unref(queued);
    wt_finish(l);
    assert_int_equal(atomic_load(&ran), 0);
    gate_destroy(&g);
}

/* In vow_race: the quick job wins; the stuck loser is cancelled and told. */
static void test_race(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    vow *slow = vow_work(l, VOW_WORK_CPU, gate_job, &g, NULL);
    gate_wait_started(&g, 1);
    vow *in[2] = { slow, vow_work(l, VOW_WORK_CPU, add_one, (void *)9, NULL) };
    assert_int_equal(wt_num(l, vow_race(l, in, 2)), 10);
    gate_poke(&g);
    wt_finish(l);
    assert_int_equal(gate_count(&g, &g.saw_cancel), 1);
    gate_destroy(&g);
}

/* Many jobs in flight at once through vow_all, on every lane. */
static void test_all_lanes(void **state)
{
    (void)state;
    enum { N = 200 };
    vow_loop *l = wt_loop_new();
    vow *ps[N];
    int64_t want = 0;
    vow *all = NULL;
    int64_t got = 0;
    /* The queue holds QUEUE: submit in rounds. */
    for (int base = 0; base < N; base += QUEUE) {
        int n = N - base < QUEUE ? N - base : QUEUE;
        for (int i = 0; i < n; i++) {
            ps[i] = vow_work(l, (base + i) % _VOW_WORK_LANE_MAX, add_one,
                             (void *)(intptr_t)(base + i), NULL);
            want += base + i + 1;
        }
        all = vow_all(l, ps, (size_t)n);
        wt_wait(l, all);
        const vow_list *list = vow_list_get(vow_value(all));
        for (int i = 0; i < n; i++)
            got += vow_value(list->items[i])->num;
        vow_unref(all);
    }
    assert_int_equal(got, want);
    wt_finish(l);
}

/* Several loops on their own threads share the pool. */
struct loop_thread {
    int64_t sum; /* what its jobs returned */
    int ok;      /* its loop closed cleanly */
};

static void *loop_thread_main(void *arg)
{
    struct loop_thread *t = arg;
    vow_loop *l = vow_loop_new();
    if (!l)
        return NULL;
    for (int round = 0; round < 50; round++) {
        vow *ps[2];
        for (int i = 0; i < 2; i++)
            ps[i] = vow_work(l, i, add_one, (void *)(intptr_t)round, NULL);
        vow *all = vow_all(l, ps, 2);
        while (vow_state(all) == VOW_PENDING && vow_loop_run(l, VOW_RUN_ONCE) > 0)
            ;
        if (vow_state(all) == VOW_FULFILLED) {
            const vow_list *list = vow_list_get(vow_value(all));
            for (int i = 0; i < 2; i++)
                if (vow_state(list->items[i]) == VOW_FULFILLED)
                    t->sum += vow_value(list->items[i])->num;
        }
        vow_unref(all);
    }
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    t->ok = vow_loop_close(l) == 0;
    return NULL;
}

static void test_loops_share(void **state)
{
    (void)state;
    enum { NT = 3 };
    pthread_t th[NT];
    struct loop_thread t[NT];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < NT; i++)
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread_main, &t[i]), 0);
    for (int i = 0; i < NT; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(t[i].ok);
        /* 2 jobs per round, each round + 1: 2 * (1 + ... + 50). */
        assert_int_equal(t[i].sum, 2 * 50 * 51 / 2);
    }
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    main_thread = pthread_self();
    /* Before anything starts the pool; the tests count on this shape. */
    assert_int_equal(vow_work_configure(THREADS, QUEUE), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_configure_after_start),
        cmocka_unit_test(test_withdraw),
        cmocka_unit_test(test_cancel_running),
        cmocka_unit_test(test_drop_running_value),
        cmocka_unit_test(test_close_busy),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_net_lane_cap),
        cmocka_unit_test(test_lane_fairness),
        cmocka_unit_test(test_batched),
        cmocka_unit_test(test_then_chain),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_race),
        cmocka_unit_test(test_all_lanes),
        cmocka_unit_test(test_loops_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
