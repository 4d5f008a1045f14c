/* SPDX-License-Identifier: MIT */
/*
 * Vows that cross loops. vow_group_spawn and vow_group_call make a link: its A side
 * is the result vow q on the caller's loop (from), its B side a consumer (a then
 * reaction, d) of the vow p that fn returned on the chosen member. The B side posts
 * the outcome to A; cancelling q (or dropping it, for a call) posts a cancel to B,
 * which withdraws d, so p is cancelled there if nothing else consumes it. Each side
 * only touches its own fields on its own thread; the state word st says which side
 * spoke first, so exactly one reply reaches A and a cancel reaches B only while B
 * can still use it.
 *
 * A value with a drop stays owned by p on its loop: A gets a copy with the same ptr
 * and cross_drop as its drop, and a process-wide table counts the copies per ptr.
 * When the last copy is dropped, each owner (a link that kept its p) is sent a
 * release, and p, with the value, is dropped on its own thread.
 */
#include "group_int.h"

#include <string.h>

/* The state word: RUNNING until one side speaks; then CANCEL (A asked, a cancel
 * message is on its way to B) or REPLIED (B answered, the reply is on its way). */
enum { ST_RUNNING, ST_CANCEL, ST_REPLIED };
/* The B side's progress (B's thread only). */
enum { B_START, B_WAIT, B_DONE };

struct link {
    atomic_int refs;         /* the A side, the B side, a cancel message, a share */
    atomic_int st;           /* ST_* */
    vow_group *g;            /* the group */
    struct vow__gmember *bm; /* where fn runs and p lives */
    struct vow__gmember *am; /* the member whose loop is from, or NULL */
    vow_loop *from;          /* the loop of q */
    vow_group_fn fn;         /* run on bm */
    void *arg;               /* for fn */
    bool rooted;             /* spawn: the link holds q; call: it does not */
    /* A side (from's thread). */
    vow *q; /* the result; NULL once its hook ran (call) */
    /* B side (bm's thread). */
    int bstate;              /* B_* */
    vow *p;                  /* what fn returned (held), until replied or released */
    vow *d;                  /* the consumer of p (held) while B_WAIT */
    struct vow__gwork work;  /* on bm's work list while B_WAIT */
    vow_immediate retry;     /* retries the reply post to a loop outside the group */
    struct link *share_next; /* next owner of the same shared value */
    /* The reply: written by B before it is sent, read by A. */
    int code;    /* 0: fulfil q; < 0: reject it */
    vow_val val; /* the value or detail (a copy: see cross_copy) */
    /* Messages to members, one per kind (at most one of each is ever on its way). */
    struct vow__gmsg m_start;   /* A to B: run fn */
    struct vow__gmsg m_cancel;  /* A to B: withdraw d */
    struct vow__gmsg m_reply;   /* B to A, when A is a member */
    struct vow__gmsg m_release; /* any holder to B: the last copy of p's value is gone */
};

static void link_unref(struct link *k)
{
    if (atomic_fetch_sub(&k->refs, 1) == 1)
        vow__free(k);
}

/* -------------------------------------------------------------- shared values */

/* One value whose copies crossed: the owners keep their vows until count is 0. */
struct share {
    struct share *next;  /* hash chain */
    void *ptr;           /* the value's ptr: the key */
    long count;          /* copies alive (each a vow_val with cross_drop) */
    struct link *owners; /* links holding the vows that own it */
};

#define SHARE_STATIC 64 /* buckets that need no allocation */

static pthread_mutex_t share_mu = PTHREAD_MUTEX_INITIALIZER;
static struct share *share_static[SHARE_STATIC]; /* the table while it is small */
static struct share **share_tab = share_static;  /* buckets, share_cap of them */
static size_t share_cap = SHARE_STATIC;          /* buckets (a power of 2) */
static size_t share_n;                           /* entries */

/* Copies held by the calling thread's loops, plus results it waits for (each may
 * bring one): vow_group_close would wait for this thread while any exist. */
static _Thread_local long tls_held;

long vow__cross_held(void)
{
    return tls_held;
}

static size_t share_hash(const void *ptr, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)ptr;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

/* Under share_mu. */
static struct share **share_slot(const void *ptr)
{
    struct share **s = &share_tab[share_hash(ptr, share_cap)];
    while (*s && (*s)->ptr != ptr)
        s = &(*s)->next;
    return s;
}

/* Under share_mu: rehashes into cap buckets (tab: calloc'd, or share_static). */
static void share_rehash(struct share **tab, size_t cap)
{
    struct share **old = share_tab;
    size_t old_cap = share_cap;
    for (size_t i = 0; i < old_cap; i++) {
        struct share *s = old[i];
        while (s) {
            struct share *next = s->next;
            struct share **b = &tab[share_hash(s->ptr, cap)];
            s->next = *b;
            *b = s;
            s = next;
        }
    }
    if (old != share_static)
        vow__free(old);
    share_tab = tab;
    share_cap = cap;
}

/* Under share_mu: doubles the table when it is full; a failure keeps it (the chains
 * grow instead). */
static void share_grow(void)
{
    if (share_n < share_cap)
        return;
    struct share **tab = vow__calloc(share_cap * 2, sizeof(*tab));
    if (tab)
        share_rehash(tab, share_cap * 2);
}

/* Under share_mu: an empty table goes back to the static buckets, so no allocation
 * outlives the values that crossed. */
static void share_shrink(void)
{
    if (share_n == 0 && share_tab != share_static) {
        memset(share_static, 0, sizeof(share_static));
        share_rehash(share_static, SHARE_STATIC);
    }
}

static void cross_drop(void *ptr);

/*
 * The copy of v (p's value, borrowed) that crosses to A, in *out. Plain data crosses
 * as it is. A value with a drop is shared: if it is itself a copy, one more copy is
 * counted; otherwise k becomes one of its owners (*owner: k keeps p until the
 * release). 0, or VOW_ENOMEM (nothing changed).
 */
static int cross_copy(struct link *k, const vow_val *v, vow_val *out, bool *owner)
{
    *owner = false;
    *out = *v;
    if (!v->drop || !v->ptr) {
        out->drop = NULL;
        return 0;
    }
    out->drop = cross_drop;
    pthread_mutex_lock(&share_mu);
    share_grow();
    struct share **slot = share_slot(v->ptr);
    struct share *s = *slot;
    if (!s && v->drop != cross_drop) {
        s = vow__malloc(sizeof(*s));
        if (s) {
            *s = (struct share){.next = NULL, .ptr = v->ptr};
            *slot = s;
            share_n++;
        }
    }
    if (!s) {
        pthread_mutex_unlock(&share_mu);
        *out = vow_val_none();
        return VOW_ENOMEM;
    }
    s->count++;
    if (v->drop != cross_drop) {
        k->share_next = s->owners;
        s->owners = k;
        *owner = true;
    }
    pthread_mutex_unlock(&share_mu);
    return 0;
}

/* The drop of every copy: runs on the thread of the loop that held it. */
static void cross_drop(void *ptr)
{
    tls_held--;
    pthread_mutex_lock(&share_mu);
    struct share **slot = share_slot(ptr);
    struct share *s = *slot;
    if (!s || --s->count > 0) {
        pthread_mutex_unlock(&share_mu);
        return;
    }
    *slot = s->next;
    share_n--;
    share_shrink();
    struct link *k = s->owners;
    pthread_mutex_unlock(&share_mu);
    vow__free(s);
    while (k) {
        struct link *next = k->share_next;
        vow__gmember_send(k->bm, &k->m_release);
        k = next;
    }
}

/* B: the last copy is gone; p (and the value) is dropped here, on its loop. */
static void release_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    struct link *k = vow__container_of(msg, struct link, m_release);
    vow_group *g = m->g;
    vow_unref(k->p);
    k->p = NULL;
    link_unref(k);
    vow__group_busy(g, -1);
}

/* ------------------------------------------------------------------ A side */

/* A: applies the reply to q, on from's thread. */
static void reply_apply(struct link *k)
{
    vow_group *g = k->g;
    struct vow__gmember *am = k->am;
    vow *q = k->q;
    vow_val v = k->val;
    if (v.drop == cross_drop)
        tls_held++; /* the copy lives here now (its drop counts it off) */
    tls_held--;     /* this result is no longer awaited */
    if (q && k->code == 0)
        vow_resolve(q, v); /* consumes v even if q was settled meanwhile */
    else if (q)
        vow_reject(q, k->code, v);
    else if (v.drop)
        v.drop(v.ptr);
    if (k->rooted)
        vow_unref(q);
    k->q = NULL;
    vow_loop_keepalive(k->from, -1);
    link_unref(k);
    if (am)
        vow__group_busy(g, -1);
}

static void reply_msg_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    (void)m;
    reply_apply(vow__container_of(msg, struct link, m_reply));
}

static void reply_post_run(vow_loop *l, void *arg)
{
    (void)l;
    reply_apply(arg);
}

/*
 * A: q's abort hook (vow_cancel, or, for a call, its last reference dropped while
 * pending: then q goes away after this returns, and the link forgets it). Unless B
 * has already replied, B is asked to withdraw.
 */
static void q_on_cancel(void *ctx, vow *q)
{
    struct link *k = ctx;
    (void)q;
    if (!k->rooted)
        k->q = NULL;
    int want = ST_RUNNING;
    if (!atomic_compare_exchange_strong(&k->st, &want, ST_CANCEL))
        return;
    atomic_fetch_add(&k->refs, 1);
    vow__group_busy(k->g, 1); /* held by the B side too: the group cannot be released */
    vow__gmember_send(k->bm, &k->m_cancel);
}

/* ------------------------------------------------------------------ B side */

/* B: the B side is over (the reply was handed on). */
static void b_done(struct link *k)
{
    vow_group *g = k->g;
    atomic_fetch_sub_explicit(&k->bm->load, 1, memory_order_relaxed);
    link_unref(k);
    vow__group_busy(g, -1);
}

static void reply_post(struct link *k);

static void retry_cb(vow_immediate *im)
{
    reply_post(im->data);
}

/* B: posts the reply to a loop outside the group (open: the A side keeps it alive).
 * If the post cannot be allocated, an immediate tries again next turn. */
static void reply_post(struct link *k)
{
    if (vow_loop_post(k->from, reply_post_run, k) == 0) {
        b_done(k);
        return;
    }
    vow_immediate_init(k->bm->l, &k->retry, retry_cb);
    k->retry.data = k;
    vow_immediate_start(&k->retry);
}

static void reply_send(struct link *k, int code, vow_val v)
{
    k->code = code;
    k->val = v;
    k->bstate = B_DONE;
    /* If A asked first (CANCEL), its message still comes and finds B_DONE. */
    int want = ST_RUNNING;
    atomic_compare_exchange_strong(&k->st, &want, ST_REPLIED);
    if (k->am) {
        vow__gmember_send(k->am, &k->m_reply);
        b_done(k);
    } else {
        reply_post(k);
    }
}

/* B: p settled; the copy of its outcome goes to A. */
static void b_settled(struct link *k, int code, const vow_val *v)
{
    vow__gwork_remove(&k->work);
    vow_val out;
    bool owner;
    int r = cross_copy(k, v, &out, &owner);
    if (r < 0)
        code = r;
    vow_unref(k->d); /* the reaction keeps it until it settles */
    k->d = NULL;
    if (owner) {
        atomic_fetch_add(&k->refs, 1);
        vow__group_busy(k->g, 1);
    } else {
        vow_unref(k->p);
        k->p = NULL;
    }
    reply_send(k, code, out);
}

static vow_ret b_ok(void *ctx, const vow_val *v)
{
    b_settled(ctx, 0, v);
    return vow_ok(vow_val_none());
}

static vow_ret b_err(void *ctx, int code, const vow_val *detail)
{
    b_settled(ctx, code, detail);
    return vow_ok(vow_val_none());
}

/* B: A no longer wants the outcome (or the group stops): d is withdrawn, so p is
 * cancelled if nothing else on this loop consumes it; A gets VOW_ECANCELED. */
static void withdraw(struct link *k)
{
    vow__gwork_remove(&k->work);
    vow *d = k->d, *p = k->p;
    k->d = NULL;
    k->p = NULL;
    vow_cancel(d);
    vow_unref(d);
    vow_unref(p);
    reply_send(k, VOW_ECANCELED, vow_val_none());
}

static void work_cancel(struct vow__gwork *w)
{
    withdraw(vow__container_of(w, struct link, work));
}

/* B: runs fn and consumes what it returned. fn runs even if A cancelled meanwhile
 * (it may own arg); its vow is then withdrawn at once. */
static void start_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    struct link *k = vow__container_of(msg, struct link, m_start);
    vow *p = k->fn(m->l, k->arg);
    if (!p) {
        reply_send(k, VOW_ENOMEM, vow_val_none());
        return;
    }
    if (vow_loop_of(p) != m->l) {
        /* Not ours to touch (another loop's thread owns it): left alone. */
        reply_send(k, VOW_EINVAL, vow_val_none());
        return;
    }
    k->p = p;
    k->d = vow_then_full(vow_ref(p), b_ok, b_err, k, NULL);
    if (!k->d) {
        k->p = NULL;
        vow_unref(p);
        reply_send(k, VOW_ENOMEM, vow_val_none());
        return;
    }
    k->bstate = B_WAIT;
    k->work.cancel = work_cancel;
    vow__gwork_add(m, &k->work);
    if (m->stopped || atomic_load(&k->st) == ST_CANCEL)
        withdraw(k);
}

/* B: A's cancel. If B already replied, the reply settles nothing on A any more. */
static void cancel_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    struct link *k = vow__container_of(msg, struct link, m_cancel);
    vow_group *g = m->g;
    if (k->bstate == B_WAIT)
        withdraw(k);
    link_unref(k);
    vow__group_busy(g, -1);
}

/* ------------------------------------------------------------------ API */

static vow *cross_new(vow_group *g, int i, vow_loop *from, vow_group_fn fn, void *arg, bool rooted)
{
    if (!g || !from)
        return NULL;
    struct vow__gmember *bm = fn ? vow__gmember_pick(g, i) : NULL;
    if (!bm)
        return vow_rejected(from, VOW_EINVAL, vow_val_none());
    if (!vow__group_enter(g))
        return vow_rejected(from, VOW_ECLOSED, vow_val_none());
    /* From here the unit taken by enter is the B side's. */
    struct link *k = vow__calloc(1, sizeof(*k));
    vow *q = k ? vow_pending(from) : NULL;
    if (!q)
        goto fail;
    atomic_init(&k->st, ST_RUNNING);
    if (vow_on_cancel_named(q, q_on_cancel, k, "group call") < 0) {
        /* The hook is not there: dropping q runs nothing. */
        vow_unref(q);
        goto fail;
    }
    struct vow__gmember *am = vow__gmember_self(g);
    atomic_init(&k->refs, 2);
    k->g = g;
    k->bm = bm;
    k->am = am && am->l == from ? am : NULL;
    k->from = from;
    k->fn = fn;
    k->arg = arg;
    k->rooted = rooted;
    k->q = rooted ? vow_ref(q) : q;
    k->bstate = B_START;
    k->m_start.fn = start_run;
    k->m_cancel.fn = cancel_run;
    k->m_reply.fn = reply_msg_run;
    k->m_release.fn = release_run;
    vow_loop_keepalive(from, 1);
    tls_held++;
    if (k->am)
        vow__group_busy(g, 1); /* the A side: the reply must find its loop */
    atomic_fetch_add_explicit(&bm->load, 1, memory_order_relaxed);
    vow__gmember_send(bm, &k->m_start);
    return q;

fail:
    vow__free(k);
    vow__group_busy(g, -1);
    return NULL;
}

vow *vow_group_spawn(vow_group *g, int i, vow_loop *from, vow_group_fn fn, void *arg)
{
    return cross_new(g, i, from, fn, arg, true);
}

vow *vow_group_call(vow_group *g, int i, vow_loop *from, vow_group_fn fn, void *arg)
{
    return cross_new(g, i, from, fn, arg, false);
}
