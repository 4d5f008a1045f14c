/* SPDX-License-Identifier: MIT */
/*
 * Settling a vow from another thread: the remote is made on the loop's thread (it
 * holds the vow and keeps the loop alive), used once on any thread, and the
 * settlement is carried to the loop by vow_loop_post, the reactor's one thread-safe
 * call.
 *
 * A vow_remote pointer is a handle, never dereferenced: the index and generation of
 * a slot in one process-wide table. Using a remote is a compare-and-swap of the
 * slot's word from (generation, armed) to (generation, busy), so of two threads that
 * race to use it exactly one wins, and a stale handle (used before, its slot freed
 * or reused since) fails the swap and gets VOW_ESETTLED instead of reading freed
 * memory. The table's pages are mapped once and never unmapped, so a stale handle
 * always reads a valid slot.
 */
#include "vow_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

enum { SLOT_FREE = 0, SLOT_ARMED = 1, SLOT_BUSY = 2 };

/*
 * One remote. word is written with atomics only; the other fields are written by
 * the thread that owns the slot at that moment (the loop thread while free or
 * armed, the winning thread while busy until its post, the loop thread again in
 * the posted settlement), each hand-over ordered by word or by the post queue.
 */
struct slot {
    _Atomic uint64_t word; /* generation << 2 | SLOT_* */
    vow *p;                /* armed, busy: the vow, held until the settlement runs */
    vow_loop *loop;        /* armed, busy: p's loop */
    int code;              /* busy: 0 fulfils with v, < 0 rejects */
    vow_val v;             /* busy: the value or detail, owned until applied */
    uint32_t next_free;    /* free: the next free slot's index + 1, or 0 (under mu) */
    uint32_t index;        /* its own index, set when first handed out */
};

/* A handle is (generation << IDX_BITS) | (index + 1): never NULL. */
#define IDX_BITS 22
#define IDX_MASK (((uintptr_t)1 << IDX_BITS) - 1)
#define GEN_MASK (UINTPTR_MAX >> IDX_BITS)
#define PAGE_SLOTS 4096u
#define MAX_PAGES (((size_t)1 << IDX_BITS) / PAGE_SLOTS - 1)

static struct {
    pthread_mutex_t mu;                      /* guards the fields below but pages */
    _Atomic(struct slot *) pages[MAX_PAGES]; /* mapped lazily, never unmapped */
    uint32_t made;                           /* slots ever handed out */
    uint32_t free_head;                      /* free slots: index + 1, or 0 */
} table = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct slot *slot_at(uint32_t idx)
{
    size_t page = idx / PAGE_SLOTS;
    if (page >= MAX_PAGES)
        return NULL;
    struct slot *pg = atomic_load_explicit(&table.pages[page], memory_order_acquire);
    return pg ? &pg[idx % PAGE_SLOTS] : NULL;
}

/* A free slot's index, or -1 if no page could be mapped. Under table.mu. */
static long slot_alloc(void)
{
    if (table.free_head) {
        uint32_t idx = table.free_head - 1;
        table.free_head = slot_at(idx)->next_free;
        return idx;
    }
    uint32_t idx = table.made;
    size_t page = idx / PAGE_SLOTS;
    if (page >= MAX_PAGES)
        return -1;
    if (idx % PAGE_SLOTS == 0) {
        /* Zeroed: every slot starts free at generation 0. */
        void *m = mmap(NULL, PAGE_SLOTS * sizeof(struct slot), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -1;
        atomic_store_explicit(&table.pages[page], m, memory_order_release);
    }
    table.made++;
    slot_at(idx)->index = idx;
    return idx;
}

/* Frees s: its generation moves on, so every handle to it goes stale. */
static void slot_free(struct slot *s, uint64_t gen)
{
    pthread_mutex_lock(&table.mu);
    s->p = NULL;
    s->loop = NULL;
    atomic_store_explicit(&s->word, (((gen + 1) & GEN_MASK) << 2) | SLOT_FREE,
                          memory_order_release);
    s->next_free = table.free_head;
    table.free_head = s->index + 1;
    pthread_mutex_unlock(&table.mu);
}

vow_remote *vow_remote_new(vow *p)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_remote_new");
    vow__dbg_call_done();
#endif
    if (!p)
        return NULL;
    if (vow_loop_keepalive(p->loop, 1) < 0)
        return NULL;
    pthread_mutex_lock(&table.mu);
    long idx = slot_alloc();
    pthread_mutex_unlock(&table.mu);
    if (idx < 0) {
        vow_loop_keepalive(p->loop, -1);
        return NULL;
    }
    /* A free slot is ours alone: nobody can win it until it is armed. */
    struct slot *s = slot_at((uint32_t)idx);
    uint64_t gen = atomic_load_explicit(&s->word, memory_order_relaxed) >> 2;
    s->p = vow__hold(p);
    s->loop = p->loop;
    s->code = 0;
    s->v = vow_val_none();
    atomic_store_explicit(&s->word, (gen << 2) | SLOT_ARMED, memory_order_release);
    return (vow_remote *)(((uintptr_t)gen << IDX_BITS) | ((uintptr_t)idx + 1));
}

static void remote_run(vow_loop *l, void *arg)
{
    struct slot *s = arg;
    vow *p = s->p;
    if (s->code < 0)
        vow_reject(p, s->code, s->v);
    else
        vow_resolve(p, s->v);
    slot_free(s, atomic_load_explicit(&s->word, memory_order_relaxed) >> 2);
    vow__drop(p);
    vow_loop_keepalive(l, -1);
}

/*
 * Wins the remote (exactly one caller can) and posts its settlement. A lost race or
 * a stale handle is VOW_ESETTLED; a failed post puts the remote back, armed.
 */
static int remote_post(vow_remote *r, int code, vow_val v)
{
    uintptr_t h = (uintptr_t)r;
    vow__check(h & IDX_MASK, VOW_EINVAL);
    struct slot *s = slot_at((uint32_t)((h & IDX_MASK) - 1));
    vow__check(s, VOW_EINVAL);
    uint64_t gen = h >> IDX_BITS;
    uint64_t armed = (gen << 2) | SLOT_ARMED;
    if (!atomic_compare_exchange_strong_explicit(&s->word, &armed, (gen << 2) | SLOT_BUSY,
                                                 memory_order_acq_rel, memory_order_acquire))
        return VOW_ESETTLED;
    s->code = code;
    s->v = v;
    int rc = vow_loop_post(s->loop, remote_run, s);
    if (rc < 0)
        atomic_store_explicit(&s->word, (gen << 2) | SLOT_ARMED, memory_order_release);
    return rc;
}

int vow_remote_resolve(vow_remote *r, vow_val v)
{
    vow__check(r, VOW_EINVAL);
    return remote_post(r, 0, v);
}

int vow_remote_reject(vow_remote *r, int code, vow_val detail)
{
    vow__check(r && code < 0, VOW_EINVAL);
    return remote_post(r, code, detail);
}
