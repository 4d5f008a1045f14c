/* SPDX-License-Identifier: MIT */
/*
 * Channels between two loops. The buffer and the closed flag are shared under a
 * mutex; each side's waiters are its own thread's, and only that thread ever settles
 * them. A side that makes progress the other side waits for (an item in, room made,
 * the close) writes the other side's eventfd, whose watcher then serves that side's
 * queue on its own loop. So a hand-over and the withdrawal of a cancelled wait always
 * run on the same thread and cannot interleave, and no wake-up allocates.
 */
#include "sync_int.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void val_drop(vow_val v)
{
    if (v.drop)
        v.drop(v.ptr);
}

static void efd_write(int fd)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: the fd is readable already. */
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

static void efd_drain(int fd)
{
    uint64_t n;
    while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR) {
    }
}

static struct sync_end *other(struct sync_end *e)
{
    vow_chan *c = e->chan;
    return e == &c->end[SYNC_SEND_END] ? &c->end[SYNC_RECV_END] : &c->end[SYNC_SEND_END];
}

/* Under mu: does the other side o need a wake-up for progress just made? Marks it
 * woken, so one write serves any number of steps until it looks. */
static bool wants_wake(struct sync_end *o)
{
    if (!o->waiting || o->woken)
        return false;
    o->woken = true;
    return true;
}

static void serve(vow_io *io, int fd, unsigned events);
static void idle_stop(vow_immediate *im);

/* Starts watching e's eventfd (e's thread). The watch holds a channel reference. */
static int end_watch(struct sync_end *e)
{
    if (e->watching)
        return 0;
    int r;
    if (!e->io_init) {
        r = vow_io_init(e->loop, &e->io, e->efd, serve);
        if (r == 0)
            r = vow_immediate_init(e->loop, &e->idle, idle_stop);
        if (r < 0)
            return r;
        e->io.data = e;
        e->idle.data = e;
        e->io_init = true;
    }
    r = vow_io_start(&e->io, VOW_READABLE);
    if (r < 0)
        return r;
    e->watching = true;
    atomic_fetch_add_explicit(&e->chan->refs, 1, memory_order_relaxed);
    return 0;
}

static void unwatch(struct sync_end *e)
{
    if (e->idle_armed) {
        vow_immediate_stop(&e->idle);
        e->idle_armed = false;
    }
    if (e->watching) {
        vow_io_stop(&e->io);
        e->watching = false;
        sync_chan_release(e->chan);
    }
}

/* A turn went by since the queue emptied: stop watching unless it has waiters again. */
static void idle_stop(vow_immediate *im)
{
    struct sync_end *e = im->data;
    e->idle_armed = false;
    if (e->q.n == 0)
        unwatch(e);
}

/*
 * The queue emptied. The watch stays for one more loop turn: a side that waits again
 * at once (a consumer that drained what it was given and asks for more) keeps its
 * registration, so a wait costs no epoll_ctl.
 */
void sync_cross_idle(struct sync_end *e)
{
    if (e->q.n)
        return;
    vow_chan *c = e->chan;
    pthread_mutex_lock(&c->mu);
    e->waiting = false;
    pthread_mutex_unlock(&c->mu);
    if (!e->watching || e->idle_armed)
        return;
    /* Starting an initialised immediate cannot fail. */
    vow_immediate_start(&e->idle);
    e->idle_armed = true;
}

/* Queues w on its side (e's thread). Under mu the caller has set e->waiting. On
 * failure nothing stays queued and the code is returned. */
static int end_enqueue(struct sync_end *e, struct sync_waiter *w)
{
    sync_queue_push(&e->q, w);
    int r = end_watch(e);
    if (r < 0)
        sync_queue_remove(&e->q, w);
    return r;
}

/* ----------------------------------------------------------- serving a side */

static void serve_receivers(vow_chan *c)
{
    struct sync_end *e = &c->end[SYNC_RECV_END], *o = &c->end[SYNC_SEND_END];
    for (;;) {
        pthread_mutex_lock(&c->mu);
        struct sync_waiter *w = e->q.head;
        if (!w || (!c->len && !c->closed)) {
            pthread_mutex_unlock(&c->mu);
            return;
        }
        sync_queue_remove(&e->q, w);
        if (!c->len) {
            pthread_mutex_unlock(&c->mu);
            sync_fail_recv(w, VOW_EOF);
            continue;
        }
        vow_val item = sync_ring_pop(c);
        bool wake = wants_wake(o);
        pthread_mutex_unlock(&c->mu);
        if (wake)
            efd_write(o->efd);
        sync_deliver_recv(w, item);
    }
}

static void serve_senders(vow_chan *c)
{
    struct sync_end *e = &c->end[SYNC_SEND_END], *o = &c->end[SYNC_RECV_END];
    for (;;) {
        pthread_mutex_lock(&c->mu);
        struct sync_waiter *w = e->q.head;
        if (!w || (!c->closed && c->len >= c->cap)) {
            pthread_mutex_unlock(&c->mu);
            return;
        }
        sync_queue_remove(&e->q, w);
        if (c->closed) {
            pthread_mutex_unlock(&c->mu);
            sync_fail_send(w, VOW_ECLOSED);
            continue;
        }
        /* Senders only ever wait behind a ring that reached the capacity (and rings
         * never shrink), so there is room without growing. */
        if (sync_ring_reserve(c) < 0) {
            pthread_mutex_unlock(&c->mu);
            sync_fail_send(w, VOW_ENOMEM);
            continue;
        }
        sync_ring_put(c, w->val);
        bool wake = wants_wake(o);
        pthread_mutex_unlock(&c->mu);
        if (wake)
            efd_write(o->efd);
        sync_complete_send(w);
    }
}

/*
 * The eventfd of side e became readable: the other side made progress. The drain
 * comes before woken is cleared, so a write racing with it is either seen by this
 * pass or wakes the next one. A reference is held throughout: settling waiters may
 * run user code that drops the channel's last handle.
 */
static void serve(vow_io *io, int fd, unsigned events)
{
    struct sync_end *e = io->data;
    vow_chan *c = e->chan;
    (void)events;
    efd_drain(fd);
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    pthread_mutex_lock(&c->mu);
    e->woken = false;
    pthread_mutex_unlock(&c->mu);
    if (e == &c->end[SYNC_SEND_END])
        serve_senders(c);
    else
        serve_receivers(c);
    sync_cross_idle(e);
    sync_chan_release(c);
}

/* --------------------------------------------------------------- operations */

vow *sync_cross_send(vow_chan *c, vow_val v)
{
    struct sync_end *e = &c->end[SYNC_SEND_END], *o = &c->end[SYNC_RECV_END];
    vow *p = vow_pending(e->loop);
    if (!p) {
        val_drop(v);
        return NULL;
    }
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        vow_reject(p, VOW_ECLOSED, vow_val_none());
        val_drop(v);
        return p;
    }
    if (!e->q.n && c->len < c->cap) {
        if (sync_ring_reserve(c) < 0) {
            pthread_mutex_unlock(&c->mu);
            vow_unref(p);
            val_drop(v);
            return NULL;
        }
        sync_ring_put(c, v);
        bool wake = wants_wake(o);
        pthread_mutex_unlock(&c->mu);
        if (wake)
            efd_write(o->efd);
        vow_resolve(p, vow_val_none());
        return p;
    }
    e->waiting = true;
    pthread_mutex_unlock(&c->mu);
    struct sync_waiter *w = sync_waiter_new(c, SW_SEND, v, p);
    if (!w) {
        vow_unref(p);
        val_drop(v);
        sync_cross_idle(e);
        return NULL;
    }
    int r = end_enqueue(e, w);
    if (r < 0) {
        /* Settling first releases the abort hook, which still points at w. */
        vow_reject(p, r, vow_val_none());
        vow__free(w);
        val_drop(v);
        sync_cross_idle(e);
    }
    return p;
}

vow *sync_cross_recv(vow_chan *c)
{
    struct sync_end *e = &c->end[SYNC_RECV_END], *o = &c->end[SYNC_SEND_END];
    vow *p = vow_pending(e->loop);
    if (!p)
        return NULL;
    pthread_mutex_lock(&c->mu);
    if (!e->q.n && c->len) {
        vow_val item = sync_ring_pop(c);
        bool wake = wants_wake(o);
        pthread_mutex_unlock(&c->mu);
        if (wake)
            efd_write(o->efd);
        vow_resolve(p, item);
        return p;
    }
    if (!c->len && c->closed) {
        pthread_mutex_unlock(&c->mu);
        vow_reject(p, VOW_EOF, vow_val_none());
        return p;
    }
    e->waiting = true;
    pthread_mutex_unlock(&c->mu);
    struct sync_waiter *w = sync_waiter_new(c, SW_RECV, vow_val_none(), p);
    if (!w) {
        vow_unref(p);
        sync_cross_idle(e);
        return NULL;
    }
    int r = end_enqueue(e, w);
    if (r < 0) {
        vow_reject(p, r, vow_val_none());
        vow__free(w);
        sync_cross_idle(e);
    }
    return p;
}

int sync_cross_try_send(vow_chan *c, vow_val v)
{
    struct sync_end *e = &c->end[SYNC_SEND_END], *o = &c->end[SYNC_RECV_END];
    pthread_mutex_lock(&c->mu);
    int r = VOW_EAGAIN;
    bool wake = false;
    if (c->closed) {
        r = VOW_ECLOSED;
    } else if (!e->q.n && c->len < c->cap) {
        r = sync_ring_reserve(c);
        if (r == 0) {
            sync_ring_put(c, v);
            wake = wants_wake(o);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (wake)
        efd_write(o->efd);
    return r;
}

int sync_cross_try_recv(vow_chan *c, vow_val *ret)
{
    struct sync_end *e = &c->end[SYNC_RECV_END], *o = &c->end[SYNC_SEND_END];
    pthread_mutex_lock(&c->mu);
    int r = VOW_EAGAIN;
    bool wake = false;
    if (!e->q.n && c->len) {
        *ret = sync_ring_pop(c);
        wake = wants_wake(o);
        r = 0;
    } else if (!c->len && c->closed) {
        r = VOW_EOF;
    }
    pthread_mutex_unlock(&c->mu);
    if (wake)
        efd_write(o->efd);
    return r;
}

int sync_cross_close(vow_chan *c)
{
    struct sync_end *s = &c->end[SYNC_SEND_END], *r = &c->end[SYNC_RECV_END];
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        return VOW_ECLOSED;
    }
    c->closed = true;
    bool ws = wants_wake(s), wr = wants_wake(r);
    pthread_mutex_unlock(&c->mu);
    if (ws)
        efd_write(s->efd);
    if (wr)
        efd_write(r->efd);
    return 0;
}

void sync_cross_fini(vow_chan *c)
{
    for (int i = 0; i < 2; i++)
        if (c->end[i].efd >= 0)
            close(c->end[i].efd);
    pthread_mutex_destroy(&c->mu);
}

int vow_chan_new_between(vow_loop *send_loop, vow_loop *recv_loop, size_t capacity,
                         vow_chan **ret)
{
    vow__check(send_loop && recv_loop && ret, VOW_EINVAL);
    if (send_loop == recv_loop) {
        vow_chan *c = vow_chan_new(send_loop, capacity);
        if (!c)
            return VOW_ENOMEM;
        *ret = c;
        return 0;
    }
    vow__check(capacity > 0, VOW_EINVAL);
    vow_chan *c = sync_chan_alloc(send_loop, recv_loop, capacity);
    if (!c)
        return VOW_ENOMEM;
    int r = pthread_mutex_init(&c->mu, NULL);
    if (r != 0) {
        vow__free(c);
        return -r;
    }
    c->cross = true;
    for (int i = 0; i < 2; i++) {
        c->end[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (c->end[i].efd < 0) {
            r = -errno;
            sync_chan_release(c);
            return r;
        }
    }
    *ret = c;
    return 0;
}

/* ------------------------------------------------------------ select cases */

int sync_cross_case_try(struct sync_waiter *w, int *ret_code, vow_val *ret_item)
{
    vow_chan *c = w->chan;
    bool recv = w->kind == SW_RECV;
    struct sync_end *e = &c->end[recv ? SYNC_RECV_END : SYNC_SEND_END], *o = other(e);
    int r = 0;
    bool wake = false;
    pthread_mutex_lock(&c->mu);
    if (recv) {
        if (!e->q.n && c->len) {
            *ret_item = sync_ring_pop(c);
            *ret_code = 0;
            wake = wants_wake(o);
            r = 1;
        } else if (!c->len && c->closed) {
            *ret_code = VOW_EOF;
            r = 1;
        }
    } else if (c->closed) {
        *ret_code = VOW_ECLOSED;
        r = 1;
    } else if (!e->q.n && c->len < c->cap) {
        r = sync_ring_reserve(c);
        if (r == 0) {
            sync_ring_put(c, w->val);
            *ret_code = 0;
            wake = wants_wake(o);
            r = 1;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (wake)
        efd_write(o->efd);
    return r;
}

/*
 * Progress may have come between the select's try and this: a side that could be
 * served now wakes itself, so its watcher serves the case in order behind the
 * waiters already queued.
 */
int sync_cross_case_enqueue(struct sync_waiter *w)
{
    vow_chan *c = w->chan;
    bool recv = w->kind == SW_RECV;
    struct sync_end *e = &c->end[recv ? SYNC_RECV_END : SYNC_SEND_END];
    pthread_mutex_lock(&c->mu);
    e->waiting = true;
    bool ready = c->closed || (recv ? c->len > 0 : c->len < c->cap);
    bool self = ready && !e->woken;
    if (self)
        e->woken = true;
    pthread_mutex_unlock(&c->mu);
    int r = end_enqueue(e, w);
    /* Written even on failure: woken must never stay set without a write behind it,
     * or the other side would never wake this one again. */
    if (self)
        efd_write(e->efd);
    if (r < 0)
        sync_cross_idle(e);
    return r;
}
