/* SPDX-License-Identifier: MIT */
/*
 * Chaining: then/catch/finally reactions, the handler results (vow_ok, vow_fail,
 * vow_follow, vow_pass), adoption of one vow by another and the cycle check that
 * keeps adoption from waiting on itself. Handlers only ever run from the loop's
 * microtask queue.
 */
#include "vow_int.h"

#include <string.h>


/* A then/catch/finally or adoption reaction: one size, so one free list. */
struct then_react {
    struct vow__react base;   /* queue node and the source it holds */
    vow *out;                 /* the derived vow it settles (one reference) */
    struct vow__link link;    /* on out: cancellation reaches the source through it */
    union {
        vow_ok_fn on_ok;              /* then: fulfilment handler or NULL */
        vow_ret (*fin)(void *ctx);    /* finally: the callback */
    };
    vow_err_fn on_err;        /* then: rejection handler or NULL */
    void *ctx;                /* handler context; finally-wait: the original vow */
    void (*ctx_drop)(void *ctx); /* runs once after the handler or when discarded */
};

/* Memory per reaction: a then, catch or finally costs this and its derived vow. */
_Static_assert(sizeof(struct then_react) <= 80, "a then reaction fits in 80 bytes");

/* Slab object size for reactions (life.c). */
const size_t vow__react_size = sizeof(struct then_react);

/*
 * The kinds of then-sized reaction. A finally reaction whose callback returned a
 * pending vow becomes a finally-wait (waiting on that vow, holding the original in
 * ctx); a reaction whose derived vow was cancelled after it was queued becomes dead
 * (it only lets go when it comes up). A dead reaction is on the queue, never on a
 * source's list, so its discard never runs; it keeps its live form's.
 */
static void then_run(vow_loop *l, vow__task *t);
static void adopt_run(vow_loop *l, vow__task *t);
static void finally_run(vow_loop *l, vow__task *t);
static void finwait_run(vow_loop *l, vow__task *t);
static void react_dead(vow_loop *l, vow__task *t);
static void finwait_dead(vow_loop *l, vow__task *t);
static void then_discard(struct vow__react *base, vow **work);
static void finwait_discard(struct vow__react *base, vow **work);
static const struct vow__react_ops then_ops = { { then_run }, then_discard };
static const struct vow__react_ops adopt_ops = { { adopt_run }, then_discard };
static const struct vow__react_ops finally_ops = { { finally_run }, then_discard };
static const struct vow__react_ops dead_ops = { { react_dead }, then_discard };
static const struct vow__react_ops finwait_ops = { { finwait_run }, finwait_discard };
static const struct vow__react_ops finwait_dead_ops = { { finwait_dead }, finwait_discard };

/* The link on the derived vow: cancelling it reaches the source through the reaction. */
static void then_link_cancel(struct vow__link *k, vow *p, vow **work);
static void finwait_link_cancel(struct vow__link *k, vow *p, vow **work);
static void react_parents(struct vow__link *k, struct vow__search *s);
static const struct vow__link_ops then_link_ops = { then_link_cancel, NULL, 1, react_parents };
static const struct vow__link_ops finwait_link_ops = {
    finwait_link_cancel, NULL, 1, react_parents
};

/* ------------------------------------------------------------------ adoption */

/* Pushes v (pending, not yet seen) for expansion; growth failure ends the search. */
void vow__search_visit(struct vow__search *s, vow *v)
{
    if (!v || v->state != VOW_PENDING || (v->flags & VF_SEEN) || s->failed)
        return;
    if (s->len == s->cap || s->nseen == s->seen_cap) {
        size_t cap = s->cap * 2, seen_cap = s->seen_cap * 2;
        vow **st = vow__malloc(cap * sizeof(*st));
        vow **sn = st ? vow__malloc(seen_cap * sizeof(*sn)) : NULL;
        if (!sn) {
            vow__free(st);
            s->failed = 1;
            return;
        }
        memcpy(st, s->stack, s->len * sizeof(*st));
        memcpy(sn, s->seen, s->nseen * sizeof(*sn));
        if (s->cap > 32) {
            vow__free(s->stack);
            vow__free(s->seen);
        }
        s->stack = st;
        s->cap = cap;
        s->seen = sn;
        s->seen_cap = seen_cap;
    }
    v->flags |= VF_SEEN;
    s->seen[s->nseen++] = v;
    s->stack[s->len++] = v;
}

static void react_parents(struct vow__link *k, struct vow__search *s)
{
    vow__search_visit(s, vow__container_of(k, struct then_react, link)->base.src);
}

/*
 * Whether from waits, through any chain of reactions, adoptions, combinators or
 * timeouts, on target: adopting it would then never settle. Every vow is expanded
 * once (marked), so shared and looping upstream graphs end. Out of memory answers
 * "no", which only loses the early VOW_ECYCLE.
 */
static int waits_on(vow *from, const vow *target)
{
    vow *stack0[32], *seen0[32];
    struct vow__search s = { stack0, 0, 32, seen0, 0, 32, 0 };
    int found = 0;
    vow__search_visit(&s, from);
    while (s.len && !found) {
        vow *x = s.stack[--s.len];
        if (x == target) {
            found = 1;
            break;
        }
        for (struct vow__link *k = x->up; k; k = k->next)
            if (k->ops->parents)
                k->ops->parents(k, &s);
    }
    for (size_t i = 0; i < s.nseen; i++)
        s.seen[i]->flags &= (uint8_t)~VF_SEEN;
    if (s.cap > 32) {
        vow__free(s.stack);
        vow__free(s.seen);
    }
    return found;
}

/*
 * p, about to adopt the pending q, is held only by its own reactions and by the
 * reaction that is settling it (which lets go right after): nobody can observe p
 * itself, so its reactions move to q and p is dropped. A loop written as "handle
 * this, then follow the next step" thus runs in constant memory instead of keeping
 * one locked vow per iteration alive until the end.
 */
static int collapse_onto(vow *p, vow *q)
{
    if (p->refs != p->nreact + 1 || p->up || !p->rtail)
        return 0;
    vow__task *ptail = p->rtail, *t = ptail;
    do {
        t = t->next;
        ((struct vow__react *)t)->src = q;
    } while (t != ptail);
    vow__mark_handled(q);
    q->refs += p->nreact;
    q->nreact += p->nreact;
    p->refs -= p->nreact;
    p->nreact = 0;
    p->rtail = NULL;
    if (q->rtail) {
        vow__task *phead = ptail->next;
        ptail->next = q->rtail->next;
        q->rtail->next = phead;
    }
    q->rtail = ptail;
    return 1;
}

/*
 * p adopts q (consumes q): takes its outcome now if q is settled, rejects with
 * VOW_ECYCLE if q waits on p, else locks p onto q with an adopt reaction. from_reaction:
 * the caller is the reaction settling p, which lets go of p right after (collapse).
 */
static int adopt(vow *p, vow *q, int from_reaction)
{
    if (q->loop != p->loop) {
        vow_unref(q);
        return VOW_EINVAL;
    }
    if (q->state != VOW_PENDING) {
        vow__forward(p, q);
        vow_unref(q);
        return 0;
    }
    /* A cycle through adoption or then-links would never settle: reject it. */
    if (waits_on(q, p)) {
        vow_unref(q);
        vow__reject(p, VOW_ECYCLE, vow_val_none());
        return 0;
    }
    if (from_reaction && collapse_onto(p, q)) {
        vow_unref(q);
        return 0;
    }
    struct then_react *r = vow__react_alloc(p->loop);
    if (!r) {
        vow_unref(q);
        return VOW_ENOMEM;
    }
    r->out = vow_ref(p);
    r->link.ops = &then_link_ops;
    r->on_ok = NULL;
    r->on_err = NULL;
    r->ctx = NULL;
    r->ctx_drop = NULL;
    r->base.task.ops = &adopt_ops.task;
    vow__add_link(p, &r->link);
    p->flags |= VF_LOCKED;
    vow__attach(q, &r->base);
    return 0;
}

static void adopt_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *q = r->base.src, *out = r->out;
    vow__unlink(out, &r->link);
    if (out->state == VOW_PENDING)
        vow__forward(out, q);
    vow__react_free(l, r);
    vow_unref(q);
    vow_unref(out);
}

static void ret_drop(vow_ret *r)
{
    if (r->kind_ == RET_OK || r->kind_ == RET_FAIL)
        vow__val_drop(&r->val_);
    else if (r->kind_ == RET_FOLLOW)
        vow_unref(r->follow_);
}

/*
 * Applies a handler result to out, with src as the pass-through outcome (NULL: none);
 * from_reaction as for adopt.
 */
static void apply(vow *out, vow_ret r, vow *src, int from_reaction)
{
    if (out->state != VOW_PENDING || (out->flags & VF_LOCKED)) {
        ret_drop(&r);
        return;
    }
    switch (r.kind_) {
    case RET_OK:
        vow__fulfil(out, r.val_);
        return;
    case RET_FAIL:
        vow__reject(out, r.code_, r.val_);
        return;
    case RET_FOLLOW:
        if (!r.follow_) {
            vow__reject(out, VOW_EINVAL, vow_val_none());
        } else {
            int rc = adopt(out, r.follow_, from_reaction);
            if (rc < 0)
                vow__reject(out, rc, vow_val_none());
        }
        return;
    case RET_PASS:
        if (src) {
            vow__forward(out, src);
            return;
        }
        break;
    default:
        break;
    }
    vow__reject(out, VOW_EINVAL, vow_val_none());
}

/* ------------------------------------------------------------------ handlers */

vow_ret vow_ok(vow_val v)
{
    vow_ret r;
    r.kind_ = RET_OK;
    r.code_ = 0;
    r.val_ = v;
    return r;
}

vow_ret vow_fail(int code, vow_val detail)
{
    vow_ret r;
    r.kind_ = RET_FAIL;
    r.code_ = code < 0 ? code : VOW_EINVAL;
    r.val_ = detail;
    return r;
}

vow_ret vow_follow(vow *other)
{
    vow_ret r;
    r.kind_ = RET_FOLLOW;
    r.code_ = 0;
    r.val_.drop = NULL;
    r.follow_ = other;
    return r;
}

vow_ret vow_pass(void)
{
    vow_ret r;
    r.kind_ = RET_PASS;
    r.code_ = 0;
    r.val_ = vow_val_none();
    return r;
}

static void then_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *src = r->base.src, *out = r->out;
    const vow *o = vow__owner(src);
    /* Unlink first: a cancel of out from inside the handler must not see us. */
    vow__unlink(out, &r->link);
    vow_ret ret;
    if (src->state == VOW_FULFILLED)
        ret = r->on_ok ? r->on_ok(r->ctx, &o->val) : vow_pass();
    else
        ret = r->on_err ? r->on_err(r->ctx, src->code, &o->val) : vow_pass();
    if (r->ctx_drop)
        r->ctx_drop(r->ctx);
    /* The common case first: a value for a derived vow nobody else settled. */
    if (vow__likely(ret.kind_ == RET_OK && out->state == VOW_PENDING && !out->flags))
        vow__fulfil(out, ret.val_);
    else
        apply(out, ret, src, 1);
    vow__react_free(l, r);
    vow_unref(src);
    vow_unref(out);
}

static void react_dead(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *src = r->base.src, *out = r->out;
    vow__react_free(l, r);
    vow_unref(src);
    vow_unref(out);
}

static void finwait_dead(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow_unref((vow *)r->ctx);
    react_dead(l, t);
}

/* The source of r is garbage: r will never run. */
static void then_discard(struct vow__react *base, vow **work)
{
    struct then_react *r = (struct then_react *)base;
    vow *src = r->base.src, *out = r->out;
    if (r->ctx_drop)
        r->ctx_drop(r->ctx);
    vow__unlink(out, &r->link);
    vow__react_free(src->loop, r);
    vow__unref_collect(out, work);
    vow__unref_collect(src, work);
}

static void finwait_discard(struct vow__react *base, vow **work)
{
    vow__unref_collect((vow *)((struct then_react *)base)->ctx, work);
    then_discard(base, work);
}

/*
 * The derived vow was cancelled: this reaction will never settle it. Its context is
 * dropped now; if it still waits on a pending source it leaves it (cancelling the
 * source when nothing else wants it) and returns 1, for the caller to free it;
 * otherwise it is already queued and becomes dead, to be freed when it comes up.
 */
static int react_cancel(struct then_react *r, vow **work, const struct vow__react_ops *dead)
{
    if (r->ctx_drop) {
        r->ctx_drop(r->ctx);
        r->ctx_drop = NULL;
    }
    if (r->base.src->state != VOW_PENDING) {
        r->base.task.ops = &dead->task;
        return 0;
    }
    vow__react_detach(&r->base, work);
    return 1;
}

static void then_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct then_react *r = vow__container_of(k, struct then_react, link);
    if (!react_cancel(r, work, &dead_ops))
        return;
    /* out is p, held by whoever is cancelling it: this is not its last reference. */
    vow *out = r->out;
    vow__react_free(p->loop, r);
    vow_unref(out);
}

static void finwait_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct then_react *r = vow__container_of(k, struct then_react, link);
    if (!react_cancel(r, work, &finwait_dead_ops))
        return;
    vow_unref((vow *)r->ctx);
    vow *out = r->out;
    vow__react_free(p->loop, r);
    vow_unref(out);
}

static vow *chain(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                  void (*ctx_drop)(void *), const struct vow__react_ops *ops,
                  vow_ret (*fin)(void *ctx))
{
    if (vow__unlikely(!p)) {
        if (ctx_drop)
            ctx_drop(ctx);
        return NULL;
    }
    vow_loop *l = p->loop;
    vow *out = vow__new(l);
    struct then_react *r = out ? vow__react_alloc(l) : NULL;
    if (vow__unlikely(!r)) {
        if (out)
            vow_unref(out);
        if (ctx_drop)
            ctx_drop(ctx);
        vow_unref(p);
        return NULL;
    }
    out->refs = 2; /* the caller's and the reaction's */
    out->up = &r->link;
    r->link.next = NULL;
    r->link.ops = &then_link_ops;
    r->out = out;
    if (fin)
        r->fin = fin;
    else
        r->on_ok = on_ok;
    r->on_err = on_err;
    r->ctx = ctx;
    r->ctx_drop = ctx_drop;
    r->base.task.ops = &ops->task;
    /* Last: if p turns out to be garbage, r is discarded here and out stays pending. */
    vow__attach(p, &r->base);
    return out;
}

vow *vow_then_full(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                   void (*ctx_drop)(void *ctx))
{
    return chain(p, on_ok, on_err, ctx, ctx_drop, &then_ops, NULL);
}

vow *vow_then(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx)
{
    return chain(p, on_ok, on_err, ctx, NULL, &then_ops, NULL);
}

vow *vow_catch(vow *p, vow_err_fn on_err, void *ctx)
{
    return chain(p, NULL, on_err, ctx, NULL, &then_ops, NULL);
}

vow *vow_finally(vow *p, vow_ret (*fn)(void *ctx), void *ctx)
{
    if (!fn)
        return chain(p, NULL, NULL, ctx, NULL, &then_ops, NULL);
    return chain(p, NULL, NULL, ctx, NULL, &finally_ops, fn);
}

/*
 * finally: the callback's own failure wins; a vow it returns is waited for, and
 * then the original outcome passes through unless that vow rejected.
 */
static void finally_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *src = r->base.src, *out = r->out;
    vow__unlink(out, &r->link);
    vow_ret ret = r->fin(r->ctx);
    if (ret.kind_ == RET_FOLLOW && ret.follow_ && out->state == VOW_PENDING &&
        !(out->flags & VF_LOCKED) && ret.follow_->state == VOW_PENDING &&
        ret.follow_->loop == l && waits_on(ret.follow_, out)) {
        /* Waiting on itself would never end: A+ 2.3.1's TypeError. */
        vow_unref(ret.follow_);
        vow__reject(out, VOW_ECYCLE, vow_val_none());
        vow__react_free(l, r);
        vow_unref(src);
        vow_unref(out);
        return;
    }
    if (ret.kind_ == RET_FOLLOW && ret.follow_ && out->state == VOW_PENDING &&
        !(out->flags & VF_LOCKED) && ret.follow_->state == VOW_PENDING &&
        ret.follow_->loop == l) {
        /* Reuse this reaction to wait on the returned vow, holding the original. */
        r->ctx = src;
        r->base.task.ops = &finwait_ops.task;
        r->link.ops = &finwait_link_ops;
        vow__add_link(out, &r->link);
        vow__attach(ret.follow_, &r->base);
        return;
    }
    if (out->state == VOW_PENDING && !(out->flags & VF_LOCKED)) {
        switch (ret.kind_) {
        case RET_OK:
        case RET_PASS:
            ret_drop(&ret);
            vow__forward(out, src);
            break;
        case RET_FOLLOW:
            if (ret.follow_ && ret.follow_->loop == l) {
                vow__forward(out, ret.follow_->state == VOW_FULFILLED ? src : ret.follow_);
                vow_unref(ret.follow_);
                break;
            }
            ret_drop(&ret);
            vow__reject(out, VOW_EINVAL, vow_val_none());
            break;
        default:
            apply(out, ret, src, 0);
            break;
        }
    } else {
        ret_drop(&ret);
    }
    vow__react_free(l, r);
    vow_unref(src);
    vow_unref(out);
}

static void finwait_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *q = r->base.src, *out = r->out, *orig = r->ctx;
    vow__unlink(out, &r->link);
    if (out->state == VOW_PENDING)
        vow__forward(out, q->state == VOW_FULFILLED ? orig : q);
    vow__react_free(l, r);
    vow_unref(q);
    vow_unref(orig);
    vow_unref(out);
}

int vow_resolve_with(vow *p, vow *other)
{
    int rc = other ? vow__resolvable(p) : VOW_EINVAL;
    if (rc < 0) {
        vow_unref(other);
        return rc;
    }
    if (other == p) {
        vow_unref(other);
        vow__reject(p, VOW_ECYCLE, vow_val_none());
        return 0;
    }
    return adopt(p, other, 0);
}

int vow_settle(vow *p, vow_ret r)
{
    int rc = r.kind_ >= RET_OK && r.kind_ < RET_PASS ? vow__resolvable(p) : VOW_EINVAL;
    if (rc == 0 && r.kind_ == RET_FOLLOW && !r.follow_)
        rc = VOW_EINVAL;
    if (rc < 0) {
        ret_drop(&r);
        return rc;
    }
    if (r.kind_ == RET_FOLLOW)
        return vow_resolve_with(p, r.follow_);
    apply(p, r, NULL, 0);
    return 0;
}

