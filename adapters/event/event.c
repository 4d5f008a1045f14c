/* SPDX-License-Identifier: MIT */
/*
 * libevent 2 host adapter: a persistent read event on the libvow backend fd, a timer
 * event on its deadline and a manually activated "wake" event that stands in for the
 * prepare/check hooks libevent 2.1 lacks. Uses only the public libvow API; the events
 * live in memory from vow_malloc (sized at run time, libevent's struct is opaque).
 */
#include "vow/event.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "vow/bridge.h"

static const char host_name[] = "event";

struct adapter {
    vow_loop *loop;         /* the embedded loop */
    struct event_base *host; /* the base driving it */
    struct event *fd_ev;    /* persistent read on the libvow backend fd */
    struct event *timer_ev; /* the libvow backend deadline */
    struct event *wake_ev;  /* activated by vow_event_wake and at attach */
    int depth;              /* adapter callbacks on the stack (detach defers the free) */
    bool fd_added;          /* fd_ev is added: the base is kept alive by it */
    bool detached;          /* detach ran: never touch loop or host again */
    alignas(max_align_t) unsigned char events[]; /* storage for the three events */
};

/*
 * Runs the libvow loop, then makes the events follow it: the fd watched and the timer
 * armed only while the loop is alive, which is all the liveness control libevent
 * offers. A deadline of 0 arms a zero timer rather than activating the wake event, so
 * libevent polls its own fds in between and a libvow loop that always has work (an
 * immediate re-queuing itself) cannot starve the host.
 */
static void step(struct adapter *a)
{
    a->depth++;
    if (!a->detached)
        vow_loop_run(a->loop, VOW_RUN_NOWAIT);
    if (!a->detached) {
        bool alive = vow_loop_alive(a->loop);
        int t = alive ? vow_loop_backend_timeout(a->loop) : -1;
        if (t < 0) {
            event_del(a->timer_ev);
        } else {
            struct timeval tv = { t / 1000, (t % 1000) * 1000 };
            event_add(a->timer_ev, &tv);
        }
        if (alive && !a->fd_added)
            a->fd_added = event_add(a->fd_ev, NULL) == 0;
        else if (!alive && a->fd_added)
            a->fd_added = event_del(a->fd_ev) != 0;
    }
    if (--a->depth == 0 && a->detached)
        vow_free(a);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    step(arg);
}

int vow_event_attach(vow_loop *l, struct event_base *h)
{
    if (!l || !h)
        return VOW_EINVAL;
    int fd = vow_loop_backend_fd(l);
    if (fd < 0)
        return fd;
    size_t esz = event_get_struct_event_size();
    esz = (esz + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t);
    struct adapter *a = vow_malloc(sizeof(*a) + 3 * esz);
    if (!a)
        return VOW_ENOMEM;
    memset(a, 0, sizeof(*a));
    a->loop = l;
    a->host = h;
    a->fd_ev = (struct event *)(void *)a->events;
    a->timer_ev = (struct event *)(void *)(a->events + esz);
    a->wake_ev = (struct event *)(void *)(a->events + 2 * esz);
    int r = VOW_EINVAL;
    if (event_assign(a->fd_ev, h, fd, EV_READ | EV_PERSIST, on_event, a) < 0 ||
        event_assign(a->timer_ev, h, -1, 0, on_event, a) < 0 ||
        event_assign(a->wake_ev, h, -1, 0, on_event, a) < 0)
        goto err_free;
    r = vow_embed_claim(l, host_name, a);
    if (r < 0)
        goto err_free;
    /* The first dispatch iteration decides what to watch: see the header. */
    event_active(a->wake_ev, 0, 0);
    return 0;

err_free:
    vow_free(a);
    return r;
}

int vow_event_wake(vow_loop *l)
{
    struct adapter *a = vow_embed_state(l, host_name);
    if (!a)
        return VOW_EINVAL;
    event_active(a->wake_ev, 0, 0);
    return 0;
}

int vow_event_detach(vow_loop *l)
{
    struct adapter *a = vow_embed_state(l, host_name);
    if (!a)
        return VOW_EINVAL;
    vow_embed_release(l, host_name);
    event_del(a->fd_ev);
    event_del(a->timer_ev);
    event_del(a->wake_ev);
    a->detached = true;
    if (a->depth == 0)
        vow_free(a);
    return 0;
}
