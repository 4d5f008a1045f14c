/* SPDX-License-Identifier: MIT */
/*
 * Posting to a loop from any thread: vow_loop_post and vow_poster. The queue is
 * Vyukov's intrusive MPSC list (a poster links its node with one atomic exchange; only
 * the loop thread takes nodes off), and the eventfd is written only when the loop may
 * be asleep: a post to a loop that is awake, or that another post already woke, costs
 * no syscall. The queue is its own reference-counted object, shared by the loop and
 * its posters, and it owns the eventfd: a poster can outlive the loop, learn that it
 * closed, and never write to an fd number that was closed and reused.
 */
#include "reactor.h"

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/*
 * The state word: bit 0 says the loop closed; the rest counts posts queued (or being
 * queued) and not yet run. vow_loop_close turns 0 into CLOSED in one compare-and-swap,
 * so it succeeds only when no post is queued and none is on its way in, and every
 * later post sees CLOSED.
 */
#define ST_CLOSED ((uint64_t)1)
#define ST_PENDING ((uint64_t)2)
#define CACHELINE 64

/* A posted callback; `next` is written by the next poster, read by the loop. */
struct vow__post_node {
    _Atomic(struct vow__post_node *) next; /* FIFO link */
    vow_post_fn fn;                        /* what to run */
    void *arg;                             /* its argument */
};

/* Posters write head and state, the loop tail and state, and everybody reads wake: a
 * cache line each, so a post does not slow the loop down by false sharing. */
struct vow__postq {
    _Alignas(CACHELINE) _Atomic(struct vow__post_node *) head; /* last node linked */
    _Alignas(CACHELINE) atomic_uint_least64_t state;           /* ST_* bits and count, see above */
    _Alignas(CACHELINE) atomic_int wake;                       /* enum vow__wake_state */
    atomic_int refs; /* the loop's and one per vow_poster_new */
    int wakefd;      /* the eventfd, closed with the last reference */
    void *mem;       /* what was allocated (this is aligned in it) */
    _Alignas(CACHELINE) struct vow__post_node *tail; /* next to take (loop thread) */
    struct vow__post_node stub;                      /* keeps the list non-empty (Vyukov) */
};

/* Links n at the head: wait-free, any thread. */
static void q_push(struct vow__postq *q, struct vow__post_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    struct vow__post_node *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/*
 * Takes the oldest node, loop thread only. NULL when the queue is empty, or when a
 * poster has exchanged the head but not yet linked its node (the loop then tries
 * again next turn: the post still counts as pending, so the loop does not sleep).
 */
static struct vow__post_node *q_pop(struct vow__postq *q)
{
    struct vow__post_node *tail = q->tail;
    struct vow__post_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL;
    q_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

/*
 * The queue of a new loop, with the eventfd it owns (the loop keeps its number in
 * l->wakefd). NULL if the eventfd or the memory could not be had.
 */
struct vow__postq *vow__postq_new(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return NULL;
    /* The allocator seam has no aligned allocation: align inside a larger block. */
    void *mem = vow__malloc(sizeof(struct vow__postq) + CACHELINE);
    if (!mem) {
        close(fd);
        return NULL;
    }
    struct vow__postq *q = (void *)(((uintptr_t)mem + CACHELINE - 1) & ~(uintptr_t)(CACHELINE - 1));
    memset(q, 0, sizeof(*q));
    q->mem = mem;
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    q->tail = &q->stub;
    atomic_init(&q->state, 0);
    atomic_init(&q->wake, VOW__WAKE_SLEEP);
    atomic_init(&q->refs, 1);
    q->wakefd = fd;
    return q;
}

int vow__postq_fd(const struct vow__postq *q)
{
    return q->wakefd;
}

/* Drops one reference; the last one closes the eventfd and frees the queue (nothing
 * is queued by then: the loop closed with nothing pending, later posts are refused). */
static void postq_unref(struct vow__postq *q)
{
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1) {
        close(q->wakefd);
        vow__free(q->mem);
    }
}

static int postq_post(struct vow__postq *q, vow_post_fn fn, void *arg)
{
    struct vow__post_node *n = vow__malloc(sizeof(*n));
    vow__check(n, VOW_ENOMEM);
    n->fn = fn;
    n->arg = arg;
    uint64_t s = atomic_fetch_add(&q->state, ST_PENDING);
    if (s & ST_CLOSED) {
        atomic_fetch_sub(&q->state, ST_PENDING);
        vow__free(n);
        return VOW_ECLOSED;
    }
    q_push(q, n);
    /* Only a loop that may be asleep is written to, and only by one of its posters. */
    int w = VOW__WAKE_SLEEP;
    if (atomic_load(&q->wake) == VOW__WAKE_SLEEP &&
        atomic_compare_exchange_strong(&q->wake, &w, VOW__WAKE_WOKEN)) {
        uint64_t one = 1;
        ssize_t r = write(q->wakefd, &one, sizeof(one));
        (void)r; /* EAGAIN: the counter is already non-zero, the loop wakes anyway. */
    }
    return 0;
}

int vow_loop_post(vow_loop *l, vow_post_fn fn, void *arg)
{
    vow__check(l && fn, VOW_EINVAL);
    return postq_post(l->postq, fn, arg);
}

vow_poster *vow_poster_new(vow_loop *l)
{
    if (!l)
        return NULL;
    atomic_fetch_add(&l->postq->refs, 1);
    return (vow_poster *)(void *)l->postq;
}

int vow_poster_post(vow_poster *p, vow_post_fn fn, void *arg)
{
    vow__check(p && fn, VOW_EINVAL);
    return postq_post((struct vow__postq *)(void *)p, fn, arg);
}

void vow_poster_close(vow_poster *p)
{
    if (p)
        postq_unref((struct vow__postq *)(void *)p);
}

size_t vow__posts_pending(const vow_loop *l)
{
    return (size_t)(atomic_load(&l->postq->state) >> 1);
}

/*
 * Loop thread, before blocking in the backend for timeout ms (not 0): tells posters
 * that they must write the eventfd, then looks at the queue once more (the poster
 * counts its post before it looks at the wake state, and this side states its sleep
 * before it looks at the count, so one of the two sees the other). Returns the
 * timeout to use: 0 if a post came in meanwhile.
 */
int vow__posts_sleep(vow_loop *l, int timeout)
{
    struct vow__postq *q = l->postq;
    atomic_store(&q->wake, VOW__WAKE_SLEEP);
    if (atomic_load(&q->state) >> 1) {
        atomic_store(&q->wake, VOW__WAKE_AWAKE);
        return 0;
    }
    return timeout;
}

/* Loop thread: the loop runs callbacks now; posters need not write the eventfd. */
void vow__posts_awake(vow_loop *l)
{
    atomic_store(&l->postq->wake, VOW__WAKE_AWAKE);
}

/*
 * Loop thread, leaving vow_loop_run: from now on a post must wake whoever waits on
 * the loop's fd (a host loop, or the next run). Posts already queued make the fd
 * readable here, so a host that sleeps on it sees them.
 */
void vow__posts_leave(vow_loop *l)
{
    struct vow__postq *q = l->postq;
    atomic_store(&q->wake, VOW__WAKE_SLEEP);
    int w = VOW__WAKE_SLEEP;
    if ((atomic_load(&q->state) >> 1) &&
        atomic_compare_exchange_strong(&q->wake, &w, VOW__WAKE_WOKEN))
        vow__loop_wake(l);
}

/*
 * vow_loop_close: closes the queue if nothing is queued and no post is on its way in,
 * in one step; 0 or VOW_EBUSY. Later posts return VOW_ECLOSED.
 */
int vow__posts_close(vow_loop *l)
{
    uint_least64_t zero = 0;
    if (!atomic_compare_exchange_strong(&l->postq->state, &zero, ST_CLOSED))
        return VOW_EBUSY;
    return 0;
}

/* Loop teardown: the loop's reference goes; posters may keep the queue a while. */
void vow__posts_fini(vow_loop *l)
{
    if (l->postq)
        postq_unref(l->postq);
    l->postq = NULL;
}

/*
 * Runs the posts that were queued when the phase began, FIFO; a post made by one of
 * them waits for the next turn. The posts run count as pending until the phase ends
 * (one atomic step for all of them), so the loop stays alive meanwhile.
 * vow_loop_stop leaves the rest queued.
 */
void vow__posts_run(vow_loop *l)
{
    struct vow__postq *q = l->postq;
    uint64_t n = atomic_load_explicit(&q->state, memory_order_relaxed) >> 1, ran = 0;
    while (ran < n && !l->stop_flag) {
        struct vow__post_node *node = q_pop(q);
        if (!node)
            break;
        vow_post_fn fn = node->fn;
        void *arg = node->arg;
        vow__free(node);
        ran++;
        l->cb_depth++;
        fn(l, arg);
        l->cb_depth--;
        vow__loop_after_cb(l);
    }
    if (ran)
        atomic_fetch_sub(&q->state, ran * ST_PENDING);
}
