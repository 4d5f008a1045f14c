/* SPDX-License-Identifier: MIT */
/*
 * ECMAScript combinator semantics for vow_all, vow_all_settled, vow_race and vow_any
 * (input order, first rejection / settlement / fulfilment wins, empty inputs, NULL
 * inputs, losers cancelled only when nobody else holds them), and the timer vows
 * vow_delay and vow_timeout, checked only against the loop clock.
 */
#include "aplus.h"

/* Counts abort hooks and checks the vow was cancelled when they ran. */
struct hooked {
    int calls;     /* hook runs */
    int last_code; /* code of the vow when the hook ran */
};

static void on_cancel(void *ctx, vow *p)
{
    struct hooked *h = ctx;
    h->calls++;
    h->last_code = vow_code(p);
}

/* A pending vow whose cancellation (or drop while pending) we can see. */
static vow *watched(struct aplus *a, struct hooked *h)
{
    vow *p = vow_pending(a->l);
    assert_non_null(p);
    assert_int_equal(vow_on_cancel(p, on_cancel, h), 0);
    return p;
}

/* A pending vow settled from a timer after ms (the timer holds a reference). */
static vow *later(struct aplus *a, uint64_t ms, int code, vow_val v)
{
    vow *p = vow_pending(a->l);
    assert_non_null(p);
    aplus_settle_at(a, ms, p, code, v);
    return p;
}

/* The list a combinator settled with, checked for length. */
static const vow_list *list_of(vow *r, size_t n)
{
    const vow_list *list = vow_list_get(vow_value(r));
    assert_non_null(list);
    assert_int_equal(list->n, n);
    return list;
}

/* Records when a handler ran on the loop clock. */
struct when {
    vow_loop *l; /* the loop */
    uint64_t at; /* vow_loop_now() in the handler */
    int calls;   /* handler runs */
    int code;    /* 0 or the rejection code seen */
};

static vow_ret when_ok(void *ctx, const vow_val *v)
{
    struct when *w = ctx;
    (void)v;
    w->at = vow_loop_now(w->l);
    w->calls++;
    return vow_pass();
}

static vow_ret when_err(void *ctx, int code, const vow_val *d)
{
    struct when *w = ctx;
    (void)d;
    w->at = vow_loop_now(w->l);
    w->calls++;
    w->code = code;
    return vow_ok(vow_val_none());
}

/* Runs single turns until p settles, so what is still alive afterwards is visible. */
static void run_until_settled(struct aplus *a, vow *p)
{
    while (vow_state(p) == VOW_PENDING)
        assert_true(vow_loop_run(a->l, VOW_RUN_ONCE) >= 0);
}

/* --------------------------------------------------------------------- all */

static void all_input_order(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow_val v0 = aplus_val(&a), v1 = aplus_val(&a), v2 = aplus_val(&a);
    /* Settled in reverse order: the list still follows the input order. */
    vow *in[3] = {later(&a, 3, 0, v0), later(&a, 1, 0, v1), vow_resolved(a.l, v2)};
    vow *r = vow_all(a.l, in, 3);
    vow *d = aplus_on(vow_ref(r), 0, &pr);
    aplus_run(&a);
    assert_int_equal(pr.ok, 1);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    const vow_list *list = list_of(r, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vow_state(list->items[i]), VOW_FULFILLED);
        assert_ptr_equal(vow_value(list->items[i])->ptr, &a.tokens[i]);
        assert_int_equal(a.tokens[i].drops, 0);
    }
    vow_unref(d);
    /* The list holds the inputs: their values go when the result goes. */
    vow_unref(r);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(a.tokens[i].drops, 1);
    aplus_end(&a);
}

static void all_first_rejection_wins(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *in[3] = {later(&a, 3, -EIO, vow_val_none()), later(&a, 1, VOW_EUSER, aplus_val(&a)),
                  later(&a, 2, 0, vow_val_num(2))};
    vow *r = vow_all(a.l, in, 3);
    vow *d = aplus_on(vow_ref(r), 1, &pr);
    aplus_run(&a);
    assert_int_equal(pr.err, 1);
    assert_int_equal(pr.code, VOW_EUSER);
    assert_ptr_equal(pr.ptr, &a.tokens[0]);
    assert_int_equal(vow_code(r), VOW_EUSER);
    assert_ptr_equal(vow_value(r)->ptr, &a.tokens[0]);
    /* The later rejection of an input was handled by all itself. */
    assert_int_equal(a.unhandled, 0);
    vow_unref(d);
    vow_unref(r);
    aplus_end(&a);
}

/* Empty input: all and all_settled fulfil at once with an empty list. */
static void all_empty(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in[1] = {NULL};
    vow *r[4] = {vow_all(a.l, NULL, 0), vow_all(a.l, in, 0), vow_all_settled(a.l, NULL, 0),
                 vow_all_settled(a.l, in, 0)};
    for (int i = 0; i < 4; i++) {
        assert_non_null(r[i]);
        assert_int_equal(vow_state(r[i]), VOW_FULFILLED);
        list_of(r[i], 0);
    }
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *d = aplus_on(vow_ref(r[0]), 0, &pr);
    assert_int_equal(pr.ok, 0);
    aplus_run(&a);
    assert_int_equal(pr.ok, 1);
    vow_unref(d);
    for (int i = 0; i < 4; i++)
        vow_unref(r[i]);
    aplus_end(&a);
}

/* Already-settled and pending inputs mixed, for each combinator. */
static void mixed_inputs(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in_all[3] = {vow_resolved(a.l, vow_val_num(1)), later(&a, 1, 0, vow_val_num(2)),
                      vow_resolved(a.l, vow_val_num(3))};
    vow *all = vow_all(a.l, in_all, 3);
    vow *in_set[2] = {vow_rejected(a.l, -EIO, vow_val_none()), later(&a, 1, 0, vow_val_num(2))};
    vow *settled = vow_all_settled(a.l, in_set, 2);
    vow *in_race[2] = {later(&a, 1, 0, vow_val_num(1)), vow_resolved(a.l, aplus_val(&a))};
    vow *race = vow_race(a.l, in_race, 2);
    vow *in_any[2] = {vow_rejected(a.l, -EIO, vow_val_none()), later(&a, 1, 0, vow_val_num(5))};
    vow *any = vow_any(a.l, in_any, 2);
    aplus_run(&a);
    const vow_list *list = list_of(all, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(vow_value(list->items[i])->num, (int64_t)i + 1);
    list = list_of(settled, 2);
    assert_int_equal(vow_code(list->items[0]), -EIO);
    assert_int_equal(vow_value(list->items[1])->num, 2);
    assert_ptr_equal(vow_value(race)->ptr, &a.tokens[0]);
    assert_int_equal(vow_state(any), VOW_FULFILLED);
    assert_int_equal(vow_value(any)->num, 5);
    assert_int_equal(a.unhandled, 0);
    vow_unref(all);
    vow_unref(settled);
    vow_unref(race);
    vow_unref(any);
    aplus_end(&a);
}

/* ------------------------------------------------------------- all_settled */

static void all_settled_codes(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in[4] = {vow_resolved(a.l, aplus_val(&a)), vow_rejected(a.l, -EIO, vow_val_none()),
                  later(&a, 2, VOW_EUSER, aplus_val(&a)), later(&a, 1, 0, vow_val_num(4))};
    vow *r = vow_all_settled(a.l, in, 4);
    aplus_run(&a);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    const vow_list *list = list_of(r, 4);
    static const int states[4] = {VOW_FULFILLED, VOW_REJECTED, VOW_REJECTED, VOW_FULFILLED};
    static const int codes[4] = {0, -EIO, VOW_EUSER, 0};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(vow_state(list->items[i]), states[i]);
        assert_int_equal(vow_code(list->items[i]), codes[i]);
    }
    assert_ptr_equal(vow_value(list->items[0])->ptr, &a.tokens[0]);
    assert_ptr_equal(vow_value(list->items[2])->ptr, &a.tokens[1]);
    assert_int_equal(vow_value(list->items[3])->num, 4);
    /* Rejected inputs were handled by all_settled: nothing is reported. */
    assert_int_equal(a.unhandled, 0);
    vow_unref(r);
    aplus_end(&a);
}

/* -------------------------------------------------------------------- race */

static void race_first_settled_wins(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in1[2] = {later(&a, 3, 0, vow_val_num(1)), later(&a, 1, -EIO, aplus_val(&a))};
    vow *rej = vow_race(a.l, in1, 2);
    vow *in2[2] = {later(&a, 3, -EIO, vow_val_none()), later(&a, 1, 0, aplus_val(&a))};
    vow *ful = vow_race(a.l, in2, 2);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *d = aplus_on(vow_ref(rej), 1, &pr);
    aplus_run(&a);
    assert_int_equal(pr.err, 1);
    assert_int_equal(vow_code(rej), -EIO);
    assert_ptr_equal(vow_value(rej)->ptr, &a.tokens[0]);
    assert_int_equal(vow_state(ful), VOW_FULFILLED);
    assert_ptr_equal(vow_value(ful)->ptr, &a.tokens[1]);
    /* The losing rejection came later, to a race that already handled it. */
    assert_int_equal(a.unhandled, 0);
    vow_unref(d);
    vow_unref(rej);
    vow_unref(ful);
    aplus_end(&a);
}

/* Several inputs already settled: the first in input order wins. */
static void race_settled_inputs_in_order(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in[3] = {vow_pending(a.l), vow_rejected(a.l, VOW_EUSER, aplus_val(&a)),
                  vow_resolved(a.l, aplus_val(&a))};
    vow *first_pending = vow_ref(in[0]);
    /* Another consumer wants the pending loser (a reference alone would not). */
    vow *keeper = vow_then(vow_ref(in[0]), NULL, NULL, NULL);
    vow *r = vow_race(a.l, in, 3);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *d = aplus_on(vow_ref(r), 1, &pr);
    aplus_run(&a);
    assert_int_equal(pr.err, 1);
    assert_int_equal(vow_code(r), VOW_EUSER);
    assert_ptr_equal(vow_value(r)->ptr, &a.tokens[0]);
    /* Another consumer wants the pending loser, so the race did not cancel it. */
    assert_int_equal(vow_state(first_pending), VOW_PENDING);
    assert_int_equal(vow_resolve(first_pending, vow_val_num(1)), 0);
    aplus_run(&a);
    assert_int_equal(vow_code(r), VOW_EUSER);
    assert_int_equal(vow_state(keeper), VOW_FULFILLED);
    vow_unref(keeper);
    vow_unref(first_pending);
    vow_unref(d);
    vow_unref(r);
    aplus_end(&a);
}

static void race_empty_stays_pending(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *r = vow_race(a.l, NULL, 0);
    assert_non_null(r);
    aplus_run(&a);
    assert_int_equal(vow_state(r), VOW_PENDING);
    assert_int_equal(vow_cancel(r), 0);
    assert_int_equal(vow_code(r), VOW_ECANCELED);
    vow_unref(r);
    aplus_end(&a);
}

/*
 * race and any cancel the losers no other consumer wants; a loser another consumer
 * waits on is left alone (and still settles normally, without touching the result).
 */
static void losers_cancelled(void **state, int any)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct hooked alone = {0}, kept = {0}, timer = {0};
    vow *in[5];
    in[0] = watched(&a, &alone);
    in[1] = watched(&a, &kept);
    vow *mine = vow_ref(in[1]);
    vow *keeper = vow_then(vow_ref(in[1]), NULL, NULL, NULL);
    in[2] = vow_delay(a.l, 60000, aplus_val(&a));
    assert_int_equal(vow_on_cancel(in[2], on_cancel, &timer), 0);
    /* any skips a rejection; race would take it, so it only comes for any. */
    in[3] = any ? vow_rejected(a.l, -EIO, vow_val_none()) : vow_delay(a.l, 60000, vow_val_num(0));
    in[4] = vow_delay(a.l, 1, aplus_val(&a));
    vow *r = any ? vow_any(a.l, in, 5) : vow_race(a.l, in, 5);
    run_until_settled(&a, r);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    assert_ptr_equal(vow_value(r)->ptr, &a.tokens[1]);
    assert_int_equal(alone.calls, 1);
    assert_int_equal(alone.last_code, VOW_ECANCELED);
    assert_int_equal(timer.calls, 1);
    assert_int_equal(a.tokens[0].drops, 1);
    assert_int_equal(kept.calls, 0);
    assert_int_equal(vow_state(mine), VOW_PENDING);
    /* The 60 s timers were stopped: nothing keeps the loop alive. */
    assert_int_equal(vow_loop_alive(a.l), 0);
    assert_int_equal(vow_resolve(mine, vow_val_num(9)), 0);
    aplus_run(&a);
    assert_ptr_equal(vow_value(r)->ptr, &a.tokens[1]);
    assert_int_equal(kept.calls, 0);
    vow_unref(keeper);
    vow_unref(mine);
    vow_unref(r);
    aplus_end(&a);
}

static void race_cancels_own_losers(void **state)
{
    losers_cancelled(state, 0);
}

static void any_cancels_own_losers(void **state)
{
    losers_cancelled(state, 1);
}

/* --------------------------------------------------------------------- any */

static void any_first_fulfilment(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in[3] = {later(&a, 1, -EIO, vow_val_none()), later(&a, 2, 0, aplus_val(&a)),
                  later(&a, 3, 0, vow_val_num(3))};
    vow *r = vow_any(a.l, in, 3);
    aplus_run(&a);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    assert_ptr_equal(vow_value(r)->ptr, &a.tokens[0]);
    assert_int_equal(a.unhandled, 0);
    vow_unref(r);
    aplus_end(&a);
}

static void any_all_rejected(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in[3] = {later(&a, 3, -EIO, vow_val_none()), later(&a, 1, VOW_EUSER, aplus_val(&a)),
                  vow_rejected(a.l, -ENOENT, vow_val_num(7))};
    vow *r = vow_any(a.l, in, 3);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *d = aplus_on(vow_ref(r), 1, &pr);
    aplus_run(&a);
    assert_int_equal(pr.err, 1);
    assert_int_equal(pr.code, VOW_EAGGREGATE);
    assert_int_equal(vow_code(r), VOW_EAGGREGATE);
    /* The rejections in input order, whatever order they came in. */
    const vow_list *list = list_of(r, 3);
    static const int codes[3] = {-EIO, VOW_EUSER, -ENOENT};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vow_state(list->items[i]), VOW_REJECTED);
        assert_int_equal(vow_code(list->items[i]), codes[i]);
    }
    assert_ptr_equal(vow_value(list->items[1])->ptr, &a.tokens[0]);
    assert_int_equal(vow_value(list->items[2])->num, 7);
    assert_int_equal(a.unhandled, 0);
    vow_unref(d);
    assert_int_equal(a.tokens[0].drops, 0);
    vow_unref(r);
    aplus_end(&a);
}

static void any_empty_aggregate(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *r = vow_any(a.l, NULL, 0);
    assert_non_null(r);
    assert_int_equal(vow_state(r), VOW_REJECTED);
    assert_int_equal(vow_code(r), VOW_EAGGREGATE);
    list_of(r, 0);
    /* Nobody handles it: it is reported, once. */
    aplus_run(&a);
    assert_int_equal(a.unhandled, 1);
    assert_int_equal(a.last_unhandled_code, VOW_EAGGREGATE);
    vow_unref(r);
    aplus_end(&a);
}

/* ------------------------------------------------------------- bad inputs */

/* A NULL input rejects the result with VOW_EINVAL; the other inputs are consumed. */
static void null_input_rejects(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *(*comb[4])(vow_loop *, vow **, size_t) = {vow_all, vow_all_settled, vow_race, vow_any};
    struct hooked h[4] = {{0}};
    for (int k = 0; k < 4; k++) {
        vow *in[3] = {vow_resolved(a.l, aplus_val(&a)), NULL, watched(&a, &h[k])};
        vow *r = comb[k](a.l, in, 3);
        assert_non_null(r);
        struct aplus_probe pr;
        aplus_probe_init(&pr, &a, k + 1);
        vow *d = aplus_on(vow_ref(r), 1, &pr);
        aplus_run(&a);
        assert_int_equal(pr.err, 1);
        assert_int_equal(pr.code, VOW_EINVAL);
        assert_int_equal(vow_code(r), VOW_EINVAL);
        /* The pending input nobody else held went with the call. */
        assert_int_equal(h[k].calls, 1);
        assert_int_equal(a.tokens[k].drops, 1);
        vow_unref(d);
        vow_unref(r);
    }
    aplus_end(&a);
}

/* A NULL array with a non-zero count is bad input too: a rejected vow, not NULL. */
static void null_array_rejects(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *r[4] = {vow_all(a.l, NULL, 2), vow_all_settled(a.l, NULL, 2), vow_race(a.l, NULL, 2),
                 vow_any(a.l, NULL, 2)};
    for (int k = 0; k < 4; k++) {
        assert_non_null(r[k]);
        assert_int_equal(vow_code(r[k]), VOW_EINVAL);
        assert_int_equal(vow_cancel(r[k]), VOW_ESETTLED);
        vow_unref(r[k]);
    }
    aplus_run(&a);
    aplus_end(&a);
}

/* ------------------------------------------------------------------- delay */

static void delay_fulfils_after_deadline(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct when w = {.l = a.l};
    uint64_t t0 = vow_loop_now(a.l);
    vow *p = vow_delay(a.l, 5, aplus_val(&a));
    assert_non_null(p);
    vow *d = vow_then(vow_ref(p), when_ok, when_err, &w);
    vow *zero = vow_delay(a.l, 0, vow_val_num(0));
    /* Even a zero delay settles from the loop, never inside the call. */
    assert_int_equal(vow_state(zero), VOW_PENDING);
    assert_int_equal(vow_state(p), VOW_PENDING);
    aplus_run(&a);
    assert_int_equal(w.calls, 1);
    assert_true(w.at >= t0 + 5);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_ptr_equal(vow_value(p)->ptr, &a.tokens[0]);
    assert_int_equal(vow_state(zero), VOW_FULFILLED);
    vow_unref(zero);
    vow_unref(d);
    vow_unref(p);
    aplus_end(&a);
}

static void delay_cancel_stops_timer(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *p = vow_delay(a.l, 60000, aplus_val(&a));
    assert_int_equal(vow_loop_alive(a.l), 1);
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    /* The value it would have carried is dropped with the timer. */
    assert_int_equal(a.tokens[0].drops, 1);
    assert_int_equal(vow_loop_alive(a.l), 0);
    aplus_run(&a);
    assert_int_equal(a.unhandled, 0);
    vow_unref(p);
    aplus_end(&a);
}

/* ----------------------------------------------------------------- timeout */

/* An input that settles first passes through, and the deadline timer goes away. */
static void timeout_settles_like_input(void **state, int rj)
{
    struct aplus a;
    aplus_begin(&a, state);
    vow *in = later(&a, 1, rj ? -EIO : 0, aplus_val(&a));
    vow *t = vow_timeout(in, 60000);
    assert_non_null(t);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *d = aplus_on(vow_ref(t), rj, &pr);
    run_until_settled(&a, t);
    assert_int_equal(vow_state(t), rj ? VOW_REJECTED : VOW_FULFILLED);
    assert_int_equal(vow_code(t), rj ? -EIO : 0);
    assert_ptr_equal(vow_value(t)->ptr, &a.tokens[0]);
    aplus_run(&a);
    assert_int_equal(aplus_calls(&pr, rj), 1);
    assert_ptr_equal(pr.ptr, &a.tokens[0]);
    assert_int_equal(vow_loop_alive(a.l), 0);
    /* An already-settled input passes through the same way. */
    vow *t2 = vow_timeout(vow_resolved(a.l, aplus_val(&a)), 60000);
    run_until_settled(&a, t2);
    assert_ptr_equal(vow_value(t2)->ptr, &a.tokens[1]);
    aplus_run(&a);
    assert_int_equal(vow_loop_alive(a.l), 0);
    vow_unref(t2);
    vow_unref(d);
    vow_unref(t);
    aplus_end(&a);
}

static void timeout_passes_fulfilment(void **state)
{
    timeout_settles_like_input(state, 0);
}

static void timeout_passes_rejection(void **state)
{
    timeout_settles_like_input(state, 1);
}

/* The deadline comes first: VOW_ETIMEDOUT, not early, and the input is cancelled. */
static void timeout_expires(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct hooked h = {0};
    struct when w = {.l = a.l};
    uint64_t t0 = vow_loop_now(a.l);
    vow *t = vow_timeout(watched(&a, &h), 5);
    vow *d = vow_then(vow_ref(t), when_ok, when_err, &w);
    aplus_run(&a);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.code, VOW_ETIMEDOUT);
    assert_true(w.at >= t0 + 5);
    assert_int_equal(vow_code(t), VOW_ETIMEDOUT);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.last_code, VOW_ECANCELED);
    assert_int_equal(a.unhandled, 0);
    vow_unref(d);
    vow_unref(t);
    aplus_end(&a);
}

/* An input another consumer still waits on times out without being cancelled. */
static void timeout_keeps_shared_input(void **state)
{
    struct aplus a;
    aplus_begin(&a, state);
    struct hooked h = {0};
    vow *in = watched(&a, &h);
    vow *keeper = vow_then(vow_ref(in), NULL, NULL, NULL);
    vow *t = vow_timeout(vow_ref(in), 2);
    struct aplus_probe pr;
    aplus_probe_init(&pr, &a, 1);
    vow *d = aplus_on(vow_ref(t), 1, &pr);
    aplus_run(&a);
    assert_int_equal(pr.code, VOW_ETIMEDOUT);
    assert_int_equal(h.calls, 0);
    assert_int_equal(vow_state(in), VOW_PENDING);
    /* Settling it afterwards changes nothing for the timed-out vow. */
    assert_int_equal(vow_resolve(in, aplus_val(&a)), 0);
    aplus_run(&a);
    assert_int_equal(vow_code(t), VOW_ETIMEDOUT);
    assert_int_equal(pr.err, 1);
    vow_unref(keeper);
    vow_unref(in);
    vow_unref(d);
    vow_unref(t);
    aplus_end(&a);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_input_order),
        cmocka_unit_test(all_first_rejection_wins),
        cmocka_unit_test(all_empty),
        cmocka_unit_test(mixed_inputs),
        cmocka_unit_test(all_settled_codes),
        cmocka_unit_test(race_first_settled_wins),
        cmocka_unit_test(race_settled_inputs_in_order),
        cmocka_unit_test(race_empty_stays_pending),
        cmocka_unit_test(race_cancels_own_losers),
        cmocka_unit_test(any_first_fulfilment),
        cmocka_unit_test(any_all_rejected),
        cmocka_unit_test(any_empty_aggregate),
        cmocka_unit_test(any_cancels_own_losers),
        cmocka_unit_test(null_input_rejects),
        cmocka_unit_test(null_array_rejects),
        cmocka_unit_test(delay_fulfils_after_deadline),
        cmocka_unit_test(delay_cancel_stops_timer),
        cmocka_unit_test(timeout_passes_fulfilment),
        cmocka_unit_test(timeout_passes_rejection),
        cmocka_unit_test(timeout_expires),
        cmocka_unit_test(timeout_keeps_shared_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
