/* SPDX-License-Identifier: MIT */
/*
 * Workload "turn": N timers (timeouts i % 11 ms) and N callbacks posted through
 * vow_loop_post, all run by one vow_loop_run. Each run does 2N callbacks (N below is
 * the argument; the line reports n = 2N). Peer: bench-uv-turn.
 */
#include "bench.h"

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

static void turn(void *ctx, long n2)
{
    vow_loop *l = ctx;
    long n = n2 / 2;
    vow_timer *ts = malloc((size_t)n * sizeof(*ts));
    if (!ts)
        bench_fail("turn", "malloc");
    timers_fired = posts_run = 0;
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
    if (timers_fired != n || posts_run != n)
        bench_fail("turn", "not every callback ran");
    if (n > 10 && vow_loop_now(l) - start < 10)
        bench_fail("turn", "finished before the longest deadline");
    free(ts);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 500000);
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("turn", "vow_loop_new");
    bench_run("turn", "libvow", 2 * n, turn, l);
    if (vow_loop_close(l) != 0)
        bench_fail("turn", "vow_loop_close");
    return 0;
}
