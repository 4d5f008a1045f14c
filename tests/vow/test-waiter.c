/* SPDX-License-Identifier: MIT */
/*
 * Waiters (vow_waiter_*): a consumer with no derived vow. It runs from the microtask
 * queue in attachment order, handles the rejection it sees, can be restarted and
 * freed from its own function, withdrawing it cancels a source nothing else
 * consumes (through wrappers too), and a vow collected under it still tells it.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

struct probe {
    vow_waiter w;   /* the handle under test */
    int runs;       /* fn calls */
    int state;      /* vow_state(p) at the last call */
    int code;       /* vow_code(p) at the last call */
    int64_t num;    /* the value at the last call, when fulfilled */
    vow *restart;   /* if set, fn starts the waiter again on it (once) */
    int order_mark; /* where the last call came in a shared log */
};

static int order_log[8];
static int order_len;

static void probe_fn(vow_waiter *w, vow *p)
{
    struct probe *pr = (struct probe *)(void *)((char *)w - offsetof(struct probe, w));
    pr->runs++;
    pr->state = vow_state(p);
    pr->code = vow_state(p) == VOW_PENDING ? 0 : vow_code(p);
    pr->num = vow_state(p) == VOW_FULFILLED ? vow_value(p)->num : -1;
    pr->order_mark = order_len;
    if (order_len < 8)
        order_log[order_len++] = 100 + pr->runs;
    if (pr->restart) {
        vow *q = pr->restart;
        pr->restart = NULL;
        assert_int_equal(vow_waiter_start(w, q), 0);
        vow_unref(q);
    }
}

static void probe_init(struct probe *pr)
{
    memset(pr, 0, sizeof(*pr));
    assert_int_equal(vow_waiter_init(&pr->w, probe_fn), 0);
}

static int unhandled;

static void count_unhandled(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    if (event == VOW_UNHANDLED)
        unhandled++;
}

static vow_loop *new_loop(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_loop_set_unhandled(l, count_unhandled, NULL), 0);
    unhandled = 0;
    order_len = 0;
    return l;
}

static void finish(vow_loop *l)
{
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static int hooks;

static void hook(void *ctx, vow *p)
{
    (void)ctx;
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    hooks++;
}

/* ------------------------------------------------------------- settling */

static void runs_when_settled(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(7)), 0);
    /* Never synchronously: only from the queue. */
    assert_int_equal(pr.runs, 0);
    vow_unref(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.state, VOW_FULFILLED);
    assert_int_equal(pr.num, 7);
    /* Idle again: stopping is a no-op, starting again works. */
    assert_int_equal(vow_waiter_stop(&pr.w), 0);
    finish(l);
}

static void already_settled_runs_from_queue(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_rejected(l, VOW_ETIMEDOUT, vow_val_none());
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    vow_unref(p);
    assert_int_equal(pr.runs, 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.state, VOW_REJECTED);
    assert_int_equal(pr.code, VOW_ETIMEDOUT);
    /* The waiter consumed the rejection: it is not unhandled. */
    assert_int_equal(unhandled, 0);
    finish(l);
}

static vow_ret log_then(void *ctx, const vow_val *v)
{
    if (order_len < 8)
        order_log[order_len++] = (int)(intptr_t)ctx;
    return vow_ok(*v);
}

/* Attachment order with then reactions, as one more reaction of the vow. */
static void runs_in_attachment_order(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    vow *a = vow_then(vow_ref(p), log_then, NULL, (void *)(intptr_t)1);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    vow *b = vow_then(vow_ref(p), log_then, NULL, (void *)(intptr_t)2);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(order_len, 3);
    assert_int_equal(order_log[0], 1);
    assert_int_equal(order_log[1], 101);
    assert_int_equal(order_log[2], 2);
    vow_unref(a);
    vow_unref(b);
    vow_unref(p);
    finish(l);
}

/* fn restarts the waiter on another vow; then a waiter frees itself from fn. */
static void restart_from_fn(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_resolved(l, vow_val_num(1));
    vow *q = vow_pending(l);
    pr.restart = vow_ref(q);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    vow_unref(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(vow_waiter_start(&pr.w, q), VOW_EBUSY);
    assert_int_equal(vow_resolve(q, vow_val_num(2)), 0);
    vow_unref(q);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 2);
    assert_int_equal(pr.num, 2);
    finish(l);
}

static int freed_runs;

static void free_self(vow_waiter *w, vow *p)
{
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    freed_runs++;
    vow_free(w);
}

static void fn_frees_waiter(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    vow_waiter *w = vow_malloc(sizeof(*w));
    assert_non_null(w);
    assert_int_equal(vow_waiter_init(w, free_self), 0);
    vow *p = vow_pending(l);
    assert_int_equal(vow_waiter_start(w, p), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), 0);
    vow_unref(p);
    freed_runs = 0;
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(freed_runs, 1);
    finish(l);
}

/* ----------------------------------------------------------- withdrawing */

/* The waiter was the only consumer: the source is cancelled, even though the test
 * still holds a reference to it (references do not count). */
static void stop_cancels_sole_source(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    hooks = 0;
    assert_int_equal(vow_on_cancel(p, hook, NULL), 0);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    assert_int_equal(vow_waiter_stop(&pr.w), 0);
    assert_int_equal(hooks, 1);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    assert_int_equal(vow_waiter_stop(&pr.w), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 0);
    vow_unref(p);
    finish(l);
}

static void stop_leaves_shared_source(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    hooks = 0;
    assert_int_equal(vow_on_cancel(p, hook, NULL), 0);
    vow *other = vow_then(vow_ref(p), log_then, NULL, (void *)(intptr_t)5);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    assert_int_equal(vow_waiter_stop(&pr.w), 0);
    assert_int_equal(hooks, 0);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(vow_resolve(p, vow_val_num(3)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 0);
    assert_int_equal(vow_value(other)->num, 3);
    vow_unref(other);
    vow_unref(p);
    finish(l);
}

static void stop_too_late(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(4)), 0);
    assert_int_equal(vow_waiter_stop(&pr.w), VOW_ESETTLED);
    assert_int_equal(vow_waiter_start(&pr.w, p), VOW_EBUSY);
    vow_unref(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.num, 4);
    finish(l);
}

/* Cancelling the vow waited on: fn sees the cancellation. */
static void cancelled_source(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    assert_int_equal(vow_cancel(p), 0);
    vow_unref(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.code, VOW_ECANCELED);
    finish(l);
}

/* -------------------------------------------------------------- garbage */

/* The last outside reference goes and nothing can settle the vow: fn still runs,
 * from the queue, with the vow pending; then everything is freed. */
static void collected_source(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *p = vow_pending(l);
    vow *d = vow_then(vow_ref(p), log_then, NULL, (void *)(intptr_t)9);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    vow_unref(d);
    vow_unref(p);
    assert_int_equal(pr.runs, 0);
    assert_int_equal(vow_waiter_stop(&pr.w), VOW_ESETTLED);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.state, VOW_PENDING);
    assert_int_equal(order_len, 1); /* the then handler never ran */
    finish(l);
}

/* ----------------------------------------------------------------- seams */

/* A waiter on a timeout over a then over a hooked source: the timeout fires, the
 * waiter sees VOW_ETIMEDOUT, and the source nobody else wants is cancelled. */
static void waits_on_timeout(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    vow *src = vow_pending(l);
    hooks = 0;
    assert_int_equal(vow_on_cancel(src, hook, NULL), 0);
    vow *t = vow_timeout(vow_then(vow_ref(src), log_then, NULL, NULL), 1);
    assert_int_equal(vow_waiter_start(&pr.w, t), 0);
    vow_unref(t);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.code, VOW_ETIMEDOUT);
    assert_int_equal(hooks, 1);
    vow_unref(src);
    finish(l);
}

/* Withdrawing a waiter on a race travels through the race and a then to a source
 * nothing else consumes, and leaves a source another waiter still consumes. */
static void stop_through_wrappers(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr, side;
    probe_init(&pr);
    probe_init(&side);
    vow *a = vow_pending(l), *b = vow_pending(l);
    hooks = 0;
    assert_int_equal(vow_on_cancel(a, hook, NULL), 0);
    assert_int_equal(vow_on_cancel(b, hook, NULL), 0);
    /* b has a second consumer: the side waiter. */
    assert_int_equal(vow_waiter_start(&side.w, b), 0);
    vow *ins[2] = { vow_then(vow_ref(a), log_then, NULL, NULL), vow_ref(b) };
    vow *r = vow_race(l, ins, 2);
    assert_int_equal(vow_waiter_start(&pr.w, r), 0);
    vow_unref(r);
    assert_int_equal(vow_waiter_stop(&pr.w), 0);
    /* a lost its only consumer through the race and the then; b kept one. */
    assert_int_equal(hooks, 1);
    assert_int_equal(vow_code(a), VOW_ECANCELED);
    assert_int_equal(vow_state(b), VOW_PENDING);
    assert_int_equal(vow_resolve(b, vow_val_num(8)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 0);
    assert_int_equal(side.runs, 1);
    assert_int_equal(side.num, 8);
    vow_unref(a);
    vow_unref(b);
    finish(l);
}

/* A waiter on a then whose handler follows another vow (adoption). */
static vow *follow_target;

static vow_ret follow_it(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return vow_follow(follow_target);
}

static void waits_on_adoption(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    follow_target = vow_pending(l);
    vow *target = vow_ref(follow_target);
    vow *d = vow_then(vow_resolved(l, vow_val_none()), follow_it, NULL, NULL);
    assert_int_equal(vow_waiter_start(&pr.w, d), 0);
    vow_unref(d);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(pr.runs, 0);
    assert_int_equal(vow_resolve(target, vow_val_num(11)), 0);
    vow_unref(target);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    assert_int_equal(pr.num, 11);
    finish(l);
}

static void misuse(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct probe pr;
    probe_init(&pr);
    assert_int_equal(vow_waiter_init(NULL, probe_fn), VOW_EINVAL);
    assert_int_equal(vow_waiter_init(&pr.w, NULL), VOW_EINVAL);
    assert_int_equal(vow_waiter_start(NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_waiter_start(&pr.w, NULL), VOW_EINVAL);
    assert_int_equal(vow_waiter_stop(NULL), VOW_EINVAL);
    vow *p = vow_pending(l);
    assert_int_equal(vow_waiter_start(&pr.w, p), 0);
    assert_int_equal(vow_waiter_start(&pr.w, p), VOW_EBUSY);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), 0);
    vow_unref(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pr.runs, 1);
    finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_when_settled),
        cmocka_unit_test(already_settled_runs_from_queue),
        cmocka_unit_test(runs_in_attachment_order),
        cmocka_unit_test(restart_from_fn),
        cmocka_unit_test(fn_frees_waiter),
        cmocka_unit_test(stop_cancels_sole_source),
        cmocka_unit_test(stop_leaves_shared_source),
        cmocka_unit_test(stop_too_late),
        cmocka_unit_test(cancelled_source),
        cmocka_unit_test(collected_source),
        cmocka_unit_test(waits_on_timeout),
        cmocka_unit_test(stop_through_wrappers),
        cmocka_unit_test(waits_on_adoption),
        cmocka_unit_test(misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
