/* SPDX-License-Identifier: MIT */
/*
 * vow_select: the first ready case wins and completes; every other case is withdrawn
 * in the same step. Channel cases wait as waiters on their channels' queues, so the
 * channel decides a win synchronously, while handing over, and the other channel
 * waiters leave their queues before any user code can run. VOW cases wait through a
 * pass-through reaction on their input; losing ones are cancelled, as vow_race does.
 */
#include "sync_int.h"

#include <string.h>

/* One case: a channel waiter, or a VOW input and our reaction on it. */
struct sel_case {
    struct sync_waiter w; /* RECV/SEND: the wait; VOW: only sel and index are used */
    int op;               /* VOW_SELECT_* */
    vow *input;           /* VOW: the input until a reaction takes it (or it wins at once) */
    vow *d;               /* VOW: the pass-through vow on the input, while registered */
};

/*
 * A select. Once it won, it is its vow's value (out first, so the value's ptr is a
 * vow_selected). It lives while the pending select or the value holds it (one
 * reference) and while any VOW reaction that may still run holds one.
 */
struct sync_sel {
    vow_selected out;       /* the outcome; must stay the first member */
    vow *p;                 /* the select's vow, weakly held while pending */
    size_t refs;            /* see above */
    size_t n;               /* cases */
    bool done;              /* a case won, or the select was withdrawn */
    struct sel_case cases[]; /* the cases, in the caller's order */
};

static void val_drop(vow_val v)
{
    if (v.drop)
        v.drop(v.ptr);
}

static void sel_release(struct sync_sel *s)
{
    if (--s->refs == 0)
        vow__free(s);
}

/* The drop of a won select's value. */
static void sel_value_drop(void *ptr)
{
    struct sync_sel *s = ptr;
    val_drop(s->out.val);
    s->out.val = vow_val_none();
    vow_unref(s->out.p);
    s->out.p = NULL;
    sel_release(s);
}

const vow_selected *vow_selected_get(const vow_val *v)
{
    return v && v->drop == sel_value_drop ? v->ptr : NULL;
}

/*
 * Withdraws every channel waiter, then every VOW reaction (cancelling its input when
 * nobody else wants it). The waiters go first: leaving a queue runs no user code, so
 * no hand-over can reach a case of this finished select; cancelling inputs may run
 * their producers' hooks.
 */
static void sel_withdraw(struct sync_sel *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->cases[i].op != VOW_SELECT_VOW)
            sync_case_withdraw(&s->cases[i].w);
    for (size_t i = 0; i < s->n; i++) {
        struct sel_case *k = &s->cases[i];
        vow *d = k->d, *in = k->input;
        k->d = k->input = NULL;
        if (d) {
            vow_cancel(d);
            vow_unref(d);
        }
        vow_unref(in);
    }
}

/* The select won with its out filled in: settle its vow, then withdraw the rest. A
 * temporary reference keeps s alive while withdrawing runs user code. */
static void sel_finish(struct sync_sel *s)
{
    s->done = true;
    s->refs++;
    vow *p = s->p;
    s->p = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->cases[i].op != VOW_SELECT_VOW)
            sync_case_withdraw(&s->cases[i].w);
    vow_resolve(p, vow_val_ptr(s, sel_value_drop));
    sel_withdraw(s);
    sel_release(s);
}

void sync_select_win(struct sync_waiter *w, int code, vow_val item)
{
    struct sync_sel *s = w->sel;
    /* Withdrawal is synchronous, so a finished select has no queued waiter left. */
    assert(!s->done);
    s->out.index = w->index;
    s->out.code = code;
    s->out.val = item;
    sel_finish(s);
}

static vow_ret swallow(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)code;
    (void)detail;
    return vow_ok(vow_val_none());
}

/* The select reports a rejected input in its outcome, so the rejection counts as
 * handled: a catch marks it (if even that cannot be allocated, the only cost is an
 * unhandled-rejection report). */
static void mark_handled(vow *p)
{
    vow_unref(vow_catch(vow_ref(p), swallow, NULL));
}

/* A VOW input settled: its case wins if nothing else did. Either way the
 * pass-through vow takes the input's outcome (vow_pass), so out.p can show it. */
static vow_ret sel_settled(struct sel_case *k, int code)
{
    struct sync_sel *s = k->w.sel;
    if (!s->done) {
        s->out.index = k->w.index;
        s->out.code = code;
        s->out.p = k->d;
        k->d = NULL;
        if (code)
            mark_handled(s->out.p);
        sel_finish(s);
    }
    return vow_pass();
}

static vow_ret sel_on_ok(void *ctx, const vow_val *v)
{
    (void)v;
    return sel_settled(ctx, 0);
}

static vow_ret sel_on_err(void *ctx, int code, const vow_val *detail)
{
    (void)detail;
    return sel_settled(ctx, code);
}

static void sel_case_drop(void *ctx)
{
    struct sel_case *k = ctx;
    sel_release(k->w.sel);
}

/* Abort hook of the select's vow: cancelled or dropped while waiting. */
static void sel_abort(void *ctx, vow *p)
{
    struct sync_sel *s = ctx;
    (void)p;
    s->done = true;
    s->p = NULL;
    sel_withdraw(s);
    sel_release(s);
}

static int case_valid(vow_loop *l, const vow_select_case *k)
{
    switch (k->op) {
    case VOW_SELECT_RECV:
    case VOW_SELECT_SEND:
        return k->chan &&
               k->chan->end[k->op == VOW_SELECT_SEND ? SYNC_SEND_END : SYNC_RECV_END].loop == l;
    case VOW_SELECT_VOW:
        return k->p && vow_loop_of(k->p) == l;
    default:
        return 0;
    }
}

static void unref_inputs(const vow_select_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cases[i].op == VOW_SELECT_VOW)
            vow_unref(cases[i].p);
}

/* Pass 1: the first case that can complete now does, in array order. Returns 1 if
 * one did (out is filled in), 0 if none can, or VOW_ENOMEM. */
static int sel_try_now(struct sync_sel *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct sel_case *k = &s->cases[i];
        int code = 0;
        vow_val item = vow_val_none();
        if (k->op == VOW_SELECT_VOW) {
            if (vow_state(k->input) == VOW_PENDING)
                continue;
            code = vow_code(k->input);
            s->out.p = k->input;
            k->input = NULL;
            if (code)
                mark_handled(s->out.p);
        } else {
            int r = sync_case_try(&k->w, &code, &item);
            if (r < 0)
                return r;
            if (r == 0)
                continue;
        }
        s->out.index = i;
        s->out.code = code;
        s->out.val = item;
        return 1;
    }
    return 0;
}

/* Pass 2: every case waits. Returns 0, or a negative code with nothing left waiting
 * that the caller's withdrawal would not find. */
static int sel_register(struct sync_sel *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct sel_case *k = &s->cases[i];
        if (k->op != VOW_SELECT_VOW) {
            int r = sync_case_enqueue(&k->w);
            if (r < 0)
                return r;
            continue;
        }
        vow *in = k->input;
        k->input = NULL;
        s->refs++;
        k->d = vow_then_full(in, sel_on_ok, sel_on_err, k, sel_case_drop);
        if (!k->d)
            return VOW_ENOMEM;
    }
    return 0;
}

vow *vow_select(vow_loop *l, const vow_select_case *cases, size_t n)
{
    if (!l) {
        if (cases)
            unref_inputs(cases, n);
        return NULL;
    }
    bool valid = n > 0 && cases;
    for (size_t i = 0; i < n; i++)
        valid = valid && case_valid(l, &cases[i]);
    if (!valid || n > (SIZE_MAX - sizeof(struct sync_sel)) / sizeof(struct sel_case)) {
        if (cases)
            unref_inputs(cases, n);
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    }
    struct sync_sel *s = vow__malloc(sizeof(*s) + n * sizeof(struct sel_case));
    vow *p = s ? vow_pending(l) : NULL;
    if (!p) {
        vow__free(s);
        unref_inputs(cases, n);
        return NULL;
    }
    memset(s, 0, sizeof(*s) + n * sizeof(struct sel_case));
    s->p = p;
    s->refs = 1;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        struct sel_case *k = &s->cases[i];
        k->op = cases[i].op;
        k->w.sel = s;
        k->w.index = i;
        if (k->op == VOW_SELECT_VOW) {
            k->input = cases[i].p;
            continue;
        }
        k->w.chan = cases[i].chan;
        k->w.kind = k->op == VOW_SELECT_SEND ? SW_SEND : SW_RECV;
        if (k->op == VOW_SELECT_SEND)
            k->w.val = cases[i].val;
    }

    int r = sel_try_now(s);
    if (r == 1) {
        sel_finish(s);
        return p;
    }
    if (r == 0)
        r = vow_on_cancel_named(p, sel_abort, s, "select");
    if (r < 0) {
        /* No hook: nothing waits yet, so the inputs are simply released. */
        s->done = true;
        sel_withdraw(s);
        vow_unref(p);
        sel_release(s);
        return NULL;
    }
    r = sel_register(s);
    if (r < 0) {
        /* Dropping the pending vow runs sel_abort, which withdraws what waits. */
        vow_unref(p);
        return r == VOW_ENOMEM ? NULL : vow_rejected(l, r, vow_val_none());
    }
    return p;
}
