/* SPDX-License-Identifier: MIT */
/*
 * Sockets on loopback: TCP over IPv4 and IPv6 (when ::1 exists) and Unix sockets,
 * accept/connect, refused connections, peer resets mid-transfer, shutdown, and
 * cancellation of accept and connect without fd leaks.
 */
#include "io-test.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Connects to a listener on host and checks a round trip both ways. */
static void round_trip(vow_loop *l, const char *host)
{
    int lfd = vow_tcp_listen(host, 0, 16);
    assert_true(lfd >= 0);
    int port = vow_sock_port(lfd);
    assert_true(port > 0);

    vow *acc = vow_accept(l, lfd);
    vow *con = vow_tcp_connect(l, host, port);
    int c = (int)io_num(l, con);
    int s = (int)io_num(l, acc);
    assert_true(c >= 0 && s >= 0);

    char buf[8];
    assert_int_equal(io_num(l, vow_write_all(l, c, "hello", 5)), 5);
    assert_int_equal(io_num(l, vow_read_exact(l, s, buf, 5)), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(io_num(l, vow_write_all(l, s, "world", 5)), 5);
    assert_int_equal(io_num(l, vow_read_exact(l, c, buf, 5)), 5);
    assert_memory_equal(buf, "world", 5);

    /* Shutdown of the write side: the peer reads EOF, and can still answer. */
    assert_int_equal(vow_shutdown_write(c), 0);
    assert_int_equal(io_num(l, vow_read(l, s, buf, sizeof(buf))), 0);
    assert_int_equal(io_num(l, vow_write_all(l, s, "bye", 3)), 3);
    assert_int_equal(io_num(l, vow_read_exact(l, c, buf, 3)), 3);

    assert_int_equal(vow_fd_close(c), 0);
    assert_int_equal(vow_fd_close(s), 0);
    assert_int_equal(vow_fd_close(lfd), 0);
}

static void test_tcp4(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    round_trip(l, "127.0.0.1");
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_tcp6(void **state)
{
    (void)state;
    int probe = vow_tcp_listen("::1", 0, 1);
    if (probe < 0)
        skip();
    vow_fd_close(probe);
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    round_trip(l, "::1");
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_unix(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vow-io-test-%d.sock", (int)getpid());
    int lfd = vow_unix_listen(path, 4);
    assert_true(lfd >= 0);
    vow *acc = vow_accept(l, lfd);
    int c = (int)io_num(l, vow_unix_connect(l, path));
    int s = (int)io_num(l, acc);
    char buf[4];
    assert_int_equal(io_num(l, vow_write_all(l, c, "abc", 3)), 3);
    assert_int_equal(io_num(l, vow_read_exact(l, s, buf, 3)), 3);
    assert_memory_equal(buf, "abc", 3);
    vow_fd_close(c);
    vow_fd_close(s);
    vow_fd_close(lfd);
    /* Listening again on the same path replaces the stale socket file. */
    lfd = vow_unix_listen(path, 4);
    assert_true(lfd >= 0);
    vow_fd_close(lfd);
    unlink(path);
    assert_int_equal(io_code(l, vow_unix_connect(l, path)), -ENOENT);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_refused(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    /* A port that was just free: bind, read the port, close. */
    int lfd = vow_tcp_listen("127.0.0.1", 0, 1);
    int port = vow_sock_port(lfd);
    vow_fd_close(lfd);
    assert_int_equal(io_code(l, vow_tcp_connect(l, "127.0.0.1", port)), -ECONNREFUSED);
    /* Not numeric: a name, which does not exist (the resolver may also be unreachable,
     * then the lookup fails with VOW_EAI_AGAIN). */
    int c = io_code(l, vow_tcp_connect(l, "nonexistent.invalid", 80));
    assert_true(c == VOW_EAI_NONAME || c == VOW_EAI_AGAIN);
    assert_int_equal(io_code(l, vow_tcp_connect(l, "", 80)), VOW_EINVAL);
    assert_int_equal(io_code(l, vow_tcp_connect(l, "127.0.0.1", 70000)), VOW_EINVAL);
    assert_int_equal(vow_tcp_listen("256.1.1.1", 0, 1), VOW_EINVAL);
    assert_int_equal(vow_tcp_listen(NULL, 0, 1), VOW_EINVAL);
    assert_int_equal(vow_sock_port(-1), VOW_EINVAL);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

/* Makes the next close of fd send a reset instead of a FIN. */
static void set_linger0(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
}

static void test_reset(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int lfd = vow_tcp_listen("127.0.0.1", 0, 4);
    int port = vow_sock_port(lfd);

    /* A writer blocked on a full buffer sees the reset as a rejection. */
    vow *acc = vow_accept(l, lfd);
    int c = (int)io_num(l, vow_tcp_connect(l, "127.0.0.1", port));
    int s = (int)io_num(l, acc);
    size_t n = 16u << 20;
    char *big = calloc(1, n);
    vow *w = vow_write_all(l, c, big, n);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(w), VOW_PENDING);
    set_linger0(s);
    vow_fd_close(s);
    int code = io_code(l, w);
    assert_true(code == -ECONNRESET || code == -EPIPE);
    free(big);
    vow_fd_close(c);

    /* A reader in the middle of read-exactly sees the reset too. */
    acc = vow_accept(l, lfd);
    c = (int)io_num(l, vow_tcp_connect(l, "127.0.0.1", port));
    s = (int)io_num(l, acc);
    char buf[64];
    vow *r = vow_read_exact(l, c, buf, sizeof(buf));
    assert_int_equal(io_num(l, vow_write_all(l, s, "partial", 7)), 7);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(r), VOW_PENDING);
    set_linger0(s);
    vow_fd_close(s);
    tu_wait(l, r);
    assert_int_equal(vow_code(r), -ECONNRESET);
    assert_int_equal(vow_value(r)->num, 7);
    vow_unref(r);
    vow_fd_close(c);

    /* A clean close in the middle of read-exactly is VOW_EOF with the count. */
    acc = vow_accept(l, lfd);
    c = (int)io_num(l, vow_tcp_connect(l, "127.0.0.1", port));
    s = (int)io_num(l, acc);
    r = vow_read_exact(l, c, buf, sizeof(buf));
    assert_int_equal(io_num(l, vow_write_all(l, s, "abc", 3)), 3);
    vow_fd_close(s);
    tu_wait(l, r);
    assert_int_equal(vow_code(r), VOW_EOF);
    assert_int_equal(vow_value(r)->num, 3);
    vow_unref(r);
    vow_fd_close(c);

    vow_fd_close(lfd);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_cancel(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int lfd = vow_tcp_listen("127.0.0.1", 0, 4);
    int port = vow_sock_port(lfd);

    /* Cancelled accept: a later connection is still accepted by the next call. */
    vow *acc = vow_accept(l, lfd);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(acc), 0);
    assert_int_equal(io_code(l, acc), VOW_ECANCELED);
    vow *con = vow_tcp_connect(l, "127.0.0.1", port);
    acc = vow_accept(l, lfd);
    int c = (int)io_num(l, con);
    int s = (int)io_num(l, acc);
    vow_fd_close(c);
    vow_fd_close(s);

    /* Cancelled connect closes its socket (the fd count below proves it). A full
     * backlog keeps a connect pending only sometimes on loopback, so cancel it
     * before the loop runs at all. */
    con = vow_tcp_connect(l, "127.0.0.1", port);
    assert_int_equal(vow_cancel(con), 0);
    assert_int_equal(io_code(l, con), VOW_ECANCELED);
    /* The connection from the cancelled connect may sit in the backlog: drain it. */
    int drained = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (drained >= 0)
        close(drained);
    vow_fd_close(lfd);

    /* Dropping a pending accept withdraws it (on a listener nobody connects to). */
    lfd = vow_tcp_listen("127.0.0.1", 0, 4);
    vow_unref(vow_accept(l, lfd));
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    vow_fd_close(lfd);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_many_clients(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int lfd = vow_tcp_listen("127.0.0.1", 0, 64);
    int port = vow_sock_port(lfd);
    enum { N = 20 };
    vow *cons[N];
    int srv[N];
    for (int i = 0; i < N; i++)
        cons[i] = vow_tcp_connect(l, "127.0.0.1", port);
    for (int i = 0; i < N; i++)
        srv[i] = (int)io_num(l, vow_accept(l, lfd));
    vow *all = vow_all(l, cons, N);
    tu_wait(l, all);
    assert_int_equal(vow_state(all), VOW_FULFILLED);
    const vow_list *lst = vow_list_get(vow_value(all));
    assert_int_equal(lst->n, N);
    for (size_t i = 0; i < lst->n; i++) {
        int c = (int)vow_value(lst->items[i])->num;
        char b = (char)('a' + i);
        assert_int_equal(io_num(l, vow_write_all(l, c, &b, 1)), 1);
        vow_fd_close(c);
    }
    vow_unref(all);
    /* Every server side sees one byte then EOF. */
    for (int i = 0; i < N; i++) {
        char buf[4];
        assert_int_equal(io_num(l, vow_read_exact(l, srv[i], buf, 1)), 1);
        assert_int_equal(io_num(l, vow_read(l, srv[i], buf, sizeof(buf))), 0);
        vow_fd_close(srv[i]);
    }
    vow_fd_close(lfd);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp4),
        cmocka_unit_test(test_tcp6),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_many_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
