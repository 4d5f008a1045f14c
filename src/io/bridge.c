/* SPDX-License-Identifier: MIT */
/*
 * Callback bridges: vow_notify turns a vow's settlement into one plain callback, and
 * the embedding registry records which host loop (if any) drives each libvow loop.
 * Only the public vow API is used here, so the bridge behaves like user code would.
 */
#include "io_int.h"

#include "vow/bridge.h"

#include <pthread.h>
#include <string.h>

/* ---------------------------------------------------------------- notify */

struct notify {
    vow_notify_fn cb; /* the user's callback */
    void *user_data;  /* its argument */
};

static vow_ret notify_ok(void *ctx, const vow_val *v)
{
    struct notify *n = ctx;
    n->cb(n->user_data, 0, v);
    return vow_ok(vow_val_none());
}

/*
 * The derived vow fulfils even after a rejection: the callback has handled it, and a
 * rejected derived vow nobody holds would be reported as unhandled.
 */
static vow_ret notify_err(void *ctx, int code, const vow_val *detail)
{
    struct notify *n = ctx;
    n->cb(n->user_data, code, detail);
    return vow_ok(vow_val_none());
}

int vow_notify(vow *p, vow_notify_fn cb, void *user_data)
{
    if (!p)
        return VOW_EINVAL;
    if (!cb) {
        vow_unref(p);
        return VOW_EINVAL;
    }
    struct notify *n = vow__malloc(sizeof(*n));
    if (!n) {
        vow_unref(p);
        return VOW_ENOMEM;
    }
    n->cb = cb;
    n->user_data = user_data;
    /* The reaction keeps its source alive, so the derived vow can be let go at once. */
    vow *d = vow_then_full(p, notify_ok, notify_err, n, vow__free);
    if (!d)
        return VOW_ENOMEM;
    vow_unref(d);
    return 0;
}

/* -------------------------------------------------------------- registry */

/*
 * A short list: it changes only on attach and detach, and a process embeds few loops,
 * so a linear scan under one mutex is all it needs.
 */
struct embed {
    struct embed *next;  /* next claim */
    const vow_loop *loop; /* the claimed loop */
    const char *host;    /* the adapter's name (a string literal of the adapter) */
    void *state;         /* the adapter's per-loop data */
};

static pthread_mutex_t embed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct embed *embed_list;

static struct embed **embed_find(const vow_loop *l)
{
    struct embed **e = &embed_list;
    while (*e && (*e)->loop != l)
        e = &(*e)->next;
    return e;
}

int vow_embed_claim(vow_loop *l, const char *host, void *state)
{
    vow__check(l && host, VOW_EINVAL);
    /* Allocated before locking so the allocator never runs under the registry lock. */
    struct embed *n = vow__malloc(sizeof(*n));
    if (!n)
        return VOW_ENOMEM;
    n->loop = l;
    n->host = host;
    n->state = state;
    pthread_mutex_lock(&embed_lock);
    struct embed **e = embed_find(l);
    int r = 0;
    if (*e) {
        r = VOW_EBUSY;
    } else {
        n->next = NULL;
        *e = n;
        n = NULL;
    }
    pthread_mutex_unlock(&embed_lock);
    vow__free(n);
    return r;
}

void *vow_embed_state(const vow_loop *l, const char *host)
{
    if (!l || !host)
        return NULL;
    pthread_mutex_lock(&embed_lock);
    struct embed *e = *embed_find(l);
    void *state = e && strcmp(e->host, host) == 0 ? e->state : NULL;
    pthread_mutex_unlock(&embed_lock);
    return state;
}

int vow_embed_release(vow_loop *l, const char *host)
{
    vow__check(l && host, VOW_EINVAL);
    pthread_mutex_lock(&embed_lock);
    struct embed **e = embed_find(l);
    struct embed *gone = NULL;
    if (*e && strcmp((*e)->host, host) == 0) {
        gone = *e;
        *e = gone->next;
    }
    pthread_mutex_unlock(&embed_lock);
    if (!gone)
        return VOW_EINVAL;
    vow__free(gone);
    return 0;
}
