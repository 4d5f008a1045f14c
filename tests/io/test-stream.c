/* SPDX-License-Identifier: MIT */
/*
 * Byte streams on real pipes and socketpairs: readiness, read some, read exactly
 * (with EOF in the middle), write-all larger than the socket buffer, the line reader,
 * the ticker, cancellation of each, and fd leak checks.
 */
#include "io-test.h"

#include <stdio.h>
#include <string.h>

static void test_read_some(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_pipe(fds);
    char buf[16];

    assert_int_equal(write(fds[1], "hello", 5), 5);
    assert_int_equal(io_num(l, vow_read(l, fds[0], buf, sizeof(buf))), 5);
    assert_memory_equal(buf, "hello", 5);

    /* Nothing buffered: the read waits for the writer. */
    vow *p = vow_read(l, fds[0], buf, sizeof(buf));
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(write(fds[1], "xy", 2), 2);
    assert_int_equal(io_num(l, p), 2);
    assert_memory_equal(buf, "xy", 2);

    close(fds[1]);
    assert_int_equal(io_num(l, vow_read(l, fds[0], buf, sizeof(buf))), 0);
    close(fds[0]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_read_exact(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    int fds[2];
    io_pipe(fds);
    char buf[16];

    vow *p = vow_read_exact(l, fds[0], buf, 6);
    assert_int_equal(write(fds[1], "abc", 3), 3);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(write(fds[1], "defg", 4), 4);
    assert_int_equal(io_num(l, p), 6);
    assert_memory_equal(buf, "abcdef", 6);

    /* "g" is left; EOF after it rejects with the count read so far. */
    close(fds[1]);
    p = vow_read_exact(l, fds[0], buf, 10);
    tu_wait(l, p);
    assert_int_equal(vow_code(p), VOW_EOF);
    assert_int_equal(vow_value(p)->num, 1);
    assert_int_equal(buf[0], 'g');
    vow_unref(p);

    assert_int_equal(io_num(l, vow_read_exact(l, fds[0], buf, 0)), 0);
    close(fds[0]);
    io_finish(l);
}

/* Reads everything from fd into a counter and checks the byte pattern. */
struct sink {
    vow_loop *l;
    int fd;
    size_t total;
    int bad;
    unsigned char buf[65536];
};

static vow_ret sink_got(void *ctx, const vow_val *v)
{
    struct sink *s = ctx;
    if (v->num == 0)
        return vow_ok(vow_val_num((int64_t)s->total));
    for (int64_t i = 0; i < v->num; i++)
        if (s->buf[i] != (unsigned char)((s->total + (size_t)i) % 251))
            s->bad++;
    s->total += (size_t)v->num;
    return vow_follow(vow_then(vow_read(s->l, s->fd, s->buf, sizeof(s->buf)), sink_got,
                               NULL, s));
}

static void test_write_all_large(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_socketpair(fds);
    size_t n = 8u << 20;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i % 251);

    vow *w = vow_write_all(l, fds[0], data, n);
    /* 8 MiB never fits a socket buffer: the write is the backpressure point. */
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(w), VOW_PENDING);

    struct sink *s = calloc(1, sizeof(*s));
    s->l = l;
    s->fd = fds[1];
    vow *r = vow_then(vow_read(l, fds[1], s->buf, sizeof(s->buf)), sink_got, NULL, s);
    assert_int_equal(io_num(l, w), (int64_t)n);
    assert_int_equal(vow_shutdown_write(fds[0]), 0);
    assert_int_equal(io_num(l, r), (int64_t)n);
    assert_int_equal(s->bad, 0);
    free(s);
    free(data);
    close(fds[0]);
    close(fds[1]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_readiness(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    int fds[2];
    io_pipe(fds);
    int64_t ev = io_num(l, vow_writable(l, fds[1]));
    assert_true(ev & VOW_WRITABLE);

    vow *p = vow_readable(l, fds[0]);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(p), VOW_PENDING);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_true(io_num(l, p) & VOW_READABLE);

    /* Hang-up is reported to a readiness wait too. */
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[1]);
    ev = io_num(l, vow_readable(l, fds[0]));
    assert_true(ev & (VOW_READABLE | VOW_HANGUP));
    close(fds[0]);
    io_finish(l);
}

/* A vow_io of the caller on the same fd: the operation watches a duplicate. */
static int own_calls;
static void own_cb(vow_io *w, int fd, unsigned events)
{
    (void)fd;
    (void)events;
    own_calls++;
    vow_io_stop(w);
}

static void test_shared_fd(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_socketpair(fds);
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, fds[0], own_cb), 0);
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    char buf[8];
    vow *r = vow_read(l, fds[0], buf, sizeof(buf));
    /* Full duplex: a write on the same socket while the read waits. */
    vow *wr = vow_write_all(l, fds[0], "ping", 4);
    assert_int_equal(io_num(l, wr), 4);
    char in[4];
    vow *peer = vow_read_exact(l, fds[1], in, 4);
    assert_int_equal(io_num(l, peer), 4);
    assert_int_equal(write(fds[1], "pong", 4), 4);
    int64_t n = io_num(l, r);
    assert_true(n > 0 && n <= 4);
    assert_memory_equal(buf, "pong", (size_t)n);
    /* The caller's watcher saw "pong" too, and stopped itself. */
    assert_int_equal(own_calls, 1);
    io_finish(l);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(tu_open_fds(), before);
}

static void test_cancel(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_socketpair(fds);
    char buf[8];

    /* A cancelled read consumes nothing: the next read sees the bytes. */
    vow *r = vow_read(l, fds[0], buf, sizeof(buf));
    assert_int_equal(vow_cancel(r), 0);
    assert_int_equal(io_code(l, r), VOW_ECANCELED);
    assert_int_equal(write(fds[1], "a", 1), 1);
    assert_int_equal(io_num(l, vow_read(l, fds[0], buf, sizeof(buf))), 1);

    r = vow_read_exact(l, fds[0], buf, 4);
    assert_int_equal(vow_cancel(r), 0);
    assert_int_equal(io_code(l, r), VOW_ECANCELED);
    r = vow_readable(l, fds[0]);
    assert_int_equal(vow_cancel(r), 0);
    assert_int_equal(io_code(l, r), VOW_ECANCELED);

    /* A write stuck on a full socket is withdrawn. */
    size_t n = 8u << 20;
    char *big = calloc(1, n);
    r = vow_write_all(l, fds[0], big, n);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(r), 0);
    assert_int_equal(io_code(l, r), VOW_ECANCELED);
    free(big);

    /* A timeout cancels what it wraps. */
    r = vow_timeout(vow_read(l, fds[0], buf, sizeof(buf)), 5);
    assert_int_equal(io_code(l, r), VOW_ETIMEDOUT);

    /* Dropping the last reference withdraws the wait: nothing keeps the loop alive. */
    vow_unref(vow_readable(l, fds[0]));
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);

    close(fds[0]);
    close(fds[1]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

/*
 * A read resolved onto another vow (vow_resolve_with) and then dropped: locking the
 * read's vow does not end the read, so dropping it must still withdraw it. The
 * buffer is freed right after; bytes written later stay in the socket (and, under
 * ASan, nothing writes into the freed buffer).
 */
static void test_locked_read_dropped(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_socketpair(fds);
    char *buf = malloc(64);
    assert_non_null(buf);
    vow *p = vow_read(l, fds[0], buf, 64);
    vow *q = vow_pending(l);
    assert_int_equal(vow_resolve_with(p, vow_ref(q)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    vow_unref(p);
    free(buf);
    assert_int_equal(write(fds[1], "hello", 5), 5);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    char got[8];
    assert_int_equal(read(fds[0], got, sizeof(got)), 5);
    assert_memory_equal(got, "hello", 5);
    /* q lost its only consumer (the adoption) and was cancelled with it. */
    assert_int_equal(vow_state(q), VOW_REJECTED);
    assert_int_equal(vow_code(q), VOW_ECANCELED);
    vow_unref(q);

    /* The same cancelled instead of dropped: the read is withdrawn, q is cancelled. */
    buf = malloc(64);
    assert_non_null(buf);
    p = vow_read(l, fds[0], buf, 64);
    q = vow_pending(l);
    assert_int_equal(vow_resolve_with(p, vow_ref(q)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(p), 0);
    free(buf);
    assert_int_equal(write(fds[1], "again", 5), 5);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(read(fds[0], got, sizeof(got)), 5);
    assert_memory_equal(got, "again", 5);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    assert_int_equal(vow_code(q), VOW_ECANCELED);
    vow_unref(p);
    vow_unref(q);

    close(fds[0]);
    close(fds[1]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_bad_args(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    char buf[4];
    assert_int_equal(io_code(l, vow_read(l, -1, buf, 4)), VOW_EINVAL);
    assert_int_equal(io_code(l, vow_read(l, 0, buf, 0)), VOW_EINVAL);
    assert_int_equal(io_code(l, vow_write_all(l, 1, NULL, 3)), VOW_EINVAL);
    assert_int_equal(io_code(l, vow_readable(l, -3)), VOW_EINVAL);
    assert_null(vow_read(NULL, 0, buf, 4));
    assert_int_equal(vow_fd_close(-1), VOW_EINVAL);
    assert_int_equal(vow_fd_nonblock(-1), VOW_EINVAL);
    /* A closed fd fails with the errno, not a crash. */
    int fds[2];
    io_pipe(fds);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(io_code(l, vow_read(l, fds[0], buf, 4)), -EBADF);
    io_finish(l);
}

/* Waits for the next line; returns a malloc'd copy (NULL at EOF). */
static char *next_line(vow_loop *l, vow_lines *r)
{
    vow *p = vow_lines_next(r);
    assert_non_null(p);
    tu_wait(l, p);
    if (vow_state(p) != VOW_FULFILLED)
        fail_msg("line rejected: %s", vow_err_name(vow_code(p)));
    const char *s = vow_value(p)->ptr;
    char *copy = s ? strdup(s) : NULL;
    vow_unref(p);
    return copy;
}

static void expect_line(vow_loop *l, vow_lines *r, const char *want)
{
    char *s = next_line(l, r);
    if (!want) {
        assert_null(s);
        return;
    }
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_lines(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_pipe(fds);
    vow_lines *r = vow_lines_new(l, fds[0], 0);
    assert_non_null(r);

    const char *chunk = "a\nbb\ncc";
    assert_int_equal(write(fds[1], chunk, strlen(chunk)), (ssize_t)strlen(chunk));
    expect_line(l, r, "a");
    expect_line(l, r, "bb");
    assert_int_equal(vow_lines_buffered(r), 2);

    vow *p = vow_lines_next(r);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_state(p), VOW_PENDING);
    /* One call at a time. */
    assert_int_equal(io_code(l, vow_lines_next(r)), VOW_EBUSY);
    /* Cancelling loses nothing: the partial line and what follows stay buffered. */
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(io_code(l, p), VOW_ECANCELED);
    assert_int_equal(write(fds[1], "c\n\nd\ne", 6), 6);
    expect_line(l, r, "ccc");
    expect_line(l, r, "");
    expect_line(l, r, "d");
    close(fds[1]);
    expect_line(l, r, "e");
    expect_line(l, r, NULL);
    expect_line(l, r, NULL);
    vow_lines_close(r);
    close(fds[0]);

    /* An overlong line rejects with VOW_ENOSPC, and stays so. */
    io_pipe(fds);
    r = vow_lines_new(l, fds[0], 8);
    assert_int_equal(write(fds[1], "0123456789\n", 11), 11);
    assert_int_equal(io_code(l, vow_lines_next(r)), VOW_ENOSPC);
    assert_int_equal(io_code(l, vow_lines_next(r)), VOW_ENOSPC);
    vow_lines_close(r);

    close(fds[0]);
    close(fds[1]);

    /* Freeing the reader cancels its pending call. */
    io_pipe(fds);
    r = vow_lines_new(l, fds[0], 0);
    p = vow_lines_next(r);
    vow_lines_close(r);
    assert_int_equal(io_code(l, p), VOW_ECANCELED);
    close(fds[0]);
    close(fds[1]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

static void test_lines_many(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    int fds[2];
    io_socketpair(fds);
    vow_lines *r = vow_lines_new(l, fds[0], 0);
    /* Lines arrive in 13-byte pieces, so reads split them at every position and
     * often carry several at once. */
    char text[4096];
    size_t ends[300];
    size_t len = 0;
    for (int i = 0; i < 300; i++) {
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%d\n", i * 7);
        ends[i] = len;
    }
    size_t sent = 0;
    for (int i = 0; i < 300; i++) {
        while (sent < ends[i]) {
            size_t k = len - sent < 13 ? len - sent : 13;
            assert_int_equal(write(fds[1], text + sent, k), (ssize_t)k);
            sent += k;
        }
        char want[16];
        snprintf(want, sizeof(want), "%d", i * 7);
        expect_line(l, r, want);
    }
    close(fds[1]);
    expect_line(l, r, NULL);
    vow_lines_close(r);
    close(fds[0]);
    io_finish(l);
}

static void test_ticker(void **state)
{
    (void)state;
    vow_loop *l = io_loop_new();
    assert_null(vow_ticker_new(l, 0));
    vow_ticker *t = vow_ticker_new(l, 20);
    uint64_t start = vow_loop_now(l);
    int64_t last = 0;
    for (int i = 0; i < 3; i++) {
        vow *p = vow_ticker_next(t);
        if (i == 0)
            assert_int_equal(io_code(l, vow_ticker_next(t)), VOW_EBUSY);
        int64_t k = io_num(l, p);
        assert_true(k > last);
        /* Never before the tick's deadline on the loop clock. */
        assert_true(vow_loop_now(l) >= start + (uint64_t)k * 20);
        last = k;
    }
    /* Idle ticker: nothing keeps the loop alive. */
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    vow *p = vow_ticker_next(t);
    vow_ticker_close(t);
    assert_int_equal(io_code(l, p), VOW_ECANCELED);
    io_finish(l);
}

/* Ping-pong over two streams: each side reads again from the previous read's handler,
 * the case the persistent registration is for. */
struct pp {
    vow_loop *l;
    vow_stream *a, *b;
    char abuf[8], bbuf[8];
    int rounds;
};

static vow_ret pp_b_got(void *ctx, const vow_val *v);

static vow_ret pp_a_got(void *ctx, const vow_val *v)
{
    struct pp *x = ctx;
    assert_int_equal(v->num, 4);
    assert_memory_equal(x->abuf, "pong", 4);
    if (++x->rounds == 1000)
        return vow_ok(vow_val_num(x->rounds));
    vow_unref(vow_stream_write(x->a, "ping", 4));
    return vow_follow(vow_then(vow_stream_read(x->b, x->bbuf, 4), pp_b_got, NULL, x));
}

static vow_ret pp_b_got(void *ctx, const vow_val *v)
{
    struct pp *x = ctx;
    assert_int_equal(v->num, 4);
    assert_memory_equal(x->bbuf, "ping", 4);
    vow_unref(vow_stream_write(x->b, "pong", 4));
    return vow_follow(vow_then(vow_stream_read(x->a, x->abuf, 4), pp_a_got, NULL, x));
}

static void test_vow_stream(void **state)
{
    (void)state;
    long before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int fds[2];
    io_socketpair(fds);
    struct pp x = { .l = l };
    x.a = vow_stream_new(l, fds[0]);
    x.b = vow_stream_new(l, fds[1]);
    assert_non_null(x.a);
    vow_unref(vow_stream_write(x.a, "ping", 4));
    vow *done = vow_then(vow_stream_read(x.b, x.bbuf, 4), pp_b_got, NULL, &x);
    assert_int_equal(io_num(l, done), 1000);
    /* Idle streams keep nothing alive. */
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);

    /* One read at a time; a cancelled read consumes nothing. */
    char buf[16];
    vow *r = vow_stream_read(x.a, buf, sizeof(buf));
    assert_int_equal(io_code(l, vow_stream_read(x.a, buf, sizeof(buf))), VOW_EBUSY);
    assert_int_equal(vow_cancel(r), 0);
    assert_int_equal(io_code(l, r), VOW_ECANCELED);
    assert_int_equal(write(fds[1], "xyz", 3), 3);
    assert_int_equal(io_num(l, vow_stream_read(x.a, buf, sizeof(buf))), 3);
    assert_int_equal(io_code(l, vow_stream_read(x.a, NULL, 4)), VOW_EINVAL);

    /* Full duplex: both ends write 8 MiB while reading 8 MiB; neither write could
     * finish without the concurrent read on the same stream. */
    size_t n = 8u << 20;
    char *out = calloc(1, n), *in_a = malloc(n), *in_b = malloc(n);
    vow *wa = vow_stream_write(x.a, out, n);
    vow *wb = vow_stream_write(x.b, out, n);
    assert_int_equal(io_code(l, vow_stream_write(x.a, out, 1)), VOW_EBUSY);
    size_t ga = 0, gb = 0;
    while (ga < n || gb < n) {
        vow *ra = ga < n ? vow_stream_read(x.a, in_a + ga, n - ga) : NULL;
        vow *rb = gb < n ? vow_stream_read(x.b, in_b + gb, n - gb) : NULL;
        if (ra)
            ga += (size_t)io_num(l, ra);
        if (rb)
            gb += (size_t)io_num(l, rb);
    }
    assert_int_equal(io_num(l, wa), (int64_t)n);
    assert_int_equal(io_num(l, wb), (int64_t)n);
    free(out);
    free(in_a);
    free(in_b);

    /* EOF, and freeing a stream cancels what is pending. */
    r = vow_stream_read(x.a, buf, sizeof(buf));
    vow_stream_close(x.a);
    assert_int_equal(io_code(l, r), VOW_ECANCELED);
    assert_int_equal(vow_shutdown_write(fds[0]), 0);
    assert_int_equal(io_num(l, vow_stream_read(x.b, buf, sizeof(buf))), 0);
    vow_stream_close(x.b);
    vow_stream_close(NULL);
    close(fds[0]);
    close(fds[1]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), before);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_some),
        cmocka_unit_test(test_read_exact),
        cmocka_unit_test(test_write_all_large),
        cmocka_unit_test(test_readiness),
        cmocka_unit_test(test_shared_fd),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_locked_read_dropped),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_lines_many),
        cmocka_unit_test(test_ticker),
        cmocka_unit_test(test_vow_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
