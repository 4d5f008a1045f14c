/* SPDX-License-Identifier: MIT */
/*
 * Settling a vow from another thread: the remote is made on the loop's thread (it
 * holds the vow and keeps the loop alive), filled in on any thread, and carried to
 * the loop by vow_loop_post, the reactor's one thread-safe call.
 */
#include "vow_int.h"

struct vow_remote {
    vow *p;        /* held until the settlement runs on the loop */
    int code;      /* 0: fulfil with v; < 0: reject */
    vow_val v;     /* value or detail, owned until applied */
};

vow_remote *vow_remote_new(vow *p)
{
    if (!p)
        return NULL;
    vow_remote *r = vow__malloc(sizeof(*r));
    if (!r)
        return NULL;
    if (vow_loop_keepalive(p->loop, 1) < 0) {
        vow__free(r);
        return NULL;
    }
    r->p = vow_ref(p);
    r->code = 0;
    r->v = vow_val_none();
    return r;
}

static void remote_run(vow_loop *l, void *arg)
{
    vow_remote *r = arg;
    if (r->code < 0)
        vow_reject(r->p, r->code, r->v);
    else
        vow_resolve(r->p, r->v);
    vow_unref(r->p);
    vow__free(r);
    vow_loop_keepalive(l, -1);
}

static int remote_post(vow_remote *r, int code, vow_val v)
{
    vow__check(r, VOW_EINVAL);
    r->code = code;
    r->v = v;
    return vow_loop_post(r->p->loop, remote_run, r);
}

int vow_remote_resolve(vow_remote *r, vow_val v)
{
    return remote_post(r, 0, v);
}

int vow_remote_reject(vow_remote *r, int code, vow_val detail)
{
    vow__check(code < 0, VOW_EINVAL);
    return remote_post(r, code, detail);
}
