/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweep of the loop group: starting it (its loops are made on its
 * threads), a spawn and a call that cross back a number and a value with a drop, a
 * cancelled crossing, a listener with one connection handed off, and the close. The
 * injected failure may land on any thread: in the caller (NULL, VOW_ENOMEM), on a
 * loop of the group (the result rejects with VOW_ENOMEM), or in a post the group
 * makes (retried: nothing is lost). Every run ends with the group closed and nothing
 * left. Run under ThreadSanitizer too.
 */
#include "sweep.h"

#include "vow/group.h"
#include "vow/io.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void blob_drop(void *p)
{
    vow_free(p);
}

static vow *make_num(vow_loop *l, void *arg)
{
    (void)arg;
    return vow_resolved(l, vow_val_num(42));
}

static vow *make_blob(vow_loop *l, void *arg)
{
    (void)arg;
    char *s = vow_malloc(4);
    if (!s)
        return NULL;
    memcpy(s, "abc", 4);
    return vow_resolved(l, vow_val_ptr(s, blob_drop));
}

static vow *make_pending(vow_loop *l, void *arg)
{
    (void)arg;
    return vow_delay(l, 60000, vow_val_none());
}

/* One connection: answers a byte, then closes. NULL (and the fd closed) on OOM. */
struct conn {
    int fd;
    char b;
    vow_loop *l;
};

static vow_ret conn_got(void *ctx, const vow_val *v)
{
    struct conn *c = ctx;
    if (v->num != 1)
        return vow_ok(vow_val_none());
    return vow_follow(vow_write_all(c->l, c->fd, &c->b, 1));
}

static void conn_free(void *ctx)
{
    struct conn *c = ctx;
    vow_fd_close(c->fd);
    vow_free(c);
}

static vow *on_conn(vow_loop *l, int fd, void *ctx)
{
    (void)ctx;
    struct conn *c = vow_malloc(sizeof(*c));
    if (!c) {
        vow_fd_close(fd);
        return NULL;
    }
    *c = (struct conn){.fd = fd, .b = 'k', .l = l};
    vow *r = vow_then(vow_read(l, fd, &c->b, 1), conn_got, NULL, c);
    vow *v = vow_then_full(r, NULL, NULL, c, conn_free);
    return v;
}

/* Waits for p on x and checks it; 1 as expected, 0 on an injected failure. */
static int wait_expect(vow_loop *x, vow *p, int code, int64_t num)
{
    if (!p)
        return 0;
    tu_wait(x, p);
    int ok = sweep_expect(p, code, num);
    vow_unref(p);
    return ok;
}

static int program(void *arg)
{
    (void)arg;
    vow_loop *x = sweep_loop_new();
    if (!x)
        return 0;
    vow_group_opts o = {.loops = 2};
    vow_group *g = NULL;
    int r = vow_group_new(&o, &g);
    if (r != 0) {
        assert_int_equal(r, VOW_ENOMEM);
        assert_int_equal(vow_loop_close(x), 0);
        return 0;
    }
    int ok = 1;
    ok &= wait_expect(x, vow_group_spawn(g, 1, x, make_num, NULL), 0, 42);

    vow *p = vow_group_call(g, 0, x, make_blob, NULL);
    if (p) {
        tu_wait(x, p);
        if (vow_state(p) == VOW_FULFILLED) {
            assert_string_equal(vow_value(p)->ptr, "abc");
        } else {
            assert_int_equal(vow_code(p), VOW_ENOMEM);
            ok = 0;
        }
        vow_unref(p);
    } else {
        ok = 0;
    }

    p = vow_group_spawn(g, 1, x, make_pending, NULL);
    if (p) {
        vow_cancel(p);
        ok &= sweep_expect(p, VOW_ECANCELED, 0);
        vow_unref(p);
    } else {
        ok = 0;
    }

    int port = vow_group_listen(g, "127.0.0.1", 0, 0, VOW_GROUP_HANDOFF, on_conn, NULL);
    if (port > 0) {
        vow *c = vow_tcp_connect(x, "127.0.0.1", port);
        if (c) {
            tu_wait(x, c);
            if (vow_state(c) == VOW_FULFILLED) {
                int fd = (int)vow_value(c)->num;
                char b = 'q';
                ssize_t w = write(fd, &b, 1);
                assert_int_equal(w, 1);
                b = 0;
                vow *rd = vow_read(x, fd, &b, 1);
                if (rd) {
                    tu_wait(x, rd);
                    /* The server may have failed to answer (EOF: 0 bytes). */
                    if (vow_state(rd) != VOW_FULFILLED || vow_value(rd)->num != 1 || b != 'q')
                        ok = 0;
                    vow_unref(rd);
                } else {
                    ok = 0;
                }
                close(fd);
            } else {
                assert_int_equal(vow_code(c), VOW_ENOMEM);
                ok = 0;
            }
            vow_unref(c);
        } else {
            ok = 0;
        }
    } else {
        assert_int_equal(port, VOW_ENOMEM);
        ok = 0;
    }
    /* The cancelled spawn's answer is still on its way: this loop runs until it has
     * it (closing first would wait for this very thread). */
    assert_int_equal(vow_group_stop(g), 0);
    sweep_run(x);
    assert_int_equal(vow_group_close(g), 0);
    assert_int_equal(vow_loop_close(x), 0);
    return ok;
}

static void test_sweep_group(void **state)
{
    (void)state;
    long points = tu_sweep(program, NULL);
    printf("# %ld allocation points\n", points);
    assert_true(points > 10);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_group),
    };
    return cmocka_run_group_tests_name("sweep-group", tests, NULL, NULL);
}
