/* SPDX-License-Identifier: MIT */
/*
 * A vow's life: allocation, settlement, reference counting, the reclamation of vows
 * nobody can settle any more, and unhandled-rejection tracking. Settling a vow
 * splices its whole reaction list onto the loop's microtask queue in one step, so
 * nothing here recurses over a chain or a fan-out. What a reaction does is its
 * kind's business (chain.c, combine.c, timing.c); this file never needs to know.
 */
#include "vow_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VOW_DEBUG
_Static_assert(sizeof(void *) != 8 || sizeof(struct vow) == 48, "a vow is 48 bytes on LP64");
#endif

/* ------------------------------------------------------------ per-loop state */

static void ext_checkpoint(vow_loop *l);
static void ext_trim(vow_loop *l);

static int ext_busy(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    if (x->live == 0)
        return 0;
#ifdef VOW_DEBUG
    /* The vows themselves are in the tree the reactor dumps (vow_loop_dump). */
    fprintf(stderr, "libvow: vow_loop_close: %zu vow%s still alive\n", x->dbg_nall,
            x->dbg_nall == 1 ? "" : "s");
#endif
    return 1;
}

static void ext_fini(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    for (int i = 0; i < VOW__NSLABS; i++)
        vow__slab_fini(&x->slabs[i]);
    vow__free(x);
    vow__head(l)->ext = NULL;
    vow__head(l)->ext_ops = NULL;
}

static const struct vow__ext_ops ext_ops = { ext_checkpoint, ext_busy, ext_fini,
                                                ext_trim, vow__inspect };

static struct vow__ext *ext_get(vow_loop *l)
{
    struct vow__loop_head *h = vow__head(l);
    if (vow__likely(h->ext != NULL))
        return h->ext;
    struct vow__ext *x = vow__calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->unhandled_tail = &x->unhandled;
    x->late_tail = &x->late;
    vow__slab_init(&x->slabs[VOW__CLS_VOW], sizeof(struct vow), &x->reserve);
    vow__slab_init(&x->slabs[VOW__CLS_THEN1], vow__then_size[0], &x->reserve);
    vow__slab_init(&x->slabs[VOW__CLS_THEN2], vow__then_size[1], &x->reserve);
    vow__slab_init(&x->slabs[VOW__SLAB_REACT], VOW__REACT_SIZE, &x->reserve);
    h->ext = x;
    h->ext_ops = &ext_ops;
    return x;
}

/* ------------------------------------------------------------- debug aid */

static void unref(vow *p);

#ifdef VOW_DEBUG
/*
 * Sites, per thread. The creation site is set by the VOW_TRACK_SITES macros of the
 * calls that make a vow and consumed (file and line cleared) by the next vow made.
 * The call site is set by the macros of the other checked calls and cleared when such
 * a call returns. A misuse report names the call site if one is set, else the
 * creation site: a creating call's own checks run before it makes its vow.
 */
static _Thread_local const char *site_file;
static _Thread_local int site_line;
static _Thread_local const char *call_file;
static _Thread_local int call_line;
#endif

void vow_debug_site(const char *file, int line)
{
#ifdef VOW_DEBUG
    site_file = file;
    site_line = file ? line : 0;
#else
    (void)file;
    (void)line;
#endif
}

void vow_debug_call_site(const char *file, int line)
{
#ifdef VOW_DEBUG
    call_file = file;
    call_line = file ? line : 0;
#else
    (void)file;
    (void)line;
#endif
}

#ifdef VOW_DEBUG
void vow__dbg_call_done(void)
{
    call_file = NULL;
    call_line = 0;
}

/* Prints "libvow: misuse: fn(p) at file:line: " and the rest, then aborts. */
static _Noreturn void misuse(const char *fn, const void *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void misuse(const char *fn, const void *p, const char *fmt, ...)
{
    const char *file = call_file ? call_file : site_file;
    int line = call_file ? call_line : site_line;
    fprintf(stderr, "libvow: misuse: %s(%p) at ", fn, p);
    if (file)
        fprintf(stderr, "%s:%d: ", file, line);
    else
        fprintf(stderr, "an untracked site (define VOW_TRACK_SITES for file:line): ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

static const char *created_at(const vow *p, char *buf, size_t size)
{
    if (!p->site_file)
        return "an untracked site";
    snprintf(buf, size, "%s:%d", p->site_file, p->site_line);
    return buf;
}

void vow__dbg_live(const vow *p, const char *fn)
{
#if VOW__ASAN
    /* A freed vow's memory is poisoned: reading its marker would be ASan's report. */
    if (__asan_address_is_poisoned(&p->dbg_magic))
        misuse(fn, p, "use of a freed vow (its last reference was dropped earlier)");
#endif
    if (vow__likely(p->dbg_magic == VOW__DBG_LIVE))
        return;
    if (p->dbg_magic == VOW__DBG_DEAD)
        misuse(fn, p, "use of a freed vow (its last reference was dropped earlier)");
    misuse(fn, p, "not a vow (a stray or corrupted pointer)");
}

void vow__dbg_owned(const vow *p, const char *fn)
{
    vow__dbg_live(p, fn);
    if (vow__likely(p->refs > p->dbg_held))
        return;
    char buf[256];
    if (strcmp(fn, "vow_unref") == 0)
        misuse(fn, p,
               "the caller holds no reference to this vow: a double vow_unref, or an unref of "
               "a borrowed vow (a vow_list item, a hook's argument, vow_co_self()); "
               "vow created at %s",
               created_at(p, buf, sizeof(buf)));
    misuse(fn, p,
           "the vow was already consumed: the caller holds no reference to it (a consuming "
           "call takes the caller's reference; vow_ref it first to use it twice); "
           "vow created at %s",
           created_at(p, buf, sizeof(buf)));
}

void vow__drop(vow *p)
{
    if (!p)
        return;
    if (p->dbg_held == 0) {
        fprintf(stderr,
                "libvow: internal error: vow %p: the library lets go of a reference "
                "it does not hold\n",
                (void *)p);
        abort();
    }
    p->dbg_held--;
    unref(p);
}
#endif

void vow_debug_hold(vow *p, int delta)
{
#ifdef VOW_DEBUG
    if (p && delta > 0) {
        vow__dbg_owned(p, "vow_debug_hold");
        p->dbg_held++;
    } else if (p && delta < 0) {
        vow__dbg_live(p, "vow_debug_hold");
        if (p->dbg_held == 0)
            misuse("vow_debug_hold", p, "no reference to this vow is marked as held");
        p->dbg_held--;
    }
#else
    (void)p;
    (void)delta;
#endif
}

static inline vow *new_in(vow_loop *l, unsigned cls)
{
    struct vow__ext *x = ext_get(l);
    if (vow__unlikely(!x))
        return NULL;
    vow *p = vow__slab_get(&x->slabs[cls]);
    if (vow__unlikely(!p))
        return NULL;
    p->refs = 1;
    p->code = 0;
    p->state = VOW_PENDING;
    p->flags = 0;
    p->cls = (uint8_t)cls;
    p->nreact = 0;
    p->loop = l;
    p->rtail = NULL;
    p->up = NULL;
    p->work_next = NULL;
    x->live++;
#ifdef VOW_DEBUG
    p->dbg_magic = VOW__DBG_LIVE;
    p->dbg_held = 0;
    p->site_file = site_file;
    p->site_line = site_line;
    p->dbg_born = vow_loop_now(l);
    p->dbg_ntrail = 0;
    p->dbg_depth = 0;
    site_file = NULL;
    site_line = 0;
    x->dbg_nall++;
    p->dbg_prev = NULL;
    p->dbg_next = x->dbg_all;
    if (x->dbg_all)
        x->dbg_all->dbg_prev = p;
    x->dbg_all = p;
#endif
    return p;
}

vow *vow__new(vow_loop *l)
{
    return new_in(l, VOW__CLS_VOW);
}

vow *vow__new_in(vow_loop *l, unsigned cls)
{
    return new_in(l, cls);
}

#if !VOW__SLAB_QUARANTINE
/* Every slab's chunks go idle (out of line: freeing a vow stays a leaf call). */
static __attribute__((noinline)) void slabs_idle(struct vow__ext *x)
{
    for (int i = 0; i < VOW__NSLABS; i++)
        vow__slab_reset(&x->slabs[i]);
}
#endif

static void vow_free_mem(vow *p)
{
    vow_loop *l = p->loop;
    struct vow__ext *x = vow__head(l)->ext;
    x->live--;
#ifdef VOW_DEBUG
    if (p->dbg_held != 0) {
        fprintf(stderr, "libvow: internal error: vow %p freed with %u references held\n", (void *)p,
                p->dbg_held);
        abort();
    }
    /* The marker outlives the vow: the slab's quarantine keeps its memory unused for a
     * while, so a later call on it is caught (vow__dbg_live). */
    p->dbg_magic = VOW__DBG_DEAD;
    x->dbg_nall--;
    if (p->dbg_prev)
        p->dbg_prev->dbg_next = p->dbg_next;
    else
        x->dbg_all = p->dbg_next;
    if (p->dbg_next)
        p->dbg_next->dbg_prev = p->dbg_prev;
#endif
#ifdef VOW_DEBUG
    /* A fused then object goes back whole: its reaction half must be done. */
    if (p->cls != VOW__CLS_VOW)
        vow__then_dbg_done(p);
#endif
    vow__slab_put(&x->slabs[p->cls], p);
#if !VOW__SLAB_QUARANTINE
    /* No vow alive means no reaction either (each holds its source): after a spike
     * the chunks go to the warm reserve (bounded; the rest goes back now, not at loop
     * close). Builds that quarantine freed objects keep them in their slabs, so that
     * stale pointers keep pointing at freed objects. */
    if (vow__unlikely(x->live == 0))
        slabs_idle(x);
#endif
}

void *vow__react_alloc(vow_loop *l)
{
    return vow__slab_get(&((struct vow__ext *)vow__head(l)->ext)->slabs[VOW__SLAB_REACT]);
}

void vow__react_free(vow_loop *l, void *r)
{
    vow__slab_put(&((struct vow__ext *)vow__head(l)->ext)->slabs[VOW__SLAB_REACT], r);
}

int vow_loop_trim(vow_loop *l)
{
    vow__check(l, VOW_EINVAL);
    struct vow__ext *x = vow__head(l)->ext;
    for (int i = 0; x && i < VOW__NSLABS; i++)
        vow__slab_trim(&x->slabs[i]);
    return 0;
}

/* ------------------------------------------------------------- ref counting */

static void collect(vow *p);

static void vow_free_mem(vow *p);

/*
 * The last holder of a pending vow let go. It can only get here when nothing reacts
 * to it (reactions hold their source) and no user code will settle it (handlers hold
 * the vow they settle): dropping is withdrawing. Its producers are told to abort, and
 * every source that only they consumed is cancelled in turn, before the caller's
 * vow_unref returns. Apart from the settled case, so that destroying a settled vow
 * saves no registers for this.
 */
static __attribute__((noinline)) void destroy_pending(vow *p)
{
    /* Settled as cancelled first, so a hook that touches p sees it settled; the
     * reference taken here (the library's) keeps p alive while the hooks run. */
    struct vow__link *k;
    vow *work = NULL;
    p->state = VOW_REJECTED;
    p->code = VOW_ECANCELED;
    p->val = vow_val_none();
    vow__hold(p);
    /* Each link leaves the list before it runs (see cancel_one), so a hook may take
     * another off the list (vow_abort_stop). */
    while ((k = p->up) != NULL) {
        p->up = k->next;
        k->ops->cancel(k, p, &work);
    }
    vow__cancel_run(work);
#ifdef VOW_DEBUG
    p->dbg_held--;
#endif
    if (--p->refs == 0)
        vow_free_mem(p);
}

/*
 * The last holder let go: a pending vow is withdrawn (above); a settled vow drops its
 * value, or its reference to the vow that owns the outcome (which never forwards
 * itself, so this is at most one level deep).
 */
static void vow_destroy(vow *p)
{
    if (vow__unlikely(p->state == VOW_PENDING)) {
        destroy_pending(p);
        return;
    }
    if (p->flags & VF_FWD)
        vow__drop(p->fwd);
    else
        vow__val_drop(&p->val);
    vow_free_mem(p);
}

vow *vow_ref(vow *p)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_ref");
    vow__dbg_call_done();
#endif
    if (p)
        p->refs++;
    return p;
}

/* Drops one reference: the caller's (vow_unref) or the library's (vow__drop). */
static inline void unref(vow *p)
{
    if (--p->refs == 0)
        vow_destroy(p);
    else if (vow__unlikely(p->refs == p->nreact) && vow__is_garbage(p))
        collect(p);
}

/* Queues p for collection, with a reference the collector lets go of when done. */
static void garbage_push(vow *p, vow **work)
{
    p->flags |= VF_GARBAGE;
    p->work_next = *work;
    *work = vow__hold(p);
}

void vow_unref(vow *p)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_owned(p, "vow_unref");
    vow__dbg_call_done();
#endif
    if (!p)
        return;
    unref(p);
}

/* Queues p for collection if it is garbage; the worklist holds a reference to it. */
void vow__collect_check(vow *p, vow **work)
{
    if (vow__is_garbage(p) && !(p->flags & VF_GARBAGE))
        garbage_push(p, work);
}

void vow__collect_maybe(vow *p)
{
    if (vow__is_garbage(p))
        collect(p);
}

void vow__unref_collect(vow *p, vow **work)
{
#ifdef VOW_DEBUG
    p->dbg_held--;
#endif
    if (--p->refs == 0)
        vow_destroy(p);
    else
        vow__collect_check(p, work);
}

/*
 * Collects p and whatever becomes garbage with it, through a worklist: a dropped
 * pending chain of any length takes constant C stack. Each vow on the worklist is
 * held by it, and its reactions are discarded one at a time, the rest staying on its
 * list: discarding one may drop the last reference to a vow whose producers then
 * leave x (a weak adoption waiting on x is withdrawn), and they must find themselves
 * there. Such a departure may even cancel x (it lost its last consumer): then what
 * is left of its list has been queued instead.
 */
static void collect(vow *p)
{
    if (p->flags & VF_GARBAGE)
        return;
    vow *work = NULL;
    garbage_push(p, &work);
    while (work) {
        vow *x = work;
        work = x->work_next;
        while (x->state == VOW_PENDING && x->rtail) {
            vow__task *tail = x->rtail, *t = tail->next;
            if (t == tail)
                x->rtail = NULL;
            else
                tail->next = t->next;
            x->nreact--;
            struct vow__react *r = (struct vow__react *)t;
            vow__react_ops_of(r)->discard(r, &work);
        }
        x->flags &= (uint8_t)~VF_GARBAGE;
        vow__drop(x);
    }
}

/* -------------------------------------------------------------- settlement */

static void unhandled_push(vow *p, vow ***tailp)
{
    p->flags |= VF_LISTED;
    vow__hold(p);
    p->list_next = NULL;
    **tailp = p;
    *tailp = &p->list_next;
}

/*
 * Common tail of every settlement: producers' links are released (they did their
 * job), the reaction list is spliced onto the microtask queue in attachment order,
 * and a rejection nobody reacts to is noted for the checkpoint.
 */
static void settle_done(vow *p, struct vow__link *k, vow__task *tail)
{
    p->list_next = NULL; /* and up */
    while (k) {
        struct vow__link *next = k->next;
        if (k->ops->release)
            k->ops->release(k);
        k = next;
    }
    p->flags &= (uint8_t)~VF_LOCKED;
    p->nreact = 0;
    if (tail) {
        vow__task *head = tail->next;
        vow__task_splice(vow__loop_microq(p->loop), head, tail);
    } else if (p->state == VOW_REJECTED && !(p->flags & VF_HANDLED) &&
               p->code != VOW_ECANCELED) {
        struct vow__ext *x = vow__head(p->loop)->ext;
        unhandled_push(p, &x->unhandled_tail);
    }
}

/* The outcome shares its words with the pending-only fields: those are read first. */
void vow__fulfil(vow *p, vow_val v)
{
    struct vow__link *k = p->up;
    vow__task *tail = p->rtail;
    p->state = VOW_FULFILLED;
    p->val = v;
    settle_done(p, k, tail);
}

void vow__reject(vow *p, int code, vow_val detail)
{
    struct vow__link *k = p->up;
    vow__task *tail = p->rtail;
    p->state = VOW_REJECTED;
    p->code = code;
    p->val = detail;
    settle_done(p, k, tail);
}

/*
 * q's outcome is being consumed: it counts as handled (a rejection that reached a
 * handler or an adopter is not unhandled), and a late one is reported as such.
 */
void vow__mark_handled(vow *q)
{
    if ((q->flags & (VF_REPORTED | VF_HANDLED)) == VF_REPORTED && !(q->flags & VF_LISTED)) {
        struct vow__ext *x = vow__head(q->loop)->ext;
        unhandled_push(q, &x->late_tail);
    }
    q->flags |= VF_HANDLED;
}

void vow__forward(vow *p, vow *q)
{
    vow__dbg_cause(p, q); /* debug builds: the causal report's trail */
    vow__mark_handled(q);
    vow *owner = (q->flags & VF_FWD) ? q->fwd : q;
    struct vow__link *k = p->up;
    vow__task *tail = p->rtail;
    p->state = q->state;
    p->code = q->code;
    p->flags |= VF_FWD;
    p->val.drop = NULL; /* never run: the outcome is owner's */
    p->fwd = vow__hold(owner);
    settle_done(p, k, tail);
}

void vow__add_link(vow *p, struct vow__link *k)
{
    k->next = p->up;
    p->up = k;
}

void vow__unlink(vow *p, struct vow__link *k)
{
    /* A listed vow is settled and has no producer; its up word is its list link. */
    if (vow__unlikely(p->flags & VF_LISTED))
        return;
    for (struct vow__link **pp = &p->up; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            return;
        }
    }
}

void vow__attach(vow *src, struct vow__react *r)
{
    r->src = src;
    vow__mark_handled(src);
    if (src->state == VOW_PENDING) {
        vow__task *tail = src->rtail;
        if (tail) {
            r->task.next = tail->next;
            tail->next = &r->task;
        } else {
            r->task.next = &r->task;
        }
        src->rtail = &r->task;
        src->nreact++;
        /* The caller's reference moved to r: if it was the last outside one and no
         * producer is left, nothing can ever settle src. */
        if (vow__unlikely(src->refs == src->nreact) && !src->up)
            collect(src);
    } else {
        vow__task_push(vow__loop_microq(src->loop), &r->task);
    }
}

/* ------------------------------------------------------------ public basics */

vow *vow_pending(vow_loop *l)
{
    if (!l)
        return NULL;
    return vow__new(l);
}

vow *vow_resolved(vow_loop *l, vow_val v)
{
    vow *p = l ? vow__new(l) : NULL;
    if (!p) {
        vow__val_drop(&v);
        return NULL;
    }
    vow__fulfil(p, v);
    return p;
}

vow *vow_rejected(vow_loop *l, int code, vow_val detail)
{
    vow *p = l ? vow__new(l) : NULL;
    if (!p) {
        vow__val_drop(&detail);
        return NULL;
    }
    vow__reject(p, code < 0 ? code : VOW_EINVAL, detail);
    return p;
}

int vow_resolve(vow *p, vow_val v)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_resolve");
    vow__dbg_call_done();
#endif
    int rc = vow__resolvable(p);
    if (rc < 0) {
        vow__val_drop(&v);
        return rc;
    }
    vow__fulfil(p, v);
    return 0;
}

int vow_reject(vow *p, int code, vow_val detail)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, "vow_reject");
    vow__dbg_call_done();
#endif
    int rc = code < 0 ? vow__resolvable(p) : VOW_EINVAL;
    if (rc < 0) {
        vow__val_drop(&detail);
        return rc;
    }
    vow__reject(p, code, detail);
    return 0;
}

/* The queries below check p (debug builds) and clear the call site; p is NULL-safe. */
static inline void query_check(const vow *p, const char *fn)
{
#ifdef VOW_DEBUG
    if (p)
        vow__dbg_live(p, fn);
    vow__dbg_call_done();
#else
    (void)p;
    (void)fn;
#endif
}

int vow_state(const vow *p)
{
    query_check(p, "vow_state");
    return p ? p->state : VOW_EINVAL;
}

int vow_is_resolved(const vow *p)
{
    query_check(p, "vow_is_resolved");
    if (!p)
        return VOW_EINVAL;
    return p->state != VOW_PENDING || (p->flags & VF_LOCKED) != 0;
}

int vow_code(const vow *p)
{
    query_check(p, "vow_code");
    return p ? p->code : VOW_EINVAL;
}

const vow_val *vow_value(const vow *p)
{
    query_check(p, "vow_value");
    if (!p || p->state == VOW_PENDING)
        return NULL;
    return &vow__owner(p)->val;
}

#ifdef VOW_TESTING
/* White-box tests: how many vows of l are alive. */
size_t vow__live_vows(vow_loop *l);
size_t vow__live_vows(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    return x ? x->live : 0;
}

/* White-box tests: bytes of idle chunks in l's warm reserve. */
size_t vow__reserve_bytes(vow_loop *l);
size_t vow__reserve_bytes(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    return x ? x->reserve.bytes : 0;
}

/* White-box tests: whether freed slab objects wait in a quarantine (no reserve then). */
int vow__slab_quarantined(void);
int vow__slab_quarantined(void)
{
    return VOW__SLAB_QUARANTINE != 0;
}
#endif

vow_loop *vow_loop_of(const vow *p)
{
    query_check(p, "vow_loop_of");
    return p ? p->loop : NULL;
}

/* ------------------------------------------------------ unhandled rejections */

int vow_loop_set_unhandled(vow_loop *l, vow_unhandled_fn fn, void *ctx)
{
    vow__check(l, VOW_EINVAL);
    struct vow__ext *x = ext_get(l);
    if (!x)
        return VOW_ENOMEM;
    x->hook = fn;
    x->hook_ctx = ctx;
    return 0;
}

static void report(struct vow__ext *x, vow *p, int event)
{
    if (x->hook) {
        x->hook(x->hook_ctx, p, event);
    } else if (event == VOW_UNHANDLED) {
        fprintf(stderr, "libvow: unhandled rejection: %s (%s)\n", vow_err_name(p->code),
                vow_strerror(p->code));
#ifdef VOW_DEBUG
        vow__dbg_trail_print(p, stderr); /* the chain that led to it (cause.c) */
#endif
    }
}

/*
 * A drain stopped at the end of its fairness slice with microtasks left, so no
 * checkpoint comes yet: rejections handled since they were listed are let go, so work
 * that keeps the queue busy (a loop of rejected vows it handles) cannot grow the list.
 * Those still unhandled stay for the checkpoint.
 */
static void ext_trim(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    vow *gone = NULL;
    vow **pp = &x->unhandled;
    x->unhandled_tail = &x->unhandled;
    while (*pp) {
        vow *p = *pp;
        if (p->flags & VF_HANDLED) {
            *pp = p->list_next;
            p->flags &= (uint8_t)~VF_LISTED;
            p->list_next = gone;
            gone = p;
        } else {
            pp = &p->list_next;
            x->unhandled_tail = pp;
        }
    }
    /* Released once the list is whole again: a drop may reject and list more. */
    while (gone) {
        vow *p = gone;
        gone = p->list_next;
        vow__drop(p); /* the list's reference (unhandled_push) */
    }
}

/*
 * End of a microtask checkpoint: rejections that are still without a handler are
 * reported, then those handled after being reported. The lists hold a reference, so
 * a rejected vow dropped unhandled is reported too.
 */
static void ext_checkpoint(vow_loop *l)
{
    struct vow__ext *x = vow__head(l)->ext;
    while (x->unhandled || x->late) {
        vow *p = x->unhandled;
        int late = 0;
        if (p) {
            x->unhandled = p->list_next;
            if (!x->unhandled)
                x->unhandled_tail = &x->unhandled;
        } else {
            p = x->late;
            late = 1;
            x->late = p->list_next;
            if (!x->late)
                x->late_tail = &x->late;
        }
        p->flags &= (uint8_t)~VF_LISTED;
        p->list_next = NULL; /* up reads NULL again */
        if (late) {
            report(x, p, VOW_HANDLED_LATE);
        } else if (!(p->flags & VF_HANDLED)) {
            p->flags |= VF_REPORTED;
            report(x, p, VOW_UNHANDLED);
        }
        vow__drop(p);
    }
}
