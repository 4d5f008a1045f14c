/* SPDX-License-Identifier: MIT */
/*
 * fd watchers on real sockets: readiness, interest changes, the same fd twice, hang-up
 * and error always reported, an fd closed while watched, and stopping (self, a sibling
 * whose event was already collected, then freeing) from callbacks.
 */
#include "rt.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct ioctx {
    int calls;          /* callbacks */
    unsigned last;      /* events of the last callback */
    int drain;          /* read one byte when readable */
    vow_io *other;      /* sibling to stop */
    int stop_self;      /* stop (and free if heap) inside the callback */
};

static void record(vow_io *w, int fd, unsigned events)
{
    struct ioctx *c = w->data;
    c->calls++;
    c->last = events;
    if (c->drain && (events & VOW_READABLE)) {
        char b;
        assert_int_equal(read(fd, &b, 1), 1);
    }
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_readable(void **state)
{
    vow_loop *l = rt_new();
    int sv[2];
    pair(sv);
    struct ioctx c = { .drain = 1 };
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, sv[0], record), 0);
    w.data = &c;
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(c.calls, 0);
    assert_int_equal(write(sv[1], "a", 1), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last, VOW_READABLE);
    /* Level-triggered, and drained: nothing more. */
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(vow_io_stop(&w), 0);
    assert_int_equal(vow_io_stop(&w), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    close(sv[0]);
    close(sv[1]);
    rt_end(l);
}

static void test_interest_change(void **state)
{
    vow_loop *l = rt_new();
    int sv[2];
    pair(sv);
    struct ioctx c = { 0 };
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, sv[0], record), 0);
    w.data = &c;
    assert_int_equal(vow_io_start(&w, 0), VOW_EINVAL);
    assert_int_equal(vow_io_start(&w, VOW_HANGUP), VOW_EINVAL);
    assert_int_equal(vow_io_start(&w, VOW_WRITABLE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last, VOW_WRITABLE);
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(write(sv[1], "a", 1), 1);
    assert_int_equal(vow_io_start(&w, VOW_READABLE | VOW_WRITABLE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.last, VOW_READABLE | VOW_WRITABLE);
    assert_int_equal(vow_io_stop(&w), 0);
    close(sv[0]);
    close(sv[1]);
    rt_end(l);
}

static void test_same_fd_twice(void **state)
{
    vow_loop *l = rt_new();
    int sv[2];
    pair(sv);
    struct ioctx c = { 0 };
    vow_io a, b;
    assert_int_equal(vow_io_init(l, &a, sv[0], record), 0);
    assert_int_equal(vow_io_init(l, &b, sv[0], record), 0);
    a.data = b.data = &c;
    assert_int_equal(vow_io_start(&a, VOW_READABLE), 0);
    assert_int_equal(vow_io_start(&b, VOW_WRITABLE), VOW_EEXIST);
    assert_int_equal(vow_io_stop(&b), 0); /* never started: no-op, a stays */
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(vow_io_stop(&a), 0);
    assert_int_equal(vow_io_start(&b, VOW_WRITABLE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(vow_io_stop(&b), 0);
    /* An fd the backend refuses (epoll: a regular file) reports its error. */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(vow_io_init(l, &a, fd, record), 0);
    int r = vow_io_start(&a, VOW_READABLE);
    if (strcmp(vow_loop_backend_name(l), "epoll") == 0)
        assert_int_equal(r, -EPERM);
    else
        assert_int_equal(r, 0);
    assert_int_equal(vow_io_stop(&a), 0);
    close(fd);
    close(sv[0]);
    close(sv[1]);
    rt_end(l);
}

static void test_hangup(void **state)
{
    vow_loop *l = rt_new();
    int sv[2];
    pair(sv);
    struct ioctx c = { 0 };
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, sv[0], record), 0);
    w.data = &c;
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    close(sv[1]);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_true(c.last & VOW_HANGUP);
    assert_int_equal(vow_io_stop(&w), 0);
    close(sv[0]);
    rt_end(l);
}

/* A refused TCP connect sets the socket error: reported though only WRITABLE asked. */
static void test_error(void **state)
{
    vow_loop *l = rt_new();
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(probe >= 0);
    assert_int_equal(bind(probe, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &len), 0);
    close(probe); /* nothing listens on that port now */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    int r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
    assert_true(r == 0 || errno == EINPROGRESS || errno == ECONNREFUSED);
    struct ioctx c = { 0 };
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, s, record), 0);
    w.data = &c;
    assert_int_equal(vow_io_start(&w, VOW_WRITABLE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_true(c.last & VOW_ERROR);
    assert_int_equal(vow_io_stop(&w), 0);
    close(s);
    rt_end(l);
}

/* epoll forgets a closed fd silently; poll reports it (POLLNVAL) as VOW_ERROR. Either
 * way stop works, and the number can be watched again once reused. */
static void test_closed_while_watched(void **state)
{
    vow_loop *l = rt_new();
    int sv[2];
    pair(sv);
    struct ioctx c = { 0 };
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, sv[0], record), 0);
    w.data = &c;
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    int num = sv[0];
    close(sv[0]);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    if (c.calls)
        assert_true(c.last & VOW_ERROR);
    assert_int_equal(vow_io_stop(&w), 0);
    int nv[2];
    pair(nv);
    assert_int_equal(nv[0], num);
    assert_int_equal(vow_io_init(l, &w, nv[0], record), 0);
    assert_int_equal(vow_io_start(&w, VOW_WRITABLE), 0);
    c.calls = 0;
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last, VOW_WRITABLE);
    assert_int_equal(vow_io_stop(&w), 0);
    close(sv[1]);
    close(nv[0]);
    close(nv[1]);
    rt_end(l);
}

struct sib {
    vow_io w;       /* the watcher */
    struct sib *other; /* the sibling */
    int *calls;     /* shared count */
};

/* Whichever runs first stops (and frees) the other, whose event is already collected,
 * then stops and frees itself. */
static void sib_cb(vow_io *w, int fd, unsigned events)
{
    struct sib *s = vow__container_of(w, struct sib, w);
    (*s->calls)++;
    assert_int_equal(vow_io_stop(&s->other->w), 0);
    free(s->other);
    assert_int_equal(vow_io_stop(w), 0);
    free(s);
}

static void test_stop_in_callback(void **state)
{
    vow_loop *l = rt_new();
    int a[2], b[2], calls = 0;
    pair(a);
    pair(b);
    struct sib *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));
    assert_non_null(x);
    assert_non_null(y);
    x->other = y;
    y->other = x;
    x->calls = y->calls = &calls;
    assert_int_equal(vow_io_init(l, &x->w, a[0], sib_cb), 0);
    assert_int_equal(vow_io_init(l, &y->w, b[0], sib_cb), 0);
    assert_int_equal(vow_io_start(&x->w, VOW_READABLE), 0);
    assert_int_equal(vow_io_start(&y->w, VOW_READABLE), 0);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 0);
    assert_int_equal(calls, 1);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
    rt_end(l);
}

/* Restarting the same fd within a batch: a new watcher must not see the old event. */
static void restart_other(vow_io *w, int fd, unsigned events)
{
    struct ioctx *c = w->data;
    c->calls++;
    assert_int_equal(vow_io_stop(c->other), 0);
    assert_int_equal(vow_io_start(c->other, VOW_WRITABLE), 0);
    assert_int_equal(vow_io_stop(w), 0);
}

static void test_restart_sibling(void **state)
{
    vow_loop *l = rt_new();
    int a[2], b[2];
    pair(a);
    pair(b);
    struct ioctx ca = { 0 }, cb = { 0 };
    vow_io wa, wb;
    assert_int_equal(vow_io_init(l, &wa, a[0], restart_other), 0);
    assert_int_equal(vow_io_init(l, &wb, b[0], restart_other), 0);
    wa.data = &ca;
    wb.data = &cb;
    ca.other = &wb;
    cb.other = &wa;
    assert_int_equal(vow_io_start(&wa, VOW_READABLE), 0);
    assert_int_equal(vow_io_start(&wb, VOW_READABLE), 0);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    /* The first callback restarted the other one; its collected READABLE was dropped. */
    assert_int_equal(ca.calls + cb.calls, 1);
    vow_io *still = ca.calls ? &wb : &wa;
    struct ioctx *sc = ca.calls ? &cb : &ca;
    sc->other = still;
    assert_int_equal(vow_io_stop(still), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
    rt_end(l);
}

static void test_oom(void **state)
{
    vow_loop *l = rt_new();
    int sv[2];
    pair(sv);
    /* A high fd number makes the fd table grow. */
    int hi = fcntl(sv[0], F_DUPFD_CLOEXEC, 900);
    assert_true(hi >= 900);
    struct ioctx c = { 0 };
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, hi, record), 0);
    w.data = &c;
    for (long k = 1;; k++) {
        tu_fail_nth(k);
        int r = vow_io_start(&w, VOW_WRITABLE);
        tu_fail_nth(0);
        if (r == 0)
            break;
        assert_int_equal(r, VOW_ENOMEM);
        assert_int_equal(vow_loop_alive(l), 0);
        assert_int_equal(vow__loop_verify(l), 0);
    }
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(vow_io_stop(&w), 0);
    close(hi);
    close(sv[0]);
    close(sv[1]);
    rt_end(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readable),
        cmocka_unit_test(test_interest_change),
        cmocka_unit_test(test_same_fd_twice),
        cmocka_unit_test(test_hangup),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_closed_while_watched),
        cmocka_unit_test(test_stop_in_callback),
        cmocka_unit_test(test_restart_sibling),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
