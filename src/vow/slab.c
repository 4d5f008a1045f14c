/* SPDX-License-Identifier: MIT */
/*
 * Slab chunks: each starts with a small header (next chunk, size); objects follow.
 * Chunks come from the allocator seam (vow__chunk_alloc), so failure injection and
 * replaced allocators see them; memory goes back when the vow layer resets a slab
 * (no object alive) or at loop close. Under ASan, a chunk's objects are poisoned
 * until handed out and again once freed, and unpoisoned before the chunk goes back.
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
#if VOW__SLAB_QUARANTINE
    s->qhead = 0;
    s->qlen = 0;
#endif
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
    VOW__POISON(s->bump, (size_t)(s->end - s->bump));
    void *p = s->bump;
    s->bump += s->size;
    VOW__UNPOISON(p, s->size);
    return p;
}

#if VOW__SLAB_QUARANTINE
void vow__slab_quarantine(struct vow__slab *s, void *p)
{
    VOW__POISON(p, s->size);
    if (s->qlen < VOW__SLAB_QUARANTINE) {
        s->quar[(s->qhead + s->qlen++) % VOW__SLAB_QUARANTINE] = p;
        return;
    }
    void *old = s->quar[s->qhead];
    s->quar[s->qhead] = p;
    s->qhead = (s->qhead + 1) % VOW__SLAB_QUARANTINE;
    /* The free list's link is the only word of a free object ever written. */
    VOW__UNPOISON(old, sizeof(void *));
    *(void **)old = s->free;
    VOW__POISON(old, sizeof(void *));
    s->free = old;
}
#endif

/* Gives c back to the allocator (its shadow unpoisoned first, for whoever gets it). */
static void chunk_free(struct chunk *c)
{
    VOW__UNPOISON(c, c->size);
    vow__chunk_free(c, c->size);
}

void vow__slab_reset(struct vow__slab *s)
{
    struct chunk *keep = s->chunks;
    if (!keep)
        return;
    struct chunk *c = keep->next;
    while (c) {
        struct chunk *next = c->next;
        chunk_free(c);
        c = next;
    }
    keep->next = NULL;
    s->chunks = keep;
    s->free = NULL;
#if VOW__SLAB_QUARANTINE
    s->qhead = 0;
    s->qlen = 0;
#endif
    s->bump = (char *)(keep + 1);
    s->end = (char *)keep + keep->size;
    VOW__POISON(s->bump, (size_t)(s->end - s->bump));
}

void vow__slab_fini(struct vow__slab *s)
{
    struct chunk *c = s->chunks;
    while (c) {
        struct chunk *next = c->next;
        chunk_free(c);
        c = next;
    }
    vow__slab_init(s, s->size);
}
