/* SPDX-License-Identifier: MIT */
/*
 * Timers: a heap ordered by (deadline, start sequence) on the loop's cached clock, so
 * a timer never fires early and equal deadlines fire in start order.
 */
#include "reactor.h"

#include <limits.h>
#include <string.h>

_Static_assert(sizeof(struct vow__timer_impl) <= sizeof(((vow_timer *)0)->private_),
               "vow_timer private storage too small");

static struct vow__timer_impl *node_timer(struct vow__heap_node *n)
{
    return vow__container_of(n, struct vow__timer_impl, node);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

int vow_timer_init(vow_loop *l, vow_timer *t, vow_timer_fn cb)
{
    vow__check(l && t && cb, VOW_EINVAL);
    struct vow__timer_impl *ti = VOW__IMPL(timer, t);
    memset(ti, 0, sizeof(*ti));
    ti->loop = l;
    ti->cb = cb;
    ti->node.index = VOW__HEAP_NONE;
    return 0;
}

int vow_timer_start(vow_timer *t, uint64_t timeout, uint64_t repeat)
{
    vow__check(t && VOW__IMPL(timer, t)->loop, VOW_EINVAL);
    struct vow__timer_impl *ti = VOW__IMPL(timer, t);
    vow_loop *l = ti->loop;
    if (ti->node.index != VOW__HEAP_NONE) {
        vow__heap_remove(&l->timers, &ti->node);
    } else {
        int r = vow__heap_reserve(&l->timers, l->timers.n + 1);
        if (r < 0)
            return r;
        l->active++;
    }
    ti->node.key = add_sat(l->now, timeout);
    ti->node.seq = l->timer_seq++;
    ti->repeat = repeat;
    vow__heap_push(&l->timers, &ti->node);
    return 0;
}

int vow_timer_stop(vow_timer *t)
{
    vow__check(t && VOW__IMPL(timer, t)->loop, VOW_EINVAL);
    struct vow__timer_impl *ti = VOW__IMPL(timer, t);
    if (ti->node.index == VOW__HEAP_NONE)
        return 0;
    vow__heap_remove(&ti->loop->timers, &ti->node);
    ti->loop->active--;
    return 0;
}

/*
 * Runs every timer due at the cached time that was started before this phase: a timer
 * (re)started from a callback with timeout 0 is due too, but waits for the next phase,
 * so a callback that restarts itself cannot spin here forever.
 */
void vow__timers_run(vow_loop *l)
{
    uint64_t phase = l->timer_seq;
    struct vow__heap_node *n;
    while ((n = vow__heap_top(&l->timers)) != NULL && n->key <= l->now && n->seq < phase) {
        struct vow__timer_impl *ti = node_timer(n);
        vow__heap_remove(&l->timers, n);
        if (ti->repeat) {
            n->key = add_sat(l->now, ti->repeat);
            n->seq = l->timer_seq++;
            vow__heap_push(&l->timers, n);
        } else {
            l->active--;
        }
        l->cb_depth++;
        ti->cb(VOW__PUB(timer, ti));
        l->cb_depth--;
        vow__loop_after_cb(l);
        if (l->stop_flag)
            break;
    }
}

int vow__timers_timeout_at(const vow_loop *l, uint64_t now)
{
    const struct vow__heap_node *n = vow__heap_top(&l->timers);
    if (!n)
        return -1;
    if (n->key <= now)
        return 0;
    uint64_t d = n->key - now;
    return d > INT_MAX ? INT_MAX : (int)d;
}

int vow__timers_timeout(const vow_loop *l)
{
    return vow__timers_timeout_at(l, l->now);
}
