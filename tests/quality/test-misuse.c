/* SPDX-License-Identifier: MIT */
/*
 * Bad input through the public API (checked, never a crash): NULL loops and vows, negative fds,
 * missing buffers, unknown modes, fds that cannot be watched, addresses in use. Each
 * call must return its documented error (or a vow rejected with it) and change
 * nothing; none may crash, leak or run a callback.
 */
#include "sweep.h"

#include "vow/io.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Checks a vow rejected at once with code, and drops it. */
static void rejected_with(vow_loop *l, vow *p, int code)
{
    assert_non_null(p);
    tu_wait(l, p);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    if (vow_code(p) != code)
        fail_msg("rejected with %s, expected %s", vow_err_name(vow_code(p)), vow_err_name(code));
    vow_unref(p);
}

static void loop_misuse(void **state)
{
    (void)state;
    assert_int_equal(vow_loop_run(NULL, VOW_RUN_NOWAIT), VOW_EINVAL);
    assert_int_equal(vow_loop_close(NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_post(NULL, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_queue_microtask(NULL, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_set_unhandled(NULL, NULL, NULL), VOW_EINVAL);
    assert_null(vow_pending(NULL));
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_loop_run(l, 99), VOW_EINVAL);
    assert_int_equal(vow_loop_run(l, -1), VOW_EINVAL);
    assert_int_equal(vow_loop_post(l, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_queue_microtask(l, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_keepalive(l, -1), VOW_EINVAL);
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
    assert_int_equal(vow_replace_allocator(NULL, NULL, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void on_io(vow_io *w, int fd, unsigned events)
{
    (void)w;
    (void)fd;
    (void)events;
    fail_msg("callback of a handle that never started");
}

static void on_timer(vow_timer *t)
{
    (void)t;
    fail_msg("callback of a handle that never started");
}

static void on_signal(vow_signal *s, int signum)
{
    (void)s;
    (void)signum;
    fail_msg("callback of a handle that never started");
}

static void on_child(vow_child *c, int pid, int status, int sig)
{
    (void)c;
    (void)pid;
    (void)status;
    (void)sig;
    fail_msg("callback of a handle that never started");
}

static void handle_misuse(void **state)
{
    (void)state;
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    vow_io w;
    vow_timer t;
    vow_signal s;
    vow_child c;
    assert_int_equal(vow_io_init(NULL, &w, 0, on_io), VOW_EINVAL);
    assert_int_equal(vow_io_init(l, NULL, 0, on_io), VOW_EINVAL);
    assert_int_equal(vow_io_init(l, &w, -1, on_io), VOW_EINVAL);
    assert_int_equal(vow_io_init(l, &w, 0, NULL), VOW_EINVAL);
    assert_int_equal(vow_timer_init(l, &t, NULL), VOW_EINVAL);
    assert_int_equal(vow_signal_init(l, &s, NULL), VOW_EINVAL);
    assert_int_equal(vow_child_init(l, &c, NULL), VOW_EINVAL);

    /* A regular file cannot be watched by epoll (-EPERM); poll accepts it. */
    char path[] = "/tmp/vow-misuse-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(vow_io_init(l, &w, fd, on_io), 0);
    assert_int_equal(vow_io_start(&w, 0), VOW_EINVAL);
    int r = vow_io_start(&w, VOW_READABLE);
    if (strcmp(vow_loop_backend_name(l), "epoll") == 0)
        assert_int_equal(r, -EPERM);
    assert_int_equal(vow_io_stop(&w), 0);
    close(fd);

    assert_int_equal(vow_signal_init(l, &s, on_signal), 0);
    assert_int_equal(vow_signal_start(&s, SIGKILL), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, SIGSTOP), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, 0), VOW_EINVAL);
    assert_int_equal(vow_signal_start(&s, 4096), VOW_EINVAL);
    assert_int_equal(vow_child_init(l, &c, on_child), 0);
    assert_int_equal(vow_child_start(&c, 0), VOW_EINVAL);
    assert_int_equal(vow_child_start(&c, -5), VOW_EINVAL);
    assert_int_equal(vow_timer_init(l, &t, on_timer), 0);
    assert_int_equal(vow_timer_stop(&t), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void vow_misuse(void **state)
{
    (void)state;
    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_resolve(NULL, vow_val_num(1)), VOW_EINVAL);
    assert_int_equal(vow_reject(NULL, -EIO, vow_val_none()), VOW_EINVAL);
    assert_int_equal(vow_resolve_with(NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_cancel(NULL), VOW_EINVAL);
    assert_int_equal(vow_on_cancel(NULL, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_settle(NULL, vow_ok(vow_val_num(1))), VOW_EINVAL);
    assert_null(vow_then(NULL, NULL, NULL, NULL));
    assert_null(vow_remote_new(NULL));
    assert_int_equal(vow_state(NULL), VOW_EINVAL);
    vow_unref(NULL);

    vow *p = vow_pending(l);
    assert_int_equal(vow_reject(p, 0, vow_val_none()), VOW_EINVAL);
    assert_int_equal(vow_reject(p, 5, vow_val_none()), VOW_EINVAL);
    assert_int_equal(vow_resolve_with(p, NULL), VOW_EINVAL);
    assert_int_equal(vow_settle(p, vow_pass()), VOW_EINVAL);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_null(vow_value(p));
    /* A vow of another loop cannot be adopted. */
    vow_loop *other = sweep_loop_new();
    assert_non_null(other);
    assert_int_equal(vow_resolve_with(p, vow_pending(other)), VOW_EINVAL);
    assert_int_equal(vow_loop_close(other), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(1)), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(2)), VOW_ESETTLED);
    assert_int_equal(vow_cancel(p), VOW_ESETTLED);
    assert_int_equal(vow_value(p)->num, 1);
    vow_unref(p);

    /* A NULL input rejects a combinator with VOW_EINVAL and consumes the others. */
    vow *in[2] = {vow_resolved(l, vow_val_num(1)), NULL};
    rejected_with(l, vow_all(l, in, 2), VOW_EINVAL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void io_misuse(void **state)
{
    (void)state;
    char buf[8];
    assert_null(vow_readable(NULL, 0));
    assert_null(vow_writable(NULL, 0));
    assert_null(vow_read(NULL, 0, buf, 1));
    assert_null(vow_read_exact(NULL, 0, buf, 1));
    assert_null(vow_write_all(NULL, 0, buf, 1));
    assert_null(vow_accept(NULL, 0));
    assert_null(vow_tcp_connect(NULL, "127.0.0.1", 1));
    assert_null(vow_unix_connect(NULL, "/nonexistent"));
    assert_null(vow_lines_new(NULL, 0, 0));
    assert_null(vow_ticker_new(NULL, 1));
    assert_int_equal(vow_fd_nonblock(-1), VOW_EINVAL);
    assert_int_equal(vow_fd_close(-1), VOW_EINVAL);
    assert_int_equal(vow_sock_port(-1), VOW_EINVAL);
    assert_int_equal(vow_tcp_listen("not-an-address", 0, 1), VOW_EINVAL);
    assert_int_equal(vow_tcp_listen(NULL, 0, 1), VOW_EINVAL);

    vow_loop *l = sweep_loop_new();
    assert_non_null(l);
    assert_null(vow_ticker_new(l, 0));
    rejected_with(l, vow_readable(l, -1), VOW_EINVAL);
    rejected_with(l, vow_writable(l, -1), VOW_EINVAL);
    rejected_with(l, vow_read(l, -1, buf, 1), VOW_EINVAL);
    rejected_with(l, vow_read(l, 0, NULL, 1), VOW_EINVAL);
    rejected_with(l, vow_read(l, 0, buf, 0), VOW_EINVAL);
    rejected_with(l, vow_read_exact(l, -1, buf, 1), VOW_EINVAL);
    rejected_with(l, vow_read_exact(l, 0, NULL, 1), VOW_EINVAL);
    rejected_with(l, vow_write_all(l, -1, buf, 1), VOW_EINVAL);
    rejected_with(l, vow_write_all(l, 0, NULL, 1), VOW_EINVAL);
    rejected_with(l, vow_accept(l, -1), VOW_EINVAL);
    /* A string that is not a numeric address is a host name, looked up; these are
     * refused before any lookup. */
    rejected_with(l, vow_tcp_connect(l, NULL, 80), VOW_EINVAL);
    rejected_with(l, vow_tcp_connect(l, "localhost", 0), VOW_EINVAL);
    rejected_with(l, vow_tcp_connect(l, "localhost", 65536), VOW_EINVAL);
    rejected_with(l, vow_tcp_connect(l, "127.0.0.1", 0), VOW_EINVAL);
    rejected_with(l, vow_unix_connect(l, NULL), VOW_EINVAL);

    /* Syscall failures reach the caller as -errno: a closed fd, a non-socket, a port
     * in use, a socket that is not inet. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(vow_fd_nonblock(fds[0]), 0);
    assert_int_equal(vow_sock_port(fds[0]), -ENOTSOCK);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(vow_fd_nonblock(fds[0]), -EBADF);
    assert_int_equal(vow_fd_close(fds[0]), -EBADF);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(vow_sock_port(sv[0]), VOW_EINVAL);
    close(sv[0]);
    close(sv[1]);
    int lfd = vow_tcp_listen("127.0.0.1", 0, 1);
    assert_true(lfd >= 0);
    int port = vow_sock_port(lfd);
    assert_true(port > 0);
    /* SO_REUSEADDR does not allow two listeners on one port. */
    assert_int_equal(vow_tcp_listen("127.0.0.1", port, 1), -EADDRINUSE);
    close(lfd);

    char path[] = "/tmp/vow-misuse-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* Not a socket: left alone, so bind reports it in use. */
    assert_int_equal(vow_unix_listen(path, 1), -EADDRINUSE);
    /* A regular file has no readiness: every fd operation refuses it the same way on
     * both backends (vow/fs.h is the way to files). */
    char c;
    rejected_with(l, vow_readable(l, fd), VOW_EFILE);
    rejected_with(l, vow_writable(l, fd), VOW_EFILE);
    rejected_with(l, vow_read(l, fd, &c, 1), VOW_EFILE);
    rejected_with(l, vow_read_exact(l, fd, &c, 1), VOW_EFILE);
    rejected_with(l, vow_write_all(l, fd, "x", 1), VOW_EFILE);
    /* So does a directory. */
    int dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    rejected_with(l, vow_readable(l, dfd), VOW_EFILE);
    close(dfd);
    close(fd);
    unlink(path);
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(vow_unix_listen(longpath, 1), VOW_EINVAL);
    rejected_with(l, vow_unix_connect(l, longpath), VOW_EINVAL);

    const char *const empty[] = {NULL};
    const char *const argv[] = {"true", NULL};
    vow_process proc;
    assert_int_equal(vow_spawn(NULL, argv, 0, &proc), VOW_EINVAL);
    assert_int_equal(vow_spawn(l, NULL, 0, &proc), VOW_EINVAL);
    assert_int_equal(vow_spawn(l, empty, 0, &proc), VOW_EINVAL);
    assert_int_equal(vow_spawn(l, argv, 1u << 20, &proc), VOW_EINVAL);
    assert_int_equal(vow_spawn(l, argv, 0, NULL), VOW_EINVAL);
    rejected_with(l, vow_signal_wait(l, SIGKILL), VOW_EINVAL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_misuse),
        cmocka_unit_test(handle_misuse),
        cmocka_unit_test(vow_misuse),
        cmocka_unit_test(io_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
