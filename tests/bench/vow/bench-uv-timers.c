/* SPDX-License-Identifier: MIT */
/*
 * Peer for workload "timers": N raw uv_timer handles with 0..10 ms timeouts (i % 11),
 * counting callbacks. The callback baseline that timer vows are compared with.
 */
#include "benchutil.h"

#include <uv.h>

static long fired;

static void on_timer(uv_timer_t *t)
{
    (void)t;
    fired++;
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 200000);
    uv_timer_t *ts = malloc((size_t)n * sizeof(*ts));
    uv_loop_t loop;
    if (!ts || uv_loop_init(&loop) != 0)
        bench_fail("timers", "setup");

    double t0 = bench_now();
    uint64_t start = uv_now(&loop);
    for (long i = 0; i < n; i++) {
        if (uv_timer_init(&loop, &ts[i]) != 0 ||
            uv_timer_start(&ts[i], on_timer, (uint64_t)(i % 11), 0) != 0)
            bench_fail("timers", "uv_timer_start");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double t1 = bench_now();

    if (fired != n)
        bench_fail("timers", "not every timer fired");
    if (n > 10 && uv_now(&loop) - start < 10)
        bench_fail("timers", "finished before the longest deadline");
    /* Fired one-shot timers are inactive but still registered: close them to free. */
    for (long i = 0; i < n; i++)
        uv_close((uv_handle_t *)&ts[i], NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        bench_fail("timers", "uv_loop_close");
    free(ts);
    bench_report("timers", "libuv", n, t1 - t0);
    return 0;
}
