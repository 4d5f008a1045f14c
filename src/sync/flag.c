/* SPDX-License-Identifier: MIT */
/*
 * The settable flag. While it is clear, waiters share one pending vow, each through a
 * pass-through vow_then of its own, and setting the flag settles them all in the order
 * they started waiting. The flag is the shared vow's producer and holds it weakly (an
 * abort hook, no reference): a waiter that is cancelled or dropped only detaches its
 * own reaction while others still want the shared vow, and when the last one goes
 * the shared vow goes too, so an idle flag holds no vow (and never blocks
 * vow_loop_close).
 */
#include "sync_int.h"

struct vow_flag {
    vow_loop *loop; /* the flag's loop */
    vow *shared;    /* while clear and waited on: the vow every waiter follows (weak) */
    bool set;       /* the flag */
};

vow_flag *vow_flag_new(vow_loop *l)
{
    if (!l)
        return NULL;
    vow_flag *f = vow__malloc(sizeof(*f));
    if (!f)
        return NULL;
    f->loop = l;
    f->shared = NULL;
    f->set = false;
    return f;
}

void vow_flag_close(vow_flag *f)
{
    if (!f)
        return;
    vow *s = f->shared;
    vow__free(f);
    if (s)
        vow_reject(s, VOW_ECLOSED, vow_val_none());
}

int vow_flag_set(vow_flag *f)
{
    vow__check(f, VOW_EINVAL);
    f->set = true;
    vow *s = f->shared;
    f->shared = NULL;
    if (s)
        vow_resolve(s, vow_val_none());
    return 0;
}

int vow_flag_clear(vow_flag *f)
{
    vow__check(f, VOW_EINVAL);
    f->set = false;
    return 0;
}

int vow_flag_is_set(const vow_flag *f)
{
    vow__check(f, VOW_EINVAL);
    return f->set;
}

/* The shared vow was cancelled (its last waiter was) or dropped (its last waiter
 * was): the next wait makes a new one. */
static void shared_gone(void *ctx, vow *p)
{
    vow_flag *f = ctx;
    if (f->shared == p)
        f->shared = NULL;
}

vow *vow_flag_wait(vow_flag *f)
{
    if (!f)
        return NULL;
    if (f->set)
        return vow_resolved(f->loop, vow_val_none());
    if (f->shared)
        return vow_then(vow_ref(f->shared), NULL, NULL, NULL);
    vow *s = vow_pending(f->loop);
    if (!s)
        return NULL;
    if (vow_on_cancel(s, shared_gone, f) < 0) {
        vow_unref(s);
        return NULL;
    }
    f->shared = s;
    /* The first waiter's reaction takes the only reference. */
    return vow_then(s, NULL, NULL, NULL);
}
