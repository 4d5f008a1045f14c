/* SPDX-License-Identifier: MIT */
/*
 * TCP echo server on 127.0.0.1 over a loop group: one loop per thread, a coroutine
 * per connection on the loop that accepted it (SO_REUSEPORT, or --handoff: accepted
 * on loop 0 and handed to the least-loaded loop). Prints "port=N" once listening.
 * SIGINT or SIGTERM (or --seconds S) stops it gracefully: every loop stops
 * accepting, its connections are cancelled and closed, the loops finish and the
 * process exits 0. A second signal forces the exit (status 130), for a stop that
 * takes too long (--linger-ms keeps each loop busy that long after the stop, as a
 * slow cleanup would).
 *   usage: echo_group [--threads N] [--handoff] [--work-us U] [--seconds S]
 *                     [--linger-ms M] [PORT]
 * --threads 0 (the default) runs one loop per CPU the process may use. --work-us
 * spends U microseconds of CPU on each message before echoing it (a handler's work).
 */
#include <vow.h>
#include <vow/co.h>
#include <vow/group.h>
#include <vow/io.h>

#include "group_serve.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 16384

static double work_iters_per_us; /* calibrated at start */
static long work_us;             /* CPU work per message */
static long linger_ms;           /* how long each loop lingers after the stop */
static atomic_long served;       /* connections that ended */
static vow_timer lingers[VOW_GROUP_MAX];

/* ------------------------------------------------------------------- work */

static uint64_t spin(uint64_t n)
{
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* How many iterations of spin() take a microsecond on this machine. */
static void calibrate(void)
{
    uint64_t n = 1u << 20;
    double best = 1e30;
    for (int i = 0; i < 5; i++) {
        double t0 = now_us();
        volatile uint64_t sink = spin(n);
        (void)sink;
        double dt = now_us() - t0;
        if (dt < best)
            best = dt;
    }
    work_iters_per_us = (double)n / (best > 0 ? best : 1);
}

static volatile uint64_t work_sink;

static void do_work(void)
{
    if (work_us > 0)
        work_sink = spin((uint64_t)(work_iters_per_us * (double)work_us));
}

/* ------------------------------------------------------------ connections */

struct conn {
    vow_loop *l;
    int fd;
};

/* Echo until EOF, an error or the stop (every await then returns VOW_ECANCELED). */
static vow_ret echo(void *arg)
{
    struct conn c = *(struct conn *)arg;
    vow_free(arg);
    char buf[CHUNK];
    vow_stream *st = vow_stream_new(c.l, c.fd);
    while (st) {
        vow *r = vow_stream_read(st, buf, sizeof(buf));
        int rc = vow_await(r);
        int64_t n = rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (n <= 0)
            break;
        do_work();
        vow *w = vow_stream_write(st, buf, (size_t)n);
        rc = vow_await(w);
        vow_unref(w);
        if (rc != 0)
            break;
    }
    vow_stream_close(st);
    vow_fd_close(c.fd);
    atomic_fetch_add(&served, 1);
    return vow_ok(vow_val_none());
}

/* Runs on the loop that got the connection; the group tracks the coroutine. */
static vow *on_conn(vow_loop *l, int fd, void *ctx)
{
    (void)ctx;
    struct conn *c = vow_malloc(sizeof(*c));
    vow *co = NULL;
    if (c) {
        *c = (struct conn){.l = l, .fd = fd};
        co = vow_co_spawn(l, echo, c, NULL);
    }
    if (!co) {
        vow_free(c);
        vow_fd_close(fd);
    }
    return co;
}

/* ---------------------------------------------------------------- the stop */

static void linger_done(vow_timer *t)
{
    (void)t;
}

/* On each loop once the group stops (the group has closed its socket and cancelled
 * its connections already): cancel any other coroutine, then linger if asked. */
static void on_stop(vow_loop *l, unsigned index, void *ctx)
{
    (void)ctx;
    vow_co_cancel_all(l);
    if (linger_ms > 0) {
        vow_timer_init(l, &lingers[index], linger_done);
        vow_timer_start(&lingers[index], (uint64_t)linger_ms, 0);
    }
}

int main(int argc, char **argv)
{
    unsigned threads = 0;
    unsigned flags = 0;
    double seconds = 0;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--handoff") == 0)
            flags |= VOW_GROUP_HANDOFF;
        else if (i + 1 < argc && strcmp(argv[i], "--work-us") == 0)
            work_us = strtol(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[++i], NULL);
        else if (i + 1 < argc && strcmp(argv[i], "--linger-ms") == 0)
            linger_ms = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            port = atoi(argv[i]);
        else {
            fprintf(stderr,
                    "usage: %s [--threads N] [--handoff] [--work-us U] [--seconds S] "
                    "[--linger-ms M] [PORT]\n",
                    argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (work_us > 0)
        calibrate();

    vow_group_opts o = {.loops = threads, .on_stop = on_stop};
    int rc = serve_on_group("echo_group", &o, port, flags, seconds, NULL, NULL, on_conn, NULL);
    fprintf(stderr, "echo_group: served %ld connections\n", atomic_load(&served));
    return rc;
}
