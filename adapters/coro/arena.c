/* SPDX-License-Identifier: MIT */
/*
 * The copy-stack arena (arena.h): bump allocation in chunks that double from 16 KiB
 * to 2 MiB, per-class free lists on top. Chunks come from vow_malloc_chunk, so the
 * 2 MiB ones are huge pages: a million parked coroutines fault in a few hundred
 * pages, not a hundred thousand.
 */
#include "arena.h"

#include "vow.h"

#include <stdint.h>

#define CHUNK_MIN ((size_t)16 * 1024)
#define CHUNK_MAX ((size_t)2 * 1024 * 1024)

struct chunk {
    struct chunk *next; /* older chunk */
    size_t size;        /* bytes, header included */
};

/* Headers are one grain, so blocks stay aligned to it. */
_Static_assert(sizeof(struct chunk) == VOW_CO_ARENA_GRAIN, "a chunk header is one grain");

void *vow__co_arena_get(struct vow__co_arena *a, size_t n)
{
    if (n > VOW_CO_ARENA_MAX)
        return vow_malloc(n);
    n = vow__co_arena_round(n);
    void **fl = &a->free[n / VOW_CO_ARENA_GRAIN - 1];
    void *p = *fl;
    if (p) {
        *fl = *(void **)p;
        return p;
    }
    if ((size_t)(a->end - a->bump) < n) {
        /* What is left of the old chunk is abandoned: at most one block's worth. */
        size_t size = a->next_chunk ? a->next_chunk : CHUNK_MIN;
        struct chunk *c = vow_malloc_chunk(size);
        if (!c)
            return NULL;
        c->next = a->chunks;
        c->size = size;
        a->chunks = c;
        a->bump = (char *)(c + 1);
        a->end = (char *)c + size;
        a->next_chunk = size < CHUNK_MAX ? size * 2 : CHUNK_MAX;
    }
    p = a->bump;
    a->bump += n;
    return p;
}

void *vow__co_arena_take(struct vow__co_arena *a, size_t n)
{
    if (n > VOW_CO_ARENA_MAX)
        return NULL;
    n = vow__co_arena_round(n);
    void **fl = &a->free[n / VOW_CO_ARENA_GRAIN - 1];
    void *p = *fl;
    if (p) {
        *fl = *(void **)p;
        return p;
    }
    if ((size_t)(a->end - a->bump) < n)
        return NULL;
    p = a->bump;
    a->bump += n;
    return p;
}

void vow__co_arena_put(struct vow__co_arena *a, void *p, size_t n)
{
    if (n > VOW_CO_ARENA_MAX) {
        vow_free(p);
        return;
    }
    void **fl = &a->free[vow__co_arena_round(n) / VOW_CO_ARENA_GRAIN - 1];
    *(void **)p = *fl;
    *fl = p;
}

void vow__co_arena_fini(struct vow__co_arena *a)
{
    struct chunk *c = a->chunks;
    while (c) {
        struct chunk *next = c->next;
        vow_free_chunk(c, c->size);
        c = next;
    }
    for (size_t i = 0; i < sizeof(a->free) / sizeof(a->free[0]); i++)
        a->free[i] = NULL;
    a->bump = a->end = NULL;
    a->chunks = NULL;
    a->next_chunk = 0;
}
