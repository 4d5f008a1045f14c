/* SPDX-License-Identifier: MIT */
/*
 * Stacks in slabs: one mapping holds up to 64 stacks, each with VOW_CO_GUARD bytes of
 * guard below it. Guards come from MADV_GUARD_INSTALL where the kernel has it (6.13+),
 * which marks page-table entries without splitting the mapping, so a million live
 * stacks stay far below vm.max_map_count; mprotect(PROT_NONE) is the fallback.
 * A slot is prepared (guard, Valgrind registration) the first time it is handed out,
 * so a lone coroutine pays for one slot, not for the whole slab. Slab headers sit in
 * the first page of their mapping, so idle slabs can outlive the pool (see spare).
 */
#include "stack.h"
#include "switch.h"

#include "vow.h"
#include "vow/co.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* Guard bytes below each stack: several pages, so a frame a little larger than a
 * page cannot step over the guard into the stack below. */
#define VOW_CO_GUARD_PAGES 4
#define SLAB_MAX_SLOTS 64u
#define SLAB_TARGET_BYTES ((size_t)8 * 1024 * 1024)
#define NO_SLOT (~0u)

struct vow__co_slab {
    struct vow__co_slab *prev, *next;      /* pool->slabs */
    struct vow__co_slab *aprev, *anext;    /* pool->avail, while on it */
    int on_avail;                          /* linked on pool->avail */
    char *base;                            /* the mapping, which starts with this header */
    char *first;                           /* slot 0, after the header pages */
    size_t map_len;                        /* its length */
    size_t slot_size;                      /* guard + stack */
    unsigned n;                            /* slots */
    unsigned used;                         /* slots handed out */
    unsigned prepared;                     /* slots [0, prepared) have their guard */
    unsigned free_head;                    /* first free prepared slot, or NO_SLOT */
    struct vow__co_stack slots[];          /* n slots */
};

/* Both are shared by every thread that runs coroutines; racing first writers store
 * the same value, and atomics keep that well-defined. */
static _Atomic size_t page_size_cache;

static size_t page_size(void)
{
    size_t pg = atomic_load_explicit(&page_size_cache, memory_order_relaxed);
    if (!pg) {
        long v = sysconf(_SC_PAGESIZE);
        pg = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page_size_cache, pg, memory_order_relaxed);
    }
    return pg;
}

/* 0 unknown, 1 MADV_GUARD_INSTALL works, 2 use mprotect. */
static _Atomic int guard_mode;

size_t vow__co_stack_round(size_t size)
{
    if (size == 0)
        size = VOW_CO_STACK_DEFAULT;
    if (size > VOW_CO_STACK_MAX)
        return 0;
    if (size < VOW_CO_STACK_MIN)
        size = VOW_CO_STACK_MIN;
    size_t pg = page_size();
    return (size + pg - 1) / pg * pg;
}

static void avail_add(struct vow__co_pool *pool, struct vow__co_slab *s)
{
    if (s->on_avail)
        return;
    s->on_avail = 1;
    s->aprev = NULL;
    s->anext = pool->avail;
    if (pool->avail)
        pool->avail->aprev = s;
    pool->avail = s;
}

static void avail_del(struct vow__co_pool *pool, struct vow__co_slab *s)
{
    if (!s->on_avail)
        return;
    s->on_avail = 0;
    if (s->aprev)
        s->aprev->anext = s->anext;
    else
        pool->avail = s->anext;
    if (s->anext)
        s->anext->aprev = s->aprev;
}

/* Idle slabs kept by the thread once their pool is gone, so a loop that runs
 * coroutines in bursts does not map, guard and fault in fresh stacks each time. The
 * headers live inside the mappings: the cache holds no allocator memory. */
#define SPARE_MAX 32u
static _Thread_local struct vow__co_slab *spare;
static _Thread_local unsigned n_spare;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static int spare_key_ok;

static void slab_unmap(struct vow__co_slab *s)
{
    for (unsigned i = 0; i < s->prepared; i++) {
#ifdef VOW_CO_VALGRIND
        VALGRIND_STACK_DEREGISTER(s->slots[i].vg_id);
#endif
#ifdef VOW_CO_ASAN
        ASAN_UNPOISON_MEMORY_REGION(s->slots[i].lo, s->slots[i].size);
#endif
    }
    munmap(s->base, s->map_len);
}

static void spare_thread_exit(void *token)
{
    (void)token;
    vow_co_trim();
}

static void spare_key_init(void)
{
    spare_key_ok = pthread_key_create(&spare_key, spare_thread_exit) == 0;
}

size_t vow_co_trim(void)
{
    size_t n = 0;
    while (spare) {
        struct vow__co_slab *s = spare;
        spare = s->next;
        n += s->prepared;
        slab_unmap(s);
    }
    n_spare = 0;
    return n;
}

/* s has no stack in use: it leaves the pool for the thread's cache, or is unmapped. */
static void slab_retire(struct vow__co_pool *pool, struct vow__co_slab *s)
{
    avail_del(pool, s);
    if (s->prev)
        s->prev->next = s->next;
    else
        pool->slabs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pool->cached -= s->prepared;
    pool->idle--;
    pthread_once(&spare_once, spare_key_init);
    if (n_spare < SPARE_MAX && spare_key_ok && pthread_setspecific(spare_key, &spare) == 0) {
        s->next = spare;
        spare = s;
        n_spare++;
        return;
    }
    slab_unmap(s);
}

static void slab_link(struct vow__co_pool *pool, struct vow__co_slab *s)
{
    s->on_avail = 0;
    s->prev = NULL;
    s->next = pool->slabs;
    if (pool->slabs)
        pool->slabs->prev = s;
    pool->slabs = s;
    pool->idle++;
    pool->cached += s->prepared;
    avail_add(pool, s);
}

static struct vow__co_slab *slab_new(struct vow__co_pool *pool, size_t size)
{
    size_t guard = VOW_CO_GUARD_PAGES * page_size();
    size_t slot = guard + size;
    for (struct vow__co_slab **pp = &spare; *pp; pp = &(*pp)->next) {
        struct vow__co_slab *s = *pp;
        if (s->slot_size == slot) {
            *pp = s->next;
            n_spare--;
            slab_link(pool, s);
            return s;
        }
    }
    size_t n = SLAB_TARGET_BYTES / slot;
    if (n > SLAB_MAX_SLOTS)
        n = SLAB_MAX_SLOTS;
    if (n == 0)
        n = 1;
    size_t pg = page_size();
    size_t hdr = (sizeof(struct vow__co_slab) + n * sizeof(struct vow__co_stack) + pg - 1) / pg * pg;
    char *base = mmap(NULL, hdr + n * slot, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    struct vow__co_slab *s = (struct vow__co_slab *)(void *)base;
    s->base = base;
    s->map_len = hdr + n * slot;
    s->first = base + hdr;
    s->slot_size = slot;
    s->n = (unsigned)n;
    s->used = 0;
    s->prepared = 0;
    s->free_head = NO_SLOT;
    slab_link(pool, s);
    return s;
}

static int guard_install(char *p, size_t len)
{
    if (guard_mode != 2) {
        if (madvise(p, len, MADV_GUARD_INSTALL) == 0) {
            guard_mode = 1;
            return 0;
        }
        if (guard_mode == 1 || (errno != EINVAL && errno != ENOSYS))
            return -errno;
        guard_mode = 2;
    }
    return mprotect(p, len, PROT_NONE) == 0 ? 0 : -errno;
}

/* Prepares the next never-used slot of s: its guard and its Valgrind registration. */
static struct vow__co_stack *slot_prepare(struct vow__co_slab *s)
{
    size_t guard = VOW_CO_GUARD_PAGES * page_size();
    char *slot = s->first + (size_t)s->prepared * s->slot_size;
    if (guard_install(slot, guard) < 0)
        return NULL;
    struct vow__co_stack *st = &s->slots[s->prepared];
    st->lo = slot + guard;
    st->size = s->slot_size - guard;
    st->slab = s;
    st->next_free = NO_SLOT;
    st->vg_id = 0;
    /* Stack tops at a fixed page offset would all land in the same cache sets, and
     * every coroutine touches its top first; spread them over a page. */
    st->color = ((s->prepared * 37u) % 64u) * 64u;
#ifdef VOW_CO_VALGRIND
    st->vg_id = VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
#endif
    s->prepared++;
    return st;
}

int vow__co_stack_get(struct vow__co_pool *pool, size_t size, struct vow__co_stack **ret)
{
    struct vow__co_slab *s = pool->avail;
    while (s && s->slot_size - VOW_CO_GUARD_PAGES * page_size() != size)
        s = s->anext;
    if (!s) {
        s = slab_new(pool, size);
        if (!s)
            return VOW_ENOMEM;
    }
    struct vow__co_stack *st;
    if (s->free_head != NO_SLOT) {
        st = &s->slots[s->free_head];
        s->free_head = st->next_free;
        pool->cached--;
    } else {
        st = slot_prepare(s);
        if (!st) {
            if (s->used == 0 && s->prepared == 0)
                slab_retire(pool, s);
            return VOW_ENOMEM;
        }
    }
    if (s->used++ == 0)
        pool->idle--;
    if (s->free_head == NO_SLOT && s->prepared == s->n)
        avail_del(pool, s);
    pool->in_use++;
    *ret = st;
    return 0;
}

/*
 * A slab whose stacks are all back is unmapped unless it is the only fully free one
 * of its pool: that bounds the pool to one idle slab plus the free slots of slabs
 * still partly in use.
 */
void vow__co_stack_put(struct vow__co_pool *pool, struct vow__co_stack *st)
{
    struct vow__co_slab *s = st->slab;
#ifdef VOW_CO_ASAN
    /* Frames abandoned on the stack leave poisoned redzones behind. */
    ASAN_UNPOISON_MEMORY_REGION(st->lo, st->size);
#endif
    st->next_free = s->free_head;
    s->free_head = (unsigned)(st - s->slots);
    s->used--;
    pool->in_use--;
    pool->cached++;
    avail_add(pool, s);
    if (s->used == 0) {
        pool->idle++;
        if (pool->idle > 1)
            slab_retire(pool, s);
    }
}

void vow__co_pool_fini(struct vow__co_pool *pool)
{
    while (pool->slabs)
        slab_retire(pool, pool->slabs);
}
