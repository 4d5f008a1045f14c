/* SPDX-License-Identifier: MIT */
/*
 * Cancellation: a pending vow is rejected with VOW_ECANCELED, its producers' links
 * run (timers stop, reactions die, abort hooks fire), and the sources that only the
 * cancelled vow wanted are cancelled in turn, through a worklist rather than
 * recursion, so a cancelled chain of any length takes constant C stack.
 */
#include "vow_int.h"

/*
 * src is wanted by nobody else when its only references are the caller's (one) and
 * those of the producers that will settle it.
 */
void vow__cancel_upstream(vow *src, vow **work)
{
    if (!src || src->state != VOW_PENDING)
        return;
    uint32_t held = 1;
    for (struct vow__link *k = src->up; k; k = k->next)
        held += (uint32_t)k->ops->holds_ref;
    if (src->refs == held) {
        src->work_next = *work;
        *work = src;
    }
}

void vow__cancel_from(vow *p)
{
    p->work_next = NULL;
    vow__cancel_run(p);
}

void vow__cancel_run(vow *work)
{
    while (work) {
        vow *x = work;
        work = x->work_next;
        if (x->state != VOW_PENDING)
            continue;
        struct vow__link *k = x->up;
        x->up = NULL;
        /* Held across the links: one of them may drop the last other reference. */
        vow_ref(x);
        vow__reject(x, VOW_ECANCELED, vow_val_none(), VF_CANCELED);
        while (k) {
            struct vow__link *next = k->next;
            k->ops->cancel(k, x, &work);
            k = next;
        }
        vow_unref(x);
    }
}

int vow_cancel(vow *p)
{
    vow__check(p, VOW_EINVAL);
    vow__check(p->state == VOW_PENDING, VOW_ESETTLED);
    vow__cancel_from(p);
    return 0;
}

/* A user abort hook: runs on cancel or when the vow is dropped while pending. */
struct hook {
    struct vow__link link; /* on the vow */
    vow_cancel_fn fn;      /* the producer's abort */
    void *ctx;             /* for fn */
};

static void hook_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct hook *h = vow__container_of(k, struct hook, link);
    (void)work;
    vow_cancel_fn fn = h->fn;
    void *ctx = h->ctx;
    vow__free(h);
    fn(ctx, p);
}

static void hook_release(struct vow__link *k)
{
    vow__free(vow__container_of(k, struct hook, link));
}

static const struct vow__link_ops hook_ops = { hook_cancel, hook_release, 0 };

int vow_on_cancel(vow *p, vow_cancel_fn fn, void *ctx)
{
    vow__check(p && fn, VOW_EINVAL);
    vow__check(p->state == VOW_PENDING, VOW_ESETTLED);
    struct hook *h = vow__malloc(sizeof(*h));
    if (!h)
        return VOW_ENOMEM;
    h->link.ops = &hook_ops;
    h->fn = fn;
    h->ctx = ctx;
    vow__add_link(p, &h->link);
    return 0;
}
