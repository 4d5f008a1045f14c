/* SPDX-License-Identifier: MIT */
/*
 * Promises/A+ 1.1 section 2.2 (the then method), the official suite's 2.2.1 to 2.2.7,
 * each clause in the suite's timings. C adaptations: "not a function" is NULL,
 * "throws e" is vow_fail(code, detail), "this" is the ctx given to vow_then, and
 * "platform code" is the loop: no handler runs inside vow_then or vow_resolve.
 */
#include "aplus.h"

/* Outcome selector used throughout: 0 tests fulfilment, 1 tests rejection. */
#define CODE_OF(rj) ((rj) ? VOW_EUSER : 0)

/* A vow already settled the rj way with a fresh tracked value. */
static vow *settled(struct aplus *a, int rj)
{
    vow_val v = aplus_val(a);
    vow *p = rj ? vow_rejected(a->l, VOW_EUSER, v) : vow_resolved(a->l, v);
    assert_non_null(p);
    return p;
}

/* The probe ran once for the rj outcome, saw token 0 alive, and nothing else. */
static void assert_saw_sentinel(struct aplus *a, const struct aplus_probe *pr, int rj)
{
    assert_int_equal(pr->ok, !rj);
    assert_int_equal(pr->err, rj);
    assert_ptr_equal(pr->ptr, &a->tokens[0]);
    assert_int_equal(pr->code, CODE_OF(rj));
    assert_int_equal(pr->dead, 0);
}

/* A derived vow fulfilled by a probe's default return, vow_ok(id). */
static void assert_num(vow *d, int64_t n)
{
    assert_int_equal(vow_state(d), VOW_FULFILLED);
    assert_int_equal(vow_value(d)->num, n);
}

/* Attaching from inside a handler: probes to attach to target while outer runs. */
struct inner {
    vow *target;               /* borrowed: the vow to attach to */
    int rj;                    /* outcome the inner probes listen for */
    struct aplus_probe *pr[2]; /* attached in this order */
    int n;                     /* used entries of pr */
    vow *d[2];                 /* their derived vows */
    int calls_at_attach;       /* inner calls seen right after attaching: must stay 0 */
    vow *settle;               /* if set: settled the rj way from inside, after attaching */
    int settle_rc;             /* what that settling call returned */
};

static void attach_inside(struct aplus_probe *outer)
{
    struct inner *in = outer->arg;
    for (int i = 0; i < in->n; i++)
        in->d[i] = aplus_on(vow_ref(in->target), in->rj, in->pr[i]);
    if (in->settle)
        in->settle_rc = aplus_settle_now(in->settle, CODE_OF(in->rj), aplus_val(outer->a));
    for (int i = 0; i < in->n; i++)
        in->calls_at_attach += in->pr[i]->ok + in->pr[i]->err;
    outer->a->mark = 1;
}

static void inner_fini(struct inner *in)
{
    for (int i = 0; i < in->n; i++)
        vow_unref(in->d[i]);
}

/* ------------------------------------------------------------------- 2.2.1 */

/* 2.2.1.1 / 2.2.1.2: a NULL handler for the outcome is ignored, the other one runs. */
static void null_ignored(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = aplus_on(p, rj, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr, rj);
    assert_num(d, 1);
    vow_unref(d);
    aplus_end(&a);
}

/* The suite's "applied to a promise rejected (fulfilled) and then chained off of". */
static void null_ignored_chained(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe first, second;
    aplus_probe_init(&first, &a, 1);
    aplus_probe_init(&second, &a, 2);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    /* The first then has only the handler for the other outcome. */
    vow *d = aplus_on(aplus_on(p, !rj, &first), rj, &second);
    aplus_settle(&a);
    aplus_run(&a);
    assert_int_equal(first.ok + first.err, 0);
    assert_saw_sentinel(&a, &second, rj);
    assert_num(d, 2);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_1_1_null_on_ok_ignored(void **state)
{
    null_ignored(state, 1);
}

static void aplus_2_2_1_1_null_on_ok_chained(void **state)
{
    null_ignored_chained(state, 1);
}

static void aplus_2_2_1_2_null_on_err_ignored(void **state)
{
    null_ignored(state, 0);
}

static void aplus_2_2_1_2_null_on_err_chained(void **state)
{
    null_ignored_chained(state, 0);
}

/* ------------------------------------------------------------ 2.2.2 / 2.2.3 */

/* x.x.x.1: called after the vow settled, with its value (reason) as argument. */
static void called_with(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = aplus_on(p, rj, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr, rj);
    assert_num(d, 1);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_2_1_called_with_value(void **state)
{
    called_with(state, 0);
}

static void aplus_2_2_3_1_called_with_reason(void **state)
{
    called_with(state, 1);
}

struct later_settle {
    vow *p; /* the vow, borrowed */
    int rj; /* how to settle it */
    struct aplus_probe *pr;
    int calls_before; /* handler calls when the timer came */
    int rc;           /* the settling call's result */
};

static void settle_then_mark(struct aplus *a, void *arg)
{
    struct later_settle *ls = arg;
    ls->calls_before = ls->pr->ok + ls->pr->err;
    ls->rc = aplus_settle_now(ls->p, CODE_OF(ls->rj), aplus_val(a));
    /* The handler must see this: it runs only after this callback returned. */
    a->mark = 1;
}

/* x.x.x.2 "settled after a delay": not called before the vow settles. */
static void not_before_delay(int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    struct later_settle ls = {.p = p, .rj = rj, .pr = &pr};
    vow *d = aplus_on(vow_ref(p), rj, &pr);
    aplus_at(&a, 2, settle_then_mark, &ls);
    aplus_run(&a);
    assert_int_equal(ls.calls_before, 0);
    assert_int_equal(ls.rc, 0);
    assert_saw_sentinel(&a, &pr, rj);
    assert_int_equal(pr.mark, 1);
    vow_unref(p);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_2_2_not_before_fulfilled(void **state)
{
    (void)state;
    not_before_delay(0);
}

static void aplus_2_2_3_2_not_before_rejected(void **state)
{
    (void)state;
    not_before_delay(1);
}

/* A timer that only lets loop time pass. */
static void nothing(struct aplus *a, void *arg)
{
    (void)a;
    (void)arg;
}

/*
 * x.x.x.2 "never settled": the loop runs out of work and the handler never ran. The
 * vow is then settled the other way, which must not call it either.
 */
static void never_settled(int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    vow *d = aplus_on(vow_ref(p), rj, &pr);
    aplus_at(&a, 5, nothing, NULL);
    aplus_run(&a);
    assert_int_equal(pr.ok + pr.err, 0);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(vow_state(d), VOW_PENDING);
    if (rj)
        assert_int_equal(vow_resolve(p, vow_val_num(7)), 0);
    else
        assert_int_equal(vow_cancel(p), 0);
    aplus_run(&a);
    assert_int_equal(pr.ok + pr.err, 0);
    assert_int_equal(vow_state(d), rj ? VOW_FULFILLED : VOW_REJECTED);
    vow_unref(p);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_2_2_never_fulfilled(void **state)
{
    (void)state;
    never_settled(0);
}

static void aplus_2_2_3_2_never_rejected(void **state)
{
    (void)state;
    never_settled(1);
}

/* x.x.x.3 "already settled": called exactly once, however often the loop runs. */
static void once(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = aplus_on(p, rj, &pr);
    aplus_settle(&a);
    aplus_run(&a);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr, rj);
    assert_int_equal(a.n_log, 1);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_2_3_once(void **state)
{
    once(state, 0);
}

static void aplus_2_2_3_3_once(void **state)
{
    once(state, 1);
}

/* Settling attempts on one vow; only the first may succeed. */
struct twice {
    vow *p;    /* borrowed */
    int rj;    /* outcome of every attempt */
    int rc[4]; /* results in call order */
    int n;     /* used entries of rc */
};

static void try_settle(struct aplus *a, void *arg)
{
    struct twice *t = arg;
    t->rc[t->n++] = aplus_settle_now(t->p, CODE_OF(t->rj), aplus_val(a));
}

static void try_settle_twice(struct aplus *a, void *arg)
{
    try_settle(a, arg);
    try_settle(a, arg);
}

enum { TWICE_NOW, TWICE_LATER, NOW_THEN_LATER };

/* x.x.x.3 "trying to settle a pending vow more than once": immediately, delayed, mixed. */
static void settle_more_than_once(int rj, int when)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    struct twice t = {.p = p, .rj = rj};
    vow *d = aplus_on(vow_ref(p), rj, &pr);
    if (when == TWICE_NOW) {
        try_settle_twice(&a, &t);
    } else if (when == TWICE_LATER) {
        aplus_at(&a, 2, try_settle_twice, &t);
    } else {
        try_settle(&a, &t);
        aplus_at(&a, 2, try_settle, &t);
    }
    aplus_run(&a);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.rc[0], 0);
    assert_int_equal(t.rc[1], VOW_ESETTLED);
    assert_int_equal(a.tokens[1].drops, 1);
    assert_saw_sentinel(&a, &pr, rj);
    vow_unref(p);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_2_3_fulfil_twice_immediately(void **state)
{
    (void)state;
    settle_more_than_once(0, TWICE_NOW);
}

static void aplus_2_2_2_3_fulfil_twice_delayed(void **state)
{
    (void)state;
    settle_more_than_once(0, TWICE_LATER);
}

static void aplus_2_2_2_3_fulfil_immediately_then_delayed(void **state)
{
    (void)state;
    settle_more_than_once(0, NOW_THEN_LATER);
}

static void aplus_2_2_3_3_reject_twice_immediately(void **state)
{
    (void)state;
    settle_more_than_once(1, TWICE_NOW);
}

static void aplus_2_2_3_3_reject_twice_delayed(void **state)
{
    (void)state;
    settle_more_than_once(1, TWICE_LATER);
}

static void aplus_2_2_3_3_reject_immediately_then_delayed(void **state)
{
    (void)state;
    settle_more_than_once(1, NOW_THEN_LATER);
}

struct spaced {
    vow *p;                 /* borrowed */
    int rj;                 /* outcome */
    struct aplus_probe *pr; /* attach this one next */
    vow **d;                /* and keep its derived vow here */
};

static void attach_later(struct aplus *a, void *arg)
{
    struct spaced *s = arg;
    (void)a;
    *s->d = aplus_on(vow_ref(s->p), s->rj, s->pr);
}

/* x.x.x.3 "when multiple then calls are made, spaced apart in time". */
static void spaced_apart(int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr[3];
    vow *d[3];
    for (int i = 0; i < 3; i++)
        aplus_probe_init(&pr[i], &a, i + 1);
    vow *p = vow_pending(a.l);
    d[0] = aplus_on(vow_ref(p), rj, &pr[0]);
    struct spaced s1 = {p, rj, &pr[1], &d[1]}, s2 = {p, rj, &pr[2], &d[2]};
    aplus_at(&a, 1, attach_later, &s1);
    aplus_at(&a, 2, attach_later, &s2);
    struct twice t = {.p = p, .rj = rj};
    aplus_at(&a, 3, try_settle, &t);
    aplus_run(&a);
    assert_int_equal(t.rc[0], 0);
    for (int i = 0; i < 3; i++) {
        assert_saw_sentinel(&a, &pr[i], rj);
        vow_unref(d[i]);
    }
    aplus_assert_log(&a, (int[]){1, 2, 3}, 3);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_2_3_then_spaced_in_time(void **state)
{
    (void)state;
    spaced_apart(0);
}

static void aplus_2_2_3_3_then_spaced_in_time(void **state)
{
    (void)state;
    spaced_apart(1);
}

/* x.x.x.3 "when then is interleaved with settlement". */
static void interleaved(int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr[2];
    aplus_probe_init(&pr[0], &a, 1);
    aplus_probe_init(&pr[1], &a, 2);
    vow *p = vow_pending(a.l);
    vow *d0 = aplus_on(vow_ref(p), rj, &pr[0]);
    assert_int_equal(aplus_settle_now(p, CODE_OF(rj), aplus_val(&a)), 0);
    vow *d1 = aplus_on(vow_ref(p), rj, &pr[1]);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr[0], rj);
    assert_saw_sentinel(&a, &pr[1], rj);
    aplus_assert_log(&a, (int[]){1, 2}, 2);
    vow_unref(d0);
    vow_unref(d1);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_2_3_then_interleaved(void **state)
{
    (void)state;
    interleaved(0);
}

static void aplus_2_2_3_3_then_interleaved(void **state)
{
    (void)state;
    interleaved(1);
}

/* -------------------------------------------------------------------- 2.2.4 */

/* "then returns before the vow settles": nothing runs inside vow_then or the settle. */
static void then_returns_first(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = aplus_on(p, rj, &pr);
    assert_int_equal(a.n_log, 0);
    aplus_settle(&a);
    assert_int_equal(a.n_log, 0);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr, rj);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_4_then_returns_first_fulfilled(void **state)
{
    then_returns_first(state, 0);
}

static void aplus_2_2_4_then_returns_first_rejected(void **state)
{
    then_returns_first(state, 1);
}

/* Clean stack: the handler is added immediately before (or after) the vow settles. */
static void added_around_settle(int rj, int after)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    vow *d = NULL;
    if (!after)
        d = aplus_on(vow_ref(p), rj, &pr);
    assert_int_equal(aplus_settle_now(p, CODE_OF(rj), aplus_val(&a)), 0);
    if (after)
        d = aplus_on(vow_ref(p), rj, &pr);
    assert_int_equal(pr.ok + pr.err, 0);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr, rj);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_4_on_ok_added_before_fulfil(void **state)
{
    (void)state;
    added_around_settle(0, 0);
}

static void aplus_2_2_4_on_ok_added_after_fulfil(void **state)
{
    (void)state;
    added_around_settle(0, 1);
}

static void aplus_2_2_4_on_err_added_before_reject(void **state)
{
    (void)state;
    added_around_settle(1, 0);
}

static void aplus_2_2_4_on_err_added_after_reject(void **state)
{
    (void)state;
    added_around_settle(1, 1);
}

/*
 * Clean stack: a handler for the rj outcome is added from inside a handler for the
 * outer outcome (the same vow when both agree, else a second vow settled the rj
 * way); it runs only after the outer handler returned.
 */
static void added_inside(int outer_rj, int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe outer, pr;
    aplus_probe_init(&outer, &a, 1);
    aplus_probe_init(&pr, &a, 2);
    vow *p = settled(&a, rj);
    vow *p_outer = outer_rj == rj ? vow_ref(p) : settled(&a, outer_rj);
    struct inner in = {.target = p, .rj = rj, .pr = {&pr}, .n = 1};
    outer.inside = attach_inside;
    outer.arg = &in;
    vow *d = aplus_on(p_outer, outer_rj, &outer);
    aplus_run(&a);
    assert_int_equal(in.calls_at_attach, 0);
    assert_int_equal(outer.ok + outer.err, 1);
    assert_saw_sentinel(&a, &pr, rj);
    assert_int_equal(pr.mark, 1);
    aplus_assert_log(&a, (int[]){1, 2}, 2);
    inner_fini(&in);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_4_on_ok_inside_on_ok(void **state)
{
    (void)state;
    added_inside(0, 0);
}

static void aplus_2_2_4_on_ok_inside_on_err(void **state)
{
    (void)state;
    added_inside(1, 0);
}

static void aplus_2_2_4_on_err_inside_on_err(void **state)
{
    (void)state;
    added_inside(1, 1);
}

static void aplus_2_2_4_on_err_inside_on_ok(void **state)
{
    (void)state;
    added_inside(0, 1);
}

/* Clean stack: the vow settles from a timer callback, which finishes first. */
static void settled_async(int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = vow_pending(a.l);
    struct later_settle ls = {.p = p, .rj = rj, .pr = &pr};
    aplus_at(&a, 0, settle_then_mark, &ls);
    vow *d = aplus_on(vow_ref(p), rj, &pr);
    aplus_run(&a);
    assert_int_equal(ls.calls_before, 0);
    assert_saw_sentinel(&a, &pr, rj);
    assert_int_equal(pr.mark, 1);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_4_fulfilled_asynchronously(void **state)
{
    (void)state;
    settled_async(0);
}

static void aplus_2_2_4_rejected_asynchronously(void **state)
{
    (void)state;
    settled_async(1);
}

/* C: settling a vow from inside a handler does not run that vow's handlers there. */
static void settle_inside_handler(int rj)
{
    struct aplus a;
    aplus_begin(&a, NULL);
    struct aplus_probe outer, pr;
    aplus_probe_init(&outer, &a, 1);
    aplus_probe_init(&pr, &a, 2);
    vow *q = vow_pending(a.l);
    vow *dq = aplus_on(vow_ref(q), rj, &pr);
    struct inner in = {.target = q, .rj = rj, .settle = q};
    outer.inside = attach_inside;
    outer.arg = &in;
    vow *d = vow_then(vow_resolved(a.l, vow_val_num(0)), aplus_ok, NULL, &outer);
    aplus_run(&a);
    assert_int_equal(in.settle_rc, 0);
    assert_int_equal(pr.mark, 1);
    assert_int_equal(aplus_calls(&pr, rj), 1);
    assert_ptr_equal(pr.ptr, &a.tokens[0]);
    aplus_assert_log(&a, (int[]){1, 2}, 2);
    vow_unref(d);
    vow_unref(dq);
    vow_unref(q);
    aplus_end(&a);
}

static void aplus_2_2_4_fulfil_inside_handler(void **state)
{
    (void)state;
    settle_inside_handler(0);
}

static void aplus_2_2_4_reject_inside_handler(void **state)
{
    (void)state;
    settle_inside_handler(1);
}

/* -------------------------------------------------------------------- 2.2.5 */

/* What the handlers and ctx_drop saw, kept outside ctx so a wrong ctx cannot hide. */
static struct {
    void *ctx;            /* ctx the last handler got */
    int calls;            /* handler calls */
    void *dropped[4];     /* ctx given to each ctx_drop call */
    int calls_at_drop[4]; /* handler calls when each ctx_drop ran */
    int drops;            /* ctx_drop calls */
} seen;

static vow_ret ctx_ok(void *ctx, const vow_val *v)
{
    (void)v;
    seen.ctx = ctx;
    seen.calls++;
    return vow_ok(vow_val_num(1));
}

static vow_ret ctx_err(void *ctx, int code, const vow_val *d)
{
    (void)code;
    (void)d;
    seen.ctx = ctx;
    seen.calls++;
    return vow_ok(vow_val_num(2));
}

static void ctx_drop(void *ctx)
{
    if (seen.drops < 4) {
        seen.dropped[seen.drops] = ctx;
        seen.calls_at_drop[seen.drops] = seen.calls;
    }
    seen.drops++;
}

/*
 * 2.2.5 has no "this" to test in C; its counterpart is the context: each handler gets
 * exactly the ctx given, and vow_then_full's ctx_drop gets it once, after the handler
 * (or, with no handler for the outcome, once without one).
 */
static void ctx_as_given(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    int mine;
    memset(&seen, 0, sizeof(seen));
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = vow_then_full(vow_ref(p), ctx_ok, ctx_err, &mine, ctx_drop);
    vow *none = vow_then_full(vow_ref(p), NULL, NULL, &a, ctx_drop);
    aplus_settle(&a);
    aplus_run(&a);
    assert_int_equal(seen.calls, 1);
    assert_ptr_equal(seen.ctx, &mine);
    assert_int_equal(seen.drops, 2);
    assert_ptr_equal(seen.dropped[0], &mine);
    assert_int_equal(seen.calls_at_drop[0], 1);
    assert_ptr_equal(seen.dropped[1], &a);
    assert_num(d, rj ? 2 : 1);
    assert_int_equal(vow_code(none), CODE_OF(rj));
    /* A NULL ctx reaches the handler as NULL. */
    vow *n = vow_then(vow_ref(p), ctx_ok, ctx_err, NULL);
    aplus_run(&a);
    assert_int_equal(seen.calls, 2);
    assert_null(seen.ctx);
    vow_unref(n);
    vow_unref(none);
    vow_unref(d);
    vow_unref(p);
    assert_int_equal(a.unhandled, rj);
    aplus_end(&a);
}

static void aplus_2_2_5_ctx_as_given_fulfilled(void **state)
{
    ctx_as_given(state, 0);
}

static void aplus_2_2_5_ctx_as_given_rejected(void **state)
{
    ctx_as_given(state, 1);
}

/* -------------------------------------------------------------------- 2.2.6 */

/*
 * "multiple boring handlers" and "one of which fails": three handlers (each also
 * given a spy for the other outcome) see the sentinel, whatever each returns, and a
 * fourth then sees the vow's own outcome unchanged.
 */
static void multiple_handlers(void **state, int rj, int one_fails)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr[4];
    vow *d[4];
    for (int i = 0; i < 4; i++)
        aplus_probe_init(&pr[i], &a, i + 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    pr[0].ret = APLUS_RET_OK;
    pr[0].ret_val = aplus_val(&a);
    if (one_fails) {
        pr[1].ret = APLUS_RET_FAIL;
        pr[1].ret_code = -EIO;
    }
    pr[2].ret = APLUS_RET_PASS;
    for (int i = 0; i < 3; i++)
        d[i] = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr[i]);
    d[3] = aplus_on(vow_ref(p), rj, &pr[3]);
    aplus_settle(&a);
    aplus_run(&a);
    for (int i = 0; i < 4; i++)
        assert_saw_sentinel(&a, &pr[i], rj);
    aplus_assert_log(&a, (int[]){1, 2, 3, 4}, 4);
    assert_ptr_equal(vow_value(d[0])->ptr, &a.tokens[1]);
    if (one_fails)
        assert_int_equal(vow_code(d[1]), -EIO);
    else
        assert_num(d[1], 2);
    /* vow_pass: the same outcome, the very same value, not a copy. */
    assert_int_equal(vow_code(d[2]), CODE_OF(rj));
    assert_ptr_equal(vow_value(d[2])->ptr, &a.tokens[0]);
    assert_num(d[3], 4);
    /* Rejected derived vows nobody handles are reported: the failure, the pass. */
    assert_int_equal(a.unhandled, one_fails + rj);
    for (int i = 0; i < 4; i++)
        vow_unref(d[i]);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_6_1_multiple_fulfilment_handlers(void **state)
{
    multiple_handlers(state, 0, 0);
}

static void aplus_2_2_6_1_one_fulfilment_handler_fails(void **state)
{
    multiple_handlers(state, 0, 1);
}

static void aplus_2_2_6_2_multiple_rejection_handlers(void **state)
{
    multiple_handlers(state, 1, 0);
}

static void aplus_2_2_6_2_one_rejection_handler_fails(void **state)
{
    multiple_handlers(state, 1, 1);
}

/* "results in multiple branching chains with their own fulfilment values". */
static void branching(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr[3], next[3];
    vow *d[3];
    for (int i = 0; i < 3; i++) {
        aplus_probe_init(&pr[i], &a, i + 1);
        aplus_probe_init(&next[i], &a, i + 11);
    }
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    pr[0].ret = APLUS_RET_OK;
    pr[0].ret_val = aplus_val(&a);
    pr[1].ret = APLUS_RET_FAIL;
    pr[1].ret_code = VOW_EUSER;
    pr[1].ret_val = aplus_val(&a);
    pr[2].ret = APLUS_RET_OK;
    pr[2].ret_val = aplus_val(&a);
    for (int i = 0; i < 3; i++)
        d[i] = aplus_on(aplus_on(vow_ref(p), rj, &pr[i]), i == 1, &next[i]);
    aplus_settle(&a);
    aplus_run(&a);
    for (int i = 0; i < 3; i++) {
        assert_saw_sentinel(&a, &pr[i], rj);
        assert_int_equal(aplus_calls(&next[i], i == 1), 1);
        assert_ptr_equal(next[i].ptr, &a.tokens[i + 1]);
        assert_int_equal(next[i].dead, 0);
        assert_num(d[i], i + 11);
        vow_unref(d[i]);
    }
    assert_int_equal(next[1].code, VOW_EUSER);
    vow_unref(p);
    assert_int_equal(a.unhandled, 0);
    aplus_end(&a);
}

static void aplus_2_2_6_1_branching_chains(void **state)
{
    branching(state, 0);
}

static void aplus_2_2_6_2_branching_chains(void **state)
{
    branching(state, 1);
}

/*
 * "handlers are called in the original order", and "even when one handler is added
 * inside another handler". where: 0 no inner attach, 1 the last top-level handler
 * attaches two more, 2 the first one attaches one more while a second is still queued
 * (it must run after the one already queued).
 */
static void order(void **state, int rj, int where)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr[4];
    for (int i = 0; i < 4; i++)
        aplus_probe_init(&pr[i], &a, i + 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    struct inner in = {.target = p, .rj = rj};
    vow *d[3];
    int top = 3;
    if (where == 1) {
        top = 2;
        in.pr[0] = &pr[2];
        in.pr[1] = &pr[3];
        in.n = 2;
        pr[1].inside = attach_inside;
        pr[1].arg = &in;
    } else if (where == 2) {
        top = 2;
        in.pr[0] = &pr[2];
        in.n = 1;
        pr[0].inside = attach_inside;
        pr[0].arg = &in;
    }
    for (int i = 0; i < top; i++)
        d[i] = aplus_on(vow_ref(p), rj, &pr[i]);
    aplus_settle(&a);
    aplus_run(&a);
    int n = where == 1 ? 4 : 3;
    aplus_assert_log(&a, (int[]){1, 2, 3, 4}, n);
    for (int i = 0; i < n; i++)
        assert_saw_sentinel(&a, &pr[i], rj);
    assert_int_equal(in.calls_at_attach, 0);
    for (int i = 0; i < top; i++)
        vow_unref(d[i]);
    inner_fini(&in);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_6_1_fulfilled_order(void **state)
{
    order(state, 0, 0);
}

static void aplus_2_2_6_1_fulfilled_order_inner(void **state)
{
    order(state, 0, 1);
}

static void aplus_2_2_6_1_fulfilled_inner_after_queued(void **state)
{
    order(state, 0, 2);
}

static void aplus_2_2_6_2_rejected_order(void **state)
{
    order(state, 1, 0);
}

static void aplus_2_2_6_2_rejected_order_inner(void **state)
{
    order(state, 1, 1);
}

static void aplus_2_2_6_2_rejected_inner_after_queued(void **state)
{
    order(state, 1, 2);
}

/* -------------------------------------------------------------------- 2.2.7 */

/* "then must return a promise": a new, distinct, pending vow on the same loop. */
static void returns_vow(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *d = vow_then(vow_ref(p), aplus_ok, aplus_err, &pr);
    assert_non_null(d);
    assert_ptr_not_equal(d, p);
    assert_ptr_equal(vow_loop_of(d), a.l);
    assert_int_equal(vow_state(d), VOW_PENDING);
    assert_null(vow_value(d));
    aplus_settle(&a);
    aplus_run(&a);
    assert_num(d, 1);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void aplus_2_2_7_returns_vow_fulfilled(void **state)
{
    returns_vow(state, 0);
}

static void aplus_2_2_7_returns_vow_rejected(void **state)
{
    returns_vow(state, 1);
}

/*
 * 2.2.7.1: a handler's result x runs the resolution procedure: a value fulfils the
 * derived vow (ownership moves to it), a vow is adopted (see 2.3 for the details).
 */
static void result_resolves(void **state, int rj, int follow)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr, next;
    aplus_probe_init(&pr, &a, 1);
    aplus_probe_init(&next, &a, 2);
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    if (follow) {
        vow *x = vow_pending(a.l);
        aplus_settle_at(&a, 5, x, 0, aplus_val(&a));
        pr.ret = APLUS_RET_FOLLOW;
        pr.ret_follow = x;
    } else {
        pr.ret = APLUS_RET_OK;
        pr.ret_val = aplus_val(&a);
    }
    vow *d = aplus_on(p, rj, &pr);
    vow *d2 = aplus_on(vow_ref(d), 0, &next);
    aplus_settle(&a);
    aplus_run(&a);
    assert_saw_sentinel(&a, &pr, rj);
    assert_int_equal(next.ok, 1);
    assert_ptr_equal(next.ptr, &a.tokens[1]);
    assert_int_equal(next.dead, 0);
    assert_int_equal(vow_state(d), VOW_FULFILLED);
    assert_ptr_equal(vow_value(d)->ptr, &a.tokens[1]);
    assert_int_equal(a.tokens[1].drops, 0);
    vow_unref(d2);
    vow_unref(d);
    aplus_end(&a);
}

static void aplus_2_2_7_1_value_fulfils(void **state)
{
    result_resolves(state, 0, 0);
}

static void aplus_2_2_7_1_value_fulfils_from_on_err(void **state)
{
    result_resolves(state, 1, 0);
}

static void aplus_2_2_7_1_vow_adopted(void **state)
{
    result_resolves(state, 0, 1);
}

static void aplus_2_2_7_1_vow_adopted_from_on_err(void **state)
{
    result_resolves(state, 1, 1);
}

/* The "reasons" of 2.2.7.2, as C sees them: a code and a detail of any kind. */
enum { N_REASONS = 5 };

static vow_val reason_detail(struct aplus *a, int i)
{
    switch (i) {
    case 0:
        return aplus_val(a);
    case 1:
        return vow_val_num(0);
    case 2:
        return vow_val_none();
    case 3:
        return vow_val_real(1.5);
    default:
        return aplus_val(a);
    }
}

static const int reason_code[N_REASONS] = {VOW_EUSER, VOW_EUSER, -EIO, VOW_ETIMEDOUT,
                                           VOW_ECANCELED};

/* 2.2.7.2: a handler's vow_fail(code, detail) rejects the derived vow with exactly that. */
static void failure_rejects(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr[N_REASONS], next[N_REASONS];
    vow *d[N_REASONS];
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    for (int i = 0; i < N_REASONS; i++) {
        aplus_probe_init(&pr[i], &a, i + 1);
        aplus_probe_init(&next[i], &a, i + 11);
        pr[i].ret = APLUS_RET_FAIL;
        pr[i].ret_code = reason_code[i];
        pr[i].ret_val = reason_detail(&a, i);
        d[i] = vow_then(aplus_on(vow_ref(p), rj, &pr[i]), aplus_ok, aplus_err, &next[i]);
    }
    aplus_settle(&a);
    aplus_run(&a);
    for (int i = 0; i < N_REASONS; i++) {
        assert_saw_sentinel(&a, &pr[i], rj);
        assert_int_equal(next[i].ok, 0);
        assert_int_equal(next[i].err, 1);
        assert_int_equal(next[i].code, reason_code[i]);
        assert_int_equal(next[i].dead, 0);
        assert_num(d[i], i + 11);
        vow_unref(d[i]);
    }
    assert_ptr_equal(next[0].ptr, &a.tokens[1]);
    assert_int_equal(next[1].num, 0);
    assert_null(next[2].ptr);
    assert_ptr_equal(next[4].ptr, &a.tokens[2]);
    vow_unref(p);
    assert_int_equal(a.unhandled, 0);
    aplus_end(&a);
}

static void aplus_2_2_7_2_failure_rejects_from_on_ok(void **state)
{
    failure_rejects(state, 0);
}

static void aplus_2_2_7_2_failure_rejects_from_on_err(void **state)
{
    failure_rejects(state, 1);
}

/* Misuse: vow_fail with a non-negative code still rejects, with a negative code. */
static void aplus_2_2_7_2_failure_with_bad_code(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr, next;
    aplus_probe_init(&pr, &a, 1);
    aplus_probe_init(&next, &a, 2);
    pr.ret = APLUS_RET_FAIL;
    pr.ret_code = 5;
    pr.ret_val = aplus_val(&a);
    vow *d = aplus_on(aplus_on(vow_resolved(a.l, vow_val_num(1)), 0, &pr), 1, &next);
    aplus_run(&a);
    assert_int_equal(next.err, 1);
    assert_true(next.code < 0);
    assert_num(d, 2);
    vow_unref(d);
    aplus_end(&a);
}

/*
 * 2.2.7.3 / 2.2.7.4: with no handler for the outcome (NULL, vow_then with none,
 * vow_catch on a fulfilled vow) or a handler returning vow_pass(), the derived vow
 * settles the same way with the very same value or reason.
 */
static void passes_through(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    enum { N = 4 };
    struct aplus_probe other, pass, next[N];
    aplus_probe_init(&other, &a, 1);
    aplus_probe_init(&pass, &a, 2);
    pass.ret = APLUS_RET_PASS;
    vow *p = aplus_source(&a, CODE_OF(rj), aplus_val(&a));
    vow *mid[N];
    mid[0] = aplus_on(vow_ref(p), !rj, &other);
    mid[1] = vow_then(vow_ref(p), NULL, NULL, NULL);
    if (rj)
        mid[2] = vow_then(vow_ref(p), aplus_ok, NULL, &other);
    else
        mid[2] = vow_catch(vow_ref(p), aplus_err, &other);
    mid[3] = aplus_on(vow_ref(p), rj, &pass);
    vow *d[N];
    for (int i = 0; i < N; i++) {
        aplus_probe_init(&next[i], &a, i + 11);
        d[i] = aplus_on(vow_ref(mid[i]), rj, &next[i]);
    }
    aplus_settle(&a);
    aplus_run(&a);
    assert_int_equal(other.ok + other.err, 0);
    assert_int_equal(aplus_calls(&pass, rj), 1);
    for (int i = 0; i < N; i++) {
        assert_saw_sentinel(&a, &next[i], rj);
        assert_int_equal(vow_state(mid[i]), rj ? VOW_REJECTED : VOW_FULFILLED);
        assert_int_equal(vow_code(mid[i]), CODE_OF(rj));
        assert_ptr_equal(vow_value(mid[i])->ptr, &a.tokens[0]);
        vow_unref(d[i]);
        vow_unref(mid[i]);
    }
    /* The value is shared, never copied: it lives until the last holder lets go. */
    assert_int_equal(a.tokens[0].drops, 0);
    vow_unref(p);
    assert_int_equal(a.tokens[0].drops, 1);
    assert_int_equal(a.unhandled, 0);
    aplus_end(&a);
}

static void aplus_2_2_7_3_no_on_ok_passes_value(void **state)
{
    passes_through(state, 0);
}

static void aplus_2_2_7_4_no_on_err_passes_reason(void **state)
{
    passes_through(state, 1);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        APLUS_TIMED(aplus_2_2_1_1_null_on_ok_ignored),
        APLUS_TIMED(aplus_2_2_1_1_null_on_ok_chained),
        APLUS_TIMED(aplus_2_2_1_2_null_on_err_ignored),
        APLUS_TIMED(aplus_2_2_1_2_null_on_err_chained),

        APLUS_TIMED(aplus_2_2_2_1_called_with_value),
        cmocka_unit_test(aplus_2_2_2_2_not_before_fulfilled),
        cmocka_unit_test(aplus_2_2_2_2_never_fulfilled),
        APLUS_TIMED(aplus_2_2_2_3_once),
        cmocka_unit_test(aplus_2_2_2_3_fulfil_twice_immediately),
        cmocka_unit_test(aplus_2_2_2_3_fulfil_twice_delayed),
        cmocka_unit_test(aplus_2_2_2_3_fulfil_immediately_then_delayed),
        cmocka_unit_test(aplus_2_2_2_3_then_spaced_in_time),
        cmocka_unit_test(aplus_2_2_2_3_then_interleaved),

        APLUS_TIMED(aplus_2_2_3_1_called_with_reason),
        cmocka_unit_test(aplus_2_2_3_2_not_before_rejected),
        cmocka_unit_test(aplus_2_2_3_2_never_rejected),
        APLUS_TIMED(aplus_2_2_3_3_once),
        cmocka_unit_test(aplus_2_2_3_3_reject_twice_immediately),
        cmocka_unit_test(aplus_2_2_3_3_reject_twice_delayed),
        cmocka_unit_test(aplus_2_2_3_3_reject_immediately_then_delayed),
        cmocka_unit_test(aplus_2_2_3_3_then_spaced_in_time),
        cmocka_unit_test(aplus_2_2_3_3_then_interleaved),

        APLUS_TIMED(aplus_2_2_4_then_returns_first_fulfilled),
        APLUS_TIMED(aplus_2_2_4_then_returns_first_rejected),
        cmocka_unit_test(aplus_2_2_4_on_ok_added_before_fulfil),
        cmocka_unit_test(aplus_2_2_4_on_ok_added_after_fulfil),
        cmocka_unit_test(aplus_2_2_4_on_ok_inside_on_ok),
        cmocka_unit_test(aplus_2_2_4_on_ok_inside_on_err),
        cmocka_unit_test(aplus_2_2_4_fulfilled_asynchronously),
        cmocka_unit_test(aplus_2_2_4_on_err_added_before_reject),
        cmocka_unit_test(aplus_2_2_4_on_err_added_after_reject),
        cmocka_unit_test(aplus_2_2_4_on_err_inside_on_err),
        cmocka_unit_test(aplus_2_2_4_on_err_inside_on_ok),
        cmocka_unit_test(aplus_2_2_4_rejected_asynchronously),
        cmocka_unit_test(aplus_2_2_4_fulfil_inside_handler),
        cmocka_unit_test(aplus_2_2_4_reject_inside_handler),

        APLUS_TIMED(aplus_2_2_5_ctx_as_given_fulfilled),
        APLUS_TIMED(aplus_2_2_5_ctx_as_given_rejected),

        APLUS_TIMED(aplus_2_2_6_1_multiple_fulfilment_handlers),
        APLUS_TIMED(aplus_2_2_6_1_one_fulfilment_handler_fails),
        APLUS_TIMED(aplus_2_2_6_1_branching_chains),
        APLUS_TIMED(aplus_2_2_6_1_fulfilled_order),
        APLUS_TIMED(aplus_2_2_6_1_fulfilled_order_inner),
        APLUS_TIMED(aplus_2_2_6_1_fulfilled_inner_after_queued),
        APLUS_TIMED(aplus_2_2_6_2_multiple_rejection_handlers),
        APLUS_TIMED(aplus_2_2_6_2_one_rejection_handler_fails),
        APLUS_TIMED(aplus_2_2_6_2_branching_chains),
        APLUS_TIMED(aplus_2_2_6_2_rejected_order),
        APLUS_TIMED(aplus_2_2_6_2_rejected_order_inner),
        APLUS_TIMED(aplus_2_2_6_2_rejected_inner_after_queued),

        APLUS_TIMED(aplus_2_2_7_returns_vow_fulfilled),
        APLUS_TIMED(aplus_2_2_7_returns_vow_rejected),
        APLUS_TIMED(aplus_2_2_7_1_value_fulfils),
        APLUS_TIMED(aplus_2_2_7_1_value_fulfils_from_on_err),
        APLUS_TIMED(aplus_2_2_7_1_vow_adopted),
        APLUS_TIMED(aplus_2_2_7_1_vow_adopted_from_on_err),
        APLUS_TIMED(aplus_2_2_7_2_failure_rejects_from_on_ok),
        APLUS_TIMED(aplus_2_2_7_2_failure_rejects_from_on_err),
        cmocka_unit_test(aplus_2_2_7_2_failure_with_bad_code),
        APLUS_TIMED(aplus_2_2_7_3_no_on_ok_passes_value),
        APLUS_TIMED(aplus_2_2_7_4_no_on_err_passes_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
