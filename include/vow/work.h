/* SPDX-License-Identifier: MIT */
/*
 * Blocking work off the loop: a bounded thread pool shared by every loop of the
 * process (vow_work), and name resolution on it (vow_getaddrinfo). Files are in
 * vow/fs.h. Loop thread only, except where a comment says "any thread".
 */
#ifndef VOW_WORK_H
#define VOW_WORK_H

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The pool. A fixed number of threads, started one by one as jobs arrive (never
 * before the first job), shared by every loop of the process and never stopped: an
 * idle thread waits on a condition variable, so process exit does not wait for it.
 * Size: vow_work_configure(), else the environment variable VOW_THREADPOOL_SIZE
 * (1..VOW_WORK_MAX_THREADS, read once with secure_getenv), else the number of CPUs
 * the process may run on, at least 4 (the jobs mostly block in system calls, so a
 * small machine still wants several at once).
 *
 * The queue of jobs not yet running is bounded (VOW_WORK_DEFAULT_QUEUE unless
 * configured); a job that would exceed it is refused with VOW_EQUEUEFULL.
 *
 * Lanes keep one kind of work from starving the others. A free thread takes the
 * oldest job of the next lane in turn (CPU, FS, NET, CPU, ...) that has one, so a
 * long queue in one lane delays another lane's job by at most one job per lane.
 * The NET lane, for calls that wait on other machines (name lookups), may occupy at
 * most half the threads (at least one): a stalled name server can never hold every
 * thread, and file and CPU jobs always keep the other half.
 *
 * After fork() the child has no pool threads: its first job starts a fresh pool.
 * Jobs that were queued or running in the parent never complete in the child, so a
 * child should run a loop of its own, not one inherited with jobs in flight.
 */
enum vow_work_lane {
    VOW_WORK_CPU = 0, /* computation and other blocking calls: the usual lane */
    VOW_WORK_FS = 1,  /* file system calls (everything in vow/fs.h) */
    VOW_WORK_NET = 2, /* calls that wait on the network (vow_getaddrinfo): capped */
    _VOW_WORK_LANE_MAX
};

#define VOW_WORK_MAX_THREADS 1024u
#define VOW_WORK_DEFAULT_QUEUE 4096u

/*
 * Sets the pool's size before it starts: threads (1..VOW_WORK_MAX_THREADS) and the
 * most jobs that may wait for a thread (max_queued >= 1). 0 keeps that setting as it
 * is (the default, or VOW_THREADPOOL_SIZE). A program's setting wins over the
 * environment variable. Any thread.
 *   VOW_EBUSY   the pool has started (its first job was submitted): nothing changes
 *   VOW_EINVAL  threads or max_queued out of range
 */
VOW_API int vow_work_configure(unsigned threads, unsigned max_queued);

/* The number of threads the pool has or will have once started (its size, not how
 * many run now). Fixes the size as vow_work_configure would see it at start. Any
 * thread. */
VOW_API unsigned vow_work_threads(void);

/* A job as its function sees it; opaque. */
typedef struct vow_work_job vow_work_job;

/*
 * Runs on a pool thread. Returns >= 0 to fulfil the job's vow with *ret, or a
 * negative code to reject it with that code and *ret as detail. *ret starts as
 * vow_val_none(); its drop, if set, runs on the loop thread: when the vow's value is
 * released, or at once if nobody wants the result any more. fn must not call loop
 * functions; vow_work_cancelled, vow_loop_post and the vow_remote_* calls are the
 * ones for other threads.
 */
typedef int (*vow_work_fn)(vow_work_job *job, void *arg, vow_val *ret);

/*
 * Runs fn(job, arg, &ret) on a pool thread and returns a vow (a new reference) that
 * settles on l's thread with its result. The loop stays alive while the job is
 * queued or running, and vow_loop_close() fails with VOW_EBUSY meanwhile.
 *
 * arg is consumed: arg_drop(arg), if not NULL, runs exactly once on l's thread,
 * after fn returned or when the job was withdrawn without running, and also when
 * this call fails (before it returns).
 *
 * Cancelling the vow (vow_cancel, vow_timeout, a lost vow_race), or dropping the
 * last reference to it while it is pending, withdraws a job that has not started: fn
 * never runs. A job already running cannot be stopped: vow_work_cancelled(job)
 * turns 1 so fn may return early, and its result is dropped on the loop thread when
 * it finishes. Completions reach the loop in batches: one wake-up of the loop
 * settles every job that finished meanwhile.
 *
 * Returns NULL if l is NULL or on out-of-memory (fn will not run). Otherwise a vow,
 * possibly already rejected:
 *   VOW_EINVAL      fn is NULL or lane is not a vow_work_lane
 *   VOW_EQUEUEFULL  the pool's queue of waiting jobs is full (try again later)
 *   -errno          the pool could not start any thread (pthread_create: -EAGAIN)
 *   what fn returned, if negative
 */
VOW_API vow *vow_work(vow_loop *l, int lane, vow_work_fn fn, void *arg,
                      void (*arg_drop)(void *arg));

/* 1 once the job's vow was cancelled or dropped (its result is no longer wanted),
 * else 0 (also for a NULL job): never fails. For fn to poll while it runs. Any
 * thread. */
VOW_API int vow_work_cancelled(const vow_work_job *job);

/* ------------------------------------------------------------ name lookup */

struct addrinfo;

/*
 * getaddrinfo(3) on the pool's NET lane, as a new vow (a new reference). host,
 * service and hints are copied (hints may be NULL: any family, any socket type; only
 * its flags, family, socktype and protocol are read). Fulfils with the list:
 * vow_value(p)->ptr is a `struct addrinfo *` owned by the value (freeaddrinfo runs
 * when the vow lets go; copy what you keep). Rejects with
 *   VOW_EAI_NONAME      no such host or service (also "nonexistent.invalid")
 *   VOW_EAI_AGAIN       the name server did not answer in time, or is unreachable
 *   VOW_EAI_FAIL        non-recoverable name server failure
 *   VOW_EAI_NODATA, VOW_EAI_ADDRFAMILY   the host has no (such) address
 *   VOW_EAI_FAMILY, VOW_EAI_SOCKTYPE, VOW_EAI_SERVICE, VOW_EAI_BADFLAGS   bad hints
 *   VOW_ENOMEM          out of memory (EAI_MEMORY)
 *   -errno              a system error (EAI_SYSTEM), such as -EMFILE
 *   VOW_EINVAL          host and service are both NULL
 *   VOW_EQUEUEFULL      as vow_work
 * Cancelling or dropping it withdraws a lookup that has not started; one already
 * running cannot be interrupted: it finishes on its thread and its result is freed on
 * the loop thread. The resolver's own time-outs bound it (RES_OPTIONS, resolv.conf).
 * NULL only if l is NULL or on out-of-memory.
 */
VOW_API vow *vow_getaddrinfo(vow_loop *l, const char *host, const char *service,
                             const struct addrinfo *hints);

#ifdef VOW_TRACK_SITES
#define vow_work(l, lane, fn, arg, drop) VOW__SITE(vow_work(l, lane, fn, arg, drop))
#define vow_getaddrinfo(l, h, s, hints) VOW__SITE(vow_getaddrinfo(l, h, s, hints))
#endif

#ifdef __cplusplus
}
#endif
#endif /* VOW_WORK_H */
