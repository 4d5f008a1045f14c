/* SPDX-License-Identifier: MIT */
/*
 * A libvow chain inside a libuv program: vow_delay fulfils on the libvow clock, a then
 * handler prints, and uv_run() returns by itself once both loops are idle.
 */
#include <stdio.h>

#include <vow.h>
#include <vow/uv.h>

static vow_ret greet(void *ctx, const vow_val *v)
{
    (void)ctx;
    printf("hello from libvow inside %s\n", (const char *)v->ptr);
    return vow_ok(vow_val_none());
}

int main(void)
{
    uv_loop_t uv;
    vow_loop *l = vow_loop_new();
    if (!l || uv_loop_init(&uv) != 0 || vow_uv_attach(l, &uv) != 0)
        return 1;
    vow *p = vow_then(vow_delay(l, 10, vow_val_ptr((void *)"libuv", NULL)), greet, NULL, NULL);
    uv_run(&uv, UV_RUN_DEFAULT);
    int ok = p && vow_state(p) == VOW_FULFILLED;
    vow_unref(p);
    vow_uv_detach(l);
    uv_run(&uv, UV_RUN_NOWAIT); /* runs the adapter's close callbacks */
    return ok && uv_loop_close(&uv) == 0 && vow_loop_close(l) == 0 ? 0 : 1;
}
