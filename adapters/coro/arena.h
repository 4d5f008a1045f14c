/* SPDX-License-Identifier: MIT */
/*
 * A per-loop arena for copy-stack coroutines: their bookkeeping and the buffers that
 * keep their stacks while they are evicted, in size classes of 16 bytes carved from
 * chunks of the allocator's memory (vow_malloc_chunk), with a free list per class, so a buffer freed by
 * one coroutine is the next one's and a suspended coroutine costs the bytes it uses,
 * not an allocator size class. Larger blocks go to vow_malloc. The chunks go back
 * when the arena is finalised (the loop's last coroutine finished). Loop thread only.
 */
#ifndef VOW_CO_ARENA_H
#define VOW_CO_ARENA_H

#include <stddef.h>

#define VOW_CO_ARENA_GRAIN ((size_t)16)
#define VOW_CO_ARENA_MAX ((size_t)4096) /* larger blocks come from vow_malloc */

struct vow__co_arena {
    void *free[VOW_CO_ARENA_MAX / VOW_CO_ARENA_GRAIN]; /* per class, linked through word 0 */
    char *bump;        /* next unused byte of the newest chunk */
    char *end;         /* its end */
    void *chunks;      /* every chunk, newest first, linked through its header */
    size_t next_chunk; /* size of the next chunk */
};

/* The size a request of n bytes really gets (a whole number of grains). */
static inline size_t vow__co_arena_round(size_t n)
{
    return n <= VOW_CO_ARENA_MAX ? (n + VOW_CO_ARENA_GRAIN - 1) & ~(VOW_CO_ARENA_GRAIN - 1) : n;
}

/* A block of at least n (> 0) bytes, 16-byte aligned; NULL when out of memory. */
void *vow__co_arena_get(struct vow__co_arena *a, size_t n);

/* The same, but only from what the arena holds (no new chunk, no vow_malloc): NULL if
 * it would have to grow. */
void *vow__co_arena_take(struct vow__co_arena *a, size_t n);

/* Gives back a block of n bytes (the n it was got with). */
void vow__co_arena_put(struct vow__co_arena *a, void *p, size_t n);

/* Frees every chunk: no block may be in use. */
void vow__co_arena_fini(struct vow__co_arena *a);

#endif /* VOW_CO_ARENA_H */
