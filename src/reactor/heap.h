/* SPDX-License-Identifier: MIT */
/*
 * A binary min-heap of intrusive nodes ordered by (key, seq): the timer queue. Nodes
 * remember their index so removal is O(log n); the array grows through vow__realloc
 * only in vow__heap_reserve, so push never fails once space is reserved.
 */
#ifndef VOW_HEAP_H
#define VOW_HEAP_H

#include "base.h"

#define VOW__HEAP_NONE ((size_t)-1)

struct vow__heap_node {
    uint64_t key;  /* deadline on the loop clock */
    uint64_t seq;  /* start order, the tie-breaker for equal keys */
    size_t index;  /* position in the array, VOW__HEAP_NONE when not in the heap */
};

struct vow__heap {
    struct vow__heap_node **a; /* the array, a[0] is the minimum */
    size_t n;                  /* nodes in the heap */
    size_t cap;                /* allocated slots */
};

static inline bool vow__heap_less(const struct vow__heap_node *x, const struct vow__heap_node *y)
{
    return x->key < y->key || (x->key == y->key && x->seq < y->seq);
}

/* Makes room for n nodes; VOW_ENOMEM leaves the heap unchanged. */
static inline int vow__heap_reserve(struct vow__heap *h, size_t n)
{
    if (n <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    struct vow__heap_node **a = vow__realloc(h->a, cap * sizeof(*a));
    if (!a)
        return VOW_ENOMEM;
    h->a = a;
    h->cap = cap;
    return 0;
}

static inline void vow__heap_set(struct vow__heap *h, size_t i, struct vow__heap_node *x)
{
    h->a[i] = x;
    x->index = i;
}

static inline void vow__heap_up(struct vow__heap *h, size_t i)
{
    struct vow__heap_node *x = h->a[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!vow__heap_less(x, h->a[p]))
            break;
        vow__heap_set(h, i, h->a[p]);
        i = p;
    }
    vow__heap_set(h, i, x);
}

static inline void vow__heap_down(struct vow__heap *h, size_t i)
{
    struct vow__heap_node *x = h->a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && vow__heap_less(h->a[c + 1], h->a[c]))
            c++;
        if (!vow__heap_less(h->a[c], x))
            break;
        vow__heap_set(h, i, h->a[c]);
        i = c;
    }
    vow__heap_set(h, i, x);
}

/* The caller reserved space for it. */
static inline void vow__heap_push(struct vow__heap *h, struct vow__heap_node *x)
{
    assert(h->n < h->cap);
    h->a[h->n] = x;
    x->index = h->n++;
    vow__heap_up(h, x->index);
}

static inline struct vow__heap_node *vow__heap_top(const struct vow__heap *h)
{
    return h->n ? h->a[0] : NULL;
}

static inline void vow__heap_remove(struct vow__heap *h, struct vow__heap_node *x)
{
    size_t i = x->index;
    assert(i < h->n && h->a[i] == x);
    struct vow__heap_node *last = h->a[--h->n];
    x->index = VOW__HEAP_NONE;
    if (last == x)
        return;
    vow__heap_set(h, i, last);
    if (i > 0 && vow__heap_less(last, h->a[(i - 1) / 2]))
        vow__heap_up(h, i);
    else
        vow__heap_down(h, i);
}

/* 0 if every parent precedes its children and indices match, else VOW_ESTATE. */
static inline int vow__heap_verify(const struct vow__heap *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->a[i]->index != i)
            return VOW_ESTATE;
        if (i > 0 && vow__heap_less(h->a[i], h->a[(i - 1) / 2]))
            return VOW_ESTATE;
    }
    return 0;
}

static inline void vow__heap_fini(struct vow__heap *h)
{
    vow__free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

#endif /* VOW_HEAP_H */
