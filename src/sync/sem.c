/* SPDX-License-Identifier: MIT */
/*
 * The counting semaphore and the lock. Both hand what is released straight to the
 * longest waiter (never back to the pool while someone waits), which makes them
 * FIFO-fair: a newcomer cannot overtake a waiter. Waiters are a sync_wq (waitq.c):
 * a cancelled or dropped acquire leaves the queue at once and never takes a unit.
 */
#include "sync_int.h"

/* -------------------------------------------------------------- semaphore */

struct vow_sem {
    vow_loop *loop;       /* the semaphore's loop */
    size_t count;         /* free units; 0 while anyone waits */
    struct sync_wq q;      /* waiting acquires */
};

vow_sem *vow_sem_new(vow_loop *l, size_t count)
{
    if (!l)
        return NULL;
    vow_sem *s = vow__malloc(sizeof(*s));
    if (!s)
        return NULL;
    s->loop = l;
    s->count = count;
    s->q.head = s->q.tail = NULL;
    return s;
}

void vow_sem_close(vow_sem *s)
{
    if (!s)
        return;
    /* Rejecting runs no user code (handlers run later, from microtasks). */
    sync_wq_reject_all(&s->q, VOW_ECLOSED);
    vow__free(s);
}

vow *vow_sem_acquire(vow_sem *s)
{
    if (!s)
        return NULL;
    if (s->count > 0) {
        vow *p = vow_resolved(s->loop, vow_val_none());
        if (p)
            s->count--;
        return p;
    }
    return sync_wq_wait(s->loop, &s->q);
}

int vow_sem_try_acquire(vow_sem *s)
{
    vow__check(s, VOW_EINVAL);
    if (s->count == 0)
        return VOW_EAGAIN;
    s->count--;
    return 0;
}

int vow_sem_release(vow_sem *s)
{
    vow__check(s, VOW_EINVAL);
    if (s->q.head) {
        vow_resolve(sync_wq_pop(&s->q), vow_val_none());
        return 0;
    }
    vow__check(s->count < SIZE_MAX, VOW_ENOSPC);
    s->count++;
    return 0;
}

size_t vow_sem_count(const vow_sem *s)
{
    return s ? s->count : 0;
}

/* ------------------------------------------------------------------- lock */

struct vow_lock {
    vow_loop *loop;     /* the lock's loop */
    int64_t owner;      /* the holder's token, 0 when free */
    int64_t last;       /* the last token handed out */
    struct sync_wq q;   /* waiting acquires */
};

vow_lock *vow_lock_new(vow_loop *l)
{
    if (!l)
        return NULL;
    vow_lock *k = vow__malloc(sizeof(*k));
    if (!k)
        return NULL;
    k->loop = l;
    k->owner = 0;
    k->last = 0;
    k->q.head = k->q.tail = NULL;
    return k;
}

int vow_lock_close(vow_lock *k)
{
    vow__check(k, VOW_EINVAL);
    /* Waiters exist only while the lock is held, so a free lock has none. */
    vow__check(k->owner == 0, VOW_EBUSY);
    vow__free(k);
    return 0;
}

vow *vow_lock_acquire(vow_lock *k)
{
    if (!k)
        return NULL;
    if (k->owner == 0) {
        vow *p = vow_resolved(k->loop, vow_val_num(k->last + 1));
        if (p)
            k->owner = ++k->last;
        return p;
    }
    return sync_wq_wait(k->loop, &k->q);
}

int vow_lock_try_acquire(vow_lock *k, int64_t *ret_token)
{
    vow__check(k && ret_token, VOW_EINVAL);
    if (k->owner != 0)
        return VOW_EAGAIN;
    k->owner = ++k->last;
    *ret_token = k->owner;
    return 0;
}

int vow_lock_release(vow_lock *k, int64_t token)
{
    vow__check(k, VOW_EINVAL);
    vow__check(k->owner != 0 && token == k->owner, VOW_EPERM);
    if (k->q.head) {
        k->owner = ++k->last;
        vow_resolve(sync_wq_pop(&k->q), vow_val_num(k->owner));
    } else {
        k->owner = 0;
    }
    return 0;
}

int vow_lock_is_held(const vow_lock *k)
{
    vow__check(k, VOW_EINVAL);
    return k->owner != 0;
}
