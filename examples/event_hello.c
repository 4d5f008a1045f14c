/* SPDX-License-Identifier: MIT */
/*
 * A libvow chain inside a libevent program: a libevent timer settles a vow (and wakes
 * the adapter, as libevent 2.1 requires), a then handler prints, and
 * event_base_dispatch() returns by itself once both loops are idle.
 */
#include <stdio.h>

#include <vow.h>
#include <vow/event.h>

struct app {
    vow_loop *l; /* the embedded loop */
    vow *p;      /* settled by the libevent timer */
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    (void)fd;
    (void)what;
    vow_resolve(a->p, vow_val_ptr((void *)"libevent", NULL));
    vow_event_wake(a->l); /* libevent 2.1 has no check hook: say work was queued */
}

static vow_ret greet(void *ctx, const vow_val *v)
{
    (void)ctx;
    printf("hello from libvow inside %s\n", (const char *)v->ptr);
    return vow_ok(vow_val_none());
}

int main(void)
{
    struct event_base *base = event_base_new();
    struct app a = { vow_loop_new(), NULL };
    if (!base || !a.l || vow_event_attach(a.l, base) != 0)
        return 1;
    a.p = vow_pending(a.l);
    vow *done = vow_then(vow_ref(a.p), greet, NULL, NULL);
    struct event *t = evtimer_new(base, on_timer, &a);
    struct timeval tv = { 0, 10000 };
    evtimer_add(t, &tv);
    event_base_dispatch(base);
    int ok = done && vow_state(done) == VOW_FULFILLED;
    vow_unref(done);
    vow_unref(a.p);
    event_free(t);
    vow_event_detach(a.l);
    event_base_free(base);
    return ok && vow_loop_close(a.l) == 0 ? 0 : 1;
}
