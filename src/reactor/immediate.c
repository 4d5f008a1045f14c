/* SPDX-License-Identifier: MIT */
/*
 * Immediates: one-shot callbacks for the next turn. The phase runs only what was
 * queued when it began; one started from a callback waits for the next turn.
 */
#include "reactor.h"

#include <string.h>

_Static_assert(sizeof(struct vow__immediate_impl) <= sizeof(((vow_immediate *)0)->private_),
               "vow_immediate private storage too small");

int vow_immediate_init(vow_loop *l, vow_immediate *im, vow_immediate_fn cb)
{
    vow__check(l && im && cb, VOW_EINVAL);
    struct vow__immediate_impl *ii = VOW__IMPL(immediate, im);
    memset(ii, 0, sizeof(*ii));
    ii->loop = l;
    ii->cb = cb;
    return 0;
}

int vow_immediate_start(vow_immediate *im)
{
    vow__check(im && VOW__IMPL(immediate, im)->loop, VOW_EINVAL);
    struct vow__immediate_impl *ii = VOW__IMPL(immediate, im);
    if (vow__q_linked(&ii->link))
        return 0;
    vow__q_insert_tail(&ii->loop->immediates, &ii->link);
    ii->loop->active++;
    return 0;
}

int vow_immediate_stop(vow_immediate *im)
{
    vow__check(im && VOW__IMPL(immediate, im)->loop, VOW_EINVAL);
    struct vow__immediate_impl *ii = VOW__IMPL(immediate, im);
    if (!vow__q_linked(&ii->link))
        return 0;
    vow__q_remove(&ii->link);
    ii->loop->active--;
    return 0;
}

/*
 * The queue is moved to a local list first; stop unlinks from whichever list holds
 * the node, so stopping a later immediate of this phase works. On vow_loop_stop the
 * rest goes back to the front of the loop's queue, keeping its order.
 */
void vow__immediates_run(vow_loop *l)
{
    struct vow__qnode phase;
    if (vow__q_empty(&l->immediates))
        return;
    vow__q_init(&phase);
    vow__q_splice_front(&l->immediates, &phase);
    while (!vow__q_empty(&phase)) {
        struct vow__qnode *q = phase.next;
        struct vow__immediate_impl *ii = vow__container_of(q, struct vow__immediate_impl, link);
        vow__q_remove(q);
        l->active--;
        l->cb_depth++;
        ii->cb(VOW__PUB(immediate, ii));
        l->cb_depth--;
        vow__loop_after_cb(l);
        if (l->stop_flag)
            break;
    }
    vow__q_splice_front(&phase, &l->immediates);
}
