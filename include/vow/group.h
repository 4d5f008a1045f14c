/* SPDX-License-Identifier: MIT */
/*
 * A loop group: N loops on N threads of their own, started by one call and stopped
 * by one call, work placed on a loop of the group with a vow of its outcome on the
 * calling loop (vows that cross loops), accept spread across the loops, and a
 * graceful shutdown. Coroutines never migrate: each runs on the loop that spawned it.
 * Each function states its thread rule; "any thread" includes the group's own.
 */
#ifndef VOW_GROUP_H
#define VOW_GROUP_H

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vow_group vow_group;

/* The most loops a group may have. */
#define VOW_GROUP_MAX 256u

/* Where to place work (the i argument below), besides a loop's index 0..size-1. */
enum vow_group_pick {
    VOW_GROUP_NEXT = -1, /* round-robin over the group's loops */
    VOW_GROUP_LEAST = -2 /* the loop with the least work placed by the group (ties: lowest index) */
};

/* Option flags. */
enum vow_group_flag {
    VOW_GROUP_PIN = 1u << 0 /* pin thread i to the i-th CPU the process may run on */
};

/*
 * Runs on each loop's thread once the group starts stopping, after the group has
 * withdrawn the work it placed there: stop what keeps the loop alive that the group
 * does not know of (vow_co_cancel_all(l) for coroutines, your own handles).
 */
typedef void (*vow_group_stop_fn)(vow_loop *l, unsigned index, void *ctx);

/* Options for vow_group_new; a NULL pointer means all defaults. */
typedef struct vow_group_opts {
    unsigned loops;            /* rw: 0 = the number of CPUs the process may run on
                                  (sched_getaffinity), at most VOW_GROUP_MAX */
    unsigned flags;            /* rw: 0 or VOW_GROUP_PIN */
    vow_group_stop_fn on_stop; /* rw: NULL, or see vow_group_stop_fn */
    void *ctx;                 /* rw: passed to on_stop */
} vow_group_opts;

/*
 * Starts a group: one thread per loop, each creating its loop and running it until
 * the group stops. When the call returns, every loop runs and accepts work.
 * Returns 0 and sets *ret, or (nothing is left behind):
 *   VOW_EINVAL  ret NULL, unknown flags, more than VOW_GROUP_MAX loops
 *   VOW_ENOMEM
 *   -errno      a thread or a loop could not be made (-EAGAIN, -EMFILE)
 * Any thread.
 */
VOW_API int vow_group_new(const vow_group_opts *opts, vow_group **ret);

/* The number of loops. Any thread. */
VOW_API unsigned vow_group_size(const vow_group *g);

/*
 * Loop i of the group (NULL if i is out of range), to compare with and to hand to a
 * function that runs on that loop's thread. Only that thread may call the loop's
 * functions; vow_loop_post to it is allowed from any thread until vow_group_stop
 * (after it the loop may close at any time: vow_group_post checks). Any thread.
 */
VOW_API vow_loop *vow_group_loop(const vow_group *g, unsigned i);

/* The index of the calling thread's loop in g, or -1 if the caller is not one of g's
 * threads (or g is NULL); never fails otherwise. Any thread. */
VOW_API int vow_group_self(const vow_group *g);

/* The loop index i stands for: itself if 0..size-1, or the choice VOW_GROUP_NEXT /
 * VOW_GROUP_LEAST makes now. VOW_EINVAL for anything else. Any thread. */
VOW_API int vow_group_pick(vow_group *g, int i);

/*
 * Runs fn(l, arg) on loop i's thread (i as in vow_group_pick), in posting order
 * with the calling thread's other posts there. Fire and forget: nothing comes back.
 *   VOW_EINVAL  g or fn NULL, i out of range
 *   VOW_ECLOSED the group is stopping (fn will not run)
 *   VOW_ENOMEM  (fn will not run)
 * Any thread.
 */
VOW_API int vow_group_post(vow_group *g, int i, vow_post_fn fn, void *arg);

/*
 * What runs on the chosen loop for vow_group_spawn and vow_group_call: returns a new
 * reference to a vow of l (consumed), whose outcome crosses back; NULL stands for
 * out-of-memory. It may be a coroutine (return vow_co_spawn(l, body, arg, opts)).
 */
typedef vow *(*vow_group_fn)(vow_loop *l, void *arg);

/*
 * Runs fn(l, arg) on loop i's thread and returns, on from (the calling thread's
 * loop), a vow (a new reference) that settles like the vow fn returned: its value or
 * rejection, carried back by a post (see docs/reference/group.md for what a value
 * may hold). fn always runs once posted, even if the result was cancelled meanwhile,
 * so it can release what arg owns.
 * The work is rooted, like vow_co_spawn's: dropping the result withdraws nothing.
 * Cancellation that reaches the result (vow_cancel, a vow_timeout over it firing, a
 * lost race, its last consumer cancelled) travels to loop i, where the vow fn
 * returned loses this consumer and is cancelled if nothing there consumes it.
 * Returns NULL if from or g is NULL or on out-of-memory (fn will not run); a vow
 * rejected with VOW_EINVAL (fn NULL, i out of range) or VOW_ECLOSED (the group is
 * stopping), fn not run. If fn returns NULL (or loop i runs out of memory) the result
 * rejects with VOW_ENOMEM; if it returns a vow of another loop, with VOW_EINVAL (that
 * vow is left alone: it is not fn's thread's to touch).
 * Thread of from only.
 */
VOW_API vow *vow_group_spawn(vow_group *g, int i, vow_loop *from, vow_group_fn fn, void *arg);

/*
 * The same, but the result is a proxy: only a consumer of the vow fn returned, held
 * weakly like a vow_timeout's result. Dropping it while pending withdraws it on loop
 * i too (the vow there is cancelled if nothing else consumes it). The way to wait on
 * a vow that loop i owns and may share with others: fn returns vow_ref(that vow).
 * Returns a new reference (the caller owns it); returns and rejects as
 * vow_group_spawn. Thread of from only.
 */
VOW_API vow *vow_group_call(vow_group *g, int i, vow_loop *from, vow_group_fn fn, void *arg);

/*
 * Accept spread across the loops. fn(l, fd, ctx) runs on the loop that got the
 * connection, with the connected fd (non-blocking, close-on-exec, yours to close),
 * and returns the connection's work as a vow of l (a new reference, consumed; NULL
 * if none): the group counts it as that loop's load until it settles, and cancels it
 * when the group stops. The listening sockets live until the group stops.
 */
typedef vow *(*vow_group_conn_fn)(vow_loop *l, int fd, void *ctx);

/* Listen flags. */
enum vow_group_listen_flag {
    VOW_GROUP_HANDOFF = 1u << 0 /* one socket, accepted on loop 0, each connection
                                   handed to the least-loaded loop (the fallback) */
};

/*
 * Listens on a numeric address host ("127.0.0.1", "::1", "0.0.0.0") and port (0:
 * ephemeral, the same port for every loop). By default every loop has a listening
 * socket of its own bound with SO_REUSEPORT, and the kernel spreads connections over
 * them; with VOW_GROUP_HANDOFF (or where SO_REUSEPORT is refused) one socket is
 * accepted on loop 0 and each connection handed to the loop with the least load.
 * Returns when every loop listens: the port (> 0), or (nothing left behind)
 *   VOW_EINVAL   g, host or fn NULL, bad address, unknown flags
 *   VOW_ECLOSED  the group is stopping
 *   -EDEADLK     called from one of g's threads (it waits for them)
 *   VOW_ENOMEM, -errno (socket, bind, listen)
 * Any thread but the group's.
 */
VOW_API int vow_group_listen(vow_group *g, const char *host, int port, int backlog, unsigned flags,
                             vow_group_conn_fn fn, void *ctx);

/*
 * Begins the graceful shutdown and returns at once: new work is refused
 * (VOW_ECLOSED), and each loop, on its thread, closes its listening sockets,
 * withdraws the work the group placed there (spawned and called vows lose their
 * consumer and are cancelled unless something else there consumes them, connections
 * are cancelled: coroutines among them see VOW_ECANCELED), runs on_stop, and
 * finishes what is left. Once no vow crosses between the loops any
 * more, each loop runs until it has nothing left and is closed. Idempotent.
 * Any thread, and async-signal-safe: a signal handler may call it.
 *   VOW_EINVAL  g NULL
 */
VOW_API int vow_group_stop(vow_group *g);

/*
 * Stops the group (vow_group_stop), waits for every loop to finish and be closed,
 * joins the threads and frees the group. Returns 0, or
 *   VOW_EINVAL  g NULL
 *   -EDEADLK    closing now would wait for the calling thread: it is one of g's
 *               threads, or results of vow_group_spawn/call are still on their way
 *               to its loops, or it holds values with a drop that came from the
 *               group (docs/reference/group.md, What crosses). The stop has begun
 *               and nothing else changes: run your loop until those results have
 *               settled, drop what you keep, and call it again.
 *   VOW_EBUSY   a loop still had live vows once its work was over (a vow kept past
 *               the group's end): that loop is left open, unusable (a -Dvow_debug
 *               build lists its vows); everything else is freed
 * Any thread.
 */
VOW_API int vow_group_close(vow_group *g);

#ifdef __cplusplus
}
#endif
#endif /* VOW_GROUP_H */
