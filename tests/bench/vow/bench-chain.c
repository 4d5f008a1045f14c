/* SPDX-License-Identifier: MIT */
/*
 * Workload "chain": one resolved vow followed by N sequential vow_then steps that each
 * add one, then the loop drains them and the last vow is released. Measures the cost
 * of a reaction: attach, settle, queue and run one handler. The cold run (the first in
 * the process) also pays for faulting in the slab memory. Peer: Node's
 * p = p.then(x => x + 1) (promise.js chain_then).
 */
#include "bench.h"

#include <vow.h>

static vow_ret add1(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static void chain(void *ctx, long n)
{
    vow_loop *l = ctx;
    vow *p = vow_resolved(l, vow_val_num(0));
    if (!p)
        bench_fail("chain", "vow_resolved: out of memory");
    for (long i = 0; i < n; i++) {
        p = vow_then(p, add1, NULL, NULL);
        if (!p)
            bench_fail("chain", "vow_then: out of memory");
    }
    int r = vow_loop_run(l, VOW_RUN_DEFAULT);
    if (r < 0)
        bench_fail("chain", vow_strerror(r));
    if (vow_state(p) != VOW_FULFILLED || vow_value(p)->num != n)
        bench_fail("chain", "the final value is not N");
    vow_unref(p);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("chain", "vow_loop_new");
    bench_run("chain", "libvow", n, chain, l);
    if (vow_loop_close(l) != 0)
        bench_fail("chain", "vow_loop_close");
    return 0;
}
