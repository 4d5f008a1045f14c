/* SPDX-License-Identifier: MIT */
/*
 * Thread-pool round trips with libvow: "rtt" is one job at a time (submit, run on a
 * pool thread, settle on the loop, a then handler that submits the next), "inflight64"
 * keeps 64 jobs in flight (each handler submits one more). "rtt" also runs a raw
 * floor: two threads waking each other through two eventfds (blocking reads), the
 * cheapest cross-thread round trip there is. Each line has phase=cold (the first
 * round trip of the process, thread start included) or phase=warm (the rest).
 * Usage: bench-work [N [rtt|inflight64|eventfd]]
 */
#include "bench.h"

#include <vow.h>
#include <vow/work.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static void report(const char *w, const char *impl, const char *phase, long n, double s)
{
    printf("workload=%s impl=%s phase=%s n=%ld seconds=%.6f ns_per_op=%.1f ops_per_s=%.0f\n", w,
           impl, phase, n, s, s * 1e9 / (double)n, (double)n / s);
    fflush(stdout);
}

static atomic_long ran;

static int job(vow_work_job *j, void *arg, vow_val *ret)
{
    (void)j;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    *ret = vow_val_num((int64_t)(intptr_t)arg);
    return 0;
}

struct run {
    vow_loop *l;
    long left;   /* jobs still to submit */
    long done;   /* handlers run */
    int64_t sum; /* values seen, to check */
};

static vow_ret on_done(void *ctx, const vow_val *v);

static void submit(struct run *r)
{
    r->left--;
    vow *p = vow_work(r->l, VOW_WORK_CPU, job, (void *)(intptr_t)1, NULL);
    vow_unref(vow_then(p, on_done, NULL, r));
}

static vow_ret on_done(void *ctx, const vow_val *v)
{
    struct run *r = ctx;
    r->done++;
    r->sum += v->num;
    if (r->left > 0)
        submit(r);
    return vow_ok(vow_val_none());
}

/* n jobs, width at a time; seconds. */
static double pool_run(vow_loop *l, long n, long width, const char *w)
{
    struct run r = { l, n, 0, 0 };
    double t0 = bench_now();
    for (long i = 0; i < width && r.left > 0; i++)
        submit(&r);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    double t = bench_now() - t0;
    if (r.done != n || r.sum != n)
        bench_fail(w, "wrong count");
    return t;
}

/* ------------------------------------------------------------- eventfd floor */

static int efd_go, efd_back;

static void *echo_thread(void *arg)
{
    long n = (long)(intptr_t)arg;
    uint64_t v;
    for (long i = 0; i < n; i++) {
        if (read(efd_go, &v, 8) != 8 || write(efd_back, &v, 8) != 8)
            return NULL;
    }
    return NULL;
}

static double eventfd_run(long n)
{
    efd_go = eventfd(0, EFD_CLOEXEC);
    efd_back = eventfd(0, EFD_CLOEXEC);
    pthread_t t;
    pthread_create(&t, NULL, echo_thread, (void *)(intptr_t)n);
    uint64_t one = 1, v;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        if (write(efd_go, &one, 8) != 8 || read(efd_back, &v, 8) != 8)
            bench_fail("rtt", "eventfd");
    }
    double s = bench_now() - t0;
    pthread_join(t, NULL);
    close(efd_go);
    close(efd_back);
    return s;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    if (n < 64)
        n = 64;
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("rtt", "no loop");
    /* argv[2], if given, runs that workload alone (for profiling). */
    const char *only = argc > 2 ? argv[2] : NULL;
    long want = 0;
    /* Cold: the very first job, which starts the pool's first thread. */
    report("rtt", "libvow", "cold", 1, pool_run(l, 1, 1, "rtt"));
    want++;
    if (!only || strcmp(only, "rtt") == 0) {
        report("rtt", "libvow", "warm", n, pool_run(l, n, 1, "rtt"));
        want += n;
    }
    if (!only || strcmp(only, "inflight64") == 0) {
        report("inflight64", "libvow", "warm", n, pool_run(l, n, 64, "inflight64"));
        want += n;
    }
    if (!only || strcmp(only, "eventfd") == 0) {
        report("rtt", "eventfd", "cold", 1, eventfd_run(1));
        report("rtt", "eventfd", "warm", n, eventfd_run(n));
    }
    if (atomic_load(&ran) != want)
        bench_fail("rtt", "jobs ran a wrong number of times");
    if (vow_loop_close(l) != 0)
        bench_fail("rtt", "close");
    return 0;
}
