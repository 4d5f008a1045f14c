/* SPDX-License-Identifier: MIT */
/*
 * Scopes: structured concurrency over coroutines and vows, built on the public API
 * plus the coroutine seam (scope_int.h). A scope owns child records; a coroutine
 * child's record doubles as the coroutine's scope record, which co.c consults at
 * every vow_await (is a scope around it cancelled?), from its vow's abort hook (the
 * coroutine was cancelled) and when it returns (the child has finished). The scopes a
 * coroutine opened form a stack, innermost on top, through which cancellation flows
 * inwards until a shield stops it. Loop thread only.
 */
#include "scope_int.h"

#include "vow.h"
#include "vow/scope.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

struct child;
struct joiner;

/* scope.c's record of one coroutine (co.c holds it as the coroutine's scope). */
struct vow__co_scope {
    struct co *co;           /* the coroutine; NULL once it returned */
    vow_scope *top;          /* innermost scope it opened and has not closed, or NULL */
    vow_scope *bottom;       /* outermost such scope, or NULL */
    vow_scope *awaiting;     /* whose join its current vow_await waits for, or NULL */
    struct child *child;     /* its record in the scope it was spawned into, or NULL */
    struct joiner *joiners;  /* vow_co_join waits, newest first */
};

/* A child of a scope. */
struct child {
    struct vow__co_scope cs;    /* a coroutine child's scope record (cs.child == this) */
    vow_scope *scope;           /* the owner */
    vow *p;                     /* its vow (a reference), or NULL (a failed spawn) */
    struct child *prev, *next;  /* the scope's children kept, in the order added */
    struct child *next_failed;  /* the scope's failures kept, in the order they failed */
    int code;                   /* a failure the vow does not show (no memory), or 0 */
    uint8_t listed;             /* on prev/next */
};

/*
 * Child records come from blocks the scope owns, one allocation per block rather than
 * per child (blocks grow from 8 to 512 records); the record of a child released at
 * once (discard mode) goes back to the scope's spare list for the next child, and
 * every block is freed with the scope. A long-lived scope thus holds as many records
 * as it ever had children running at once.
 */
struct block {
    struct block *next;  /* the scope's blocks, newest first */
    size_t cap;          /* records in recs */
    size_t used;         /* records of recs handed out so far */
    struct child recs[]; /* the records */
};

#define BLOCK_MIN 8
#define BLOCK_MAX 512

/* A pending vow_scope_join. */
struct join {
    vow_scope *scope;  /* the scope joined */
    vow *p;            /* the join (a reference while pending) */
    struct join *next; /* the scope's pending joins, oldest first */
};

/* A pending vow_co_join of a live coroutine. */
struct joiner {
    struct vow__co_scope *cs; /* the joined coroutine's record */
    vow *gate;                /* resolved when it returns; the join waits on it */
    struct joiner *next;      /* cs->joiners */
};

struct vow_scope {
    vow_loop *loop;                /* where its children run */
    unsigned flags;                /* VOW_SCOPE_* */
    unsigned refs;                 /* the user's until closed, one per live child, and
                                      one per call in progress that may run user code */
    int cancel_code;               /* 0, or why it was cancelled: VOW_ECANCELED or
                                      VOW_ETIMEDOUT */
    int fail_code;                 /* the first failure's code, or 0 */
    uint8_t closed;                /* vow_scope_close ran (or its coroutine returned) */
    uint8_t expired;               /* its own deadline passed */
    uint8_t timer_on;              /* the deadline's timer is started */
    size_t n_live;                 /* children not finished */
    size_t n_failed;               /* failures so far */
    size_t n_kept;                 /* children on head/tail */
    size_t n_failed_kept;          /* failures on failed/failed_tail */
    struct child *head, *tail;     /* children kept, in the order added */
    struct child *failed, *failed_tail; /* failures kept, in the order they failed */
    struct join *joins, *joins_tail;    /* pending joins, oldest first */
    struct block *blocks;          /* where child records come from */
    struct child *spare;           /* released records, linked by next */
    struct vow__co_scope *owner;   /* the coroutine whose code it covers, or NULL */
    vow_scope *outer, *inner;      /* its neighbours on the owner's stack */
    vow_timer timer;               /* the deadline */
    vow_scope *reg_prev, *reg_next; /* its loop's scopes, for inspection */
    uint8_t reg_listed;            /* on them (not when their record had no memory) */
};

#define SCOPE_FLAGS                                                                        \
    (VOW_SCOPE_SUPERVISOR | VOW_SCOPE_DISCARD | VOW_SCOPE_SHIELD | VOW_SCOPE_MOVE_ON)

static void scope_cancel(vow_scope *s, int code);
static void child_done(struct child *c);

/* ------------------------------------------------------------- lifetime */

/* Releases a record that is on no list. */
static void child_free(vow_scope *s, struct child *c)
{
    vow_unref(c->p);
    c->p = NULL;
    c->next = s->spare;
    s->spare = c;
}

static void scope_unlist(vow_scope *s);

static void scope_free(vow_scope *s)
{
    scope_unlist(s);
    assert(s->closed && s->n_live == 0 && !s->joins && !s->owner);
    /* Failures kept off the children list (discard mode), and the list. */
    for (struct child *c = s->failed; c; c = c->next_failed)
        if (!c->listed)
            vow_unref(c->p);
    for (struct child *c = s->head; c; c = c->next)
        vow_unref(c->p);
    for (struct block *b = s->blocks, *next; b; b = next) {
        next = b->next;
        vow_free(b);
    }
    vow_free(s);
}

static void scope_unref(vow_scope *s)
{
    if (--s->refs == 0)
        scope_free(s);
}

static void timer_off(vow_scope *s)
{
    if (s->timer_on) {
        vow_timer_stop(&s->timer);
        s->timer_on = 0;
    }
}

/* The scope record of co, made on first need; NULL on out-of-memory. */
static struct vow__co_scope *co_record(struct co *co)
{
    struct vow__co_scope *cs = vow__co_scope(co);
    if (cs)
        return cs;
    cs = vow_malloc(sizeof(*cs));
    if (!cs)
        return NULL;
    memset(cs, 0, sizeof(*cs));
    cs->co = co;
    vow__co_scope_set(co, cs);
    return cs;
}

/* ----------------------------------------------------------- cancellation */

/*
 * What the code of cs's coroutine that runs inside all its open scopes meets at a
 * vow_await: the innermost cancelled scope's code, unless a shield comes first; the
 * coroutine's own cancellation lies outside every scope. stop is the scope whose join
 * is being awaited: its cancellation and everything outside it go to its children,
 * and the join settles once they finished.
 */
static int effective(const struct vow__co_scope *cs, const vow_scope *stop)
{
    for (const vow_scope *x = cs->top; x; x = x->outer) {
        if (x == stop)
            return 0;
        if (x->cancel_code)
            return x->cancel_code;
        if (x->flags & VOW_SCOPE_SHIELD)
            return 0;
    }
    return cs->co && vow__co_canceled(cs->co) ? VOW_ECANCELED : 0;
}

/* Wakes cs's coroutine (not returned: scopes it covers and its own vow's hook are
 * the only callers) if its current wait is no longer covered. */
static void recheck(struct vow__co_scope *cs)
{
    assert(cs->co);
    int code = effective(cs, cs->awaiting);
    if (code)
        vow__co_interrupt(cs->co, code);
}

/* Marks s cancelled and cancels its children; nothing else. */
static void cancel_one(vow_scope *s, int code)
{
    s->cancel_code = code;
    timer_off(s);
    /* Cancelling a vow runs no handler and finishes no child synchronously (a child
     * finishes from a microtask), so the list holds still; children added meanwhile
     * by abort hooks are appended and cancelled as they are added. */
    for (struct child *c = s->head; c; c = c->next)
        if (c->p && vow_state(c->p) == VOW_PENDING)
            vow_cancel(c->p);
}

/*
 * Cancels s, the scopes opened after it in the same coroutine (up to a shield), and
 * through the children's vows everything they run; then wakes the coroutine whose
 * code s covers if its wait is affected. The first reason sticks.
 */
static void scope_cancel(vow_scope *s, int code)
{
    if (s->cancel_code || s->closed)
        return;
    s->refs++;
    cancel_one(s, code);
    /* Abort hooks run by the cancellations may close an inner scope that is left
     * without children: each is held while it is worked on. */
    for (vow_scope *x = s->inner; x && !(x->flags & VOW_SCOPE_SHIELD);) {
        x->refs++;
        if (!x->cancel_code)
            cancel_one(x, code);
        vow_scope *next = x->inner;
        scope_unref(x);
        x = next;
    }
    if (s->owner)
        recheck(s->owner);
    scope_unref(s);
}

static void on_deadline(vow_timer *t)
{
    vow_scope *s = t->data;
    s->timer_on = 0;
    s->expired = 1;
    scope_cancel(s, VOW_ETIMEDOUT);
}

/* --------------------------------------------------------- the coroutine seam */

int vow__scope_before_await(struct vow__co_scope *cs, const vow *p)
{
    /* A child waiting for its own scope's join would wait for itself. */
    if (p && cs->child) {
        for (struct join *j = cs->child->scope->joins; j; j = j->next)
            if (j->p == p)
                return VOW_ECYCLE;
    }
    /* The common case: no scope of its own around the call. */
    if (!cs->top) {
        cs->awaiting = NULL;
        return vow__co_canceled(cs->co) ? VOW_ECANCELED : 0;
    }
    vow_scope *stop = NULL;
    if (p) {
        for (vow_scope *x = cs->top; x && !stop; x = x->outer)
            for (struct join *j = x->joins; j; j = j->next)
                if (j->p == p) {
                    stop = x;
                    break;
                }
    }
    int code = effective(cs, stop);
    cs->awaiting = code ? NULL : stop;
    return code;
}

void vow__scope_on_cancel(struct vow__co_scope *cs)
{
    vow_scope *b = cs->bottom;
    if (b && !(b->flags & VOW_SCOPE_SHIELD))
        scope_cancel(b, VOW_ECANCELED);
    recheck(cs);
}

static void joiners_release(struct vow__co_scope *cs);
static vow_ret child_ok(void *ctx, const vow_val *v);
static vow_ret child_err(void *ctx, int code, const vow_val *detail);

void vow__scope_returned(struct vow__co_scope *cs, vow *result)
{
    cs->co = NULL;
    cs->awaiting = NULL;
    /* Scopes it left open are cancelled and closed for it: their children must not
     * outlive the code that opened them. */
    while (cs->top) {
        vow_scope *s = cs->top;
        cs->top = s->outer;
        if (cs->top)
            cs->top->inner = NULL;
        else
            cs->bottom = NULL;
        s->owner = NULL;
        s->outer = NULL;
        if (s->n_live)
            scope_cancel(s, VOW_ECANCELED);
        timer_off(s);
        s->closed = 1;
        scope_unref(s);
    }
    joiners_release(cs);
    struct child *c = cs->child;
    if (!c) {
        vow_free(cs);
        return;
    }
    if (vow_state(result) != VOW_PENDING) {
        child_done(c);
        return;
    }
    /* It returned vow_follow(q): finished once its vow settles too. */
    vow *d = vow_then_full(vow_ref(result), child_ok, child_err, c, NULL);
    if (d) {
        vow_unref(d);
        return;
    }
    c->code = VOW_ENOMEM;
    vow_cancel(result);
    child_done(c);
}

/* ------------------------------------------------------------------ joins */

static vow_val empty_list(void)
{
    vow_val v = vow_val_none();
    vow_val_list(NULL, 0, &v);
    return v;
}

/* The list of the kept children (failures: along next_failed). */
static int make_list(vow_scope *s, int failures, vow_val *ret)
{
    size_t n = failures ? s->n_failed_kept : s->n_kept;
    vow **items = n ? vow_malloc(n * sizeof(*items)) : NULL;
    if (n && !items)
        return VOW_ENOMEM;
    size_t i = 0;
    if (failures) {
        for (struct child *c = s->failed; c; c = c->next_failed)
            if (c->p)
                items[i++] = c->p;
    } else {
        for (struct child *c = s->head; c; c = c->next)
            items[i++] = c->p;
    }
    int r = vow_val_list(items, i, ret);
    vow_free(items);
    return r;
}

/* Settles j with the scope's outcome (every child has finished). */
static void join_settle(vow_scope *s, vow *j)
{
    vow_val v = vow_val_none();
    if (s->n_failed) {
        if (make_list(s, 1, &v) < 0)
            v = vow_val_none();
        vow_reject(j, s->fail_code, v);
    } else if (s->cancel_code && !(s->expired && (s->flags & VOW_SCOPE_MOVE_ON))) {
        vow_reject(j, s->cancel_code, empty_list());
    } else if (make_list(s, 0, &v) == 0) {
        vow_resolve(j, v);
    } else {
        vow_reject(j, VOW_ENOMEM, vow_val_none());
    }
}

static void joins_settle(vow_scope *s)
{
    while (s->joins) {
        struct join *j = s->joins;
        s->joins = j->next;
        if (!s->joins)
            s->joins_tail = NULL;
        join_settle(s, j->p);
        vow_unref(j->p);
        vow_free(j);
    }
}

/* Cancellation reached a pending join (the scope's reference keeps a mere drop from
 * getting here): it reaches the scope. */
static void join_canceled(void *ctx, vow *p)
{
    struct join *j = ctx;
    vow_scope *s = j->scope;
    struct join **pp = &s->joins, *prev = NULL;
    while (*pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = j->next;
    if (s->joins_tail == j)
        s->joins_tail = prev;
    vow_free(j);
    vow_unref(p);
    scope_cancel(s, VOW_ECANCELED);
}

vow *vow_scope_join(vow_scope *s)
{
    if (!s)
        return NULL;
    vow *p = vow_pending(s->loop);
    if (!p)
        return NULL;
    if (s->n_live == 0) {
        join_settle(s, p);
        return p;
    }
    struct join *j = vow_malloc(sizeof(*j));
    if (!j || vow_on_cancel_named(p, join_canceled, j, "scope join") < 0) {
        vow_free(j);
        vow_unref(p);
        return NULL;
    }
    j->scope = s;
    j->p = p;
    j->next = NULL;
    if (s->joins_tail)
        s->joins_tail->next = j;
    else
        s->joins = j;
    s->joins_tail = j;
    return vow_ref(p);
}

/* -------------------------------------------------------------- children */

/* A zeroed record of s, or NULL on out-of-memory. */
static struct child *child_new(vow_scope *s)
{
    struct child *c = s->spare;
    if (c) {
        s->spare = c->next;
    } else {
        struct block *b = s->blocks;
        if (!b || b->used == b->cap) {
            size_t cap = !b ? BLOCK_MIN : b->cap < BLOCK_MAX ? 2 * b->cap : BLOCK_MAX;
            struct block *nb = vow_malloc(sizeof(*nb) + cap * sizeof(struct child));
            if (!nb)
                return NULL;
            nb->next = b;
            nb->cap = cap;
            nb->used = 0;
            s->blocks = b = nb;
        }
        c = &b->recs[b->used++];
    }
    memset(c, 0, sizeof(*c));
    c->scope = s;
    return c;
}

static void child_link(vow_scope *s, struct child *c)
{
    c->listed = 1;
    c->prev = s->tail;
    if (s->tail)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
    s->n_kept++;
}

static void child_unlink(vow_scope *s, struct child *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->tail = c->prev;
    c->listed = 0;
    s->n_kept--;
}

static vow_ret swallow(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)code;
    (void)detail;
    return vow_ok(vow_val_none());
}

/* A failure the join reports is handled: no unhandled-rejection report for it. If
 * memory runs out here, the report is all that happens. */
static void mark_handled(vow *p)
{
    vow_unref(vow_catch(vow_ref(p), swallow, NULL));
}

/* c (listed and live) has finished: the scope learns its outcome. */
static void child_done(struct child *c)
{
    vow_scope *s = c->scope;
    assert(s->n_live > 0);
    s->n_live--;
    int code = c->code;
    if (!code && c->p && vow_state(c->p) == VOW_REJECTED)
        code = vow_code(c->p);
    if (code < 0 && code != VOW_ECANCELED) {
        s->n_failed++;
        if (!s->fail_code)
            s->fail_code = code;
        /* A vow added with vow_scope_add is handled by the scope's reaction. */
        if (c->p && (c->cs.child || c->code))
            mark_handled(c->p);
        if (!(s->flags & VOW_SCOPE_DISCARD) || s->n_failed == 1) {
            if (s->failed_tail)
                s->failed_tail->next_failed = c;
            else
                s->failed = c;
            s->failed_tail = c;
            s->n_failed_kept++;
            if (s->flags & VOW_SCOPE_DISCARD)
                child_unlink(s, c);
            c = NULL;
        }
        if (!(s->flags & VOW_SCOPE_SUPERVISOR))
            scope_cancel(s, VOW_ECANCELED);
    }
    if (c && (s->flags & VOW_SCOPE_DISCARD)) {
        child_unlink(s, c);
        child_free(s, c);
    }
    if (s->n_live == 0)
        joins_settle(s);
    scope_unref(s);
}

static vow_ret child_ok(void *ctx, const vow_val *v)
{
    (void)v;
    child_done(ctx);
    return vow_ok(vow_val_none());
}

static vow_ret child_err(void *ctx, int code, const vow_val *detail)
{
    (void)code;
    (void)detail;
    child_done(ctx);
    return vow_ok(vow_val_none());
}

/*
 * A child that failed before it could run or be watched (no memory, bad arguments):
 * recorded like one that finished with code. c may be NULL when even its record could
 * not be made; the failure is then counted, not listed.
 */
static void child_failed_now(vow_scope *s, struct child *c, int code)
{
    if (!c) {
        s->n_failed++;
        if (!s->fail_code)
            s->fail_code = code;
        if (!(s->flags & VOW_SCOPE_SUPERVISOR))
            scope_cancel(s, VOW_ECANCELED);
        return;
    }
    if (!c->p)
        c->p = vow_rejected(s->loop, code, vow_val_none());
    c->code = code;
    child_link(s, c);
    s->n_live++;
    s->refs++;
    child_done(c);
}

int vow_scope_spawn(vow_scope *s, vow_co_fn fn, void *arg, const vow_co_opts *opts)
{
    if (!s)
        return VOW_EINVAL;
    struct child *c = child_new(s);
    if (!c) {
        child_failed_now(s, NULL, VOW_ENOMEM);
        return VOW_ENOMEM;
    }
    vow *p = vow_co_spawn(s->loop, fn, arg, opts);
    if (!p || vow_state(p) != VOW_PENDING) {
        /* No coroutine: out of memory, or a vow rejected for bad arguments. */
        int code = p ? vow_code(p) : VOW_ENOMEM;
        c->p = p;
        child_failed_now(s, c, code);
        return code;
    }
    struct co *co = vow__co_newest(s->loop);
    assert(co && vow__co_result(co) == p);
    c->p = p;
    c->cs.co = co;
    c->cs.child = c;
    vow__co_scope_set(co, &c->cs);
    child_link(s, c);
    s->n_live++;
    s->refs++;
    if (s->cancel_code)
        vow_cancel(p);
    return 0;
}

int vow_scope_add(vow_scope *s, vow *p)
{
    if (!s || (p && vow_loop_of(p) != s->loop)) {
        vow_unref(p);
        return VOW_EINVAL;
    }
    if (!p) {
        /* The constructor that was to make it ran out of memory. */
        child_failed_now(s, child_new(s), VOW_ENOMEM);
        return VOW_ENOMEM;
    }
    struct child *c = child_new(s);
    vow *d = c ? vow_then_full(vow_ref(p), child_ok, child_err, c, NULL) : NULL;
    if (!d) {
        /* Unwatched, it could outlive the scope: it is cancelled instead. */
        vow_cancel(p);
        vow_unref(p);
        child_failed_now(s, c, VOW_ENOMEM);
        return VOW_ENOMEM;
    }
    vow_unref(d); /* the reaction runs whether or not it is held */
    c->p = p;
    child_link(s, c);
    s->n_live++;
    s->refs++;
    if (s->cancel_code && vow_state(p) == VOW_PENDING)
        vow_cancel(p);
    return 0;
}

/* ------------------------------------------------------------------ scopes */

static void scope_list(vow_scope *s);

vow_scope *vow_scope_new(vow_loop *l, const vow_scope_opts *opts)
{
    unsigned flags = opts ? opts->flags : 0;
    uint64_t ms = opts ? opts->timeout_ms : 0;
    if (!l || (flags & ~(unsigned)SCOPE_FLAGS))
        return NULL;
    vow_scope *s = vow_malloc(sizeof(*s));
    if (!s)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->loop = l;
    s->flags = flags;
    s->refs = 1;
    vow_timer_init(l, &s->timer, on_deadline);
    s->timer.data = s;
    if (ms && vow_timer_start(&s->timer, ms, 0) < 0) {
        vow_free(s);
        return NULL;
    }
    s->timer_on = ms != 0;
    scope_list(s);
    struct co *co = vow__co_current();
    if (co && vow__co_loop(co) == l) {
        struct vow__co_scope *cs = co_record(co);
        if (!cs) {
            timer_off(s);
            scope_unlist(s);
            vow_free(s);
            return NULL;
        }
        if (!(flags & VOW_SCOPE_SHIELD)) {
            int code = effective(cs, NULL);
            if (code) {
                s->cancel_code = code;
                timer_off(s);
            }
        }
        s->owner = cs;
        s->outer = cs->top;
        if (cs->top)
            cs->top->inner = s;
        else
            cs->bottom = s;
        cs->top = s;
    }
    return s;
}

int vow_scope_close(vow_scope *s)
{
    if (!s)
        return VOW_EINVAL;
    if (s->n_live)
        return VOW_EBUSY;
    if (s->owner) {
        struct co *co = vow__co_current();
        if (!co || vow__co_scope(co) != s->owner || s->owner->top != s)
            return VOW_ESTATE;
        struct vow__co_scope *cs = s->owner;
        cs->top = s->outer;
        if (cs->top)
            cs->top->inner = NULL;
        else
            cs->bottom = NULL;
        if (cs->awaiting == s)
            cs->awaiting = NULL;
        s->owner = NULL;
        s->outer = NULL;
    }
    timer_off(s);
    s->closed = 1;
    scope_unref(s);
    return 0;
}

int vow_scope_cancel(vow_scope *s)
{
    if (!s)
        return VOW_EINVAL;
    scope_cancel(s, VOW_ECANCELED);
    return 0;
}

int vow_scope_set_timeout(vow_scope *s, uint64_t ms)
{
    if (!s)
        return VOW_EINVAL;
    if (s->cancel_code || s->closed)
        return 0;
    timer_off(s);
    if (ms == VOW_SCOPE_NO_TIMEOUT)
        return 0;
    int r = vow_timer_start(&s->timer, ms, 0);
    if (r < 0)
        return r;
    s->timer_on = 1;
    return 0;
}

int vow_scope_canceled(const vow_scope *s)
{
    return s ? s->cancel_code : 0;
}

size_t vow_scope_live(const vow_scope *s)
{
    return s ? s->n_live : 0;
}

size_t vow_scope_failed(const vow_scope *s)
{
    return s ? s->n_failed : 0;
}

/* ------------------------------------------------------- joining a coroutine */

/* The joined coroutine returned: every join may now follow its vow. */
static void joiners_release(struct vow__co_scope *cs)
{
    while (cs->joiners) {
        struct joiner *j = cs->joiners;
        cs->joiners = j->next;
        vow_resolve(j->gate, vow_val_none());
        vow_unref(j->gate);
        vow_free(j);
    }
}

/* Cancellation reached a join of a coroutine that has not returned: it reaches the
 * coroutine. */
static void gate_canceled(void *ctx, vow *gate)
{
    struct joiner *j = ctx;
    struct vow__co_scope *cs = j->cs;
    if (!cs) {
        /* vow_co_join failed after hooking the gate and dropped it. */
        vow_free(j);
        return;
    }
    struct joiner **pp = &cs->joiners;
    while (*pp != j)
        pp = &(*pp)->next;
    *pp = j->next;
    vow_free(j);
    vow_unref(gate);
    if (cs->co)
        vow_cancel(vow__co_result(cs->co));
}

static vow_ret follow_co(void *ctx, const vow_val *v)
{
    (void)v;
    return vow_follow(vow_ref(ctx));
}

static void unref_ctx(void *ctx)
{
    vow_unref(ctx);
}

vow *vow_co_join(vow *p)
{
    if (!p)
        return NULL;
    vow_loop *l = vow_loop_of(p);
    struct co *co = vow__co_find(l, p);
    if (!co)
        return vow_then(vow_ref(p), NULL, NULL, NULL);
    if (co == vow__co_current())
        return vow_rejected(l, VOW_ECYCLE, vow_val_none());
    struct vow__co_scope *cs = co_record(co);
    struct joiner *j = cs ? vow_malloc(sizeof(*j)) : NULL;
    vow *gate = j ? vow_pending(l) : NULL;
    if (!gate || vow_on_cancel_named(gate, gate_canceled, j, "coroutine join") < 0) {
        vow_unref(gate);
        vow_free(j);
        return NULL;
    }
    /* The join waits on the gate, then adopts the coroutine's vow. */
    vow *r = vow_then_full(vow_ref(gate), follow_co, NULL, vow_ref(p), unref_ctx);
    if (!r) {
        /* The hook runs on this drop and must find a joiner that is not linked. */
        j->cs = NULL;
        vow_unref(gate);
        return NULL;
    }
    j->cs = cs;
    j->gate = gate;
    j->next = cs->joiners;
    cs->joiners = j;
    return r;
}

vow *vow_co_stop(vow *p)
{
    if (p && vow_state(p) == VOW_PENDING)
        vow_cancel(p);
    return vow_co_join(p);
}

/* ------------------------------------------------ inspection (inspect.c) */

/*
 * The scopes of each loop, listed for the walk (vow_loop_walk): a thread-local
 * registry per loop, like co.c's, whose inspector emits every scope of the loop,
 * with or without coroutines (a chain-only program's scopes too). A registry that
 * cannot be made (no memory) leaves the scope unlisted: inspection is best effort,
 * the scope works the same.
 */
struct scope_reg {
    struct scope_reg *next; /* the thread's registries */
    vow_loop *loop;         /* key */
    vow_scope *head;        /* its scopes, newest first */
};

static _Thread_local struct scope_reg *scope_regs;

static int scope_emit(vow_scope *s, vow_inspect_emit_fn emit, void *ectx);

static int scopes_inspect(void *ctx, vow_loop *l, vow_inspect_emit_fn emit, void *ectx)
{
    struct scope_reg *r = ctx;
    (void)l;
    /* Oldest first. */
    vow_scope *s = r->head;
    while (s && s->reg_next)
        s = s->reg_next;
    for (; s; s = s->reg_prev) {
        int rc = scope_emit(s, emit, ectx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void scope_list(vow_scope *s)
{
    struct scope_reg *r = scope_regs;
    while (r && r->loop != s->loop)
        r = r->next;
    if (!r) {
        r = vow_malloc(sizeof(*r));
        if (!r)
            return;
        if (vow_loop_add_inspector(s->loop, scopes_inspect, r) < 0) {
            vow_free(r);
            return;
        }
        r->loop = s->loop;
        r->head = NULL;
        r->next = scope_regs;
        scope_regs = r;
    }
    s->reg_prev = NULL;
    s->reg_next = r->head;
    if (r->head)
        r->head->reg_prev = s;
    r->head = s;
    s->reg_listed = 1;
}

static void scope_unlist(vow_scope *s)
{
    if (!s->reg_listed)
        return;
    s->reg_listed = 0;
    struct scope_reg **pp = &scope_regs;
    while (*pp && (*pp)->loop != s->loop)
        pp = &(*pp)->next;
    struct scope_reg *r = *pp;
    if (s->reg_prev)
        s->reg_prev->reg_next = s->reg_next;
    else
        r->head = s->reg_next;
    if (s->reg_next)
        s->reg_next->reg_prev = s->reg_prev;
    if (!r->head) {
        *pp = r->next;
        (void)vow_loop_remove_inspector(r->loop, scopes_inspect, r);
        vow_free(r);
    }
}

/* Emits scope s: under the scope outside it on its owner's stack, or the owner, or
 * at the top (a scope opened outside coroutines); it waits on the vows added to it. */
static int scope_emit(vow_scope *s, vow_inspect_emit_fn emit, void *ectx)
{
    vow_inspect_item it;
    memset(&it, 0, sizeof(it));
    vow *waits[32];
    size_t n = 0, more = 0;
    for (struct child *c = s->head; c; c = c->next) {
        if (!c->p || c->cs.co || vow_state(c->p) != VOW_PENDING)
            continue;
        if (n < 32)
            waits[n++] = c->p;
        else
            more++;
    }
    it.kind = VOW_NODE_SCOPE;
    it.id = s;
    struct co *owner = s->owner ? s->owner->co : NULL;
    it.parent = s->outer ? (const void *)s->outer : (const void *)owner;
    it.scope = s->outer;
    it.what = "scope";
    it.state = s->cancel_code ? "cancelled" : s->closed ? "closing" : "open";
    it.waits = waits;
    it.nwaits = n;
    it.count = s->n_live;
    it.age_ms = -1;
    snprintf(it.detail, sizeof(it.detail), "%s%s%s%s, %s%s",
             (s->flags & VOW_SCOPE_SUPERVISOR) ? "supervisor" : "fail-fast",
             (s->flags & VOW_SCOPE_DISCARD) ? ", discard" : "",
             (s->flags & VOW_SCOPE_SHIELD) ? ", shield" : "",
             (s->flags & VOW_SCOPE_MOVE_ON) ? ", move-on" : "",
             s->expired ? "deadline passed" : s->timer_on ? "deadline set" : "no deadline",
             s->n_failed ? ", failures" : "");
    if (more) {
        size_t len = strlen(it.detail);
        snprintf(it.detail + len, sizeof(it.detail) - len, ", %zu more vows", more);
    }
    return emit(ectx, &it);
}

void vow__scope_inspect(struct vow__co_scope *cs, vow_inspect_item *co_item)
{
    vow_scope *in = cs->child ? cs->child->scope : NULL;
    co_item->parent = in;
    co_item->scope = in;
}
