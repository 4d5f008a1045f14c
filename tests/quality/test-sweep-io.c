/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweeps over the promise-returning I/O of vow/io.h. Whole
 * scenarios run to completion: a write and an exact read over a socketpair, a line
 * reader, a TCP accept/connect pair on 127.0.0.1 port 0, a child process with a
 * piped stdout, and the ticker. Then each operation alone, withdrawn while pending
 * (or waited for): read, write, accept, connect, stream read and write, signal wait,
 * line reader. Each failure must be NULL, VOW_ENOMEM or a VOW_ENOMEM rejection, with
 * no leaked memory or fd and no child left unreaped.
 */
#include "sweep.h"

#include "vow/io.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Cancels p if it is still pending (an operation whose partner failed), then drops it. */
static void withdraw(vow *p)
{
    if (p && vow_state(p) == VOW_PENDING)
        assert_int_equal(vow_cancel(p), 0);
    vow_unref(p);
}

static int prog_socketpair(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    static const char msg[] = "hello, vow\nsecond line\n";
    char buf[11] = {0};
    vow *rd = vow_read_exact(l, sv[1], buf, 11);
    vow *wr = vow_write_all(l, sv[0], msg, sizeof(msg) - 1);
    int complete = 1;
    if (rd && wr) {
        tu_wait(l, wr);
        complete &= sweep_expect(wr, 0, (int64_t)sizeof(msg) - 1);
        if (vow_state(wr) == VOW_FULFILLED) {
            tu_wait(l, rd);
            complete &= sweep_expect(rd, 0, 11);
            if (vow_state(rd) == VOW_FULFILLED)
                assert_memory_equal(buf, "hello, vow\n", 11);
        } else {
            complete = 0;
        }
    } else {
        complete = 0;
    }
    withdraw(rd);
    withdraw(wr);
    /* The rest of the stream through a line reader: one line, then EOF. */
    vow_lines *lr = complete ? vow_lines_new(l, sv[1], 0) : NULL;
    if (lr) {
        assert_int_equal(vow_shutdown_write(sv[0]), 0);
        vow *line = vow_lines_next(lr);
        if (line) {
            tu_wait(l, line);
            if (sweep_settled(line, VOW_FULFILLED))
                assert_string_equal(vow_value(line)->ptr, "second line");
            else
                complete = 0;
            vow_unref(line);
        } else {
            complete = 0;
        }
        vow_lines_close(lr);
    } else {
        complete = 0;
    }
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    close(sv[0]);
    close(sv[1]);
    return complete;
}

static int prog_tcp(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    int lfd = vow_tcp_listen("127.0.0.1", 0, 8);
    assert_true(lfd >= 0);
    int port = vow_sock_port(lfd);
    assert_true(port > 0);
    vow *acc = vow_accept(l, lfd);
    vow *con = vow_tcp_connect(l, "127.0.0.1", port);
    int complete = acc && con;
    if (con) {
        tu_wait(l, con);
        complete &= sweep_settled(con, VOW_FULFILLED);
    }
    if (acc && con && vow_state(con) == VOW_FULFILLED) {
        tu_wait(l, acc);
        complete &= sweep_settled(acc, VOW_FULFILLED);
    }
    /* Connected fds are ours to close; a pending accept is withdrawn. */
    if (con && vow_state(con) == VOW_FULFILLED)
        assert_int_equal(vow_fd_close((int)vow_value(con)->num), 0);
    if (acc && vow_state(acc) == VOW_FULFILLED)
        assert_int_equal(vow_fd_close((int)vow_value(acc)->num), 0);
    withdraw(acc);
    withdraw(con);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    /* A connection that completed in the kernel but was never accepted dies here. */
    close(lfd);
    return complete;
}

static int prog_spawn(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    const char *const argv[] = {"sh", "-c", "echo spawned; exit 3", NULL};
    vow_process proc;
    memset(&proc, 0xff, sizeof(proc));
    int r = vow_spawn(l, argv, VOW_SPAWN_STDOUT | VOW_SPAWN_NULL_STDIO, &proc);
    if (r != 0) {
        assert_int_equal(r, VOW_ENOMEM);
        /* *ret is untouched on failure. */
        assert_int_equal(proc.pid, -1);
        assert_int_equal(vow_loop_close(l), 0);
        return 0;
    }
    int complete = 1;
    vow_lines *lr = vow_lines_new(l, proc.stdout_fd, 0);
    if (lr) {
        vow *line = vow_lines_next(lr);
        if (line) {
            tu_wait(l, line);
            if (sweep_settled(line, VOW_FULFILLED))
                assert_string_equal(vow_value(line)->ptr, "spawned");
            else
                complete = 0;
            vow_unref(line);
        } else {
            complete = 0;
        }
        vow_lines_close(lr);
    } else {
        complete = 0;
    }
    assert_int_equal(vow_fd_close(proc.stdout_fd), 0);
    tu_wait(l, proc.exited);
    /* Unless its line was read, the child may die of SIGPIPE: both are its exit. */
    if (!complete && vow_state(proc.exited) == VOW_FULFILLED)
        assert_true(vow_value(proc.exited)->num == 3 ||
                    vow_value(proc.exited)->num == 256 + SIGPIPE);
    else
        complete &= sweep_expect(proc.exited, 0, 3);
    if (vow_state(proc.exited) == VOW_REJECTED) {
        /* The loop could not watch the child: reap it ourselves, so none is left. */
        assert_int_equal(waitpid(proc.pid, NULL, 0), proc.pid);
    }
    vow_unref(proc.exited);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

static int prog_ticker(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    int complete = 0;
    vow_ticker *t = vow_ticker_new(l, 1);
    if (t) {
        complete = 1;
        for (int i = 1; i <= 2 && complete; i++) {
            vow *tick = vow_ticker_next(t);
            if (!tick) {
                complete = 0;
                break;
            }
            tu_wait(l, tick);
            if (sweep_settled(tick, VOW_FULFILLED))
                assert_true(vow_value(tick)->num >= i);
            else
                complete = 0;
            vow_unref(tick);
        }
        /* Closing the ticker cancels a pending next. */
        vow *tick = complete ? vow_ticker_next(t) : NULL;
        vow_ticker_close(t);
        if (tick)
            complete &= sweep_expect(tick, VOW_ECANCELED, 0);
        else
            complete = 0;
        vow_unref(tick);
    }
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

/* ------------------------------------------------------- one operation each */

/* Fixtures made outside the library, so the sweep only fails libvow's allocations. */
struct fx {
    int pair[2];        /* socketpair: [0] operated on, [1] the peer */
    int lfd;            /* listener on 127.0.0.1 */
    int port;           /* its port */
    char *big;          /* a write larger than the socket buffer */
    vow_stream *stream; /* made by the stream operations, closed after the step */
};

/* Starts the operation under test; may return NULL (out of memory). */
typedef vow *(*op_fn)(vow_loop *l, struct fx *f);

/* One operation: with_line puts "a\nb" in the socket first; wait lets a pending vow
 * settle instead of withdrawing it; close_fd: its value is an fd to close. */
struct op_case {
    op_fn op;
    bool with_line;
    bool wait;
    bool close_fd;
};

enum { BIG = 8u << 20 };

static vow *op_read(vow_loop *l, struct fx *f)
{
    static char buf[16];
    return vow_read(l, f->pair[0], buf, sizeof(buf));
}

static vow *op_write(vow_loop *l, struct fx *f)
{
    return vow_write_all(l, f->pair[0], f->big, BIG);
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
    return f->stream ? vow_stream_write(f->stream, f->big, BIG) : NULL;
}

static vow *op_signal(vow_loop *l, struct fx *f)
{
    (void)f;
    return vow_signal_wait(l, SIGUSR1);
}

static vow *op_lines(vow_loop *l, struct fx *f)
{
    vow_lines *r = vow_lines_new(l, f->pair[0], 0);
    if (!r)
        return NULL;
    vow *p = vow_lines_next(r);
    /* A fulfilled line owns its copy; the reader can go. A pending one is cancelled
     * by the close, which is what the sweep checks next anyway. */
    vow_lines_close(r);
    return p;
}

/* Starts one operation, withdraws it if still pending (unless it waits), and expects
 * success, a cancellation or an out-of-memory failure. */
static int prog_op(void *arg)
{
    const struct op_case *c = arg;
    struct fx f = { .lfd = -1 };
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f.pair),
                     0);
    f.lfd = vow_tcp_listen("127.0.0.1", 0, 8);
    f.port = vow_sock_port(f.lfd);
    f.big = calloc(1, BIG);
    assert_non_null(f.big);
    if (c->with_line)
        assert_int_equal(write(f.pair[1], "a\nb", 3), 3);
    int complete = 0;
    vow_loop *l = sweep_loop_new();
    if (l) {
        vow *p = c->op(l, &f);
        if (p) {
            if (vow_state(p) == VOW_PENDING && !c->wait)
                vow_cancel(p);
            tu_wait(l, p);
            int code = vow_code(p);
            assert_true(code == 0 || code == VOW_ENOMEM || code == VOW_ECANCELED);
            complete = code != VOW_ENOMEM;
            if (code == 0 && c->close_fd)
                close((int)vow_value(p)->num);
            vow_unref(p);
        }
        vow_stream_close(f.stream);
        sweep_run(l);
        assert_int_equal(vow_loop_close(l), 0);
    }
    /* A connection the connect sweep left in the backlog. */
    int extra = accept4(f.lfd, NULL, NULL, SOCK_CLOEXEC);
    if (extra >= 0)
        close(extra);
    close(f.lfd);
    close(f.pair[0]);
    close(f.pair[1]);
    free(f.big);
    return complete;
}

static void sweep_socketpair(void **state)
{
    (void)state;
    SWEEP(prog_socketpair, NULL);
}

static void sweep_tcp(void **state)
{
    (void)state;
    SWEEP(prog_tcp, NULL);
}

static void sweep_spawn(void **state)
{
    (void)state;
    SWEEP(prog_spawn, NULL);
}

static void sweep_ticker(void **state)
{
    (void)state;
    SWEEP(prog_ticker, NULL);
}

/* Sweeps each operation of a list ending with a NULL op (the test's state). */
static void sweep_ops(void **state)
{
    for (const struct op_case *c = *state; c->op; c++)
        SWEEP(prog_op, (void *)c);
}

/* A test case named name sweeping the operations of cases. */
#define OP_SWEEP(name, cases) { name, sweep_ops, NULL, NULL, (void *)(cases) }

static const struct op_case read_cases[] = { { op_read, false, false, false }, { 0 } };
static const struct op_case write_cases[] = { { op_write, false, false, false }, { 0 } };
static const struct op_case accept_cases[] = { { op_accept, false, false, false }, { 0 } };
static const struct op_case connect_cases[] = { { op_connect, false, true, true }, { 0 } };
static const struct op_case stream_cases[] = {
    { op_stream_read, false, false, false },
    { op_stream_read, true, false, false },
    { op_stream_write, false, false, false },
    { 0 },
};
static const struct op_case signal_cases[] = { { op_signal, false, false, false }, { 0 } };
static const struct op_case lines_cases[] = {
    { op_lines, true, false, false },
    { op_lines, false, false, false },
    { 0 },
};

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_socketpair),
        cmocka_unit_test(sweep_tcp),
        cmocka_unit_test(sweep_spawn),
        cmocka_unit_test(sweep_ticker),
        OP_SWEEP("sweep_read", read_cases),
        OP_SWEEP("sweep_write", write_cases),
        OP_SWEEP("sweep_accept", accept_cases),
        OP_SWEEP("sweep_connect", connect_cases),
        OP_SWEEP("sweep_stream", stream_cases),
        OP_SWEEP("sweep_signal", signal_cases),
        OP_SWEEP("sweep_lines", lines_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
