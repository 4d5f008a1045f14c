/* SPDX-License-Identifier: MIT */
/*
 * Private seam of the work tier (pool.c, fs.c, dns.c): a job that the pool runs on
 * one of its threads and settles on its loop's thread. The tier sees the public
 * headers and the base helpers only.
 */
#ifndef VOW_WORK_INT_H
#define VOW_WORK_INT_H

#include "base.h"
#include "vow/work.h"

#include <stdatomic.h>
#include <stdbool.h>

struct vow__wloop;

/* What a kind of job does; both functions are required. */
struct vow__job_ops {
    /* Pool thread: does the work and sets j->code and j->val. */
    void (*run)(vow_work_job *j);
    /*
     * Loop thread, exactly once: releases what the job owns and frees it. If
     * j->delivered is false and j->ran is true, the result in j->code/j->val was not
     * handed to the vow and is released here too (vow__job_drop_result does that for
     * values whose drop frees them).
     */
    void (*fini)(vow_work_job *j);
};

/*
 * The common head of every job; a kind embeds it first and allocates the whole. The
 * pool's lock guards next, prev and state; p belongs to the loop thread; the rest is
 * written before the job is queued or by run, and read after the pool handed the job
 * back (the lock orders both).
 */
struct vow_work_job {
    vow_work_job *next;             /* lane queue, then the loop's completion list */
    vow_work_job *prev;             /* lane queue (doubly linked: withdrawal is O(1)) */
    const struct vow__job_ops *ops; /* the kind */
    struct vow__wloop *wl;          /* the submitting loop's completion side */
    vow *p;                         /* the job's vow, borrowed: its abort hook clears it */
    atomic_int cancelled;           /* 1 once nobody wants the result */
    uint8_t state;                  /* enum vow__job_state */
    uint8_t lane;                   /* enum vow_work_lane */
    bool keep;                      /* runs even if withdrawn before it started */
    bool ran;                       /* run has returned */
    bool delivered;                 /* code and val went to p */
    int code;                       /* run's result: >= 0 fulfils p, < 0 rejects it */
    vow_val val;                    /* run's value or rejection detail */
};

enum vow__job_state { VOW__JOB_NEW, VOW__JOB_QUEUED, VOW__JOB_RUNNING, VOW__JOB_DONE };

/* Allocates a zeroed job of size bytes (>= sizeof(vow_work_job)) for ops and lane.
 * NULL on out-of-memory. */
vow_work_job *vow__job_new(size_t size, const struct vow__job_ops *ops, int lane);

/*
 * Queues j (consumed whatever happens) and returns its vow, a new reference. NULL on
 * out-of-memory (ops->fini has run). A full queue or a pool that cannot start gives
 * a rejected vow.
 */
vow *vow__job_submit(vow_loop *l, vow_work_job *j);

/* For fini: drops j->val if the job ran and its result was not delivered. */
void vow__job_drop_result(vow_work_job *j);

/* getaddrinfo's result (and errno, for EAI_SYSTEM) as a library code (dns.c). */
int vow__gai_code(int r, int err);

#ifdef VOW_TESTING
/* Jobs taken by a thread, jobs handed back to their loop, and drains run so far,
 * over all loops: tests wait on them to know where a job is. */
extern atomic_ulong vow__work_picks;
extern atomic_ulong vow__work_completions;
extern atomic_ulong vow__work_drains;
/* Non-zero: starting a thread fails with EAGAIN. */
extern atomic_int vow__work_spawn_fail;
#endif

#endif /* VOW_WORK_INT_H */
