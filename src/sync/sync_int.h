/* SPDX-License-Identifier: MIT */
/*
 * Private declarations of the coordination tier (flag, channels, semaphore, lock,
 * select). It builds on the public headers and the base helpers only. Every wait is a
 * pending vow that the tier holds weakly: its abort hook (vow_on_cancel) takes the
 * waiter off its queue before the vow goes, so an item is never handed to a vow that
 * nobody wants.
 */
#ifndef VOW_SYNC_INT_H
#define VOW_SYNC_INT_H

#include "base.h"
#include "vow/sync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* ------------------------------------------------------ plain wait queues */

/* A FIFO of pending vows waiting for a flag, a unit or a lock (waitq.c). */
struct sync_wq_node;
struct sync_wq {
    struct sync_wq_node *head, *tail; /* first and last waiter, NULL when empty */
};

/* A new pending vow queued on q (a new reference), or NULL on out-of-memory. */
vow *sync_wq_wait(vow_loop *l, struct sync_wq *q);
/* Takes the first waiter off q (q not empty) and returns its vow, to be settled by
 * the caller (settling runs no user code: handlers run later, as microtasks). */
vow *sync_wq_pop(struct sync_wq *q);
void sync_wq_reject_all(struct sync_wq *q, int code);

/* ---------------------------------------------------------- channel waiters */

struct sync_sel;

enum { SW_RECV = 1, SW_SEND = 2 };

/*
 * One wait on one side of a channel: a plain send or receive (settling its own vow
 * p), or one case of a select (settling the select). Queued FIFO on its side.
 */
struct sync_waiter {
    struct sync_waiter *prev, *next; /* neighbours in the side's queue */
    vow_chan *chan;                  /* the channel waited on */
    vow *p;                          /* plain wait: its vow, held weakly (see above) */
    struct sync_sel *sel;            /* select case: its select; NULL for a plain wait */
    size_t index;                    /* select case: its index in the select */
    vow_val val;                     /* SW_SEND: the value (owned if plain, borrowed if select) */
    uint8_t kind;                    /* SW_RECV or SW_SEND */
    uint8_t queued;                  /* on its side's queue */
};

/* A FIFO of waiters (intrusive, doubly linked so withdrawing one is O(1)). */
struct sync_queue {
    struct sync_waiter *head, *tail; /* first and last waiter, NULL when empty */
    size_t n;                        /* waiters queued */
};

static inline void sync_queue_push(struct sync_queue *q, struct sync_waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->n++;
    w->queued = 1;
}

static inline void sync_queue_remove(struct sync_queue *q, struct sync_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    q->n--;
    w->queued = 0;
}

/* ----------------------------------------------------------------- channels */

enum { SYNC_SEND_END = 0, SYNC_RECV_END = 1 };

/*
 * One side of a channel: the loop its waits settle on and its queue of waiters. A
 * channel between two loops also gives each side an eventfd that the other side
 * writes when it made progress this side waits for, watched while the queue is not
 * empty and for one loop turn more (the watch holds a channel reference and keeps
 * the loop alive).
 */
struct sync_end {
    vow_chan *chan;        /* the channel this side belongs to */
    vow_loop *loop;        /* where this side's calls run and its waits settle */
    struct sync_queue q;   /* waiting senders (send side) or receivers (recv side) */
    int efd;               /* between loops: the wake-up eventfd, else -1 */
    vow_io io;             /* between loops: watches efd while q is not empty */
    vow_immediate idle;    /* between loops: stops io a turn after q emptied */
    bool io_init;          /* io and idle were initialised (lazily, on this side's thread) */
    bool watching;         /* io is started */
    bool idle_armed;       /* idle is started */
    /* Between loops, under the channel mutex: */
    bool waiting;          /* this side has waiters: the other side must wake it */
    bool woken;            /* efd was written and this side has not looked yet */
};

/*
 * A channel. One on a single loop is touched by that loop's thread only; one between
 * two loops shares its buffer, closed flag and the sides' waiting/woken flags under mu,
 * while each side's queue and watcher belong to that side's thread.
 */
struct vow_chan {
    atomic_size_t refs;       /* user references + one per watching side */
    atomic_size_t handles;    /* user references: the last one closes the channel */
    size_t cap;               /* capacity (0: rendezvous) */
    vow_val *ring;            /* buffered items, ring of ring_size slots */
    size_t ring_size;         /* slots allocated (grows up to cap) */
    size_t head;              /* index of the oldest buffered item */
    size_t len;               /* items buffered */
    bool closed;              /* closed for sending (under mu between loops) */
    bool cross;               /* its sides live on two loops */
    pthread_mutex_t mu;       /* between loops: guards the shared part */
    struct sync_end end[2];   /* SYNC_SEND_END, SYNC_RECV_END */
};

/* chan.c: grows the full ring towards the capacity: 0 or VOW_ENOMEM. */
int sync_ring_grow(vow_chan *c);

/* Makes room for one more item (len < cap required): 0 or VOW_ENOMEM. */
static inline int sync_ring_reserve(vow_chan *c)
{
    return c->len < c->ring_size ? 0 : sync_ring_grow(c);
}

/* Appends v (room reserved). */
static inline void sync_ring_put(vow_chan *c, vow_val v)
{
    size_t i = c->head + c->len;
    if (i >= c->ring_size)
        i -= c->ring_size;
    c->ring[i] = v;
    c->len++;
}

/* Takes the oldest item (len > 0 required). */
static inline vow_val sync_ring_pop(vow_chan *c)
{
    vow_val v = c->ring[c->head];
    if (++c->head == c->ring_size)
        c->head = 0;
    c->len--;
    return v;
}

/*
 * Settling a waiter that is off its queue (chan.c). Each may run user code (a drop,
 * or a select's withdrawal of its other cases), so callers touch the channel again
 * only through fresh reads, and only while they hold a reference.
 */
void sync_deliver_recv(struct sync_waiter *w, vow_val item); /* w takes item */
void sync_fail_recv(struct sync_waiter *w, int code);
void sync_complete_send(struct sync_waiter *w);                /* w's value went in */
void sync_fail_send(struct sync_waiter *w, int code);         /* plain: value dropped */

/*
 * chan.c: a plain waiter for the pending vow p (made by the caller on the side's loop),
 * with p's abort hook registered; NULL on out-of-memory (p is then untouched).
 */
struct sync_waiter *sync_waiter_new(vow_chan *c, int kind, vow_val v, vow *p);

/* chan.c: a channel with both sides' loops set, not yet shared; NULL on out-of-memory. */
vow_chan *sync_chan_alloc(vow_loop *send_loop, vow_loop *recv_loop, size_t cap);

/* chan_cross.c: the two-loop channel's operations (chan.c dispatches to them). */
vow *sync_cross_send(vow_chan *c, vow_val v);
vow *sync_cross_recv(vow_chan *c);
int sync_cross_try_send(vow_chan *c, vow_val v);
int sync_cross_try_recv(vow_chan *c, vow_val *ret);
int sync_cross_close(vow_chan *c);
void sync_cross_fini(vow_chan *c);
int sync_cross_case_try(struct sync_waiter *w, int *ret_code, vow_val *ret_item);
int sync_cross_case_enqueue(struct sync_waiter *w);
/* A waiter left the queue of side e on e's thread: stop watching if it is empty. */
void sync_cross_idle(struct sync_end *e);

/*
 * Select cases on channels (chan.c, chan_cross.c). try: complete the operation now if
 * it needs no wait, returning 1 with the outcome in *ret_code / *ret_item (RECV), or 0.
 * enqueue: queue the case's waiter (0, or a negative code: nothing queued).
 */
int sync_case_try(struct sync_waiter *w, int *ret_code, vow_val *ret_item);
int sync_case_enqueue(struct sync_waiter *w);
/* Takes a case's waiter off its queue (no-op if it is not queued). */
void sync_case_withdraw(struct sync_waiter *w);

/* select.c: case w of its select won with code (and item, for RECV). */
void sync_select_win(struct sync_waiter *w, int code, vow_val item);

/* Releases one reference (the last one frees the channel). */
void sync_chan_release(vow_chan *c);

#endif /* VOW_SYNC_INT_H */
