/* SPDX-License-Identifier: MIT */
/*
 * Private declarations shared by src/ (never installed, never used by adapters).
 * The reactor part (struct vow_loop) belongs to loop.c and its handle files; the
 * microtask seam below is what the vow layer builds on, and the reactor knows
 * nothing of vows: it only runs tasks and calls the ext hooks.
 */
#ifndef VOW_INTERNAL_H
#define VOW_INTERNAL_H

#include "vow.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ conventions */

#define vow__check(cond, err)                                                              \
    do {                                                                                   \
        if (__builtin_expect(!(cond), 0))                                                  \
            return (err);                                                                  \
    } while (0)

#define vow__likely(x) __builtin_expect(!!(x), 1)
#define vow__unlikely(x) __builtin_expect(!!(x), 0)

/* Defensive branches (SQLite's ALWAYS/NEVER): constants in coverage builds. */
#if defined(VOW_COVERAGE)
#define VOW_ALWAYS(x) (1)
#define VOW_NEVER(x) (0)
#else
#define VOW_ALWAYS(x) (x)
#define VOW_NEVER(x) (x)
#endif

#define vow__container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ------------------------------------------------------------------ alloc */

void *vow__malloc(size_t n);
void *vow__calloc(size_t count, size_t n);
void *vow__realloc(void *p, size_t n);
void vow__free(void *p);
/* Large blocks for slabs (src/slab.c); size is passed back to vow__chunk_free. */
void *vow__chunk_alloc(size_t size);
void vow__chunk_free(void *p, size_t size);
/* Counts loops alive, so vow_replace_allocator can refuse while any exists. */
void vow__alloc_loop_count(int delta);

/* -------------------------------------------------------------- microtasks */

/*
 * An intrusive FIFO node. The vow layer embeds these in its reactions, so queueing a
 * settled vow's reactions is one splice and never allocates.
 */
typedef struct vow__task vow__task;
struct vow__task {
    vow__task *next;                           /* queue link, owned by whoever queues */
    void (*run)(vow_loop *l, vow__task *t);    /* called once when dequeued */
};

struct vow__microq {
    vow__task *head;   /* first queued task, NULL when empty */
    vow__task **tail;  /* &last->next, or &head when empty */
};

/*
 * Hooks the vow layer installs on a loop the first time it is used there. The reactor
 * calls them without knowing what they do.
 */
struct vow__ext_ops {
    void (*checkpoint)(vow_loop *l); /* after a drain emptied the queue (unhandled report) */
    int (*busy)(vow_loop *l);        /* non-zero: close must fail with VOW_EBUSY */
    void (*fini)(vow_loop *l);       /* close: free the layer's per-loop state */
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
 * The part of struct vow_loop that the vow layer reads on its hot path. loop.c's
 * struct vow_loop must start with a `struct vow__loop_head head;` member, so these
 * accessors inline to one load.
 */
struct vow__loop_head {
    struct vow__microq micro;         /* microtask FIFO, drained after every callback */
    void *ext;                        /* the vow layer's per-loop state, NULL until used */
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
 * Runs queued microtasks until the queue is empty, including tasks queued meanwhile,
 * then the checkpoint hook, repeating while the hook queued more. Called by the loop
 * after every callback; a nested call (from inside a task) returns at once.
 */
void vow__drain(vow_loop *l);

/* True while a callback or microtask of l is running (vow_loop_run must refuse). */
bool vow__loop_in_callback(const vow_loop *l);

/* Debug aid: checks heap order, counters and lists; returns 0 or a negative code. */
int vow__loop_verify(vow_loop *l);

#endif /* VOW_INTERNAL_H */
