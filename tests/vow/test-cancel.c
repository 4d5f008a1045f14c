/* SPDX-License-Identifier: MIT */
/*
 * Cancellation: rejection with VOW_ECANCELED, abort hooks (vow_on_cancel and the
 * caller-embedded vow_abort), ctx_drop, and the rule that cancellation travels
 * upstream only to sources nothing else wants.
 */
#include "testutil.h"

#include <string.h>

struct counts {
    int ok;        /* fulfilment handlers run */
    int err;       /* rejection handlers run */
    int last_code; /* code the last rejection handler saw */
    int hooks;     /* abort hooks run */
    int drops;     /* ctx_drop calls */
};

static vow_ret on_ok(void *ctx, const vow_val *v)
{
    struct counts *c = ctx;
    c->ok++;
    return vow_ok(*v);
}

static vow_ret on_err(void *ctx, int code, const vow_val *d)
{
    struct counts *c = ctx;
    (void)d;
    c->err++;
    c->last_code = code;
    return vow_fail(code, vow_val_none());
}

static void hook(void *ctx, vow *p)
{
    struct counts *c = ctx;
    c->hooks++;
    assert_int_equal(vow_state(p), VOW_REJECTED);
}

static void drop_ctx(void *ctx)
{
    struct counts *c = ctx;
    c->drops++;
}

static vow_loop *new_loop(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    return l;
}

static void finish(vow_loop *l)
{
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void cancel_pending_rejects(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *p = vow_pending(l);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    vow *d = vow_then(vow_ref(p), on_ok, on_err, &c);
    assert_int_equal(vow_cancel(p), 0);
    /* Hooks run at once, handlers only from the loop. */
    assert_int_equal(c.hooks, 1);
    assert_int_equal(c.err, 0);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(c.err, 1);
    assert_int_equal(c.last_code, VOW_ECANCELED);
    assert_int_equal(vow_code(d), VOW_ECANCELED);
    /* A second cancel and a late resolve change nothing. */
    assert_int_equal(vow_cancel(p), VOW_ESETTLED);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), VOW_ESETTLED);
    assert_int_equal(c.hooks, 1);
    vow_unref(p);
    vow_unref(d);
    finish(l);
}

static void cancel_settled_changes_nothing(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *p = vow_pending(l);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(5)), 0);
    assert_int_equal(vow_cancel(p), VOW_ESETTLED);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(vow_value(p)->num, 5);
    assert_int_equal(c.hooks, 0);
    assert_int_equal(vow_on_cancel(p, hook, &c), VOW_ESETTLED);
    assert_int_equal(vow_cancel(NULL), VOW_EINVAL);
    vow_unref(p);
    finish(l);
}

/*
 * Locking p onto another vow does not end p's producers: its abort hooks stay until p
 * settles. Cancelling the locked p runs them and reaches what it adopted; dropping it
 * runs them too (an I/O operation resolved onto another vow is withdrawn, see
 * io-stream's test_locked_read_dropped); once p settles through the adoption they are
 * released unrun. A producer that goes before p settles takes its hook back
 * (vow_abort_stop), as a coroutine does at its end.
 */
static void lock_keeps_hooks(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 }, cq = { 0 };
    vow *p = vow_pending(l);
    vow *q = vow_pending(l);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    assert_int_equal(vow_on_cancel(q, hook, &cq), 0);
    assert_int_equal(vow_resolve_with(p, vow_ref(q)), 0);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(c.hooks, 1);
    assert_int_equal(cq.hooks, 1);
    assert_int_equal(vow_code(q), VOW_ECANCELED);
    vow_unref(q);
    vow_unref(p);
    /* The same through vow_settle(vow_follow), and dropped instead of cancelled. */
    p = vow_pending(l);
    q = vow_pending(l);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    assert_int_equal(vow_settle(p, vow_follow(vow_ref(q))), 0);
    vow_unref(q);
    vow_unref(p);
    assert_int_equal(c.hooks, 2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    /* Settled through the adoption: the hook is released unrun. */
    p = vow_pending(l);
    q = vow_pending(l);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    assert_int_equal(vow_resolve_with(p, vow_ref(q)), 0);
    assert_int_equal(vow_resolve(q, vow_val_num(3)), 0);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(vow_cancel(p), VOW_ESETTLED);
    assert_int_equal(c.hooks, 2);
    vow_unref(q);
    vow_unref(p);
    finish(l);
}

static void cancel_travels_to_sole_source(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *d = vow_delay(l, 60000, vow_val_num(1));
    vow *a = vow_then(d, on_ok, NULL, &c);
    vow *b = vow_then_full(a, on_ok, NULL, &c, drop_ctx);
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(vow_cancel(b), 0);
    assert_int_equal(c.drops, 1);
    /* The delay's timer was stopped: one turn and nothing keeps the loop alive. */
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(vow_loop_alive(l), 0);
    assert_int_equal(c.ok, 0);
    assert_int_equal(c.drops, 1);
    vow_unref(b);
    finish(l);
}

static void cancel_stops_at_shared_source(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c1 = { 0 }, c2 = { 0 };
    vow *src = vow_delay(l, 1, vow_val_num(3));
    vow *a = vow_then(vow_ref(src), on_ok, on_err, &c1);
    vow *b = vow_then(src, on_ok, on_err, &c2);
    assert_int_equal(vow_cancel(a), 0);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    /* b's consumer still wanted src: it was not cancelled. */
    assert_int_equal(c1.ok + c1.err, 0);
    assert_int_equal(c2.ok, 1);
    assert_int_equal(vow_state(b), VOW_FULFILLED);
    assert_int_equal(vow_value(b)->num, 3);
    vow_unref(a);
    vow_unref(b);
    finish(l);
}

static void cancel_reaches_source_held_by_reference(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *src = vow_pending(l);
    vow *a = vow_then(vow_ref(src), on_ok, on_err, &c);
    assert_int_equal(vow_cancel(a), 0);
    /* Consumers decide, not references: a was src's only consumer, so src is
     * cancelled although we still hold it (our reference keeps its memory). */
    assert_int_equal(vow_state(src), VOW_REJECTED);
    assert_int_equal(vow_code(src), VOW_ECANCELED);
    assert_int_equal(vow_resolve(src, vow_val_num(1)), VOW_ESETTLED);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(c.ok + c.err, 0);
    vow_unref(src);
    vow_unref(a);
    finish(l);
}

static void drop_pending_runs_hooks(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *p = vow_pending(l);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    assert_int_equal(vow_on_cancel(p, hook, &c), 0);
    vow_unref(p);
    assert_int_equal(c.hooks, 2);
    /* A delay nobody holds any more stops its timer. */
    vow_unref(vow_delay(l, 60000, vow_val_num(0)));
    assert_int_equal(vow_loop_alive(l), 0);
    finish(l);
}

static void cancel_adopting_vow(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *inner = vow_delay(l, 60000, vow_val_num(1));
    vow *outer = vow_pending(l);
    assert_int_equal(vow_resolve_with(outer, inner), 0);
    assert_int_equal(vow_state(outer), VOW_PENDING);
    assert_int_equal(vow_resolve(outer, vow_val_num(2)), VOW_ESETTLED);
    vow *d = vow_then(vow_ref(outer), on_ok, on_err, &c);
    assert_int_equal(vow_cancel(outer), 0);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(vow_loop_alive(l), 0);
    assert_int_equal(c.err, 1);
    assert_int_equal(c.last_code, VOW_ECANCELED);
    vow_unref(outer);
    vow_unref(d);
    finish(l);
}

static void race_cancels_only_its_own_losers(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts ca = { 0 }, cb = { 0 }, cc = { 0 }, seen = { 0 };
    vow *fast = vow_delay(l, 1, vow_val_num(1));
    vow *slow_alone = vow_delay(l, 60000, vow_val_num(2));
    vow *slow_held = vow_pending(l);
    vow *slow_shared = vow_pending(l);
    assert_int_equal(vow_on_cancel(slow_alone, hook, &ca), 0);
    assert_int_equal(vow_on_cancel(slow_held, hook, &cb), 0);
    assert_int_equal(vow_on_cancel(slow_shared, hook, &cc), 0);
    /* Another consumer wants slow_shared; slow_held is only referenced by us. */
    vow *other = vow_then(vow_ref(slow_shared), on_ok, on_err, &seen);
    vow *in[4] = { fast, slow_alone, vow_ref(slow_held), vow_ref(slow_shared) };
    vow *r = vow_race(l, in, 4);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    assert_int_equal(vow_value(r)->num, 1);
    assert_int_equal(ca.hooks, 1);
    /* A reference is a handle, not a consumer: the race cancels slow_held too. */
    assert_int_equal(cb.hooks, 1);
    assert_int_equal(vow_code(slow_held), VOW_ECANCELED);
    assert_int_equal(cc.hooks, 0);
    assert_int_equal(vow_state(slow_shared), VOW_PENDING);
    assert_int_equal(vow_resolve(slow_shared, vow_val_num(4)), 0);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(seen.ok, 1);
    vow_unref(slow_held);
    vow_unref(slow_shared);
    vow_unref(other);
    vow_unref(r);
    finish(l);
}

static void timeout_cancels_input(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *slow = vow_delay(l, 60000, vow_val_num(1));
    assert_int_equal(vow_on_cancel(slow, hook, &c), 0);
    uint64_t t0 = vow_loop_now(l);
    vow *t = vow_timeout(slow, 5);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_code(t), VOW_ETIMEDOUT);
    assert_true(vow_loop_now(l) >= t0 + 5);
    assert_int_equal(c.hooks, 1);
    vow_unref(t);
    /* Cancelling the timeout's vow cancels its input too. */
    struct counts c2 = { 0 };
    slow = vow_delay(l, 60000, vow_val_num(1));
    assert_int_equal(vow_on_cancel(slow, hook, &c2), 0);
    t = vow_timeout(slow, 60000);
    assert_int_equal(vow_cancel(t), 0);
    assert_int_equal(c2.hooks, 1);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(vow_loop_alive(l), 0);
    vow_unref(t);
    finish(l);
}

static void cancel_combinator_result(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct counts c = { 0 };
    vow *in[2] = { vow_delay(l, 60000, vow_val_num(1)), vow_delay(l, 60000, vow_val_num(2)) };
    assert_int_equal(vow_on_cancel(in[0], hook, &c), 0);
    assert_int_equal(vow_on_cancel(in[1], hook, &c), 0);
    vow *all = vow_all(l, in, 2);
    assert_int_equal(vow_cancel(all), 0);
    assert_int_equal(c.hooks, 2);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(vow_loop_alive(l), 0);
    vow_unref(all);
    finish(l);
}

/* Adopting a combinator (or a timeout) that waits on the adopter can never settle:
 * VOW_ECYCLE, and nothing is left behind when the references go. */
static void adopt_through_combinator_is_a_cycle(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    vow *p = vow_pending(l);
    vow *in[1] = { vow_ref(p) };
    vow *all = vow_all(l, in, 1);
    assert_int_equal(vow_resolve_with(p, vow_ref(all)), 0);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    assert_int_equal(vow_code(p), VOW_ECYCLE);
    vow *q = vow_pending(l);
    vow *t = vow_timeout(vow_ref(q), 60000);
    assert_int_equal(vow_resolve_with(q, vow_ref(t)), 0);
    assert_int_equal(vow_code(q), VOW_ECYCLE);
    vow_loop_set_unhandled(l, NULL, NULL);
    vow_unref(p);
    vow_unref(all);
    vow_unref(q);
    vow_unref(t);
    finish(l);
}

/* ------------------------------------------------- abort hooks in caller memory */

struct abort_probe {
    vow_abort a;      /* the hook under test */
    int runs;         /* fn calls */
    vow_abort *other; /* if set, fn stops this hook */
};

static void abort_fn(vow_abort *a, vow *p)
{
    struct abort_probe *pr = (struct abort_probe *)(void *)((char *)a - offsetof(struct abort_probe, a));
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    pr->runs++;
    if (pr->other)
        assert_int_equal(vow_abort_stop(pr->other), 0);
}

static void abort_probe_init(struct abort_probe *pr)
{
    memset(pr, 0, sizeof(*pr));
    assert_int_equal(vow_abort_init(&pr->a, abort_fn), 0);
}

static void abort_hook_runs_on_cancel_and_drop(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct abort_probe pr;
    abort_probe_init(&pr);
    vow *p = vow_pending(l);
    assert_int_equal(vow_abort_start(&pr.a, p), 0);
    assert_int_equal(vow_abort_start(&pr.a, p), VOW_EBUSY);
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(pr.runs, 1);
    /* Idle again: it may go on another vow, and dropping that one runs it too. */
    assert_int_equal(vow_abort_start(&pr.a, p), VOW_ESETTLED);
    vow_unref(p);
    p = vow_pending(l);
    assert_int_equal(vow_abort_start(&pr.a, p), 0);
    vow_unref(p);
    assert_int_equal(pr.runs, 2);
    assert_int_equal(vow_abort_stop(&pr.a), 0);
    finish(l);
}

static void abort_hook_idle_after_settle(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct abort_probe pr;
    abort_probe_init(&pr);
    vow *p = vow_pending(l);
    assert_int_equal(vow_abort_start(&pr.a, p), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), 0);
    /* Released by the settlement: the memory may go now, before p. */
    assert_int_equal(vow_abort_stop(&pr.a), 0);
    vow_unref(p);
    assert_int_equal(pr.runs, 0);
    finish(l);
}

/* Stopped hooks never run, even when another hook of the same vow stops it from
 * its own fn while the vow is being cancelled. */
static void abort_hook_stopped(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct abort_probe a, b, c;
    abort_probe_init(&a);
    abort_probe_init(&b);
    abort_probe_init(&c);
    vow *p = vow_pending(l);
    assert_int_equal(vow_abort_start(&a.a, p), 0);
    assert_int_equal(vow_abort_start(&b.a, p), 0);
    assert_int_equal(vow_abort_start(&c.a, p), 0);
    assert_int_equal(vow_abort_stop(&b.a), 0);
    assert_int_equal(vow_abort_stop(&b.a), 0);
    /* Hooks run newest first: c stops a before a's turn. */
    c.other = &a.a;
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(c.runs, 1);
    assert_int_equal(a.runs, 0);
    assert_int_equal(b.runs, 0);
    vow_unref(p);
    finish(l);
}

/* A vow whose last producer leaves with nothing else to settle it is collected: its
 * reactions are discarded (ctx_drop runs), as when any producer lets go. */
static void abort_hook_stop_collects(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct abort_probe pr;
    abort_probe_init(&pr);
    struct counts c = { 0 };
    vow *p = vow_pending(l);
    assert_int_equal(vow_abort_start(&pr.a, p), 0);
    vow *d = vow_then_full(p, on_ok, on_err, &c, drop_ctx);
    assert_int_equal(c.drops, 0);
    assert_int_equal(vow_abort_stop(&pr.a), 0);
    assert_int_equal(c.drops, 1);
    assert_int_equal(vow_state(d), VOW_PENDING);
    vow_unref(d);
    assert_int_equal(pr.runs, 0);
    finish(l);
}

static void abort_hook_misuse(void **state)
{
    (void)state;
    vow_loop *l = new_loop();
    struct abort_probe pr;
    abort_probe_init(&pr);
    assert_int_equal(vow_abort_init(NULL, abort_fn), VOW_EINVAL);
    assert_int_equal(vow_abort_init(&pr.a, NULL), VOW_EINVAL);
    assert_int_equal(vow_abort_start(NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_abort_start(&pr.a, NULL), VOW_EINVAL);
    assert_int_equal(vow_abort_stop(NULL), VOW_EINVAL);
    vow *p = vow_resolved(l, vow_val_none());
    assert_int_equal(vow_abort_start(&pr.a, p), VOW_ESETTLED);
    vow_unref(p);
    finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_pending_rejects),
        cmocka_unit_test(cancel_settled_changes_nothing),
        cmocka_unit_test(lock_keeps_hooks),
        cmocka_unit_test(cancel_travels_to_sole_source),
        cmocka_unit_test(cancel_stops_at_shared_source),
        cmocka_unit_test(cancel_reaches_source_held_by_reference),
        cmocka_unit_test(drop_pending_runs_hooks),
        cmocka_unit_test(cancel_adopting_vow),
        cmocka_unit_test(race_cancels_only_its_own_losers),
        cmocka_unit_test(timeout_cancels_input),
        cmocka_unit_test(cancel_combinator_result),
        cmocka_unit_test(adopt_through_combinator_is_a_cycle),
        cmocka_unit_test(abort_hook_runs_on_cancel_and_drop),
        cmocka_unit_test(abort_hook_idle_after_settle),
        cmocka_unit_test(abort_hook_stopped),
        cmocka_unit_test(abort_hook_stop_collects),
        cmocka_unit_test(abort_hook_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
