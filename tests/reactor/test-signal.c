/* SPDX-License-Identifier: MIT */
/*
 * Signal watchers: several watchers on one loop and several loops in several threads
 * all called for one kill(), coalescing within a turn, stopping a sibling, restoring
 * the previous disposition, and the signals that cannot be watched.
 */
#include "rt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

struct sctx {
    int calls;          /* callbacks */
    int last;           /* last signum */
    vow_signal *other;  /* sibling to stop */
    int stop_self;      /* stop in the callback */
};

static void on_sig(vow_signal *s, int signum)
{
    struct sctx *c = s->data;
    c->calls++;
    c->last = signum;
    if (c->other)
        assert_int_equal(vow_signal_stop(c->other), 0);
    if (c->stop_self)
        assert_int_equal(vow_signal_stop(s), 0);
}

static void test_two_watchers(void **state)
{
    vow_loop *l = rt_new();
    struct sctx a = { .stop_self = 1 }, b = { .stop_self = 1 };
    vow_signal sa, sb;
    assert_int_equal(vow_signal_init(l, &sa, on_sig), 0);
    assert_int_equal(vow_signal_init(l, &sb, on_sig), 0);
    sa.data = &a;
    sb.data = &b;
    assert_int_equal(vow_signal_start(&sa, SIGUSR1), 0);
    assert_int_equal(vow_signal_start(&sb, SIGUSR1), 0);
    assert_int_equal(vow__loop_verify(l), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.last, SIGUSR1);
    rt_end(l);
}

/* Two deliveries before the loop looks: one callback per watcher for that turn. */
static void test_coalesce_and_sibling(void **state)
{
    vow_loop *l = rt_new();
    struct sctx a = { 0 }, b = { 0 };
    vow_signal sa, sb;
    assert_int_equal(vow_signal_init(l, &sa, on_sig), 0);
    assert_int_equal(vow_signal_init(l, &sb, on_sig), 0);
    sa.data = &a;
    sb.data = &b;
    assert_int_equal(vow_signal_start(&sa, SIGUSR2), 0);
    assert_int_equal(vow_signal_start(&sb, SIGUSR2), 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    /* Now a stops b before b's turn comes. */
    a.other = &sb;
    assert_int_equal(kill(getpid(), SIGUSR2), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 1);
    assert_int_equal(vow_signal_stop(&sa), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    rt_end(l);
}

struct th {
    pthread_barrier_t *ready; /* all watching */
    int calls;                /* callbacks seen by this thread's loop */
    int rc;                   /* run result */
};

static void th_sig(vow_signal *s, int signum)
{
    struct th *t = s->data;
    t->calls++;
    vow_signal_stop(s);
}

static void *th_main(void *arg)
{
    struct th *t = arg;
    vow_loop *l = vow_loop_new();
    vow_signal s;
    if (!l || vow_signal_init(l, &s, th_sig) != 0)
        return (void *)1;
    s.data = t;
    if (vow_signal_start(&s, SIGWINCH) != 0)
        return (void *)1;
    pthread_barrier_wait(t->ready);
    t->rc = vow_loop_run(l, VOW_RUN_DEFAULT);
    if (vow__loop_verify(l) != 0 || vow_loop_close(l) != 0)
        return (void *)1;
    return NULL;
}

static void test_two_loops_two_threads(void **state)
{
    pthread_barrier_t ready;
    assert_int_equal(pthread_barrier_init(&ready, NULL, 3), 0);
    struct th t[2] = { { &ready, 0, -1 }, { &ready, 0, -1 } };
    pthread_t id[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&id[i], NULL, th_main, &t[i]), 0);
    pthread_barrier_wait(&ready);
    assert_int_equal(kill(getpid(), SIGWINCH), 0);
    for (int i = 0; i < 2; i++) {
        void *rv;
        assert_int_equal(pthread_join(id[i], &rv), 0);
        assert_null(rv);
        assert_int_equal(t[i].calls, 1);
        assert_int_equal(t[i].rc, 0);
    }
    pthread_barrier_destroy(&ready);
    assert_int_equal(tu_live_allocations(), 0);
}

static volatile sig_atomic_t old_hits;

static void old_handler(int signum)
{
    old_hits++;
}

static void test_restore_disposition(void **state)
{
    vow_loop *l = rt_new();
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = old_handler;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGHUP, &sa, NULL), 0);
    struct sctx c = { 0 };
    vow_signal s1, s2;
    assert_int_equal(vow_signal_init(l, &s1, on_sig), 0);
    assert_int_equal(vow_signal_init(l, &s2, on_sig), 0);
    s1.data = s2.data = &c;
    assert_int_equal(vow_signal_start(&s1, SIGHUP), 0);
    assert_int_equal(vow_signal_start(&s2, SIGHUP), 0);
    assert_int_equal(vow_signal_stop(&s1), 0);
    assert_int_equal(sigaction(SIGHUP, NULL, &cur), 0);
    assert_ptr_not_equal(cur.sa_handler, old_handler);
    assert_int_equal(raise(SIGHUP), 0);
    assert_int_equal(old_hits, 0);
    assert_int_equal(vow_signal_stop(&s2), 0);
    assert_int_equal(vow_signal_stop(&s2), 0);
    assert_int_equal(sigaction(SIGHUP, NULL, &cur), 0);
    assert_ptr_equal(cur.sa_handler, old_handler);
    assert_int_equal(raise(SIGHUP), 0);
    assert_int_equal(old_hits, 1);
    /* The delivery while watched was noted, but nobody watches it any more. */
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(c.calls, 0);
    sa.sa_handler = SIG_DFL;
    assert_int_equal(sigaction(SIGHUP, &sa, NULL), 0);
    rt_end(l);
}

static void test_invalid(void **state)
{
    vow_loop *l = rt_new();
    vow_signal s;
    assert_int_equal(vow_signal_init(l, &s, NULL), VOW_EINVAL);
    assert_int_equal(vow_signal_init(l, &s, on_sig), 0);
    assert_int_equal(vow_signal_start(&s, SIGKILL), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, SIGSTOP), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, 0), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, -3), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, 65), VOW_EINVAL);
    assert_int_equal(vow_signal_start(NULL, SIGUSR1), VOW_EINVAL);
    assert_int_equal(vow_signal_stop(NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_alive(l), 0);
    /* Restarting on another signal moves the watcher. */
    struct sctx c = { .stop_self = 1 };
    s.data = &c;
    assert_int_equal(vow_signal_start(&s, SIGUSR1), 0);
    assert_int_equal(vow_signal_start(&s, SIGUSR2), 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(c.last, SIGUSR2);
    rt_end(l);
}

struct stopper {
    vow_loop *l; /* loop to stop */
    int calls;   /* callbacks */
};

static void stop_loop_sig(vow_signal *s, int signum)
{
    struct stopper *x = s->data;
    x->calls++;
    vow_loop_stop(x->l);
}

/* vow_loop_stop in the first watcher's callback: the second runs on the next run,
 * the first does not run again for the same delivery. */
static void test_stop_mid_round(void **state)
{
    vow_loop *l = rt_new();
    struct stopper a = { l, 0 }, b = { l, 0 };
    vow_signal sa, sb;
    assert_int_equal(vow_signal_init(l, &sa, stop_loop_sig), 0);
    assert_int_equal(vow_signal_init(l, &sb, stop_loop_sig), 0);
    sa.data = &a;
    sb.data = &b;
    assert_int_equal(vow_signal_start(&sa, SIGUSR1), 0);
    assert_int_equal(vow_signal_start(&sb, SIGUSR1), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 1);
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(a.calls + b.calls, 2);
    assert_int_equal(vow_signal_stop(&sa), 0);
    assert_int_equal(vow_signal_stop(&sb), 0);
    rt_end(l);
}

/* ------------------------------------------------- re-arming in the callback */

struct rearm {
    vow_signal w[2]; /* used in turn: each callback starts a fresh watcher */
    int cur;         /* the one started now */
    int calls;       /* callbacks */
    int limit;       /* callbacks after which it stops re-arming (a livelock guard) */
};

static void rearm_cb(vow_signal *s, int signum)
{
    struct rearm *r = s->data;
    r->calls++;
    assert_int_equal(vow_signal_stop(s), 0);
    if (r->calls >= r->limit)
        return;
    r->cur ^= 1;
    assert_int_equal(vow_signal_init(VOW__IMPL(signal, s)->loop, &r->w[r->cur], rearm_cb), 0);
    r->w[r->cur].data = r;
    assert_int_equal(vow_signal_start(&r->w[r->cur], signum), 0);
}

/*
 * A watcher started from a callback of the signal it watches sees only deliveries
 * after it started: one raise() is one callback, not a callback per re-arm (a
 * livelock that the limit turns into a failure).
 */
static void test_rearm_in_callback(void **state)
{
    vow_loop *l = rt_new();
    struct rearm r = { .limit = 1000 };
    assert_int_equal(vow_signal_init(l, &r.w[0], rearm_cb), 0);
    r.w[0].data = &r;
    assert_int_equal(vow_signal_start(&r.w[0], SIGUSR1), 0);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(raise(SIGUSR1), 0);
        assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
        assert_int_equal(r.calls, i);
    }
    assert_int_equal(vow_signal_stop(&r.w[r.cur]), 0);
    rt_end(l);
}

static void mark_sig(vow_signal *s, int signum)
{
    (*(int *)s->data)++;
}

/* A delivery that the loop has not dispatched yet predates a watcher started now:
 * that watcher does not see it, the older one does. */
static void test_delivery_before_start(void **state)
{
    vow_loop *l = rt_new();
    int old_calls = 0, new_calls = 0;
    vow_signal a, b;
    assert_int_equal(vow_signal_init(l, &a, mark_sig), 0);
    assert_int_equal(vow_signal_init(l, &b, mark_sig), 0);
    a.data = &old_calls;
    b.data = &new_calls;
    assert_int_equal(vow_signal_start(&a, SIGUSR2), 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(vow_signal_start(&b, SIGUSR2), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(old_calls, 1);
    assert_int_equal(new_calls, 0);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(old_calls, 2);
    assert_int_equal(new_calls, 1);
    assert_int_equal(vow_signal_stop(&a), 0);
    assert_int_equal(vow_signal_stop(&b), 0);
    rt_end(l);
}

struct gap {
    vow_signal s;    /* the watcher, stopped in its callback and started again later */
    int calls;       /* callbacks */
    int raise_in_gap;/* raise the signal between the stop and the restart */
};

static void gap_restart(vow_loop *l, void *arg)
{
    struct gap *g = arg;
    /* Nobody watches SIGUSR1 right now: a default action would end the process. */
    if (g->raise_in_gap)
        assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(vow_signal_start(&g->s, SIGUSR1), 0);
}

static void gap_cb(vow_signal *s, int signum)
{
    struct gap *g = s->data;
    g->calls++;
    assert_int_equal(vow_signal_stop(s), 0);
    if (g->calls < 3)
        assert_int_equal(vow_loop_queue_microtask(VOW__IMPL(signal, s)->loop, gap_restart, g), 0);
}

/*
 * The "wait in a loop" pattern: the last watcher stops in its callback and a microtask
 * after it starts a new one. The loop's handler stays installed in between, so a
 * delivery in that gap does not run SIGUSR1's default action (which would end this
 * test program); the new watcher does not see that delivery either. Once the
 * microtasks have run without a restart, the previous disposition is back.
 */
static void test_rearm_gap(void **state)
{
    vow_loop *l = rt_new();
    struct gap g = { .raise_in_gap = 1 };
    assert_int_equal(vow_signal_init(l, &g.s, gap_cb), 0);
    g.s.data = &g;
    assert_int_equal(vow_signal_start(&g.s, SIGUSR1), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(g.calls, 1);
    /* The delivery raised in the gap predates the new watcher. */
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(g.calls, 2);
    g.raise_in_gap = 0;
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 0);
    assert_int_equal(g.calls, 3);
    /* Stopped for good in the third callback: the default disposition is back. */
    struct sigaction cur;
    assert_int_equal(sigaction(SIGUSR1, NULL, &cur), 0);
    assert_ptr_equal(cur.sa_handler, SIG_DFL);
    rt_end(l);
}

static void timer_stops(vow_timer *t)
{
    struct gap *g = t->data;
    assert_int_equal(vow_signal_stop(&g->s), 0);
    assert_int_equal(vow_loop_queue_microtask(VOW__IMPL(timer, t)->loop, gap_restart, g), 0);
}

/*
 * The same gap when the wait ends for another reason (a timeout: a timer callback
 * stops the last watcher) and a microtask starts the next wait.
 */
static void test_timeout_gap(void **state)
{
    vow_loop *l = rt_new();
    struct gap g = { .raise_in_gap = 1 };
    assert_int_equal(vow_signal_init(l, &g.s, gap_cb), 0);
    g.s.data = &g;
    assert_int_equal(vow_signal_start(&g.s, SIGUSR1), 0);
    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, timer_stops), 0);
    t.data = &g;
    assert_int_equal(vow_timer_start(&t, 0, 0), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(g.calls, 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(g.calls, 0);
    g.raise_in_gap = 0;
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(g.calls, 1);
    assert_int_equal(vow_signal_stop(&g.s), 0);
    struct sigaction cur;
    assert_int_equal(sigaction(SIGUSR1, NULL, &cur), 0);
    assert_ptr_equal(cur.sa_handler, SIG_DFL);
    rt_end(l);
}

/* The handler's table has a fixed number of loop slots. */
static void test_too_many_loops(void **state)
{
    enum { N = 65 };
    vow_loop *ls[N];
    vow_signal ss[N];
    struct sctx c = { 0 };
    int started = 0, r = 0;
    for (int i = 0; i < N; i++) {
        ls[i] = rt_new();
        assert_int_equal(vow_signal_init(ls[i], &ss[i], on_sig), 0);
        ss[i].data = &c;
        r = vow_signal_start(&ss[i], SIGUSR1);
        if (r < 0)
            break;
        started++;
    }
    assert_int_equal(r, VOW_ENOSPC);
    assert_int_equal(started, N - 1);
    assert_int_equal(vow_loop_alive(ls[N - 1]), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(vow_signal_stop(&ss[i]), 0);
        assert_int_equal(vow__loop_verify(ls[i]), 0);
        assert_int_equal(vow_loop_close(ls[i]), 0);
    }
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_watchers),
        cmocka_unit_test(test_coalesce_and_sibling),
        cmocka_unit_test(test_two_loops_two_threads),
        cmocka_unit_test(test_restore_disposition),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_stop_mid_round),
        cmocka_unit_test(test_too_many_loops),
        cmocka_unit_test(test_rearm_in_callback),
        cmocka_unit_test(test_delivery_before_start),
        cmocka_unit_test(test_rearm_gap),
        cmocka_unit_test(test_timeout_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
