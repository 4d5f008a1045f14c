/* SPDX-License-Identifier: MIT */
/*
 * A libvow chain inside a libev program: vow_delay fulfils on the libvow clock, a then
 * handler prints, and ev_run() returns by itself once both loops are idle.
 */
#include <stdio.h>

#include <vow.h>
#include <vow/ev.h>

static vow_ret greet(void *ctx, const vow_val *v)
{
    (void)ctx;
    printf("hello from libvow inside %s\n", (const char *)v->ptr);
    return vow_ok(vow_val_none());
}

int main(void)
{
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
    vow_loop *l = vow_loop_new();
    if (!ev || !l || vow_ev_attach(l, ev) != 0)
        return 1;
    vow *p = vow_then(vow_delay(l, 10, vow_val_ptr((void *)"libev", NULL)), greet, NULL, NULL);
    ev_run(ev, 0);
    int ok = p && vow_state(p) == VOW_FULFILLED;
    vow_unref(p);
    vow_ev_detach(l);
    ev_loop_destroy(ev);
    return ok && vow_loop_close(l) == 0 ? 0 : 1;
}
