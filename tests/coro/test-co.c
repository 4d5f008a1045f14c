/* SPDX-License-Identifier: MIT */
/*
 * Coroutines mixed with chains and callbacks on one loop: awaiting chains, chains
 * adopting coroutines, timers settling what a coroutine awaits, vow_all over 10,000
 * coroutines, nesting, errors, cancellation both ways, misuse, the one-yield rule,
 * loop close while suspended, and an allocation-failure sweep. Built once per switch
 * and run twice: as is, and with VOW_CO_TEST_COPY=1, which spawns the coroutines of
 * every test that is not about separate stacks (pool, overflow) in copy-stack mode.
 */
#include "testutil.h"

#include "vow/co.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static int unhandled_seen;

static void count_unhandled(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    if (event == VOW_UNHANDLED)
        unhandled_seen++;
}

static vow_loop *new_loop(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_loop_set_unhandled(l, count_unhandled, NULL), 0);
    unhandled_seen = 0;
    return l;
}

static void finish(vow_loop *l)
{
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_co_live(l), 0);
    assert_int_equal(vow_co_pooled(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static vow_loop *L;

/* The options of every spawn not about separate stacks: NULL, or copy-stack mode. */
static const vow_co_opts *OPTS;
static const vow_co_opts copy_opts = { .flags = VOW_CO_COPY_STACK };

/* ------------------------------------------------- await a then chain */

static vow_ret add_one(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static vow_ret twice(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num * 2));
}

static vow_ret co_await_chain(void *arg)
{
    vow *p = vow_then(vow_then(vow_resolved(L, vow_val_num(20)), add_one, NULL, NULL), twice,
                      NULL, NULL);
    int rc = vow_await(p);
    int64_t n = rc == 0 ? vow_value(p)->num : rc;
    vow_unref(p);
    *(int *)arg += 1;
    return vow_ok(vow_val_num(n));
}

static void await_then_chain(void **state)
{
    (void)state;
    L = new_loop();
    int ran = 0;
    vow *c = vow_co_spawn(L, co_await_chain, &ran, OPTS);
    assert_non_null(c);
    /* Spawn never runs the body synchronously. */
    assert_int_equal(ran, 0);
    assert_int_equal(vow_co_live(L), 1);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(ran, 1);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    assert_int_equal(vow_value(c)->num, 42);
    vow_unref(c);
    finish(L);
}

/* ------------------------------------- a chain adopting a coroutine's vow */

static vow_ret co_square(void *arg)
{
    int64_t n = (int64_t)(intptr_t)arg;
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num(n * n));
}

static vow_ret spawn_square(void *ctx, const vow_val *v)
{
    (void)ctx;
    vow *c = vow_co_spawn(L, co_square, (void *)(intptr_t)v->num, OPTS);
    return c ? vow_follow(c) : vow_fail(VOW_ENOMEM, vow_val_none());
}

static void chain_adopts_coroutine(void **state)
{
    (void)state;
    L = new_loop();
    vow *p = vow_then(vow_then(vow_resolved(L, vow_val_num(7)), spawn_square, NULL, NULL),
                      add_one, NULL, NULL);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(vow_value(p)->num, 50);
    vow_unref(p);
    finish(L);
}

/* ----------------------------------- a timer callback settles the awaited vow */

struct timed {
    vow_timer t;     /* fires once */
    vow *p;          /* what the coroutine awaits and the timer resolves */
    uint64_t start;  /* loop clock when the timer started */
    uint64_t woke;   /* loop clock when the await returned */
};

static void timer_fired(vow_timer *t)
{
    struct timed *x = t->data;
    assert_int_equal(vow_resolve(x->p, vow_val_num(99)), 0);
}

static vow_ret co_wait_timer(void *arg)
{
    struct timed *x = arg;
    int rc = vow_await(x->p);
    x->woke = vow_loop_now(L);
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num(vow_value(x->p)->num));
}

static void callback_settles_awaited(void **state)
{
    (void)state;
    L = new_loop();
    struct timed x = { .p = vow_pending(L) };
    assert_int_equal(vow_timer_init(L, &x.t, timer_fired), 0);
    x.t.data = &x;
    x.start = vow_loop_now(L);
    assert_int_equal(vow_timer_start(&x.t, 15, 0), 0);
    vow *c = vow_co_spawn(L, co_wait_timer, &x, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(c)->num, 99);
    assert_true(x.woke >= x.start + 15);
    vow_unref(c);
    vow_unref(x.p);
    finish(L);
}

/* ----------------------------------------------- vow_all over 10,000 coroutines */

/* ThreadSanitizer counts every coroutine as a thread and stops at 8,128 of them. */
#if defined(__SANITIZE_THREAD__)
#define NALL 5000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NALL 5000
#endif
#endif
#ifndef NALL
#define NALL 10000
#endif

static vow_ret co_index(void *arg)
{
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num((int64_t)(intptr_t)arg));
}

static void all_of_many(void **state)
{
    (void)state;
    L = new_loop();
    vow **ps = malloc(NALL * sizeof(*ps));
    assert_non_null(ps);
    for (int i = 0; i < NALL; i++) {
        ps[i] = vow_co_spawn(L, co_index, (void *)(intptr_t)i, OPTS);
        assert_non_null(ps[i]);
    }
    assert_int_equal(vow_co_live(L), NALL);
    vow *all = vow_all(L, ps, NALL);
    free(ps);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(all), VOW_FULFILLED);
    const vow_list *list = vow_list_get(vow_value(all));
    assert_non_null(list);
    assert_int_equal(list->n, NALL);
    for (int i = 0; i < NALL; i++)
        assert_int_equal(vow_value(list->items[i])->num, i);
    vow_unref(all);
    finish(L);
}

/* --------------------------------------------------------------- nested spawns */

static vow_ret co_depth(void *arg)
{
    int64_t n = (int64_t)(intptr_t)arg;
    if (n == 0)
        return vow_ok(vow_val_num(0));
    vow *child = vow_co_spawn(L, co_depth, (void *)(intptr_t)(n - 1), OPTS);
    if (!child)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    int rc = vow_await(child);
    int64_t v = rc == 0 ? vow_value(child)->num : rc;
    vow_unref(child);
    return vow_ok(vow_val_num(v + n));
}

static vow_ret co_follow_child(void *arg)
{
    /* Returning a vow: the coroutine's vow adopts it. */
    vow *child = vow_co_spawn(L, co_depth, arg, OPTS);
    return vow_follow(child);
}

static void nested_spawns(void **state)
{
    (void)state;
    L = new_loop();
    vow *c = vow_co_spawn(L, co_depth, (void *)(intptr_t)100, OPTS);
    vow *f = vow_co_spawn(L, co_follow_child, (void *)(intptr_t)10, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(c)->num, 5050);
    assert_int_equal(vow_value(f)->num, 55);
    vow_unref(c);
    vow_unref(f);
    finish(L);
}

/* -------------------------------------------------------- errors propagate */

static void drop_str(void *p)
{
    free(p);
}

static vow_ret co_fail_io(void *arg)
{
    (void)arg;
    char *msg = malloc(8);
    memcpy(msg, "broken", 7);
    return vow_fail(-EIO, vow_val_ptr(msg, drop_str));
}

static vow_ret co_await_failure(void *arg)
{
    (void)arg;
    vow *inner = vow_co_spawn(L, co_fail_io, NULL, OPTS);
    int rc = vow_await(inner);
    int ok = rc == -EIO && strcmp(vow_value(inner)->ptr, "broken") == 0;
    vow_unref(inner);
    /* Pass the failure on, with a code of our own. */
    return ok ? vow_fail(VOW_EUSER, vow_val_num(rc)) : vow_ok(vow_val_num(rc));
}

static vow_ret co_pass(void *arg)
{
    (void)arg;
    return vow_pass();
}

static vow_ret co_follow_null(void *arg)
{
    (void)arg;
    return vow_follow(NULL);
}

static int caught;

static vow_ret catch_code(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)d;
    caught = code;
    return vow_ok(vow_val_none());
}

static void errors_propagate(void **state)
{
    (void)state;
    L = new_loop();
    vow *a = vow_co_spawn(L, co_await_failure, NULL, OPTS);
    vow *b = vow_co_spawn(L, co_pass, NULL, OPTS);
    vow *c = vow_co_spawn(L, co_follow_null, NULL, OPTS);
    caught = 0;
    vow *d = vow_catch(vow_co_spawn(L, co_fail_io, NULL, OPTS), catch_code, NULL);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(a), VOW_REJECTED);
    assert_int_equal(vow_code(a), VOW_EUSER);
    assert_int_equal(vow_value(a)->num, -EIO);
    assert_int_equal(vow_code(b), VOW_EINVAL);
    assert_int_equal(vow_code(c), VOW_EINVAL);
    assert_int_equal(caught, -EIO);
    assert_int_equal(vow_state(d), VOW_FULFILLED);
    /* a, b and c were rejected with nobody listening. */
    assert_int_equal(unhandled_seen, 3);
    vow_unref(a);
    vow_unref(b);
    vow_unref(c);
    vow_unref(d);
    finish(L);
}

/* ---------------------------------------------- cancellation, both ways */

struct waiter {
    vow *p;        /* what it awaits */
    int first;     /* first await's code */
    int second;    /* the next await's code */
    int resumed;   /* times the body continued after an await */
};

static vow_ret co_waiter(void *arg)
{
    struct waiter *w = arg;
    w->first = vow_await(w->p);
    w->resumed++;
    w->second = vow_co_yield();
    w->resumed++;
    return vow_ok(vow_val_num(1));
}

static void cancel_coroutine_while_awaiting(void **state)
{
    (void)state;
    L = new_loop();
    struct waiter w = { .p = vow_pending(L), .first = 1, .second = 1 };
    vow *c = vow_co_spawn(L, co_waiter, &w, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(w.resumed, 0);
    assert_int_equal(vow_cancel(c), 0);
    /* The wake-up comes from the loop, not from inside vow_cancel. */
    assert_int_equal(w.resumed, 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(w.first, VOW_ECANCELED);
    /* Once cancelled, every later await fails at once. */
    assert_int_equal(w.second, VOW_ECANCELED);
    assert_int_equal(w.resumed, 2);
    assert_int_equal(vow_code(c), VOW_ECANCELED);
    /* The await was the awaited vow's only consumer: it is cancelled with the
     * coroutine. Our reference keeps its memory, not its operation. */
    assert_int_equal(vow_state(w.p), VOW_REJECTED);
    assert_int_equal(vow_code(w.p), VOW_ECANCELED);
    assert_int_equal(vow_resolve(w.p, vow_val_num(5)), VOW_ESETTLED);
    vow_unref(w.p);
    vow_unref(c);
    assert_int_equal(unhandled_seen, 0);
    finish(L);
}

static vow_ret count_value(void *ctx, const vow_val *v)
{
    *(int64_t *)ctx = v->num;
    return vow_pass();
}

/* Another consumer still wants the awaited vow: cancelling the coroutine leaves it. */
static void cancel_coroutine_keeps_shared_await(void **state)
{
    (void)state;
    L = new_loop();
    struct waiter w = { .p = vow_pending(L), .first = 1, .second = 1 };
    int64_t seen = 0;
    vow *other = vow_then(vow_ref(w.p), count_value, NULL, &seen);
    vow *c = vow_co_spawn(L, co_waiter, &w, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_cancel(c), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(w.first, VOW_ECANCELED);
    assert_int_equal(vow_state(w.p), VOW_PENDING);
    assert_int_equal(vow_resolve(w.p, vow_val_num(5)), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(seen, 5);
    vow_unref(other);
    vow_unref(w.p);
    vow_unref(c);
    assert_int_equal(unhandled_seen, 0);
    finish(L);
}

static void cancel_before_start(void **state)
{
    (void)state;
    L = new_loop();
    struct waiter w = { .p = vow_resolved(L, vow_val_num(1)), .first = 1, .second = 1 };
    vow *c = vow_co_spawn(L, co_waiter, &w, OPTS);
    assert_int_equal(vow_cancel(c), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    /* It still ran, so it could release what it owns. */
    assert_int_equal(w.resumed, 2);
    assert_int_equal(w.first, VOW_ECANCELED);
    vow_unref(w.p);
    vow_unref(c);
    finish(L);
}

static void cancel_awaited_from_outside(void **state)
{
    (void)state;
    L = new_loop();
    struct waiter w = { .p = vow_pending(L), .first = 1, .second = 1 };
    vow *c = vow_co_spawn(L, co_waiter, &w, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_cancel(w.p), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(w.first, VOW_ECANCELED);
    /* The coroutine itself was not cancelled: it goes on normally. */
    assert_int_equal(w.second, 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(w.p);
    vow_unref(c);
    finish(L);
}

static vow_ret co_cancel_self(void *arg)
{
    int *out = arg;
    assert_int_equal(vow_cancel(vow_co_self()), 0);
    out[0] = vow_co_sleep(1000000);
    out[1] = vow_co_yield();
    return vow_ok(vow_val_none());
}

static void cancel_self(void **state)
{
    (void)state;
    L = new_loop();
    int out[2] = { 1, 1 };
    vow *c = vow_co_spawn(L, co_cancel_self, out, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(out[0], VOW_ECANCELED);
    assert_int_equal(out[1], VOW_ECANCELED);
    assert_int_equal(vow_code(c), VOW_ECANCELED);
    vow_unref(c);
    finish(L);
}

/*
 * A coroutine that finished by following a pending vow: its own vow stays pending
 * (adopting) after the coroutine's memory is gone. Cancelling it then must not reach
 * the finished coroutine (its abort hook went with it), nor the next coroutine that
 * took over its stack or memory: that one waits on undisturbed.
 */
static vow_ret co_follows(void *arg)
{
    return vow_follow(vow_ref(arg));
}

static void cancel_after_finish_by_follow(void **state)
{
    (void)state;
    L = new_loop();
    vow *q = vow_pending(L);
    vow *c = vow_co_spawn(L, co_follows, q, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_state(c), VOW_PENDING);
    /* The next coroutine reuses what the first one left. */
    struct waiter w = { .p = vow_pending(L), .first = 1, .second = 1 };
    vow *c2 = vow_co_spawn(L, co_waiter, &w, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_co_live(L), 1);
    assert_int_equal(vow_cancel(c), 0);
    /* q was wanted only by c's adoption. */
    assert_int_equal(vow_code(q), VOW_ECANCELED);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(w.resumed, 0);
    assert_int_equal(vow_resolve(w.p, vow_val_num(3)), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(w.first, 0);
    assert_int_equal(w.second, 0);
    assert_int_equal(vow_state(c2), VOW_FULFILLED);
    vow_unref(w.p);
    vow_unref(q);
    vow_unref(c);
    vow_unref(c2);
    finish(L);
}

/* -------------------------------------------------- misuse outside and inside */

static vow_ret co_misuse(void *arg)
{
    int *out = arg;
    vow_loop *other = arg == NULL ? NULL : *(vow_loop **)(out + 4);
    out[0] = vow_await(NULL);
    out[1] = vow_await(vow_co_self());
    vow *foreign = vow_resolved(other, vow_val_none());
    out[2] = vow_await(foreign);
    vow_unref(foreign);
    out[3] = vow_co_self() != NULL;
    return vow_ok(vow_val_none());
}

static void misuse(void **state)
{
    (void)state;
    L = new_loop();
    vow *p = vow_resolved(L, vow_val_num(1));
    assert_int_equal(vow_await(p), VOW_ENOTCORO);
    assert_int_equal(vow_await(NULL), VOW_ENOTCORO);
    assert_int_equal(vow_co_yield(), VOW_ENOTCORO);
    assert_int_equal(vow_co_sleep(1), VOW_ENOTCORO);
    assert_null(vow_co_self());
    assert_int_equal(vow_co_cancel_all(NULL), VOW_EINVAL);
    assert_int_equal(vow_co_cancel_all(L), 0);
    assert_null(vow_co_spawn(NULL, co_index, NULL, NULL));
    vow *bad = vow_co_spawn(L, NULL, NULL, NULL);
    assert_int_equal(vow_code(bad), VOW_EINVAL);
    vow_co_opts huge = { .stack_size = VOW_CO_STACK_MAX + 1 };
    vow *bad2 = vow_co_spawn(L, co_index, NULL, &huge);
    assert_int_equal(vow_code(bad2), VOW_EINVAL);
    assert_int_equal(vow_co_live(L), 0);
    assert_true(strlen(vow_co_switch_name()) > 0);

    vow_loop *other = vow_loop_new();
    assert_non_null(other);
    struct {
        int out[4];
        vow_loop *other;
    } m = { { 1, 1, 1, 0 }, other };
    vow *c = vow_co_spawn(L, co_misuse, &m, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(m.out[0], VOW_EINVAL);
    assert_int_equal(m.out[1], VOW_ECYCLE);
    assert_int_equal(m.out[2], VOW_EINVAL);
    assert_int_equal(m.out[3], 1);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(c);
    vow_unref(bad);
    vow_unref(bad2);
    vow_unref(p);
    assert_int_equal(vow_loop_run(other, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(other), 0);
    /* bad and bad2 were rejected without handlers. */
    assert_int_equal(unhandled_seen, 2);
    finish(L);
}

/* ------------------------------------ awaiting a settled vow yields once */

static char order[64];
static size_t norder;

static void note(vow_loop *l, void *arg)
{
    (void)l;
    order[norder++] = (char)(intptr_t)arg;
}

static vow_ret co_yield_once(void *arg)
{
    vow *p = vow_resolved(L, vow_val_num(3));
    assert_int_equal(vow_loop_queue_microtask(L, note, (void *)(intptr_t)'m'), 0);
    order[norder++] = (char)(intptr_t)arg;
    int rc = vow_await(p);
    order[norder++] = (char)((intptr_t)arg - 'a' + 'A');
    vow_unref(p);
    return vow_ok(vow_val_num(rc));
}

static void settled_await_yields_once(void **state)
{
    (void)state;
    L = new_loop();
    norder = 0;
    vow *a = vow_co_spawn(L, co_yield_once, (void *)(intptr_t)'a', OPTS);
    vow *b = vow_co_spawn(L, co_yield_once, (void *)(intptr_t)'b', OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    order[norder] = 0;
    /* a starts, queues its m and waits; b does the same; then the queue runs in
     * order: a's m before A, b's m before B, though the awaited vow was settled. */
    assert_string_equal(order, "abmAmB");
    vow_unref(a);
    vow_unref(b);
    finish(L);
}

/* ------------------------------------------------------------ yield interleaves */

static vow_ret co_pingpong(void *arg)
{
    for (int i = 0; i < 3; i++) {
        order[norder++] = (char)(intptr_t)arg;
        vow_co_yield();
    }
    return vow_ok(vow_val_none());
}

static void yields_interleave(void **state)
{
    (void)state;
    L = new_loop();
    norder = 0;
    vow *a = vow_co_spawn(L, co_pingpong, (void *)(intptr_t)'a', OPTS);
    vow *b = vow_co_spawn(L, co_pingpong, (void *)(intptr_t)'b', OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    order[norder] = 0;
    assert_string_equal(order, "ababab");
    vow_unref(a);
    vow_unref(b);
    finish(L);
}

/* --------------------------------------------------------- sleep on the clock */

struct sleeper {
    uint64_t ms;    /* how long */
    uint64_t done;  /* loop clock after waking */
    char tag;       /* for order */
};

static vow_ret co_sleeper(void *arg)
{
    struct sleeper *s = arg;
    int rc = vow_co_sleep(s->ms);
    s->done = vow_loop_now(L);
    order[norder++] = s->tag;
    return vow_ok(vow_val_num(rc));
}

static void sleep_order(void **state)
{
    (void)state;
    L = new_loop();
    norder = 0;
    struct sleeper s1 = { 20, 0, '2' }, s2 = { 5, 0, '1' };
    uint64_t t0 = vow_loop_now(L);
    vow *a = vow_co_spawn(L, co_sleeper, &s1, OPTS);
    vow *b = vow_co_spawn(L, co_sleeper, &s2, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    order[norder] = 0;
    assert_string_equal(order, "12");
    assert_true(s1.done >= t0 + 20);
    assert_true(s2.done >= t0 + 5);
    assert_int_equal(vow_value(a)->num, 0);
    vow_unref(a);
    vow_unref(b);
    finish(L);
}

/* ------------------------------------------- loop close with a suspended one */

static vow_ret co_sleep_long(void *arg)
{
    int *out = arg;
    *out = vow_co_sleep(1000000);
    return vow_ok(vow_val_none());
}

static void close_busy_until_cancel_all(void **state)
{
    (void)state;
    L = new_loop();
    int out[3] = { 1, 1, 1 };
    vow *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = vow_co_spawn(L, co_sleep_long, &out[i], OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    for (int i = 0; i < 3; i++)
        vow_unref(c[i]);
    /* Suspended coroutines keep their vows (and the loop) busy. */
    assert_int_equal(vow_loop_close(L), VOW_EBUSY);
    assert_int_equal(vow_co_live(L), 3);
    assert_int_equal(vow_co_cancel_all(L), 3);
    assert_int_equal(vow_co_cancel_all(L), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i], VOW_ECANCELED);
    assert_int_equal(unhandled_seen, 0);
    finish(L);
}

/* ------------------------------------------------------- stack size option */

static int64_t __attribute__((noinline)) deep(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return n > 0 ? deep(n - 1) + pad[0] : 0;
}

static vow_ret co_deep(void *arg)
{
    int n = (int)(intptr_t)arg;
    vow_co_yield();
    return vow_ok(vow_val_num(deep(n)));
}

static void stack_size_option(void **state)
{
    (void)state;
    L = new_loop();
    /* About 600 KiB of frames: only fits in the larger stack. */
    vow_co_opts big = { .stack_size = 1024 * 1024 };
    vow *c = vow_co_spawn(L, co_deep, (void *)(intptr_t)500, &big);
    vow *d = vow_co_spawn(L, co_deep, (void *)(intptr_t)20, OPTS);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    int64_t want = 0;
    for (int i = 1; i <= 500; i++)
        want += (char)i;
    assert_int_equal(vow_value(c)->num, want);
    assert_int_equal(vow_state(d), VOW_FULFILLED);
    vow_unref(c);
    vow_unref(d);
    finish(L);
}

/* ------------------------------------------- stack overflow hits the guard */

static int64_t __attribute__((noinline)) runaway(int n)
{
    volatile char pad[700];
    pad[0] = (char)n;
    pad[699] = (char)n;
    return n > 0 ? runaway(n - 1) + pad[0] + pad[699] : 0;
}

static vow_ret co_overflow(void *arg)
{
    (void)arg;
    /* About 7 MB of frames on a 64 KiB stack. */
    return vow_ok(vow_val_num(runaway(10000)));
}

static void overflow_kills_child(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vow_loop *l = vow_loop_new();
        vow *c = l ? vow_co_spawn(l, co_overflow, NULL, NULL) : NULL;
        if (c)
            vow_loop_run(l, VOW_RUN_DEFAULT);
        _exit(0); /* not reached when the guard works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
#ifdef UNDER_ASAN
    /* ASan reports the overflow from its alternate stack and exits with an error. */
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
#endif
    assert_int_equal(tu_live_allocations(), 0);
}

/* -------------------------------------------------- pool reuse across a batch */

static void pool_reuse(void **state)
{
    (void)state;
    L = new_loop();
    vow *keep = vow_co_spawn(L, co_sleep_long, &(int){ 0 }, NULL);
    vow *c[100];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            c[i] = vow_co_spawn(L, co_index, (void *)(intptr_t)i, NULL);
        /* A turn runs one fairness slice of microtasks, which a slow run (Valgrind)
         * can end on time before all 100 are done: turns until they are. */
        for (int t = 0; vow_state(c[99]) == VOW_PENDING; t++) {
            assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
            assert_true(t < 1000);
        }
        /* Finished stacks stay pooled while the loop has a live coroutine. */
        assert_true(vow_co_pooled(L) >= 100 - 1);
        for (int i = 0; i < 100; i++) {
            assert_int_equal(vow_value(c[i])->num, i);
            vow_unref(c[i]);
        }
    }
    assert_int_equal(vow_co_live(L), 1);
    assert_int_equal(vow_cancel(keep), 0);
    vow_unref(keep);
    finish(L);
    /* The idle slabs went to the thread's cache; a new loop takes them back. */
    vow_co_trim();
    L = new_loop();
    vow *one = vow_co_spawn(L, co_index, (void *)(intptr_t)1, NULL);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    vow_unref(one);
    finish(L);
    assert_true(vow_co_trim() > 0);
    assert_int_equal(vow_co_trim(), 0);
}

/* ------------------------------------- the mprotect guards' share of mappings */

static vow_ret co_park(void *arg)
{
    int rc = vow_await(arg);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

/*
 * Where guards split mappings (VOW_CO_GUARD=mprotect, or a kernel without
 * MADV_GUARD_INSTALL), spawning with separate stacks stops at the adapter's share of
 * vm.max_map_count, out of memory, and the process keeps mappings for everything
 * else; copy-stack coroutines go on.
 */
static void mapping_budget(void **state)
{
    (void)state;
    /* Only where guards are mprotect's (the co-mprotect tests); not under Valgrind,
     * whose own mappings change the count. */
    const char *g = getenv("VOW_CO_GUARD");
    if (!g || strcmp(g, "mprotect") != 0 || getenv("VOW_UNDER_VALGRIND"))
        return;
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        assert_int_equal(fscanf(f, "%ld", &max), 1);
        fclose(f);
    }
    vow_co_trim();
    L = new_loop();
    vow *gate = vow_pending(L);
    /* A copy-stack coroutine first: the shared stack exists before the share runs out. */
    vow *copy0 = vow_co_spawn(L, co_park, gate, &copy_opts);
    assert_non_null(copy0);
    size_t cap = (size_t)max, n = 0;
    vow **cs = malloc(cap * sizeof(*cs));
    assert_non_null(cs);
    vow_co_opts small = { .stack_size = VOW_CO_STACK_MIN };
    while (n < cap && (cs[n] = vow_co_spawn(L, co_park, gate, &small)) != NULL)
        n++;
    /* Two mappings per guarded stack, within half of the limit (give or take the
     * slabs' own mappings). */
    assert_true(n > 1000);
    assert_true(n * 2 <= (size_t)max / 2 + 64);
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    munmap(m, 4096);
    vow *copy = vow_co_spawn(L, co_index, (void *)(intptr_t)7, &copy_opts);
    assert_non_null(copy);
    assert_int_equal(vow_resolve(gate, vow_val_none()), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(copy)->num, 7);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vow_state(cs[i]), VOW_FULFILLED);
        vow_unref(cs[i]);
    }
    free(cs);
    assert_int_equal(vow_state(copy0), VOW_FULFILLED);
    vow_unref(copy0);
    vow_unref(copy);
    vow_unref(gate);
    finish(L);
    vow_co_trim();
    /* Everything given back: the whole share is usable again. */
    L = new_loop();
    vow *again = vow_co_spawn(L, co_index, (void *)(intptr_t)1, &small);
    assert_non_null(again);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    vow_unref(again);
    finish(L);
}

/* ------------------------------------------------- allocation failure sweep */

static vow_ret co_sweep(void *arg)
{
    (void)arg;
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    vow *child = vow_co_spawn(L, co_index, (void *)(intptr_t)4, OPTS);
    if (!child)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    rc = vow_await(child);
    int64_t v = rc == 0 ? vow_value(child)->num : rc;
    vow_unref(child);
    return vow_ok(vow_val_num(v));
}

static void oom_sweep(void **state)
{
    (void)state;
    int clean = 0;
    for (long k = 1; k < 200 && !clean; k++) {
        L = new_loop();
        tu_fail_nth(k);
        vow *c = vow_co_spawn(L, co_sweep, NULL, OPTS);
        if (c) {
            vow *d = vow_catch(c, catch_code, NULL);
            vow_loop_run(L, VOW_RUN_DEFAULT);
            if (d)
                assert_int_not_equal(vow_state(d), VOW_PENDING);
            vow_unref(d);
        }
        clean = tu_alloc_count() < k;
        tu_fail_nth(0);
        finish(L);
    }
    assert_true(clean);
}

int main(void)
{
    tu_install_allocator();
    const char *mode = getenv("VOW_CO_TEST_COPY");
    if (mode && strcmp(mode, "1") == 0)
        OPTS = &copy_opts;
    printf("# switch: %s, %s stacks\n", vow_co_switch_name(), OPTS ? "copy" : "separate");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(await_then_chain),
        cmocka_unit_test(chain_adopts_coroutine),
        cmocka_unit_test(callback_settles_awaited),
        cmocka_unit_test(all_of_many),
        cmocka_unit_test(nested_spawns),
        cmocka_unit_test(errors_propagate),
        cmocka_unit_test(cancel_coroutine_while_awaiting),
        cmocka_unit_test(cancel_coroutine_keeps_shared_await),
        cmocka_unit_test(cancel_before_start),
        cmocka_unit_test(cancel_awaited_from_outside),
        cmocka_unit_test(cancel_self),
        cmocka_unit_test(cancel_after_finish_by_follow),
        cmocka_unit_test(misuse),
        cmocka_unit_test(settled_await_yields_once),
        cmocka_unit_test(yields_interleave),
        cmocka_unit_test(sleep_order),
        cmocka_unit_test(close_busy_until_cancel_all),
        cmocka_unit_test(stack_size_option),
        cmocka_unit_test(overflow_kills_child),
        cmocka_unit_test(pool_reuse),
        cmocka_unit_test(mapping_budget),
        cmocka_unit_test(oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
