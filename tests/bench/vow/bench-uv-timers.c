/* SPDX-License-Identifier: MIT */
/*
 * Peer for workload "timers": N raw uv_timer handles with 0..10 ms timeouts (i % 11),
 * counting callbacks, then closed and freed. The callback baseline that timer vows are
 * compared with.
 */
#include "bench.h"

#include <uv.h>

static long fired;

static void on_timer(uv_timer_t *t)
{
    (void)t;
    fired++;
}

static void timers(void *ctx, long n)
{
    uv_loop_t *loop = ctx;
    uv_timer_t *ts = malloc((size_t)n * sizeof(*ts));
    if (!ts)
        bench_fail("timers", "malloc");
    fired = 0;
    uv_update_time(loop);
    uint64_t start = uv_now(loop);
    for (long i = 0; i < n; i++) {
        if (uv_timer_init(loop, &ts[i]) != 0 ||
            uv_timer_start(&ts[i], on_timer, (uint64_t)(i % 11), 0) != 0)
            bench_fail("timers", "uv_timer_start");
    }
    uv_run(loop, UV_RUN_DEFAULT);
    if (fired != n)
        bench_fail("timers", "not every timer fired");
    if (n > 10 && uv_now(loop) - start < 10)
        bench_fail("timers", "finished before the longest deadline");
    /* Fired one-shot timers are inactive but still registered: close them to free. */
    for (long i = 0; i < n; i++)
        uv_close((uv_handle_t *)&ts[i], NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    free(ts);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 200000);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        bench_fail("timers", "uv_loop_init");
    bench_run("timers", "libuv", n, timers, &loop);
    if (uv_loop_close(&loop) != 0)
        bench_fail("timers", "uv_loop_close");
    return 0;
}
