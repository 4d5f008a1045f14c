/* SPDX-License-Identifier: MIT */
/*
 * Regressions found by the quality gates (fuzzing, sweeps), each reduced to the
 * smallest program that shows it; /work/quality-bugs.txt and docs/quality.md say
 * where each came from. A failure here is a library bug, not a flaky test.
 */
#include "sweep.h"

#include <sys/wait.h>
#include <unistd.h>

static vow_ret pass_on(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return vow_pass();
}

enum consumer { BY_THEN, BY_RACE, BY_TIMEOUT };

static vow *consume(vow_loop *l, vow *p, enum consumer how)
{
    vow *in[1] = {p};
    switch (how) {
    case BY_THEN:
        return vow_then(p, pass_on, NULL, NULL);
    case BY_RACE:
        return vow_race(l, in, 1);
    default:
        return vow_timeout(p, 60000);
    }
}

/*
 * Two consumers share a pending source that nobody else holds. Cancelling both must
 * leave nothing alive: once the last consumer is cancelled no one wants the source,
 * so it is cancelled too, and the loop closes.
 */
static void shared_source(enum consumer first, enum consumer second)
{
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *p = vow_pending(l);
    vow *a = consume(l, vow_ref(p), first);
    vow *b = consume(l, vow_ref(p), second);
    vow_unref(p);
    assert_int_equal(vow_cancel(a), 0);
    assert_int_equal(vow_cancel(b), 0);
    vow_unref(a);
    vow_unref(b);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

static void shared_source_two_thens(void **state)
{
    (void)state;
    shared_source(BY_THEN, BY_THEN);
}

static void shared_source_two_races(void **state)
{
    (void)state;
    shared_source(BY_RACE, BY_RACE);
}

static void shared_source_timeout_and_then(void **state)
{
    (void)state;
    shared_source(BY_TIMEOUT, BY_THEN);
}

static int drops;

static void drop_counted(void *p)
{
    (void)p;
    drops++;
}

/*
 * A delay settled by someone else and released before its timer fires still owns the
 * value it was given: that value's drop must run exactly once.
 */
static void delay_settled(int reject)
{
    drops = 0;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *d = vow_delay(l, 5, vow_val_ptr(&drops, drop_counted));
    assert_non_null(d);
    if (reject)
        assert_int_equal(vow_reject(d, VOW_EUSER, vow_val_none()), 0);
    else
        assert_int_equal(vow_resolve(d, vow_val_num(1)), 0);
    vow_unref(d);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(drops, 1);
    assert_int_equal(tu_live_allocations(), live);
}

static void delay_settled_by_resolve_drops_value(void **state)
{
    (void)state;
    delay_settled(0);
}

static void delay_settled_by_reject_drops_value(void **state)
{
    (void)state;
    delay_settled(1);
}

static vow_ret fin_pass(void *ctx)
{
    (void)ctx;
    return vow_pass();
}

/*
 * A chain on a pending source, whose every reference the caller drops: nobody can
 * settle or observe any of it any more, so it must not keep the loop from closing
 * (vow_on_cancel: "the last reference dropped while pending ... abort the work").
 */
static void dropped_chain(int use_finally)
{
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *p = vow_pending(l);
    vow *d = use_finally ? vow_finally(p, fin_pass, NULL) : vow_then(p, pass_on, NULL, NULL);
    assert_non_null(d);
    vow_unref(d);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

static void dropped_then_on_pending_source(void **state)
{
    (void)state;
    dropped_chain(0);
}

static void dropped_finally_on_pending_source(void **state)
{
    (void)state;
    dropped_chain(1);
}

/*
 * A timeout's result made to adopt the very vow it times (a caller mistake that must
 * stay harmless): the outcome is the input's or the timeout's, never a
 * use-after-free (AddressSanitizer) when the timer fires.
 */
static void timeout_adopts_own_input(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    for (uint64_t ms = 0; ms < 2; ms++) {
        vow_loop *l = sweep_loop_new();
        assert_non_null(l);
        vow *p = vow_pending(l);
        vow *t = vow_timeout(vow_ref(p), ms);
        assert_non_null(t);
        assert_int_equal(vow_resolve_with(t, vow_ref(p)), 0);
        assert_true(vow_loop_run(l, VOW_RUN_DEFAULT) >= 0);
        if (vow_state(p) == VOW_PENDING)
            vow_cancel(p);
        vow_unref(t);
        vow_unref(p);
        assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
        assert_int_equal(vow_loop_close(l), 0);
    }
    assert_int_equal(tu_live_allocations(), live);
}

/*
 * A timeout whose result someone settles directly (vow_resolve/vow_reject on it)
 * must let go of its input and its timer like any other settled consumer, so the
 * loop can close once the caller lets go.
 */
static void timeout_settled_from_outside(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    for (int reject = 0; reject < 2; reject++) {
        vow_loop *l = sweep_loop_new();
        assert_non_null(l);
        vow *t = vow_timeout(vow_pending(l), 0);
        assert_non_null(t);
        if (reject)
            assert_int_equal(vow_reject(t, VOW_EUSER, vow_val_none()), 0);
        else
            assert_int_equal(vow_resolve(t, vow_val_num(1)), 0);
        vow_unref(t);
        assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
        assert_int_equal(vow_loop_close(l), 0);
    }
    assert_int_equal(tu_live_allocations(), live);
}

static vow_ret fin_follow_self(void *ctx)
{
    vow **self = ctx;
    return vow_follow(vow_ref(*self));
}

/*
 * A finally whose callback returns the finally's own result waits on itself: like a
 * handler that follows its own derived vow, it must reject with VOW_ECYCLE instead
 * of staying pending forever.
 */
static void finally_follows_itself(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *self = NULL;
    self = vow_finally(vow_resolved(l, vow_val_num(1)), fin_follow_self, &self);
    assert_non_null(self);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    int state_seen = vow_state(self), code = vow_code(self);
    if (state_seen == VOW_PENDING)
        vow_cancel(self);
    vow_unref(self);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
    assert_int_equal(state_seen, VOW_REJECTED);
    assert_int_equal(code, VOW_ECYCLE);
}

/*
 * vow_resolve_with's cycle check walks upstream from what it adopts; upstream of a
 * vow that waits on itself that walk must still end. Run in a child with an alarm,
 * so a hang fails this case instead of the whole program.
 */
static void adopt_of_self_waiting_vow_returns(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(5);
        vow_loop *l = vow_loop_new();
        vow *self = NULL;
        self = vow_finally(vow_resolved(l, vow_val_num(1)), fin_follow_self, &self);
        vow_loop_run(l, VOW_RUN_NOWAIT);
        vow *p = vow_pending(l);
        int r = vow_resolve_with(p, vow_ref(self));
        _exit(r == 0 || r == VOW_ECYCLE ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("vow_resolve_with did not return (child killed by signal %d)", WTERMSIG(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* p adopts a combinator over p itself: the cycle runs through the combinator. */
static void combinator_cycle(int kind, int dropped)
{
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *p = vow_pending(l);
    vow *in[1] = {vow_ref(p)};
    vow *c = kind == 0 ? vow_all(l, in, 1) : kind == 1 ? vow_race(l, in, 1) : vow_any(l, in, 1);
    assert_non_null(c);
    assert_int_equal(vow_resolve_with(p, vow_ref(c)), 0);
    assert_true(vow_loop_run(l, VOW_RUN_NOWAIT) >= 0);
    int st = vow_state(p), code = vow_code(p);
    if (!dropped) {
        if (vow_state(p) == VOW_PENDING)
            vow_cancel(p);
        if (vow_state(c) == VOW_PENDING)
            vow_cancel(c);
    }
    vow_unref(p);
    vow_unref(c);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    if (dropped) {
        /* Nothing can settle either vow once the caller lets go of both. */
        assert_int_equal(vow_loop_close(l), 0);
        assert_int_equal(tu_live_allocations(), live);
    } else {
        int rc = vow_loop_close(l);
        /* DESIGN: adopting itself "directly or through a cycle" rejects VOW_ECYCLE. */
        assert_int_equal(st, VOW_REJECTED);
        assert_int_equal(code, VOW_ECYCLE);
        assert_int_equal(rc, 0);
    }
}

static void adopt_cycle_through_combinator_rejects(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++)
        combinator_cycle(kind, 0);
}

static void adopt_cycle_through_combinator_dropped(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++)
        combinator_cycle(kind, 1);
}

static int abort_hooks;

static void count_abort(void *ctx, vow *p)
{
    (void)ctx;
    (void)p;
    abort_hooks++;
}

/*
 * A vow with an abort hook has a producer (vow_on_cancel is how I/O operations hold
 * their vows, weakly): it is not garbage while its chain is dropped. The producer
 * either settles it (the fire-and-forget handler runs) or cancels it (the hook runs
 * once); either way everything is reclaimed and the loop closes.
 */
static void on_cancel_vow_in_dropped_chain(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    for (int settle = 0; settle < 2; settle++) {
        abort_hooks = 0;
        vow_loop *l = sweep_loop_new();
        assert_non_null(l);
        vow *p = vow_pending(l); /* the producer's (weak from here on) pointer */
        assert_int_equal(vow_on_cancel(p, count_abort, NULL), 0);
        vow_unref(vow_then(p, pass_on, NULL, NULL));
        assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 0);
        assert_int_equal(vow_state(p), VOW_PENDING); /* not collected */
        if (settle)
            assert_int_equal(vow_resolve(p, vow_val_num(1)), 0);
        else
            assert_int_equal(vow_cancel(p), 0);
        assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
        assert_int_equal(vow_loop_close(l), 0);
        assert_int_equal(abort_hooks, settle ? 0 : 1);
    }
    assert_int_equal(tu_live_allocations(), live);
}

/*
 * A vow_delay resolved onto a pending vow (vow_resolve_with) whose timer fires first:
 * the delay must leave it alone (it is locked, its adoption decides). It used to
 * fulfil it, and the adoption, which holds its vow weakly, later settled the freed
 * vow (found once ASan could see slab objects: use-after-poison in adopt_run).
 */
static void delay_locked_onto_pending(int cancel)
{
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *p = vow_pending(l);
    vow *d = vow_delay(l, 0, vow_val_num(1));
    assert_int_equal(vow_resolve_with(d, vow_ref(p)), 0);
    vow *later = vow_delay(l, 1, vow_val_none());
    tu_wait(l, later); /* d's timer has fired */
    vow_unref(later);
    assert_int_equal(vow_state(d), VOW_PENDING);
    assert_int_equal(vow_is_resolved(d), 1);
    if (cancel) {
        assert_int_equal(vow_cancel(p), 0);
        vow_unref(d);
        vow_unref(p);
    } else {
        assert_int_equal(vow_resolve(p, vow_val_num(7)), 0);
        tu_wait(l, d);
        assert_int_equal(vow_state(d), VOW_FULFILLED);
        assert_int_equal(vow_value(d)->num, 7);
        vow_unref(d);
        vow_unref(p);
    }
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

static void delay_locked_then_settled(void **state)
{
    (void)state;
    delay_locked_onto_pending(0);
}

static void delay_locked_then_cancelled(void **state)
{
    (void)state;
    delay_locked_onto_pending(1);
}

/*
 * A vow derived from p adopts p (vow_resolve_with), and both are dropped: when the
 * adoption job attaches to p, p is garbage, and discarding its then reaction
 * destroys the derived vow, whose cancellation detached the adoption, another
 * reaction of p, which the collector was still walking (ASan: use-after-poison in
 * vow__collect; a crash in then_discard before slab objects were poisoned).
 */
static void adopt_of_source_by_derived_dropped(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *p = vow_pending(l);
    vow *d = vow_then(vow_ref(p), pass_on, NULL, NULL);
    assert_int_equal(vow_resolve_with(d, vow_ref(p)), 0);
    vow_unref(p);
    vow_unref(d);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

static vow_ret fail_on(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)detail;
    return vow_fail(code, vow_val_none());
}

/*
 * A timeout's vow resolved onto a pending vow that is then dropped: the adoption is
 * collected with it, and the timeout, whose input settled meanwhile, must let go of
 * its vow (locked: it could not settle it) so that it is collected too. It stayed
 * pending with the dead timeout as producer (close VOW_EBUSY).
 */
static void timeout_locked_adoption_dropped(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    vow *t1 = vow_timeout(vow_any(l, NULL, 0), 60000); /* its input rejected already */
    vow *p = vow_pending(l);
    assert_int_equal(vow_resolve_with(t1, vow_ref(p)), 0);
    vow *t2 = vow_timeout(t1, 60000);
    vow_unref(p); /* held by the adoption only */
    assert_int_equal(vow_reject(t2, VOW_EUSER, vow_val_none()), 0);
    vow_unref(t2);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

/*
 * An all_settled input dropped as garbage (its only consumer besides the combinator
 * cancelled): once the other inputs ran, nothing can settle the result, which must
 * be collected with the chain on it. It stayed pending (close VOW_EBUSY).
 */
static void combinator_input_collected(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    vow *p = vow_pending(l);
    vow *d = vow_delay(l, 0, vow_val_none());
    vow *in[2] = {vow_ref(p), vow_ref(d)};
    vow_unref(vow_catch(vow_all_settled(l, in, 2), fail_on, NULL));
    vow *k = vow_catch(p, fail_on, NULL);
    assert_int_equal(vow_cancel(k), 0);
    assert_int_equal(vow_cancel(d), 0);
    vow_unref(k);
    vow_unref(d);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

/*
 * Cancelling a combinator whose inputs include a vow locked onto another input: the
 * adopted input lost both consumers in one cancellation and was queued twice,
 * corrupting the worklist, so another input was never cancelled nor released
 * (close VOW_EBUSY).
 */
static void combinator_input_adopts_input(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    vow *d1 = vow_delay(l, 0, vow_val_none());
    vow *p = vow_pending(l);
    vow *d2 = vow_delay(l, 0, vow_val_none());
    assert_int_equal(vow_resolve_with(d2, vow_ref(p)), 0);
    vow *in[3] = {vow_ref(d1), vow_ref(p), vow_ref(d2)};
    vow *c = vow_all(l, in, 3);
    assert_int_equal(vow_cancel(c), 0);
    assert_int_equal(vow_state(d1), VOW_REJECTED);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    assert_int_equal(vow_state(d2), VOW_REJECTED);
    vow_unref(c);
    vow_unref(d1);
    vow_unref(p);
    vow_unref(d2);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

static vow_ret finally_pass(void *ctx)
{
    (void)ctx;
    return vow_pass();
}

/*
 * A vow_delay resolved onto a pending vow that is then dropped (the adoption is
 * collected with it), with a finally on the delay: when the timer fires, the delay
 * leaves its locked vow, which nothing can settle any more and must be collected
 * with the finally. It stayed pending (close VOW_EBUSY).
 */
static void delay_locked_adoption_dropped(void **state)
{
    (void)state;
    long live = tu_live_allocations(); /* not 0 if an earlier case leaked its loop */
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow *p = vow_pending(l);
    vow *d = vow_delay(l, 0, vow_val_none());
    assert_int_equal(vow_resolve_with(d, vow_ref(p)), 0);
    vow_unref(vow_finally(d, finally_pass, NULL));
    vow_unref(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), live);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_source_two_thens),
        cmocka_unit_test(shared_source_two_races),
        cmocka_unit_test(shared_source_timeout_and_then),
        cmocka_unit_test(delay_settled_by_resolve_drops_value),
        cmocka_unit_test(delay_settled_by_reject_drops_value),
        cmocka_unit_test(dropped_then_on_pending_source),
        cmocka_unit_test(dropped_finally_on_pending_source),
        cmocka_unit_test(timeout_adopts_own_input),
        cmocka_unit_test(timeout_settled_from_outside),
        cmocka_unit_test(finally_follows_itself),
        cmocka_unit_test(adopt_of_self_waiting_vow_returns),
        cmocka_unit_test(adopt_cycle_through_combinator_rejects),
        cmocka_unit_test(adopt_cycle_through_combinator_dropped),
        cmocka_unit_test(on_cancel_vow_in_dropped_chain),
        cmocka_unit_test(delay_locked_then_settled),
        cmocka_unit_test(delay_locked_then_cancelled),
        cmocka_unit_test(adopt_of_source_by_derived_dropped),
        cmocka_unit_test(timeout_locked_adoption_dropped),
        cmocka_unit_test(combinator_input_collected),
        cmocka_unit_test(combinator_input_adopts_input),
        cmocka_unit_test(delay_locked_adoption_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
