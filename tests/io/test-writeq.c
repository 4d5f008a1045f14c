/* SPDX-License-Identifier: MIT */
/*
 * vow_write_all queued per fd: 2,000 writes nobody awaits on one socket cost no fd
 * and reach the peer in call order, each vow fulfilling in that order; a queued write
 * cancelled, dropped or timed out is withdrawn and its buffer never touched again
 * (freed at once here, so ASan and Valgrind see any later read); cancelling the
 * write in progress lets the next one go on; an error reaches every queued write;
 * writes in a vow_race and in a chain; an allocation-failure sweep.
 */
#include "io-test.h"

#include <string.h>

enum { NWRITES = 2000, WSIZE = 1000 };

/* Reads everything the peer sends into a buffer, from a vow_read chain. */
struct sink {
    vow_loop *l;         /* the loop */
    int fd;              /* read end */
    unsigned char *data; /* what arrived */
    size_t len, cap;     /* bytes in data, its size */
    unsigned char buf[65536];
    int eof; /* EOF seen */
};

static vow_ret sink_got(void *ctx, const vow_val *v)
{
    struct sink *s = ctx;
    if (v->num == 0) {
        s->eof = 1;
        return vow_ok(vow_val_num((int64_t)s->len));
    }
    assert_true(s->len + (size_t)v->num <= s->cap);
    memcpy(s->data + s->len, s->buf, (size_t)v->num);
    s->len += (size_t)v->num;
    return vow_follow(vow_then(vow_read(s->l, s->fd, s->buf, sizeof(s->buf)), sink_got, NULL, s));
}

static vow *sink_start(struct sink *s, vow_loop *l, int fd, size_t cap)
{
    s->l = l;
    s->fd = fd;
    s->cap = cap;
    s->data = malloc(cap);
    assert_non_null(s->data);
    return vow_then(vow_read(l, fd, s->buf, sizeof(s->buf)), sink_got, NULL, s);
}

/* A block of WSIZE bytes that says which write it belongs to. */
static void fill(unsigned char *b, size_t len, int id)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(id * 7 + i % 13);
}

static int check_block(const unsigned char *b, size_t len, int id)
{
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(id * 7 + i % 13))
            return 0;
    return 1;
}

/* A small send buffer, so that the queue forms after a few writes. */
static void small_sndbuf(int fd)
{
    int sz = 4096;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
}

struct order {
    int next; /* the id expected to fulfil next */
    int bad;  /* out-of-order fulfilments */
};

struct done_ctx {
    struct order *o; /* shared order check */
    int id;          /* this write */
};

static vow_ret note_done(void *ctx, const vow_val *v)
{
    struct done_ctx *d = ctx;
    if (d->id != d->o->next++ || v->num != WSIZE)
        d->o->bad++;
    return vow_ok(vow_val_none());
}

static void test_many_unawaited(void **state)
{
    long fds_before = tu_open_fds();
    vow_loop *l = io_loop_new();
    int sv[2];
    io_socketpair(sv);
    small_sndbuf(sv[0]);
    long fds_open = tu_open_fds();
    unsigned char *blocks = malloc((size_t)NWRITES * WSIZE);
    struct done_ctx *dc = calloc(NWRITES, sizeof(*dc));
    struct order o = {0};
    vow **chains = calloc(NWRITES, sizeof(*chains));
    for (int i = 0; i < NWRITES; i++) {
        fill(blocks + (size_t)i * WSIZE, WSIZE, i);
        vow *w = vow_write_all(l, sv[0], blocks + (size_t)i * WSIZE, WSIZE);
        assert_non_null(w);
        dc[i] = (struct done_ctx){&o, i};
        chains[i] = vow_then(w, note_done, NULL, &dc[i]);
    }
    /* The peer has not read: most writes wait, and they hold no fd of their own. */
    assert_int_equal(tu_open_fds(), fds_open);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(tu_open_fds(), fds_open);
    assert_int_equal(vow_state(chains[NWRITES - 1]), VOW_PENDING);

    struct sink s = {0};
    vow *r = sink_start(&s, l, sv[1], (size_t)NWRITES * WSIZE);
    for (int i = 0; i < NWRITES; i++) {
        tu_wait(l, chains[i]);
        assert_int_equal(vow_state(chains[i]), VOW_FULFILLED);
        vow_unref(chains[i]);
    }
    assert_int_equal(o.next, NWRITES);
    assert_int_equal(o.bad, 0);
    assert_int_equal(vow_shutdown_write(sv[0]), 0);
    assert_int_equal(io_num(l, r), (int64_t)NWRITES * WSIZE);
    for (int i = 0; i < NWRITES; i++)
        if (!check_block(s.data + (size_t)i * WSIZE, WSIZE, i))
            fail_msg("block %d arrived out of order or mixed", i);
    free(s.data);
    free(chains);
    free(dc);
    free(blocks);
    close(sv[0]);
    close(sv[1]);
    io_finish(l);
    assert_int_equal(tu_open_fds(), fds_before);
}

/* Fills the socket so that the next write waits; returns the bytes written. */
static size_t fill_socket(int fd)
{
    static unsigned char junk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            return total;
        }
        total += (size_t)n;
    }
}

/* Reads and checks n junk (zero) bytes, then returns. */
static void drain_junk(vow_loop *l, int fd, size_t n)
{
    static unsigned char buf[65536];
    while (n > 0) {
        size_t want = n < sizeof(buf) ? n : sizeof(buf);
        int64_t got = io_num(l, vow_read(l, fd, buf, want));
        assert_true(got > 0);
        for (int64_t i = 0; i < got; i++)
            assert_int_equal(buf[i], 0);
        n -= (size_t)got;
    }
}

/*
 * Queued writes withdrawn three ways (cancel, drop, a timeout over it) free their
 * buffers at once; the others still go out in order.
 */
static void test_withdraw_queued(void **state)
{
    vow_loop *l = io_loop_new();
    int sv[2];
    io_socketpair(sv);
    small_sndbuf(sv[0]);
    size_t junk = fill_socket(sv[0]);
    enum { N = 6 };
    unsigned char *b[N];
    vow *w[N];
    for (int i = 0; i < N; i++) {
        b[i] = malloc(WSIZE);
        fill(b[i], WSIZE, i);
        w[i] = vow_write_all(l, sv[0], b[i], WSIZE);
        assert_non_null(w[i]);
    }
    /* 0 waits for the kernel, 1..5 behind it. */
    assert_int_equal(vow_cancel(w[1]), 0);
    assert_int_equal(vow_code(w[1]), VOW_ECANCELED);
    vow_unref(w[1]);
    free(b[1]);
    vow_unref(w[2]);
    free(b[2]);
    w[3] = vow_timeout(w[3], 1);
    tu_wait(l, w[3]);
    assert_int_equal(vow_code(w[3]), VOW_ETIMEDOUT);
    vow_unref(w[3]);
    free(b[3]);
    assert_int_equal(vow_state(w[0]), VOW_PENDING);

    drain_junk(l, sv[1], junk);
    struct sink s = {0};
    vow *r = sink_start(&s, l, sv[1], (size_t)N * WSIZE);
    for (int i = 0; i < N; i++) {
        if (i >= 1 && i <= 3)
            continue;
        assert_int_equal(io_num(l, w[i]), WSIZE);
        free(b[i]);
    }
    assert_int_equal(vow_shutdown_write(sv[0]), 0);
    assert_int_equal(io_num(l, r), 3 * WSIZE);
    assert_true(check_block(s.data, WSIZE, 0));
    assert_true(check_block(s.data + WSIZE, WSIZE, 4));
    assert_true(check_block(s.data + 2 * WSIZE, WSIZE, 5));
    free(s.data);
    close(sv[0]);
    close(sv[1]);
    io_finish(l);
}

/* The write in progress is cancelled part-way: what it wrote stays, the next write
 * follows it. */
static void test_cancel_head(void **state)
{
    vow_loop *l = io_loop_new();
    int sv[2];
    io_socketpair(sv);
    small_sndbuf(sv[0]);
    size_t big = 1u << 20;
    unsigned char *a = calloc(1, big);
    unsigned char *b = malloc(WSIZE);
    fill(b, WSIZE, 9);
    vow *wa = vow_write_all(l, sv[0], a, big);
    vow *wb = vow_write_all(l, sv[0], b, WSIZE);
    assert_int_equal(vow_state(wa), VOW_PENDING);
    assert_int_equal(vow_cancel(wa), 0);
    vow_unref(wa);
    free(a);
    /* Read whatever of a was written (zeros), then b. */
    static unsigned char buf[65536];
    size_t got_b = 0;
    unsigned char rb[WSIZE];
    while (got_b < WSIZE) {
        int64_t n = io_num(l, vow_read(l, sv[1], buf, sizeof(buf)));
        assert_true(n > 0);
        for (int64_t i = 0; i < n; i++) {
            if (got_b == 0 && buf[i] == 0)
                continue;
            assert_true(got_b < WSIZE);
            rb[got_b++] = buf[i];
        }
    }
    assert_true(check_block(rb, WSIZE, 9));
    assert_int_equal(io_num(l, wb), WSIZE);
    free(b);
    close(sv[0]);
    close(sv[1]);
    io_finish(l);
}

/* The peer goes away: the write in progress and every write behind it reject. */
static void test_error_reaches_all(void **state)
{
    vow_loop *l = io_loop_new();
    int sv[2];
    io_socketpair(sv);
    small_sndbuf(sv[0]);
    fill_socket(sv[0]);
    unsigned char b[WSIZE];
    fill(b, WSIZE, 1);
    vow *w[4];
    for (int i = 0; i < 4; i++)
        w[i] = vow_write_all(l, sv[0], b, WSIZE);
    close(sv[1]);
    for (int i = 0; i < 4; i++) {
        int c = io_code(l, w[i]);
        assert_true(c == -EPIPE || c == -ECONNRESET);
    }
    close(sv[0]);
    io_finish(l);
}

/* A queued write in a race with a timer: the timer wins and withdraws it, the
 * write before it is not disturbed; a pipe (write(), not send()) queues too. */
static void test_race_and_pipe(void **state)
{
    vow_loop *l = io_loop_new();
    int pf[2];
    io_pipe(pf);
    size_t junk = 0;
    static unsigned char zeros[4096];
    for (;;) {
        ssize_t n = write(pf[1], zeros, sizeof(zeros));
        if (n < 0)
            break;
        junk += (size_t)n;
    }
    unsigned char b1[WSIZE], b2[WSIZE];
    fill(b1, WSIZE, 3);
    fill(b2, WSIZE, 4);
    vow *w1 = vow_write_all(l, pf[1], b1, WSIZE);
    vow *in[2] = {vow_write_all(l, pf[1], b2, WSIZE), vow_delay(l, 1, vow_val_num(-1))};
    vow *race = vow_race(l, in, 2);
    assert_int_equal(io_num(l, race), -1);
    drain_junk(l, pf[0], junk);
    unsigned char rb[WSIZE];
    assert_int_equal(io_num(l, vow_read_exact(l, pf[0], rb, WSIZE)), WSIZE);
    assert_true(check_block(rb, WSIZE, 3));
    assert_int_equal(io_num(l, w1), WSIZE);
    close(pf[1]);
    assert_int_equal(io_num(l, vow_read(l, pf[0], rb, WSIZE)), 0);
    close(pf[0]);
    io_finish(l);
}

/* Queues three writes, drops one, reads everything back; 0 at an injected failure. */
static int sweep_program(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    int sv[2];
    io_socketpair(sv);
    small_sndbuf(sv[0]);
    size_t junk = fill_socket(sv[0]);
    static unsigned char b[3][WSIZE];
    vow *w[3];
    int complete = 1;
    for (int i = 0; i < 3; i++) {
        fill(b[i], WSIZE, i);
        w[i] = vow_write_all(l, sv[0], b[i], WSIZE);
        if (!w[i])
            complete = 0;
    }
    vow_unref(w[1]);
    w[1] = NULL;
    static unsigned char buf[65536];
    size_t want = junk + (w[0] ? WSIZE : 0) + (w[2] ? WSIZE : 0), got = 0;
    while (got < want) {
        ssize_t n = read(sv[1], buf, sizeof(buf));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (vow_loop_run(l, VOW_RUN_ONCE) <= 0)
            break;
    }
    for (int i = 0; i < 3; i += 2) {
        if (!w[i])
            continue;
        while (vow_state(w[i]) == VOW_PENDING && vow_loop_run(l, VOW_RUN_ONCE) > 0)
            ;
        if (vow_state(w[i]) != VOW_FULFILLED)
            complete = 0;
        vow_unref(w[i]);
    }
    close(sv[0]);
    close(sv[1]);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

static void test_sweep(void **state)
{
    assert_true(tu_sweep(sweep_program, NULL) > 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_unawaited), cmocka_unit_test(test_withdraw_queued),
        cmocka_unit_test(test_cancel_head),    cmocka_unit_test(test_error_reaches_all),
        cmocka_unit_test(test_race_and_pipe),  cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
