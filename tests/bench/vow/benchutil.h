/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the vow benchmarks and their C peers: the workload size from
 * argv, a monotonic stopwatch, peak RSS from getrusage, the one-line report, and a
 * failure exit for results that do not check out.
 */
#ifndef VOW_BENCHUTIL_H
#define VOW_BENCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* argv[1] if given and positive, else the workload's default size. */
static inline long bench_n(int argc, char **argv, long def)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : def;
    return n > 0 ? n : def;
}

/* Seconds on the monotonic clock, for differences only. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process's peak resident set so far, in KiB (Linux reports ru_maxrss in KiB). */
static inline long bench_peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

static inline void bench_report(const char *workload, const char *impl, long n, double seconds)
{
    printf("workload=%s impl=%s n=%ld seconds=%.6f ops_per_s=%.0f peak_rss_kb=%ld\n", workload,
           impl, n, seconds, seconds > 0 ? (double)n / seconds : 0.0, bench_peak_rss_kb());
    fflush(stdout);
}

/* A wrong result makes the whole benchmark fail: a fast wrong answer measures nothing. */
static inline void bench_fail(const char *workload, const char *what)
{
    fprintf(stderr, "workload=%s: FAILED: %s\n", workload, what);
    exit(1);
}

#endif /* VOW_BENCHUTIL_H */
