/* SPDX-License-Identifier: MIT */
/*
 * A FIFO of plain waits for the flag, the semaphore and the lock. Each waiter is a
 * pending vow held weakly: its abort hook takes it off the queue when the vow is
 * cancelled or its last reference dropped, so what is handed out only ever reaches
 * a waiter somebody still wants.
 */
#include "sync_int.h"

/* A waiting vow. */
struct sync_wq_node {
    struct sync_wq_node *prev, *next; /* neighbours in the queue */
    vow *p;                           /* its vow (weak, see above) */
    struct sync_wq *q;                /* the queue it is on */
};

static void unlink_node(struct sync_wq_node *a)
{
    struct sync_wq *q = a->q;
    if (a->prev)
        a->prev->next = a->next;
    else
        q->head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        q->tail = a->prev;
}

static void node_abort(void *ctx, vow *p)
{
    struct sync_wq_node *a = ctx;
    (void)p;
    unlink_node(a);
    vow__free(a);
}

vow *sync_wq_wait(vow_loop *l, struct sync_wq *q)
{
    struct sync_wq_node *a = vow__malloc(sizeof(*a));
    vow *p = a ? vow_pending(l) : NULL;
    if (!p || vow_on_cancel_named(p, node_abort, a, "sync wait") < 0) {
        vow_unref(p);
        vow__free(a);
        return NULL;
    }
    a->p = p;
    a->q = q;
    a->next = NULL;
    a->prev = q->tail;
    if (q->tail)
        q->tail->next = a;
    else
        q->head = a;
    q->tail = a;
    return p;
}

vow *sync_wq_pop(struct sync_wq *q)
{
    struct sync_wq_node *a = q->head;
    vow *p = a->p;
    unlink_node(a);
    vow__free(a);
    return p;
}

void sync_wq_reject_all(struct sync_wq *q, int code)
{
    while (q->head)
        vow_reject(sync_wq_pop(q), code, vow_val_none());
}
