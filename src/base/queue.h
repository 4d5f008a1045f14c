/* SPDX-License-Identifier: MIT */
/*
 * Intrusive circular doubly linked lists (libuv's queue.h idea, typed). A node whose
 * next is NULL is on no list, which handles use as their "inactive" mark.
 */
#ifndef VOW_QUEUE_H
#define VOW_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct vow__qnode {
    struct vow__qnode *next; /* next node, or the head; NULL when unlinked */
    struct vow__qnode *prev; /* previous node, or the head */
};

static inline void vow__q_init(struct vow__qnode *h)
{
    h->next = h;
    h->prev = h;
}

static inline bool vow__q_empty(const struct vow__qnode *h)
{
    return h->next == h;
}

static inline bool vow__q_linked(const struct vow__qnode *n)
{
    return n->next != NULL;
}

static inline void vow__q_insert_tail(struct vow__qnode *h, struct vow__qnode *n)
{
    n->next = h;
    n->prev = h->prev;
    h->prev->next = n;
    h->prev = n;
}

static inline void vow__q_remove(struct vow__qnode *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = NULL;
    n->prev = NULL;
}

/* Moves every node of from (which becomes empty) to the front of to. */
static inline void vow__q_splice_front(struct vow__qnode *from, struct vow__qnode *to)
{
    if (vow__q_empty(from))
        return;
    struct vow__qnode *first = from->next;
    struct vow__qnode *last = from->prev;
    last->next = to->next;
    to->next->prev = last;
    to->next = first;
    first->prev = to;
    vow__q_init(from);
}

#endif /* VOW_QUEUE_H */
