/* SPDX-License-Identifier: MIT */
/*
 * The vow tier's private header: a vow's layout, reactions, cancellation links and
 * the per-loop state, shared by life.c, chain.c, cancel.c, combine.c, timing.c and
 * remote.c. Ownership graph, which never has cycles except a vow nobody can settle:
 *   user/reaction --ref--> vow --list--> reaction --ref--> derived vow
 * and weak "up" links from a vow to what produces it (for cancellation).
 */
#ifndef VOW_VOW_INT_H
#define VOW_VOW_INT_H

#include "microtask.h"
#include "slab.h"

#include <stdio.h>

/*
 * A cancellation link: how a pending vow reaches what produces it. Reactions that
 * settle a derived vow, combinators, timers and user abort hooks each put one on the
 * vow they produce. On cancel, or when the vow's last reference goes away while it
 * is pending, cancel() runs, with a worklist for the sources that lose their last
 * consumer; on normal settlement release() runs (may be NULL). Only user code (a
 * then/finally reaction, the adoption of what a handler returned) holds the vow it
 * produces; every other producer holds it weakly, so dropping the vow withdraws it.
 */
struct vow__link;
struct vow__search;
struct vow__link_ops {
    void (*cancel)(struct vow__link *k, vow *p, vow **work);
    void (*release)(struct vow__link *k);
    /* Offers each vow the producer of p waits on to vow__search_visit (NULL: none). */
    void (*parents)(struct vow__link *k, vow *p, struct vow__search *s);
    const char *name; /* the producer's kind, as inspection names it ("then" ...) */
};

/* A depth-first search up the "waits on" graph (cycle checks on adoption). */
struct vow__search {
    vow **stack;        /* vows still to expand */
    size_t len, cap;    /* stack use and size */
    vow **seen;         /* every vow marked, to unmark at the end */
    size_t nseen, seen_cap; /* seen use and size */
    int failed;         /* out of memory: the answer is "no cycle" */
};
struct vow__link {
    struct vow__link *next;            /* next link of the same vow, newest first */
    const struct vow__link_ops *ops;   /* what to do on cancel or settlement */
};

enum {
    VF_LOCKED = 1u << 0,   /* resolved onto another vow, still pending */
    VF_FWD = 1u << 1,      /* settled; the outcome lives in fwd (flattened) */
    VF_HANDLED = 1u << 2,  /* some reaction was attached at some point */
    VF_REPORTED = 1u << 3, /* reported as unhandled */
    VF_LISTED = 1u << 4,   /* on the loop's unhandled or late list */
    VF_GARBAGE = 1u << 5,  /* being collected: nobody can settle it any more */
    VF_SEEN = 1u << 6,     /* marked by a running vow__search */
    VF_QUEUED = 1u << 7,   /* on a cancellation worklist (work_next in use) */
};

#ifdef VOW_DEBUG
/* A creation site, for causal rejection reports (cause.c). */
struct vow__site {
    const char *file; /* NULL: untracked */
    int line;         /* line of file */
};
#define VOW__TRAIL 8 /* causes a vow remembers: the nearest ones and the origin */
#endif

/*
 * Where a vow's memory comes from (its cls): a slab of plain vows, or one of the two
 * slabs of fused then objects, in which the vow is followed by the reaction that
 * settles it (chain.c). Also the index of that slab in struct vow__ext.
 */
enum { VOW__CLS_VOW, VOW__CLS_THEN1, VOW__CLS_THEN2, VOW__SLAB_REACT, VOW__NSLABS };

/*
 * 48 bytes on LP64: each pointer word serves one field while the vow is pending and
 * another once it is settled, so whatever reads a pending-only field checks state
 * first, and a settlement reads them before it writes the outcome.
 */
struct vow {
    uint32_t refs;               /* holders: callers, reactions, combinators */
    int32_t code;                /* 0 or the rejection code once settled */
    uint8_t state;               /* VOW_PENDING / VOW_FULFILLED / VOW_REJECTED */
    uint8_t flags;               /* VF_* */
    uint8_t cls;                 /* VOW__CLS_*: the slab it came from */
    uint32_t nreact;             /* pending: reactions in the list (each holds a ref) */
    vow_loop *loop;              /* owning loop */
    union {
        vow_val val;             /* settled, !VF_FWD: the owned value or detail */
        vow *fwd;                /* settled, VF_FWD: the vow that owns the outcome */
        struct {
            vow *work_next;   /* pending: link on a cancellation worklist */
            vow__task *rtail; /* pending: circular reaction list, tail->next = head */
        };
    };
    union {
        struct vow__link *up; /* pending: producers, newest first; NULL once settled */
        vow *list_next;       /* settled, VF_LISTED: link on the unhandled / late list */
    };
#ifdef VOW_DEBUG
    uint32_t dbg_magic;          /* VOW__DBG_LIVE while allocated, VOW__DBG_DEAD once freed */
    uint32_t dbg_held;           /* of refs, those the library holds (see vow__hold) */
    const char *site_file;       /* where the vow was created (vow_debug_site), or NULL */
    int site_line;               /* line of site_file */
    vow *dbg_prev, *dbg_next;    /* all live vows of the loop */
    uint64_t dbg_born;           /* loop clock at creation (inspection's age) */
    struct vow__site dbg_trail[VOW__TRAIL]; /* the causes' sites, nearest first (cause.c) */
    uint32_t dbg_ntrail;         /* entries in dbg_trail */
    uint32_t dbg_depth;          /* causes in all (more than dbg_ntrail when elided) */
#endif
};

/*
 * Every reaction starts with this: the microtask node (its next is also the link in
 * the source's reaction list while waiting) and the source, which the reaction holds.
 * Its task.ops points at the struct vow__react_ops of its kind.
 */
struct vow__react {
    vow__task task; /* queue node; task.ops is the kind's struct vow__react_ops */
    vow *src;       /* the vow reacted to (one reference) */
};

/*
 * A kind of reaction (then, finally, adoption, combinator element, timeout...): its
 * operations. run (in the task part, so the microtask queue calls it knowing nothing
 * of vows) runs the reaction once its source has settled. discard drops it unrun
 * while it waits on a pending source that became garbage (the collector): it lets go
 * of what it holds, each vow through vow__unref_collect(v, work), and frees itself.
 * The core reclaims every kind alike through this table.
 */
struct vow__react_ops {
    struct vow__task_ops task;                         /* run; first, for the queue */
    void (*discard)(struct vow__react *r, vow **work); /* the source is garbage */
};

static inline const struct vow__react_ops *vow__react_ops_of(const struct vow__react *r)
{
    return (const struct vow__react_ops *)(const void *)r->task.ops;
}

/* Per-loop state of the vow layer (loop head's ext). */
struct vow__ext {
    struct vow__slab slabs[VOW__NSLABS]; /* plain vows, fused thens, adoption reactions */
    struct vow__slab_reserve reserve;    /* idle chunks kept for the next burst (slab.h) */
    size_t live;                         /* vows alive on this loop; at 0 the slabs go idle */
    vow *unhandled, **unhandled_tail; /* rejected with no handler during this checkpoint */
    vow *late, **late_tail;        /* reported, then handled after all */
    vow_unhandled_fn hook;         /* NULL: default line on stderr */
    void *hook_ctx;                /* for hook */
#ifdef VOW_DEBUG
    vow *dbg_all;                  /* every live vow, for the close report */
    size_t dbg_nall;               /* length of dbg_all */
#endif
};

/* The kinds of vow_ret (its private kind_ field). */
enum { RET_OK = 1, RET_FAIL, RET_FOLLOW, RET_PASS };

static inline void vow__val_drop(vow_val *v)
{
    if (v->drop)
        v->drop(v->ptr);
}

/* 0 if p may be resolved now; VOW_EINVAL (NULL) or VOW_ESETTLED (settled or locked). */
static inline int vow__resolvable(const vow *p)
{
    if (!p)
        return VOW_EINVAL;
    if (p->state != VOW_PENDING || (p->flags & VF_LOCKED))
        return VOW_ESETTLED;
    return 0;
}

/*
 * References the library holds. Every reference to a vow is either the caller's (what
 * a constructor returned, a vow_ref) or the library's own: a reaction's on its
 * source and on the vow it settles, an unhandled or late list's, a forward's, a
 * combinator list's, a worklist's, a remote's, and those marked with
 * vow_debug_hold (a coroutine's on its result). The library takes its own with
 * vow__hold, turns a consumed caller's reference into one with vow__take, and lets
 * go with vow__drop. Debug builds count them (dbg_held), so a vow_unref or a
 * consuming call made when only the library's references are left, a double unref
 * or a second consumption, is caught at the faulty call; other builds compile the
 * counting away (vow__drop is vow_unref).
 */
static inline vow *vow__hold(vow *p)
{
#ifdef VOW_DEBUG
    p->dbg_held++;
#endif
    p->refs++;
    return p;
}

#ifdef VOW_DEBUG
#define VOW__DBG_LIVE 0x2b776f76u /* "vow+" */
#define VOW__DBG_DEAD 0x2d776f76u /* "vow-" */
/* Aborts with a message unless p is a live vow; fn names the public call. */
void vow__dbg_live(const vow *p, const char *fn);
/* Aborts unless p is live and the caller holds a reference of its own (refs > held). */
void vow__dbg_owned(const vow *p, const char *fn);
/* The caller's reference, checked with vow__dbg_owned, now belongs to the library. */
static inline void vow__take(vow *p)
{
    p->dbg_held++;
}
void vow__drop(vow *p);
/* Clears the call site that the misuse checks report (see vow_debug_call_site). */
void vow__dbg_call_done(void);
#else
static inline void vow__dbg_live(const vow *p, const char *fn)
{
    (void)p;
    (void)fn;
}
static inline void vow__dbg_owned(const vow *p, const char *fn)
{
    (void)p;
    (void)fn;
}
static inline void vow__take(vow *p)
{
    (void)p;
}
static inline void vow__drop(vow *p)
{
    vow_unref(p);
}
static inline void vow__dbg_call_done(void)
{
}
#endif

/* life.c */
vow *vow__new(vow_loop *l);                  /* refs = 1, pending; NULL on OOM */
/* The same from the slab of class cls (VOW__CLS_*): a fused then object's vow. */
vow *vow__new_in(vow_loop *l, unsigned cls);
/* Slab objects of VOW__REACT_SIZE bytes: adoption reactions (chain.c), abort hooks. */
#define VOW__REACT_SIZE (7 * sizeof(void *))
void *vow__react_alloc(vow_loop *l);
void vow__react_free(vow_loop *l, void *r);
/* Settle p (pending, maybe locked) now; queues its reactions. */
void vow__fulfil(vow *p, vow_val v);
void vow__reject(vow *p, int code, vow_val detail);
void vow__forward(vow *p, vow *q);           /* p takes q's outcome (q settled) */
/* q's outcome is consumed (by a reaction or an adopter): it counts as handled. */
void vow__mark_handled(vow *q);
/* Attach a reaction to src (which it holds): queued now if src is settled. */
void vow__attach(vow *src, struct vow__react *r);
/* The cancellation links (producers) of a pending vow. */
void vow__add_link(vow *p, struct vow__link *k);
void vow__unlink(vow *p, struct vow__link *k); /* k is not run */

/*
 * Garbage: pending, no producer left to settle it (no links), and every reference
 * belongs to one of its own reactions. JavaScript's GC would reclaim it; here it is
 * collected at once: its reactions are discarded unrun (their kind's discard).
 */
static inline int vow__is_garbage(const vow *p)
{
    return p->state == VOW_PENDING && p->refs == p->nreact && !p->up;
}
/* Drop one reference in a collection: destroyed at 0, queued on work if garbage. */
void vow__unref_collect(vow *p, vow **work);
/* In a collection, p lost a producer that held it weakly: queued on work if garbage. */
void vow__collect_check(vow *p, vow **work);
/* Outside a collection, the same: p is collected now if it became garbage. */
void vow__collect_maybe(vow *p);

/* chain.c */
extern const size_t vow__then_size[2]; /* slab sizes of small and large fused thens */
#ifdef VOW_DEBUG
/* Aborts unless the reaction half of the fused then object p is done. */
void vow__then_dbg_done(const vow *p);
#endif
/* Offers v to a running search (cycle check): a link's parents op calls it. */
void vow__search_visit(struct vow__search *s, vow *v);

/* cancel.c */
/* Runs a worklist whose entries each hold one reference (NULL: nothing to do). */
void vow__cancel_run(vow *work);
/* r (waiting on its pending source) leaves it; see cancel.c. work may be NULL. */
void vow__react_detach(struct vow__react *r, vow **work);
/* Hands src (pending) and one reference to it to work, to be cancelled; once only. */
void vow__cancel_push(vow *src, vow **work);
/* What inspection calls the producer behind link k ("then", a hook's name ...). */
const char *vow__link_name(const struct vow__link *k);

/* cause.c (debug builds): p is being settled from cause (a forward, an adoption, a
 * handler's pass-through or failure): p remembers cause's site and cause's own causes.
 * An unhandled rejection report prints them (vow__dbg_trail_print). */
#ifdef VOW_DEBUG
void vow__dbg_cause(vow *p, const vow *cause);
void vow__dbg_trail_print(const vow *p, FILE *out);
#else
static inline void vow__dbg_cause(vow *p, const vow *cause)
{
    (void)p;
    (void)cause;
}
#endif

/* inspect.c: the vow tier's part of vow_loop_walk (the ext hook). */
int vow__inspect(vow_loop *l, struct vow__walk *w);

static inline const vow *vow__owner(const vow *p)
{
    return (p->flags & VF_FWD) ? p->fwd : p;
}

#endif /* VOW_VOW_INT_H */
