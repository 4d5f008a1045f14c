/* SPDX-License-Identifier: MIT */
/*
 * vow_finally with ECMAScript's Promise.prototype.finally semantics: the callback
 * runs once on either outcome (from the loop, never inside a call), the original
 * outcome passes through unchanged, the callback's own failure wins, and a vow it
 * returns is waited for: a rejection wins, a fulfilment lets the original through.
 */
#include "aplus.h"

#define CODE_OF(rj) ((rj) ? VOW_EUSER : 0)

/* What the finally callback returns. */
enum fin_ret {
    FIN_PASS,      /* vow_pass() */
    FIN_NUM,       /* vow_ok(num): ignored */
    FIN_TOKEN,     /* vow_ok(tracked value): ignored, and dropped */
    FIN_FAIL,      /* vow_fail(-EPIPE, tracked value): wins */
    FIN_OK_NOW,    /* vow_follow(an already fulfilled vow) */
    FIN_ERR_NOW,   /* vow_follow(an already rejected vow) */
    FIN_OK_LATER,  /* vow_follow(a vow fulfilled from a timer) */
    FIN_ERR_LATER, /* vow_follow(a vow rejected from a timer) */
    FIN_KEPT,      /* vow_follow(a pending vow the test also holds and consumes) */
    FIN_ALONE,     /* vow_follow(a pending vow only finally holds, with an abort hook) */
    FIN_GARBAGE,   /* vow_follow(a pending vow nothing can settle: no hook, no holder) */
};

struct fin {
    struct aplus *a;              /* harness */
    enum fin_ret how;             /* what to return */
    int calls;                    /* callback runs */
    void *ctx_seen;               /* ctx the callback got */
    vow *kept;                    /* FIN_KEPT: the test's reference */
    vow *keeper;                  /* FIN_KEPT: the test's own consumer of it */
    int hooks;                    /* FIN_ALONE: abort hook runs */
    vow *out;                     /* the finally result, borrowed, for mid_check */
    int mid_state;                /* its state while the returned vow was still pending */
    int mid_calls;                /* result handler calls by then */
    const struct aplus_probe *pr; /* the result's handler */
};

/* Runs after the callback returned and before the vow it returned settles. */
static void mid_check(struct aplus *a, void *arg)
{
    struct fin *f = arg;
    (void)a;
    f->mid_state = vow_state(f->out);
    f->mid_calls = f->pr->ok + f->pr->err;
}

static void fin_hook(void *ctx, vow *p)
{
    struct fin *f = ctx;
    (void)p;
    f->hooks++;
}

static vow_ret fin_fn(void *ctx)
{
    struct fin *f = ctx;
    struct aplus *a = f->a;
    f->calls++;
    f->ctx_seen = ctx;
    vow *q;
    switch (f->how) {
    case FIN_PASS:
        return vow_pass();
    case FIN_NUM:
        return vow_ok(vow_val_num(42));
    case FIN_TOKEN:
        return vow_ok(aplus_val(a));
    case FIN_FAIL:
        return vow_fail(-EPIPE, aplus_val(a));
    case FIN_OK_NOW:
        return vow_follow(vow_resolved(a->l, aplus_val(a)));
    case FIN_ERR_NOW:
        return vow_follow(vow_rejected(a->l, -EPIPE, aplus_val(a)));
    case FIN_OK_LATER:
    case FIN_ERR_LATER:
        q = vow_pending(a->l);
        aplus_at(a, 1, mid_check, f);
        aplus_settle_at(a, 5, q, f->how == FIN_ERR_LATER ? -EPIPE : 0, aplus_val(a));
        return vow_follow(q);
    case FIN_KEPT:
        q = vow_pending(a->l);
        f->kept = vow_ref(q);
        f->keeper = vow_then(vow_ref(q), NULL, NULL, NULL);
        return vow_follow(q);
    case FIN_GARBAGE:
        return vow_follow(vow_pending(a->l));
    case FIN_ALONE:
    default:
        q = vow_pending(a->l);
        assert_int_equal(vow_on_cancel(q, fin_hook, f), 0);
        return vow_follow(q);
    }
}

/* Runs single turns until the callback ran. */
static void run_until_called(struct aplus *a, const struct fin *f)
{
    while (f->calls == 0)
        assert_true(vow_loop_run(a->l, VOW_RUN_ONCE) >= 0);
}

/*
 * One case: p settles the rj way with token 0 in the harness timing, finally(p, how)
 * runs, and the result is checked against the expected outcome: the original one
 * unless the callback failed or returned a vow that rejected (code -EPIPE, token 1).
 */
static void finally_case(void **state, int rj, enum fin_ret how)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    struct fin f = {.a = &a, .how = how, .pr = &pr, .mid_state = -1};
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *out = vow_finally(p, fin_fn, &f);
    assert_non_null(out);
    f.out = out;
    vow *d = vow_then(vow_ref(out), aplus_ok, aplus_err, &pr);
    aplus_settle(&a);
    /* Never inside vow_finally or the settling call. */
    assert_int_equal(f.calls, 0);
    aplus_run(&a);
    if (how == FIN_OK_LATER || how == FIN_ERR_LATER) {
        /* While the returned vow was pending, so was the result. */
        assert_int_equal(f.mid_state, VOW_PENDING);
        assert_int_equal(f.mid_calls, 0);
    }
    assert_int_equal(f.calls, 1);
    assert_ptr_equal(f.ctx_seen, &f);
    int fails = how == FIN_FAIL || how == FIN_ERR_NOW || how == FIN_ERR_LATER;
    int code = fails ? -EPIPE : CODE_OF(rj);
    assert_int_equal(vow_state(out), code ? VOW_REJECTED : VOW_FULFILLED);
    assert_int_equal(vow_code(out), code);
    /* The winning value is the very one settled, not a copy. */
    const struct aplus_token *want = &a.tokens[fails ? 1 : 0];
    assert_ptr_equal(vow_value(out)->ptr, want);
    assert_int_equal(pr.ok, code == 0);
    assert_int_equal(pr.err, code != 0);
    assert_int_equal(pr.code, code);
    assert_ptr_equal(pr.ptr, want);
    assert_int_equal(pr.dead, 0);
    /* Every rejection along the way was handled (the probe handles the result). */
    assert_int_equal(a.unhandled, 0);
    vow_unref(d);
    vow_unref(out);
    aplus_end(&a);
}

static void fulfilment_passes(void **state)
{
    finally_case(state, 0, FIN_PASS);
}

static void rejection_passes(void **state)
{
    finally_case(state, 1, FIN_PASS);
}

static void value_ignored_fulfilled(void **state)
{
    finally_case(state, 0, FIN_NUM);
}

static void value_ignored_rejected(void **state)
{
    finally_case(state, 1, FIN_TOKEN);
}

static void fail_wins_over_fulfilment(void **state)
{
    finally_case(state, 0, FIN_FAIL);
}

static void fail_wins_over_rejection(void **state)
{
    finally_case(state, 1, FIN_FAIL);
}

static void fulfilled_vow_lets_fulfilment_through(void **state)
{
    finally_case(state, 0, FIN_OK_NOW);
}

static void fulfilled_vow_lets_rejection_through(void **state)
{
    finally_case(state, 1, FIN_OK_NOW);
}

static void rejected_vow_wins_over_fulfilment(void **state)
{
    finally_case(state, 0, FIN_ERR_NOW);
}

static void rejected_vow_wins_over_rejection(void **state)
{
    finally_case(state, 1, FIN_ERR_NOW);
}

static void waits_then_lets_fulfilment_through(void **state)
{
    finally_case(state, 0, FIN_OK_LATER);
}

static void waits_then_lets_rejection_through(void **state)
{
    finally_case(state, 1, FIN_OK_LATER);
}

static void waits_then_rejection_wins_over_fulfilment(void **state)
{
    finally_case(state, 0, FIN_ERR_LATER);
}

static void waits_then_rejection_wins_over_rejection(void **state)
{
    finally_case(state, 1, FIN_ERR_LATER);
}

/*
 * Cancelling the result while it waits on the callback's vow: the result is
 * cancelled, the original outcome is released, and the waited-on vow is cancelled
 * only if no other consumer wants it.
 */
static void cancel_while_waiting(int alone)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct fin f = {.a = &a, .how = alone ? FIN_ALONE : FIN_KEPT};
    vow *out = vow_finally(vow_resolved(a.l, aplus_val(&a)), fin_fn, &f);
    run_until_called(&a, &f);
    assert_int_equal(vow_state(out), VOW_PENDING);
    assert_int_equal(vow_cancel(out), 0);
    assert_int_equal(vow_code(out), VOW_ECANCELED);
    assert_int_equal(f.hooks, alone);
    if (!alone) {
        assert_int_equal(vow_state(f.kept), VOW_PENDING);
        assert_int_equal(vow_resolve(f.kept, vow_val_num(1)), 0);
    }
    aplus_run(&a);
    assert_int_equal(vow_code(out), VOW_ECANCELED);
    assert_int_equal(f.calls, 1);
    assert_int_equal(a.unhandled, 0);
    vow_unref(f.keeper);
    vow_unref(f.kept);
    vow_unref(out);
    aplus_end(&a);
}

static void cancel_while_waiting_kept(void **state)
{
    (void)state;
    cancel_while_waiting(0);
}

static void cancel_while_waiting_alone(void **state)
{
    (void)state;
    cancel_while_waiting(1);
}

/*
 * The callback returns a vow nothing can ever settle: it is collected at once, the
 * waiting reaction is discarded unrun and lets go of the original outcome (its value
 * is dropped once), and the result stays pending for its holder.
 */
static void returned_vow_is_garbage(void **state)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    (void)state;
    struct fin f = {.a = &a, .how = FIN_GARBAGE};
    vow *out = vow_finally(vow_resolved(a.l, aplus_val(&a)), fin_fn, &f);
    aplus_run(&a);
    assert_int_equal(f.calls, 1);
    assert_int_equal(vow_state(out), VOW_PENDING);
    assert_int_equal(a.tokens[0].drops, 1);
    vow_unref(out);
    aplus_end(&a);
}

/*
 * The waited-on vow settles, which queues the waiting reaction, and the result is
 * cancelled before that reaction runs: it only lets go when it comes up, and the
 * result stays cancelled.
 */
static void cancel_after_wait_settled(void **state)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    (void)state;
    struct fin f = {.a = &a, .how = FIN_KEPT};
    vow *out = vow_finally(vow_resolved(a.l, aplus_val(&a)), fin_fn, &f);
    run_until_called(&a, &f);
    assert_int_equal(vow_resolve(f.kept, vow_val_num(1)), 0);
    assert_int_equal(vow_cancel(out), 0);
    aplus_run(&a);
    assert_int_equal(vow_code(out), VOW_ECANCELED);
    assert_int_equal(a.tokens[0].drops, 1);
    vow_unref(f.keeper);
    vow_unref(f.kept);
    vow_unref(out);
    aplus_end(&a);
}

/* Bad input: no vow, no call. */
static void null_vow(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct fin f = {.a = &a, .how = FIN_PASS};
    assert_null(vow_finally(NULL, fin_fn, &f));
    aplus_run(&a);
    assert_int_equal(f.calls, 0);
    aplus_end(&a);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        APLUS_TIMED(fulfilment_passes),
        APLUS_TIMED(rejection_passes),
        APLUS_TIMED(value_ignored_fulfilled),
        APLUS_TIMED(value_ignored_rejected),
        APLUS_TIMED(fail_wins_over_fulfilment),
        APLUS_TIMED(fail_wins_over_rejection),
        APLUS_TIMED(fulfilled_vow_lets_fulfilment_through),
        APLUS_TIMED(fulfilled_vow_lets_rejection_through),
        APLUS_TIMED(rejected_vow_wins_over_fulfilment),
        APLUS_TIMED(rejected_vow_wins_over_rejection),
        APLUS_TIMED(waits_then_lets_fulfilment_through),
        APLUS_TIMED(waits_then_lets_rejection_through),
        APLUS_TIMED(waits_then_rejection_wins_over_fulfilment),
        APLUS_TIMED(waits_then_rejection_wins_over_rejection),
        cmocka_unit_test(cancel_while_waiting_kept),
        cmocka_unit_test(cancel_while_waiting_alone),
        cmocka_unit_test(returned_vow_is_garbage),
        cmocka_unit_test(cancel_after_wait_settled),
        cmocka_unit_test(null_vow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
