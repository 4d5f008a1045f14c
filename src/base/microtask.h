/* SPDX-License-Identifier: MIT */
/*
 * The microtask seam: what the reactor offers the vow tier, and nothing more. The
 * reactor runs queued tasks and calls the ext hooks without knowing what they do;
 * the vow tier queues its reactions here. Only those two tiers (and white-box
 * tests, built with VOW__WHITE_BOX) may include this header.
 */
#ifndef VOW_MICROTASK_H
#define VOW_MICROTASK_H

#if !defined(VOW__TIER_REACTOR) && !defined(VOW__TIER_VOW) && !defined(VOW__WHITE_BOX)
#error "microtask.h is the seam between the reactor and the vow tier only (docs/design.md)"
#endif

#include "base.h"
#include "vow/inspect.h"

/*
 * An intrusive FIFO node. The vow tier embeds these in its reactions, so queueing a
 * settled vow's reactions is one splice and never allocates.
 */
typedef struct vow__task vow__task;

/*
 * What a kind of task does when dequeued. A tier may extend it: its own operations
 * table starts with a struct vow__task_ops and adds what it needs (the vow tier's
 * reactions add discard).
 */
struct vow__task_ops {
    void (*run)(vow_loop *l, vow__task *t); /* called once when dequeued */
};

struct vow__task {
    vow__task *next;                 /* queue link, owned by whoever queues */
    const struct vow__task_ops *ops; /* the task's kind */
};

struct vow__microq {
    vow__task *head;   /* first queued task, NULL when empty */
    vow__task **tail;  /* &last->next, or &head when empty */
};

/* An inspector registered on a loop (vow_loop_add_inspector). */
#define VOW__INSPECTORS 4
struct vow__inspector {
    vow_inspector_fn fn; /* NULL: a free slot */
    void *ctx;           /* for fn */
};

/*
 * A walk, as the reactor hands it to the vow tier's inspect hook: the tier reports
 * its nodes under the loop's node through fn, merging in what the inspectors give.
 * The hook returns 0, a negative error, or fn's non-zero result that stopped it.
 */
struct vow__walk {
    vow_walk_fn fn;                       /* the caller's callback */
    void *ctx;                            /* for fn */
    uint64_t loop_id;                     /* the loop node's id (the parent of roots) */
    const struct vow__inspector *insp;    /* the loop's inspectors, VOW__INSPECTORS slots */
};

/*
 * Hooks the vow tier installs on a loop the first time it is used there. The reactor
 * calls them without knowing what they do.
 */
struct vow__ext_ops {
    void (*checkpoint)(vow_loop *l); /* after a drain emptied the queue (unhandled report) */
    int (*busy)(vow_loop *l);        /* non-zero: close must fail with VOW_EBUSY */
    void (*fini)(vow_loop *l);       /* close: free the tier's per-loop state */
    void (*trim)(vow_loop *l);       /* a drain stopped at its slice's end with work left:
                                        drop what no longer needs keeping (handled
                                        rejections), report nothing; may be NULL */
    int (*inspect)(vow_loop *l, struct vow__walk *w); /* the tier's part of a walk
                                       (vow_loop_walk); may be NULL */
};

/* Appends one task (t->next is overwritten). */
static inline void vow__task_push(struct vow__microq *q, vow__task *t)
{
    t->next = NULL;
    *q->tail = t;
    q->tail = &t->next;
}

/* Appends a NULL-terminated list first..last in one step. */
static inline void vow__task_splice(struct vow__microq *q, vow__task *first, vow__task *last)
{
    last->next = NULL;
    *q->tail = first;
    q->tail = &last->next;
}

/*
 * The part of struct vow_loop that the vow tier reads on its hot path. The reactor's
 * struct vow_loop must start with a `struct vow__loop_head head;` member, so these
 * accessors inline to one load.
 */
struct vow__loop_head {
    struct vow__microq micro;         /* microtask FIFO, drained after every callback */
    void *ext;                        /* the vow tier's per-loop state, NULL until used */
    const struct vow__ext_ops *ext_ops; /* hooks for ext, NULL until used */
};

static inline struct vow__loop_head *vow__head(vow_loop *l)
{
    return (struct vow__loop_head *)(void *)l;
}

static inline struct vow__microq *vow__loop_microq(vow_loop *l)
{
    return &vow__head(l)->micro;
}

/*
 * Runs queued microtasks, including tasks queued meanwhile, until the queue is empty
 * (then the checkpoint hook runs, repeating while the hook queued more) or until the
 * loop turn's fairness slice is used up (then the trim hook runs and the rest waits
 * for the next turn). Called by the loop after every callback; a nested call (from
 * inside a task) returns at once.
 */
void vow__drain(vow_loop *l);

#endif /* VOW_MICROTASK_H */
