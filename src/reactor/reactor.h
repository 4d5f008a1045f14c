/* SPDX-License-Identifier: MIT */
/*
 * The reactor tier's private header: struct vow_loop and the handles' private
 * layouts, shared by loop.c, timer.c, immediate.c, post.c, signal.c, child.c and the
 * backends. One loop belongs to one thread; only the post queue and the signal slot
 * are shared.
 */
#ifndef VOW_REACTOR_H
#define VOW_REACTOR_H

#include "microtask.h"
#include "backend.h"
#include "heap.h"
#include "queue.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

/*
 * Fairness: microtasks may queue microtasks forever (a coroutine awaiting settled
 * vows, a chain adopting settled vows), and I/O and timers must still get turns. So
 * a turn runs at most VOW__SLICE_TASKS microtasks, or microtasks for VOW__SLICE_MS on
 * the clock, whichever comes first; what is left runs at the start of the next turn,
 * after a poll that does not block. 1024 tasks take 20-100 us on current hardware, so
 * the poll (a syscall of about 1 us) that each slice adds costs a few percent of a
 * long drain at most, while a loop turn comes at least every ~0.1 ms of such work.
 * The time bound is for slow handlers: 2 ms is what the loop may add to the latency
 * of ready I/O and due timers. The clock is read every VOW__SLICE_CLOCK_EVERY tasks
 * only (a vDSO call each), so slow tasks may overrun a slice by that many.
 */
#define VOW__SLICE_TASKS 1024u
#define VOW__SLICE_MS 2u
#define VOW__SLICE_CLOCK_EVERY 64u

/* Signals 1..VOW__NSIG-1 can be watched (Linux: 64 including real-time signals). */
#define VOW__NSIG 65

/*
 * The part of an fd watcher the loop dispatches to. The public vow_io and the child
 * watcher's pidfd embed one; the loop's eventfd is one that does not keep it alive.
 */
struct vow__io_core;
typedef void (*vow__io_dispatch_fn)(struct vow__io_core *c, unsigned revents);
struct vow__io_core {
    vow_loop *loop;              /* owning loop */
    vow__io_dispatch_fn dispatch;/* called with the ready bits */
    int fd;                      /* the watched fd */
    unsigned events;             /* interest bits; 0 while stopped */
    uint32_t gen;                /* start stamp: tokens of an older start are ignored */
    uint32_t internal;           /* non-zero: does not count toward liveness */
};

/* What posters must do to wake the loop (post.c). */
enum vow__wake_state {
    VOW__WAKE_AWAKE = 0, /* the loop runs callbacks and will look at the queue */
    VOW__WAKE_SLEEP = 1, /* the loop may block (or is not running): write the eventfd */
    VOW__WAKE_WOKEN = 2  /* a poster wrote the eventfd since the loop went to sleep */
};

/* The cross-thread queue, shared by the loop and its posters (post.c). */
struct vow__postq;

struct vow_loop {
    struct vow__loop_head head;         /* first: the vow tier's view (microtask.h) */
    const struct vow__backend *backend; /* epoll or poll */
    void *bdata;                        /* the backend's state */
    int bfd;                            /* epoll fd, or the eventfd on poll */
    int stop_flag;                      /* vow_loop_stop() was called */
    int cb_depth;                       /* callbacks and microtasks running now */
    int draining;                       /* inside vow__drain */
    unsigned slice_left;                /* microtasks this turn may still run */
    uint64_t slice_end;                 /* clock ms at which this turn's slice ends */
    uint64_t now;                       /* cached monotonic ms */
    unsigned active;                    /* active user handles */
    int keepalive;                      /* vow_loop_keepalive count */
    pthread_t owner;                    /* creating thread, checked in debug builds */

    struct vow__io_core **fdtab; /* started watcher per fd, NULL elsewhere */
    size_t fdtab_len;            /* entries in fdtab */
    uint32_t io_gen;             /* last start stamp handed out */
    unsigned n_user_io;          /* active user fd watchers (poll embedding) */

    struct vow__heap timers; /* active timers by (deadline, seq) */
    uint64_t timer_seq;      /* next start sequence number */

    struct vow__qnode immediates; /* queued immediates in start order */

    int wakefd;                     /* eventfd: posts, signals and child re-checks
                                       (the post queue owns it: posters may outlive
                                       the loop) */
    struct vow__io_core wake_io;    /* internal watcher of wakefd */
    struct vow__postq *postq;       /* posted callbacks (post.c) */

    int sig_slot;                   /* index in the global signal table, -1 if none */
    unsigned sig_count[VOW__NSIG];  /* started signal watchers per signum */
    struct vow__qnode signals;      /* started signal watchers */
    uint64_t sig_resume;            /* rounds cut short by vow_loop_stop, to finish */
    uint64_t sig_linger;            /* signals whose last watcher stopped in a callback:
                                       handler kept until the microtask queue is empty */

    struct vow__qnode children;     /* child watchers using the SIGCHLD fallback */
    int child_recheck;              /* fallback: reap watched children next wake-up */
    unsigned n_chld;                /* fallback watchers: the SIGCHLD watch is held */
    unsigned n_child;               /* active child watchers (both kinds) */
    vow_signal chld_sig;            /* internal SIGCHLD watcher of the fallback */

    /* Inspection (inspect.c). */
    struct vow__inspector insp[VOW__INSPECTORS]; /* registered inspectors */
    int walking;                    /* inside vow_loop_walk */
    vow_signal dump_sig;            /* vow_loop_dump_on's watcher (internal) */
    FILE *dump_out;                 /* where it dumps; NULL while not requested */
};

/* Private layouts of the public handles, checked against VOW__PRIVATE sizes. */
struct vow__io_impl {
    struct vow__io_core core; /* what the loop dispatches */
    vow_io_fn cb;             /* user callback */
};

struct vow__timer_impl {
    vow_loop *loop;             /* owning loop */
    vow_timer_fn cb;            /* user callback */
    struct vow__heap_node node; /* deadline, start order, heap index */
    uint64_t repeat;            /* re-arm interval, 0 for one-shot */
};

struct vow__immediate_impl {
    vow_loop *loop;          /* owning loop */
    vow_immediate_fn cb;     /* user callback */
    struct vow__qnode link;  /* on l->immediates (or the phase list) while queued */
};

struct vow__signal_impl {
    vow_loop *loop;          /* owning loop */
    vow_signal_fn cb;        /* user callback */
    int signum;              /* watched signal while started, else 0 */
    int internal;            /* does not count toward liveness */
    struct vow__qnode link;  /* on l->signals while started */
    uint64_t seen;           /* delivery count of signum it has been called for */
};

struct vow__child_impl {
    struct vow__io_core core; /* the pidfd watcher (internal), fd -1 on the fallback */
    vow_child_fn cb;          /* user callback */
    int pid;                  /* watched child while started, else 0 */
    int active;               /* started and not yet reported */
    struct vow__qnode link;   /* on l->children (fallback only) */
};

#define VOW__IMPL(type, h) ((struct vow__##type##_impl *)(void *)(h)->private_)
#define VOW__PUB(type, impl) vow__container_of((void *)(impl), vow_##type, private_)

/* Runs after every callback: the microtask queue, cheap when there is nothing. */
static inline void vow__loop_after_cb(vow_loop *l)
{
    if (l->head.micro.head || l->head.ext_ops)
        vow__drain(l);
}

/* loop.c */
/* True while a callback or microtask of l is running (vow_loop_run must refuse). */
bool vow__loop_in_callback(const vow_loop *l);
/* Debug aid: checks heap order, counters and lists; returns 0 or a negative code. */
int vow__loop_verify(vow_loop *l);
int vow__io_core_start(struct vow__io_core *c, unsigned events);
void vow__io_core_stop(struct vow__io_core *c);
void vow__loop_wake(vow_loop *l);
/* Call in a forked child before using a loop inherited from the parent. */
int vow__loop_after_fork(vow_loop *l);

/* timer.c */
void vow__timers_run(vow_loop *l);
/* ms until the first timer is due on the loop clock (-1: none, 0: due now). */
int vow__timers_timeout(const vow_loop *l);
/* The same measured from now, a time in ms on the monotonic clock. */
int vow__timers_timeout_at(const vow_loop *l, uint64_t now);

/* immediate.c */
void vow__immediates_run(vow_loop *l);

/* post.c */
struct vow__postq *vow__postq_new(void);
int vow__postq_fd(const struct vow__postq *q);
/* Posts queued (or being queued) and not yet run: they keep the loop alive. */
size_t vow__posts_pending(const vow_loop *l);
void vow__posts_run(vow_loop *l);
int vow__posts_sleep(vow_loop *l, int timeout);
void vow__posts_awake(vow_loop *l);
void vow__posts_leave(vow_loop *l);
int vow__posts_close(vow_loop *l);
void vow__posts_fini(vow_loop *l);

/* signal.c: wake-up processing, the fallback's internal watch and close-time cleanup. */
void vow__signals_run(vow_loop *l);
/* Ends the grace period of signals no watcher took over (sig_linger). */
void vow__signals_linger_end(vow_loop *l);
int vow__signal_start_internal(vow_signal *s, int signum);

/* child.c */
void vow__children_run(vow_loop *l);

#endif /* VOW_REACTOR_H */
