/* SPDX-License-Identifier: MIT */
/*
 * Workload "turn": N timers (timeouts i % 11 ms) and N callbacks posted through
 * vow_loop_post, all run by one vow_loop_run. ops = 2N callbacks. Peer: bench-uv-turn.
 */
#include "../vow/benchutil.h"

#include <vow.h>

static long timers_fired, posts_run;

static void on_timer(vow_timer *t)
{
    timers_fired++;
}

static void on_post(vow_loop *l, void *arg)
{
    posts_run += (long)(intptr_t)arg;
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 500000);
    vow_timer *ts = malloc((size_t)n * sizeof(*ts));
    vow_loop *l = vow_loop_new();
    if (!ts || !l)
        bench_fail("turn", "setup");

    double t0 = bench_now();
    uint64_t start = vow_loop_now(l);
    for (long i = 0; i < n; i++) {
        if (vow_timer_init(l, &ts[i], on_timer) != 0 ||
            vow_timer_start(&ts[i], (uint64_t)(i % 11), 0) != 0)
            bench_fail("turn", "vow_timer_start");
        if (vow_loop_post(l, on_post, (void *)(intptr_t)1) != 0)
            bench_fail("turn", "vow_loop_post");
    }
    if (vow_loop_run(l, VOW_RUN_DEFAULT) != 0)
        bench_fail("turn", "vow_loop_run");
    double t1 = bench_now();

    if (timers_fired != n || posts_run != n)
        bench_fail("turn", "not every callback ran");
    if (n > 10 && vow_loop_now(l) - start < 10)
        bench_fail("turn", "finished before the longest deadline");
    if (vow_loop_close(l) != 0)
        bench_fail("turn", "vow_loop_close");
    free(ts);
    bench_report("turn", "libvow", 2 * n, t1 - t0);
    return 0;
}
