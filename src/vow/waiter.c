/* SPDX-License-Identifier: MIT */
/*
 * Waiters: caller-embedded consumers that call a C function when a vow settles, with
 * no derived vow. The handle is a reaction of its own kind: queued with the vow's
 * other reactions when the vow settles, withdrawn like any consumer (the vow is
 * cancelled when no other consumer is left), and when the vow is collected it stays
 * queued with its reference, so fn still runs, from the queue, with the vow pending.
 */
#include "vow_int.h"

/* The handle's private layout. */
struct waiter {
    struct vow__react base; /* node, and the vow waited on (NULL: idle) */
    vow_waiter_fn fn;      /* what runs */
};
_Static_assert(sizeof(struct waiter) == sizeof(vow_waiter), "vow_waiter holds a waiter");

static void waiter_run(vow_loop *l, vow__task *t);
static void waiter_discard(struct vow__react *r, vow **work);

/* Waiting, or queued because the vow settled. */
static const struct vow__react_ops waiter_ops = { { waiter_run }, waiter_discard };
/* Queued because the vow was collected: it is still pending, and fn will see it so.
 * It is on no vow's list, so it is never discarded. */
static const struct vow__react_ops waiter_collected_ops = { { waiter_run }, NULL };

static inline struct waiter *waiter_of(vow_waiter *w)
{
    return (struct waiter *)(void *)w;
}

/* fn runs with the waiter idle (it may start it again or free it); the reference to
 * the vow is let go after fn returns, through a local: w may be gone by then. */
static void waiter_run(vow_loop *l, vow__task *t)
{
    struct waiter *w = vow__container_of(t, struct waiter, base.task);
    vow *src = w->base.src;
    (void)l;
    w->base.src = NULL;
    w->base.task.ops = &waiter_ops.task;
    w->fn((vow_waiter *)(void *)w, src);
    vow__drop(src);
}

/*
 * The vow is garbage: nothing will settle it. The collector took the waiter off its
 * list; the waiter keeps its reference (so the vow is not freed under it) and is
 * queued, to tell its owner, which may be waiting for fn before it can let go of w.
 */
static void waiter_discard(struct vow__react *r, vow **work)
{
    (void)work;
    r->task.ops = &waiter_collected_ops.task;
    vow__task_push(vow__loop_microq(r->src->loop), &r->task);
}

int vow_waiter_init(vow_waiter *pub, vow_waiter_fn fn)
{
    vow__check(pub && fn, VOW_EINVAL);
    struct waiter *w = waiter_of(pub);
    w->base.task.next = NULL;
    w->base.task.ops = &waiter_ops.task;
    w->base.src = NULL;
    w->fn = fn;
    return 0;
}

int vow_waiter_start(vow_waiter *pub, vow *p)
{
    vow__check(pub && p, VOW_EINVAL);
    struct waiter *w = waiter_of(pub);
    vow__check(w->fn, VOW_EINVAL);
    vow__check(!w->base.src, VOW_EBUSY);
    /* The caller keeps its reference: p cannot be garbage here. */
    vow__attach(vow__hold(p), &w->base);
    return 0;
}

int vow_waiter_stop(vow_waiter *pub)
{
    vow__check(pub, VOW_EINVAL);
    struct waiter *w = waiter_of(pub);
    vow *src = w->base.src;
    if (!src)
        return 0;
    if (src->state != VOW_PENDING || w->base.task.ops == &waiter_collected_ops.task)
        return VOW_ESETTLED;
    vow *work = NULL;
    vow__react_detach(&w->base, &work);
    vow__cancel_run(work);
    return 0;
}

vow *vow_waiter_vow(const vow_waiter *pub)
{
    return pub ? ((const struct waiter *)(const void *)pub)->base.src : NULL;
}
