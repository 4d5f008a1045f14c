/* SPDX-License-Identifier: MIT */
/*
 * Stacks in slabs: one mapping holds up to 64 stacks, each with VOW_CO_GUARD_SIZE
 * bytes of guard below it. Guards come from MADV_GUARD_INSTALL where the kernel has it
 * (6.13+), which marks page-table entries without splitting the mapping, so a million
 * live stacks stay far below vm.max_map_count; mprotect(PROT_NONE) is the fallback,
 * which splits it, so stacks guarded that way are counted against a share of the
 * process's mapping limit. Slots are prepared (guard, Valgrind registration) in
 * batches the first time they are needed, each batch twice the last (1, 1, 2, 4...
 * slots), in one process_madvise call where the kernel takes the slab's guards at
 * once; a prepared slot keeps its guard for the life of the slab, so a reused stack
 * costs no system call. A lone coroutine pays for one slot, not for the whole slab.
 * Slab headers sit in the first page of their mapping, so idle slabs can outlive the
 * pool (see spare).
 */
#include "stack.h"
#include "switch.h"

#include "vow.h"
#include "vow/co.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
/* process_madvise on the calling process without a pidfd (Linux 6.15+). */
#define CO_PIDFD_SELF (-10000)

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
    int mprotected;                        /* guards made by mprotect (maps_used) */
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

/*
 * How guards are installed, found out by the first slab that needs one and kept for
 * the process: a batch of guards in one process_madvise call, one
 * MADV_GUARD_INSTALL per guard, or mprotect (VOW_CO_GUARD=madvise or =mprotect
 * starts from that one, to test the fallbacks on kernels that do not need them).
 */
enum { GUARD_UNKNOWN, GUARD_BATCH, GUARD_MADVISE, GUARD_MPROTECT };
static _Atomic int guard_mode;

/*
 * Mappings that mprotect guards cost: each guarded slot splits its slab's mapping in
 * two more. They are counted, process-wide, against half of vm.max_map_count (read
 * once), so coroutine stacks never take the mappings that malloc and everything else
 * in the process need: past that, spawning fails as out of memory.
 */
static _Atomic long maps_used;
static _Atomic long maps_budget;

static long map_budget(void)
{
    long b = atomic_load_explicit(&maps_budget, memory_order_relaxed);
    if (b)
        return b;
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1 || max < 1024)
            max = 65530;
        fclose(f);
    }
    b = max / 2;
    atomic_store_explicit(&maps_budget, b, memory_order_relaxed);
    return b;
}

/* The guard below each stack: VOW_CO_GUARD_SIZE, in whole pages. */
static size_t guard_bytes(void)
{
    size_t pg = page_size();
    return (VOW_CO_GUARD_SIZE + pg - 1) / pg * pg;
}

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
    if (s->mprotected)
        atomic_fetch_sub_explicit(&maps_used, 2L * s->prepared, memory_order_relaxed);
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
    size_t slot = guard_bytes() + size;
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
    s->mprotected = 0;
    s->free_head = NO_SLOT;
    slab_link(pool, s);
    return s;
}

static int guard_mode_get(void)
{
    int m = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (m == GUARD_UNKNOWN) {
        const char *e = getenv("VOW_CO_GUARD");
        m = !e ? GUARD_BATCH
            : strcmp(e, "mprotect") == 0 ? GUARD_MPROTECT
            : strcmp(e, "madvise") == 0 ? GUARD_MADVISE : GUARD_BATCH;
        atomic_store_explicit(&guard_mode, m, memory_order_relaxed);
    }
    return m;
}

/* A kernel that refused a way of installing guards: fall back to the next one. */
static void guard_mode_drop(int from)
{
    int m = from;
    atomic_compare_exchange_strong_explicit(&guard_mode, &m, from + 1, memory_order_relaxed,
                                            memory_order_relaxed);
}

/*
 * Installs the guards of slots [first, first + n) of s: 0, or -errno (nothing is
 * counted as prepared then; guards already made stay, harmlessly, on slots that will
 * be prepared again later).
 */
static int guards_install(struct vow__co_slab *s, unsigned first, unsigned n)
{
    for (;;) {
        int m = guard_mode_get();
        if (m == GUARD_BATCH) {
            struct iovec iov[SLAB_MAX_SLOTS];
            for (unsigned i = 0; i < n; i++) {
                iov[i].iov_base = s->first + (size_t)(first + i) * s->slot_size;
                iov[i].iov_len = guard_bytes();
            }
            long done = syscall(SYS_process_madvise, CO_PIDFD_SELF, iov, (size_t)n,
                                MADV_GUARD_INSTALL, 0u);
            if (done == (long)(n * guard_bytes()))
                return 0;
            /* No PIDFD_SELF, no process_madvise, or no guard advice through it. */
            if (done < 0 && (errno == EBADF || errno == EINVAL || errno == ENOSYS ||
                             errno == EPERM || errno == ESRCH)) {
                guard_mode_drop(GUARD_BATCH);
                continue;
            }
            /* A partial batch (out of memory for page tables): each on its own. */
            if (done >= 0)
                errno = ENOMEM;
            return -errno;
        }
        if (m == GUARD_MADVISE) {
            unsigned i = 0;
            for (; i < n; i++) {
                if (madvise(s->first + (size_t)(first + i) * s->slot_size, guard_bytes(),
                            MADV_GUARD_INSTALL) != 0)
                    break;
            }
            if (i == n)
                return 0;
            if (i == 0 && (errno == EINVAL || errno == ENOSYS)) {
                guard_mode_drop(GUARD_MADVISE);
                continue;
            }
            return -errno;
        }
        /* mprotect: within the process's share of mappings. */
        long need = 2L * n;
        if (atomic_fetch_add_explicit(&maps_used, need, memory_order_relaxed) + need >
            map_budget()) {
            atomic_fetch_sub_explicit(&maps_used, need, memory_order_relaxed);
            return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++) {
            if (mprotect(s->first + (size_t)(first + i) * s->slot_size, guard_bytes(),
                         PROT_NONE) != 0) {
                int err = errno;
                /* The first i stay counted (they are prepared again later, and
                 * counted again: the count errs on the safe side). */
                atomic_fetch_sub_explicit(&maps_used, 2L * (n - i), memory_order_relaxed);
                s->mprotected = 1;
                return -err;
            }
        }
        s->mprotected = 1;
        return 0;
    }
}

/*
 * Stack tops at a fixed page offset would all land in the same cache sets, and every
 * coroutine touches its top first; they are spread over 48 colours of 64 bytes, at
 * most 3 KiB, so that the bookkeeping and the first frames still fit in the top page.
 */
#define COLOURS 48u

/* Makes the next never-used slots of s ready: guards, Valgrind registration. Returns
 * the first of them, or NULL. */
static struct vow__co_stack *slots_prepare(struct vow__co_slab *s)
{
    unsigned n = s->prepared ? s->prepared : 1;
    if (n > s->n - s->prepared)
        n = s->n - s->prepared;
    if (guards_install(s, s->prepared, n) < 0) {
        if (n == 1 || guards_install(s, s->prepared, 1) < 0)
            return NULL;
        n = 1;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned k = s->prepared + i;
        struct vow__co_stack *st = &s->slots[k];
        st->lo = s->first + (size_t)k * s->slot_size + guard_bytes();
        st->size = s->slot_size - guard_bytes();
        st->slab = s;
        st->next_free = i + 1 < n ? k + 1 : NO_SLOT;
        st->vg_id = 0;
        st->color = ((k * 37u) % COLOURS) * 64u;
#ifdef VOW_CO_VALGRIND
        st->vg_id = VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
#endif
    }
    /* All but the first go on the free list, in order. */
    unsigned first = s->prepared;
    if (n > 1) {
        s->slots[first + n - 1].next_free = s->free_head;
        s->free_head = first + 1;
    }
    s->prepared += n;
    return &s->slots[first];
}

int vow__co_stack_get(struct vow__co_pool *pool, size_t size, struct vow__co_stack **ret)
{
    struct vow__co_slab *s = pool->avail;
    size_t slot = size + guard_bytes();
    while (s && s->slot_size != slot)
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
        unsigned before = s->prepared;
        st = slots_prepare(s);
        if (!st) {
            if (s->used == 0 && s->prepared == 0)
                slab_retire(pool, s);
            return VOW_ENOMEM;
        }
        /* The others of the batch wait on the free list. */
        pool->cached += s->prepared - before - 1;
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
