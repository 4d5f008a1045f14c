/* SPDX-License-Identifier: MIT */
/*
 * Child processes and signals: real children through /bin/sh, exit codes and
 * terminating signals, stdio pipes both ways, spawn failures, kill-on-cancel, and
 * vows of the next delivery of a signal.
 */
#include "io-test.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static void test_exit_code(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    const char *argv[] = { "/bin/sh", "-c", "exit 7", NULL };
    vow_process pr;
    assert_int_equal(vow_spawn(l, argv, 0, &pr), 0);
    assert_true(pr.pid > 0);
    assert_int_equal(pr.stdin_fd, -1);
    assert_int_equal(pr.stdout_fd, -1);
    assert_int_equal(pr.stderr_fd, -1);
    int64_t st = io_num(l, pr.exited);
    assert_int_equal(vow_exit_code(st), 7);
    assert_int_equal(vow_exit_signal(st), 0);
    /* Reaped by the loop: the pid is gone. */
    assert_int_equal(waitpid(pr.pid, NULL, WNOHANG), -1);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_signal_exit(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    const char *argv[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
    vow_process pr;
    assert_int_equal(vow_spawn(l, argv, 0, &pr), 0);
    int64_t st = io_num(l, pr.exited);
    assert_int_equal(vow_exit_code(st), -1);
    assert_int_equal(vow_exit_signal(st), SIGTERM);
    io_finish(l);
}

static void test_pipes(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    const char *argv[] = { "/bin/sh", "-c", "read x; echo \"got $x\"; echo oops >&2", NULL };
    vow_process pr;
    assert_int_equal(
        vow_spawn(l, argv, VOW_SPAWN_STDIN | VOW_SPAWN_STDOUT | VOW_SPAWN_STDERR, &pr), 0);
    assert_true(pr.stdin_fd >= 0 && pr.stdout_fd >= 0 && pr.stderr_fd >= 0);
    /* Our ends are non-blocking and close-on-exec. */
    assert_true(fcntl(pr.stdout_fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(pr.stdin_fd, F_GETFD) & FD_CLOEXEC);

    assert_int_equal(io_num(l, vow_write_all(l, pr.stdin_fd, "ping\n", 5)), 5);
    vow_fd_close(pr.stdin_fd);
    vow_lines *out = vow_lines_new(l, pr.stdout_fd, 0);
    vow_lines *err = vow_lines_new(l, pr.stderr_fd, 0);
    vow *p = vow_lines_next(out);
    tu_wait(l, p);
    assert_string_equal(vow_value(p)->ptr, "got ping");
    vow_unref(p);
    p = vow_lines_next(err);
    tu_wait(l, p);
    assert_string_equal(vow_value(p)->ptr, "oops");
    vow_unref(p);
    p = vow_lines_next(out);
    tu_wait(l, p);
    assert_null(vow_value(p)->ptr);
    vow_unref(p);
    assert_int_equal(io_num(l, pr.exited), 0);
    vow_lines_close(out);
    vow_lines_close(err);
    vow_fd_close(pr.stdout_fd);
    vow_fd_close(pr.stderr_fd);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_spawn_errors(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    vow_process pr = { .pid = -42 };
    const char *missing[] = { "/nonexistent/program", NULL };
    assert_int_equal(vow_spawn(l, missing, VOW_SPAWN_STDOUT, &pr), -ENOENT);
    assert_int_equal(pr.pid, -42);
    const char *empty[] = { NULL };
    assert_int_equal(vow_spawn(l, empty, 0, &pr), VOW_EINVAL);
    const char *ok[] = { "true", NULL };
    assert_int_equal(vow_spawn(l, ok, 1u << 20, &pr), VOW_EINVAL);
    assert_int_equal(vow_spawn(NULL, ok, 0, &pr), VOW_EINVAL);
    /* PATH search, and /dev/null stdio. */
    assert_int_equal(vow_spawn(l, ok, VOW_SPAWN_NULL_STDIO, &pr), 0);
    assert_int_equal(io_num(l, pr.exited), 0);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_kill_on_cancel(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    const char *argv[] = { "/bin/sh", "-c", "exec sleep 1000", NULL };
    vow_process pr;
    assert_int_equal(vow_spawn(l, argv, VOW_SPAWN_KILL_ON_CANCEL, &pr), 0);
    assert_int_equal(vow_cancel(pr.exited), 0);
    assert_int_equal(io_code(l, pr.exited), VOW_ECANCELED);
    /* The loop keeps running until the killed child is reaped: no zombie. */
    io_finish(l);
    assert_int_equal(waitpid(pr.pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);

    /* Without the flag, cancelling only stops waiting; the child is ours. */
    l = io_loop_new();
    assert_int_equal(vow_spawn(l, argv, 0, &pr), 0);
    assert_int_equal(vow_cancel(pr.exited), 0);
    assert_int_equal(io_code(l, pr.exited), VOW_ECANCELED);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(kill(pr.pid, 0), 0);
    kill(pr.pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pr.pid, &st, 0), pr.pid);
    assert_true(WIFSIGNALED(st));
    io_finish(l);
}

static void test_pgroup(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    /* The shell waits for a grandchild; signalling the group reaches both, so the
     * stdout pipe (held by the grandchild too) reaches EOF. */
    const char *argv[] = { "/bin/sh", "-c", "sleep 1000 & wait", NULL };
    vow_process pr;
    assert_int_equal(vow_spawn(l, argv, VOW_SPAWN_SETPGROUP | VOW_SPAWN_STDOUT, &pr), 0);
    assert_int_equal(getpgid(pr.pid), pr.pid);
    assert_int_equal(kill(-pr.pid, SIGTERM), 0);
    assert_int_equal(vow_exit_signal(io_num(l, pr.exited)), SIGTERM);
    char buf[4];
    assert_int_equal(io_num(l, vow_read(l, pr.stdout_fd, buf, sizeof(buf))), 0);
    vow_fd_close(pr.stdout_fd);
    io_finish(l);
}

static void test_signal_wait(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    vow *p = vow_signal_wait(l, SIGUSR1);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    assert_int_equal(io_num(l, p), SIGUSR1);

    /* A signal sent by a child process. */
    p = vow_signal_wait(l, SIGUSR2);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "kill -USR2 %d", (int)getpid());
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    vow_process pr;
    assert_int_equal(vow_spawn(l, argv, 0, &pr), 0);
    assert_int_equal(io_num(l, p), SIGUSR2);
    assert_int_equal(io_num(l, pr.exited), 0);

    /* Cancel and drop both withdraw the watcher. */
    p = vow_signal_wait(l, SIGUSR1);
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(io_code(l, p), VOW_ECANCELED);
    vow_unref(vow_signal_wait(l, SIGUSR1));
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);

    assert_int_equal(io_code(l, vow_signal_wait(l, SIGKILL)), VOW_EINVAL);
    io_finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_signal_exit),
        cmocka_unit_test(test_pipes),
        cmocka_unit_test(test_spawn_errors),
        cmocka_unit_test(test_kill_on_cancel),
        cmocka_unit_test(test_pgroup),
        cmocka_unit_test(test_signal_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
