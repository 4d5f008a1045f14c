/* SPDX-License-Identifier: MIT */
/*
 * Coroutine cancel storms, through the public co.h API only: coroutines that await a
 * random script (sleeps, a vow nobody settles, a signal nobody sends, a read that never
 * gets data, a child coroutine, a race of delays, yields) are cancelled at random
 * points by a 1 ms driver (vow_cancel), by vow_timeout wrappers of random lengths and
 * in the end by vow_co_cancel_all. Every coroutine's body must run to its end exactly
 * once (its exit is counted), and the loop must close with nothing left.
 */
#include "stress.h"

#include "vow/co.h"
#include "vow/io.h"

#include <signal.h>
#include <sys/socket.h>

enum { SLOTS = 1000 };

struct storm {
    vow_loop *l;      /* the loop */
    vow_timer driver; /* every 1 ms: spawn, cancel */
    vow *slot[SLOTS]; /* held coroutine vows (or timeouts over them) */
    long total;       /* coroutines to start from the driver */
    long started;     /* started by the driver */
    long spawned;     /* started, children included */
    long exited;      /* bodies that reached their end */
    long cancelled;   /* vow_cancel calls that hit a pending vow */
    long timeouts;    /* coroutines under a vow_timeout that fired */
    long completed;   /* bodies whose script ran without cancellation */
    uint64_t rnd;     /* the driver's generator */
    int sv[2];        /* a socketpair nobody writes to */
    int readers;      /* coroutines reading it now (one watcher each) */
};

struct co_arg {
    struct storm *s; /* the storm */
    uint64_t seed;   /* its script */
    int depth;       /* may spawn a child while > 0 */
};

static vow_ret co_body(void *arg);

/* One step of the script; 0, or the code that ends the script. */
static int step(struct storm *s, uint64_t *rnd, int depth)
{
    switch (stress_rand(rnd) % 7) {
    case 0:
        return vow_co_sleep(stress_rand(rnd) % 3);
    case 1: {
        vow *p = vow_pending(s->l);
        if (!p)
            return VOW_ENOMEM;
        int rc = vow_await(p);
        vow_unref(p);
        return rc;
    }
    case 2: {
        vow *p = vow_signal_wait(s->l, SIGUSR2);
        if (!p)
            return VOW_ENOMEM;
        int rc = vow_await(p);
        vow_unref(p);
        return rc;
    }
    case 3: {
        /* Few readers at once: each waiting read of one fd watches its own duplicate. */
        if (s->readers >= 8)
            return vow_co_yield();
        char buf[8];
        vow *p = vow_read(s->l, s->sv[0], buf, sizeof(buf));
        if (!p)
            return VOW_ENOMEM;
        s->readers++;
        int rc = vow_await(p);
        s->readers--;
        vow_unref(p);
        return rc;
    }
    case 4: {
        if (depth <= 0)
            return vow_co_yield();
        struct co_arg *a = malloc(sizeof(*a));
        assert_non_null(a);
        *a = (struct co_arg){s, stress_rand(rnd), depth - 1};
        vow *c = vow_co_spawn(s->l, co_body, a, NULL);
        assert_non_null(c);
        s->spawned++;
        int rc = vow_await(c);
        /* Cancelled before the wait began (vow_await returned at once), this coroutine
         * never consumed the child, which is rooted like every coroutine body:
         * abandoning it takes a vow_cancel. */
        if (rc == VOW_ECANCELED)
            vow_cancel(c);
        vow_unref(c);
        return rc == VOW_ECANCELED ? rc : 0;
    }
    case 5: {
        vow *in[2] = {vow_delay(s->l, stress_rand(rnd) % 3, vow_val_num(1)),
                      vow_delay(s->l, stress_rand(rnd) % 3, vow_val_num(2))};
        vow *r = vow_race(s->l, in, 2);
        if (!r)
            return VOW_ENOMEM;
        int rc = vow_await(r);
        vow_unref(r);
        return rc;
    }
    default:
        return vow_co_yield();
    }
}

static vow_ret co_body(void *arg)
{
    struct co_arg a = *(struct co_arg *)arg;
    free(arg);
    struct storm *s = a.s;
    uint64_t rnd = a.seed | 1;
    int steps = 1 + (int)(stress_rand(&rnd) % 4), rc = 0;
    for (int i = 0; i < steps && rc == 0; i++)
        rc = step(s, &rnd, a.depth);
    if (rc == 0)
        s->completed++;
    s->exited++;
    return rc == 0 ? vow_ok(vow_val_num(1)) : vow_fail(rc, vow_val_none());
}

static void drive(vow_timer *t)
{
    struct storm *s = t->data;
    /* Reap settled slots, cancel some pending ones, fill the free slots. */
    for (int i = 0; i < SLOTS; i++) {
        vow *p = s->slot[i];
        if (p && vow_state(p) != VOW_PENDING) {
            if (vow_code(p) == VOW_ETIMEDOUT)
                s->timeouts++;
            vow_unref(p);
            s->slot[i] = p = NULL;
        }
        if (p && stress_rand(&s->rnd) % 8 == 0) {
            if (vow_cancel(p) == 0)
                s->cancelled++;
        }
        if (!p && s->started < s->total) {
            struct co_arg *a = malloc(sizeof(*a));
            assert_non_null(a);
            *a = (struct co_arg){s, stress_rand(&s->rnd), 2};
            vow *c = vow_co_spawn(s->l, co_body, a, NULL);
            assert_non_null(c);
            s->started++;
            s->spawned++;
            /* A third run under a timeout of 0-4 ms; some are let go at once (they
             * run to their end anyway: coroutine bodies are rooted). */
            uint64_t k = stress_rand(&s->rnd) % 6;
            if (k < 2)
                c = vow_timeout(c, stress_rand(&s->rnd) % 5);
            if (k == 5) {
                vow_unref(c);
                c = NULL;
            }
            s->slot[i] = c;
        }
    }
    if (s->started >= s->total) {
        /* Everything is started: end whatever still waits. */
        vow_co_cancel_all(s->l);
        vow_timer_stop(t);
        for (int i = 0; i < SLOTS; i++) {
            vow_unref(s->slot[i]);
            s->slot[i] = NULL;
        }
    }
}

static void test_storm(void **state)
{
    long fds0 = tu_open_fds();
    struct storm *s = calloc(1, sizeof(*s));
    s->l = vow_loop_new();
    assert_non_null(s->l);
    vow_loop_set_unhandled(s->l, tu_quiet, NULL);
    s->total = stress_n(3000, 100000);
    s->rnd = 0x1234567;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s->sv), 0);
    assert_int_equal(vow_timer_init(s->l, &s->driver, drive), 0);
    s->driver.data = s;
    assert_int_equal(vow_timer_start(&s->driver, 1, 1), 0);
    double t0 = stress_now();
    while (vow_loop_run(s->l, VOW_RUN_DEFAULT) > 0)
        ;
    double secs = stress_now() - t0;
    stress_report("cancel",
                  "%ld coroutines (children included) in %.1f s: %ld vow_cancel hits, "
                  "%ld timeouts, %ld scripts completed, the rest cancelled; %ld bodies exited",
                  s->spawned, secs, s->cancelled, s->timeouts, s->completed, s->exited);
    assert_int_equal(s->exited, s->spawned);
    assert_int_equal(vow_co_live(s->l), 0);
    assert_int_equal(vow_loop_close(s->l), 0);
    close(s->sv[0]);
    close(s->sv[1]);
    free(s);
    assert_int_equal(tu_live_allocations(), 0);
    assert_int_equal(tu_open_fds(), fds0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
