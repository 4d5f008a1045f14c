/* SPDX-License-Identifier: MIT */
/*
 * The peer of bench-work.c with libuv's uv_queue_work: "rtt" one job at a time (the
 * after-work callback submits the next), "inflight64" 64 requests in flight. The
 * first round trip of the process is phase=cold (it starts libuv's pool).
 * Usage: bench-uv-work [N [rtt|inflight64]]
 */
#include "bench.h"

#include <uv.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void report(const char *w, const char *phase, long n, double s)
{
    printf("workload=%s impl=libuv phase=%s n=%ld seconds=%.6f ns_per_op=%.1f ops_per_s=%.0f\n",
           w, phase, n, s, s * 1e9 / (double)n, (double)n / s);
    fflush(stdout);
}

static atomic_long ran;
static long left, done;

static void work_cb(uv_work_t *req)
{
    (void)req;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
}

static void after_cb(uv_work_t *req, int status)
{
    if (status != 0)
        bench_fail("rtt", "status");
    done++;
    if (left > 0) {
        left--;
        uv_queue_work(req->loop, req, work_cb, after_cb);
    }
}

static double run(uv_loop_t *loop, long n, long width, const char *w)
{
    uv_work_t *reqs = calloc((size_t)width, sizeof(*reqs));
    left = n;
    done = 0;
    double t0 = bench_now();
    for (long i = 0; i < width && left > 0; i++) {
        left--;
        uv_queue_work(loop, &reqs[i], work_cb, after_cb);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double s = bench_now() - t0;
    if (done != n)
        bench_fail(w, "wrong count");
    free(reqs);
    return s;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    if (n < 64)
        n = 64;
    /* argv[2], if given, runs that workload alone (for profiling). */
    const char *only = argc > 2 ? argv[2] : NULL;
    long want = 1;
    uv_loop_t *loop = uv_default_loop();
    report("rtt", "cold", 1, run(loop, 1, 1, "rtt"));
    if (!only || strcmp(only, "rtt") == 0) {
        report("rtt", "warm", n, run(loop, n, 1, "rtt"));
        want += n;
    }
    if (!only || strcmp(only, "inflight64") == 0) {
        report("inflight64", "warm", n, run(loop, n, 64, "inflight64"));
        want += n;
    }
    if (atomic_load(&ran) != want)
        bench_fail("rtt", "jobs ran a wrong number of times");
    uv_loop_close(loop);
    return 0;
}
