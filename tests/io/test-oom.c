/* SPDX-License-Identifier: MIT */
/*
 * Out-of-memory sweeps over every I/O operation: fail allocation k = 1, 2, ... until
 * the call no longer allocates past k; each time the call must return NULL, a
 * VOW_ENOMEM rejection or error, or work, and leave no allocation and no fd behind.
 */
#include "io-test.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>

/* Fixtures made before allocation failures are armed. */
struct fx {
    int pair[2];   /* socketpair: [0] operated on, [1] the peer */
    int lfd;       /* listener on 127.0.0.1 */
    int port;      /* its port */
    char *big;     /* a write larger than the socket buffer */
    vow_stream *stream; /* made by the stream ops, freed after the sweep step */
};

/* Starts the operation under test; may return NULL (out of memory). */
typedef vow *(*op_fn)(vow_loop *l, struct fx *f);

static vow *op_read(vow_loop *l, struct fx *f)
{
    static char buf[16];
    return vow_read(l, f->pair[0], buf, sizeof(buf));
}

static vow *op_write(vow_loop *l, struct fx *f)
{
    return vow_write_all(l, f->pair[0], f->big, 8u << 20);
}

static vow *op_accept(vow_loop *l, struct fx *f)
{
    return vow_accept(l, f->lfd);
}

static vow *op_connect(vow_loop *l, struct fx *f)
{
    return vow_tcp_connect(l, "127.0.0.1", f->port);
}

static vow *op_stream_read(vow_loop *l, struct fx *f)
{
    static char buf[16];
    f->stream = vow_stream_new(l, f->pair[0]);
    return f->stream ? vow_stream_read(f->stream, buf, sizeof(buf)) : NULL;
}

static vow *op_stream_write(vow_loop *l, struct fx *f)
{
    f->stream = vow_stream_new(l, f->pair[0]);
    return f->stream ? vow_stream_write(f->stream, f->big, 8u << 20) : NULL;
}

static vow *op_signal(vow_loop *l, struct fx *f)
{
    return vow_signal_wait(l, SIGUSR1);
}

static vow *op_lines(vow_loop *l, struct fx *f)
{
    vow_lines *r = vow_lines_new(l, f->pair[0], 0);
    if (!r)
        return NULL;
    vow *p = vow_lines_next(r);
    /* A fulfilled line owns its copy; the reader can go. A pending one is cancelled
     * by the free, which is what the sweep checks next anyway. */
    vow_lines_close(r);
    return p;
}

static vow *op_ticker(vow_loop *l, struct fx *f)
{
    vow_ticker *t = vow_ticker_new(l, 5);
    if (!t)
        return NULL;
    vow *p = vow_ticker_next(t);
    vow_ticker_close(t);
    return p;
}

static vow *op_spawn(vow_loop *l, struct fx *f)
{
    const char *argv[] = { "/bin/sh", "-c", "exit 3", NULL };
    vow_process pr;
    int r = vow_spawn(l, argv, VOW_SPAWN_STDOUT, &pr);
    if (r < 0) {
        assert_int_equal(r, VOW_ENOMEM);
        return NULL;
    }
    close(pr.stdout_fd);
    return pr.exited;
}

/* wait: let a pending vow settle instead of cancelling it; close_fd: its value is an
 * fd to close. */
static void sweep(op_fn op, bool with_line, bool wait, bool close_fd)
{
    int fds_before = io_fd_count();
    for (long k = 1;; k++) {
        struct fx f = { .lfd = -1 };
        io_socketpair(f.pair);
        f.lfd = vow_tcp_listen("127.0.0.1", 0, 8);
        f.port = vow_sock_port(f.lfd);
        f.big = calloc(1, 8u << 20);
        if (with_line)
            assert_int_equal(write(f.pair[1], "a\nb", 3), 3);
        vow_loop *l = io_loop_new();

        tu_fail_nth(k);
        vow *p = op(l, &f);
        bool hit = tu_alloc_count() >= k;
        tu_fail_nth(0);

        if (p) {
            if (vow_state(p) == VOW_PENDING && !wait)
                vow_cancel(p);
            io_wait(l, p);
            int c = vow_code(p);
            assert_true(c == 0 || c == VOW_ENOMEM || c == VOW_ECANCELED);
            if (c == 0 && close_fd)
                close((int)vow_value(p)->num);
            vow_unref(p);
        }
        vow_stream_close(f.stream);
        io_finish(l);
        /* A connection the connect sweep left in the backlog. */
        int extra = accept4(f.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (extra >= 0)
            close(extra);
        close(f.lfd);
        close(f.pair[0]);
        close(f.pair[1]);
        free(f.big);
        assert_int_equal(io_fd_count(), fds_before);
        if (!hit)
            break;
    }
}

static void test_read(void **state)
{
    (void)state;
    sweep(op_read, false, false, false);
}

static void test_write(void **state)
{
    (void)state;
    sweep(op_write, false, false, false);
}

static void test_accept(void **state)
{
    (void)state;
    sweep(op_accept, false, false, false);
}

static void test_connect(void **state)
{
    (void)state;
    sweep(op_connect, false, true, true);
}

static void test_stream(void **state)
{
    (void)state;
    sweep(op_stream_read, false, false, false);
    sweep(op_stream_read, true, false, false);
    sweep(op_stream_write, false, false, false);
}

static void test_signal(void **state)
{
    (void)state;
    sweep(op_signal, false, false, false);
}

static void test_lines(void **state)
{
    (void)state;
    sweep(op_lines, true, false, false);
    sweep(op_lines, false, false, false);
}

static void test_ticker(void **state)
{
    (void)state;
    sweep(op_ticker, false, false, false);
}

static void test_spawn(void **state)
{
    (void)state;
    sweep(op_spawn, false, true, false);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_ticker),
        cmocka_unit_test(test_spawn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
