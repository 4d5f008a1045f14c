/* SPDX-License-Identifier: MIT */
/*
 * Coroutine stacks: mmap'd slabs of equal-sized stacks, each with guard pages below
 * it, handed out and taken back by a per-loop pool. Loop thread only.
 */
#ifndef VOW_CO_STACK_H
#define VOW_CO_STACK_H

#include <stddef.h>

struct vow__co_slab;

/* One stack: [lo, lo + size) is usable, guard pages lie just below lo. */
struct vow__co_stack {
    void *lo;                   /* lowest usable address */
    size_t size;                /* usable bytes, a whole number of pages */
    struct vow__co_slab *slab;  /* the mapping it lives in */
    unsigned next_free;         /* index of the next free slot of the slab, or ~0u */
    unsigned vg_id;             /* Valgrind stack id, while registered */
    unsigned color;             /* bytes to leave free at the top (cache colouring) */
};

struct vow__co_pool {
    struct vow__co_slab *slabs; /* every slab, doubly linked */
    struct vow__co_slab *avail; /* slabs with a free or never-used slot */
    size_t in_use;              /* stacks handed out */
    size_t cached;              /* free stacks kept for reuse (dirty, guarded) */
    size_t idle;                /* slabs with no stack in use (kept: at most one) */
};

/* Rounds a requested size to whole pages, at least VOW_CO_STACK_MIN; 0 if it exceeds
 * VOW_CO_STACK_MAX. 0 in means the default. */
size_t vow__co_stack_round(size_t size);

/* A stack of exactly size bytes (from vow__co_stack_round): 0, or VOW_ENOMEM (the
 * slab header or the mapping failed). ret is not written on failure. */
int vow__co_stack_get(struct vow__co_pool *pool, size_t size, struct vow__co_stack **ret);

/* Gives a stack back; nothing may run on it any more. */
void vow__co_stack_put(struct vow__co_pool *pool, struct vow__co_stack *s);

/* Gives every slab up (no stack may be in use): up to 32 idle slabs stay with the
 * thread for the next pool of the same stack size (vow_co_trim unmaps them, as does
 * the thread's exit); the rest are unmapped. */
void vow__co_pool_fini(struct vow__co_pool *pool);

#endif /* VOW_CO_STACK_H */
