/* SPDX-License-Identifier: MIT */
/*
 * The promise core: allocation, settlement, then/catch/finally, adoption and
 * unhandled-rejection tracking. Handlers only ever run from the loop's microtask
 * queue; settling a vow splices its whole reaction list onto that queue in one
 * step, so nothing here recurses over a chain or a fan-out.
 */
#include "vow_int.h"

#include <stdio.h>
#include <string.h>

enum { RET_OK = 1, RET_FAIL, RET_FOLLOW, RET_PASS };

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

#ifndef VOW_DEBUG
_Static_assert(sizeof(struct vow) <= 64, "a vow fits in 64 bytes");
#endif

static void then_run(vow_loop *l, vow__task *t);
static void adopt_run(vow_loop *l, vow__task *t);
static void finally_run(vow_loop *l, vow__task *t);
static void finwait_run(vow_loop *l, vow__task *t);
static void react_dead(vow_loop *l, vow__task *t);
static void finwait_dead(vow_loop *l, vow__task *t);
static void react_link_cancel(struct vow__link *k, vow *p, vow **work);

static void react_parents(struct vow__link *k, struct vow__search *s);
static const struct vow__link_ops react_link_ops = { react_link_cancel, NULL, 1, react_parents };

/* ------------------------------------------------------------ per-loop state */

static void ext_checkpoint(vow_loop *l);

static int ext_busy(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    if (x->live == 0)
        return 0;
#ifdef VOW_DEBUG
    for (vow *p = x->dbg_all; p; p = p->dbg_next)
        fprintf(stderr, "libvow: vow %p still alive (%s, refs %u) created at %s:%d\n",
                (void *)p,
                p->state == VOW_PENDING ? "pending"
                : p->state == VOW_FULFILLED ? "fulfilled" : "rejected",
                p->refs, p->site_file ? p->site_file : "?", p->site_line);
#endif
    return 1;
}

static void ext_fini(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    vow__slab_fini(&x->vows);
    vow__slab_fini(&x->reacts);
    vow__free(x);
    vow__head(l)->ext = NULL;
    vow__head(l)->ext_ops = NULL;
}

static const struct vow__ext_ops ext_ops = { ext_checkpoint, ext_busy, ext_fini };

struct vow__ext *vow__ext_get(vow_loop *l)
{
    struct vow__loop_head *h = vow__head(l);
    if (vow__likely(h->ext != NULL))
        return h->ext;
    struct vow__ext *x = vow__calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->unhandled_tail = &x->unhandled;
    x->late_tail = &x->late;
    vow__slab_init(&x->vows, sizeof(struct vow));
    vow__slab_init(&x->reacts, sizeof(struct then_react));
    h->ext = x;
    h->ext_ops = &ext_ops;
    return x;
}

#ifdef VOW_DEBUG
static _Thread_local const char *site_file;
static _Thread_local int site_line;
#endif

void vow_debug_site(const char *file, int line)
{
#ifdef VOW_DEBUG
    site_file = file;
    site_line = line;
#else
    (void)file;
    (void)line;
#endif
}

vow *vow__new(vow_loop *l)
{
    struct vow__ext *x = vow__ext_get(l);
    if (vow__unlikely(!x))
        return NULL;
    vow *p = vow__slab_get(&x->vows);
    if (vow__unlikely(!p))
        return NULL;
    p->refs = 1;
    p->code = 0;
    p->state = VOW_PENDING;
    p->flags = 0;
    p->nreact = 0;
    p->loop = l;
    p->rtail = NULL;
    p->up = NULL;
    p->work_next = NULL;
    x->live++;
#ifdef VOW_DEBUG
    p->site_file = site_file;
    p->site_line = site_line;
    site_file = NULL;
    p->dbg_prev = NULL;
    p->dbg_next = x->dbg_all;
    if (x->dbg_all)
        x->dbg_all->dbg_prev = p;
    x->dbg_all = p;
#endif
    return p;
}

static void vow_free_mem(vow *p)
{
    vow_loop *l = p->loop;
    struct vow__ext *x = vow__head(l)->ext;
    x->live--;
#ifdef VOW_DEBUG
    if (p->dbg_prev)
        p->dbg_prev->dbg_next = p->dbg_next;
    else
        x->dbg_all = p->dbg_next;
    if (p->dbg_next)
        p->dbg_next->dbg_prev = p->dbg_prev;
#endif
    vow__slab_put(&x->vows, p);
    /* No vow alive means no reaction either (each holds its source): after a spike
     * the memory goes back now, not at loop close. */
    if (x->live == 0) {
        vow__slab_reset(&x->vows);
        vow__slab_reset(&x->reacts);
    }
}

void *vow__react_alloc(vow_loop *l)
{
    return vow__slab_get(&((struct vow__ext *)vow__head(l)->ext)->reacts);
}

void vow__react_free(vow_loop *l, void *r)
{
    vow__slab_put(&((struct vow__ext *)vow__head(l)->ext)->reacts, r);
}

/* ------------------------------------------------------------- ref counting */

static void val_drop(vow_val *v)
{
    if (v->drop)
        v->drop(v->ptr);
}

/*
 * The last holder let go. A pending vow can only get here when nothing reacts to it
 * (reactions hold their source), so its producers are told to abort. A settled
 * vow drops its value, or its reference to the vow that owns the outcome (which
 * never forwards itself, so this is at most one level deep).
 */
static void vow_destroy(vow *p)
{
    if (p->state == VOW_PENDING) {
        /* Settled as cancelled first, so a hook that touches p sees it settled; the
         * reference taken here keeps p alive while the hooks run. */
        struct vow__link *k = p->up;
        p->up = NULL;
        p->state = VOW_REJECTED;
        p->code = VOW_ECANCELED;
        p->val = vow_val_none();
        p->refs = 1;
        while (k) {
            struct vow__link *next = k->next;
            k->ops->cancel(k, p, NULL);
            k = next;
        }
        if (--p->refs != 0)
            return;
    } else if (p->flags & VF_FWD) {
        vow_unref(p->fwd);
    } else {
        val_drop(&p->val);
    }
    vow_free_mem(p);
}

vow *vow_ref(vow *p)
{
    if (p)
        p->refs++;
    return p;
}

void vow_unref(vow *p)
{
    if (!p)
        return;
    if (--p->refs == 0)
        vow_destroy(p);
    else if (vow__unlikely(p->refs == p->nreact) && vow__is_garbage(p))
        vow__collect(p);
}

void vow__unref_collect(vow *p, vow **work)
{
    if (--p->refs == 0) {
        vow_destroy(p);
    } else if (vow__is_garbage(p) && !(p->flags & VF_GARBAGE)) {
        p->flags |= VF_GARBAGE;
        p->work_next = *work;
        *work = p;
    }
}

static void react_discard(struct vow__react *base, vow **work);

/*
 * Collects p and whatever becomes garbage with it, through a worklist: a dropped
 * pending chain of any length takes constant C stack.
 */
void vow__collect(vow *p)
{
    if (p->flags & VF_GARBAGE)
        return;
    p->flags |= VF_GARBAGE;
    p->work_next = NULL;
    vow *work = p;
    while (work) {
        vow *x = work;
        work = x->work_next;
        vow__task *tail = x->rtail;
        x->rtail = NULL;
        x->nreact = 0;
        if (!tail)
            continue;
        vow__task *t = tail->next;
        tail->next = NULL;
        /* Each reaction holds x: the last one discarded frees it. */
        while (t) {
            vow__task *next = t->next;
            react_discard((struct vow__react *)t, &work);
            t = next;
        }
    }
}

/* -------------------------------------------------------------- settlement */

static void unhandled_push(vow *p, vow ***tailp)
{
    p->flags |= VF_LISTED;
    p->refs++;
    p->list_next = NULL;
    **tailp = p;
    *tailp = &p->list_next;
}

/*
 * Common tail of every settlement: producers' links are released (they did their
 * job), the reaction list is spliced onto the microtask queue in attachment order,
 * and a rejection nobody reacts to is noted for the checkpoint.
 */
static void settle_done(vow *p)
{
    struct vow__link *k = p->up;
    p->up = NULL;
    while (k) {
        struct vow__link *next = k->next;
        if (k->ops->release)
            k->ops->release(k);
        k = next;
    }
    p->flags &= (uint8_t)~VF_LOCKED;
    vow__task *tail = p->rtail;
    p->list_next = NULL;
    p->nreact = 0;
    if (tail) {
        vow__task *head = tail->next;
        vow__task_splice(vow__loop_microq(p->loop), head, tail);
    } else if (p->state == VOW_REJECTED && !(p->flags & VF_HANDLED) &&
               p->code != VOW_ECANCELED) {
        struct vow__ext *x = vow__head(p->loop)->ext;
        unhandled_push(p, &x->unhandled_tail);
    }
}

void vow__fulfil(vow *p, vow_val v)
{
    p->state = VOW_FULFILLED;
    p->val = v;
    settle_done(p);
}

void vow__reject(vow *p, int code, vow_val detail)
{
    p->state = VOW_REJECTED;
    p->code = code;
    p->val = detail;
    settle_done(p);
}

/*
 * q's outcome is being consumed: it counts as handled (a rejection that reached a
 * handler or an adopter is not unhandled), and a late one is reported as such.
 */
static void mark_handled(vow *q)
{
    if ((q->flags & (VF_REPORTED | VF_HANDLED)) == VF_REPORTED && !(q->flags & VF_LISTED)) {
        struct vow__ext *x = vow__head(q->loop)->ext;
        unhandled_push(q, &x->late_tail);
    }
    q->flags |= VF_HANDLED;
}

void vow__forward(vow *p, vow *q)
{
    mark_handled(q);
    vow *owner = (q->flags & VF_FWD) ? q->fwd : q;
    p->state = q->state;
    p->code = q->code;
    p->flags |= VF_FWD;
    p->fwd = vow_ref(owner);
    settle_done(p);
}

void vow__add_link(vow *p, struct vow__link *k)
{
    k->next = p->up;
    p->up = k;
}

void vow__unlink(vow *p, struct vow__link *k)
{
    for (struct vow__link **pp = &p->up; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            return;
        }
    }
}

void vow__attach(vow *src, struct vow__react *r)
{
    r->src = src;
    mark_handled(src);
    if (src->state == VOW_PENDING) {
        vow__task *tail = src->rtail;
        if (tail) {
            r->task.next = tail->next;
            tail->next = &r->task;
        } else {
            r->task.next = &r->task;
        }
        src->rtail = &r->task;
        src->nreact++;
        /* The caller's reference moved to r: if it was the last outside one and no
         * producer is left, nothing can ever settle src. */
        if (vow__unlikely(src->refs == src->nreact) && !src->up)
            vow__collect(src);
    } else {
        vow__task_push(vow__loop_microq(src->loop), &r->task);
    }
}

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
    mark_handled(q);
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

int vow__adopt(vow *p, vow *q)
{
    return vow__adopt_from(p, q, 0);
}

int vow__adopt_from(vow *p, vow *q, int from_reaction)
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
    r->link.ops = &react_link_ops;
    r->on_ok = NULL;
    r->on_err = NULL;
    r->ctx = NULL;
    r->ctx_drop = NULL;
    r->base.task.run = adopt_run;
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
        val_drop(&r->val_);
    else if (r->kind_ == RET_FOLLOW)
        vow_unref(r->follow_);
}

void vow__apply(vow *out, vow_ret r, vow *src)
{
    vow__apply_from(out, r, src, 0);
}

void vow__apply_from(vow *out, vow_ret r, vow *src, int from_reaction)
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
            int rc = vow__adopt_from(out, r.follow_, from_reaction);
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
        vow__apply_from(out, ret, src, 1);
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
static void react_discard(struct vow__react *base, vow **work)
{
    void (*run)(vow_loop *, vow__task *) = base->task.run;
    if (run != then_run && run != adopt_run && run != finally_run && run != finwait_run) {
        vow__combine_discard(base, work);
        return;
    }
    struct then_react *r = (struct then_react *)base;
    vow *src = r->base.src, *out = r->out;
    if (r->ctx_drop)
        r->ctx_drop(r->ctx);
    if (run == finwait_run)
        vow__unref_collect((vow *)r->ctx, work);
    vow__unlink(out, &r->link);
    vow__react_free(src->loop, r);
    vow__unref_collect(out, work);
    vow__unref_collect(src, work);
}

/*
 * The derived vow was cancelled: this reaction will never settle it. Its context is
 * dropped now; if it still waits on a pending source it leaves it (cancelling the
 * source when nothing else wants it) and is freed, otherwise it is already queued
 * and is discarded when it comes up.
 */
static void react_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct then_react *r = vow__container_of(k, struct then_react, link);
    if (r->ctx_drop) {
        r->ctx_drop(r->ctx);
        r->ctx_drop = NULL;
    }
    int finwait = r->base.task.run == finwait_run;
    if (r->base.src->state != VOW_PENDING) {
        r->base.task.run = finwait ? finwait_dead : react_dead;
        return;
    }
    vow__react_detach(&r->base, work);
    if (finwait)
        vow_unref((vow *)r->ctx);
    /* out is p, held by whoever is cancelling it: this is not its last reference. */
    vow *out = r->out;
    vow__react_free(p->loop, r);
    vow_unref(out);
}

static vow *chain(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                  void (*ctx_drop)(void *), void (*run)(vow_loop *, vow__task *),
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
    r->link.ops = &react_link_ops;
    r->out = out;
    if (fin)
        r->fin = fin;
    else
        r->on_ok = on_ok;
    r->on_err = on_err;
    r->ctx = ctx;
    r->ctx_drop = ctx_drop;
    r->base.task.run = run;
    /* Last: if p turns out to be garbage, r is discarded here and out stays pending. */
    vow__attach(p, &r->base);
    return out;
}

vow *vow_then_full(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                   void (*ctx_drop)(void *ctx))
{
    return chain(p, on_ok, on_err, ctx, ctx_drop, then_run, NULL);
}

vow *vow_then(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx)
{
    return chain(p, on_ok, on_err, ctx, NULL, then_run, NULL);
}

vow *vow_catch(vow *p, vow_err_fn on_err, void *ctx)
{
    return chain(p, NULL, on_err, ctx, NULL, then_run, NULL);
}

vow *vow_finally(vow *p, vow_ret (*fn)(void *ctx), void *ctx)
{
    if (!fn)
        return chain(p, NULL, NULL, ctx, NULL, then_run, NULL);
    return chain(p, NULL, NULL, ctx, NULL, finally_run, fn);
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
        r->base.task.run = finwait_run;
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
            vow__apply(out, ret, src);
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

/* ------------------------------------------------------------ public basics */

vow *vow_pending(vow_loop *l)
{
    if (!l)
        return NULL;
    return vow__new(l);
}

vow *vow_resolved(vow_loop *l, vow_val v)
{
    vow *p = l ? vow__new(l) : NULL;
    if (!p) {
        val_drop(&v);
        return NULL;
    }
    vow__fulfil(p, v);
    return p;
}

vow *vow_rejected(vow_loop *l, int code, vow_val detail)
{
    vow *p = l ? vow__new(l) : NULL;
    if (!p) {
        val_drop(&detail);
        return NULL;
    }
    vow__reject(p, code < 0 ? code : VOW_EINVAL, detail);
    return p;
}

static int resolvable(const vow *p)
{
    if (!p)
        return VOW_EINVAL;
    if (p->state != VOW_PENDING || (p->flags & VF_LOCKED))
        return VOW_ESETTLED;
    return 0;
}

int vow_resolve(vow *p, vow_val v)
{
    int rc = resolvable(p);
    if (rc < 0) {
        val_drop(&v);
        return rc;
    }
    vow__fulfil(p, v);
    return 0;
}

int vow_reject(vow *p, int code, vow_val detail)
{
    int rc = code < 0 ? resolvable(p) : VOW_EINVAL;
    if (rc < 0) {
        val_drop(&detail);
        return rc;
    }
    vow__reject(p, code, detail);
    return 0;
}

int vow_resolve_with(vow *p, vow *other)
{
    int rc = other ? resolvable(p) : VOW_EINVAL;
    if (rc < 0) {
        vow_unref(other);
        return rc;
    }
    if (other == p) {
        vow_unref(other);
        vow__reject(p, VOW_ECYCLE, vow_val_none());
        return 0;
    }
    return vow__adopt(p, other);
}

int vow_settle(vow *p, vow_ret r)
{
    int rc = r.kind_ >= RET_OK && r.kind_ < RET_PASS ? resolvable(p) : VOW_EINVAL;
    if (rc == 0 && r.kind_ == RET_FOLLOW && !r.follow_)
        rc = VOW_EINVAL;
    if (rc < 0) {
        ret_drop(&r);
        return rc;
    }
    if (r.kind_ == RET_FOLLOW)
        return vow_resolve_with(p, r.follow_);
    vow__apply(p, r, NULL);
    return 0;
}

int vow_state(const vow *p)
{
    return p ? p->state : VOW_EINVAL;
}

int vow_code(const vow *p)
{
    return p ? p->code : VOW_EINVAL;
}

const vow_val *vow_value(const vow *p)
{
    if (!p || p->state == VOW_PENDING)
        return NULL;
    return &vow__owner(p)->val;
}

#ifdef VOW_TESTING
/* White-box tests: how many vows of l are alive. */
size_t vow__live_vows(vow_loop *l);
size_t vow__live_vows(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    return x ? x->live : 0;
}
#endif

vow_loop *vow_loop_of(const vow *p)
{
    return p ? p->loop : NULL;
}

/* ------------------------------------------------------ unhandled rejections */

int vow_loop_set_unhandled(vow_loop *l, vow_unhandled_fn fn, void *ctx)
{
    vow__check(l, VOW_EINVAL);
    struct vow__ext *x = vow__ext_get(l);
    if (!x)
        return VOW_ENOMEM;
    x->hook = fn;
    x->hook_ctx = ctx;
    return 0;
}

static void report(struct vow__ext *x, vow *p, int event)
{
    if (x->hook) {
        x->hook(x->hook_ctx, p, event);
    } else if (event == VOW_UNHANDLED) {
        fprintf(stderr, "libvow: unhandled rejection: %s (%s)\n", vow_err_name(p->code),
                vow_strerror(p->code));
    }
}

/*
 * End of a microtask checkpoint: rejections that are still without a handler are
 * reported, then those handled after being reported. The lists hold a reference, so
 * a rejected vow dropped unhandled is reported too.
 */
static void ext_checkpoint(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    while (x->unhandled || x->late) {
        vow *p = x->unhandled;
        int late = 0;
        if (p) {
            x->unhandled = p->list_next;
            if (!x->unhandled)
                x->unhandled_tail = &x->unhandled;
        } else {
            p = x->late;
            late = 1;
            x->late = p->list_next;
            if (!x->late)
                x->late_tail = &x->late;
        }
        p->flags &= (uint8_t)~VF_LISTED;
        if (late) {
            report(x, p, VOW_HANDLED_LATE);
        } else if (!(p->flags & VF_HANDLED)) {
            p->flags |= VF_REPORTED;
            report(x, p, VOW_UNHANDLED);
        }
        vow_unref(p);
    }
}
