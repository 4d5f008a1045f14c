/* SPDX-License-Identifier: MIT */
/*
 * What the post benchmarks need from a harness: the size from argv, a monotonic
 * stopwatch and a failure exit. They print their own lines (post.sh takes medians),
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

#endif /* VOW_POST_UTIL_H */
