/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweeps over the reactor: every handle's init and start (fd
 * watcher, timer, immediate, signal, child), vow_loop_post and
 * vow_loop_queue_microtask. A start or post that fails must return VOW_ENOMEM and its
 * callback must never run (a call that fails never runs its callback); nothing may
 * leak, fds included.
 */
#include "sweep.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct {
    int io, timer, immediate, signal, child, post, micro; /* callback runs */
    int child_status;
} runs;

static void on_io(vow_io *w, int fd, unsigned events)
{
    char c;
    assert_true(events & VOW_READABLE);
    assert_int_equal(read(fd, &c, 1), 1);
    runs.io++;
    assert_int_equal(vow_io_stop(w), 0);
}

static void on_timer(vow_timer *t)
{
    runs.timer++;
    assert_int_equal(vow_timer_stop(t), 0);
}

static void on_immediate(vow_immediate *im)
{
    (void)im;
    runs.immediate++;
}

static void on_signal(vow_signal *s, int signum)
{
    assert_int_equal(signum, SIGUSR1);
    runs.signal++;
    assert_int_equal(vow_signal_stop(s), 0);
}

static void on_child(vow_child *c, int pid, int exit_status, int term_signal)
{
    (void)c;
    (void)pid;
    assert_int_equal(term_signal, 0);
    runs.child_status = exit_status;
    runs.child++;
}

static void on_post(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    runs.post++;
}

static void on_micro(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    runs.micro++;
}

/* Each handle is started, fires once, and is stopped; returns 1 if all started. */
static int prog_handles(void *arg)
{
    (void)arg;
    memset(&runs, 0, sizeof(runs));
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);

    vow_io w;
    vow_timer t;
    vow_immediate im;
    vow_signal s;
    vow_child c;
    /* init binds a handle and allocates nothing that can fail. */
    assert_int_equal(vow_io_init(l, &w, fds[0], on_io), 0);
    assert_int_equal(vow_timer_init(l, &t, on_timer), 0);
    assert_int_equal(vow_immediate_init(l, &im, on_immediate), 0);
    assert_int_equal(vow_signal_init(l, &s, on_signal), 0);
    assert_int_equal(vow_child_init(l, &c, on_child), 0);

    int ok_io = sweep_rc(vow_io_start(&w, VOW_READABLE), 0);
    int ok_timer = sweep_rc(vow_timer_start(&t, 1, 0), 0);
    int ok_im = sweep_rc(vow_immediate_start(&im), 0);
    int ok_sig = sweep_rc(vow_signal_start(&s, SIGUSR1), 0);
    if (ok_sig)
        assert_int_equal(raise(SIGUSR1), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(3);
    int ok_child = sweep_rc(vow_child_start(&c, pid), 0);
    if (!ok_child)
        assert_int_equal(waitpid(pid, NULL, 0), pid);
    int ok_post = sweep_rc(vow_loop_post(l, on_post, NULL), 0);
    int ok_micro = sweep_rc(vow_loop_queue_microtask(l, on_micro, NULL), 0);

    sweep_run(l);
    /* A callback runs exactly when its start succeeded. */
    assert_int_equal(runs.io, ok_io);
    assert_int_equal(runs.timer, ok_timer);
    assert_int_equal(runs.immediate, ok_im);
    assert_int_equal(runs.signal, ok_sig);
    assert_int_equal(runs.child, ok_child);
    if (ok_child)
        assert_int_equal(runs.child_status, 3);
    assert_int_equal(runs.post, ok_post);
    assert_int_equal(runs.micro, ok_micro);

    /* Stopping a handle that is not active is a no-op (idempotent stop). */
    assert_int_equal(vow_io_stop(&w), 0);
    assert_int_equal(vow_timer_stop(&t), 0);
    assert_int_equal(vow_immediate_stop(&im), 0);
    assert_int_equal(vow_signal_stop(&s), 0);
    assert_int_equal(vow_child_stop(&c), 0);
    assert_int_equal(vow_loop_close(l), 0);
    close(fds[0]);
    close(fds[1]);
    return ok_io && ok_timer && ok_im && ok_sig && ok_child && ok_post && ok_micro;
}

/* Many timers at once: the heap grows while they are started. */
static int prog_timer_heap(void *arg)
{
    (void)arg;
    memset(&runs, 0, sizeof(runs));
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    enum { N = 40 };
    vow_timer t[N];
    int started = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(vow_timer_init(l, &t[i], on_timer), 0);
        started += sweep_rc(vow_timer_start(&t[i], (uint64_t)(i % 3), 0), 0);
    }
    sweep_run(l);
    assert_int_equal(runs.timer, started);
    assert_int_equal(vow_loop_close(l), 0);
    return started == N;
}

/* Many posts: each failed post leaves its callback unrun. */
static int prog_posts(void *arg)
{
    (void)arg;
    memset(&runs, 0, sizeof(runs));
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    int posted = 0, queued = 0;
    for (int i = 0; i < 20; i++) {
        posted += sweep_rc(vow_loop_post(l, on_post, NULL), 0);
        queued += sweep_rc(vow_loop_queue_microtask(l, on_micro, NULL), 0);
    }
    sweep_run(l);
    assert_int_equal(runs.post, posted);
    assert_int_equal(runs.micro, queued);
    assert_int_equal(vow_loop_close(l), 0);
    return posted == 20 && queued == 20;
}

static void sweep_handles(void **state)
{
    (void)state;
    SWEEP(prog_handles, NULL);
}

static void sweep_timer_heap(void **state)
{
    (void)state;
    SWEEP(prog_timer_heap, NULL);
}

static void sweep_posts(void **state)
{
    (void)state;
    SWEEP(prog_posts, NULL);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_handles),
        cmocka_unit_test(sweep_timer_heap),
        cmocka_unit_test(sweep_posts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
