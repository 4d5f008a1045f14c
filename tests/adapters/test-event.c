/* SPDX-License-Identifier: MIT */
/*
 * The adapter scenarios on libevent 2: event_base_dispatch() must return by itself
 * once both loops are idle. libevent 2.1 has no check hook, so the host callbacks
 * here end with vow_event_wake(), as the adapter's documentation requires.
 */
#include "scenarios.h"

#include "vow/event.h"

struct host {
    struct event_base *base; /* the host loop under test */
    vow_loop *l;             /* the loop attached last, woken after host callbacks */
};

/* A one-shot host timer or readable watcher that frees itself after firing. */
struct once {
    struct host *h;        /* its host */
    struct event *ev;      /* the libevent event */
    void (*cb)(void *arg); /* the scenario's callback */
    void *arg;             /* its argument */
};

static struct host *event_create(void)
{
    struct host *h = vow_malloc(sizeof(*h));
    if (!h)
        return NULL;
    h->l = NULL;
    h->base = event_base_new();
    if (!h->base) {
        vow_free(h);
        return NULL;
    }
    return h;
}

static void event_destroy(struct host *h)
{
    assert_int_equal(event_base_get_num_events(h->base, EVENT_BASE_COUNT_ADDED |
                                                            EVENT_BASE_COUNT_ACTIVE),
                     0);
    event_base_free(h->base);
    vow_free(h);
}

static int event_attach(vow_loop *l, struct host *h)
{
    int r = vow_event_attach(l, h ? h->base : NULL);
    if (r == 0)
        h->l = l;
    return r;
}

static void event_run_host(struct host *h, const int *done)
{
    (void)done;
    assert_int_equal(event_base_dispatch(h->base), 1); /* 1: no events left */
}

static void once_fire(evutil_socket_t fd, short what, void *arg)
{
    struct once *o = arg;
    (void)fd;
    (void)what;
    struct host *h = o->h;
    o->cb(o->arg);
    event_free(o->ev);
    vow_free(o);
    /* The loop may have been detached by the callback: then this is VOW_EINVAL. */
    if (h->l)
        vow_event_wake(h->l);
}

static void once_start(struct host *h, int fd, short what, const struct timeval *tv,
                       void (*cb)(void *), void *arg)
{
    struct once *o = vow_malloc(sizeof(*o));
    assert_non_null(o);
    o->h = h;
    o->cb = cb;
    o->arg = arg;
    o->ev = event_new(h->base, fd, what, once_fire, o);
    assert_non_null(o->ev);
    assert_int_equal(event_add(o->ev, tv), 0);
}

static void event_host_timer(struct host *h, uint64_t ms, void (*cb)(void *), void *arg)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    once_start(h, -1, 0, &tv, cb, arg);
}

static void event_host_readable(struct host *h, int fd, void (*cb)(void *), void *arg)
{
    once_start(h, fd, EV_READ, NULL, cb, arg);
}

/* libevent has no idle watcher: a zero timeout runs at the next iteration. */
static void event_host_idle(struct host *h, void (*cb)(void *), void *arg)
{
    struct timeval tv = { 0, 0 };
    once_start(h, -1, 0, &tv, cb, arg);
}

static const struct host_ops event_ops = {
    .name = "adapters-event",
    .create = event_create,
    .destroy = event_destroy,
    .attach = event_attach,
    .detach = vow_event_detach,
    .run = event_run_host,
    .timer = event_host_timer,
    .readable = event_host_readable,
    .idle = event_host_idle,
};

int main(void)
{
    return run_scenarios(&event_ops);
}
