/* SPDX-License-Identifier: MIT */
/*
 * Promises/A+ 1.1 section 2.1 (promise states), the official suite's 2.1.2 and 2.1.3:
 * a settled vow never changes state, value or reason, whichever settling call comes
 * later and whenever it comes. In C the later call also reports VOW_ESETTLED and
 * drops what it was given, since a settling call consumes its value.
 */
#include "aplus.h"

/* Settles p the other way round (or the same way again) after it settled. */
struct late {
    vow *p;         /* the vow, one reference */
    int first_code; /* how p was settled: 0 or a code */
    int rc[4];      /* what the later calls returned */
    int n_rc;       /* used entries of rc */
};

/* Every way to settle p once more; each must fail with VOW_ESETTLED. */
static void settle_again(struct aplus *a, struct late *lt)
{
    vow *p = lt->p;
    lt->rc[lt->n_rc++] = vow_resolve(p, aplus_val(a));
    lt->rc[lt->n_rc++] = vow_reject(p, VOW_EUSER, aplus_val(a));
    vow *other = vow_resolved(a->l, aplus_val(a));
    assert_non_null(other);
    lt->rc[lt->n_rc++] = vow_resolve_with(p, other);
    lt->rc[lt->n_rc++] = vow_settle(p, vow_ok(aplus_val(a)));
}

static void check_again(struct aplus *a, const struct late *lt)
{
    assert_int_equal(lt->n_rc, 4);
    for (int i = 0; i < lt->n_rc; i++)
        assert_int_equal(lt->rc[i], VOW_ESETTLED);
    /* The refused values were consumed by the refusing calls. */
    for (int i = 1; i < a->n_tokens; i++)
        assert_int_equal(a->tokens[i].drops, 1);
}

static void settle_again_action(struct aplus *a, void *arg)
{
    settle_again(a, arg);
}

/* The state, code and value seen through p after the attempts: the first outcome. */
static void check_first_outcome(struct aplus *a, vow *p, int code)
{
    assert_int_equal(vow_state(p), code == 0 ? VOW_FULFILLED : VOW_REJECTED);
    assert_int_equal(vow_code(p), code);
    const vow_val *v = vow_value(p);
    assert_non_null(v);
    assert_ptr_equal(v->ptr, &a->tokens[0]);
    assert_int_equal(a->tokens[0].drops, 0);
}

/*
 * 2.1.2.1 / 2.1.3.1 in the official suite's first form: the vow settles in one of
 * the three timings, a handler for each outcome is attached, and only the one for
 * the first outcome ever runs, even when every settling call is tried again later.
 */
static void must_not_transition(void **state, int code)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, code, aplus_val(&a));
    vow *d = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    struct late lt = {.p = p, .first_code = code};
    settle_again(&a, &lt);
    check_again(&a, &lt);
    aplus_run(&a);
    assert_int_equal(pr.ok, code == 0);
    assert_int_equal(pr.err, code != 0);
    assert_ptr_equal(pr.ptr, &a.tokens[0]);
    check_first_outcome(&a, p, code);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_1_2_1_fulfilled_stays(void **state)
{
    must_not_transition(state, 0);
}

static void aplus_2_1_3_1_rejected_stays(void **state)
{
    must_not_transition(state, VOW_EUSER);
}

/* When: 0 both calls now, 1 both from one timer, 2 the first now and the second later. */
enum { NOW_NOW, LATER_LATER, NOW_LATER };

struct both {
    struct late lt; /* the refused calls */
    int code;       /* first outcome */
    int first_rc;   /* what the first settling call returned */
};

static void settle_first(struct aplus *a, struct both *b)
{
    b->first_rc = aplus_settle_now(b->lt.p, b->code, aplus_val(a));
}

static void both_action(struct aplus *a, void *arg)
{
    struct both *b = arg;
    settle_first(a, b);
    settle_again(a, &b->lt);
}

/*
 * The official suite's "trying to fulfil then immediately reject", "... delayed" and
 * "fulfil immediately then reject delayed" cases (and the mirror ones for 2.1.3.1),
 * with a handler for each outcome attached before anything settles.
 */
static void settle_twice(int code, int when)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    struct both b = {.code = code};
    vow *p = vow_pending(a.l);
    b.lt.p = p;
    vow *d = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr);
    if (when == NOW_NOW) {
        settle_first(&a, &b);
        settle_again(&a, &b.lt);
    } else if (when == LATER_LATER) {
        aplus_at(&a, 2, both_action, &b);
    } else {
        settle_first(&a, &b);
        aplus_at(&a, 2, settle_again_action, &b.lt);
    }
    assert_int_equal(pr.ok + pr.err, 0);
    aplus_run(&a);
    assert_int_equal(b.first_rc, 0);
    check_again(&a, &b.lt);
    assert_int_equal(pr.ok, code == 0);
    assert_int_equal(pr.err, code != 0);
    if (code != 0)
        assert_int_equal(pr.code, code);
    assert_ptr_equal(pr.ptr, &a.tokens[0]);
    check_first_outcome(&a, p, code);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_1_2_1_fulfil_then_reject_immediately(void **state)
{
    (void)state;
    settle_twice(0, NOW_NOW);
}

static void aplus_2_1_2_1_fulfil_then_reject_delayed(void **state)
{
    (void)state;
    settle_twice(0, LATER_LATER);
}

static void aplus_2_1_2_1_fulfil_immediately_reject_delayed(void **state)
{
    (void)state;
    settle_twice(0, NOW_LATER);
}

static void aplus_2_1_3_1_reject_then_fulfil_immediately(void **state)
{
    (void)state;
    settle_twice(VOW_EUSER, NOW_NOW);
}

static void aplus_2_1_3_1_reject_then_fulfil_delayed(void **state)
{
    (void)state;
    settle_twice(VOW_EUSER, LATER_LATER);
}

static void aplus_2_1_3_1_reject_immediately_fulfil_delayed(void **state)
{
    (void)state;
    settle_twice(-EIO, NOW_LATER);
}

/*
 * 2.1.2.2 / 2.1.3.2: the value (reason) does not change. Every handler attached at
 * any time sees the very same pointer, the vow keeps owning it while anything holds
 * the vow, and it is dropped once, after the last holder let go.
 */
static void value_unchanged(void **state, int code)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr[3];
    vow *d[3];
    for (int i = 0; i < 3; i++)
        aplus_probe_init(&pr[i], &a, i + 1);
    vow *p = aplus_source(&a, code, aplus_val(&a));
    d[0] = aplus_on(vow_ref(p), code != 0, &pr[0]);
    aplus_settle(&a);
    aplus_run(&a);
    d[1] = aplus_on(vow_ref(p), code != 0, &pr[1]);
    struct late lt = {.p = p, .first_code = code};
    settle_again(&a, &lt);
    d[2] = aplus_on(vow_ref(p), code != 0, &pr[2]);
    aplus_run(&a);
    check_again(&a, &lt);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(aplus_calls(&pr[i], code != 0), 1);
        assert_ptr_equal(pr[i].ptr, &a.tokens[0]);
        assert_int_equal(pr[i].dead, 0);
        assert_int_equal(pr[i].code, code);
        vow_unref(d[i]);
    }
    check_first_outcome(&a, p, code);
    vow_unref(p);
    assert_int_equal(a.tokens[0].drops, 1);
    aplus_end(&a);
}

static void aplus_2_1_2_2_value_unchanged(void **state)
{
    value_unchanged(state, 0);
}

static void aplus_2_1_3_2_reason_unchanged(void **state)
{
    value_unchanged(state, VOW_EUSER);
}

/* A settled vow refuses cancellation too: cancelling is one more way to reject. */
static void cancel_refused(void **state, int code)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, code, aplus_val(&a));
    vow *d = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    assert_int_equal(vow_cancel(p), VOW_ESETTLED);
    aplus_run(&a);
    assert_int_equal(pr.ok + pr.err, 1);
    check_first_outcome(&a, p, code);
    assert_int_equal(a.unhandled, 0);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_1_2_1_cancel_refused(void **state)
{
    cancel_refused(state, 0);
}

static void aplus_2_1_3_1_cancel_refused(void **state)
{
    cancel_refused(state, VOW_EUSER);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        APLUS_TIMED(aplus_2_1_2_1_fulfilled_stays),
        cmocka_unit_test(aplus_2_1_2_1_fulfil_then_reject_immediately),
        cmocka_unit_test(aplus_2_1_2_1_fulfil_then_reject_delayed),
        cmocka_unit_test(aplus_2_1_2_1_fulfil_immediately_reject_delayed),
        APLUS_TIMED(aplus_2_1_2_1_cancel_refused),
        APLUS_TIMED(aplus_2_1_2_2_value_unchanged),
        APLUS_TIMED(aplus_2_1_3_1_rejected_stays),
        cmocka_unit_test(aplus_2_1_3_1_reject_then_fulfil_immediately),
        cmocka_unit_test(aplus_2_1_3_1_reject_then_fulfil_delayed),
        cmocka_unit_test(aplus_2_1_3_1_reject_immediately_fulfil_delayed),
        APLUS_TIMED(aplus_2_1_3_1_cancel_refused),
        APLUS_TIMED(aplus_2_1_3_2_reason_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
