/* SPDX-License-Identifier: MIT */
/*
 * Private seam of the group tier (group.c: threads, messages, shutdown; cross.c:
 * vows that cross loops; listen.c: accept spread). Built on the public headers and
 * the base only. Three rules hold it together:
 *  - a member's loop stays open until the group releases it, and the group releases
 *    its loops only once nothing crosses between them any more (busy == 0), so a
 *    message to a member always finds its loop;
 *  - messages to a member travel through its inbox, embedded in what they concern:
 *    sending one allocates nothing and cannot fail;
 *  - each object that crosses threads has one owner per side and a reference count.
 */
#ifndef VOW_GROUP_INT_H
#define VOW_GROUP_INT_H

#include "base.h"
#include "queue.h"
#include "vow/group.h"

#include <pthread.h>
#include <stdatomic.h>

struct vow__gmember;

/* A message to a member: runs fn on the member's thread. Embedded in its object. */
struct vow__gmsg {
    struct vow__gmsg *next;                                    /* inbox link */
    void (*fn)(struct vow__gmember *m, struct vow__gmsg *msg); /* what to do */
};

/* Work the group placed on a member (a crossed vow's consumer, a connection):
 * withdrawn when the group stops. On the member's work list (its thread only). */
struct vow__gwork {
    struct vow__qnode node;               /* on the member's work list */
    void (*cancel)(struct vow__gwork *w); /* withdraw it (it leaves the list first) */
};

/* The group's phases, in order. */
enum vow__gphase { VOW__G_RUNNING, VOW__G_STOPPING, VOW__G_RELEASED };

/* One loop of the group and its thread. */
struct vow__gmember {
    vow_group *g;                      /* the group */
    unsigned index;                    /* its place in g->m */
    pthread_t thread;                  /* runs the loop */
    bool started;                      /* the thread exists (to join) */
    vow_loop *l;                       /* made by the thread before it reports ready */
    int ctl_fd;                        /* eventfd: stop, release, inbox fallback wake */
    int err;                           /* the thread's failure (start, run, close) */
    _Atomic(struct vow__gmsg *) inbox; /* messages, newest first (a Treiber stack) */
    atomic_long load;                  /* work placed here by the group, unfinished */
    /* The member's thread only: */
    vow_io ctl;                  /* watches ctl_fd until the release */
    struct vow__qnode work;      /* struct vow__gwork: what stop withdraws */
    struct vow__qnode listeners; /* struct vow__glisten_part on this loop */
    bool stopped;                /* the stop ran here */
    bool released;               /* the release ran here */
};

struct vow__glisten;

struct vow_group {
    unsigned n;                   /* loops */
    unsigned flags;               /* VOW_GROUP_* */
    vow_group_stop_fn on_stop;    /* user hook, or NULL */
    void *ctx;                    /* for on_stop */
    atomic_int phase;             /* enum vow__gphase */
    atomic_long busy;             /* obligations that need the loops, and one per
                                     member until its stop has run (see group.c) */
    atomic_uint next;             /* round-robin cursor */
    pthread_mutex_t mu;           /* start handshake and the listener list */
    pthread_cond_t cv;            /* start handshake, listen replies */
    unsigned ready;               /* members that reported (under mu) */
    bool go, abort;               /* the verdict of the start (under mu) */
    struct vow__glisten *listens; /* every listener made, freed with the group (mu) */
    struct vow__gmember m[];      /* the loops */
};

/* group.c */
/* Counts an obligation that needs the loops up: the group is not released while any
 * is held. vow__group_enter takes one only while the group runs (false otherwise). */
bool vow__group_enter(vow_group *g);
void vow__group_busy(vow_group *g, long delta);
/* Queues msg on m (any thread, no allocation, no failure). */
void vow__gmember_send(struct vow__gmember *m, struct vow__gmsg *msg);
/* The calling thread's member, if it is one of g's threads; else NULL. */
struct vow__gmember *vow__gmember_self(const vow_group *g);
/* The member index i stands for (vow_group_pick), or NULL. */
struct vow__gmember *vow__gmember_pick(vow_group *g, int i);
/* Places w on m's work list (m's thread). */
void vow__gwork_add(struct vow__gmember *m, struct vow__gwork *w);
/* Takes w off its list if it is on one (its member's thread). */
void vow__gwork_remove(struct vow__gwork *w);

/* cross.c */
/* Values that crossed and are held on the calling thread, or are on their way to one
 * of its loops: vow_group_close refuses to wait for itself while any exist. */
long vow__cross_held(void);

/* listen.c */
/* The member's stop: closes its listening sockets (its thread). */
void vow__glisten_stop(struct vow__gmember *m);
/* Frees every listener of g (after the threads were joined). */
void vow__glisten_free_all(vow_group *g);

#endif /* VOW_GROUP_INT_H */
