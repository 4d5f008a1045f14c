/* SPDX-License-Identifier: MIT */
/*
 * The adapter scenarios on libev: ev_run() must return by itself once both loops are
 * idle, so the adapter's reference counting has to balance exactly.
 */
#include "scenarios.h"

#include "vow/ev.h"

struct host {
    struct ev_loop *loop; /* the host loop under test */
};

/* A one-shot host timer or readable watcher that frees itself after firing. */
struct once {
    ev_timer timer;        /* used by timer() */
    ev_io io;              /* used by readable() */
    ev_idle idle;          /* used by idle() */
    void (*cb)(void *arg); /* the scenario's callback */
    void *arg;             /* its argument */
};

static struct host *ev_create(void)
{
    struct host *h = vow_malloc(sizeof(*h));
    if (!h)
        return NULL;
    h->loop = ev_loop_new(EVFLAG_AUTO);
    if (!h->loop) {
        vow_free(h);
        return NULL;
    }
    return h;
}

static void ev_destroy(struct host *h)
{
    /* Nothing may be left active: a run returns at once without calling anything. */
    unsigned before = ev_iteration(h->loop);
    ev_run(h->loop, 0);
    assert_int_equal(ev_iteration(h->loop), before + 1);
    ev_loop_destroy(h->loop);
    vow_free(h);
}

static int ev_attach(vow_loop *l, struct host *h)
{
    return vow_ev_attach(l, h ? h->loop : NULL);
}

static void ev_run_host(struct host *h, const int *done)
{
    (void)done;
    ev_run(h->loop, 0);
}

static void once_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct once *o = w->data;
    (void)loop;
    assert_true(revents & EV_TIMER);
    o->cb(o->arg);
    vow_free(o);
}

static void once_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct once *o = w->data;
    assert_true(revents & EV_READ);
    ev_io_stop(loop, w);
    o->cb(o->arg);
    vow_free(o);
}

static void once_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct once *o = w->data;
    assert_true(revents & EV_IDLE);
    ev_idle_stop(loop, w);
    o->cb(o->arg);
    vow_free(o);
}

static struct once *once_new(void (*cb)(void *), void *arg)
{
    struct once *o = vow_malloc(sizeof(*o));
    assert_non_null(o);
    o->cb = cb;
    o->arg = arg;
    o->timer.data = o->io.data = o->idle.data = o;
    return o;
}

static void ev_host_timer(struct host *h, uint64_t ms, void (*cb)(void *), void *arg)
{
    struct once *o = once_new(cb, arg);
    ev_timer_init(&o->timer, once_timer, (double)ms / 1000.0, 0.0);
    o->timer.data = o;
    ev_timer_start(h->loop, &o->timer);
}

static void ev_host_readable(struct host *h, int fd, void (*cb)(void *), void *arg)
{
    struct once *o = once_new(cb, arg);
    ev_io_init(&o->io, once_io, fd, EV_READ);
    o->io.data = o;
    ev_io_start(h->loop, &o->io);
}

static void ev_host_idle(struct host *h, void (*cb)(void *), void *arg)
{
    struct once *o = once_new(cb, arg);
    ev_idle_init(&o->idle, once_idle);
    o->idle.data = o;
    ev_idle_start(h->loop, &o->idle);
}

static const struct host_ops ev_ops = {
    .name = "adapters-ev",
    .create = ev_create,
    .destroy = ev_destroy,
    .attach = ev_attach,
    .detach = vow_ev_detach,
    .run = ev_run_host,
    .timer = ev_host_timer,
    .readable = ev_host_readable,
    .idle = ev_host_idle,
};

int main(void)
{
    return run_scenarios(&ev_ops);
}
