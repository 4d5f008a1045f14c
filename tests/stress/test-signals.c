/* SPDX-License-Identifier: MIT */
/*
 * vow_signal_wait in a loop, the way programs wait for signals: a chain that waits
 * again from its handler and a coroutine that waits again after each delivery. Each
 * raise() wakes each waiter exactly once (a waiter started during a delivery's
 * dispatch does not see that delivery), and a storm of raise() and kill() from another
 * thread while the waiters re-arm never finds the signal's default action in place
 * (SIGUSR1's would end the process): the program survives, and each waiter woke at
 * least once and at most once per signal sent.
 */
#include "stress.h"

#include "vow/co.h"
#include "vow/io.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

struct waiter {
    vow_loop *l; /* the loop */
    long wakes;  /* deliveries seen */
    long limit;  /* re-arms after which it stops (turns a livelock into a failure) */
};

static vow_ret chain_woke(void *ctx, const vow_val *v)
{
    struct waiter *w = ctx;
    if (v->num != SIGUSR1)
        return vow_fail(VOW_ESTATE, vow_val_none());
    if (++w->wakes >= w->limit)
        return vow_ok(vow_val_num(w->wakes));
    return vow_follow(vow_then(vow_signal_wait(w->l, SIGUSR1), chain_woke, NULL, w));
}

static vow *chain_start(struct waiter *w)
{
    return vow_then(vow_signal_wait(w->l, SIGUSR1), chain_woke, NULL, w);
}

static vow_ret co_waiter(void *arg)
{
    struct waiter *w = arg;
    for (;;) {
        vow *p = vow_signal_wait(w->l, SIGUSR1);
        if (!p)
            return vow_fail(VOW_ENOMEM, vow_val_none());
        int rc = vow_await(p);
        vow_unref(p);
        if (rc == VOW_ECANCELED)
            return vow_ok(vow_val_num(w->wakes));
        if (rc != 0)
            return vow_fail(rc, vow_val_none());
        if (++w->wakes >= w->limit)
            return vow_ok(vow_val_num(w->wakes));
    }
}

/* Runs turns until the waiter has seen `want` wakes, then a few more: none may come. */
static void settle_at(vow_loop *l, struct waiter *w, long want)
{
    while (w->wakes < want)
        assert_true(vow_loop_run(l, VOW_RUN_ONCE) > 0);
    for (int i = 0; i < 3; i++)
        assert_true(vow_loop_run(l, VOW_RUN_NOWAIT) >= 0);
    assert_int_equal(w->wakes, want);
}

static void test_one_wake_per_raise(void **state)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    long n = stress_n(200, 20000);
    struct waiter wc = {l, 0, 1000000000L}, wk = {l, 0, 1000000000L};
    vow *chain = chain_start(&wc);
    vow *co = vow_co_spawn(l, co_waiter, &wk, NULL);
    assert_non_null(chain);
    assert_non_null(co);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    for (long i = 1; i <= n; i++) {
        assert_int_equal(raise(SIGUSR1), 0);
        settle_at(l, &wc, i);
        settle_at(l, &wk, i);
    }
    assert_int_equal(vow_cancel(chain), 0);
    assert_int_equal(vow_cancel(co), 0);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    vow_unref(chain);
    vow_unref(co);
    stress_report("signals/rearm", "%ld raise(), chain woke %ld times, coroutine %ld times", n,
                  wc.wakes, wk.wakes);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

struct storm {
    vow_loop *l;     /* kept open by a keepalive until the storm is over */
    long n;          /* signals to send */
    vow *chain, *co; /* the waiters, cancelled when it is over */
};

static void storm_over(vow_loop *l, void *arg)
{
    struct storm *s = arg;
    vow_cancel(s->chain);
    vow_cancel(s->co);
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
}

static void *storm_main(void *arg)
{
    struct storm *s = arg;
    for (long i = 0; i < s->n; i++) {
        /* raise() runs the handler in this thread; kill() lets the kernel pick one. */
        if ((i % 2 ? kill(getpid(), SIGUSR1) : raise(SIGUSR1)) != 0)
            return (void *)1;
    }
    if (vow_loop_post(s->l, storm_over, s) != 0)
        return (void *)1;
    return NULL;
}

static void test_storm(void **state)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    long n = stress_n(20000, 1000000);
    struct waiter wc = {l, 0, n + 1}, wk = {l, 0, n + 1};
    struct storm s = {l, n, chain_start(&wc), vow_co_spawn(l, co_waiter, &wk, NULL)};
    assert_non_null(s.chain);
    assert_non_null(s.co);
    /* Both waiters wait before the storm begins. */
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    double t0 = stress_now();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, storm_main, &s), 0);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    void *rv;
    assert_int_equal(pthread_join(th, &rv), 0);
    assert_null(rv);
    double secs = stress_now() - t0;
    vow_unref(s.chain);
    vow_unref(s.co);
    stress_report("signals/storm",
                  "%ld signals from another thread in %.2f s while waiters "
                  "re-armed: chain woke %ld times, coroutine %ld times, process alive",
                  n, secs, wc.wakes, wk.wakes);
    assert_true(wc.wakes > 0 && wc.wakes <= n);
    assert_true(wk.wakes > 0 && wk.wakes <= n);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_wake_per_raise),
        cmocka_unit_test(test_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
