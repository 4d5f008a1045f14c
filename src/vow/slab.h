/* SPDX-License-Identifier: MIT */
/*
 * Per-loop slabs for the vow layer's fixed-size hot objects (vows, fused then objects,
 * reactions): a bump pointer in chunks that grow from 16 KiB to 2 MiB (huge-page
 * backed when the default allocator is in use), plus a free list, and a warm reserve
 * of idle chunks shared by a loop's slabs. Single-threaded, like the loop.
 * Under AddressSanitizer every object not in use is poisoned, so ASan reports a use
 * after free of a vow or a reaction as it does for malloc'd memory; ASan and debug
 * builds (VOW_DEBUG) also keep freed objects in a quarantine before reuse, so a stale
 * pointer goes on pointing at a freed object for a while. Other builds compile all of
 * that away.
 */
#ifndef VOW_SLAB_H
#define VOW_SLAB_H

#include "base.h"

#if defined(__SANITIZE_ADDRESS__)
#define VOW__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VOW__ASAN 1
#endif
#endif
#ifndef VOW__ASAN
#define VOW__ASAN 0
#endif

#if VOW__ASAN
#include <sanitizer/asan_interface.h>
#define VOW__POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define VOW__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define VOW__POISON(p, n) ((void)(p), (void)(n))
#define VOW__UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Freed objects wait in a FIFO of this many before they can be reused (0: none). */
#if VOW__ASAN || defined(VOW_DEBUG)
#define VOW__SLAB_QUARANTINE 1024
#else
#define VOW__SLAB_QUARANTINE 0
#endif

/*
 * The warm reserve: chunks with no object in them, kept for the next burst instead
 * of going back to the system the moment no vow of the loop is alive, at most
 * VOW__SLAB_RESERVE_MAX bytes in all. Each slab keeps its own idle chunks (so it gets
 * back the sizes it grew to); a loop's slabs share the budget. vow_loop_trim and the
 * loop's close give them back.
 */
#ifndef VOW__SLAB_RESERVE_MAX /* (defined to 0 for a benchmark without the reserve) */
#define VOW__SLAB_RESERVE_MAX ((size_t)64 * 1024 * 1024)
#endif
struct vow__slab_reserve {
    size_t bytes; /* idle chunks of every slab sharing it, in bytes */
};

struct vow__slab {
    size_t size;       /* object size, a multiple of 8 */
    void *free;        /* freed objects, linked through their first word */
    char *bump;        /* next never-used object in the newest chunk */
    char *end;         /* end of the newest chunk */
    void *chunks;      /* chunks in use, newest first, linked through their header */
    void *idle;        /* chunks in the reserve, most recently used first */
    size_t next_chunk; /* size of the next chunk to get */
    struct vow__slab_reserve *reserve; /* the budget of idle chunks (shared), or NULL */
#if VOW__SLAB_QUARANTINE
    size_t qhead;                     /* oldest entry of quar */
    size_t qlen;                      /* entries in quar */
    void *quar[VOW__SLAB_QUARANTINE]; /* freed objects not reusable yet, a ring */
#endif
};

/* r (may be NULL: no idle chunks kept) is the reserve whose budget the slab shares. */
void vow__slab_init(struct vow__slab *s, size_t size, struct vow__slab_reserve *r);
void *vow__slab_grow(struct vow__slab *s); /* NULL on out-of-memory */
/*
 * Forgets every object: no object may be live. Its chunks go idle while the reserve
 * has room for them (the newest first), the rest back to the allocator.
 */
void vow__slab_reset(struct vow__slab *s);
void vow__slab_fini(struct vow__slab *s); /* every chunk goes back, idle ones too */
/* Gives the slab's idle chunks back; returns how many bytes. */
size_t vow__slab_trim(struct vow__slab *s);
#if VOW__SLAB_QUARANTINE
/* Puts p in the quarantine; the oldest object there moves to the free list. */
void vow__slab_quarantine(struct vow__slab *s, void *p);
#endif

/* Calls fn for every object handed out and not freed since (inspection; slow). Returns
 * 0 or VOW_ENOMEM. */
int vow__slab_each(struct vow__slab *s, void (*fn)(void *ctx, void *obj), void *ctx);

static inline void *vow__slab_get(struct vow__slab *s)
{
    void *p = s->free;
    if (p) {
        VOW__UNPOISON(p, s->size);
        s->free = *(void **)p;
        return p;
    }
    if ((size_t)(s->end - s->bump) >= s->size) {
        p = s->bump;
        s->bump += s->size;
        VOW__UNPOISON(p, s->size);
        return p;
    }
    return vow__slab_grow(s);
}

static inline void vow__slab_put(struct vow__slab *s, void *p)
{
#if VOW__SLAB_QUARANTINE
    vow__slab_quarantine(s, p);
#else
    *(void **)p = s->free;
    s->free = p;
#endif
}

#endif /* VOW_SLAB_H */
