/* SPDX-License-Identifier: MIT */
/*
 * libev host adapter: an ev_io on the libvow backend fd, an ev_timer on its deadline,
 * and ev_prepare/ev_check hooks that run what libev callbacks queued. Uses only the
 * public libvow API. libev counts liveness per loop, not per watcher, so every
 * start/stop below is paired with the matching ev_unref/ev_ref.
 */
#include "vow/ev.h"

#include <stdbool.h>
#include <string.h>

#include "vow/bridge.h"

static const char host_name[] = "ev";

struct adapter {
    vow_loop *loop;       /* the embedded loop */
    struct ev_loop *host; /* the libev loop driving it */
    ev_io io;             /* readable when the libvow backend has events */
    ev_timer timer;       /* fires at the libvow backend deadline */
    ev_prepare prepare;   /* runs just before libev blocks: drain, then re-arm the timer */
    ev_check check;       /* runs just after libev polled: drain what callbacks queued */
    int depth;            /* adapter callbacks on the stack (detach defers the free) */
    bool held;            /* the adapter holds one ev_ref for the libvow loop's liveness */
    bool detached;        /* detach ran: never touch loop or host again */
};

/* The libvow deadline: -1 when the loop is idle (backend timeout says 0 then). */
static int deadline(const struct adapter *a)
{
    return vow_loop_alive(a->loop) ? vow_loop_backend_timeout(a->loop) : -1;
}

static void run(struct adapter *a)
{
    if (!a->detached)
        vow_loop_run(a->loop, VOW_RUN_NOWAIT);
}

/* A detach from inside a vow handler run by one of our callbacks lands here. */
static void leave(struct adapter *a)
{
    if (--a->depth == 0 && a->detached)
        vow_free(a);
}

static void keepalive(struct adapter *a)
{
    bool alive = vow_loop_alive(a->loop);
    if (alive && !a->held)
        ev_ref(a->host);
    else if (!alive && a->held)
        ev_unref(a->host);
    a->held = alive;
}

static void timer_stop(struct adapter *a)
{
    if (ev_is_active(&a->timer)) {
        ev_ref(a->host);
        ev_timer_stop(a->host, &a->timer);
    }
}

static void on_io(struct ev_loop *h, ev_io *w, int revents)
{
    struct adapter *a = w->data;
    (void)h;
    (void)revents;
    a->depth++;
    run(a);
    leave(a);
}

static void on_timer(struct ev_loop *h, ev_timer *w, int revents)
{
    struct adapter *a = w->data;
    (void)revents;
    /* libev stopped the one-shot timer, dropping a count that ev_unref already took. */
    ev_ref(h);
    a->depth++;
    run(a);
    leave(a);
}

/*
 * The last hook before libev computes its blocking time: what a libev timer or idle
 * callback queued runs now, then the timer follows the fresh deadline, measured from
 * a fresh ev_now so it does not fire early by the length of this iteration.
 */
static void on_prepare(struct ev_loop *h, ev_prepare *w, int revents)
{
    struct adapter *a = w->data;
    (void)revents;
    a->depth++;
    if (!a->detached && deadline(a) == 0)
        run(a);
    if (!a->detached) {
        timer_stop(a);
        int t = deadline(a);
        if (t >= 0) {
            ev_now_update(h);
            ev_timer_set(&a->timer, t / 1000.0, 0.0);
            ev_timer_start(h, &a->timer);
            ev_unref(h);
        }
        keepalive(a);
    }
    leave(a);
}

/* Right after I/O callbacks, and the last hook before libev decides whether to go on. */
static void on_check(struct ev_loop *h, ev_check *w, int revents)
{
    struct adapter *a = w->data;
    (void)h;
    (void)revents;
    a->depth++;
    if (!a->detached && deadline(a) == 0)
        run(a);
    if (!a->detached)
        keepalive(a);
    leave(a);
}

int vow_ev_attach(vow_loop *l, struct ev_loop *h)
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
    a->host = h;
    int r = vow_embed_claim(l, host_name, a);
    if (r < 0) {
        vow_free(a);
        return r;
    }
    ev_io_init(&a->io, on_io, fd, EV_READ);
    ev_init(&a->timer, on_timer);
    ev_prepare_init(&a->prepare, on_prepare);
    ev_check_init(&a->check, on_check);
    a->io.data = a->timer.data = a->prepare.data = a->check.data = a;
    /*
     * libev invokes the pending watchers of one priority newest first, and queues the
     * check watchers after the timers and I/O of the iteration: at the default
     * priority our check would run before the host callbacks it is meant to follow.
     */
    ev_set_priority(&a->prepare, EV_MINPRI);
    ev_set_priority(&a->check, EV_MINPRI);
    ev_io_start(h, &a->io);
    ev_unref(h);
    ev_prepare_start(h, &a->prepare);
    ev_unref(h);
    ev_check_start(h, &a->check);
    ev_unref(h);
    /* Held until the first iteration re-checks: see the header. */
    ev_ref(h);
    a->held = true;
    return 0;
}

int vow_ev_detach(vow_loop *l)
{
    struct adapter *a = vow_embed_state(l, host_name);
    if (!a)
        return VOW_EINVAL;
    vow_embed_release(l, host_name);
    struct ev_loop *h = a->host;
    timer_stop(a);
    ev_ref(h);
    ev_io_stop(h, &a->io);
    ev_ref(h);
    ev_prepare_stop(h, &a->prepare);
    ev_ref(h);
    ev_check_stop(h, &a->check);
    if (a->held)
        ev_unref(h);
    a->detached = true;
    if (a->depth == 0)
        vow_free(a);
    return 0;
}
