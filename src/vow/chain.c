/* SPDX-License-Identifier: MIT */
/*
 * Chaining: then/catch/finally reactions, the handler results (vow_ok, vow_fail,
 * vow_follow, vow_pass), adoption of one vow by another and the cycle check that
 * keeps adoption from waiting on itself. Handlers only ever run from the loop's
 * microtask queue.
 */
#include "vow_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A then, catch or finally is one slab object: the derived vow, then the reaction
 * that settles it (fused). The reaction holds its vow until it is done, so the
 * reaction half is always done first; the object goes back to its slab when the
 * vow's last reference goes, and until then the done half is dead space (poisoned
 * under ASan). The small form has one handler and no ctx_drop (vow_then with only
 * on_ok, vow_catch): the fields up to on_err; the large form has them all.
 */
struct then_part {
    struct vow__react base; /* queue node and the source it holds */
    union {
        vow_ok_fn on_ok;           /* then: fulfilment handler or NULL */
        vow_err_fn on_err1;        /* small catch: its rejection handler */
        vow_ret (*fin)(void *ctx); /* finally: the callback */
    };
    void *ctx; /* handler context; finally-wait: the original vow */
    /* The large form only: */
    union {
        vow_err_fn on_err; /* then: rejection handler or NULL */
        uint32_t hops;     /* finally: queue turns still to wait (see below) */
    };
    void (*ctx_drop)(void *ctx); /* runs once after the handler or when discarded */
};

struct then_obj {
    struct vow v;       /* the derived vow */
    struct then_part r; /* the reaction that settles it */
};

#define THEN1_SIZE offsetof(struct then_obj, r.on_err)
#define THEN2_SIZE sizeof(struct then_obj)

/* Memory per step: a then with one handler costs 88 bytes, vow included. */
#ifndef VOW_DEBUG
_Static_assert(sizeof(void *) != 8 || THEN1_SIZE == 88, "a small then is 88 bytes on LP64");
_Static_assert(sizeof(void *) != 8 || THEN2_SIZE == 104, "a large then is 104 bytes on LP64");
#endif

/* Slab object sizes (life.c). */
const size_t vow__then_size[2] = {THEN1_SIZE, THEN2_SIZE};

static inline struct then_part *part_of(vow *out)
{
    return &((struct then_obj *)(void *)out)->r;
}

static inline vow *out_of(struct then_part *r)
{
    return &vow__container_of(r, struct then_obj, r)->v;
}

/* An adoption reaction (a handler's vow_follow, vow_resolve_with): its own slab. */
struct adopt_react {
    struct vow__react base; /* queue node and the vow adopted (held) */
    vow *out;               /* the adopter (a reference if the kind holds it) */
    struct vow__link link;  /* on out: cancellation reaches the source through it */
    uint32_t hops;          /* queue turns still to wait (see struct then_kind) */
};

_Static_assert(sizeof(struct adopt_react) <= VOW__REACT_SIZE, "an adoption fits its slab");

/*
 * The kinds of reaction, each with what it becomes when its derived vow is cancelled
 * after it was queued (dead: it only lets go when it comes up), and whether it holds
 * a reference to that vow. Reactions that run user code (then, finally and the
 * adoption of what a handler returned) hold it: they run whether or not anybody
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
    uint8_t large;                /* a fused then of the large form */
    uint8_t holds_out;            /* an adoption that holds a reference to out */
};

static inline const struct then_kind *kind_of(const struct vow__react *r)
{
    return (const struct then_kind *)(const void *)r->task.ops;
}

static void then1_ok_run(vow_loop *l, vow__task *t);
static void then1_err_run(vow_loop *l, vow__task *t);
static void then2_run(vow_loop *l, vow__task *t);
static void finally_run(vow_loop *l, vow__task *t);
static void finhop_run(vow_loop *l, vow__task *t);
static void finwait_run(vow_loop *l, vow__task *t);
static void then_dead(vow_loop *l, vow__task *t);
static void finwait_dead(vow_loop *l, vow__task *t);
static void then_discard(struct vow__react *base, vow **work);
static void finwait_discard(struct vow__react *base, vow **work);
static void adopt_job_run(vow_loop *l, vow__task *t);
static void adopt_run(vow_loop *l, vow__task *t);
static void adopt_dead(vow_loop *l, vow__task *t);
static void adopt_discard(struct vow__react *base, vow **work);

/* Fused thens. */
static const struct then_kind dead1_kind = {{{then_dead}, then_discard}, NULL, 0, 0};
static const struct then_kind dead2_kind = {{{then_dead}, then_discard}, NULL, 1, 0};
static const struct then_kind finwait_dead_kind = {{{finwait_dead}, finwait_discard}, NULL, 1, 0};
static const struct then_kind then1_ok_kind = {{{then1_ok_run}, then_discard}, &dead1_kind, 0, 0};
static const struct then_kind then1_err_kind = {{{then1_err_run}, then_discard}, &dead1_kind, 0, 0};
static const struct then_kind then2_kind = {{{then2_run}, then_discard}, &dead2_kind, 1, 0};
static const struct then_kind finally_kind = {{{finally_run}, then_discard}, &dead2_kind, 1, 0};
static const struct then_kind finhop_kind = {{{finhop_run}, then_discard}, &dead2_kind, 1, 0};
static const struct then_kind finwait_kind = {
    {{finwait_run}, finwait_discard}, &finwait_dead_kind, 1, 0};
/* Adoptions. */
static const struct then_kind adopt_dead_kind = {{{adopt_dead}, adopt_discard}, NULL, 0, 1};
static const struct then_kind adopt_dead_weak_kind = {{{adopt_dead}, adopt_discard}, NULL, 0, 0};
static const struct then_kind adopt_job_kind = {
    {{adopt_job_run}, adopt_discard}, &adopt_dead_kind, 0, 1};
static const struct then_kind adopt_job_weak_kind = {
    {{adopt_job_run}, adopt_discard}, &adopt_dead_weak_kind, 0, 0};
static const struct then_kind adopt_kind = {{{adopt_run}, adopt_discard}, &adopt_dead_kind, 0, 1};
static const struct then_kind adopt_weak_kind = {
    {{adopt_run}, adopt_discard}, &adopt_dead_weak_kind, 0, 0};

/*
 * The link on a fused then's vow. The reaction is at a fixed place after the vow, so
 * every fused then shares this one link, reached through the vow it is on. It is
 * only ever the last link of a list: its next stays NULL, never written (see
 * self_link_add).
 */
static void self_link_cancel(struct vow__link *k, vow *p, vow **work);
static void self_parents(struct vow__link *k, vow *p, struct vow__search *s);
static const struct vow__link_ops self_link_ops = {self_link_cancel, NULL, self_parents,
                                                   "then"};
static struct vow__link self_link = {NULL, &self_link_ops};

/* The link of an adoption on its adopter. */
static void adopt_link_cancel(struct vow__link *k, vow *p, vow **work);
static void job_link_cancel(struct vow__link *k, vow *p, vow **work);
static void adopt_parents(struct vow__link *k, vow *p, struct vow__search *s);
static const struct vow__link_ops adopt_link_ops = {adopt_link_cancel, NULL, adopt_parents,
                                                    "adopt"};
static const struct vow__link_ops job_link_ops = {job_link_cancel, NULL, adopt_parents,
                                                  "adopt"};

/* out (pending) gets its fused reaction back as a producer, after any other. */
static void self_link_add(vow *out)
{
    struct vow__link **pp = &out->up;
    while (*pp)
        pp = &(*pp)->next;
    *pp = &self_link;
}

/* out's fused reaction is no longer its producer. */
static inline void self_unlink(vow *out)
{
    if (vow__likely(out->up == &self_link))
        out->up = NULL;
    else
        vow__unlink(out, &self_link);
}

/* The reaction half is done: poisoned (ASan), marked (debug); the vow lives on. */
static inline void part_free(struct then_part *r, int large)
{
#ifdef VOW_DEBUG
    r->base.task.ops = NULL;
#endif
    VOW__POISON(r, large ? sizeof(*r) : offsetof(struct then_part, on_err));
    (void)r;
    (void)large;
}

#ifdef VOW_DEBUG
void vow__then_dbg_done(const vow *p)
{
    const struct then_part *r = &((const struct then_obj *)(const void *)p)->r;
#if VOW__ASAN
    if (__asan_address_is_poisoned(&r->base.task.ops))
        return;
#endif
    if (r->base.task.ops != NULL) {
        fprintf(stderr, "libvow: internal error: vow %p freed before its reaction\n",
                (const void *)p);
        abort();
    }
}
#endif

/* Lets a queued reaction wait one more turn if it still has hops to make. */
static inline int hop(vow_loop *l, vow__task *t, uint32_t *hops)
{
    if (vow__likely(*hops == 0))
        return 0;
    (*hops)--;
    vow__task_push(vow__loop_microq(l), t);
    return 1;
}

/* A fused reaction ran or died: done, then lets go of its source (if any) and vow. */
static void part_release(struct then_part *r, int large)
{
    vow *src = r->base.src, *out = out_of(r);
    part_free(r, large);
    vow__drop(src);
    vow__drop(out);
}

/* Frees an adoption after it ran or died: lets go of its source (if any) and of out if
 * held. */
static void adopt_release(vow_loop *l, struct adopt_react *r)
{
    vow *src = r->base.src, *out = r->out;
    int holds = kind_of(&r->base)->holds_out;
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

static void self_parents(struct vow__link *k, vow *p, struct vow__search *s)
{
    (void)k;
    vow__search_visit(s, part_of(p)->base.src);
}

static void adopt_parents(struct vow__link *k, vow *p, struct vow__search *s)
{
    (void)p;
    vow__search_visit(s, vow__container_of(k, struct adopt_react, link)->base.src);
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
                k->ops->parents(k, x, &s);
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
static int collapse_onto(vow *p, vow *q, struct adopt_react *r)
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
        struct adopt_react *a = (struct adopt_react *)t;
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
    struct adopt_react *r = vow__react_alloc(l);
    if (!r) {
        vow_unref(q);
        return VOW_ENOMEM;
    }
    vow__take(q);
    r->base.src = q;
    r->out = holds ? vow__hold(p) : p;
    r->link.ops = &job_link_ops;
    r->hops = 0;
    r->base.task.ops = holds ? &adopt_job_kind.ops.task : &adopt_job_weak_kind.ops.task;
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
    struct adopt_react *r = (struct adopt_react *)t;
    vow *p = r->out, *q = r->base.src;
    int holds = kind_of(&r->base)->holds_out;
    if (holds && q->state == VOW_PENDING && collapse_onto(p, q, r)) {
        vow__unlink(p, &r->link);
        adopt_release(l, r);
        return;
    }
    r->base.task.ops = holds ? &adopt_kind.ops.task : &adopt_weak_kind.ops.task;
    r->link.ops = &adopt_link_ops;
    vow__attach(q, &r->base);
}

/* q settled: the adopter takes its outcome, unless it was settled meanwhile. */
static void adopt_run(vow_loop *l, vow__task *t)
{
    struct adopt_react *r = (struct adopt_react *)t;
    if (hop(l, t, &r->hops))
        return;
    vow *q = r->base.src, *out = r->out;
    vow__unlink(out, &r->link);
    if (out->state == VOW_PENDING)
        vow__forward(out, q);
    adopt_release(l, r);
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

/* The common case first: a value for a derived vow nobody else settled. */
static inline void then_settle(vow *out, vow_ret ret, vow *src)
{
    if (vow__likely(ret.kind_ == RET_OK && out->state == VOW_PENDING &&
                    !(out->flags & VF_LOCKED))) {
        vow__fulfil(out, ret.val_);
    } else if (out->state != VOW_PENDING || (out->flags & VF_LOCKED)) {
        ret_drop(&ret);
    } else {
        apply(out, ret, src, 1);
    }
}

/*
 * A fused then runs: the handler of the source's outcome (NULL: the outcome passes
 * through), then the ctx_drop; it settles its vow, and is done.
 */
static inline void then_run_common(struct then_part *r, vow_ok_fn on_ok, vow_err_fn on_err,
                                   void (*ctx_drop)(void *), int large)
{
    vow *src = r->base.src, *out = out_of(r);
    const vow *o = vow__owner(src);
    /* Unlink first: a cancel of out from inside the handler must not see us. */
    self_unlink(out);
    vow_ret ret;
    if (src->state == VOW_FULFILLED)
        ret = on_ok ? on_ok(r->ctx, &o->val) : vow_pass();
    else
        ret = on_err ? on_err(r->ctx, src->code, &o->val) : vow_pass();
    if (ctx_drop)
        ctx_drop(r->ctx);
    then_settle(out, ret, src);
    part_release(r, large);
}

static void then1_ok_run(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    (void)l;
    then_run_common(r, r->on_ok, NULL, NULL, 0);
}

static void then1_err_run(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    (void)l;
    then_run_common(r, NULL, r->on_err1, NULL, 0);
}

static void then2_run(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    (void)l;
    then_run_common(r, r->on_ok, r->on_err, r->ctx_drop, 1);
}

/* A queued reaction whose derived vow was cancelled: it only lets go. */
static void then_dead(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    (void)l;
    part_release(r, kind_of(&r->base)->large);
}

static void finwait_dead(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    (void)l;
    vow__drop((vow *)r->ctx);
    part_release(r, 1);
}

static void adopt_dead(vow_loop *l, vow__task *t)
{
    adopt_release(l, (struct adopt_react *)t);
}

/* The source of r is garbage: r will never run. */
static void then_discard(struct vow__react *base, vow **work)
{
    struct then_part *r = (struct then_part *)base;
    int large = kind_of(base)->large;
    vow *src = r->base.src, *out = out_of(r);
    if (large && r->ctx_drop)
        r->ctx_drop(r->ctx);
    self_unlink(out);
    part_free(r, large);
    vow__unref_collect(out, work);
    vow__unref_collect(src, work);
}

static void finwait_discard(struct vow__react *base, vow **work)
{
    vow__unref_collect((vow *)((struct then_part *)base)->ctx, work);
    then_discard(base, work);
}

static void adopt_discard(struct vow__react *base, vow **work)
{
    struct adopt_react *r = (struct adopt_react *)base;
    vow *src = r->base.src, *out = r->out;
    int holds = kind_of(base)->holds_out;
    vow__unlink(out, &r->link);
    vow__react_free(src->loop, r);
    if (holds)
        vow__unref_collect(out, work);
    else
        vow__collect_check(out, work);
    vow__unref_collect(src, work);
}

/*
 * The derived vow p was cancelled or dropped: its fused reaction will never settle
 * it. Its context is dropped now. If it waits on a pending source it leaves it
 * (cancelling the source when no other consumer is left) and is done; otherwise it
 * is already queued and becomes dead, to be done when it comes up.
 */
static void self_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct then_part *r = part_of(p);
    const struct then_kind *kind = kind_of(&r->base);
    (void)k;
    if (kind->large && r->ctx_drop) {
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
    /* p is held by whoever is cancelling it: not the last reference. */
    part_free(r, kind->large);
    vow__drop(p);
}

/* The same for an adoption whose job ran (it reacts to what it adopts). */
static void adopt_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct adopt_react *r = vow__container_of(k, struct adopt_react, link);
    const struct then_kind *kind = kind_of(&r->base);
    if (r->base.src->state != VOW_PENDING) {
        r->base.task.ops = &kind->dead->ops.task;
        return;
    }
    vow__react_detach(&r->base, work);
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
    struct adopt_react *r = vow__container_of(k, struct adopt_react, link);
    vow *q = r->base.src;
    (void)p;
    r->base.task.ops = &kind_of(&r->base)->dead->ops.task;
    /* q may be queued already (a combinator left it too): then the dead job keeps
     * its reference until it comes up, and q is cancelled once, by that worklist. */
    if (q->state == VOW_PENDING && q->nreact == 0 && !(q->flags & (VF_GARBAGE | VF_QUEUED))) {
        q->flags |= VF_QUEUED;
        r->base.src = NULL;
        vow__cancel_push(q, work);
    }
}

static vow *chain(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx, void (*ctx_drop)(void *),
                  vow_ret (*fin)(void *ctx), const char *fn)
{
    if (vow__unlikely(!p)) {
        if (ctx_drop)
            ctx_drop(ctx);
        return NULL;
    }
    vow__dbg_owned(p, fn);
    /* One handler and no ctx_drop: the small form. */
    const struct then_kind *kind = &then1_ok_kind;
    if (vow__unlikely(fin || ctx_drop || on_err))
        kind = fin ? &finally_kind : ctx_drop || on_ok ? &then2_kind : &then1_err_kind;
    vow *out = vow__new_in(p->loop, kind->large ? VOW__CLS_THEN2 : VOW__CLS_THEN1);
    if (vow__unlikely(!out)) {
        if (ctx_drop)
            ctx_drop(ctx);
        vow_unref(p);
        return NULL;
    }
    struct then_part *r = part_of(out);
    out->refs = 2; /* the caller's and the reaction's */
#ifdef VOW_DEBUG
    out->dbg_held = 1;
#endif
    out->up = &self_link;
    if (kind == &then1_err_kind) {
        r->on_err1 = on_err;
    } else if (fin) {
        r->fin = fin;
        r->hops = 0;
        r->ctx_drop = NULL;
    } else {
        r->on_ok = on_ok;
        if (kind->large) {
            r->on_err = on_err;
            r->ctx_drop = ctx_drop;
        }
    }
    r->ctx = ctx;
    r->base.task.ops = &kind->ops.task;
    /* Last: if p turns out to be garbage, r is discarded here and out stays pending. */
    vow__take(p);
    vow__attach(p, &r->base);
    return out;
}

vow *vow_then_full(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                   void (*ctx_drop)(void *ctx))
{
    return chain(p, on_ok, on_err, ctx, ctx_drop, NULL, "vow_then_full");
}

vow *vow_then(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx)
{
    return chain(p, on_ok, on_err, ctx, NULL, NULL, "vow_then");
}

vow *vow_catch(vow *p, vow_err_fn on_err, void *ctx)
{
    return chain(p, NULL, on_err, ctx, NULL, NULL, "vow_catch");
}

vow *vow_finally(vow *p, vow_ret (*fn)(void *ctx), void *ctx)
{
    return chain(p, NULL, NULL, ctx, NULL, fn, "vow_finally");
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
    struct then_part *r = (struct then_part *)t;
    vow *src = r->base.src, *out = out_of(r);
    self_unlink(out);
    vow_ret ret = r->fin(r->ctx);
    if (out->state != VOW_PENDING || (out->flags & VF_LOCKED)) {
        ret_drop(&ret);
        part_release(r, 1);
        return;
    }
    switch (ret.kind_) {
    case RET_OK:
    case RET_PASS:
        ret_drop(&ret);
        r->hops = 1;
        r->base.task.ops = &finhop_kind.ops.task;
        self_link_add(out);
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
        self_link_add(out);
        vow__take(q);
        vow__dbg_call_done();
        vow__attach(q, &r->base);
        return;
    }
    default:
        apply(out, ret, src, 1);
        break;
    }
    part_release(r, 1);
}

/* finally's callback returned a value: the original outcome passes, after the hops. */
static void finhop_run(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    if (hop(l, t, &r->hops))
        return;
    vow *src = r->base.src, *out = out_of(r);
    self_unlink(out);
    if (out->state == VOW_PENDING)
        vow__forward(out, src);
    part_release(r, 1);
}

static void finwait_run(vow_loop *l, vow__task *t)
{
    struct then_part *r = (struct then_part *)t;
    if (hop(l, t, &r->hops))
        return;
    vow *q = r->base.src, *out = out_of(r), *orig = r->ctx;
    self_unlink(out);
    if (out->state == VOW_PENDING)
        vow__forward(out, q->state == VOW_FULFILLED ? orig : q);
    vow__drop(orig);
    part_release(r, 1);
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
