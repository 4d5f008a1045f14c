/* SPDX-License-Identifier: MIT */
/*
 * Inspecting a loop (library vow): what is alive on it and what waits on what, as a
 * tree. The reactor contributes its handles (fd watchers, timers with their
 * deadlines, signals ...), the vow tier every pending vow with the vows it waits on
 * (through reactions, adoptions, combinators, timeouts), and higher layers (the
 * coroutine library: coroutines and scopes) contribute their nodes through an
 * inspector registered on the loop. Debug builds (-Dvow_debug=true) add each vow's
 * creation site and age; other builds leave them out. Loop thread only throughout,
 * except where a function says otherwise. docs/reference/inspect.md is the contract.
 * No function of this header takes, returns or keeps a reference to a vow: the vows
 * an inspector names are borrowed for the inspector's call.
 */
#ifndef VOW_INSPECT_H
#define VOW_INSPECT_H

#include "../vow.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vow;

/* What a node of the tree is. */
typedef enum vow_node_kind {
    VOW_NODE_LOOP = 1,    /* the loop: the root, one per walk */
    VOW_NODE_HANDLES = 2, /* the reactor's handles of one kind (what: "fd", "timer"...) */
    VOW_NODE_HANDLE = 3,  /* one handle: an fd watched, a timer, a signal watched */
    VOW_NODE_VOW = 4,     /* a pending vow */
    VOW_NODE_TASK = 5,    /* a task an inspector contributed (a coroutine) */
    VOW_NODE_SCOPE = 6,   /* a scope an inspector contributed */
    VOW_NODE_REF = 7      /* a node shown elsewhere in the tree (ref: its id) */
} vow_node_kind;

/*
 * One record of a walk: records come depth first, a parent before its children, so
 * that (id, parent, depth) rebuild the tree. A node that several others wait on sits
 * under the first of them; the others get a VOW_NODE_REF record naming it. Every
 * pointer in the record is valid for the callback's duration only.
 */
typedef struct vow_node {
    vow_node_kind kind;    /* what it is */
    uint64_t id;           /* unique within this walk, never 0 */
    uint64_t parent;       /* the parent's id; 0 for the loop */
    unsigned depth;        /* 0 for the loop, parent's depth + 1 otherwise */
    const char *what;      /* what made it: "then", "race", "timeout", "coroutine",
                              "io", "timer" ... (never NULL) */
    const char *state;     /* "pending", "locked", "suspended", "running", "open",
                              "active" ... (never NULL) */
    const uint64_t *waits; /* ids of the nodes it waits on (all of them) */
    size_t nwaits;         /* length of waits */
    uint64_t scope;        /* the scope node it belongs to, or 0 */
    uint64_t ref;          /* VOW_NODE_REF: the id of the node it names; else 0 */
    uint64_t vow_id;       /* a task: the id a vow node would have for the vow it
                              settles (it stands for that vow); else 0 */
    const char *file;      /* creation site (debug builds, VOW_TRACK_SITES), or NULL */
    int line;              /* line of file */
    int64_t age_ms;        /* ms pending on the loop clock (debug builds), or -1 */
    int fd;                /* fd handles: the fd; -1 otherwise */
    unsigned events;       /* fd handles: VOW_READABLE | VOW_WRITABLE; signals: signum */
    int64_t due_ms;        /* timers: ms until due (negative: overdue); else 0 */
    size_t count;          /* HANDLES: how many; LOOP: pending vows; SCOPE: live children */
    const char *detail;    /* more, free text, or NULL */
} vow_node;

/* The walk's callback: return 0 to go on, anything else to stop the walk. */
typedef int (*vow_walk_fn)(void *ctx, const vow_node *n);

/*
 * Calls fn once per node of l's tree (see vow_node), from the calling thread, which
 * must own l; fn must not change the loop (start, stop, settle, unref ...). Returns 0,
 * what fn returned if it stopped the walk (a non-zero value), or
 *   VOW_EINVAL  l or fn is NULL
 *   VOW_ENOMEM  no memory for the walk's tables (nothing or part of it was reported)
 *   VOW_EBUSY   called from inside a walk of l
 */
VOW_API int vow_loop_walk(vow_loop *l, vow_walk_fn fn, void *ctx);

/*
 * Writes l's tree to out, one line per node, indented by depth (the layout is for
 * people: tools use vow_loop_walk). Returns 0 or, like vow_loop_walk,
 *   VOW_EINVAL  l or out is NULL;  VOW_ENOMEM;  VOW_EBUSY (inside a walk)
 *   -EIO        writing to out failed
 */
VOW_API int vow_loop_dump(vow_loop *l, FILE *out);

/*
 * A dump on request: from now on, each delivery of signo to the process makes the
 * loop write its dump to out, on the loop thread at its next turn (a signal watcher:
 * nothing runs inside the signal handler). The watcher does not keep the loop alive.
 * signo 0 stops it. One such request per loop: a new call replaces the old one.
 * Returns 0, or
 *   VOW_EINVAL  l is NULL, out is NULL with signo != 0, or signo is not catchable
 *   VOW_ENOMEM  no memory for the watcher
 *   VOW_ENOSPC  too many loops watch signals at once
 */
VOW_API int vow_loop_dump_on(vow_loop *l, int signo, FILE *out);

/*
 * The inspector seam: a library above the vow tier (the coroutine library) adds its
 * nodes to the tree. At each walk, fn(ctx, l, emit, ectx) calls emit(ectx, item) for
 * each of its nodes; the tier places them: a node stands for the vow it settles
 * (result), waits on the vows it names (waits, and the sources of via), and sits
 * under its parent node if it names one. emit copies everything but the strings
 * (which must stay valid for the walk: string literals), and returns 0 or
 * VOW_ENOMEM (fn should then stop and return it). fn returns 0 or that error.
 */
typedef struct vow_inspect_item {
    vow_node_kind kind;       /* VOW_NODE_TASK or VOW_NODE_SCOPE */
    const void *id;           /* the object itself (unique, never NULL) */
    const void *parent;       /* another item's id it belongs under, or NULL */
    const void *scope;        /* the scope item it runs in, or NULL */
    const char *what;         /* "coroutine", "scope" ... */
    const char *state;        /* "suspended", "running", "open" ... */
    struct vow *result;       /* the vow it settles, or NULL */
    struct vow *via;          /* a vow of its own: it waits on what via waits on */
    struct vow *const *waits; /* more vows it waits on */
    size_t nwaits;            /* length of waits */
    size_t count;             /* SCOPE: live children */
    int64_t age_ms;           /* its age if it knows it, else -1 */
    char detail[96];          /* free text, or "" */
} vow_inspect_item;
typedef int (*vow_inspect_emit_fn)(void *ectx, const vow_inspect_item *item);
typedef int (*vow_inspector_fn)(void *ctx, vow_loop *l, vow_inspect_emit_fn emit, void *ectx);

/*
 * Registers fn(ctx) on l (at most 4 per loop; the pair fn, ctx once). A registered
 * inspector does not keep the loop alive; vow_loop_close forgets it. Returns 0, or
 *   VOW_EINVAL  l or fn is NULL
 *   VOW_EEXIST  the pair is registered already
 *   VOW_ENOSPC  4 inspectors are registered on l
 */
VOW_API int vow_loop_add_inspector(vow_loop *l, vow_inspector_fn fn, void *ctx);
/* Removes the pair. Returns 0, or VOW_EINVAL (NULL l or fn, or the pair is not
 * registered). */
VOW_API int vow_loop_remove_inspector(vow_loop *l, vow_inspector_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* VOW_INSPECT_H */
