/* SPDX-License-Identifier: MIT */
/*
 * A timed soak of everything at once on one loop (1 s in the smoke run,
 * VOW_STRESS_SECONDS, default 300, in the full run): echo clients and a coroutine echo
 * server on loopback (the server queues each echo as two writes without waiting for
 * the first), children spawned one after another, a ticker, a thread posting numbered
 * messages through a vow_poster and raising SIGUSR1 now and then while a coroutine
 * waits for it in a loop. At the end: the bytes the clients verified equal the bytes
 * the server echoed, the children's exit codes and the posted numbers add up, no fd
 * is left open, no child unreaped, no allocation live, and resident memory grew by
 * less than a bound after the warm-up.
 */
#include "stress.h"

#include "vow/co.h"
#include "vow/io.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

enum { CLIENTS = 8, MAXMSG = 32768 };

/* Resident growth allowed after the warm-up. AddressSanitizer keeps freed memory in
 * a quarantine (256 MiB by default) before reusing it, so there the bound is that. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SOAK_ASAN)
#define RSS_GROWTH_KB (320L * 1024)
#else
#define RSS_GROWTH_KB (32L * 1024)
#endif

struct soak {
    vow_loop *l;                 /* the loop */
    int stop;                    /* the deadline passed: every part winds down */
    int thread_gone;             /* the signalling thread has been joined */
    int lfd, port;               /* the echo listener */
    vow *acceptor;               /* its coroutine */
    long conns;                  /* connections served */
    int64_t echoed;              /* bytes the server echoed */
    int64_t verified;            /* bytes the clients got back intact */
    long bad;                    /* echoes that did not match */
    long children;               /* children reaped */
    int64_t exit_sum, exit_want; /* their exit codes, and what they should add up to */
    int64_t ticks;               /* last ticker count */
    long sig_wakes;              /* SIGUSR1 waits that woke */
    int64_t post_sum;            /* numbers posted from the thread, summed here */
    long rss_warm;               /* resident KiB after the warm-up */
    vow_poster *poster;          /* the thread's */
    atomic_int thread_stop;      /* tells the thread to finish */
    atomic_long raised;          /* SIGUSR1 sent by the thread */
    atomic_llong posted_sum;     /* what the thread posted */
};

static int await_code(vow *p)
{
    if (!p)
        return VOW_ENOMEM;
    int rc = vow_await(p);
    vow_unref(p);
    return rc;
}

/* ------------------------------------------------------------------ echo */

struct conn {
    struct soak *s; /* the soak */
    int fd;         /* the connection */
};

static vow_ret co_serve(void *arg)
{
    struct conn c = *(struct conn *)arg;
    free(arg);
    char *buf = malloc(MAXMSG);
    for (;;) {
        vow *r = vow_timeout(vow_read(c.s->l, c.fd, buf, MAXMSG), 5000);
        int rc = r ? vow_await(r) : VOW_ENOMEM;
        int64_t n = rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (n <= 0)
            break;
        /* Two writes, the second queued behind the first without waiting for it. */
        size_t half = (size_t)n / 2;
        vow *w1 = vow_write_all(c.s->l, c.fd, buf, half);
        vow *w2 = vow_write_all(c.s->l, c.fd, buf + half, (size_t)n - half);
        int r1 = await_code(w1), r2 = await_code(w2);
        if (r1 < 0 || r2 < 0)
            break;
        c.s->echoed += n;
    }
    free(buf);
    vow_fd_close(c.fd);
    return vow_ok(vow_val_none());
}

static vow_ret co_accept(void *arg)
{
    struct soak *s = arg;
    for (;;) {
        vow *a = vow_accept(s->l, s->lfd);
        int rc = vow_await(a);
        int fd = rc == 0 ? (int)vow_value(a)->num : -1;
        vow_unref(a);
        if (rc == VOW_ECANCELED)
            return vow_ok(vow_val_none());
        if (rc < 0)
            continue;
        s->conns++;
        struct conn *c = malloc(sizeof(*c));
        *c = (struct conn){s, fd};
        vow_unref(vow_co_spawn(s->l, co_serve, c, NULL));
    }
}

static vow_ret co_client(void *arg)
{
    struct soak *s = arg;
    uint64_t rnd = (uint64_t)(uintptr_t)&rnd | 1;
    unsigned char *msg = malloc(MAXMSG), *back = malloc(MAXMSG);
    while (!s->stop) {
        vow *cp = vow_tcp_connect(s->l, "127.0.0.1", s->port);
        int rc = vow_await(cp);
        int fd = rc == 0 ? (int)vow_value(cp)->num : -1;
        vow_unref(cp);
        if (rc < 0)
            continue;
        for (int k = 0; k < 4 && !s->stop; k++) {
            size_t n = 1 + stress_rand(&rnd) % MAXMSG;
            for (size_t i = 0; i < n; i++)
                msg[i] = (unsigned char)(stress_rand(&rnd) >> 24);
            if (await_code(vow_write_all(s->l, fd, msg, n)) < 0 ||
                await_code(vow_read_exact(s->l, fd, back, n)) < 0)
                break;
            if (memcmp(msg, back, n) != 0)
                s->bad++;
            else
                s->verified += (int64_t)n;
        }
        vow_fd_close(fd);
    }
    free(msg);
    free(back);
    return vow_ok(vow_val_none());
}

/* -------------------------------------------------------- other parts */

static vow_ret co_children(void *arg)
{
    struct soak *s = arg;
    for (long i = 0; !s->stop; i++) {
        char cmd[32];
        snprintf(cmd, sizeof(cmd), "exit %ld", i % 7);
        const char *argv[] = {"sh", "-c", cmd, NULL};
        vow_process p;
        if (vow_spawn(s->l, argv, VOW_SPAWN_NULL_STDIO, &p) < 0)
            return vow_fail(VOW_ESTATE, vow_val_none());
        int rc = vow_await(p.exited);
        int64_t st = rc == 0 ? vow_value(p.exited)->num : -1;
        vow_unref(p.exited);
        if (rc < 0)
            return vow_fail(rc, vow_val_none());
        s->children++;
        s->exit_sum += vow_exit_code(st);
        s->exit_want += i % 7;
    }
    return vow_ok(vow_val_none());
}

static vow_ret co_ticker(void *arg)
{
    struct soak *s = arg;
    vow_ticker *t = vow_ticker_new(s->l, 5);
    while (t && !s->stop) {
        vow *p = vow_ticker_next(t);
        if (vow_await(p) == 0)
            s->ticks = vow_value(p)->num;
        vow_unref(p);
    }
    vow_ticker_close(t);
    return vow_ok(vow_val_none());
}

/* Waits until the thread that sends SIGUSR1 is gone: with no waiter, SIGUSR1's default
 * action would end the process. Each wait has a timeout, and a new one starts from
 * the microtask after it: the handler stays installed across that gap. */
static vow_ret co_signals(void *arg)
{
    struct soak *s = arg;
    while (!s->thread_gone) {
        vow *p = vow_timeout(vow_signal_wait(s->l, SIGUSR1), 50);
        if (vow_await(p) == 0)
            s->sig_wakes++;
        vow_unref(p);
    }
    return vow_ok(vow_val_none());
}

static struct soak *soak_cur;

static void on_posted(vow_loop *l, void *arg)
{
    (void)l;
    soak_cur->post_sum += (int64_t)(intptr_t)arg;
}

static void *thread_main(void *arg)
{
    struct soak *s = arg;
    for (long i = 1; !atomic_load(&s->thread_stop); i++) {
        if (vow_poster_post(s->poster, on_posted, (void *)(intptr_t)i) == 0)
            atomic_fetch_add(&s->posted_sum, i);
        if (i % 200 == 0) {
            kill(getpid(), SIGUSR1);
            atomic_fetch_add(&s->raised, 1);
        }
        if (i % 16 == 0)
            sched_yield();
    }
    return NULL;
}

static void on_warm(vow_timer *t)
{
    ((struct soak *)t->data)->rss_warm = stress_rss_kb();
}

static void on_deadline(vow_timer *t)
{
    struct soak *s = t->data;
    s->stop = 1;
    vow_cancel(s->acceptor);
}

static void test_soak(void **state)
{
    long fds0 = tu_open_fds();
    double seconds = 1.0;
    if (stress_full()) {
        const char *v = getenv("VOW_STRESS_SECONDS");
        seconds = v ? atof(v) : 300.0;
    } else if (stress_valgrind()) {
        seconds = 0.5;
    }
    struct soak *s = calloc(1, sizeof(*s));
    soak_cur = s;
    s->l = vow_loop_new();
    assert_non_null(s->l);
    vow_loop_set_unhandled(s->l, tu_quiet, NULL);
    s->lfd = vow_tcp_listen("127.0.0.1", 0, 64);
    assert_true(s->lfd >= 0);
    s->port = vow_sock_port(s->lfd);
    s->poster = vow_poster_new(s->l);
    vow *parts[CLIENTS + 4];
    int np = 0;
    s->acceptor = vow_co_spawn(s->l, co_accept, s, NULL);
    for (int i = 0; i < CLIENTS; i++)
        parts[np++] = vow_co_spawn(s->l, co_client, s, NULL);
    parts[np++] = vow_co_spawn(s->l, co_children, s, NULL);
    parts[np++] = vow_co_spawn(s->l, co_ticker, s, NULL);
    parts[np++] = vow_co_spawn(s->l, co_signals, s, NULL);
    vow_timer warm, deadline;
    assert_int_equal(vow_timer_init(s->l, &warm, on_warm), 0);
    assert_int_equal(vow_timer_init(s->l, &deadline, on_deadline), 0);
    warm.data = deadline.data = s;
    assert_int_equal(vow_timer_start(&warm, (uint64_t)(seconds * 200), 0), 0);
    assert_int_equal(vow_timer_start(&deadline, (uint64_t)(seconds * 1000), 0), 0);
    /* The coroutines start (the signal waiter waits) before the thread sends any. */
    assert_int_equal(vow_loop_run(s->l, VOW_RUN_NOWAIT), 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, thread_main, s), 0);
    double t0 = stress_now();
    while (!s->stop)
        assert_true(vow_loop_run(s->l, VOW_RUN_ONCE) > 0);
    atomic_store(&s->thread_stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    s->thread_gone = 1;
    vow_poster_close(s->poster);
    while (vow_loop_run(s->l, VOW_RUN_DEFAULT) > 0)
        ;
    double secs = stress_now() - t0;
    for (int i = 0; i < np; i++) {
        assert_int_equal(vow_code(parts[i]), 0);
        vow_unref(parts[i]);
    }
    vow_unref(s->acceptor);
    vow_fd_close(s->lfd);
    long rss_end = stress_rss_kb();
    int zombies = stress_zombies();
    assert_int_equal(vow_loop_close(s->l), 0);
    stress_report("soak",
                  "%.1f s: %ld connections, %lld bytes echoed and verified, %ld "
                  "children (exit codes sum %lld), %lld ticks, %lld posted from a thread, "
                  "SIGUSR1 woke %ld of %ld times; fds %ld -> %ld, RSS %ld KiB after warm-up, "
                  "%ld at the end, zombies %d",
                  secs, s->conns, (long long)s->verified, s->children, (long long)s->exit_sum,
                  (long long)s->ticks, (long long)s->post_sum, s->sig_wakes,
                  atomic_load(&s->raised), fds0, tu_open_fds(), s->rss_warm, rss_end, zombies);
    assert_int_equal(s->bad, 0);
    assert_true(s->verified > 0);
    assert_int_equal(s->verified, s->echoed);
    assert_true(s->children > 0);
    assert_int_equal(s->exit_sum, s->exit_want);
    assert_true(s->ticks > 0);
    assert_int_equal(s->post_sum, atomic_load(&s->posted_sum));
    assert_true(s->sig_wakes <= atomic_load(&s->raised));
    assert_int_equal(zombies, 0);
    assert_int_equal(tu_open_fds(), fds0);
    /* Work that completes frees what it used: a bound, not a leak rate. */
    assert_true(rss_end - s->rss_warm < RSS_GROWTH_KB);
    free(s);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
