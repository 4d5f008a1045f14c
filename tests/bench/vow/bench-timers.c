/* SPDX-License-Identifier: MIT */
/*
 * Workload "timers": N vow_delay with delays of 0..10 ms (i % 11), all awaited with one
 * vow_all, checked and released. Measures timer vows end to end, so a run lasts at
 * least 10 ms of loop time. Peers: libuv's uv_timer (bench-uv-timers.c) and Node's
 * setTimeout wrapped in promises (promise.js timers).
 */
#include "bench.h"

#include <vow.h>

static void timers(void *ctx, long n)
{
    vow_loop *l = ctx;
    vow **ps = malloc((size_t)n * sizeof(*ps));
    if (!ps)
        bench_fail("timers", "malloc");
    uint64_t start = vow_loop_now(l);
    for (long i = 0; i < n; i++) {
        ps[i] = vow_delay(l, (uint64_t)(i % 11), vow_val_num(1));
        if (!ps[i])
            bench_fail("timers", "vow_delay: out of memory");
    }
    vow *all = vow_all(l, ps, (size_t)n);
    if (!all)
        bench_fail("timers", "vow_all: out of memory");
    int r = vow_loop_run(l, VOW_RUN_DEFAULT);
    if (r < 0)
        bench_fail("timers", vow_strerror(r));
    const vow_list *list = vow_state(all) == VOW_FULFILLED ? vow_list_get(vow_value(all)) : NULL;
    if (!list || list->n != (size_t)n)
        bench_fail("timers", "vow_all did not fulfil with N items");
    long count = 0;
    for (size_t i = 0; i < list->n; i++)
        if (vow_state(list->items[i]) == VOW_FULFILLED)
            count += (long)vow_value(list->items[i])->num;
    if (count != n)
        bench_fail("timers", "not every delay fulfilled");
    /* The longest delay is 10 ms: finishing earlier on the loop clock means one fired early. */
    if (n > 10 && vow_loop_now(l) - start < 10)
        bench_fail("timers", "finished before the longest deadline");
    vow_unref(all);
    free(ps);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 200000);
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("timers", "vow_loop_new");
    bench_run("timers", "libvow", n, timers, l);
    if (vow_loop_close(l) != 0)
        bench_fail("timers", "vow_loop_close");
    return 0;
}
