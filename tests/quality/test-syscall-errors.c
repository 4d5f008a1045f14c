/* SPDX-License-Identifier: MIT */
/*
 * Error paths behind system calls: an fd-exhaustion sweep (RLIMIT_NOFILE lowered to
 * 0, 1, 2, ... fds above what is open) over the loop, sockets and spawn, on both
 * backends, where every failure must be NULL or -EMFILE/-ENFILE with nothing left
 * behind; and the white-box after-fork path that gives a child its own backend.
 */
#include "sweep.h"

#include "vow/io.h"

#include "reactor.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int fd_failure(int r)
{
    return r == -EMFILE || r == -ENFILE;
}

/* A rejection or error from fd exhaustion: 1 if r means success, 0 if it is fd
 * exhaustion, a test failure otherwise. */
static int fd_rc(int r)
{
    if (r >= 0)
        return 1;
    if (!fd_failure(r))
        fail_msg("failed with %s, expected success or EMFILE", vow_err_name(r));
    return 0;
}

/* The scenario: a loop, a listening socket, a connection, a child with a pipe. */
static int fd_program(void)
{
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    assert_int_equal(vow_loop_set_unhandled(l, tu_quiet, NULL), 0);
    int complete = 0;
    int lfd = vow_tcp_listen("127.0.0.1", 0, 4);
    if (fd_rc(lfd)) {
        vow *con = vow_tcp_connect(l, "127.0.0.1", vow_sock_port(lfd));
        assert_non_null(con);
        tu_wait(l, con);
        if (vow_state(con) == VOW_REJECTED) {
            fd_rc(vow_code(con));
        } else {
            vow *acc = vow_accept(l, lfd);
            assert_non_null(acc);
            tu_wait(l, acc);
            if (fd_rc(vow_code(acc))) {
                assert_int_equal(vow_fd_close((int)vow_value(acc)->num), 0);
                complete = 1;
            }
            vow_unref(acc);
            assert_int_equal(vow_fd_close((int)vow_value(con)->num), 0);
        }
        vow_unref(con);
        close(lfd);
    }
    if (complete) {
        const char *const argv[] = {"true", NULL};
        vow_process proc;
        int r = vow_spawn(l, argv, VOW_SPAWN_STDOUT | VOW_SPAWN_NULL_STDIO, &proc);
        complete = fd_rc(r);
        if (r == 0) {
            assert_int_equal(vow_fd_close(proc.stdout_fd), 0);
            tu_wait(l, proc.exited);
            if (vow_state(proc.exited) == VOW_FULFILLED)
                assert_int_equal(vow_value(proc.exited)->num, 0);
            else if (!fd_rc(vow_code(proc.exited)))
                assert_int_equal(waitpid(proc.pid, NULL, 0), proc.pid);
            vow_unref(proc.exited);
        }
    }
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

/* How many fd numbers below lim are free (the ones a new fd can take). */
static long free_below(long lim)
{
    long used = 0;
    for (long fd = 0; fd < lim; fd++)
        used += fcntl((int)fd, F_GETFD) >= 0;
    return lim - used;
}

static void fd_sweep(const char *backend)
{
    assert_int_equal(setenv("VOW_BACKEND", backend, 1), 0);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    long base = tu_open_fds();
    /* The lowest limit with 0 free numbers, then one more free fd per step. */
    long lim = 0;
    while (free_below(lim + 1) == 0)
        lim++;
    int extra;
    for (extra = 0; extra < 64; extra++) {
        while (free_below(lim) < extra)
            lim++;
        struct rlimit cap = old;
        cap.rlim_cur = (rlim_t)lim;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &cap), 0);
        int complete = fd_program();
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        assert_int_equal(tu_open_fds(), base);
        assert_int_equal(tu_live_allocations(), 0);
        if (complete)
            break;
    }
    assert_true(extra > 0 && extra < 64);
    print_message("# %s: fd exhaustion swept with 0..%d free fds\n", backend, extra - 1);
    assert_int_equal(unsetenv("VOW_BACKEND"), 0);
}

static void fd_sweep_epoll(void **state)
{
    (void)state;
    fd_sweep("epoll");
}

static void fd_sweep_poll(void **state)
{
    (void)state;
    fd_sweep("poll");
}

static int fork_reads; /* readable events seen by the child's watcher */

static void on_readable(vow_io *w, int fd, unsigned events)
{
    char c;
    if ((events & VOW_READABLE) && read(fd, &c, 1) == 1)
        fork_reads++;
    vow_io_stop(w);
}

/*
 * A loop with a started fd watcher crosses fork(): the child replaces the shared
 * kernel state (vow__loop_after_fork) and still gets its event; the parent's loop is
 * untouched by what the child does.
 */
static void after_fork(const char *backend)
{
    assert_int_equal(setenv("VOW_BACKEND", backend, 1), 0);
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, fds[0], on_readable), 0);
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    /* The child leaves through exit() (so a coverage build records what it ran):
     * nothing buffered may be written twice. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child reports through its exit status: cmocka lives in the parent. */
        int st = 1;
        if (vow__loop_after_fork(l) == 0 && write(fds[1], "x", 1) == 1 &&
            vow_loop_run(l, VOW_RUN_DEFAULT) == 0 && fork_reads == 1 && vow_loop_close(l) == 0)
            st = 0;
        exit(st);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The child consumed its byte; the parent's watcher is still started and idle. */
    assert_int_equal(fork_reads, 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(write(fds[1], "y", 1), 1);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(fork_reads, 1);
    fork_reads = 0;
    assert_int_equal(vow_loop_close(l), 0);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(tu_live_allocations(), 0);
    assert_int_equal(unsetenv("VOW_BACKEND"), 0);
}

static void after_fork_epoll(void **state)
{
    (void)state;
    after_fork("epoll");
}

static void after_fork_poll(void **state)
{
    (void)state;
    after_fork("poll");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fd_sweep_epoll),
        cmocka_unit_test(fd_sweep_poll),
        cmocka_unit_test(after_fork_epoll),
        cmocka_unit_test(after_fork_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
