/* SPDX-License-Identifier: MIT */
/*
 * The adapter scenarios on libuv: uv_run() must return by itself once both loops are
 * idle, and every adapter handle must be closed before uv_loop_close().
 */
#include "scenarios.h"

#include "vow/uv.h"

struct host {
    uv_loop_t loop; /* the host loop under test */
};

/* A one-shot host timer or readable watcher that frees itself once closed. */
struct once {
    union {
        uv_handle_t handle;
        uv_timer_t timer;
        uv_poll_t poll;
        uv_idle_t idle;
    };
    void (*cb)(void *arg); /* the scenario's callback */
    void *arg;             /* its argument */
    int dup;               /* readable(): the fd watched, a duplicate, or -1 */
};

static struct host *uv_create(void)
{
    struct host *h = vow_malloc(sizeof(*h));
    if (h && uv_loop_init(&h->loop) != 0) {
        vow_free(h);
        h = NULL;
    }
    return h;
}

static void uv_destroy(struct host *h)
{
    /* Runs the close callbacks of a detach that happened after the last run. */
    assert_int_equal(uv_run(&h->loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    vow_free(h);
}

static int uv_attach(vow_loop *l, struct host *h)
{
    return vow_uv_attach(l, h ? &h->loop : NULL);
}

static void uv_run_host(struct host *h, const int *done)
{
    (void)done;
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

static void once_closed(uv_handle_t *handle)
{
    struct once *o = handle->data;
    if (o->dup >= 0)
        close(o->dup);
    vow_free(o);
}

static void once_fire(struct once *o)
{
    o->cb(o->arg);
    uv_close(&o->handle, once_closed);
}

static void once_timer(uv_timer_t *t)
{
    once_fire(t->data);
}

static void once_poll(uv_poll_t *p, int status, int events)
{
    assert_int_equal(status, 0);
    assert_true(events & UV_READABLE);
    once_fire(p->data);
}

static void once_idle(uv_idle_t *i)
{
    uv_idle_stop(i);
    once_fire(i->data);
}

static struct once *once_new(void (*cb)(void *), void *arg)
{
    struct once *o = vow_malloc(sizeof(*o));
    assert_non_null(o);
    o->cb = cb;
    o->arg = arg;
    o->dup = -1;
    o->handle.data = o;
    return o;
}

static void uv_host_timer(struct host *h, uint64_t ms, void (*cb)(void *), void *arg)
{
    struct once *o = once_new(cb, arg);
    assert_int_equal(uv_timer_init(&h->loop, &o->timer), 0);
    o->timer.data = o;
    assert_int_equal(uv_timer_start(&o->timer, once_timer, ms, 0), 0);
}

static void uv_host_readable(struct host *h, int fd, void (*cb)(void *), void *arg)
{
    struct once *o = once_new(cb, arg);
    /* libuv refuses a second poll handle on an fd whose first one is still closing
     * (closes are asynchronous): each watcher gets a duplicate, so a callback may
     * re-arm a watcher on the same fd. */
    o->dup = dup(fd);
    assert_true(o->dup >= 0);
    assert_int_equal(uv_poll_init(&h->loop, &o->poll, o->dup), 0);
    o->poll.data = o;
    assert_int_equal(uv_poll_start(&o->poll, UV_READABLE, once_poll), 0);
}

static void uv_host_idle(struct host *h, void (*cb)(void *), void *arg)
{
    struct once *o = once_new(cb, arg);
    assert_int_equal(uv_idle_init(&h->loop, &o->idle), 0);
    o->idle.data = o;
    assert_int_equal(uv_idle_start(&o->idle, once_idle), 0);
}

static const struct host_ops uv_ops = {
    .name = "adapters-uv",
    .create = uv_create,
    .destroy = uv_destroy,
    .attach = uv_attach,
    .detach = vow_uv_detach,
    .run = uv_run_host,
    .timer = uv_host_timer,
    .readable = uv_host_readable,
    .idle = uv_host_idle,
};

int main(void)
{
    return run_scenarios(&uv_ops);
}
