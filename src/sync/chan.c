/* SPDX-License-Identifier: MIT */
/*
 * Channels on one loop: a ring buffer that grows up to the capacity, a FIFO of
 * waiting senders and one of waiting receivers, and the plain waits' vows. Everything
 * here runs on the loop's thread, so a hand-over and the withdrawal of a cancelled
 * wait can never interleave. Channels between two loops share the buffer code and
 * the reference counting, and dispatch their operations to chan_cross.c.
 */
#include "sync_int.h"

#include <string.h>

static void val_drop(vow_val v)
{
    if (v.drop)
        v.drop(v.ptr);
}

/* ------------------------------------------------------------------- buffer */

int sync_ring_grow(vow_chan *c)
{
    size_t n = c->ring_size ? c->ring_size * 2 : 8;
    if (n > c->cap || n < c->ring_size)
        n = c->cap;
    if (n > SIZE_MAX / sizeof(vow_val))
        return VOW_ENOMEM;
    vow_val *ring = vow__malloc(n * sizeof(*ring));
    if (!ring)
        return VOW_ENOMEM;
    /* The ring is full (len == ring_size): unroll it so the oldest item is first. */
    size_t first = c->ring_size - c->head;
    if (c->len) {
        memcpy(ring, c->ring + c->head, first * sizeof(*ring));
        memcpy(ring + first, c->ring, c->head * sizeof(*ring));
    }
    vow__free(c->ring);
    c->ring = ring;
    c->ring_size = n;
    c->head = 0;
    return 0;
}

/* ------------------------------------------------------------------ waiters */

/*
 * Abort hook of a plain wait: the vow was cancelled or its last reference dropped
 * while it waited. The waiter leaves its queue before anything else can happen, so
 * no item is ever handed to it; a send's value is dropped (it was never delivered).
 */
static void waiter_abort(void *ctx, vow *p)
{
    struct sync_waiter *w = ctx;
    vow_chan *c = w->chan;
    struct sync_end *e = &c->end[w->kind == SW_SEND ? SYNC_SEND_END : SYNC_RECV_END];
    vow_val v = w->kind == SW_SEND ? w->val : vow_val_none();
    (void)p;
    if (w->queued)
        sync_queue_remove(&e->q, w);
    vow__free(w);
    if (c->cross)
        sync_cross_idle(e);
    val_drop(v);
}

struct sync_waiter *sync_waiter_new(vow_chan *c, int kind, vow_val v, vow *p)
{
    struct sync_waiter *w = vow__malloc(sizeof(*w));
    if (!w)
        return NULL;
    memset(w, 0, sizeof(*w));
    w->chan = c;
    w->p = p;
    w->kind = (uint8_t)kind;
    w->val = v;
    if (vow_on_cancel_named(p, waiter_abort, w, "channel wait") < 0) {
        vow__free(w);
        return NULL;
    }
    return w;
}

/* The settlements below release the abort hook (a settled vow never runs it), so
 * the waiter is freed first and the vow settled after. */
void sync_deliver_recv(struct sync_waiter *w, vow_val item)
{
    if (w->sel) {
        sync_select_win(w, 0, item);
        return;
    }
    vow *p = w->p;
    vow__free(w);
    vow_resolve(p, item);
}

void sync_fail_recv(struct sync_waiter *w, int code)
{
    if (w->sel) {
        sync_select_win(w, code, vow_val_none());
        return;
    }
    vow *p = w->p;
    vow__free(w);
    vow_reject(p, code, vow_val_none());
}

void sync_complete_send(struct sync_waiter *w)
{
    if (w->sel) {
        sync_select_win(w, 0, vow_val_none());
        return;
    }
    vow *p = w->p;
    vow__free(w);
    vow_resolve(p, vow_val_none());
}

void sync_fail_send(struct sync_waiter *w, int code)
{
    if (w->sel) {
        sync_select_win(w, code, vow_val_none());
        return;
    }
    vow *p = w->p;
    vow_val v = w->val;
    vow__free(w);
    vow_reject(p, code, vow_val_none());
    val_drop(v);
}

/* --------------------------------------------------------------- lifetime */

vow_chan *sync_chan_alloc(vow_loop *send_loop, vow_loop *recv_loop, size_t cap)
{
    vow_chan *c = vow__malloc(sizeof(*c));
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c));
    atomic_init(&c->refs, 1);
    atomic_init(&c->handles, 1);
    c->cap = cap;
    for (int i = 0; i < 2; i++) {
        c->end[i].chan = c;
        c->end[i].efd = -1;
    }
    c->end[SYNC_SEND_END].loop = send_loop;
    c->end[SYNC_RECV_END].loop = recv_loop;
    return c;
}

vow_chan *vow_chan_new(vow_loop *l, size_t capacity)
{
    if (!l)
        return NULL;
    return sync_chan_alloc(l, l, capacity);
}

vow_chan *vow_chan_ref(vow_chan *c)
{
    if (c) {
        atomic_fetch_add_explicit(&c->handles, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    }
    return c;
}

/* Frees the channel: no side watches (each watch holds a reference) and no wait is
 * queued (closing settled them), so only the buffered items are left to drop. */
void sync_chan_release(vow_chan *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->cross)
        sync_cross_fini(c);
    while (c->len)
        val_drop(sync_ring_pop(c));
    vow__free(c->ring);
    vow__free(c);
}

static int local_close(vow_chan *c);

void vow_chan_unref(vow_chan *c)
{
    if (!c)
        return;
    if (atomic_fetch_sub_explicit(&c->handles, 1, memory_order_acq_rel) == 1) {
        if (c->cross)
            sync_cross_close(c);
        else
            local_close(c);
    }
    sync_chan_release(c);
}

/*
 * Senders fail (their values dropped), then receivers learn the end: receivers only
 * wait on an empty buffer. Each settlement may run user code, so the queues are read
 * afresh every time.
 */
static int local_close(vow_chan *c)
{
    if (c->closed)
        return VOW_ECLOSED;
    c->closed = true;
    struct sync_waiter *w;
    while ((w = c->end[SYNC_SEND_END].q.head) != NULL) {
        sync_queue_remove(&c->end[SYNC_SEND_END].q, w);
        sync_fail_send(w, VOW_ECLOSED);
    }
    while ((w = c->end[SYNC_RECV_END].q.head) != NULL) {
        sync_queue_remove(&c->end[SYNC_RECV_END].q, w);
        sync_fail_recv(w, VOW_EOF);
    }
    return 0;
}

int vow_chan_close(vow_chan *c)
{
    vow__check(c, VOW_EINVAL);
    return c->cross ? sync_cross_close(c) : local_close(c);
}

/* ------------------------------------------------------------- operations */

/*
 * Takes the next item for a receiver on a one-loop channel that has one ready (an
 * item buffered, or a sender waiting on a rendezvous). The first waiting sender, if
 * any, is taken off its queue into *ret_sender: its value refills the buffer (or is
 * the item), and the caller completes it last, since that may run user code.
 */
static vow_val local_take(vow_chan *c, struct sync_waiter **ret_sender)
{
    struct sync_queue *sq = &c->end[SYNC_SEND_END].q;
    struct sync_waiter *s = sq->head;
    vow_val item;
    if (s)
        sync_queue_remove(sq, s);
    if (c->len) {
        item = sync_ring_pop(c);
        if (s)
            sync_ring_put(c, s->val);
    } else {
        item = s->val;
    }
    *ret_sender = s;
    return item;
}

static bool local_recv_ready(const vow_chan *c)
{
    return c->len || c->end[SYNC_SEND_END].q.head;
}

vow *vow_chan_send(vow_chan *c, vow_val v)
{
    if (!c) {
        val_drop(v);
        return NULL;
    }
    if (c->cross)
        return sync_cross_send(c, v);
    vow_loop *l = c->end[SYNC_SEND_END].loop;
    if (c->closed) {
        vow *r = vow_rejected(l, VOW_ECLOSED, vow_val_none());
        val_drop(v);
        return r;
    }
    struct sync_queue *rq = &c->end[SYNC_RECV_END].q;
    if (rq->head || c->len < c->cap) {
        if (!rq->head && sync_ring_reserve(c) < 0) {
            val_drop(v);
            return NULL;
        }
        vow *r = vow_resolved(l, vow_val_none());
        if (!r) {
            val_drop(v);
            return NULL;
        }
        struct sync_waiter *w = rq->head;
        if (w) {
            sync_queue_remove(rq, w);
            sync_deliver_recv(w, v);
        } else {
            sync_ring_put(c, v);
        }
        return r;
    }
    vow *p = vow_pending(l);
    struct sync_waiter *w = p ? sync_waiter_new(c, SW_SEND, v, p) : NULL;
    if (!w) {
        vow_unref(p);
        val_drop(v);
        return NULL;
    }
    sync_queue_push(&c->end[SYNC_SEND_END].q, w);
    return p;
}

vow *vow_chan_recv(vow_chan *c)
{
    if (!c)
        return NULL;
    if (c->cross)
        return sync_cross_recv(c);
    vow_loop *l = c->end[SYNC_RECV_END].loop;
    if (local_recv_ready(c)) {
        vow *r = vow_pending(l);
        if (!r)
            return NULL;
        struct sync_waiter *s;
        vow_resolve(r, local_take(c, &s));
        if (s)
            sync_complete_send(s);
        return r;
    }
    if (c->closed)
        return vow_rejected(l, VOW_EOF, vow_val_none());
    vow *p = vow_pending(l);
    struct sync_waiter *w = p ? sync_waiter_new(c, SW_RECV, vow_val_none(), p) : NULL;
    if (!w) {
        vow_unref(p);
        return NULL;
    }
    sync_queue_push(&c->end[SYNC_RECV_END].q, w);
    return p;
}

int vow_chan_try_send(vow_chan *c, vow_val v)
{
    vow__check(c, VOW_EINVAL);
    if (c->cross)
        return sync_cross_try_send(c, v);
    if (c->closed)
        return VOW_ECLOSED;
    struct sync_queue *rq = &c->end[SYNC_RECV_END].q;
    struct sync_waiter *w = rq->head;
    if (w) {
        sync_queue_remove(rq, w);
        sync_deliver_recv(w, v);
        return 0;
    }
    if (c->len >= c->cap)
        return VOW_EAGAIN;
    int r = sync_ring_reserve(c);
    if (r < 0)
        return r;
    sync_ring_put(c, v);
    return 0;
}

int vow_chan_try_recv(vow_chan *c, vow_val *ret)
{
    vow__check(c && ret, VOW_EINVAL);
    if (c->cross)
        return sync_cross_try_recv(c, ret);
    if (!local_recv_ready(c))
        return c->closed ? VOW_EOF : VOW_EAGAIN;
    struct sync_waiter *s;
    *ret = local_take(c, &s);
    if (s)
        sync_complete_send(s);
    return 0;
}

int vow_chan_take(vow *r, vow_val *ret)
{
    vow__check(r && ret, VOW_EINVAL);
    vow__check(vow_state(r) == VOW_FULFILLED, VOW_ESTATE);
    /* The value is the vow's to drop; moving it out means the vow keeps the bits
     * without the drop. vow_value lends it const, but the vow's storage is not. */
    vow_val *v = (vow_val *)(uintptr_t)vow_value(r);
    const vow_selected *sel = vow_selected_get(v);
    if (sel)
        v = (vow_val *)(uintptr_t)&sel->val;
    *ret = *v;
    v->drop = NULL;
    return 0;
}

/* ------------------------------------------------------------------ queries */

static void lock_shared(const vow_chan *c)
{
    if (c->cross)
        pthread_mutex_lock((pthread_mutex_t *)(uintptr_t)&c->mu);
}

static void unlock_shared(const vow_chan *c)
{
    if (c->cross)
        pthread_mutex_unlock((pthread_mutex_t *)(uintptr_t)&c->mu);
}

size_t vow_chan_len(const vow_chan *c)
{
    if (!c)
        return 0;
    lock_shared(c);
    size_t n = c->len;
    unlock_shared(c);
    return n;
}

size_t vow_chan_capacity(const vow_chan *c)
{
    return c ? c->cap : 0;
}

int vow_chan_is_closed(const vow_chan *c)
{
    vow__check(c, VOW_EINVAL);
    lock_shared(c);
    int closed = c->closed;
    unlock_shared(c);
    return closed;
}

/* ------------------------------------------------------------ select cases */

int sync_case_try(struct sync_waiter *w, int *ret_code, vow_val *ret_item)
{
    vow_chan *c = w->chan;
    if (c->cross)
        return sync_cross_case_try(w, ret_code, ret_item);
    if (w->kind == SW_RECV) {
        if (local_recv_ready(c)) {
            struct sync_waiter *s;
            *ret_item = local_take(c, &s);
            *ret_code = 0;
            if (s)
                sync_complete_send(s);
            return 1;
        }
        if (c->closed) {
            *ret_code = VOW_EOF;
            return 1;
        }
        return 0;
    }
    if (c->closed) {
        *ret_code = VOW_ECLOSED;
        return 1;
    }
    struct sync_queue *rq = &c->end[SYNC_RECV_END].q;
    struct sync_waiter *r = rq->head;
    if (r) {
        sync_queue_remove(rq, r);
        *ret_code = 0;
        sync_deliver_recv(r, w->val);
        return 1;
    }
    if (c->len >= c->cap)
        return 0;
    int rc = sync_ring_reserve(c);
    if (rc < 0)
        return rc;
    sync_ring_put(c, w->val);
    *ret_code = 0;
    return 1;
}

int sync_case_enqueue(struct sync_waiter *w)
{
    if (w->chan->cross)
        return sync_cross_case_enqueue(w);
    sync_queue_push(&w->chan->end[w->kind == SW_SEND ? SYNC_SEND_END : SYNC_RECV_END].q, w);
    return 0;
}

void sync_case_withdraw(struct sync_waiter *w)
{
    if (!w->queued)
        return;
    struct sync_end *e = &w->chan->end[w->kind == SW_SEND ? SYNC_SEND_END : SYNC_RECV_END];
    sync_queue_remove(&e->q, w);
    if (w->chan->cross)
        sync_cross_idle(e);
}
