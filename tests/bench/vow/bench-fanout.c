/* SPDX-License-Identifier: MIT */
/*
 * Workload "fanout": N pending vows under one vow_all, each resolved with its index
 * afterwards; the loop settles the aggregate, whose list is checked and released.
 * Measures creation, the combinator's per-input reaction and the final list. Peer:
 * Node's Promise.all (promise.js fanout).
 */
#include "bench.h"

#include <vow.h>

static void fanout(void *ctx, long n)
{
    vow_loop *l = ctx;
    vow **ps = malloc((size_t)n * sizeof(*ps));
    vow **keep = malloc((size_t)n * sizeof(*keep));
    if (!ps || !keep)
        bench_fail("fanout", "malloc");
    for (long i = 0; i < n; i++) {
        ps[i] = vow_pending(l);
        if (!ps[i])
            bench_fail("fanout", "vow_pending: out of memory");
        /* vow_all consumes its inputs; the producer side keeps its own reference. */
        keep[i] = vow_ref(ps[i]);
    }
    vow *all = vow_all(l, ps, (size_t)n);
    if (!all)
        bench_fail("fanout", "vow_all: out of memory");
    for (long i = 0; i < n; i++) {
        if (vow_resolve(keep[i], vow_val_num(i)) != 0)
            bench_fail("fanout", "vow_resolve");
        vow_unref(keep[i]);
    }
    int r = vow_loop_run(l, VOW_RUN_DEFAULT);
    if (r < 0)
        bench_fail("fanout", vow_strerror(r));
    const vow_list *list = vow_state(all) == VOW_FULFILLED ? vow_list_get(vow_value(all)) : NULL;
    if (!list || list->n != (size_t)n)
        bench_fail("fanout", "vow_all did not fulfil with N items");
    int64_t sum = 0;
    for (size_t i = 0; i < list->n; i++) {
        if (vow_state(list->items[i]) != VOW_FULFILLED)
            bench_fail("fanout", "an item is not fulfilled");
        sum += vow_value(list->items[i])->num;
    }
    if (sum != (int64_t)n * (n - 1) / 2)
        bench_fail("fanout", "the sum is not N(N-1)/2");
    vow_unref(all);
    free(keep);
    free(ps);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("fanout", "vow_loop_new");
    bench_run("fanout", "libvow", n, fanout, l);
    if (vow_loop_close(l) != 0)
        bench_fail("fanout", "vow_loop_close");
    return 0;
}
