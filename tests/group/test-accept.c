/* SPDX-License-Identifier: MIT */
/*
 * Accept spread across a group's loops, over real loopback connections made by the
 * test's own loop: a socket per loop with SO_REUSEPORT (every loop gets some of 64
 * connections), and the hand-off from loop 0 to the least-loaded loop (30 connections
 * open at once on 3 loops: exactly 10 each). Each connection answers one byte with
 * its loop's index. The stop cancels the connections still open (the client reads
 * EOF) and closes the sockets. Errors: a bad address, a port taken, a call from the
 * group's own thread, after the stop.
 */
#include "group-test.h"

#include "vow/io.h"

#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ server */

struct conn {
    int fd;      /* the connection */
    char b;      /* the byte read, then the answer */
    vow_loop *l; /* its loop */
    vow_group *g;
};

static atomic_int conns_opened, conns_closed;

/* Waits (yielding, not sleeping) until n connections reached their loops. */
static void wait_opened(int n)
{
    while (atomic_load(&conns_opened) < n)
        sched_yield();
}

static vow_ret got_byte(void *ctx, const vow_val *v)
{
    struct conn *c = ctx;
    if (v->num != 1)
        return vow_ok(vow_val_none()); /* EOF: nothing to answer */
    c->b = (char)('0' + vow_group_self(c->g));
    return vow_follow(vow_write_all(c->l, c->fd, &c->b, 1));
}

static vow_ret done_ok(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return vow_ok(vow_val_none());
}

static vow_ret done_err(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)d;
    return vow_ok(vow_val_num(code));
}

/* Runs once whatever happens: after the answer, or when the stop cancels it. */
static void conn_close(void *ctx)
{
    struct conn *c = ctx;
    vow_fd_close(c->fd);
    vow_free(c);
    atomic_fetch_add(&conns_closed, 1);
}

static vow *on_conn(vow_loop *l, int fd, void *ctx)
{
    struct conn *c = vow_malloc(sizeof(*c));
    if (!c) {
        vow_fd_close(fd);
        return NULL;
    }
    *c = (struct conn){.fd = fd, .l = l, .g = ctx};
    atomic_fetch_add(&conns_opened, 1);
    vow *r = vow_then(vow_read(l, fd, &c->b, 1), got_byte, NULL, c);
    return vow_then_full(r, done_ok, done_err, c, conn_close);
}

/* ------------------------------------------------------------------ client */

/* n connections to port, all open before any byte is sent; fds[i] set. */
static void connect_all(vow_loop *x, int port, int *fds, int n)
{
    vow *ps[64];
    for (int i = 0; i < n; i++)
        ps[i] = vow_tcp_connect(x, "127.0.0.1", port);
    vow *all = vow_all(x, ps, (size_t)n);
    tu_wait(x, all);
    assert_int_equal(vow_state(all), VOW_FULFILLED);
    const vow_list *list = vow_list_get(vow_value(all));
    for (int i = 0; i < n; i++)
        fds[i] = (int)vow_value(list->items[i])->num;
    vow_unref(all);
}

/* Sends a byte on each fd and reads one back: answers[i] is it, or 0 at EOF. */
static void ask_all(vow_loop *x, const int *fds, char *answers, int n, bool send)
{
    vow *ps[64];
    for (int i = 0; i < n; i++) {
        if (send)
            vow_unref(vow_write_all(x, fds[i], "?", 1)); /* one byte: done at once */
        answers[i] = 0;
        ps[i] = vow_read(x, fds[i], &answers[i], 1);
    }
    vow *all = vow_all(x, ps, (size_t)n);
    tu_wait(x, all);
    assert_int_equal(vow_state(all), VOW_FULFILLED);
    vow_unref(all);
}

static void close_all(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* ------------------------------------------------------------------- tests */

static void test_reuseport(void **state)
{
    (void)state;
    atomic_store(&conns_closed, 0);
    atomic_store(&conns_opened, 0);
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    int port = vow_group_listen(g, "127.0.0.1", 0, 128, 0, on_conn, g);
    assert_true(port > 0);
    int fds[64];
    char answers[64];
    connect_all(x, port, fds, 64);
    ask_all(x, fds, answers, 64, true);
    int per[2] = {0, 0};
    for (int i = 0; i < 64; i++) {
        assert_true(answers[i] == '0' || answers[i] == '1');
        per[answers[i] - '0']++;
    }
    /* The kernel hashes connections over the sockets: all 64 on one loop would be a
     * one-in-2^63 event. */
    assert_true(per[0] > 0 && per[1] > 0);
    close_all(fds, 64);
    gt_finish(g, x);
    assert_int_equal(atomic_load(&conns_closed), 64);
}

static void test_handoff(void **state)
{
    (void)state;
    atomic_store(&conns_closed, 0);
    atomic_store(&conns_opened, 0);
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(3, NULL, NULL);
    int port = vow_group_listen(g, "127.0.0.1", 0, 128, VOW_GROUP_HANDOFF, on_conn, g);
    assert_true(port > 0);
    int fds[30];
    char answers[30];
    connect_all(x, port, fds, 30);
    /* Every connection placed before any byte is sent: no connection has ended, so
     * each choice of the least-loaded loop saw all the earlier ones. */
    wait_opened(30);
    ask_all(x, fds, answers, 30, true);
    int per[3] = {0, 0, 0};
    for (int i = 0; i < 30; i++) {
        assert_true(answers[i] >= '0' && answers[i] <= '2');
        per[answers[i] - '0']++;
    }
    assert_int_equal(per[0], 10);
    assert_int_equal(per[1], 10);
    assert_int_equal(per[2], 10);
    close_all(fds, 30);
    gt_finish(g, x);
    assert_int_equal(atomic_load(&conns_closed), 30);
}

/* The stop cancels the connections still open: each closes its socket, the client
 * reads EOF; the listening sockets are closed (a new connection is refused). */
static void test_stop_cancels(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags <= VOW_GROUP_HANDOFF; flags += VOW_GROUP_HANDOFF) {
        atomic_store(&conns_closed, 0);
        atomic_store(&conns_opened, 0);
        vow_loop *x = gt_loop();
        vow_group *g = gt_group(2, NULL, NULL);
        int port = vow_group_listen(g, "127.0.0.1", 0, 0, flags, on_conn, g);
        assert_true(port > 0);
        int fds[16];
        char answers[16];
        connect_all(x, port, fds, 16);
        /* Every connection accepted and placed before the stop. */
        wait_opened(16);
        assert_int_equal(vow_group_close(g), 0);
        ask_all(x, fds, answers, 16, false);
        for (int i = 0; i < 16; i++)
            assert_int_equal(answers[i], 0);
        close_all(fds, 16);
        assert_int_equal(gt_code(x, vow_tcp_connect(x, "127.0.0.1", port)), -ECONNREFUSED);
        gt_finish(NULL, x);
        assert_int_equal(atomic_load(&conns_closed), 16);
    }
}

static atomic_int inside_result;

static void listen_inside(vow_loop *l, void *arg)
{
    (void)l;
    atomic_store(&inside_result, vow_group_listen(arg, "127.0.0.1", 0, 0, 0, on_conn, arg));
}

static void test_errors(void **state)
{
    (void)state;
    vow_group *g = gt_group(2, NULL, NULL);
    assert_int_equal(vow_group_listen(NULL, "127.0.0.1", 0, 0, 0, on_conn, NULL), VOW_EINVAL);
    assert_int_equal(vow_group_listen(g, NULL, 0, 0, 0, on_conn, NULL), VOW_EINVAL);
    assert_int_equal(vow_group_listen(g, "127.0.0.1", 0, 0, 0, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_group_listen(g, "localhost", 0, 0, 0, on_conn, g), VOW_EINVAL);
    assert_int_equal(vow_group_listen(g, "127.0.0.1", 70000, 0, 0, on_conn, g), VOW_EINVAL);
    assert_int_equal(vow_group_listen(g, "127.0.0.1", 0, 0, 1u << 5, on_conn, g), VOW_EINVAL);
    /* A port held by a socket without SO_REUSEPORT. */
    int taken = vow_tcp_listen("127.0.0.1", 0, 1);
    assert_true(taken >= 0);
    int port = vow_sock_port(taken);
    assert_int_equal(vow_group_listen(g, "127.0.0.1", port, 0, 0, on_conn, g), -EADDRINUSE);
    assert_int_equal(vow_group_listen(g, "127.0.0.1", port, 0, VOW_GROUP_HANDOFF, on_conn, g),
                     -EADDRINUSE);
    close(taken);
    /* From the group's own thread it would wait for itself. */
    atomic_store(&inside_result, 1);
    assert_int_equal(vow_group_post(g, 1, listen_inside, g), 0);
    while (atomic_load(&inside_result) == 1)
        sched_yield();
    assert_int_equal(atomic_load(&inside_result), -EDEADLK);
    /* IPv6 loopback, where the machine has it. */
    int r = vow_group_listen(g, "::1", 0, 0, 0, on_conn, g);
    assert_true(r > 0 || r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT);
    assert_int_equal(vow_group_stop(g), 0);
    assert_int_equal(vow_group_listen(g, "127.0.0.1", 0, 0, 0, on_conn, g), VOW_ECLOSED);
    gt_finish(g, NULL);
}

int main(void)
{
    tu_install_allocator();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuseport),
        cmocka_unit_test(test_handoff),
        cmocka_unit_test(test_stop_cancels),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("group-accept", tests, NULL, NULL);
}
