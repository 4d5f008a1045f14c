/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweeps over the promise-returning I/O of vow/io.h: a write and
 * an exact read over a socketpair, a line reader, a TCP accept/connect pair on
 * 127.0.0.1 port 0, a child process with a piped stdout, and the ticker. Each failure
 * must be NULL, VOW_ENOMEM or a VOW_ENOMEM rejection, with no leaked memory or fd and
 * no child left unreaped.
 */
#include "sweep.h"

#include "vow/io.h"

#include <signal.h>
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
        sweep_wait(l, wr);
        complete &= sweep_expect(wr, 0, (int64_t)sizeof(msg) - 1);
        if (vow_state(wr) == VOW_FULFILLED) {
            sweep_wait(l, rd);
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
            sweep_wait(l, line);
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
        sweep_wait(l, con);
        complete &= sweep_settled(con, VOW_FULFILLED);
    }
    if (acc && con && vow_state(con) == VOW_FULFILLED) {
        sweep_wait(l, acc);
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
            sweep_wait(l, line);
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
    sweep_wait(l, proc.exited);
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
            sweep_wait(l, tick);
            if (sweep_settled(tick, VOW_FULFILLED))
                assert_true(vow_value(tick)->num >= i);
            else
                complete = 0;
            vow_unref(tick);
        }
        vow_ticker_close(t);
    }
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_socketpair),
        cmocka_unit_test(sweep_tcp),
        cmocka_unit_test(sweep_spawn),
        cmocka_unit_test(sweep_ticker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
