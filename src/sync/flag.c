/* SPDX-License-Identifier: MIT */
/*
 * The settable flag: a queue of waiting vows (waitq.c), all fulfilled by a set, in
 * the order they started waiting.
 */
#include "sync_int.h"

struct vow_flag {
    vow_loop *loop;   /* the flag's loop */
    struct sync_wq q; /* pending waits (only while clear) */
    bool set;         /* the flag */
};

vow_flag *vow_flag_new(vow_loop *l)
{
    if (!l)
        return NULL;
    vow_flag *f = vow__malloc(sizeof(*f));
    if (!f)
        return NULL;
    f->loop = l;
    f->q.head = f->q.tail = NULL;
    f->set = false;
    return f;
}

void vow_flag_close(vow_flag *f)
{
    if (!f)
        return;
    sync_wq_reject_all(&f->q, VOW_ECLOSED);
    vow__free(f);
}

int vow_flag_set(vow_flag *f)
{
    vow__check(f, VOW_EINVAL);
    f->set = true;
    while (f->q.head)
        vow_resolve(sync_wq_pop(&f->q), vow_val_none());
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

vow *vow_flag_wait(vow_flag *f)
{
    if (!f)
        return NULL;
    if (f->set)
        return vow_resolved(f->loop, vow_val_none());
    return sync_wq_wait(f->loop, &f->q);
}
