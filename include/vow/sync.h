/* SPDX-License-Identifier: MIT */
/*
 * Coordination between tasks on a libvow loop (part of libvow): a settable flag,
 * bounded channels with backpressure and close, a counting semaphore, a fair lock,
 * and a select over several channel operations and vows. Every wait is a vow, so
 * chains (vow_then) and coroutines (vow_await) use the same calls, and every wait
 * composes with vow_timeout, vow_race and vow_cancel. Loop thread only, except where
 * a comment says otherwise (channels whose ends live on two loops).
 */
#ifndef VOW_SYNC_H
#define VOW_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Rules shared by every wait below (each returns a vow, a new reference):
 *
 * - NULL means out of memory (or a NULL object) and nothing else; other failures
 *   are rejections.
 * - A wait that can complete at once returns a vow that is already settled; its
 *   handlers, and a coroutine's vow_await, still resume from the microtask queue,
 *   never inside the call.
 * - Cancelling a pending wait (vow_cancel, vow_timeout, a lost vow_race, cancelling
 *   the coroutine or chain that was its last consumer) withdraws it at once: a
 *   withdrawn receive never takes an item, a withdrawn send never delivers its
 *   value, a withdrawn acquire never takes a unit. Dropping the last reference to a
 *   pending wait withdraws it too, also through wrappers (vow_timeout, race, ...):
 *   keep the vow, or a handler on it, for as long as you want to wait. A reference
 *   alone does not keep it from being cancelled once its last consumer is
 *   (docs/reference/vow.md, Cancellation).
 * - A wait that fulfilled has done its work: a fulfilled receive holds its item and
 *   a fulfilled acquire holds its unit even if you then drop the vow unread. So
 *   vow_race or vow_any over several receives (or acquires) can settle more than one
 *   of them in the same turn and drop the losers' items with them; use vow_select,
 *   which completes exactly one operation and withdraws the others atomically.
 * - The vows returned here are settled by the primitive only: settling one yourself
 *   (vow_resolve, vow_reject) is not allowed.
 * - Waiters are served first come, first served (FIFO).
 */

/* ------------------------------------------------------------------- flag */

/*
 * A settable flag (an "event" in Python's and TonIO's sense; the libevent adapter
 * owns the vow_event_* names). While it is set, waits complete at once; while it is
 * clear, they wait until the next vow_flag_set.
 */
typedef struct vow_flag vow_flag;

/* A new, clear flag on l. NULL on out-of-memory or NULL l. */
VOW_API vow_flag *vow_flag_new(vow_loop *l);

/*
 * Frees the flag. Pending waits reject with VOW_ECLOSED. NULL is a no-op.
 */
VOW_API void vow_flag_close(vow_flag *f);

/*
 * Sets the flag and fulfils every pending wait with vow_val_none(), in the order the
 * waits were made (their handlers run from the microtask queue, even if the flag is
 * cleared again meanwhile). Setting a set flag changes nothing. 0, or VOW_EINVAL.
 */
VOW_API int vow_flag_set(vow_flag *f);

/* Clears the flag; later waits wait for the next set. 0, or VOW_EINVAL. */
VOW_API int vow_flag_clear(vow_flag *f);

/* 1 if set, 0 if clear, VOW_EINVAL if f is NULL. */
VOW_API int vow_flag_is_set(const vow_flag *f);

/*
 * Waits until the flag is set: a vow that fulfils with vow_val_none(), already
 * fulfilled if the flag is set now (handlers still run from the microtask queue).
 * Rejects with VOW_ECLOSED if the flag is closed first. NULL on out-of-memory or
 * NULL f.
 */
VOW_API vow *vow_flag_wait(vow_flag *f);

/* ---------------------------------------------------------------- channel */

/*
 * A channel of vow_val items with room for `capacity` of them (0: a rendezvous,
 * where a send completes only when a receiver takes the value). Senders and
 * receivers are each served FIFO, items leave in the order they went in.
 *
 * Ownership: an item belongs to the channel from a successful send until a receive
 * takes it; then it belongs to the receiving vow (borrow it from vow_value, or move it
 * out with vow_chan_take), or to the caller of vow_chan_try_recv. An item is handed
 * to exactly one receiver, or dropped exactly once (its drop runs) when nobody can
 * receive it any more: a failed send's value, and the items still buffered when the
 * channel is freed.
 *
 * Lifetime: a channel is reference-counted. vow_chan_new returns one reference;
 * vow_chan_ref adds one, vow_chan_unref drops one. When the last reference goes, the
 * channel is closed (as by vow_chan_close) and, once no wait is pending on it,
 * freed with the items still buffered (dropped). Pending waits do not keep it
 * open: closing settles them.
 *
 * Close (vow_chan_close) is the end of sending: later and pending sends reject with
 * VOW_ECLOSED (their values dropped); receivers first drain what is buffered, then
 * reject with VOW_EOF ("end of channel").
 */
typedef struct vow_chan vow_chan;

/*
 * A channel whose senders and receivers all live on l (loop thread only for every
 * call). capacity 0 is a rendezvous. The buffer grows as items arrive, up to
 * capacity (so a large capacity costs nothing until it is used).
 * NULL on out-of-memory or NULL l.
 */
VOW_API vow_chan *vow_chan_new(vow_loop *l, size_t capacity);

/*
 * A channel between two loops, usually on two threads: sends happen on send_loop's
 * thread, receives on recv_loop's, and each side's waits settle on its own loop, so
 * producer threads can feed a loop with backpressure. Each side keeps an eventfd
 * (the other side writes it to wake the waiters) and a watcher on it while it has
 * waiters and for one loop turn more (which keeps that loop alive meanwhile).
 * capacity must be at least 1: a
 * rendezvous between two threads cannot withdraw a cancelled send or receive
 * atomically with the other thread's completion of it. If send_loop == recv_loop
 * this makes an ordinary channel (vow_chan_new). Any thread.
 * Thread rules of such a channel:
 *   send_loop's thread: vow_chan_send, vow_chan_try_send, select SEND cases;
 *   recv_loop's thread: vow_chan_recv, vow_chan_try_recv, select RECV cases;
 *   any thread: vow_chan_close, vow_chan_ref, vow_chan_unref, vow_chan_len,
 *               vow_chan_capacity, vow_chan_is_closed.
 * Pending waits on the other side are settled by that side's loop, soon after a
 * close (not inside vow_chan_close). Items still buffered when the channel is freed
 * are dropped on the thread that drops the last reference.
 * Returns 0 and *ret (one reference), or
 *   VOW_EINVAL  NULL loop or ret, capacity 0 between two loops
 *   VOW_ENOMEM
 *   -errno      eventfd failed (-EMFILE, -ENFILE)
 */
VOW_API int vow_chan_new_between(vow_loop *send_loop, vow_loop *recv_loop, size_t capacity,
                                 vow_chan **ret);

/* Adds a reference and returns c (NULL: a no-op returning NULL). Any thread. */
VOW_API vow_chan *vow_chan_ref(vow_chan *c);

/* Drops a reference; the last one closes and frees the channel (see above). NULL is a
 * no-op. Loop thread (any thread for a channel between two loops). */
VOW_API void vow_chan_unref(vow_chan *c);

/*
 * Closes the channel for sending (see above). Pending sends reject with VOW_ECLOSED
 * and their values are dropped; pending receives reject with VOW_EOF (there is
 * nothing buffered while receivers wait). Returns 0, or
 *   VOW_ECLOSED the channel was already closed (nothing changes)
 *   VOW_EINVAL  c is NULL
 */
VOW_API int vow_chan_close(vow_chan *c);

/*
 * Sends v. Consumes v whatever happens: it is handed to exactly one receiver, or
 * dropped exactly once if the send fails. Fulfils with vow_val_none() once v is in
 * the channel (buffered, or taken by a receiver; for a rendezvous, taken); waits
 * while the channel is full. Rejects with
 *   VOW_ECLOSED   the channel is closed (now or while waiting)
 *   VOW_ECANCELED the send was cancelled or dropped while waiting (v never delivered)
 *   VOW_ETIMEDOUT under vow_timeout (the same: never delivered)
 *   -errno        between two loops: the sending side could not watch its eventfd
 * NULL on out-of-memory (the buffer could not grow, or the wait could not be set
 * up) or NULL c; v is dropped then too.
 */
VOW_API vow *vow_chan_send(vow_chan *c, vow_val v);

/*
 * Receives the next item: fulfils with it (the vow owns it; see vow_chan_take),
 * waiting while the channel is empty. Rejects with VOW_EOF once the channel is
 * closed and drained, VOW_ECANCELED / VOW_ETIMEDOUT when withdrawn (no item taken:
 * it stays for the next receiver), or (between two loops) -errno if the receiving
 * side could not watch its eventfd. NULL on out-of-memory or NULL c.
 */
VOW_API vow *vow_chan_recv(vow_chan *c);

/*
 * Sends v only if that needs no wait (a receiver is waiting, or there is room and no
 * sender is queued before it). Consumes v only when it returns 0; on any error v
 * is still yours (so it can go on to vow_chan_send). Returns 0, or
 *   VOW_EAGAIN  the send would wait
 *   VOW_ECLOSED the channel is closed
 *   VOW_ENOMEM  the buffer could not grow
 *   VOW_EINVAL  c is NULL
 */
VOW_API int vow_chan_try_send(vow_chan *c, vow_val v);

/*
 * Receives an item only if one is ready (buffered, or a sender waits on a
 * rendezvous, and no receiver is queued before it): *ret is the item, yours to
 * drop. Returns 0, or (with *ret untouched)
 *   VOW_EAGAIN  nothing to take now
 *   VOW_EOF     closed and drained
 *   VOW_EINVAL  c or ret is NULL
 */
VOW_API int vow_chan_try_recv(vow_chan *c, vow_val *ret);

/*
 * Moves the item out of a fulfilled receive (a vow from vow_chan_recv, or a
 * vow_select whose winning case is a RECV): *ret is the item, now yours to drop;
 * the vow keeps the same bits without a drop, so dropping it frees nothing. For any
 * other fulfilled vow it moves that vow's value the same way. Returns 0, or
 *   VOW_ESTATE  r is not fulfilled
 *   VOW_EINVAL  r or ret is NULL
 */
VOW_API int vow_chan_take(vow *r, vow_val *ret);

/* Items buffered now (0 for NULL). Any thread. */
VOW_API size_t vow_chan_len(const vow_chan *c);
/* The capacity given at creation (0 for NULL). Any thread. */
VOW_API size_t vow_chan_capacity(const vow_chan *c);
/* 1 if closed, 0 if open, VOW_EINVAL for NULL. Any thread. */
VOW_API int vow_chan_is_closed(const vow_chan *c);

/* -------------------------------------------------------------- semaphore */

/* A counting semaphore: acquire takes one unit, release gives one back. FIFO-fair:
 * a released unit goes to the longest-waiting acquire. */
typedef struct vow_sem vow_sem;

/* A new semaphore holding count units. NULL on out-of-memory or NULL l. */
VOW_API vow_sem *vow_sem_new(vow_loop *l, size_t count);

/* Frees the semaphore; pending acquires reject with VOW_ECLOSED. Units still held
 * are forgotten: nobody may release into it afterwards. NULL is a no-op. */
VOW_API void vow_sem_close(vow_sem *s);

/* Takes one unit: fulfils with vow_val_none() when it is yours (release it with
 * vow_sem_release). NULL on out-of-memory or NULL s. */
VOW_API vow *vow_sem_acquire(vow_sem *s);

/* Takes one unit if one is free and nobody waits: 0, or VOW_EAGAIN, VOW_EINVAL. */
VOW_API int vow_sem_try_acquire(vow_sem *s);

/* Gives one unit back: to the first pending acquire, else to the count. 0, or
 *   VOW_ENOSPC  the count is at SIZE_MAX
 *   VOW_EINVAL  s is NULL */
VOW_API int vow_sem_release(vow_sem *s);

/* Free units now (0 for NULL). */
VOW_API size_t vow_sem_count(const vow_sem *s);

/* ------------------------------------------------------------------- lock */

/*
 * A FIFO-fair mutual-exclusion lock for tasks on one loop. Each acquisition gets an
 * owner token (a positive number, new for every acquisition), and releasing needs
 * it: a release by anyone else, or a second release of the same acquisition, is
 * refused with VOW_EPERM and changes nothing. A task is a chain or a coroutine, so
 * the token, not the thread or the coroutine, is what identifies the owner.
 */
typedef struct vow_lock vow_lock;

/* A new, unlocked lock. NULL on out-of-memory or NULL l. */
VOW_API vow_lock *vow_lock_new(vow_loop *l);

/*
 * Frees the lock. 0, or
 *   VOW_EBUSY   the lock is held (its owner will release it); nothing changes
 *   VOW_EINVAL  k is NULL
 */
VOW_API int vow_lock_close(vow_lock *k);

/* Acquires the lock: fulfils with the owner token (num) when it is yours. NULL on
 * out-of-memory or NULL k. */
VOW_API vow *vow_lock_acquire(vow_lock *k);

/* Acquires the lock if it is free and nobody waits: 0 and *ret_token, or
 * VOW_EAGAIN, VOW_EINVAL. */
VOW_API int vow_lock_try_acquire(vow_lock *k, int64_t *ret_token);

/* Releases the acquisition that got token: the lock passes to the first pending
 * acquire, or becomes free. 0, or
 *   VOW_EPERM   token is not the current owner's (wrong owner, released already,
 *               or the lock is free)
 *   VOW_EINVAL  k is NULL */
VOW_API int vow_lock_release(vow_lock *k, int64_t token);

/* 1 if held, 0 if free, VOW_EINVAL for NULL. */
VOW_API int vow_lock_is_held(const vow_lock *k);

/* ----------------------------------------------------------------- select */

enum vow_select_op {
    VOW_SELECT_RECV = 1, /* receive from chan */
    VOW_SELECT_SEND = 2, /* send val on chan */
    VOW_SELECT_VOW = 3,  /* wait for vow p to settle */
    _VOW_SELECT_MAX
};

/* One case of a select; the array is read during the vow_select call only. */
typedef struct vow_select_case {
    int op;         /* rw: VOW_SELECT_* */
    vow_chan *chan; /* rw: RECV, SEND: borrowed; the select's loop must run its side */
    vow_val val;    /* rw: SEND: the value, borrowed: it moves into the channel only
                       if this case wins without error; otherwise it stays yours */
    vow *p;         /* rw: VOW: consumed (cancelled if it loses and nobody else wants
                       it, as vow_race does) */
} vow_select_case;

/* The outcome of a select: the value of its fulfilled vow (vow_selected_get). */
typedef struct vow_selected {
    size_t index; /* ro: the case that won */
    int code;     /* ro: 0 on success, else the case's failure: VOW_EOF (RECV: closed
                     and drained), VOW_ECLOSED (SEND: closed, the value stays yours),
                     or the input vow's rejection code (VOW) */
    vow_val val;  /* ro: RECV: the item, owned by the select's vow (move it out with
                     vow_chan_take); none otherwise */
    vow *p;       /* ro: VOW: the settled input's outcome (borrowed from the result);
                     NULL otherwise */
} vow_selected;

/*
 * Waits for the first of n cases to be ready and completes exactly that one:
 * a RECV takes one item, a SEND delivers its value, a VOW settles; the other
 * channel operations are withdrawn in the same step (no item taken and lost, no
 * value delivered), and the other VOW inputs are released. Cases ready at the call
 * are tried in array order, so the first ready case wins (rotate the array for
 * fairness). A closed channel makes its case ready (RECV: VOW_EOF once drained;
 * SEND: VOW_ECLOSED).
 * The vow fulfils with a vow_selected value (read it with vow_selected_get);
 * case failures are reported in its code, never as a rejection. It rejects with
 *   VOW_EINVAL    n is 0, an unknown op, a NULL chan or p, a channel whose side
 *                 lives on another loop, or a VOW input of another loop
 *   VOW_ECANCELED cancelled or dropped while waiting (no case completed)
 *   -errno        a channel between two loops could not watch its eventfd
 * Consumes every VOW case's p, even on failure. NULL on out-of-memory or NULL l.
 */
VOW_API vow *vow_select(vow_loop *l, const vow_select_case *cases, size_t n);

/* The vow_selected in v (the value of a fulfilled vow_select), borrowed from it; NULL
 * if v does not hold one. */
VOW_API const vow_selected *vow_selected_get(const vow_val *v);

#ifdef __cplusplus
}
#endif
#endif /* VOW_SYNC_H */
