/* SPDX-License-Identifier: MIT */
/*
 * libvow public API: the loop and its callback handles (layer 1), vows (layer 2).
 * One loop per thread; everything here is loop-thread-only unless its comment says
 * "any thread". Errors are negative ints: -errno or VOW_E* (see VOW_ERRNO_MAP).
 */
#ifndef VOW_H
#define VOW_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VOW_API __attribute__((visibility("default")))
#else
#define VOW_API
#endif

/* ------------------------------------------------------------------ errors */

/*
 * XX(NAME, value, message). Library codes sit at -4096 and below, outside the
 * Linux errno window; a few reuse the errno value where the meaning is the same.
 */
#define VOW_ERRNO_MAP(XX)                                                                  \
    XX(EINVAL, (-EINVAL), "invalid argument")                                              \
    XX(ENOMEM, (-ENOMEM), "out of memory")                                                 \
    XX(EBUSY, (-EBUSY), "resource busy")                                                   \
    XX(ECANCELED, (-ECANCELED), "operation canceled")                                      \
    XX(ETIMEDOUT, (-ETIMEDOUT), "operation timed out")                                     \
    XX(EEXIST, (-EEXIST), "already exists")                                                \
    XX(ENOSPC, (-ENOSPC), "no space left")                                                 \
    XX(EAGAIN, (-EAGAIN), "resource temporarily unavailable")                              \
    XX(EPERM, (-EPERM), "operation not permitted")                                         \
    XX(ECYCLE, (-4096), "vow adopts itself (chaining cycle)")                              \
    XX(EAGGREGATE, (-4097), "all inputs rejected")                                         \
    XX(EUSER, (-4098), "rejected by user code (reason in detail)")                         \
    XX(ESETTLED, (-4099), "vow already resolved")                                          \
    XX(ENOTCORO, (-4100), "not inside a coroutine")                                        \
    XX(ECLOSED, (-4101), "closed or closing (loop, channel or other object)")              \
    XX(EOF, (-4102), "end of file, stream or channel")                                     \
    XX(ESTATE, (-4103), "operation not allowed in this state")                             \
    XX(ETHREAD, (-4104), "called from a thread that does not own the loop")              \
    XX(EQUEUEFULL, (-4120), "thread pool queue is full")                                 \
    XX(EFILE, (-4121), "files have no readiness: use vow_fs_*")                          \
    XX(EAI_ADDRFAMILY, (-4122), "host has no address in the requested family")           \
    XX(EAI_AGAIN, (-4123), "temporary failure in name resolution")                       \
    XX(EAI_BADFLAGS, (-4124), "bad flags in name lookup hints")                          \
    XX(EAI_FAIL, (-4125), "name server failure (non-recoverable)")                       \
    XX(EAI_FAMILY, (-4126), "address family not supported")                              \
    XX(EAI_NODATA, (-4127), "host has no address")                                       \
    XX(EAI_NONAME, (-4128), "no such host or service")                                   \
    XX(EAI_SERVICE, (-4129), "service not available for the socket type")                \
    XX(EAI_SOCKTYPE, (-4130), "socket type not supported")

enum vow_error {
#define VOW__ERR_ENUM(name, val, msg) VOW_##name = val,
    VOW_ERRNO_MAP(VOW__ERR_ENUM)
#undef VOW__ERR_ENUM
    _VOW_ERROR_MIN = -4200
};

/* A message for any code: VOW_E*, -errno, or 0. Never NULL. Any thread. */
VOW_API const char *vow_strerror(int code);
/* The symbolic name ("VOW_ECYCLE", "ECONNREFUSED"); "unknown" if none. Any thread. */
VOW_API const char *vow_err_name(int code);

/* -------------------------------------------------------------- allocation */

typedef void *(*vow_malloc_fn)(size_t size);
typedef void *(*vow_realloc_fn)(void *ptr, size_t size);
typedef void *(*vow_calloc_fn)(size_t count, size_t size);
typedef void (*vow_free_fn)(void *ptr);

/*
 * Replaces the allocator used for everything libvow allocates. Call it before any
 * loop exists (returns VOW_EBUSY otherwise). All four functions are required
 * (VOW_EINVAL). Any thread, but not concurrently with other libvow calls.
 */
VOW_API int vow_replace_allocator(vow_malloc_fn m, vow_realloc_fn r, vow_calloc_fn c,
                                  vow_free_fn f);
/* The allocator libvow uses, for adapters and callers that hand memory to it. */
VOW_API void *vow_malloc(size_t size);
VOW_API void vow_free(void *ptr);
/*
 * Large blocks for arenas of many small objects, as libvow's own slabs use: a block
 * of 2 MiB or more is mapped on its own, aligned to 2 MiB and advised for huge pages
 * (a million small objects then cost a few page faults instead of a hundred
 * thousand), a smaller one comes from vow_malloc; with a replaced allocator every
 * block comes from it. Give the block back with vow_free_chunk and the size it was
 * asked with (NULL is ignored), and before any vow_replace_allocator call. NULL when
 * out of memory. Any thread.
 */
VOW_API void *vow_malloc_chunk(size_t size);
VOW_API void vow_free_chunk(void *ptr, size_t size);

/* --------------------------------------------------------------------- loop */

typedef struct vow_loop vow_loop;

enum vow_run_mode {
    VOW_RUN_DEFAULT = 0, /* until nothing is active or pending, or vow_loop_stop() */
    VOW_RUN_ONCE = 1,    /* one turn, blocking for events if there is nothing to do */
    VOW_RUN_NOWAIT = 2,  /* one turn without blocking (one microtask slice) */
    _VOW_RUN_MAX
};

/* A new loop, owned by the calling thread (debug builds make vow_loop_run refuse
 * other threads with VOW_ETHREAD). NULL on out-of-memory or fd exhaustion. */
VOW_API vow_loop *vow_loop_new(void);

/*
 * Runs the loop in the given mode. Microtasks (vow handlers) run after every
 * callback, in FIFO order, at most 1024 of them or 2 ms of them per loop turn (the
 * fairness slice): the rest runs at the next turn, so endless microtask work still
 * lets I/O and timers run. VOW_RUN_ONCE that finds microtasks left over runs them and
 * does not block. Returns 1 if work remains (active handles, keepalives, queued work
 * or microtasks), 0 if the loop has nothing left, or:
 *   VOW_EINVAL  l is NULL or mode is unknown
 *   VOW_EBUSY   called from inside a callback or handler of this loop (nothing done)
 *   VOW_ETHREAD called from a thread that does not own the loop (debug builds)
 *   -errno      the backend's wait failed
 */
VOW_API int vow_loop_run(vow_loop *l, int mode);

/* Makes the current vow_loop_run() return after the callback that is running. */
VOW_API void vow_loop_stop(vow_loop *l);

/*
 * Frees the loop. Fails, changing nothing, with
 *   VOW_EBUSY   handles are active, keepalives held, callbacks posted but not run,
 *               microtasks queued, or vows still alive (a debug build with
 *               -Dvow_debug=true lists all of these on stderr, the vows with their
 *               creation sites)
 *   VOW_EINVAL  l is NULL
 */
VOW_API int vow_loop_close(vow_loop *l);

/* The loop's cached monotonic time in milliseconds, updated once per turn. */
VOW_API uint64_t vow_loop_now(const vow_loop *l);
/* Refreshes the cached time (for long callbacks). */
VOW_API void vow_loop_update_time(vow_loop *l);
/* 1 if vow_loop_run(DEFAULT) would have anything to do, else 0 (also for a NULL l):
 * never fails. */
VOW_API int vow_loop_alive(const vow_loop *l);
/* "epoll" or "poll": the backend chosen at vow_loop_new (VOW_BACKEND overrides). */
VOW_API const char *vow_loop_backend_name(const vow_loop *l);

/*
 * Embedding: a host loop watches vow_loop_backend_fd() for readability and sleeps at
 * most vow_loop_backend_timeout() ms (-1: no deadline, 0: work is ready now), then
 * calls vow_loop_run(l, VOW_RUN_NOWAIT). The timeout is measured from the clock at
 * the call (not from the loop's cached time, which only a libvow turn moves), so a
 * host that asks again before each of its sleeps, however busy it is with work of
 * its own, wakes libvow's timers within its own latency of their deadline; nothing
 * else is asked of it. The fd is an epoll fd on the epoll
 * backend; on the poll backend it is an eventfd the loop keeps readable while it
 * has work (so the host wakes it). poll(2) has no fd that reports the readiness of
 * the fds it watches, so on that backend vow_loop_backend_timeout() itself checks
 * them (making the eventfd readable if one is ready) and, while any fd is watched,
 * returns at most 10 ms: call it before every sleep. Loop thread only. Both return
 * VOW_EINVAL for a NULL l.
 */
VOW_API int vow_loop_backend_fd(const vow_loop *l);
VOW_API int vow_loop_backend_timeout(const vow_loop *l);

/*
 * Keepalive: a counter that keeps vow_loop_run(DEFAULT) running with no active
 * handles (for example while other threads are expected to post). delta is +1 or
 * -1. Returns the new count or VOW_EINVAL (count would go negative).
 */
VOW_API int vow_loop_keepalive(vow_loop *l, int delta);

/*
 * Runs fn(l, arg) on the loop's thread at its next turn, in posting order. Any
 * thread, as long as l stays open for the whole call: the caller must know that
 * vow_loop_close cannot run meanwhile (the loop thread holds a keepalive until the
 * posting threads are done, or joins them before closing). A thread that cannot know
 * when the loop closes posts through a vow_poster instead. Each post keeps the loop
 * alive until it has run. A post to a loop that is running callbacks, or that an
 * earlier post already woke, makes no system call; a post to a sleeping loop writes
 * its eventfd once.
 *   VOW_ENOMEM  the queue node could not be allocated (fn will not run)
 *   VOW_ECLOSED the loop is closing (fn will not run)
 *   VOW_EINVAL  l or fn is NULL
 */
typedef void (*vow_post_fn)(vow_loop *l, void *arg);
VOW_API int vow_loop_post(vow_loop *l, vow_post_fn fn, void *arg);

/*
 * A poster: a handle to post to a loop whose lifetime its holder controls, for threads
 * that may race with vow_loop_close. It does not keep the loop alive or open; once
 * the loop has closed, vow_poster_post returns VOW_ECLOSED, and the poster stays valid
 * until vow_poster_close. vow_loop_close succeeds only when no post is queued and no
 * poster is inside vow_poster_post, in one atomic step, so each post either runs
 * before the loop closes or is refused.
 */
typedef struct vow_poster vow_poster;
/* A poster of l. Any thread while l is certainly open (typically the loop thread,
 * before handing it to another thread). Allocates nothing: NULL only if l is NULL.
 * Every vow_poster_new is matched by one vow_poster_close. */
VOW_API vow_poster *vow_poster_new(vow_loop *l);
/* As vow_loop_post, through p. Any thread, at any time until vow_poster_close(p).
 *   VOW_ECLOSED the loop has closed (fn will not run);  VOW_ENOMEM;  VOW_EINVAL */
VOW_API int vow_poster_post(vow_poster *p, vow_post_fn fn, void *arg);
/* Lets go of p (NULL: no-op). Any thread; p must not be used afterwards. */
VOW_API void vow_poster_close(vow_poster *p);

/*
 * Queues fn(l, arg) as a microtask: it runs after the current callback or handler,
 * before the loop does anything else, in FIFO order with vow handlers.
 *   VOW_ENOMEM, VOW_EINVAL
 */
VOW_API int vow_loop_queue_microtask(vow_loop *l, vow_post_fn fn, void *arg);

/* ------------------------------------------------------------------ handles */
/*
 * Handles are caller-allocated structs: `data` is yours, the rest is private.
 * init binds a handle to a loop (it is not active yet); start makes it active
 * (it keeps the loop alive); stop is synchronous and idempotent: once it returns
 * the loop never touches the handle again, even for an event already collected in
 * this turn, so the memory may be freed at once, even inside its own callback.
 * There are no close callbacks.
 */
#define VOW__PRIVATE(n) void *private_[n] /* private */

/* fd watcher. events: VOW_READABLE | VOW_WRITABLE; the callback may also see
 * VOW_ERROR and VOW_HANGUP (always reported, even if not asked for). */
enum vow_io_event {
    VOW_READABLE = 1u << 0,
    VOW_WRITABLE = 1u << 1,
    VOW_ERROR = 1u << 2,
    VOW_HANGUP = 1u << 3
};
typedef struct vow_io vow_io;
typedef void (*vow_io_fn)(vow_io *w, int fd, unsigned events);
struct vow_io {
    void *data; /* rw */
    VOW__PRIVATE(10);
};
/*
 *   VOW_EINVAL  NULL loop/handle/callback or fd < 0
 */
VOW_API int vow_io_init(vow_loop *l, vow_io *w, int fd, vow_io_fn cb);
/*
 * Starts (or changes) the interest set; events must be non-zero.
 *   VOW_EEXIST  another started watcher on this loop watches the same fd
 *   -EBADF, -EPERM ...  what the backend reported (the fd is not watchable)
 *   VOW_ENOMEM
 */
VOW_API int vow_io_start(vow_io *w, unsigned events);
VOW_API int vow_io_stop(vow_io *w);

/* Timer: fires once after timeout ms, then every repeat ms if repeat > 0. Never early
 * on the loop clock. Timers with the same deadline fire in start order. */
typedef struct vow_timer vow_timer;
typedef void (*vow_timer_fn)(vow_timer *t);
struct vow_timer {
    void *data; /* rw */
    VOW__PRIVATE(8);
};
/*   VOW_EINVAL  l, t or cb is NULL (init); t is NULL (start, stop) */
VOW_API int vow_timer_init(vow_loop *l, vow_timer *t, vow_timer_fn cb);
/* Restarts the timer if it is active. VOW_ENOMEM if the heap cannot grow. */
VOW_API int vow_timer_start(vow_timer *t, uint64_t timeout, uint64_t repeat);
VOW_API int vow_timer_stop(vow_timer *t);

/* Immediate: runs its callback once at the next loop turn (after I/O, before
 * timers of that turn are checked again); the loop does not block while one is
 * queued. One-shot: it is inactive when the callback runs. */
typedef struct vow_immediate vow_immediate;
typedef void (*vow_immediate_fn)(vow_immediate *im);
struct vow_immediate {
    void *data; /* rw */
    VOW__PRIVATE(5);
};
/*   VOW_EINVAL  l, im or cb is NULL (init); im is NULL (start, stop) */
VOW_API int vow_immediate_init(vow_loop *l, vow_immediate *im, vow_immediate_fn cb);
VOW_API int vow_immediate_start(vow_immediate *im);
VOW_API int vow_immediate_stop(vow_immediate *im);

/* Signal watcher: the callback runs on the loop's thread (never inside the signal
 * handler) once per turn in which signum was delivered at least once since the
 * watcher started (a watcher started from a callback does not see earlier
 * deliveries). Several watchers and several loops may watch the same signal. When
 * the last watcher of a signal on a loop stops from a callback or microtask, the
 * loop keeps the signal's handler until its microtask queue is empty, so a watcher
 * started again from there leaves no moment for the default action. */
typedef struct vow_signal vow_signal;
typedef void (*vow_signal_fn)(vow_signal *s, int signum);
struct vow_signal {
    void *data; /* rw */
    VOW__PRIVATE(8);
};
/*   VOW_EINVAL  l, s or cb is NULL (init); s is NULL (start, stop) */
VOW_API int vow_signal_init(vow_loop *l, vow_signal *s, vow_signal_fn cb);
/*   VOW_EINVAL  signum is not a catchable signal (SIGKILL, SIGSTOP, out of range)
 *   VOW_ENOSPC  too many loops watch signals at once */
VOW_API int vow_signal_start(vow_signal *s, int signum);
VOW_API int vow_signal_stop(vow_signal *s);

/* Child-process watcher: the callback runs once when pid exits, with its exit
 * status (or 0) and the terminating signal (or 0); the child is reaped. The watcher
 * is inactive when the callback runs. pidfd where the kernel has it, SIGCHLD
 * otherwise (VOW_PIDFD=0 forces the fallback). */
typedef struct vow_child vow_child;
typedef void (*vow_child_fn)(vow_child *c, int pid, int exit_status, int term_signal);
struct vow_child {
    void *data; /* rw */
    VOW__PRIVATE(10);
};
/*   VOW_EINVAL  l, c or cb is NULL (init); c is NULL (start, stop) */
VOW_API int vow_child_init(vow_loop *l, vow_child *c, vow_child_fn cb);
/*   VOW_EINVAL  pid <= 0;  -ESRCH  no such child */
VOW_API int vow_child_start(vow_child *c, int pid);
VOW_API int vow_child_stop(vow_child *c);

/* --------------------------------------------------------------------- vows */

/* libvow's own base and reactor tiers are built with VOW__LOOP_ONLY defined: the
 * reactor knows nothing of vows, so a call into the promise API breaks its build. */
#ifndef VOW__LOOP_ONLY

typedef struct vow vow; /* a promise, reference-counted, owned by one loop */

/* What a vow carries. drop, if set, runs once on ptr when the owner lets go. */
typedef struct vow_val {
    union {
        void *ptr;
        int64_t num;
        double real;
    };
    void (*drop)(void *ptr);
} vow_val;

static inline vow_val vow_val_num(int64_t n)
{
    vow_val v;
    v.num = n;
    v.drop = NULL;
    return v;
}
static inline vow_val vow_val_real(double d)
{
    vow_val v;
    v.real = d;
    v.drop = NULL;
    return v;
}
static inline vow_val vow_val_ptr(void *p, void (*drop)(void *))
{
    vow_val v;
    v.ptr = p;
    v.drop = drop;
    return v;
}
static inline vow_val vow_val_none(void)
{
    return vow_val_num(0);
}

enum vow_state_e { VOW_PENDING = 0, VOW_FULFILLED = 1, VOW_REJECTED = 2 };

/* What a handler returns. Build it with vow_ok/vow_fail/vow_follow/vow_pass only. */
typedef struct vow_ret {
    int kind_; /* private */
    int code_; /* private */
    union {
        vow_val val_;  /* private */
        vow *follow_;  /* private */
    };
} vow_ret;

typedef vow_ret (*vow_ok_fn)(void *ctx, const vow_val *v);
typedef vow_ret (*vow_err_fn)(void *ctx, int code, const vow_val *detail);

/* A new pending vow (a new reference). NULL on out-of-memory or NULL l. */
VOW_API vow *vow_pending(vow_loop *l);
/* A new vow already fulfilled with v / rejected with code (< 0; others become
 * VOW_EINVAL) and detail, as a new reference. v and detail are consumed even on
 * failure (their drop runs). NULL on out-of-memory or NULL l. */
VOW_API vow *vow_resolved(vow_loop *l, vow_val v);
VOW_API vow *vow_rejected(vow_loop *l, int code, vow_val detail);

/*
 * Settle p (borrowed). v/detail are consumed whatever happens (dropped on error).
 *   VOW_ESETTLED p is already resolved (settled, or locked onto another vow)
 *   VOW_EINVAL   p is NULL, or code >= 0 for vow_reject
 */
VOW_API int vow_resolve(vow *p, vow_val v);
VOW_API int vow_reject(vow *p, int code, vow_val detail);
/*
 * p (borrowed) adopts other's outcome; consumes other. Adopting itself, directly or
 * through a cycle, rejects p with VOW_ECYCLE (and returns 0).
 *   VOW_ESETTLED, VOW_EINVAL (other NULL or on another loop), VOW_ENOMEM
 */
VOW_API int vow_resolve_with(vow *p, vow *other);

/*
 * Chain: returns a new vow (a new reference) settled by on_ok/on_err's vow_ret; a
 * NULL handler passes the outcome through. Consumes p, even on failure. Handlers
 * run from the microtask queue, never synchronously, in attachment order, at most
 * once. ctx_drop (vow_then_full) runs once: after the handler ran, or when the
 * reaction is discarded unrun (cancellation, loop close).
 * Returns NULL only on out-of-memory or NULL p (ctx_drop has then run).
 */
VOW_API vow *vow_then(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx);
VOW_API vow *vow_then_full(vow *p, vow_ok_fn on_ok, vow_err_fn on_err, void *ctx,
                           void (*ctx_drop)(void *ctx));
VOW_API vow *vow_catch(vow *p, vow_err_fn on_err, void *ctx);
/* fn runs on either outcome; the original outcome passes through unless fn's result
 * fails or is a vow that rejects (ECMAScript Promise.prototype.finally). Consumes p
 * and returns a new reference, like vow_then; NULL only on out-of-memory or NULL p. */
VOW_API vow *vow_finally(vow *p, vow_ret (*fn)(void *ctx), void *ctx);

/* Handler results, for a handler's return (or vow_settle): vow_ok fulfils with v,
 * vow_fail rejects with code (< 0; others become VOW_EINVAL) and detail, vow_follow
 * adopts other (consumes the reference; a NULL other gives VOW_EINVAL),
 * vow_pass lets the outcome through unchanged. Each consumes what it is given (the
 * handler's vow takes it over) and never fails. */
VOW_API vow_ret vow_ok(vow_val v);
VOW_API vow_ret vow_fail(int code, vow_val detail);
VOW_API vow_ret vow_follow(vow *other);
VOW_API vow_ret vow_pass(void);

/*
 * Settles p (borrowed) with a handler-style result: vow_ok fulfils, vow_fail rejects,
 * vow_follow adopts. Consumes r's value or vow whatever happens. For producers that
 * compute a vow_ret outside a handler (a coroutine's return value, a bridge).
 *   VOW_ESETTLED p is already resolved;  VOW_EINVAL p NULL or r is vow_pass()
 */
VOW_API int vow_settle(vow *p, vow_ret r);

/* vow_ref takes a new reference to p (borrowed) and returns p, NULL for a NULL p;
 * vow_unref consumes one reference (the last one frees p once nothing else needs it);
 * vow_unref(NULL) is a no-op. */
VOW_API vow *vow_ref(vow *p);
VOW_API void vow_unref(vow *p);
/* p's state (enum vow_state_e) and its rejection code (0 unless rejected), or
 * VOW_EINVAL for a NULL p. */
VOW_API int vow_state(const vow *p);
/*
 * 1 if p is resolved: settled, or pending but locked onto another vow (by
 * vow_resolve_with or a handler's vow_follow), so that vow_resolve, vow_reject,
 * vow_resolve_with and vow_settle on it return VOW_ESETTLED; 0 if p is pending and
 * free to be resolved; VOW_EINVAL if p is NULL. vow_state tells settled from pending
 * only: a locked vow is VOW_PENDING there. Borrows p.
 */
VOW_API int vow_is_resolved(const vow *p);
VOW_API int vow_code(const vow *p);
/* Fulfilment value or rejection detail, borrowed from p; NULL while pending. */
VOW_API const vow_val *vow_value(const vow *p);
VOW_API vow_loop *vow_loop_of(const vow *p);

/*
 * Combinators (ECMAScript). Each consumes every ps[i] (even on failure) and returns
 * a new reference to a new vow, or NULL on out-of-memory or NULL l. all/all_settled fulfil with a vow_list in
 * input order (empty input: at once, empty list); race of none stays pending; any of
 * none rejects with VOW_EAGGREGATE whose detail is a vow_list of the rejections.
 * race/any cancel the losers no other consumer wants once decided, all the inputs
 * left once it rejected. The result is held weakly: dropping it withdraws the
 * combinator (see vow_cancel). A NULL ps[i] rejects the result with VOW_EINVAL.
 */
VOW_API vow *vow_all(vow_loop *l, vow **ps, size_t n);
VOW_API vow *vow_all_settled(vow_loop *l, vow **ps, size_t n);
VOW_API vow *vow_race(vow_loop *l, vow **ps, size_t n);
VOW_API vow *vow_any(vow_loop *l, vow **ps, size_t n);

/* The list value of all/all_settled/any's aggregate: settled vows in input order,
 * borrowed from the value. */
typedef struct vow_list {
    size_t n;      /* ro */
    vow **items;   /* ro: n settled vows; read with vow_state/vow_code/vow_value */
} vow_list;
/* v's list, or NULL if v does not hold one. */
VOW_API const vow_list *vow_list_get(const vow_val *v);

/*
 * A list value of its own for a producer that reports several settled vows at once,
 * as all_settled and any do (a scope's join uses it). Takes a new reference to each
 * of items[0..n) (borrowed; each must be settled); the value's drop releases them.
 * Returns 0 and writes *ret (hand it to vow_resolve, vow_reject or vow_ok, which
 * consume it), or, with *ret untouched:
 *   VOW_EINVAL  ret is NULL, items is NULL with n > 0, or an item is NULL or pending
 *   VOW_ENOMEM
 */
VOW_API int vow_val_list(vow *const *items, size_t n, vow_val *ret);

/* A new vow (a new reference) that fulfils with v after ms on the loop clock (keeps
 * the loop alive meanwhile). v is consumed, dropped if the call fails. NULL on
 * out-of-memory or NULL l. */
VOW_API vow *vow_delay(vow_loop *l, uint64_t ms, vow_val v);
/* A new vow (a new reference) that settles like p, or rejects with VOW_ETIMEDOUT
 * after ms and cancels p if no other consumer wants it. Consumes p, even on failure.
 * Dropping the result stops the timer and leaves p. NULL on out-of-memory or NULL p. */
VOW_API vow *vow_timeout(vow *p, uint64_t ms);

/*
 * Rejects a pending p (borrowed) with VOW_ECANCELED and withdraws its producers;
 * travels upstream to every source left with no consumer (references do not count:
 * consumers are reactions, adoptions, combinators, timeouts, awaits, waiters). Dropping the
 * last reference to a pending vow withdraws it the same way, except that handlers
 * and coroutine bodies are rooted: they run whether or not their vow is held.
 * docs/reference/vow.md, Cancellation, states the whole rule. Returns 0, or
 *   VOW_ESETTLED p is already settled (nothing changes)
 *   VOW_EINVAL   p is NULL
 */
VOW_API int vow_cancel(vow *p);

/*
 * Producers: fn(ctx, p) runs if p (borrowed) is cancelled while pending (before its
 * handlers run), or when its last reference is dropped while it is pending, also
 * while p is locked onto another vow by vow_resolve_with or vow_settle(vow_follow)
 * (the cancellation then reaches what p adopted as well); never once p settled. A
 * producer whose ctx goes before p settles uses a vow_abort and takes it back.
 * Hooks run newest first.
 *   VOW_ESETTLED, VOW_ENOMEM, VOW_EINVAL
 */
typedef void (*vow_cancel_fn)(void *ctx, vow *p);
VOW_API int vow_on_cancel(vow *p, vow_cancel_fn fn, void *ctx);
/*
 * As vow_on_cancel, and names the producer for inspection (vow/inspect.h): a walk
 * reports p as made by name (a string that outlives the hook, such as a literal;
 * NULL: "producer"). p is borrowed. Errors as vow_on_cancel:
 *   VOW_ESETTLED, VOW_ENOMEM, VOW_EINVAL
 */
VOW_API int vow_on_cancel_named(vow *p, vow_cancel_fn fn, void *ctx, const char *name);

/*
 * An abort hook in caller memory: vow_on_cancel without the allocation, and with a
 * way to take it back, for a producer whose memory may go before the vow settles
 * (one that handed the vow on to an adoption, say). fn(a, p) runs when p is
 * cancelled while pending, or when its last reference is dropped while pending,
 * like a vow_on_cancel hook (p borrowed for the call); the hook is then idle, as it
 * is once p settled otherwise. It has no data field: embed it in your own struct and
 * find that from a (offsetof). Loop thread only.
 */
typedef struct vow_abort vow_abort;
typedef void (*vow_abort_fn)(vow_abort *a, vow *p);
struct vow_abort {
    VOW__PRIVATE(4);
};
/* Binds fn to an idle hook. VOW_EINVAL if a or fn is NULL. */
VOW_API int vow_abort_init(vow_abort *a, vow_abort_fn fn);
/*
 * Registers the hook on p (borrowed: a producer holds its vow weakly).
 *   VOW_EBUSY     a is already registered on a vow
 *   VOW_ESETTLED  p is settled
 *   VOW_EINVAL    a or p is NULL, or a was not initialised
 */
VOW_API int vow_abort_start(vow_abort *a, vow *p);
/* Takes the hook off its vow: fn will not run (even if another hook of the same vow
 * calls this from its fn). Returns 0 (also for an idle hook), or VOW_EINVAL. */
VOW_API int vow_abort_stop(vow_abort *a);

/*
 * A waiter: the lightest consumer of a vow, a caller-embedded handle whose function
 * runs once when the vow it waits on settles, with no derived vow and no allocation
 * (a coroutine's vow_await is one). It is one of the vow's consumers like a then
 * reaction: the vow's rejection counts as handled, fn runs from the microtask queue
 * in attachment order with the vow's other reactions (never synchronously, even if
 * the vow already settled), and withdrawing the waiter cancels the vow when no other
 * consumer is left. It has no data field, to stay small where a million wait at once:
 * embed it in your own struct and find that from w (offsetof). Loop thread only.
 */
typedef struct vow_waiter vow_waiter;
/* p is borrowed for the call (read it with vow_state/vow_code/vow_value). p is still
 * pending only if it was collected: nothing could settle it any more (see vow_cancel,
 * garbage), so it never will. w is idle when fn runs: fn may start it again, or free
 * it. */
typedef void (*vow_waiter_fn)(vow_waiter *w, vow *p);
struct vow_waiter {
    VOW__PRIVATE(4);
};
/* Binds fn to an idle waiter. VOW_EINVAL if w or fn is NULL. */
VOW_API int vow_waiter_init(vow_waiter *w, vow_waiter_fn fn);
/*
 * Waits on p (borrowed; the waiter holds its own reference until fn has run).
 *   VOW_EBUSY   w is already waiting, or its fn is queued
 *   VOW_EINVAL  w or p is NULL, or w was not initialised
 */
VOW_API int vow_waiter_start(vow_waiter *w, vow *p);
/*
 * Withdraws the waiter: fn will not run, and if p is pending and left with no other
 * consumer, p is cancelled before this returns (its producers withdrawn, upstream).
 * Returns 0 (also for an idle waiter), or
 *   VOW_ESETTLED  too late: p settled (or was collected) and fn is queued; it will run,
 *                 and w must stay valid until it has
 *   VOW_EINVAL    w is NULL
 */
VOW_API int vow_waiter_stop(vow_waiter *w);
/* The vow w waits on (borrowed: valid while w waits or its fn is queued), or NULL if w
 * is idle or NULL; never fails. For tools that show what waits on what. Any time on
 * the loop's thread. */
VOW_API vow *vow_waiter_vow(const vow_waiter *w);

/*
 * Unhandled rejections: at the end of each microtask checkpoint the hook sees every
 * vow rejected during it that has no handler (VOW_UNHANDLED), and later every such
 * vow that gets one after all (VOW_HANDLED_LATE). p is borrowed for the call.
 * Default (fn NULL): one line on stderr for VOW_UNHANDLED.
 */
enum vow_unhandled_event { VOW_UNHANDLED = 1, VOW_HANDLED_LATE = 2 };
typedef void (*vow_unhandled_fn)(void *ctx, vow *p, int event);
/*   VOW_EINVAL  l is NULL;  VOW_ENOMEM  the layer's per-loop state could not be made */
VOW_API int vow_loop_set_unhandled(vow_loop *l, vow_unhandled_fn fn, void *ctx);

/*
 * Memory. Vows and reactions come from per-loop slabs. When no vow of the loop is
 * alive, the slabs' chunks stay in a warm reserve of at most 64 MiB per loop (the rest
 * goes back at once), so the next burst does not fault its memory in again;
 * vow_loop_close gives everything back (debug and ASan builds keep every chunk until
 * then). vow_loop_trim gives the reserve back now (chunks that hold a live vow stay).
 * Loop thread only. 0, or VOW_EINVAL (l NULL).
 */
VOW_API int vow_loop_trim(vow_loop *l);

/*
 * Settling from another thread. vow_remote_new (loop thread) takes a reference to p
 * and keeps the loop alive until the remote is used. vow_remote_resolve/_reject
 * (any thread, once) consume r and post the settlement to p's loop; a value's drop
 * runs on the loop thread. A remote is a checked handle, not memory: using it a
 * second time, or racing another thread to use it, is an error, never a crash; of
 * two threads that race, exactly one succeeds.
 *   vow_remote_new: NULL on out-of-memory or NULL p
 *   resolve/reject, each leaving v or detail with the caller on error:
 *     VOW_ESETTLED r was already used (or is being used by another thread)
 *     VOW_ENOMEM   the post could not be queued (r is not consumed: try again)
 *     VOW_EINVAL   r is NULL or not a remote, or code >= 0 for reject
 */
typedef struct vow_remote vow_remote;
VOW_API vow_remote *vow_remote_new(vow *p);
VOW_API int vow_remote_resolve(vow_remote *r, vow_val v);
VOW_API int vow_remote_reject(vow_remote *r, int code, vow_val detail);

/*
 * Debug aid. A library built with -Dvow_debug=true records where each vow was
 * created and, when vow_loop_close() returns VOW_EBUSY, lists on stderr what keeps
 * the loop busy: its active handles by kind, keepalives, posts and microtasks, and
 * the loop's tree (vow/inspect.h): every vow still alive with its site and age. It also catches misuse of references at the
 * faulty call, with a message naming the misuse on stderr, then abort():
 *   - a vow_unref from code that holds no reference (a double unref, an unref of a
 *     borrowed vow such as a vow_list item or vow_co_self());
 *   - a consuming call (vow_then, vow_catch, vow_finally, vow_all, vow_race,
 *     vow_timeout, vow_resolve_with's other, a handler's vow_follow ...) on a vow
 *     the caller no longer holds (already consumed); a vow_follow is checked when
 *     the library applies the handler's result;
 *   - any call on a freed vow (freed vows are kept unused for a while, marked dead).
 * Define VOW_TRACK_SITES before including vow.h (and vow/co.h, vow/io.h) to record
 * the file:line of your calls: the vow constructors record the creation site
 * (vow_debug_site), the other checked calls the call site (vow_debug_call_site), and
 * the messages name them. Both are no-ops in other builds; any thread (per thread).
 */
VOW_API void vow_debug_site(const char *file, int line);
VOW_API void vow_debug_call_site(const char *file, int line);
/*
 * For code that keeps a vow and lends it out borrowed (the coroutine adapter's
 * vow_co_self()): delta +1 marks one of the caller's references to p as held by the
 * library, so that a debug build catches a vow_unref or a consuming call from code
 * that only borrowed p; -1 unmarks it, before the caller lets go of it. A no-op in
 * other builds. Loop thread only.
 */
VOW_API void vow_debug_hold(vow *p, int delta);
#ifdef VOW_TRACK_SITES
#define VOW__SITE(call) (vow_debug_site(__FILE__, __LINE__), call)
#define VOW__CALL(call) (vow_debug_call_site(__FILE__, __LINE__), call)
#define vow_pending(l) VOW__SITE(vow_pending(l))
#define vow_resolved(l, v) VOW__SITE(vow_resolved(l, v))
#define vow_rejected(l, c, d) VOW__SITE(vow_rejected(l, c, d))
#define vow_then(p, f, g, c) VOW__SITE(vow_then(p, f, g, c))
#define vow_then_full(p, f, g, c, d) VOW__SITE(vow_then_full(p, f, g, c, d))
#define vow_catch(p, g, c) VOW__SITE(vow_catch(p, g, c))
#define vow_finally(p, f, c) VOW__SITE(vow_finally(p, f, c))
#define vow_all(l, ps, n) VOW__SITE(vow_all(l, ps, n))
#define vow_all_settled(l, ps, n) VOW__SITE(vow_all_settled(l, ps, n))
#define vow_race(l, ps, n) VOW__SITE(vow_race(l, ps, n))
#define vow_any(l, ps, n) VOW__SITE(vow_any(l, ps, n))
#define vow_delay(l, ms, v) VOW__SITE(vow_delay(l, ms, v))
#define vow_timeout(p, ms) VOW__SITE(vow_timeout(p, ms))
#define vow_ref(p) VOW__CALL(vow_ref(p))
#define vow_unref(p) VOW__CALL(vow_unref(p))
#define vow_resolve(p, v) VOW__CALL(vow_resolve(p, v))
#define vow_reject(p, c, d) VOW__CALL(vow_reject(p, c, d))
#define vow_resolve_with(p, o) VOW__CALL(vow_resolve_with(p, o))
#define vow_settle(p, r) VOW__CALL(vow_settle(p, r))
#define vow_state(p) VOW__CALL(vow_state(p))
#define vow_is_resolved(p) VOW__CALL(vow_is_resolved(p))
#define vow_code(p) VOW__CALL(vow_code(p))
#define vow_value(p) VOW__CALL(vow_value(p))
#define vow_loop_of(p) VOW__CALL(vow_loop_of(p))
#define vow_cancel(p) VOW__CALL(vow_cancel(p))
#define vow_on_cancel(p, f, c) VOW__CALL(vow_on_cancel(p, f, c))
#define vow_on_cancel_named(p, f, c, n) VOW__CALL(vow_on_cancel_named(p, f, c, n))
#define vow_remote_new(p) VOW__CALL(vow_remote_new(p))
#define vow_follow(o) VOW__CALL(vow_follow(o))
#endif
#endif /* VOW__LOOP_ONLY */

#ifdef __cplusplus
}
#endif
#endif /* VOW_H */
