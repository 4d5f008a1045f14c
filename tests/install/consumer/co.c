/* SPDX-License-Identifier: MIT */
/*
 * A coroutine program built against an installed libvow with `pkg-config vow-co`: the
 * coroutine awaits a delay and a chain on it, and returns their sum.
 * Exits 0 if the coroutine's vow fulfilled with 42 and the loop closed clean.
 */
#include <stdio.h>

#include <vow.h>
#include <vow/co.h>

static vow_ret add1(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static vow_ret body(void *arg)
{
    vow_loop *l = arg;
    vow *d = vow_then(vow_delay(l, 1, vow_val_num(40)), add1, NULL, NULL);
    int rc = d ? vow_await(d) : VOW_ENOMEM;
    int64_t n = rc == 0 ? vow_value(d)->num : 0;
    vow_unref(d);
    if (rc != 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num(n + 1));
}

int main(void)
{
    vow_loop *l = vow_loop_new();
    if (!l)
        return 1;
    vow *c = vow_co_spawn(l, body, l, NULL);
    if (!c || vow_loop_run(l, VOW_RUN_DEFAULT) < 0)
        return 1;
    int ok = vow_state(c) == VOW_FULFILLED && vow_value(c)->num == 42;
    vow_unref(c);
    int closed = vow_loop_close(l);
    printf("co: %s (%s), close %d\n", ok ? "42" : "wrong result", vow_co_switch_name(), closed);
    return ok && closed == 0 ? 0 : 1;
}
