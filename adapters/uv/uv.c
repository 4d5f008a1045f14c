/* SPDX-License-Identifier: MIT */
/*
 * libuv host adapter: a uv_poll_t on the libvow backend fd, a uv_timer_t on its
 * deadline, and uv_prepare_t/uv_check_t hooks that run what uv callbacks queued.
 * Uses only the public libvow API; libuv's asynchronous close decides the lifetime.
 */
#include "vow/uv.h"

#include <stdbool.h>
#include <string.h>

#include "vow/bridge.h"

static const char host_name[] = "uv";

struct adapter {
    vow_loop *loop;       /* the embedded loop */
    uv_poll_t poll;       /* readable when the libvow backend has events */
    uv_timer_t timer;     /* fires at the libvow backend deadline */
    uv_prepare_t prepare; /* runs just before uv blocks: drain, then re-arm the timer */
    uv_check_t check;     /* runs just after uv polled: drain what uv callbacks queued */
    int open;             /* handles whose close callback has not run yet */
    bool detached;        /* detach ran: never touch loop again, wait for the closes */
};

/*
 * The libvow deadline: -1 when the loop is idle (vow_loop_backend_timeout() says 0
 * then, meaning "do not block", which a host timer would turn into a busy loop).
 */
static int deadline(const struct adapter *a)
{
    return vow_loop_alive(a->loop) ? vow_loop_backend_timeout(a->loop) : -1;
}

/* Work is ready now: queued microtasks, expired timers or pending immediates. */
static bool ready(const struct adapter *a)
{
    return !a->detached && deadline(a) == 0;
}

/* A vow handler run here may detach the adapter; the memory stays valid until the
 * close callbacks, so callers only need to re-check detached afterwards. */
static void run(struct adapter *a)
{
    if (!a->detached)
        vow_loop_run(a->loop, VOW_RUN_NOWAIT);
}

/*
 * Keeps uv_run() alive exactly while the libvow loop is: only the poll handle carries
 * a reference, since the libvow loop needs the fd watched whenever it is alive, and
 * the timer's deadline still shortens uv's poll timeout while it is unreferenced.
 */
static void keepalive(struct adapter *a)
{
    if (vow_loop_alive(a->loop))
        uv_ref((uv_handle_t *)&a->poll);
    else
        uv_unref((uv_handle_t *)&a->poll);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    /* An error on the fd is the libvow backend's to report: it polls it itself. */
    (void)status;
    (void)events;
    run(p->data);
}

/*
 * The last hook before uv computes its poll timeout: anything a uv timer, idle or
 * pending callback queued runs now, then the timer follows the fresh deadline. The
 * timer is only armed here, never from its own callback, because libuv runs a timer
 * re-armed at 0 from a timer callback again in the same pass.
 */
static void on_prepare(uv_prepare_t *pr)
{
    struct adapter *a = pr->data;
    if (ready(a))
        run(a);
    if (a->detached)
        return;
    int t = deadline(a);
    if (t < 0) {
        uv_timer_stop(&a->timer);
    } else {
        uv_update_time(a->timer.loop);
        uv_timer_start(&a->timer, on_timer, (uint64_t)t, 0);
    }
    keepalive(a);
}

/* Right after I/O callbacks, and the last hook before uv decides whether to go on. */
static void on_check(uv_check_t *c)
{
    struct adapter *a = c->data;
    if (ready(a))
        run(a);
    if (!a->detached)
        keepalive(a);
}

static void on_close(uv_handle_t *h)
{
    struct adapter *a = h->data;
    if (--a->open == 0)
        vow_free(a);
}

/* Starts the asynchronous close of every initialised handle. */
static void close_all(struct adapter *a)
{
    a->detached = true;
    uv_handle_t *hs[] = { (uv_handle_t *)&a->poll, (uv_handle_t *)&a->timer,
                          (uv_handle_t *)&a->prepare, (uv_handle_t *)&a->check };
    a->open = 4;
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        uv_close(hs[i], on_close);
}

int vow_uv_attach(vow_loop *l, uv_loop_t *h)
{
    if (!l || !h)
        return VOW_EINVAL;
    int fd = vow_loop_backend_fd(l);
    if (fd < 0)
        return fd;
    struct adapter *a = vow_malloc(sizeof(*a));
    if (!a)
        return VOW_ENOMEM;
    memset(a, 0, sizeof(*a));
    a->loop = l;
    int r = vow_embed_claim(l, host_name, a);
    if (r < 0)
        goto err_free;
    r = uv_poll_init(h, &a->poll, fd);
    if (r < 0)
        goto err_release;
    uv_timer_init(h, &a->timer);
    uv_prepare_init(h, &a->prepare);
    uv_check_init(h, &a->check);
    a->poll.data = a->timer.data = a->prepare.data = a->check.data = a;
    r = uv_poll_start(&a->poll, UV_READABLE, on_poll);
    if (r < 0)
        goto err_close;
    uv_prepare_start(&a->prepare, on_prepare);
    uv_check_start(&a->check, on_check);
    uv_unref((uv_handle_t *)&a->timer);
    uv_unref((uv_handle_t *)&a->prepare);
    uv_unref((uv_handle_t *)&a->check);
    /*
     * The poll handle stays referenced until the first uv iteration re-checks, so work
     * the caller adds between attach and uv_run() is not missed by uv_run's first
     * liveness test.
     */
    return 0;

err_close:
    vow_embed_release(l, host_name);
    close_all(a);
    return r;
err_release:
    vow_embed_release(l, host_name);
err_free:
    vow_free(a);
    return r;
}

int vow_uv_detach(vow_loop *l)
{
    struct adapter *a = vow_embed_state(l, host_name);
    if (!a)
        return VOW_EINVAL;
    vow_embed_release(l, host_name);
    close_all(a);
    return 0;
}
