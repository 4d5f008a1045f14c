/* SPDX-License-Identifier: MIT */
/*
 * Child-process watchers on real children: exit code, killed by a signal, a child that
 * exited before the watch started, stop before exit, ESRCH and EINVAL. Each case runs
 * with pidfd and with the SIGCHLD fallback (VOW_PIDFD=0).
 */
#include "rt.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct cctx {
    int calls;   /* callbacks */
    int pid;     /* reported pid */
    int status;  /* reported exit status */
    int sig;     /* reported signal */
};

static void on_exit_cb(vow_child *c, int pid, int exit_status, int term_signal)
{
    struct cctx *x = c->data;
    x->calls++;
    x->pid = pid;
    x->status = exit_status;
    x->sig = term_signal;
}

static void mode(int pidfd)
{
    if (pidfd)
        unsetenv("VOW_PIDFD");
    else
        setenv("VOW_PIDFD", "0", 1);
}

static int spawn_exit(int code)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(code);
    return pid;
}

static int spawn_forever(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void exit_code(int pidfd)
{
    mode(pidfd);
    vow_loop *l = rt_new();
    struct cctx x = { 0 };
    vow_child c;
    assert_int_equal(vow_child_init(l, &c, on_exit_cb), 0);
    c.data = &x;
    int pid = spawn_exit(7);
    assert_int_equal(vow_child_start(&c, pid), 0);
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.pid, pid);
    assert_int_equal(x.status, 7);
    assert_int_equal(x.sig, 0);
    /* Reaped by the loop. */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    rt_end(l);
}

static void killed(int pidfd)
{
    mode(pidfd);
    vow_loop *l = rt_new();
    struct cctx x = { 0 };
    vow_child c;
    assert_int_equal(vow_child_init(l, &c, on_exit_cb), 0);
    c.data = &x;
    int pid = spawn_forever();
    assert_int_equal(vow_child_start(&c, pid), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(x.calls, 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.status, 0);
    assert_int_equal(x.sig, SIGKILL);
    rt_end(l);
}

/* Exited (a zombie) before the watch: still reported, on either mechanism. */
static void exited_before(int pidfd)
{
    mode(pidfd);
    vow_loop *l = rt_new();
    struct cctx x = { 0 };
    vow_child c;
    assert_int_equal(vow_child_init(l, &c, on_exit_cb), 0);
    c.data = &x;
    int pid = spawn_exit(3);
    siginfo_t info;
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(vow_child_start(&c, pid), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.status, 3);
    rt_end(l);
}

static void stop_before_exit(int pidfd)
{
    mode(pidfd);
    vow_loop *l = rt_new();
    struct cctx x = { 0 };
    vow_child c;
    assert_int_equal(vow_child_init(l, &c, on_exit_cb), 0);
    c.data = &x;
    int pid = spawn_forever();
    assert_int_equal(vow_child_start(&c, pid), 0);
    assert_int_equal(vow_child_stop(&c), 0);
    assert_int_equal(vow_child_stop(&c), 0);
    assert_int_equal(vow_loop_alive(l), 0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(x.calls, 0);
    rt_end(l);
}

static void errors(int pidfd)
{
    mode(pidfd);
    vow_loop *l = rt_new();
    vow_child c;
    assert_int_equal(vow_child_init(l, &c, NULL), VOW_EINVAL);
    assert_int_equal(vow_child_init(l, &c, on_exit_cb), 0);
    assert_int_equal(vow_child_start(&c, 0), VOW_EINVAL);
    assert_int_equal(vow_child_start(&c, -5), VOW_EINVAL);
    assert_int_equal(vow_child_start(NULL, 1), VOW_EINVAL);
    /* Not our child, and a child already reaped. */
    assert_int_equal(vow_child_start(&c, getpid()), -ESRCH);
    int pid = spawn_exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(vow_child_start(&c, pid), -ESRCH);
    assert_int_equal(vow_loop_alive(l), 0);
    rt_end(l);
}

/* Several children at once, on one loop, exiting in any order. */
static void several(int pidfd)
{
    mode(pidfd);
    vow_loop *l = rt_new();
    enum { N = 5 };
    struct cctx x[N] = { { 0 } };
    vow_child c[N];
    int pids[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(vow_child_init(l, &c[i], on_exit_cb), 0);
        c[i].data = &x[i];
        pids[i] = spawn_exit(10 + i);
        assert_int_equal(vow_child_start(&c[i], pids[i]), 0);
    }
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(x[i].calls, 1);
        assert_int_equal(x[i].pid, pids[i]);
        assert_int_equal(x[i].status, 10 + i);
    }
    rt_end(l);
}

#define BOTH(fn)                                                                           \
    static void fn##_pidfd(void **state)                                                   \
    {                                                                                      \
        fn(1);                                                                             \
    }                                                                                      \
    static void fn##_fallback(void **state)                                                \
    {                                                                                      \
        fn(0);                                                                             \
    }

BOTH(exit_code)
BOTH(killed)
BOTH(exited_before)
BOTH(stop_before_exit)
BOTH(errors)
BOTH(several)

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_code_pidfd),        cmocka_unit_test(exit_code_fallback),
        cmocka_unit_test(killed_pidfd),           cmocka_unit_test(killed_fallback),
        cmocka_unit_test(exited_before_pidfd),    cmocka_unit_test(exited_before_fallback),
        cmocka_unit_test(stop_before_exit_pidfd), cmocka_unit_test(stop_before_exit_fallback),
        cmocka_unit_test(errors_pidfd),           cmocka_unit_test(errors_fallback),
        cmocka_unit_test(several_pidfd),          cmocka_unit_test(several_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
