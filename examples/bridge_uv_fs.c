/* SPDX-License-Identifier: MIT */
/*
 * Wraps libuv's callback-style uv_fs_open/uv_fs_fstat/uv_fs_close into functions that
 * return vows, then chains them: open a file, read its size, close it. A request that
 * fails synchronously gives a rejected vow; cancelling a vow uv_cancel()s the request,
 * whose late callback then settles nothing (the first settlement wins).
 * Usage: bridge_uv_fs [path] (default /etc/passwd).
 */
#include <stdio.h>

#include <vow.h>
#include <vow/bridge.h>
#include <vow/uv.h>

/* One uv_fs request and the vow it settles; freed by its callback, which always runs. */
struct fs_req {
    uv_fs_t req; /* libuv's request */
    vow *p;      /* one reference, released in fs_done */
};

static void fs_done(uv_fs_t *req)
{
    struct fs_req *r = req->data;
    int64_t v = req->fs_type == UV_FS_FSTAT ? (int64_t)req->statbuf.st_size : req->result;
    if (req->result < 0)
        vow_reject(r->p, (int)req->result, vow_val_none()); /* VOW_ESETTLED after a cancel */
    else
        vow_resolve(r->p, vow_val_num(v));
    uv_fs_req_cleanup(req);
    vow_unref(r->p);
    vow_free(r);
}

/* The cancel hook withdraws the request; libuv still calls fs_done (UV_ECANCELED). */
static void fs_cancel(void *ctx, vow *p)
{
    struct fs_req *r = ctx;
    (void)p;
    uv_cancel((uv_req_t *)&r->req);
}

/* Steps 1 and 3 of the pattern: a pending vow and a request that holds a reference. */
static struct fs_req *fs_begin(vow_loop *l, vow **ret)
{
    *ret = vow_pending(l);
    if (!*ret)
        return NULL;
    struct fs_req *r = vow_malloc(sizeof(*r));
    if (!r) {
        vow_reject(*ret, VOW_ENOMEM, vow_val_none());
        return NULL;
    }
    r->p = vow_ref(*ret);
    r->req.data = r;
    return r;
}

/* Step 4: a synchronous failure means fs_done never runs, so settle and free here. */
static vow *fs_started(struct fs_req *r, vow *p, int rc)
{
    if (rc < 0) {
        uv_fs_req_cleanup(&r->req);
        vow_unref(r->p);
        vow_free(r);
        vow_reject(p, rc, vow_val_none());
    } else {
        vow_on_cancel(p, fs_cancel, r);
    }
    return p;
}

static vow *fs_open_vow(vow_loop *l, uv_loop_t *uv, const char *path)
{
    vow *p;
    struct fs_req *r = fs_begin(l, &p);
    return r ? fs_started(r, p, uv_fs_open(uv, &r->req, path, UV_FS_O_RDONLY, 0, fs_done)) : p;
}

static vow *fs_fstat_vow(vow_loop *l, uv_loop_t *uv, uv_file fd)
{
    vow *p;
    struct fs_req *r = fs_begin(l, &p);
    return r ? fs_started(r, p, uv_fs_fstat(uv, &r->req, fd, fs_done)) : p;
}

static vow *fs_close_vow(vow_loop *l, uv_loop_t *uv, uv_file fd)
{
    vow *p;
    struct fs_req *r = fs_begin(l, &p);
    return r ? fs_started(r, p, uv_fs_close(uv, &r->req, fd, fs_done)) : p;
}

/* The chain's state: the steps run in order, each from the microtask queue. */
struct job {
    vow_loop *l;      /* the embedded loop */
    uv_loop_t *uv;    /* the host loop */
    const char *path; /* the file */
    uv_file fd;       /* open file, or -1 */
    int64_t size;     /* its size */
};

static vow_ret opened(void *ctx, const vow_val *v)
{
    struct job *j = ctx;
    j->fd = (uv_file)v->num;
    return vow_follow(fs_fstat_vow(j->l, j->uv, j->fd));
}

static vow_ret sized(void *ctx, const vow_val *v)
{
    struct job *j = ctx;
    j->size = v->num;
    return vow_follow(fs_close_vow(j->l, j->uv, j->fd));
}

static vow_ret report(void *ctx, const vow_val *v)
{
    struct job *j = ctx;
    (void)v;
    printf("%s: %lld bytes\n", j->path, (long long)j->size);
    return vow_ok(vow_val_none());
}

static vow_ret failed(void *ctx, int code, const vow_val *detail)
{
    struct job *j = ctx;
    (void)detail;
    fprintf(stderr, "%s: %s\n", j->path, vow_strerror(code));
    return vow_fail(code, vow_val_none());
}

/* A notify callback: the outcome of a request that was cancelled right away. */
static void cancelled(void *user_data, int code, const vow_val *value)
{
    (void)value;
    *(int *)user_data = code;
}

int main(int argc, char **argv)
{
    uv_loop_t uv;
    vow_loop *l = vow_loop_new();
    if (!l || uv_loop_init(&uv) != 0 || vow_uv_attach(l, &uv) != 0)
        return 1;
    struct job j = { l, &uv, argc > 1 ? argv[1] : "/etc/passwd", -1, -1 };
    vow *p = fs_open_vow(l, &uv, j.path);
    p = vow_then(p, opened, NULL, &j);
    p = vow_then(p, sized, NULL, &j);
    p = vow_then(p, report, failed, &j);

    /* The same wrapper, cancelled at once: the vow rejects with VOW_ECANCELED now, and
     * the request's own callback (cancelled or completed) settles nothing later. */
    int code = 1;
    vow *c = fs_open_vow(l, &uv, j.path);
    vow_cancel(c);
    vow_notify(c, cancelled, &code);

    uv_run(&uv, UV_RUN_DEFAULT);
    int ok = p && vow_state(p) == VOW_FULFILLED && code == VOW_ECANCELED;
    vow_unref(p);
    vow_uv_detach(l);
    uv_run(&uv, UV_RUN_DEFAULT);
    return ok && uv_loop_close(&uv) == 0 && vow_loop_close(l) == 0 ? 0 : 1;
}
