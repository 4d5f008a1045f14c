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
    vow *out;                 /* the derived vow it settles (a reference if the kind holds it) */
    struct vow__link link;    /* on out: cancellation reaches the source through it */
    union {
        vow_ok_fn on_ok;              /* then: fulfilment handler or NULL */
        vow_ret (*fin)(void *ctx);    /* finally: the callback */
    };
    union {
        vow_err_fn on_err;    /* then: rejection handler or NULL */
        uint32_t hops;        /* adoption, finally: queue turns still to wait (see below) */
    };
    void *ctx;                /* handler context; finally-wait: the original vow */
    void (*ctx_drop)(void *ctx); /* runs once after the handler or when discarded */
};

/* Memory per reaction: a then, catch or finally costs this and its derived vow. */
_Static_assert(sizeof(struct then_react) <= 80, "a then reaction fits in 80 bytes");

/* Slab object size for reactions (life.c). */
const size_t vow__react_size = sizeof(struct then_react);

/*
 * The kinds of then-sized reaction, each with what it becomes when its derived vow is
 * cancelled after it was queued (dead: it only lets go when it comes up), and whether
 * it holds a reference to that vow. Reactions that run user code (then, finally and
 * the adoption of what a handler returned) hold it: they run whether or not anybody
 * else holds their vow, fire and forget as in JavaScript. An adoption made by
 * vow_resolve_with holds its vow weakly: dropping the vow withdraws it.
 *
 * Job order follows ECMAScript. Adopting q (a handler returning vow_follow(q), or
 * vow_resolve_with) first queues a job (NewPromiseResolveThenableJob), which then
 * reacts to q; when q settles, that reaction settles the adopter, whose own reactions
 * run a turn later: two turns more than a plain value, whether q was pending or
 * settled. finally waits two turns after its callback returns a value (its
 * thenFinally returns PromiseResolve(result).then(() => value)), and one turn after
 * a vow it returned settles. hops counts the turns a queued reaction still lets pass
 * (it goes to the back of the queue instead of running), which also keeps the order
 * when an adoption chain collapses (collapse_onto).
 */
struct then_kind {
    struct vow__react_ops ops;    /* run and discard; first, so task.ops points here */
    const struct then_kind *dead; /* the kind a queued reaction becomes when cancelled */
    int holds_out;                /* the reaction holds a reference to out */
};

static inline const struct then_kind *kind_of(const struct then_react *r)
{
    return (const struct then_kind *)(const void *)r->base.task.ops;
}

static void then_run(vow_loop *l, vow__task *t);
static void finally_run(vow_loop *l, vow__task *t);
static void finhop_run(vow_loop *l, vow__task *t);
static void finwait_run(vow_loop *l, vow__task *t);
static void adopt_job_run(vow_loop *l, vow__task *t);
static void adopt_run(vow_loop *l, vow__task *t);
static void react_dead(vow_loop *l, vow__task *t);
static void finwait_dead(vow_loop *l, vow__task *t);
static void then_discard(struct vow__react *base, vow **work);
static void finwait_discard(struct vow__react *base, vow **work);

static const struct then_kind dead_kind = { { { react_dead }, then_discard }, NULL, 1 };
static const struct then_kind dead_weak_kind = { { { react_dead }, then_discard }, NULL, 0 };
static const struct then_kind finwait_dead_kind = { { { finwait_dead }, finwait_discard }, NULL,
                                                    1 };
static const struct then_kind then_kind = { { { then_run }, then_discard }, &dead_kind, 1 };
static const struct then_kind finally_kind = { { { finally_run }, then_discard }, &dead_kind, 1 };
static const struct then_kind finhop_kind = { { { finhop_run }, then_discard }, &dead_kind, 1 };
static const struct then_kind finwait_kind = { { { finwait_run }, finwait_discard },
                                               &finwait_dead_kind, 1 };
static const struct then_kind adopt_job_kind = { { { adopt_job_run }, then_discard },
                                                 &dead_kind, 1 };
static const struct then_kind adopt_job_weak_kind = { { { adopt_job_run }, then_discard },
                                                      &dead_weak_kind, 0 };
static const struct then_kind adopt_kind = { { { adopt_run }, then_discard }, &dead_kind, 1 };
static const struct then_kind adopt_weak_kind = { { { adopt_run }, then_discard },
                                                  &dead_weak_kind, 0 };

/* The link on the derived vow: cancelling it reaches the source through the reaction. */
static void then_link_cancel(struct vow__link *k, vow *p, vow **work);
static void job_link_cancel(struct vow__link *k, vow *p, vow **work);
static void react_parents(struct vow__link *k, struct vow__search *s);
static const struct vow__link_ops then_link_ops = { then_link_cancel, NULL, react_parents,
                                                     "then" };
static const struct vow__link_ops job_link_ops = { job_link_cancel, NULL, react_parents,
                                                    "adopt" };

/* Lets a queued reaction wait one more turn if it still has hops to make. */
static inline int hop(vow_loop *l, struct then_react *r)
{
    if (vow__likely(r->hops == 0))
        return 0;
    r->hops--;
    vow__task_push(vow__loop_microq(l), &r->base.task);
    return 1;
}

/* Frees r after it ran or died: lets go of its source (if any) and of out if held. */
static void react_release(vow_loop *l, struct then_react *r)
{
    vow *src = r->base.src, *out = r->out;
    int holds = kind_of(r)->holds_out;
    vow__react_free(l, r);
    vow__drop(src);
    if (holds)
        vow__drop(out);
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
 * p, whose adoption job is running (r, which holds p), is held by nothing but its
 * own reactions and r, and those reactions are all adoptions waiting on p: nobody
 * can observe p itself. Its reactions move to q, one hop further back each (the turn
 * p's own settlement would have cost), and p is dropped. A loop written as "handle
 * this, then follow the next step" thus runs in constant memory, with the job order
 * ECMAScript gives the unfolded chain.
 */
static int collapse_onto(vow *p, vow *q, struct then_react *r)
{
    if (p->refs != p->nreact + 1 || p->up != &r->link || r->link.next || !p->rtail)
        return 0;
    vow__task *ptail = p->rtail, *t = ptail;
    do {
        t = t->next;
        const struct then_kind *k = (const struct then_kind *)(const void *)t->ops;
        if (k != &adopt_kind && k != &adopt_weak_kind)
            return 0;
    } while (t != ptail);
    do {
        t = t->next;
        struct then_react *a = (struct then_react *)t;
        a->base.src = q;
        a->hops++;
    } while (t != ptail);
    vow__mark_handled(q);
    q->refs += p->nreact;
    q->nreact += p->nreact;
    p->refs -= p->nreact;
#ifdef VOW_DEBUG
    q->dbg_held += p->nreact;
    p->dbg_held -= p->nreact;
#endif
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
 * p (pending, resolvable) adopts q, consuming q. holds says whether the adoption
 * holds p (user code's: a handler's result) or not (vow_resolve_with). A cycle
 * rejects p with VOW_ECYCLE; otherwise p is locked and the adoption job is queued.
 * Returns 0, or VOW_EINVAL (q of another loop) or VOW_ENOMEM with p unchanged.
 */
static int adopt(vow *p, vow *q, int holds, const char *fn)
{
    vow_loop *l = p->loop;
    vow__dbg_owned(q, fn);
    if (q->loop != l) {
        vow_unref(q);
        return VOW_EINVAL;
    }
    /* A cycle through adoption, reactions or combinators would never settle. */
    if (q == p || (q->state == VOW_PENDING && waits_on(q, p))) {
        vow_unref(q);
        vow__reject(p, VOW_ECYCLE, vow_val_none());
        return 0;
    }
    struct then_react *r = vow__react_alloc(l);
    if (!r) {
        vow_unref(q);
        return VOW_ENOMEM;
    }
    vow__take(q);
    r->base.src = q;
    r->out = holds ? vow__hold(p) : p;
    r->link.ops = &job_link_ops;
    r->on_ok = NULL;
    r->hops = 0;
    r->ctx = NULL;
    r->ctx_drop = NULL;
    r->base.task.ops = holds ? &adopt_job_kind.ops.task : &adopt_job_weak_kind.ops.task;
    vow__hooks_release(p);
    vow__add_link(p, &r->link);
    p->flags |= VF_LOCKED;
    /* The job holds q but is not one of its consumers until it runs (one turn): if
     * q's last consumer leaves meanwhile, q is cancelled and p adopts that. */
    vow__task_push(vow__loop_microq(l), &r->base.task);
    return 0;
}

/* The adoption job: react to q (collapsing a chain of adoptions where possible). */
static void adopt_job_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *p = r->out, *q = r->base.src;
    int holds = kind_of(r)->holds_out;
    if (holds && q->state == VOW_PENDING && collapse_onto(p, q, r)) {
        vow__unlink(p, &r->link);
        react_release(l, r);
        return;
    }
    r->base.task.ops = holds ? &adopt_kind.ops.task : &adopt_weak_kind.ops.task;
    r->link.ops = &then_link_ops;
    vow__attach(q, &r->base);
}

/* q settled: the adopter takes its outcome, unless it was settled meanwhile. */
static void adopt_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    if (hop(l, r))
        return;
    vow *q = r->base.src, *out = r->out;
    vow__unlink(out, &r->link);
    if (out->state == VOW_PENDING)
        vow__forward(out, q);
    react_release(l, r);
}

static void ret_drop(vow_ret *r)
{
    if (r->kind_ == RET_OK || r->kind_ == RET_FAIL)
        vow__val_drop(&r->val_);
    else if (r->kind_ == RET_FOLLOW)
        vow_unref(r->follow_);
}

/*
 * Settles out (pending, not locked) from a handler's result, with src as the
 * pass-through outcome (NULL: none). holds: an adoption holds out (a handler's
 * result, user code) or not (vow_settle).
 */
static void apply(vow *out, vow_ret ret, vow *src, int holds)
{
    int rc;
    switch (ret.kind_) {
    case RET_OK:
        vow__fulfil(out, ret.val_);
        return;
    case RET_FAIL:
        vow__dbg_cause(out, src); /* debug builds: the handler failed because of src */
        vow__reject(out, ret.code_, ret.val_);
        return;
    case RET_FOLLOW:
        rc = ret.follow_ ? adopt(out, ret.follow_, holds, "vow_follow") : VOW_EINVAL;
        /* The site of a tracked vow_follow served the check: it is used up. */
        vow__dbg_call_done();
        if (rc < 0)
            vow__reject(out, rc, vow_val_none());
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
    if (vow__likely(ret.kind_ == RET_OK && out->state == VOW_PENDING && !out->flags)) {
        vow__fulfil(out, ret.val_);
    } else if (out->state != VOW_PENDING || (out->flags & VF_LOCKED)) {
        ret_drop(&ret);
    } else {
        apply(out, ret, src, 1);
    }
    react_release(l, r);
}

/* A queued reaction whose derived vow was cancelled: it only lets go. */
static void react_dead(vow_loop *l, vow__task *t)
{
    react_release(l, (struct then_react *)t);
}

static void finwait_dead(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow__drop((vow *)r->ctx);
    react_release(l, r);
}

/* The source of r is garbage: r will never run. */
static void then_discard(struct vow__react *base, vow **work)
{
    struct then_react *r = (struct then_react *)base;
    vow *src = r->base.src, *out = r->out;
    int holds = kind_of(r)->holds_out;
    if (r->ctx_drop)
        r->ctx_drop(r->ctx);
    vow__unlink(out, &r->link);
    vow__react_free(src->loop, r);
    if (holds)
        vow__unref_collect(out, work);
    else
        vow__collect_check(out, work);
    vow__unref_collect(src, work);
}

static void finwait_discard(struct vow__react *base, vow **work)
{
    vow__unref_collect((vow *)((struct then_react *)base)->ctx, work);
    then_discard(base, work);
}

/*
 * The derived vow p was cancelled or dropped: this reaction will never settle it.
 * Its context is dropped now. If it waits on a pending source it leaves it
 * (cancelling the source when no other consumer is left) and is freed; otherwise it
 * is already queued and becomes dead, to be freed when it comes up.
 */
static void then_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct then_react *r = vow__container_of(k, struct then_react, link);
    const struct then_kind *kind = kind_of(r);
    if (r->ctx_drop) {
        r->ctx_drop(r->ctx);
        r->ctx_drop = NULL;
    }
    if (r->base.src->state != VOW_PENDING) {
        r->base.task.ops = &kind->dead->ops.task;
        return;
    }
    vow__react_detach(&r->base, work);
    if (kind == &finwait_kind)
        vow__drop((vow *)r->ctx);
    /* When held, out is p, which whoever is cancelling it holds: not the last reference. */
    vow__react_free(p->loop, r);
    if (kind->holds_out)
        vow__drop(p);
}

/*
 * p was cancelled or dropped while its adoption job is queued: the job dies, and q,
 * which it was about to consume, is cancelled if no consumer wants it.
 */
static void job_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct then_react *r = vow__container_of(k, struct then_react, link);
    vow *q = r->base.src;
    (void)p;
    r->base.task.ops = &kind_of(r)->dead->ops.task;
    /* q may be queued already (a combinator left it too): then the dead job keeps
     * its reference until it comes up, and q is cancelled once, by that worklist. */
    if (q->state == VOW_PENDING && q->nreact == 0 && !(q->flags & (VF_GARBAGE | VF_QUEUED))) {
        q->flags |= VF_QUEUED;
        r->base.src = NULL;
        vow__cancel_push(q, work);
    }
}

static vow *chain(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx, void (*ctx_drop)(void *),
                  const struct then_kind *kind, vow_ret (*fin)(void *ctx), const char *fn)
{
    if (vow__unlikely(!p)) {
        if (ctx_drop)
            ctx_drop(ctx);
        return NULL;
    }
    vow__dbg_owned(p, fn);
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
#ifdef VOW_DEBUG
    out->dbg_held = 1;
#endif
    out->up = &r->link;
    r->link.next = NULL;
    r->link.ops = &then_link_ops;
    r->out = out;
    if (fin) {
        r->fin = fin;
        r->hops = 0;
    } else {
        r->on_ok = on_ok;
        r->on_err = on_err;
    }
    r->ctx = ctx;
    r->ctx_drop = ctx_drop;
    r->base.task.ops = &kind->ops.task;
    /* Last: if p turns out to be garbage, r is discarded here and out stays pending. */
    vow__take(p);
    vow__attach(p, &r->base);
    return out;
}

vow *vow_then_full(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                   void (*ctx_drop)(void *ctx))
{
    return chain(p, on_ok, on_err, ctx, ctx_drop, &then_kind, NULL, "vow_then_full");
}

vow *vow_then(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx)
{
    return chain(p, on_ok, on_err, ctx, NULL, &then_kind, NULL, "vow_then");
}

vow *vow_catch(vow *p, vow_err_fn on_err, void *ctx)
{
    return chain(p, NULL, on_err, ctx, NULL, &then_kind, NULL, "vow_catch");
}

vow *vow_finally(vow *p, vow_ret (*fn)(void *ctx), void *ctx)
{
    if (!fn)
        return chain(p, NULL, NULL, ctx, NULL, &then_kind, NULL, "vow_finally");
    return chain(p, NULL, NULL, ctx, NULL, &finally_kind, fn, "vow_finally");
}

/*
 * finally: the callback's own failure wins at once. A value (or vow_pass) lets the
 * original outcome through two turns later; a vow it returns is waited for (one turn
 * after it settles), and then the original outcome passes through unless that vow
 * rejected. In both cases r stays, re-linked on out so cancelling out still reaches
 * it; the turns are ECMAScript's (see struct then_kind).
 */
static void finally_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    vow *src = r->base.src, *out = r->out;
    vow__unlink(out, &r->link);
    vow_ret ret = r->fin(r->ctx);
    if (out->state != VOW_PENDING || (out->flags & VF_LOCKED)) {
        ret_drop(&ret);
        react_release(l, r);
        return;
    }
    switch (ret.kind_) {
    case RET_OK:
    case RET_PASS:
        ret_drop(&ret);
        r->hops = 1;
        r->base.task.ops = &finhop_kind.ops.task;
        vow__add_link(out, &r->link);
        vow__task_push(vow__loop_microq(l), &r->base.task);
        return;
    case RET_FOLLOW: {
        vow *q = ret.follow_;
        if (q)
            vow__dbg_owned(q, "vow_follow");
        if (!q || q->loop != l) {
            ret_drop(&ret);
            vow__reject(out, VOW_EINVAL, vow_val_none());
            break;
        }
        if (q->state == VOW_PENDING && waits_on(q, out)) {
            /* Waiting on itself would never end: A+ 2.3.1's TypeError. */
            vow_unref(q);
            vow__reject(out, VOW_ECYCLE, vow_val_none());
            break;
        }
        /* Reuse this reaction to wait on the returned vow, holding the original. */
        r->ctx = src;
        r->base.src = NULL;
        r->hops = 1;
        r->base.task.ops = &finwait_kind.ops.task;
        vow__add_link(out, &r->link);
        vow__take(q);
        vow__dbg_call_done();
        vow__attach(q, &r->base);
        return;
    }
    default:
        apply(out, ret, src, 1);
        break;
    }
    react_release(l, r);
}

/* finally's callback returned a value: the original outcome passes, after the hops. */
static void finhop_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    if (hop(l, r))
        return;
    vow *src = r->base.src, *out = r->out;
    vow__unlink(out, &r->link);
    if (out->state == VOW_PENDING)
        vow__forward(out, src);
    react_release(l, r);
}

static void finwait_run(vow_loop *l, vow__task *t)
{
    struct then_react *r = (struct then_react *)t;
    if (hop(l, r))
        return;
    vow *q = r->base.src, *out = r->out, *orig = r->ctx;
    vow__unlink(out, &r->link);
    if (out->state == VOW_PENDING)
        vow__forward(out, q->state == VOW_FULFILLED ? orig : q);
    vow__drop(orig);
    react_release(l, r);
}

int vow_resolve_with(vow *p, vow *other)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_resolve_with");
    if (other)
        vow__dbg_owned(other, "vow_resolve_with");
#endif
    int rc = other ? vow__resolvable(p) : VOW_EINVAL;
    if (rc < 0) {
        vow_unref(other);
        vow__dbg_call_done();
        return rc;
    }
    rc = adopt(p, other, 0, "vow_resolve_with");
    vow__dbg_call_done();
    return rc;
}

int vow_settle(vow *p, vow_ret r)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_settle");
#endif
    int rc = r.kind_ >= RET_OK && r.kind_ < RET_PASS ? vow__resolvable(p) : VOW_EINVAL;
    if (rc == 0 && r.kind_ == RET_FOLLOW && !r.follow_)
        rc = VOW_EINVAL;
    if (rc < 0) {
        ret_drop(&r);
        vow__dbg_call_done();
        return rc;
    }
    if (r.kind_ == RET_FOLLOW)
        return vow_resolve_with(p, r.follow_);
    apply(p, r, NULL, 0);
    vow__dbg_call_done();
    return 0;
}
