/* SPDX-License-Identifier: MIT */
/*
 * Per-loop slabs for the vow layer's fixed-size hot objects (vows, reactions): a bump
 * pointer in chunks that grow from 16 KiB to 2 MiB (huge-page backed when the default
 * allocator is in use), plus a free list. Single-threaded, like the loop.
 */
#ifndef VOW_SLAB_H
#define VOW_SLAB_H

#include "base.h"

struct vow__slab {
    size_t size;       /* object size, a multiple of 8 */
    void *free;        /* freed objects, linked through their first word */
    char *bump;        /* next never-used object in the newest chunk */
    char *end;         /* end of the newest chunk */
    void *chunks;      /* chunks, newest first, linked through their header */
    size_t next_chunk; /* size of the next chunk to get */
};

void vow__slab_init(struct vow__slab *s, size_t size);
void *vow__slab_grow(struct vow__slab *s); /* NULL on out-of-memory */
/* Forgets every object and keeps only the newest chunk: no object may be live. */
void vow__slab_reset(struct vow__slab *s);
void vow__slab_fini(struct vow__slab *s);

static inline void *vow__slab_get(struct vow__slab *s)
{
    void *p = s->free;
    if (p) {
        s->free = *(void **)p;
        return p;
    }
    if ((size_t)(s->end - s->bump) >= s->size) {
        p = s->bump;
        s->bump += s->size;
        return p;
    }
    return vow__slab_grow(s);
}

static inline void vow__slab_put(struct vow__slab *s, void *p)
{
    *(void **)p = s->free;
    s->free = p;
}

#endif /* VOW_SLAB_H */
