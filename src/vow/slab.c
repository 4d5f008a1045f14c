/* SPDX-License-Identifier: MIT */
/*
 * Slab chunks: each starts with a small header (next chunk, size); objects follow.
 * Chunks come from the allocator seam (vow__chunk_alloc), so failure injection and
 * replaced allocators see them; memory goes back when the vow layer resets a slab
 * (no object alive) or at loop close.
 */
#include "slab.h"

#define CHUNK_MIN (16u * 1024u)
#define CHUNK_MAX (2u * 1024u * 1024u)

struct chunk {
    struct chunk *next; /* older chunk */
    size_t size;        /* bytes, header included */
};

void vow__slab_init(struct vow__slab *s, size_t size)
{
    s->size = (size + 7u) & ~(size_t)7u;
    s->free = NULL;
    s->bump = NULL;
    s->end = NULL;
    s->chunks = NULL;
    s->next_chunk = CHUNK_MIN;
}

void *vow__slab_grow(struct vow__slab *s)
{
    size_t size = s->next_chunk;
    struct chunk *c = vow__chunk_alloc(size);
    if (!c)
        return NULL;
    c->next = s->chunks;
    c->size = size;
    s->chunks = c;
    if (s->next_chunk < CHUNK_MAX)
        s->next_chunk *= 2;
    s->bump = (char *)(c + 1);
    s->end = (char *)c + size;
    void *p = s->bump;
    s->bump += s->size;
    return p;
}

void vow__slab_reset(struct vow__slab *s)
{
    struct chunk *keep = s->chunks;
    if (!keep)
        return;
    struct chunk *c = keep->next;
    while (c) {
        struct chunk *next = c->next;
        vow__chunk_free(c, c->size);
        c = next;
    }
    keep->next = NULL;
    s->chunks = keep;
    s->free = NULL;
    s->bump = (char *)(keep + 1);
    s->end = (char *)keep + keep->size;
}

void vow__slab_fini(struct vow__slab *s)
{
    struct chunk *c = s->chunks;
    while (c) {
        struct chunk *next = c->next;
        vow__chunk_free(c, c->size);
        c = next;
    }
    vow__slab_init(s, s->size);
}
