/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by every C benchmark (libvow's and the C peers'): the size from argv,
 * a monotonic stopwatch, resident-memory probes, a failure exit for wrong results, and
 * bench_run, which times a workload's first run in the process (cold) apart from a later
 * one (warm) and prints the one line that tests/bench/common.sh summarises:
 *   workload=W impl=I n=N cold_s=C warm_s=W peak_rss_kib=K bytes_per_op=B
 * The Node and Python peers print the same line (tests/bench/bench.js, bench.py).
 */
#ifndef VOW_BENCH_H
#define VOW_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* argv[i] if given and positive, else the workload's default size. */
static inline long bench_arg(int argc, char **argv, int i, long def)
{
    long n = argc > i ? strtol(argv[i], NULL, 10) : def;
    return n > 0 ? n : def;
}

static inline long bench_n(int argc, char **argv, long def)
{
    return bench_arg(argc, argv, 1, def);
}

/* Seconds on the monotonic clock, for differences only. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process's peak resident set so far, in KiB (Linux reports ru_maxrss in KiB). */
static inline long bench_peak_rss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

/* The process's resident set now, in KiB (/proc/self/statm), or -1. */
static inline long bench_rss_kib(void)
{
    long pages = -1, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A wrong result makes the whole benchmark fail: a fast wrong answer measures nothing. */
static inline void bench_fail(const char *workload, const char *what)
{
    fprintf(stderr, "workload=%s: FAILED: %s\n", workload, what);
    exit(1);
}

/* Untimed runs between the cold and the warm one: BENCH_WARMUPS, default 1. */
static inline int bench_warmups(void)
{
    const char *v = getenv("BENCH_WARMUPS");
    long w = v ? strtol(v, NULL, 10) : 1;
    return w < 0 ? 0 : w > 100 ? 100 : (int)w;
}

/*
 * One whole run of a workload of size n: create, run, check (bench_fail on a wrong
 * result) and release what it made. ctx holds what lives across runs (the loop).
 */
typedef void (*bench_fn)(void *ctx, long n);

/*
 * Runs fn once cold (the first run in this process), BENCH_WARMUPS times untimed, then
 * once warm, and prints the line. peak_rss_kib is the process's peak after the cold
 * run; bytes_per_op is that peak's growth over the resident set before it, per op, so
 * setup done before bench_run (arrays, the loop) is not counted. With BENCH_COLD_ONLY
 * set (profiling the cold run alone) only the cold run is made and the line has no
 * warm_s.
 */
static inline void bench_run(const char *workload, const char *impl, long n, bench_fn fn,
                             void *ctx)
{
    long base = bench_rss_kib();
    double t0 = bench_now();
    fn(ctx, n);
    double cold = bench_now() - t0;
    long peak = bench_peak_rss_kib();
    double per_op = base >= 0 && peak > base ? (double)(peak - base) * 1024.0 / (double)n : 0;
    if (getenv("BENCH_COLD_ONLY")) {
        printf("workload=%s impl=%s n=%ld cold_s=%.6f peak_rss_kib=%ld bytes_per_op=%.1f\n",
               workload, impl, n, cold, peak, per_op);
        fflush(stdout);
        return;
    }
    for (int i = bench_warmups(); i > 0; i--)
        fn(ctx, n);
    t0 = bench_now();
    fn(ctx, n);
    double warm = bench_now() - t0;
    printf("workload=%s impl=%s n=%ld cold_s=%.6f warm_s=%.6f peak_rss_kib=%ld "
           "bytes_per_op=%.1f\n",
           workload, impl, n, cold, warm, peak, per_op);
    fflush(stdout);
}

#endif /* VOW_BENCH_H */
