/* SPDX-License-Identifier: MIT */
/*
 * Promises/A+ 1.1 sections 2.3.1 and 2.3.2 (the resolution procedure for vows):
 * resolving a vow with itself, directly or through a cycle of adoptions or then
 * links, rejects it with VOW_ECYCLE (A+'s TypeError); resolving with another vow
 * adopts its state, staying pending until that one settles. Sections 2.3.3-2.3.4
 * (thenables, plain values) have no C counterpart beyond vow_ok, tested in 2.2.7.1.
 */
#include "aplus.h"

#define CODE_OF(rj) ((rj) ? VOW_EUSER : 0)

/* A handler that returns vow_follow(*target): its own derived vow, or another one. */
static vow_ret follow_ok(void *ctx, const vow_val *v)
{
    vow **target = ctx;
    (void)v;
    return vow_follow(vow_ref(*target));
}

static vow_ret follow_err(void *ctx, int code, const vow_val *d)
{
    vow **target = ctx;
    (void)code;
    (void)d;
    return vow_follow(vow_ref(*target));
}

static vow *then_follow(vow *p, int rj, vow **target)
{
    vow *d = rj ? vow_then(p, NULL, follow_err, target) : vow_then(p, follow_ok, NULL, target);
    assert_non_null(d);
    return d;
}

/* The probe saw one rejection with VOW_ECYCLE and nothing else. */
static void assert_cycle(const struct aplus_probe *pr, vow *d)
{
    assert_int_equal(pr->ok, 0);
    assert_int_equal(pr->err, 1);
    assert_int_equal(pr->code, VOW_ECYCLE);
    assert_int_equal(vow_state(d), VOW_REJECTED);
    assert_int_equal(vow_code(d), VOW_ECYCLE);
}

/* ------------------------------------------------------------------- 2.3.1 */

/* The suite's "via return from a fulfilled (rejected) promise": a handler returns
 * its own derived vow. */
static void return_self(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = NULL;
    d = then_follow(p, rj, &d);
    vow *next = vow_then(vow_ref(d), aplus_ok, aplus_err, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    assert_cycle(&pr, d);
    assert_int_equal(a.unhandled, 0);
    vow_unref(next);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_3_1_return_self_from_fulfilled(void **state)
{
    return_self(state, 0);
}

static void aplus_2_3_1_return_self_from_rejected(void **state)
{
    return_self(state, 1);
}

/* vow_resolve_with(p, p) and vow_settle(p, vow_follow(p)) reject p at once. */
static void resolve_self(int with_settle)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    vow *next = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr);
    if (with_settle)
        assert_int_equal(vow_settle(p, vow_follow(vow_ref(p))), 0);
    else
        assert_int_equal(vow_resolve_with(p, vow_ref(p)), 0);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    assert_int_equal(vow_code(p), VOW_ECYCLE);
    assert_int_equal(pr.err, 0);
    assert_int_equal(vow_resolve(p, aplus_val(&a)), VOW_ESETTLED);
    assert_int_equal(vow_resolve_with(p, vow_ref(p)), VOW_ESETTLED);
    aplus_run(&a);
    assert_cycle(&pr, p);
    vow_unref(next);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_3_1_resolve_with_self(void **state)
{
    (void)state;
    resolve_self(0);
}

static void aplus_2_3_1_settle_follow_self(void **state)
{
    (void)state;
    resolve_self(1);
}

/* Indirect: v[0] adopts v[1] ... adopts v[n-1], which adopts v[0]. All reject. */
static void adoption_ring(int n)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr[3];
    vow *v[3], *next[3];
    for (int i = 0; i < n; i++) {
        aplus_probe_init(&pr[i], &a, i + 1);
        v[i] = vow_pending(a.l);
        next[i] = vow_then(vow_ref(v[i]), aplus_ok, aplus_err, &pr[i]);
    }
    for (int i = 0; i + 1 < n; i++) {
        assert_int_equal(vow_resolve_with(v[i], vow_ref(v[i + 1])), 0);
        /* Locked onto the next one: resolved, yet still pending. */
        assert_int_equal(vow_state(v[i]), VOW_PENDING);
        assert_int_equal(vow_resolve(v[i], aplus_val(&a)), VOW_ESETTLED);
    }
    assert_int_equal(vow_resolve_with(v[n - 1], vow_ref(v[0])), 0);
    aplus_run(&a);
    for (int i = 0; i < n; i++) {
        assert_cycle(&pr[i], v[i]);
        vow_unref(next[i]);
        vow_unref(v[i]);
    }
    aplus_end(&a);
}

static void aplus_2_3_1_cycle_of_two(void **state)
{
    (void)state;
    adoption_ring(2);
}

static void aplus_2_3_1_cycle_of_three(void **state)
{
    (void)state;
    adoption_ring(3);
}

/* Indirect through handlers: a's handler returns b, b's handler returns a. */
static void aplus_2_3_1_cycle_through_handlers(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pa, pb;
    aplus_probe_init(&pa, &a, 1);
    aplus_probe_init(&pb, &a, 2);
    vow *x = aplus_source(&a, 0, aplus_val(&a));
    vow *y = vow_resolved(a.l, aplus_val(&a));
    vow *va = NULL, *vb = NULL;
    va = then_follow(x, 0, &vb);
    vb = then_follow(y, 0, &va);
    vow *na = vow_then(vow_ref(va), aplus_ok, aplus_err, &pa);
    vow *nb = vow_then(vow_ref(vb), aplus_ok, aplus_err, &pb);
    aplus_settle(&a);
    aplus_run(&a);
    assert_cycle(&pa, va);
    assert_cycle(&pb, vb);
    vow_unref(na);
    vow_unref(nb);
    vow_unref(va);
    vow_unref(vb);
    aplus_end(&a);
}

/* Indirect through a then link: a's handler returns c, where c = a.then(...). */
static void aplus_2_3_1_cycle_through_then(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe on_c, pa, pc;
    aplus_probe_init(&on_c, &a, 1);
    aplus_probe_init(&pa, &a, 2);
    aplus_probe_init(&pc, &a, 3);
    vow *x = aplus_source(&a, 0, aplus_val(&a));
    vow *c = NULL;
    vow *va = then_follow(x, 0, &c);
    c = vow_then(vow_ref(va), aplus_ok, NULL, &on_c);
    vow *na = vow_then(vow_ref(va), aplus_ok, aplus_err, &pa);
    vow *nc = vow_then(vow_ref(c), aplus_ok, aplus_err, &pc);
    aplus_settle(&a);
    aplus_run(&a);
    assert_cycle(&pa, va);
    assert_int_equal(on_c.ok, 0);
    assert_cycle(&pc, c);
    vow_unref(na);
    vow_unref(nc);
    vow_unref(va);
    vow_unref(c);
    aplus_end(&a);
}

/* Not a cycle: adopting a vow that already adopted (and so is locked onto) another. */
static void aplus_2_3_1_chain_is_not_cycle(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr[3];
    vow *v[3], *next[3];
    for (int i = 0; i < 3; i++) {
        aplus_probe_init(&pr[i], &a, i + 1);
        v[i] = vow_pending(a.l);
        next[i] = vow_then(vow_ref(v[i]), aplus_ok, aplus_err, &pr[i]);
    }
    assert_int_equal(vow_resolve_with(v[1], vow_ref(v[2])), 0);
    assert_int_equal(vow_resolve_with(v[0], vow_ref(v[1])), 0);
    vow *src = aplus_source(&a, 0, aplus_val(&a));
    assert_int_equal(vow_resolve_with(v[2], src), 0);
    aplus_settle(&a);
    aplus_run(&a);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pr[i].ok, 1);
        assert_ptr_equal(pr[i].ptr, &a.tokens[0]);
        assert_ptr_equal(vow_value(v[i])->ptr, &a.tokens[0]);
        vow_unref(next[i]);
        vow_unref(v[i]);
    }
    aplus_end(&a);
}

/* A handler that adopts the vow in ctx (a new reference to it). */
static vow_ret follow_ctx(void *ctx, const vow_val *v)
{
    (void)v;
    return vow_follow(vow_ref(ctx));
}

/*
 * vow_is_resolved tells a vow locked onto another (2.3.2: still pending, its fate
 * sealed) from a free pending one, which vow_state cannot: both are VOW_PENDING.
 */
static void is_resolved_tells_locked_from_free(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_is_resolved(NULL), VOW_EINVAL);
    vow *p = vow_pending(l), *q = vow_pending(l), *h = vow_pending(l);
    assert_int_equal(vow_is_resolved(p), 0);
    assert_int_equal(vow_resolve_with(p, vow_ref(q)), 0);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(vow_is_resolved(p), 1);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), VOW_ESETTLED);
    assert_int_equal(vow_is_resolved(q), 0);
    /* Locked by a handler's vow_follow: the derived vow waits on h. */
    vow *d = vow_then(vow_resolved(l, vow_val_num(0)), follow_ctx, NULL, h);
    assert_int_equal(vow_is_resolved(d), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_state(d), VOW_PENDING);
    assert_int_equal(vow_is_resolved(d), 1);
    assert_int_equal(vow_is_resolved(h), 0);
    /* Settled, either way: resolved. */
    assert_int_equal(vow_resolve(q, vow_val_num(7)), 0);
    assert_int_equal(vow_cancel(h), 0);
    assert_int_equal(vow_is_resolved(q), 1);
    assert_int_equal(vow_is_resolved(h), 1);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_int_equal(vow_is_resolved(p), 1);
    assert_int_equal(vow_state(d), VOW_REJECTED);
    assert_int_equal(vow_is_resolved(d), 1);
    vow_unref(p);
    vow_unref(q);
    vow_unref(h);
    vow_unref(d);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ------------------------------------------------------------------- 2.3.2 */

/* The x a handler returns (or a vow is resolved with), as the official suite builds it. */
enum { X_PENDING, X_FULFILLED, X_FULFILS_LATER, X_REJECTED, X_REJECTS_LATER };

#define X_CODE (-ENOENT)

/* Builds x; *keep gets a reference for the test when x stays pending. */
static vow *make_x(struct aplus *a, int kind, vow **keep)
{
    vow *x;
    *keep = NULL;
    switch (kind) {
    case X_FULFILLED:
        x = vow_resolved(a->l, aplus_val(a));
        break;
    case X_REJECTED:
        x = vow_rejected(a->l, X_CODE, aplus_val(a));
        break;
    default:
        x = vow_pending(a->l);
        if (kind == X_PENDING)
            *keep = vow_ref(x);
        else
            aplus_settle_at(a, 5, x, kind == X_REJECTS_LATER ? X_CODE : 0, aplus_val(a));
        break;
    }
    assert_non_null(x);
    return x;
}

/*
 * Checks d (which adopted x of the given kind) through a probe: a pending x keeps d
 * pending and locked until the test settles x, then d takes x's value; a settled x
 * gives d its value or reason, the very same one (x's token).
 */
static void check_adopted(struct aplus *a, int kind, vow *d, vow *keep,
                          const struct aplus_probe *pr, const struct aplus_token *tok)
{
    if (kind == X_PENDING) {
        assert_int_equal(pr->ok + pr->err, 0);
        assert_int_equal(vow_state(d), VOW_PENDING);
        assert_int_equal(vow_resolve(d, aplus_val(a)), VOW_ESETTLED);
        assert_int_equal(vow_reject(d, VOW_EUSER, aplus_val(a)), VOW_ESETTLED);
        assert_int_equal(vow_resolve(keep, aplus_val(a)), 0);
        tok = &a->tokens[a->n_tokens - 1];
        aplus_run(a);
        vow_unref(keep);
    }
    int rejected = kind == X_REJECTED || kind == X_REJECTS_LATER;
    assert_int_equal(pr->ok, !rejected);
    assert_int_equal(pr->err, rejected);
    assert_ptr_equal(pr->ptr, tok);
    assert_int_equal(pr->dead, 0);
    assert_int_equal(vow_state(d), rejected ? VOW_REJECTED : VOW_FULFILLED);
    assert_int_equal(vow_code(d), rejected ? X_CODE : 0);
    assert_ptr_equal(vow_value(d)->ptr, tok);
}

/* What the handler builds x from, as the suite's xFactory does inside the handler. */
struct factory {
    int kind;  /* X_* */
    vow *keep; /* the test's reference to a pending x */
};

static void make_x_inside(struct aplus_probe *pr)
{
    struct factory *f = pr->arg;
    pr->ret = APLUS_RET_FOLLOW;
    pr->ret_follow = make_x(pr->a, f->kind, &f->keep);
}

/* The suite's testPromiseResolution: via return from a fulfilled / rejected vow. */
static void resolution(void **state, int via_rj, int kind)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe first, pr;
    aplus_probe_init(&first, &a, 1);
    aplus_probe_init(&pr, &a, 2);
    vow *p = aplus_source(&a, CODE_OF(via_rj), aplus_val(&a));
    struct factory f = {.kind = kind};
    first.inside = make_x_inside;
    first.arg = &f;
    vow *d = aplus_on(p, via_rj, &first);
    vow *next = vow_then(vow_ref(d), aplus_ok, aplus_err, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    assert_int_equal(aplus_calls(&first, via_rj), 1);
    check_adopted(&a, kind, d, f.keep, &pr, &a.tokens[1]);
    /* x is handled by the adoption: its rejection is never reported. */
    assert_int_equal(a.unhandled, 0);
    vow_unref(next);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_3_2_1_pending_stays_pending_via_fulfilled(void **state)
{
    resolution(state, 0, X_PENDING);
}

static void aplus_2_3_2_1_pending_stays_pending_via_rejected(void **state)
{
    resolution(state, 1, X_PENDING);
}

static void aplus_2_3_2_2_already_fulfilled_via_fulfilled(void **state)
{
    resolution(state, 0, X_FULFILLED);
}

static void aplus_2_3_2_2_already_fulfilled_via_rejected(void **state)
{
    resolution(state, 1, X_FULFILLED);
}

static void aplus_2_3_2_2_eventually_fulfilled_via_fulfilled(void **state)
{
    resolution(state, 0, X_FULFILS_LATER);
}

static void aplus_2_3_2_2_eventually_fulfilled_via_rejected(void **state)
{
    resolution(state, 1, X_FULFILS_LATER);
}

static void aplus_2_3_2_3_already_rejected_via_fulfilled(void **state)
{
    resolution(state, 0, X_REJECTED);
}

static void aplus_2_3_2_3_already_rejected_via_rejected(void **state)
{
    resolution(state, 1, X_REJECTED);
}

static void aplus_2_3_2_3_eventually_rejected_via_fulfilled(void **state)
{
    resolution(state, 0, X_REJECTS_LATER);
}

static void aplus_2_3_2_3_eventually_rejected_via_rejected(void **state)
{
    resolution(state, 1, X_REJECTS_LATER);
}

/* The same procedure reached through vow_resolve_with on a pending vow. */
static void resolve_with(int kind)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    vow *next = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr);
    vow *keep;
    vow *x = make_x(&a, kind, &keep);
    assert_int_equal(vow_resolve_with(p, x), 0);
    /* Resolved now, whatever x's state: later settling calls are refused. */
    assert_int_equal(vow_resolve(p, aplus_val(&a)), VOW_ESETTLED);
    assert_int_equal(pr.ok + pr.err, 0);
    aplus_run(&a);
    check_adopted(&a, kind, p, keep, &pr, &a.tokens[0]);
    assert_int_equal(a.tokens[1].drops, 1);
    assert_int_equal(a.unhandled, 0);
    vow_unref(next);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_3_2_1_resolve_with_pending(void **state)
{
    (void)state;
    resolve_with(X_PENDING);
}

static void aplus_2_3_2_2_resolve_with_fulfilled(void **state)
{
    (void)state;
    resolve_with(X_FULFILLED);
}

static void aplus_2_3_2_2_resolve_with_fulfils_later(void **state)
{
    (void)state;
    resolve_with(X_FULFILS_LATER);
}

static void aplus_2_3_2_3_resolve_with_rejected(void **state)
{
    (void)state;
    resolve_with(X_REJECTED);
}

static void aplus_2_3_2_3_resolve_with_rejects_later(void **state)
{
    (void)state;
    resolve_with(X_REJECTS_LATER);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        APLUS_TIMED(aplus_2_3_1_return_self_from_fulfilled),
        APLUS_TIMED(aplus_2_3_1_return_self_from_rejected),
        cmocka_unit_test(aplus_2_3_1_resolve_with_self),
        cmocka_unit_test(aplus_2_3_1_settle_follow_self),
        cmocka_unit_test(aplus_2_3_1_cycle_of_two),
        cmocka_unit_test(aplus_2_3_1_cycle_of_three),
        cmocka_unit_test(is_resolved_tells_locked_from_free),
        APLUS_TIMED(aplus_2_3_1_cycle_through_handlers),
        APLUS_TIMED(aplus_2_3_1_cycle_through_then),
        APLUS_TIMED(aplus_2_3_1_chain_is_not_cycle),

        APLUS_TIMED(aplus_2_3_2_1_pending_stays_pending_via_fulfilled),
        APLUS_TIMED(aplus_2_3_2_1_pending_stays_pending_via_rejected),
        cmocka_unit_test(aplus_2_3_2_1_resolve_with_pending),
        APLUS_TIMED(aplus_2_3_2_2_already_fulfilled_via_fulfilled),
        APLUS_TIMED(aplus_2_3_2_2_already_fulfilled_via_rejected),
        APLUS_TIMED(aplus_2_3_2_2_eventually_fulfilled_via_fulfilled),
        APLUS_TIMED(aplus_2_3_2_2_eventually_fulfilled_via_rejected),
        cmocka_unit_test(aplus_2_3_2_2_resolve_with_fulfilled),
        cmocka_unit_test(aplus_2_3_2_2_resolve_with_fulfils_later),
        APLUS_TIMED(aplus_2_3_2_3_already_rejected_via_fulfilled),
        APLUS_TIMED(aplus_2_3_2_3_already_rejected_via_rejected),
        APLUS_TIMED(aplus_2_3_2_3_eventually_rejected_via_fulfilled),
        APLUS_TIMED(aplus_2_3_2_3_eventually_rejected_via_rejected),
        cmocka_unit_test(aplus_2_3_2_3_resolve_with_rejected),
        cmocka_unit_test(aplus_2_3_2_3_resolve_with_rejects_later),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
