/* SPDX-License-Identifier: MIT */
/*
 * Shared by the stress programs: the scale (a short smoke in the default run,
 * VOW_STRESS=full for `bash test.sh --stress`, smaller under Valgrind), the one line
 * each program prints with its scale and result, and the process checks a run ends
 * with (open fds, resident memory, zombie children).
 */
#ifndef VOW_STRESS_H
#define VOW_STRESS_H

#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 1 for the full run (VOW_STRESS=full), 0 for the smoke run. */
static inline int stress_full(void)
{
    const char *v = getenv("VOW_STRESS");
    return v && strcmp(v, "full") == 0;
}

static inline int stress_valgrind(void)
{
    return getenv("VOW_UNDER_VALGRIND") != NULL;
}

/* The size of a workload: smoke or full; a tenth of smoke (at least 1) under
 * Valgrind, where each step costs fifty times more. VOW_STRESS_DIV=k divides the
 * full size (test.sh --stress uses it under the sanitizers). */
static inline long stress_n(long smoke, long full)
{
    if (stress_full()) {
        const char *d = getenv("VOW_STRESS_DIV");
        long k = d ? strtol(d, NULL, 10) : 1;
        return k > 1 && full / k > 0 ? full / k : full;
    }
    if (stress_valgrind())
        return smoke / 10 > 0 ? smoke / 10 : 1;
    return smoke;
}

/* The one result line: a TAP comment, so it sits in the log without breaking TAP. */
#define stress_report(name, ...)                                                                   \
    do {                                                                                           \
        printf("# stress %s (%s): ", name, stress_full() ? "full" : "smoke");                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
    } while (0)

/* Seconds on the monotonic clock, for differences. */
static inline double stress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in KiB (from /proc/self/statm), -1 if unknown. */
static inline long stress_rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, res = -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Children of this process that exited and were not reaped (state Z). */
static inline int stress_zombies(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%.32s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'. */
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self && state == 'Z')
            n++;
    }
    closedir(d);
    return n;
}

/* A small deterministic generator (xorshift), one per workload, so runs repeat. */
static inline uint64_t stress_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#endif /* VOW_STRESS_H */
