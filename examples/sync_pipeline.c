/* SPDX-License-Identifier: MIT */
/*
 * A pipeline of three coroutines joined by bounded channels:
 *
 *   read lines from a child process (seq 1 N)  --chan(8)-->  square each number
 *   --chan(8)-->  write "n n*n" lines to a TCP socket
 *
 * The socket's reader is a fourth coroutine that reads slowly, through small socket
 * buffers, so the slowest stage is the last one: its backpressure travels up the
 * channels to the child's pipe, and the number of lines in memory stays bounded
 * (2 channels of 8, plus one line in each stage's hands) however long the input is.
 * Prints one line: "ok lines=N max_in_memory=M bound=B" (or "FAILED ...").
 *   usage: sync_pipeline [--lines N] [--slow-us U]
 */
#include <vow.h>
#include <vow/co.h>
#include <vow/io.h>
#include <vow/sync.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CAP 8

static long in_memory;     /* lines allocated and not yet freed */
static long max_in_memory; /* the most at any time */

static char *line_new(const char *text)
{
    size_t n = strlen(text) + 1;
    char *s = vow_malloc(n);
    if (s) {
        memcpy(s, text, n);
        in_memory++;
        max_in_memory = in_memory > max_in_memory ? in_memory : max_in_memory;
    }
    return s;
}

static void line_free(void *p)
{
    in_memory--;
    vow_free(p);
}

struct pipeline {
    vow_loop *l;
    long lines;        /* lines to read */
    long slow_us;      /* the socket reader's pause per read */
    vow_chan *raw;     /* reader -> transformer */
    vow_chan *squared; /* transformer -> writer */
    int lfd;           /* the listening socket */
    long read, written, received; /* lines read, written, seen by the socket reader */
    int64_t sum;       /* sum of n*n seen by the socket reader */
};

/* Stage 1: lines from `seq 1 N`, each into the first channel. */
static vow_ret reader(void *arg)
{
    struct pipeline *pl = arg;
    char n[32];
    snprintf(n, sizeof(n), "%ld", pl->lines);
    const char *argv[] = { "seq", "1", n, NULL };
    vow_process proc;
    int rc = vow_spawn(pl->l, argv, VOW_SPAWN_STDOUT, &proc);
    if (rc < 0) {
        vow_chan_close(pl->raw);
        return vow_fail(rc, vow_val_none());
    }
    vow_lines *lr = vow_lines_new(pl->l, proc.stdout_fd, 0);
    for (rc = lr ? 0 : VOW_ENOMEM; rc == 0;) {
        vow *next = vow_lines_next(lr);
        rc = vow_await(next);
        const char *text = rc == 0 ? vow_value(next)->ptr : NULL;
        char *line = text ? line_new(text) : NULL;
        vow_unref(next);
        if (!line)
            break;
        pl->read++;
        /* Waits while the channel is full: this is where backpressure reaches us,
         * and we stop reading the pipe, so the child blocks in its writes. */
        vow *s = vow_chan_send(pl->raw, vow_val_ptr(line, line_free));
        rc = vow_await(s);
        vow_unref(s);
    }
    vow_lines_close(lr);
    vow_fd_close(proc.stdout_fd);
    vow *ex = proc.exited;
    vow_await(ex);
    vow_unref(ex);
    vow_chan_close(pl->raw);
    return vow_ok(vow_val_none());
}

/* Stage 2: "n" becomes "n n*n". */
static vow_ret transformer(void *arg)
{
    struct pipeline *pl = arg;
    for (;;) {
        vow *r = vow_chan_recv(pl->raw);
        int rc = vow_await(r);
        long n = rc == 0 ? atol(vow_value(r)->ptr) : 0;
        vow_unref(r); /* frees the input line, before the output line is made */
        if (rc < 0)
            break;
        char buf[64];
        snprintf(buf, sizeof(buf), "%ld %ld\n", n, n * n);
        char *out = line_new(buf);
        if (!out)
            break;
        vow *s = vow_chan_send(pl->squared, vow_val_ptr(out, line_free));
        rc = vow_await(s);
        vow_unref(s);
        if (rc < 0)
            break;
    }
    vow_chan_close(pl->squared);
    return vow_ok(vow_val_none());
}

/* Stage 3: each line to the socket; vow_write_all waits while the socket is full. */
static vow_ret writer(void *arg)
{
    struct pipeline *pl = arg;
    vow *c = vow_tcp_connect(pl->l, "127.0.0.1", vow_sock_port(pl->lfd));
    int rc = vow_await(c);
    int fd = rc == 0 ? (int)vow_value(c)->num : -1;
    vow_unref(c);
    if (fd >= 0) {
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    }
    for (;;) {
        vow *r = vow_chan_recv(pl->squared);
        rc = vow_await(r);
        if (rc == 0 && fd >= 0) {
            const char *line = vow_value(r)->ptr;
            vow *w = vow_write_all(pl->l, fd, line, strlen(line));
            rc = vow_await(w);
            vow_unref(w);
            pl->written += rc == 0;
        }
        vow_unref(r);
        if (rc < 0)
            break;
    }
    if (fd >= 0) {
        vow_shutdown_write(fd);
        vow_fd_close(fd);
    }
    return vow_ok(vow_val_none());
}

/* The socket's other end: a slow reader that checks every line. */
static vow_ret sink(void *arg)
{
    struct pipeline *pl = arg;
    vow *a = vow_accept(pl->l, pl->lfd);
    int rc = vow_await(a);
    int fd = rc == 0 ? (int)vow_value(a)->num : -1;
    vow_unref(a);
    if (fd < 0)
        return vow_fail(rc, vow_val_none());
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    char buf[512], partial[64];
    size_t plen = 0;
    for (;;) {
        vow *r = vow_read(pl->l, fd, buf, sizeof(buf));
        rc = vow_await(r);
        int64_t n = rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (n <= 0)
            break;
        for (int64_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (plen < sizeof(partial) - 1)
                    partial[plen++] = buf[i];
                continue;
            }
            partial[plen] = 0;
            plen = 0;
            long x, sq;
            if (sscanf(partial, "%ld %ld", &x, &sq) == 2 && sq == x * x) {
                pl->received++;
                pl->sum += sq;
            }
        }
        if (pl->slow_us)
            vow_co_sleep((uint64_t)(pl->slow_us / 1000));
    }
    vow_fd_close(fd);
    return vow_ok(vow_val_none());
}

int main(int argc, char **argv)
{
    struct pipeline pl = { 0 };
    pl.lines = 20000;
    pl.slow_us = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--lines") == 0)
            pl.lines = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--slow-us") == 0)
            pl.slow_us = atol(argv[i + 1]);
    }
    signal(SIGPIPE, SIG_IGN);
    pl.l = vow_loop_new();
    pl.raw = pl.l ? vow_chan_new(pl.l, CAP) : NULL;
    pl.squared = pl.l ? vow_chan_new(pl.l, CAP) : NULL;
    pl.lfd = vow_tcp_listen("127.0.0.1", 0, 1);
    if (!pl.raw || !pl.squared || pl.lfd < 0) {
        fprintf(stderr, "FAILED setup\n");
        return 1;
    }
    vow *co[4] = { vow_co_spawn(pl.l, sink, &pl, NULL), vow_co_spawn(pl.l, writer, &pl, NULL),
                   vow_co_spawn(pl.l, transformer, &pl, NULL),
                   vow_co_spawn(pl.l, reader, &pl, NULL) };
    vow_loop_run(pl.l, VOW_RUN_DEFAULT);
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        ok = ok && co[i] && vow_state(co[i]) == VOW_FULFILLED;
        vow_unref(co[i]);
    }
    vow_chan_unref(pl.raw);
    vow_chan_unref(pl.squared);
    vow_fd_close(pl.lfd);
    int64_t want = 0;
    for (long x = 1; x <= pl.lines; x++)
        want += x * x;
    /* Two full channels, and one line in the hands of each of the three stages. */
    long bound = 2 * CAP + 3;
    ok = ok && pl.read == pl.lines && pl.written == pl.lines && pl.received == pl.lines &&
         pl.sum == want && max_in_memory <= bound && in_memory == 0 &&
         vow_loop_close(pl.l) == 0;
    printf("%s lines=%ld max_in_memory=%ld bound=%ld\n", ok ? "ok" : "FAILED", pl.received,
           max_in_memory, bound);
    return ok ? 0 : 1;
}
