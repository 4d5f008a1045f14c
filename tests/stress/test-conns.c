/* SPDX-License-Identifier: MIT */
/*
 * Connections in waves on loopback, with hostile clients: a coroutine echo server on
 * the main thread's loop (a coroutine per connection, read and write each under a
 * timeout), and a client thread with a loop of its own whose coroutines play one of
 * five parts: a well-behaved client that checks its echo, a slow sender (one byte
 * per millisecond), one that disconnects in the middle of its message, one that resets
 * the connection (SO_LINGER 0), and a peer that never reads (the server's write
 * times out). After every wave the server holds no connection; at the end every fd
 * is closed, nothing is allocated, and every well-behaved client got its bytes back.
 */
#include "stress.h"

#include "vow/co.h"
#include "vow/io.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* WRITE_MS bounds how long the server waits for a peer to read: long enough for a
 * client thread busy with a wave of thousands on a loaded machine, short enough that
 * the peers that never read end their wave soon. */
enum { MSG = 16384, NOREAD_CHUNKS = 4096, READ_IDLE_MS = 10000, WRITE_MS = 1000 };

enum part { NORMAL, SLOW, HALFWAY, RESET, NOREAD, NPARTS };
static const char *part_name[NPARTS] = {"normal", "slow", "halfway", "reset", "noread"};

/* ------------------------------------------------------------------ server */

struct server {
    vow_loop *l;         /* main thread's loop */
    int lfd;             /* listening socket */
    vow *acceptor;       /* the accept coroutine */
    long accepted;       /* connections accepted */
    long live;           /* handler coroutines not finished */
    long echoed;         /* bytes echoed */
    long write_timeouts; /* writes to a peer that does not read, given up */
    long peer_errors;    /* resets and broken pipes seen */
    long accept_errors;  /* accept failures other than cancellation */
};

struct conn {
    struct server *s; /* the server */
    int fd;           /* the connection */
};

/* Awaits p under a timeout; returns the code, the count in *ret_n; drops p. */
static int await_for(vow *p, uint64_t ms, int64_t *ret_n)
{
    vow *t = vow_timeout(p, ms);
    if (!t)
        return VOW_ENOMEM;
    int rc = vow_await(t);
    if (rc == 0 && ret_n)
        *ret_n = vow_value(t)->num;
    vow_unref(t);
    return rc;
}

static vow_ret co_serve(void *arg)
{
    struct conn c = *(struct conn *)arg;
    free(arg);
    struct server *s = c.s;
    char *buf = malloc(MSG);
    while (buf) {
        int64_t n = 0;
        int rc = await_for(vow_read(s->l, c.fd, buf, MSG), READ_IDLE_MS, &n);
        if (rc < 0 || n == 0) {
            if (rc == -ECONNRESET)
                s->peer_errors++;
            break;
        }
        rc = await_for(vow_write_all(s->l, c.fd, buf, (size_t)n), WRITE_MS, NULL);
        if (rc == VOW_ETIMEDOUT)
            s->write_timeouts++;
        else if (rc == -EPIPE || rc == -ECONNRESET)
            s->peer_errors++;
        if (rc < 0)
            break;
        s->echoed += n;
    }
    free(buf);
    vow_fd_close(c.fd);
    s->live--;
    return vow_ok(vow_val_none());
}

static vow_ret co_accept(void *arg)
{
    struct server *s = arg;
    for (;;) {
        vow *a = vow_accept(s->l, s->lfd);
        if (!a)
            return vow_fail(VOW_ENOMEM, vow_val_none());
        int rc = vow_await(a);
        int fd = rc == 0 ? (int)vow_value(a)->num : -1;
        vow_unref(a);
        if (rc == VOW_ECANCELED)
            return vow_ok(vow_val_none());
        if (rc < 0) {
            s->accept_errors++;
            if (vow_co_sleep(1) == VOW_ECANCELED)
                return vow_ok(vow_val_none());
            continue;
        }
        s->accepted++;
        /* A modest send buffer: a peer that never reads costs the kernel 64 KiB, not
         * the megabytes that autotuning would give it. */
        int sz = 65536;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        struct conn *c = malloc(sizeof(*c));
        assert_non_null(c);
        *c = (struct conn){s, fd};
        s->live++;
        /* Fire and forget: the handler runs to its end whether or not we hold it. */
        vow_unref(vow_co_spawn(s->l, co_serve, c, NULL));
    }
}

/* ----------------------------------------------------------------- clients */

struct wave {
    vow_loop *l;      /* client thread's loop */
    int port;         /* server port */
    long n;           /* clients in this wave */
    long ok[NPARTS];  /* clients of each part that did their part */
    long ran[NPARTS]; /* clients of each part */
    long bad;         /* well-behaved clients whose echo was wrong */
};

struct client {
    struct wave *w; /* its wave */
    long id;        /* number in the wave */
};

static void fill(unsigned char *b, size_t n, long id)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(id * 31 + i * 7);
}

/* Sends msg (slowly: one byte a millisecond, for the first 64 bytes), reads it back. */
static int echo_once(vow_loop *l, int fd, const unsigned char *msg, size_t len, int slow)
{
    size_t sent = 0;
    if (slow) {
        for (; sent < 64 && sent < len; sent++) {
            if (await_for(vow_write_all(l, fd, msg + sent, 1), 5000, NULL) < 0 ||
                vow_co_sleep(1) < 0)
                return -1;
        }
    }
    if (sent < len && await_for(vow_write_all(l, fd, msg + sent, len - sent), 5000, NULL) < 0)
        return -1;
    unsigned char *back = malloc(len);
    int ok = back && await_for(vow_read_exact(l, fd, back, len), 5000, NULL) == 0 &&
             memcmp(back, msg, len) == 0;
    free(back);
    return ok ? 1 : 0;
}

static vow_ret co_client(void *arg)
{
    struct client *c = arg;
    struct wave *w = c->w;
    enum part part = (enum part)(c->id % NPARTS);
    w->ran[part]++;
    vow *cp = vow_tcp_connect(w->l, "127.0.0.1", w->port);
    int64_t fd = -1;
    int rc = await_for(cp, 5000, &fd);
    if (rc < 0)
        return vow_ok(vow_val_none());
    unsigned char *msg = malloc(MSG);
    assert_non_null(msg);
    fill(msg, MSG, c->id);
    int ok = 0;
    switch (part) {
    case NORMAL:
    case SLOW: {
        int r = echo_once(w->l, (int)fd, msg, MSG, part == SLOW);
        ok = r == 1;
        if (r == 0)
            w->bad++;
        break;
    }
    case HALFWAY:
        /* Half a message, then gone: the server's echo meets a closed peer. */
        ok = await_for(vow_write_all(w->l, (int)fd, msg, MSG / 2), 5000, NULL) == 0;
        break;
    case RESET: {
        ok = await_for(vow_write_all(w->l, (int)fd, msg, MSG), 5000, NULL) == 0;
        struct linger lg = {1, 0};
        ok &= setsockopt((int)fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0;
        break;
    }
    case NOREAD: {
        /* Never reads: the server's echo fills this socket's small receive buffer, its
         * write times out and it closes, and a write here then fails. The bound is far
         * beyond what the kernel buffers hold. */
        int small = 4096;
        setsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        rc = 0;
        for (int k = 0; k < NOREAD_CHUNKS && rc == 0; k++)
            rc = await_for(vow_write_all(w->l, (int)fd, msg, MSG), 10000, NULL);
        ok = rc == -EPIPE || rc == -ECONNRESET;
        break;
    }
    default:
        break;
    }
    if (ok)
        w->ok[part]++;
    free(msg);
    vow_fd_close((int)fd);
    return vow_ok(vow_val_none());
}

struct client_thread {
    int port;             /* server port */
    long waves, per_wave; /* scale */
    atomic_int wave_done; /* waves finished */
    struct wave total;    /* sums over the waves */
    vow_loop *server_l;   /* to tell the server after each wave */
    int failed;           /* the thread could not run */
};

static void wave_over(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
}

static void *client_main(void *arg)
{
    struct client_thread *ct = arg;
    vow_loop *l = vow_loop_new();
    if (!l) {
        ct->failed = 1;
        atomic_store(&ct->wave_done, (int)ct->waves);
        vow_loop_post(ct->server_l, wave_over, NULL);
        return NULL;
    }
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    for (long wv = 0; wv < ct->waves; wv++) {
        struct wave w = {.l = l, .port = ct->port, .n = ct->per_wave};
        struct client *cs = calloc((size_t)w.n, sizeof(*cs));
        vow **ps = calloc((size_t)w.n, sizeof(*ps));
        for (long i = 0; i < w.n; i++) {
            cs[i] = (struct client){&w, wv * w.n + i};
            ps[i] = vow_co_spawn(l, co_client, &cs[i], NULL);
        }
        vow *all = vow_all(l, ps, (size_t)w.n);
        while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
            ;
        if (!all || vow_state(all) != VOW_FULFILLED)
            ct->failed = 1;
        vow_unref(all);
        free(ps);
        free(cs);
        for (int p = 0; p < NPARTS; p++) {
            ct->total.ok[p] += w.ok[p];
            ct->total.ran[p] += w.ran[p];
        }
        ct->total.bad += w.bad;
        atomic_fetch_add(&ct->wave_done, 1);
        /* Wakes the server's loop, which waits for this count (it holds a keepalive,
         * so it is open). */
        if (vow_loop_post(ct->server_l, wave_over, NULL) != 0)
            ct->failed = 1;
    }
    if (vow_loop_close(l) != 0)
        ct->failed = 1;
    return NULL;
}

/* ------------------------------------------------------------------- test */

static void stop_server(vow_loop *l, void *arg)
{
    struct server *s = arg;
    vow_cancel(s->acceptor);
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
}

static void test_waves(void **state)
{
    long fds0 = tu_open_fds();
    long waves = stress_n(2, 25), per_wave = stress_n(40, 2000);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    /* Each connection costs two fds here (both ends live in this process). */
    long room = ((long)rl.rlim_cur - fds0 - 64) / 2;
    if (per_wave > room)
        per_wave = room;
    struct server s = {.l = vow_loop_new()};
    assert_non_null(s.l);
    vow_loop_set_unhandled(s.l, tu_quiet, NULL);
    s.lfd = vow_tcp_listen("127.0.0.1", 0, 4096);
    assert_true(s.lfd >= 0);
    s.acceptor = vow_co_spawn(s.l, co_accept, &s, NULL);
    assert_non_null(s.acceptor);
    struct client_thread ct = {
        .port = vow_sock_port(s.lfd), .waves = waves, .per_wave = per_wave, .server_l = s.l};
    double t0 = stress_now();
    pthread_t th;
    assert_int_equal(vow_loop_keepalive(s.l, 1), 1);
    assert_int_equal(pthread_create(&th, NULL, client_main, &ct), 0);
    /* The server runs until the client thread is done, then stops accepting. */
    while (atomic_load(&ct.wave_done) < waves)
        assert_true(vow_loop_run(s.l, VOW_RUN_ONCE) > 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(vow_loop_post(s.l, stop_server, &s), 0);
    while (vow_loop_run(s.l, VOW_RUN_DEFAULT) > 0)
        ;
    double secs = stress_now() - t0;
    assert_int_equal(vow_code(s.acceptor), VOW_ECANCELED);
    vow_unref(s.acceptor);
    vow_fd_close(s.lfd);
    assert_int_equal(s.live, 0);
    assert_int_equal(vow_loop_close(s.l), 0);
    long total = waves * per_wave;
    stress_report("conns",
                  "%ld connections in %ld waves in %.1f s: accepted %ld, echoed %ld "
                  "bytes; clients ok: normal %ld/%ld slow %ld/%ld halfway %ld/%ld reset %ld/%ld "
                  "noread %ld/%ld; server write timeouts %ld, peer errors %ld, accept errors "
                  "%ld; fds %ld -> %ld",
                  total, waves, secs, s.accepted, s.echoed, ct.total.ok[NORMAL],
                  ct.total.ran[NORMAL], ct.total.ok[SLOW], ct.total.ran[SLOW], ct.total.ok[HALFWAY],
                  ct.total.ran[HALFWAY], ct.total.ok[RESET], ct.total.ran[RESET],
                  ct.total.ok[NOREAD], ct.total.ran[NOREAD], s.write_timeouts, s.peer_errors,
                  s.accept_errors, fds0, tu_open_fds());
    (void)part_name;
    assert_int_equal(ct.failed, 0);
    assert_int_equal(ct.total.bad, 0);
    /* Every client that behaves got its echo; the hostile ones did what they meant. */
    for (int p = 0; p < NPARTS; p++)
        assert_int_equal(ct.total.ok[p], ct.total.ran[p]);
    assert_int_equal(s.accepted, total);
    assert_int_equal(tu_open_fds(), fds0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
