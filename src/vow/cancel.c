/* SPDX-License-Identifier: MIT */
/*
 * Cancellation: a pending vow is rejected with VOW_ECANCELED, its producers' links
 * run (timers stop, reactions die, abort hooks fire), and the sources that only the
 * cancelled vow wanted are cancelled in turn, through a worklist rather than
 * recursion, so a cancelled chain of any length takes constant C stack.
 */
#include "vow_int.h"

/* Takes t off the circular reaction list of the pending vow src. */
static void list_remove(vow *src, vow__task *t)
{
    vow__task *tail = src->rtail, *prev = tail;
    if (!tail)
        return;
    do {
        if (prev->next == t) {
            prev->next = t->next;
            if (tail == t)
                src->rtail = prev == t ? NULL : prev;
            src->nreact--;
            return;
        }
        prev = prev->next;
    } while (prev != tail);
}

/*
 * A consumer that no longer wants its pending source leaves it: off the source's
 * list, and its reference either dropped or, when no consumer is left on the
 * source, handed to the worklist so the source is cancelled in turn. Consumers, not
 * references, decide: a reference keeps a vow's memory, not its operation (a handle
 * kept only to cancel with later must not keep the operation running). A dead
 * consumer left attached would keep counting as wanting the source.
 */
void vow__react_detach(struct vow__react *r, vow **work)
{
    vow *src = r->src;
    r->src = NULL;
    list_remove(src, &r->task);
    if (work && src->nreact == 0)
        vow__cancel_push(src, work);
    else
        vow__drop(src);
}

/*
 * A vow already on a cancellation worklist stays there once; one being collected
 * (its worklist link is taken, and nothing can settle it anyway) is left to the
 * collector.
 */
void vow__cancel_push(vow *src, vow **work)
{
    if (src->flags & (VF_QUEUED | VF_GARBAGE)) {
        vow__drop(src);
        return;
    }
    src->flags |= VF_QUEUED;
    src->work_next = *work;
    *work = src;
}

/* Rejects x (pending) as cancelled and runs its producers' links; sources left with
 * no consumer go to work. x's worklist link is not touched: it may be on one. Each
 * link leaves x's list just before it runs, so one that takes another off (an abort
 * hook stopping another hook of x) finds it there. */
static void cancel_one(vow *x, vow **work)
{
    struct vow__link *k = x->up;
    x->up = NULL;
    vow__reject(x, VOW_ECANCELED, vow_val_none());
    /* Settled now, so no link can be added while they run; the up word is free (a
     * cancellation is never listed as unhandled), so the rest of the list stays there
     * for a hook that takes another off it. */
    x->up = k;
    while ((k = x->up) != NULL) {
        x->up = k->next;
        k->ops->cancel(k, x, work);
    }
}

/* Each vow on the worklist comes with one reference, released once it is done. */
void vow__cancel_run(vow *work)
{
    while (work) {
        vow *x = work;
        work = x->work_next;
        x->flags &= (uint8_t)~VF_QUEUED;
        if (x->state == VOW_PENDING)
            cancel_one(x, &work);
        vow__drop(x);
    }
}

int vow_cancel(vow *p)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_cancel");
    vow__dbg_call_done();
#endif
    vow__check(p, VOW_EINVAL);
    vow__check(p->state == VOW_PENDING, VOW_ESETTLED);
    vow *work = NULL;
    vow__hold(p);
    cancel_one(p, &work);
    vow__drop(p);
    vow__cancel_run(work);
    return 0;
}

/*
 * A user abort hook: runs on cancel or when the vow is dropped while pending. It
 * comes from the loop's slab of adoption-sized objects: an I/O operation that waits
 * with one (a read on a stream) costs no allocator call.
 */
struct hook {
    struct vow__link link; /* on the vow */
    vow_cancel_fn fn;      /* the producer's abort */
    void *ctx;             /* for fn */
    vow_loop *loop;        /* whose slab it came from */
    const char *name;      /* what inspection calls the producer, or NULL */
};

_Static_assert(sizeof(struct hook) <= VOW__REACT_SIZE, "a hook fits its slab");

static void hook_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct hook *h = vow__container_of(k, struct hook, link);
    (void)work;
    vow_cancel_fn fn = h->fn;
    void *ctx = h->ctx;
    vow__react_free(h->loop, h);
    fn(ctx, p);
}

static void hook_release(struct vow__link *k)
{
    struct hook *h = vow__container_of(k, struct hook, link);
    vow__react_free(h->loop, h);
}

/* No fixed name: each hook has its own (vow__link_name). */
static const struct vow__link_ops hook_ops = { hook_cancel, hook_release, NULL, NULL };

const char *vow__link_name(const struct vow__link *k)
{
    if (k->ops->name)
        return k->ops->name;
    if (k->ops == &hook_ops) {
        const struct hook *h = vow__container_of(k, struct hook, link);
        return h->name ? h->name : "producer";
    }
    return NULL;
}

int vow_on_cancel(vow *p, vow_cancel_fn fn, void *ctx)
{
    return vow_on_cancel_named(p, fn, ctx, NULL);
}

int vow_on_cancel_named(vow *p, vow_cancel_fn fn, void *ctx, const char *name)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_on_cancel");
    vow__dbg_call_done();
#endif
    vow__check(p && fn, VOW_EINVAL);
    vow__check(p->state == VOW_PENDING, VOW_ESETTLED);
    struct hook *h = vow__react_alloc(p->loop);
    if (!h)
        return VOW_ENOMEM;
    h->link.ops = &hook_ops;
    h->fn = fn;
    h->ctx = ctx;
    h->loop = p->loop;
    h->name = name;
    vow__add_link(p, &h->link);
    return 0;
}

/* An abort hook in caller memory (vow_abort): the private layout of the handle. */
struct abort_hook {
    struct vow__link link; /* on p while registered */
    vow *p;                /* the vow it is registered on, or NULL: idle */
    vow_abort_fn fn;       /* the producer's abort */
};
_Static_assert(sizeof(struct abort_hook) == sizeof(vow_abort), "vow_abort holds a hook");

static void abort_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct abort_hook *a = vow__container_of(k, struct abort_hook, link);
    (void)work;
    a->p = NULL;
    a->fn((vow_abort *)(void *)a, p);
}

static void abort_release(struct vow__link *k)
{
    vow__container_of(k, struct abort_hook, link)->p = NULL;
}

static const struct vow__link_ops abort_ops = { abort_cancel, abort_release, NULL, "producer" };

int vow_abort_init(vow_abort *pub, vow_abort_fn fn)
{
    vow__check(pub && fn, VOW_EINVAL);
    struct abort_hook *a = (struct abort_hook *)(void *)pub;
    a->link.next = NULL;
    a->link.ops = &abort_ops;
    a->p = NULL;
    a->fn = fn;
    return 0;
}

int vow_abort_start(vow_abort *pub, vow *p)
{
    vow__check(pub && p, VOW_EINVAL);
    struct abort_hook *a = (struct abort_hook *)(void *)pub;
    vow__check(a->fn && a->link.ops == &abort_ops, VOW_EINVAL);
    vow__check(!a->p, VOW_EBUSY);
    vow__check(p->state == VOW_PENDING, VOW_ESETTLED);
    a->p = p;
    vow__add_link(p, &a->link);
    return 0;
}

/* The vow lost a producer: if that leaves nothing to settle it, it is collected. */
int vow_abort_stop(vow_abort *pub)
{
    vow__check(pub, VOW_EINVAL);
    struct abort_hook *a = (struct abort_hook *)(void *)pub;
    vow *p = a->p;
    if (!p)
        return 0;
    a->p = NULL;
    vow__unlink(p, &a->link);
    vow__collect_maybe(p);
    return 0;
}
