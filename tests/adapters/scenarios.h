/* SPDX-License-Identifier: MIT */
/*
 * The host-loop adapter scenarios, written once and run on every host through a small
 * driver (struct host_ops) that each test-<host>.c fills in: host callbacks settling
 * vows, libvow timers driving chains, coroutines, attach/detach rules and idle CPU use.
 */
#ifndef VOW_TEST_SCENARIOS_H
#define VOW_TEST_SCENARIOS_H

#include "testutil.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vow/bridge.h"
#ifdef HAVE_CO
#include "vow/co.h"
#include "vow/scope.h"
#endif

struct host;

/* What a test needs from a host loop; every call is on the test's thread. */
struct host_ops {
    const char *name;
    struct host *(*create)(void);
    /* Frees the host loop, asserting it had nothing left (no leaked handles). */
    void (*destroy)(struct host *h);
    int (*attach)(vow_loop *l, struct host *h);
    int (*detach)(vow_loop *l);
    /*
     * Runs the host loop. Hosts with a notion of "nothing left to do" (libuv, libev,
     * libevent) run until they return by themselves, which also checks that the
     * adapter does not keep them alive; GLib runs until *done.
     */
    void (*run)(struct host *h, const int *done);
    /* A one-shot host timer and a one-shot host readable watcher; both free themselves. */
    void (*timer)(struct host *h, uint64_t ms, void (*cb)(void *arg), void *arg);
    void (*readable)(struct host *h, int fd, void (*cb)(void *arg), void *arg);
    /* A one-shot host idle callback: runs at the host's next iteration, without the
     * host sleeping first (uv_idle, ev_idle, a zero libevent timeout, g_idle). */
    void (*idle)(struct host *h, void (*cb)(void *arg), void *arg);
};

/* One scenario's shared state. */
struct sc {
    const struct host_ops *ops; /* the host under test */
    struct host *h;             /* its loop */
    vow_loop *l;                /* the embedded libvow loop */
    vow *p;                     /* the vow a host callback settles */
    int done;                   /* set by the last step */
    int steps;                  /* order checks: bumped by each step */
    int64_t value;              /* what the last step saw */
    uint64_t start;             /* loop clock at the start */
    int fds[2];                 /* a pipe for the host fd watcher */
};

static void sc_begin(struct sc *s, void **state)
{
    memset(s, 0, sizeof(*s));
    s->ops = *state;
    s->l = vow_loop_new();
    assert_non_null(s->l);
    s->h = s->ops->create();
    assert_non_null(s->h);
    s->fds[0] = s->fds[1] = -1;
}

static void sc_end(struct sc *s)
{
    s->ops->destroy(s->h);
    if (s->fds[0] >= 0) {
        close(s->fds[0]);
        close(s->fds[1]);
    }
    assert_int_equal(vow_loop_close(s->l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* --------------------------- a host timer settles a vow, its handler starts a watcher */

static void on_pipe_readable(void *arg)
{
    struct sc *s = arg;
    char c = 0;
    assert_int_equal(read(s->fds[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    assert_int_equal(s->steps, 2);
    s->steps++;
    s->done = 1;
}

static vow_ret start_watcher(void *ctx, const vow_val *v)
{
    struct sc *s = ctx;
    assert_int_equal(s->steps, 1); /* the host timer ran first */
    s->steps++;
    s->value = v->num;
    s->ops->readable(s->h, s->fds[0], on_pipe_readable, s);
    assert_int_equal(write(s->fds[1], "x", 1), 1);
    return vow_ok(vow_val_none());
}

static void settle_from_host(void *arg)
{
    struct sc *s = arg;
    assert_int_equal(s->steps, 0);
    s->steps++;
    assert_int_equal(vow_resolve(s->p, vow_val_num(42)), 0);
    /* The handler must not have run synchronously inside vow_resolve. */
    assert_int_equal(s->steps, 1);
}

static void test_host_timer_settles(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(pipe(s.fds), 0);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    s.p = vow_pending(s.l);
    assert_non_null(s.p);
    vow *d = vow_then(vow_ref(s.p), start_watcher, NULL, &s);
    assert_non_null(d);
    s.ops->timer(s.h, 5, settle_from_host, &s);
    s.ops->run(s.h, &s.done);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.steps, 3);
    assert_int_equal(s.value, 42);
    assert_int_equal(vow_state(d), VOW_FULFILLED);
    vow_unref(d);
    vow_unref(s.p);
    assert_int_equal(s.ops->detach(s.l), 0);
    sc_end(&s);
}

/* ----------------------------------------- libvow timers drive a chain inside the host */

#define CHAIN_STEPS 4
#define CHAIN_MS 3

static vow_ret chain_step(void *ctx, const vow_val *v)
{
    struct sc *s = ctx;
    s->steps++;
    /* Never before the deadline, on the loop clock. */
    assert_true(vow_loop_now(s->l) >= s->start + (uint64_t)s->steps * CHAIN_MS);
    assert_int_equal(v->num, s->steps);
    if (s->steps == CHAIN_STEPS) {
        s->value = v->num;
        s->done = 1;
        return vow_ok(*v);
    }
    return vow_follow(vow_delay(s->l, CHAIN_MS, vow_val_num(v->num + 1)));
}

/* Builds the chain; the caller runs the host loop. */
static vow *chain_start(struct sc *s)
{
    s->steps = 0;
    s->done = 0;
    s->start = vow_loop_now(s->l);
    vow *p = vow_delay(s->l, CHAIN_MS, vow_val_num(1));
    for (int i = 0; i < CHAIN_STEPS && p; i++)
        p = vow_then(p, chain_step, NULL, s);
    assert_non_null(p);
    return p;
}

static void test_vow_timers_drive_chain(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    vow *p = chain_start(&s);
    s.ops->run(s.h, &s.done);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.steps, CHAIN_STEPS);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(vow_value(p)->num, CHAIN_STEPS);
    vow_unref(p);
    assert_int_equal(s.ops->detach(s.l), 0);
    sc_end(&s);
}

/* ------------------------------------ a coroutine awaits a vow settled by a host timer */

#ifdef HAVE_CO
static void co_settle(void *arg)
{
    struct sc *s = arg;
    assert_int_equal(vow_resolve(s->p, vow_val_num(7)), 0);
}

static vow_ret co_body(void *arg)
{
    struct sc *s = arg;
    s->p = vow_pending(s->l);
    assert_non_null(s->p);
    s->ops->timer(s->h, 2, co_settle, s);
    int r = vow_await(s->p);
    assert_int_equal(r, 0);
    int64_t n = vow_value(s->p)->num;
    vow_unref(s->p);
    s->p = NULL;
    /* A second wait on a libvow timer, inside the same host run. */
    assert_int_equal(vow_co_sleep(2), 0);
    s->done = 1;
    return vow_ok(vow_val_num(n * 2));
}

static void test_coroutine_awaits_host(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    vow *co = vow_co_spawn(s.l, co_body, &s, NULL);
    assert_non_null(co);
    s.ops->run(s.h, &s.done);
    assert_int_equal(s.done, 1);
    assert_int_equal(vow_state(co), VOW_FULFILLED);
    assert_int_equal(vow_value(co)->num, 14);
    vow_unref(co);
    assert_int_equal(vow_co_live(s.l), 0);
    assert_int_equal(s.ops->detach(s.l), 0);
    sc_end(&s);
}

/* A scope inside the host loop: children that wait for host timers are joined, and
 * a deadline scope cuts an await short with VOW_ETIMEDOUT. */
struct sc_kid {
    struct sc *s; /* the scenario */
    vow *p;       /* what a host timer resolves */
};

static void sc_kid_settle(void *arg)
{
    struct sc_kid *k = arg;
    assert_int_equal(vow_resolve(k->p, vow_val_num(1)), 0);
}

static vow_ret sc_kid(void *arg)
{
    struct sc_kid *k = arg;
    int rc = vow_await(k->p);
    vow_unref(k->p);
    k->s->steps++;
    return rc ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

static vow_ret scope_body(void *arg)
{
    struct sc *s = arg;
    struct sc_kid kids[3];
    vow_scope *sc = vow_scope_new(s->l, NULL);
    assert_non_null(sc);
    for (int i = 0; i < 3; i++) {
        kids[i] = (struct sc_kid){ s, vow_pending(s->l) };
        s->ops->timer(s->h, 2 + 2 * (uint64_t)i, sc_kid_settle, &kids[i]);
        assert_int_equal(vow_scope_spawn(sc, sc_kid, &kids[i], NULL), 0);
    }
    vow *j = vow_scope_join(sc);
    assert_int_equal(vow_await(j), 0);
    assert_int_equal(s->steps, 3);
    assert_int_equal(vow_list_get(vow_value(j))->n, 3);
    vow_unref(j);
    assert_int_equal(vow_scope_close(sc), 0);
    vow_scope *d = vow_scope_new(s->l, &(vow_scope_opts){ .timeout_ms = 5 });
    vow *never = vow_pending(s->l);
    assert_int_equal(vow_await(never), VOW_ETIMEDOUT);
    assert_int_equal(vow_state(never), VOW_REJECTED);
    vow_unref(never);
    assert_int_equal(vow_scope_close(d), 0);
    s->done = 1;
    return vow_ok(vow_val_none());
}

static void test_scope_in_host(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    vow *co = vow_co_spawn(s.l, scope_body, &s, NULL);
    assert_non_null(co);
    s.ops->run(s.h, &s.done);
    assert_int_equal(s.done, 1);
    assert_int_equal(vow_state(co), VOW_FULFILLED);
    vow_unref(co);
    assert_int_equal(vow_co_live(s.l), 0);
    assert_int_equal(s.ops->detach(s.l), 0);
    sc_end(&s);
}
#endif

/* ------------------------------------------------------------- attach and detach rules */

static void test_attach_twice(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(s.ops->attach(NULL, s.h), VOW_EINVAL);
    assert_int_equal(s.ops->attach(s.l, NULL), VOW_EINVAL);
    assert_int_equal(s.ops->detach(s.l), VOW_EINVAL);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    assert_int_equal(s.ops->attach(s.l, s.h), VOW_EBUSY);
    /* Claimed through the shared registry, so no other host can take it either. */
    assert_int_equal(vow_embed_claim(s.l, "other-host", NULL), VOW_EBUSY);
    assert_null(vow_embed_state(s.l, "other-host"));
    /* A second libvow loop may share the host loop. */
    vow_loop *l2 = vow_loop_new();
    assert_non_null(l2);
    assert_int_equal(s.ops->attach(l2, s.h), 0);
    assert_int_equal(s.ops->detach(l2), 0);
    assert_int_equal(s.ops->detach(s.l), 0);
    assert_int_equal(s.ops->detach(s.l), VOW_EINVAL);
    s.done = 1;
    s.ops->run(s.h, &s.done);
    assert_int_equal(vow_loop_close(l2), 0);
    sc_end(&s);
}

/* A claim by another host makes attach fail too. */
static void test_attach_claimed(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(vow_embed_claim(s.l, "other-host", &s), 0);
    assert_int_equal(s.ops->attach(s.l, s.h), VOW_EBUSY);
    assert_int_equal(s.ops->detach(s.l), VOW_EINVAL);
    assert_int_equal(vow_embed_release(s.l, "other-host"), 0);
    sc_end(&s);
}

/* The last step detaches from inside a vow handler the adapter is running. */
static vow_ret detach_inside(void *ctx, const vow_val *v)
{
    struct sc *s = ctx;
    assert_int_equal(s->ops->detach(s->l), 0);
    s->value = v->num;
    return vow_ok(*v);
}

static void test_detach_reattach(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    vow *p = chain_start(&s);
    s.ops->run(s.h, &s.done);
    assert_int_equal(s.steps, CHAIN_STEPS);
    vow_unref(p);
    assert_int_equal(s.ops->detach(s.l), 0);
    s.done = 1;
    s.ops->run(s.h, &s.done); /* lets libuv finish its asynchronous closes */

    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    p = vow_then(chain_start(&s), detach_inside, NULL, &s);
    assert_non_null(p);
    s.ops->run(s.h, &s.done);
    assert_int_equal(s.steps, CHAIN_STEPS);
    /* The handler after the last step ran on the same turn, before the detach took hold. */
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(s.value, CHAIN_STEPS);
    assert_int_equal(s.ops->detach(s.l), VOW_EINVAL);
    vow_unref(p);
    sc_end(&s);
}

/* ------------------------------------------ libvow timers under a busy host loop */

/*
 * A host that is busy with its own work must not starve libvow timers: the host
 * re-arms a 20 ms timer of its own (which also writes to a pipe), optionally watches
 * that pipe (fd traffic) and keeps an idle callback going (so it never sleeps). The
 * libvow timers (a delay, a timeout, a coroutine's sleep) of 50 ms must each fire
 * within one host period of their deadline: counted in host timer ticks (each at
 * least 20 ms after the previous one), not on a wall clock. A starved libvow timer
 * would see the host tick on until BUSY_TICKS_MAX, where the host stops.
 */
#define BUSY_PERIOD_MS 20
#define BUSY_DEADLINE_MS 50
#define BUSY_TICKS_MAX 25
enum { BUSY_TIMER = 1, BUSY_FD = 2, BUSY_IDLE = 4 };

struct busy {
    struct sc *s;        /* the scenario */
    int mode;            /* BUSY_* */
    int ticks;           /* host timer ticks so far */
    int reads;           /* bytes the host read from the pipe */
    int idles;           /* host idle callbacks run */
    int stop;            /* the host stops re-arming its work */
    int armed;           /* host callbacks armed and not run yet */
    int pending;         /* libvow timers not fired yet */
    int fired_tick[3];   /* ticks seen when each libvow timer fired, -1 before */
    uint64_t start;      /* loop clock when the libvow timers started */
};

/* Stops the host's work once every libvow timer fired (or it starved too long); the
 * scenario is done when no host callback is left armed either. */
static void busy_check_done(struct busy *b)
{
    if (!b->stop && (b->pending == 0 || b->ticks >= BUSY_TICKS_MAX)) {
        b->stop = 1;
        /* One more byte, so the pipe watcher fires once more and does not re-arm. */
        if (b->mode & BUSY_FD)
            assert_int_equal(write(b->s->fds[1], "s", 1), 1);
    }
    if (b->stop && b->armed == 0)
        b->s->done = 1;
}

static void busy_tick(void *arg)
{
    struct busy *b = arg;
    b->armed--;
    b->ticks++;
    if (b->mode & BUSY_FD && !b->stop)
        assert_int_equal(write(b->s->fds[1], "t", 1), 1);
    if (!b->stop && b->ticks < BUSY_TICKS_MAX) {
        b->armed++;
        b->s->ops->timer(b->s->h, BUSY_PERIOD_MS, busy_tick, b);
    }
    busy_check_done(b);
}

static void busy_read(void *arg)
{
    struct busy *b = arg;
    char c;
    b->armed--;
    assert_int_equal(read(b->s->fds[0], &c, 1), 1);
    b->reads++;
    if (!b->stop) {
        b->armed++;
        b->s->ops->readable(b->s->h, b->s->fds[0], busy_read, b);
    }
    busy_check_done(b);
}

static void busy_idle(void *arg)
{
    struct busy *b = arg;
    b->armed--;
    b->idles++;
    if (!b->stop) {
        b->armed++;
        b->s->ops->idle(b->s->h, busy_idle, b);
    }
    busy_check_done(b);
}

static void busy_fired(struct busy *b, int i)
{
    assert_int_equal(b->fired_tick[i], -1);
    /* Never early, on the loop clock. */
    assert_true(vow_loop_now(b->s->l) >= b->start + BUSY_DEADLINE_MS);
    b->fired_tick[i] = b->ticks;
    b->pending--;
    busy_check_done(b);
}

static vow_ret busy_delay_done(void *ctx, const vow_val *v)
{
    (void)v;
    busy_fired(ctx, 0);
    return vow_ok(vow_val_none());
}

static vow_ret busy_timeout_done(void *ctx, int code, const vow_val *d)
{
    (void)d;
    assert_int_equal(code, VOW_ETIMEDOUT);
    busy_fired(ctx, 1);
    return vow_ok(vow_val_none());
}

#ifdef HAVE_CO
static vow_ret busy_co(void *arg)
{
    assert_int_equal(vow_co_sleep(BUSY_DEADLINE_MS), 0);
    busy_fired(arg, 2);
    return vow_ok(vow_val_none());
}
#endif

static void busy_case(void **state, int mode)
{
    struct sc s;
    struct busy b = { .s = &s, .mode = mode, .fired_tick = { -1, -1, -1 } };
    sc_begin(&s, state);
    assert_int_equal(pipe(s.fds), 0);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    b.start = vow_loop_now(s.l);
    vow *d = vow_then(vow_delay(s.l, BUSY_DEADLINE_MS, vow_val_none()), busy_delay_done, NULL,
                      &b);
    vow *never = vow_pending(s.l);
    vow *t = vow_catch(vow_timeout(vow_ref(never), BUSY_DEADLINE_MS), busy_timeout_done, &b);
    assert_true(d && never && t);
    b.pending = 2;
#ifdef HAVE_CO
    vow *co = vow_co_spawn(s.l, busy_co, &b, NULL);
    assert_non_null(co);
    b.pending++;
#endif
    b.armed = 1;
    s.ops->timer(s.h, BUSY_PERIOD_MS, busy_tick, &b);
    if (mode & BUSY_FD) {
        b.armed++;
        s.ops->readable(s.h, s.fds[0], busy_read, &b);
    }
    if (mode & BUSY_IDLE) {
        b.armed++;
        s.ops->idle(s.h, busy_idle, &b);
    }
    s.ops->run(s.h, &s.done);
    assert_int_equal(b.pending, 0);
    assert_int_equal(b.armed, 0);
    for (int i = 0; i < 3; i++) {
        if (b.fired_tick[i] < 0)
            continue;
        /* Ticks 1 and 2 come before the deadline, tick 3 within one period after. */
        assert_in_range(b.fired_tick[i], 0, BUSY_DEADLINE_MS / BUSY_PERIOD_MS + 1);
    }
    if (mode & BUSY_IDLE)
        assert_true(b.idles > 0);
    vow_unref(d);
    vow_unref(t);
    vow_unref(never);
#ifdef HAVE_CO
    assert_int_equal(vow_state(co), VOW_FULFILLED);
    vow_unref(co);
#endif
    assert_int_equal(s.ops->detach(s.l), 0);
    s.done = 1;
    s.ops->run(s.h, &s.done); /* lets asynchronous closes (libuv) finish */
    sc_end(&s);
}

static void test_busy_host_timer(void **state)
{
    busy_case(state, BUSY_TIMER);
}

static void test_busy_host_fd(void **state)
{
    busy_case(state, BUSY_TIMER | BUSY_FD);
}

static void test_busy_host_idle(void **state)
{
    busy_case(state, BUSY_TIMER | BUSY_FD | BUSY_IDLE);
}

/* ----------------------------------------------------------------------- idle CPU use */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void idle_done(void *arg)
{
    struct sc *s = arg;
    s->done = 1;
}

/* A CPU-usage bound, not a wall-clock assertion: a spinning adapter burns the second. */
#define IDLE_CPU_MAX 0.2

static void test_idle_no_spin(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    s.ops->timer(s.h, 1000, idle_done, &s);
    double c0 = cpu_seconds();
    s.ops->run(s.h, &s.done);
    double used = cpu_seconds() - c0;
    assert_int_equal(s.done, 1);
    assert_true(used < IDLE_CPU_MAX);
    assert_int_equal(s.ops->detach(s.l), 0);
    sc_end(&s);
}

/* The same while the libvow loop waits on a far deadline: alive, but nothing to do. */
static void stop_far_timer(void *arg)
{
    struct sc *s = arg;
    vow_timer *t = (vow_timer *)s->p;
    assert_int_equal(vow_timer_stop(t), 0);
    s->done = 1;
}

static void far_timer_fired(vow_timer *t)
{
    (void)t;
    fail_msg("the far timer must not fire");
}

static void test_waiting_no_spin(void **state)
{
    struct sc s;
    sc_begin(&s, state);
    vow_timer t;
    assert_int_equal(vow_timer_init(s.l, &t, far_timer_fired), 0);
    assert_int_equal(vow_timer_start(&t, 60000, 0), 0);
    s.p = (vow *)(void *)&t; /* the test's slot, reused for the timer */
    assert_int_equal(s.ops->attach(s.l, s.h), 0);
    s.ops->timer(s.h, 500, stop_far_timer, &s);
    double c0 = cpu_seconds();
    s.ops->run(s.h, &s.done);
    double used = cpu_seconds() - c0;
    assert_int_equal(s.done, 1);
    assert_true(used < IDLE_CPU_MAX);
    assert_int_equal(s.ops->detach(s.l), 0);
    s.p = NULL;
    sc_end(&s);
}

static int run_scenarios(const struct host_ops *ops)
{
    tu_install_allocator();
    void *st = (void *)ops;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_host_timer_settles, st),
        cmocka_unit_test_prestate(test_vow_timers_drive_chain, st),
#ifdef HAVE_CO
        cmocka_unit_test_prestate(test_coroutine_awaits_host, st),
        cmocka_unit_test_prestate(test_scope_in_host, st),
#endif
        cmocka_unit_test_prestate(test_attach_twice, st),
        cmocka_unit_test_prestate(test_attach_claimed, st),
        cmocka_unit_test_prestate(test_detach_reattach, st),
        cmocka_unit_test_prestate(test_busy_host_timer, st),
        cmocka_unit_test_prestate(test_busy_host_fd, st),
        cmocka_unit_test_prestate(test_busy_host_idle, st),
        cmocka_unit_test_prestate(test_idle_no_spin, st),
        cmocka_unit_test_prestate(test_waiting_no_spin, st),
    };
    return cmocka_run_group_tests_name(ops->name, tests, NULL, NULL);
}

#endif /* VOW_TEST_SCENARIOS_H */
