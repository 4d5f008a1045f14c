/* SPDX-License-Identifier: MIT */
/*
 * A libvow chain inside a GLib program: vow_delay fulfils on the libvow clock, a then
 * handler prints and quits the GMainLoop.
 */
#include <stdio.h>

#include <vow.h>
#include <vow/glib.h>

static vow_ret greet(void *ctx, const vow_val *v)
{
    printf("hello from libvow inside %s\n", (const char *)v->ptr);
    g_main_loop_quit(ctx);
    return vow_ok(vow_val_none());
}

int main(void)
{
    GMainContext *ctx = g_main_context_new();
    GMainLoop *ml = g_main_loop_new(ctx, FALSE);
    vow_loop *l = vow_loop_new();
    if (!l || vow_glib_attach(l, ctx) != 0)
        return 1;
    vow *p = vow_then(vow_delay(l, 10, vow_val_ptr((void *)"GLib", NULL)), greet, NULL, ml);
    g_main_loop_run(ml);
    int ok = p && vow_state(p) == VOW_FULFILLED;
    vow_unref(p);
    vow_glib_detach(l);
    g_main_loop_unref(ml);
    g_main_context_unref(ctx);
    return ok && vow_loop_close(l) == 0 ? 0 : 1;
}
