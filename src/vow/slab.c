/* SPDX-License-Identifier: MIT */
/*
 * Slab chunks: each starts with a small header (next chunk, size); objects follow.
 * Chunks come from the allocator seam (vow__chunk_alloc), so failure injection and
 * replaced allocators see them. When the vow layer resets a slab (no object alive),
 * its chunks wait in the loop's reserve, up to VOW__SLAB_RESERVE_MAX, and the rest go
 * back; the reserve goes back on vow_loop_trim and at loop close. Under ASan, a
 * chunk's objects are poisoned until handed out and again once freed, and unpoisoned
 * before the chunk goes back.
 */
#include "slab.h"

#include <stdlib.h>

#define CHUNK_MIN (16u * 1024u)
#define CHUNK_MAX (2u * 1024u * 1024u)

struct chunk {
    struct chunk *next; /* older chunk */
    size_t size;        /* bytes, header included */
};

void vow__slab_init(struct vow__slab *s, size_t size, struct vow__slab_reserve *r)
{
    s->size = (size + 7u) & ~(size_t)7u;
    s->free = NULL;
    s->bump = NULL;
    s->end = NULL;
    s->chunks = NULL;
    s->idle = NULL;
    s->next_chunk = CHUNK_MIN;
    s->reserve = r;
#if VOW__SLAB_QUARANTINE
    s->qhead = 0;
    s->qlen = 0;
#endif
}

/* An idle chunk if the slab has one (no fault, no system call), else a new one. */
static struct chunk *chunk_get(struct vow__slab *s)
{
    struct chunk *c = s->idle;
    if (c) {
        s->idle = c->next;
        s->reserve->bytes -= c->size;
        return c;
    }
    c = vow__chunk_alloc(s->next_chunk);
    if (c) {
        c->size = s->next_chunk;
        if (s->next_chunk < CHUNK_MAX)
            s->next_chunk *= 2;
    }
    return c;
}

void *vow__slab_grow(struct vow__slab *s)
{
    struct chunk *c = chunk_get(s);
    if (!c)
        return NULL;
    c->next = s->chunks;
    s->chunks = c;
    s->bump = (char *)(c + 1);
    s->end = (char *)c + c->size;
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
    struct vow__slab_reserve *r = s->reserve;
    struct chunk *c = s->chunks, *keep = NULL, **tail = &keep;
    /* Newest first: the chunks touched last are the ones kept, and taken first. */
    while (c) {
        struct chunk *next = c->next;
        if (r && r->bytes + c->size <= VOW__SLAB_RESERVE_MAX) {
            VOW__POISON(c + 1, c->size - sizeof(*c));
            r->bytes += c->size;
            *tail = c;
            tail = &c->next;
        } else {
            chunk_free(c);
        }
        c = next;
    }
    *tail = s->idle;
    s->idle = keep;
    s->chunks = NULL;
    s->free = NULL;
    s->bump = NULL;
    s->end = NULL;
#if VOW__SLAB_QUARANTINE
    s->qhead = 0;
    s->qlen = 0;
#endif
}

/* Frees a list of chunks; returns their total size. */
static size_t chunks_free(struct chunk *c)
{
    size_t bytes = 0;
    while (c) {
        struct chunk *next = c->next;
        bytes += c->size;
        chunk_free(c);
        c = next;
    }
    return bytes;
}

size_t vow__slab_trim(struct vow__slab *s)
{
    size_t bytes = chunks_free(s->idle);
    s->idle = NULL;
    if (s->reserve)
        s->reserve->bytes -= bytes;
    return bytes;
}

void vow__slab_fini(struct vow__slab *s)
{
    vow__slab_trim(s);
    chunks_free(s->chunks);
    vow__slab_init(s, s->size, s->reserve);
}

/* ---------------------------------------------------- inspection (vow_loop_walk) */

#if !VOW__ASAN
static int slab_ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}
#endif

/* Objects in use are those of the chunks (the newest up to bump) that are on neither
 * the free list nor the quarantine; under ASan, those not poisoned. */
int vow__slab_each(struct vow__slab *s, void (*fn)(void *ctx, void *obj), void *ctx)
{
#if VOW__ASAN
    for (struct chunk *c = s->chunks; c; c = c->next) {
        char *end = c == s->chunks ? s->bump : (char *)c + c->size;
        for (char *o = (char *)(c + 1); o + s->size <= end; o += s->size)
            if (!__asan_address_is_poisoned(o))
                fn(ctx, o);
    }
    return 0;
#else
    size_t n = 0;
    for (void *p = s->free; p; p = *(void **)p)
        n++;
#if VOW__SLAB_QUARANTINE
    n += s->qlen;
#endif
    void **set = vow__malloc((n + 1) * sizeof(*set));
    if (!set)
        return VOW_ENOMEM;
    n = 0;
    for (void *p = s->free; p; p = *(void **)p)
        set[n++] = p;
#if VOW__SLAB_QUARANTINE
    for (size_t i = 0; i < s->qlen; i++)
        set[n++] = s->quar[(s->qhead + i) % VOW__SLAB_QUARANTINE];
#endif
    qsort(set, n, sizeof(*set), slab_ptr_cmp);
    for (struct chunk *c = s->chunks; c; c = c->next) {
        char *end = c == s->chunks ? s->bump : (char *)c + c->size;
        for (char *o = (char *)(c + 1); o + s->size <= end; o += s->size) {
            void *key = o;
            if (!bsearch(&key, set, n, sizeof(*set), slab_ptr_cmp))
                fn(ctx, o);
        }
    }
    vow__free(set);
    return 0;
#endif
}
