/* SPDX-License-Identifier: MIT */
/*
 * What the post benchmarks need from a harness: the size from argv, a monotonic
 * stopwatch and a failure exit, the timed phases of the posting thread and the two
 * result lines. They print their own lines (post.sh takes medians),
 * and bench-post.c must also build against an older libvow tree (post.sh's baseline),
 * so they do not use bench.h.
 */
#ifndef VOW_POST_UTIL_H
#define VOW_POST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
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

/* A wrong result makes the whole benchmark fail: a fast wrong answer measures nothing. */
static inline void bench_fail(const char *workload, const char *what)
{
    fprintf(stderr, "workload=%s: FAILED: %s\n", workload, what);
    exit(1);
}

/* The process's first posts, reported apart (post-awake-cold). */
enum { COLD = 10000 };

/* The calling thread's CPU time in seconds: what a post costs its caller, without
 * the time the thread spent preempted on a shared machine. */
static inline double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The poster's times: wall and its own CPU, for the cold posts and the measured n. */
struct post_times {
    double cold_s, warm_s;
    double cold_cpu, warm_cpu;
};

/* Posts COLD (timed: cold), n / 10 (a warm-up), then n (timed: warm), through
 * post_many(first index, count); COLD + n / 10 + n posts in all. */
static inline void post_phases(void (*post_many)(long from, long count), long n,
                               struct post_times *t)
{
    double c0 = thread_cpu();
    double t0 = bench_now();
    post_many(0, COLD);
    double t1 = bench_now();
    double c1 = thread_cpu();
    long warm = n / 10;
    post_many(COLD, warm);
    double c2 = thread_cpu();
    double t2 = bench_now();
    post_many(COLD + warm, n);
    double t3 = bench_now();
    double c3 = thread_cpu();
    t->cold_s = t1 - t0;
    t->warm_s = t3 - t2;
    t->cold_cpu = c1 - c0;
    t->warm_cpu = c3 - c2;
}

/* The two result lines post.sh reads. */
static inline void post_report(const char *impl, long n, const struct post_times *t)
{
    printf("workload=post-awake-cold impl=%s n=%d seconds=%.6f ops_per_s=%.0f ns_per_op=%.1f "
           "cpu_ns_per_op=%.1f\n",
           impl, COLD, t->cold_s, COLD / t->cold_s, t->cold_s * 1e9 / COLD,
           t->cold_cpu * 1e9 / COLD);
    printf("workload=post-awake impl=%s n=%ld seconds=%.6f ops_per_s=%.0f ns_per_op=%.1f "
           "cpu_ns_per_op=%.1f\n",
           impl, n, t->warm_s, (double)n / t->warm_s, t->warm_s * 1e9 / (double)n,
           t->warm_cpu * 1e9 / (double)n);
}

#endif /* VOW_POST_UTIL_H */
