/* SPDX-License-Identifier: MIT */
/*
 * TCP echo server on 127.0.0.1, structured with scopes: the whole server is one scope
 * (its deadline is --seconds; SIGINT or SIGTERM cancels it), connections are children
 * of a server scope in discard mode (memory stays flat however many come and go), and
 * each connection covers its loop with a scope whose deadline is the idle timeout. A
 * coroutine per connection, or vow chains with --chains. Prints "port=N" once
 * listening (port 0 picks a free one). Stops accepting after --max-conns connections
 * and exits once they have ended. Out of fds (EMFILE), the accept loop backs off a
 * little and keeps going. Clients that vanish mid-write just end their connection.
 * kill -USR1 prints the loop's tree (vow_loop_dump_on) on stderr.
 * --threads N serves on a loop group instead (vow/group.h): N loops on N threads (0:
 * one per CPU), a listening socket per loop (SO_REUSEPORT, or --handoff: accepted on
 * one loop, handed to the least loaded), the same coroutine per connection on the
 * loop that got it. SIGINT or SIGTERM (or --seconds) stops the group: every loop
 * stops accepting, its connections are cancelled and joined, exit 0; a second
 * signal forces the exit (status 130).
 *   usage: echo_server [--chains] [--max-conns N] [--seconds S] [--idle-ms MS] [PORT]
 *          echo_server --threads N [--handoff] [--seconds S] [--idle-ms MS] [PORT]
 */
#include <vow.h>
#include <vow/co.h>
#include <vow/inspect.h>
#include <vow/io.h>
#include <vow/scope.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group_serve.h"

#define CHUNK 16384
#define ACCEPT_BACKOFF_MS 10

struct server {
    vow_loop *l;
    int lfd;          /* listening socket, -1 once closed */
    long max_conns;   /* stop accepting after this many (0: never) */
    long accepted;    /* connections accepted so far */
    uint64_t idle_ms; /* a connection idle this long ends (0: never) */
    vow_scope *top;   /* the whole server */
    vow *acceptor;    /* chains: the accept (or back-off delay) in flight */
    vow *accepting;   /* chains: the accept loop as a child of top, until it stops */
};

static void stop_listening(struct server *s)
{
    if (s->lfd >= 0) {
        vow_fd_close(s->lfd);
        s->lfd = -1;
    }
}

/* Out of fds or memory until something is freed: worth a short wait, not a retry at
 * once (the listening socket stays readable, so a retry would spin without letting
 * the loop turn). Any other accept error concerns one client only. */
static bool accept_backs_off(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM ||
           rc == VOW_ENOMEM || rc == VOW_EINVAL;
}

/* --------------------------------------------------------------- coroutines */

struct co_conn {
    struct server *s;
    int fd;
};

/* guide:echo-conn-begin */
/* Echo until EOF, an error, the idle deadline or the server's shutdown. */
static vow_ret echo_conn(void *arg)
{
    struct co_conn c = *(struct co_conn *)arg;
    vow_free(arg);
    char buf[CHUNK];
    /* The connection's scope: its deadline bounds every await below (VOW_ETIMEDOUT),
     * and each message moves it on. Cancelling the server reaches it (VOW_ECANCELED). */
    vow_scope *conn = vow_scope_new(c.s->l, &(vow_scope_opts){ .timeout_ms = c.s->idle_ms });
    /* A stream keeps the fd registered between reads: no epoll_ctl per message. */
    vow_stream *st = conn ? vow_stream_new(c.s->l, c.fd) : NULL;
    while (st) {
        vow *r = vow_stream_read(st, buf, sizeof(buf));
        int rc = vow_await(r);
        int64_t n = rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (n <= 0)
            break;
        vow *w = vow_stream_write(st, buf, (size_t)n);
        rc = vow_await(w);
        vow_unref(w);
        if (rc != 0)
            break;
        if (c.s->idle_ms)
            vow_scope_set_timeout(conn, c.s->idle_ms);
    }
    vow_stream_close(st);
    vow_fd_close(c.fd);
    vow_scope_close(conn);
    return vow_ok(vow_val_none());
}
/* guide:echo-conn-end */

/* guide:serve-begin */
static vow_ret co_serve(void *arg)
{
    struct server *s = arg;
    /* Connections: discard keeps nothing of those that ended; supervisor lets one
     * failing leave the others alone. */
    vow_scope *conns = vow_scope_new(
        s->l, &(vow_scope_opts){ .flags = VOW_SCOPE_DISCARD | VOW_SCOPE_SUPERVISOR });
    while (conns && (s->max_conns == 0 || s->accepted < s->max_conns)) {
        vow *a = vow_accept(s->l, s->lfd);
        int rc = vow_await(a);
        int fd = rc == 0 ? (int)vow_value(a)->num : -1;
        vow_unref(a);
        if (rc == VOW_ECANCELED)
            break; /* shutdown: the server scope was cancelled */
        if (fd < 0) {
            if (accept_backs_off(rc) && vow_co_sleep(ACCEPT_BACKOFF_MS) == VOW_ECANCELED)
                break;
            continue;
        }
        s->accepted++;
        struct co_conn *c = vow_malloc(sizeof(*c));
        if (c)
            *c = (struct co_conn){ .s = s, .fd = fd };
        if (!c || vow_scope_spawn(conns, echo_conn, c, NULL) < 0) {
            vow_free(c);
            vow_fd_close(fd);
        }
    }
    stop_listening(s);
    /* Every connection ends before the server does; at shutdown they were cancelled
     * with it, and this await waits for them all the same. */
    vow *j = vow_scope_join(conns);
    vow_await(j);
    vow_unref(j);
    vow_scope_close(conns);
    return vow_ok(vow_val_none());
}
/* guide:serve-end */

/* ------------------------------------------------------------------- chains */

/*
 * One connection: read, then write what was read, then start over. Each step starts
 * a fresh chain instead of following the next one, so a long-lived connection does
 * not build an ever-longer chain of adopted vows. c->op is the I/O in flight; c->done
 * is the connection as a child of the server scope: cancelling it (the scope's
 * deadline or shutdown) cancels c->op, which runs conn_failed.
 */
struct conn {
    struct server *s;
    int fd;
    vow_stream *st; /* fd, registered once for the connection's life */
    vow *op;        /* the read or write in flight (our reference) */
    vow *done;      /* settles when the connection ends (our reference) */
    char buf[CHUNK];
};

static vow_ret conn_got(void *ctx, const vow_val *v);
static vow_ret conn_written(void *ctx, const vow_val *v);
static vow_ret conn_failed(void *ctx, int code, const vow_val *detail);

static void conn_end(struct conn *c)
{
    vow_stream_close(c->st);
    vow_fd_close(c->fd);
    vow_resolve(c->done, vow_val_none()); /* VOW_ESETTLED if it was cancelled */
    vow_unref(c->done);
    vow_free(c);
}

/* Starts op for c, bounded by the idle timeout; the chain on it runs by itself. Out
 * of memory, the connection ends. */
static void conn_step(struct conn *c, vow *op, vow_ok_fn next)
{
    c->op = c->s->idle_ms && op ? vow_timeout(op, c->s->idle_ms) : op;
    vow *t = c->op ? vow_then(vow_ref(c->op), next, conn_failed, c) : NULL;
    if (!t) {
        vow_unref(c->op);
        conn_end(c);
        return;
    }
    vow_unref(t);
}

/* The server scope cancelled the connection: withdraw what is in flight. */
static void conn_abort(void *ctx, vow *done)
{
    struct conn *c = ctx;
    (void)done;
    vow_cancel(c->op);
}

static vow_ret conn_failed(void *ctx, int code, const vow_val *detail)
{
    struct conn *c = ctx;
    vow_unref(c->op);
    conn_end(c);
    return vow_ok(vow_val_none());
}

static vow_ret conn_written(void *ctx, const vow_val *v)
{
    struct conn *c = ctx;
    vow_unref(c->op);
    conn_step(c, vow_stream_read(c->st, c->buf, sizeof(c->buf)), conn_got);
    return vow_ok(vow_val_none());
}

static vow_ret conn_got(void *ctx, const vow_val *v)
{
    struct conn *c = ctx;
    vow_unref(c->op);
    if (v->num == 0)
        conn_end(c);
    else
        conn_step(c, vow_stream_write(c->st, c->buf, (size_t)v->num), conn_written);
    return vow_ok(vow_val_none());
}

/* A connection as a scope child: c->done, whose abort hook withdraws its I/O. */
static void conn_start(struct server *s, int fd)
{
    struct conn *c = vow_malloc(sizeof(*c));
    vow_stream *st = c ? vow_stream_new(s->l, fd) : NULL;
    vow *done = st ? vow_pending(s->l) : NULL;
    if (!done || vow_on_cancel(done, conn_abort, c) < 0) {
        vow_unref(done);
        vow_stream_close(st);
        vow_free(c);
        vow_fd_close(fd);
        return;
    }
    *c = (struct conn){ .s = s, .fd = fd, .st = st, .done = done };
    vow_scope_add(s->top, vow_ref(done));
    conn_step(c, vow_stream_read(st, c->buf, sizeof(c->buf)), conn_got);
}

static vow_ret ch_accepted(void *ctx, const vow_val *v);
static vow_ret ch_accept_failed(void *ctx, int code, const vow_val *detail);

static void ch_accept_stop(struct server *s)
{
    stop_listening(s);
    vow_resolve(s->accepting, vow_val_none()); /* VOW_ESETTLED if it was cancelled */
    vow_unref(s->accepting);
    s->accepting = NULL;
}

/* Makes op the accept loop's step in flight; out of memory, the loop stops. */
static void ch_step(struct server *s, vow *op, vow_ok_fn next)
{
    s->acceptor = op;
    vow *t = op ? vow_then(vow_ref(op), next, ch_accept_failed, s) : NULL;
    if (!t) {
        vow_unref(s->acceptor);
        s->acceptor = NULL;
        ch_accept_stop(s);
        return;
    }
    vow_unref(t);
}

static void ch_accept_next(struct server *s)
{
    ch_step(s, vow_accept(s->l, s->lfd), ch_accepted);
}

static vow_ret ch_backed_off(void *ctx, const vow_val *v)
{
    struct server *s = ctx;
    vow_unref(s->acceptor);
    ch_accept_next(s);
    return vow_ok(vow_val_none());
}

/* Cancelled: the server is shutting down. Anything else: accept again, after a short
 * back-off if fds or memory ran out. */
static vow_ret ch_accept_failed(void *ctx, int code, const vow_val *detail)
{
    struct server *s = ctx;
    vow_unref(s->acceptor);
    s->acceptor = NULL;
    if (code == VOW_ECANCELED)
        ch_accept_stop(s);
    else if (accept_backs_off(code))
        ch_step(s, vow_delay(s->l, ACCEPT_BACKOFF_MS, vow_val_none()), ch_backed_off);
    else
        ch_accept_next(s);
    return vow_ok(vow_val_none());
}

static vow_ret ch_accepted(void *ctx, const vow_val *v)
{
    struct server *s = ctx;
    vow_unref(s->acceptor);
    s->acceptor = NULL;
    s->accepted++;
    conn_start(s, (int)v->num);
    if (s->max_conns == 0 || s->accepted < s->max_conns)
        ch_accept_next(s);
    else
        ch_accept_stop(s);
    return vow_ok(vow_val_none());
}

/* The scope cancelled the accept loop: withdraw the accept or back-off in flight. */
static void ch_abort(void *ctx, vow *accepting)
{
    struct server *s = ctx;
    (void)accepting;
    vow_cancel(s->acceptor);
}

static void ch_serve(struct server *s)
{
    s->accepting = vow_pending(s->l);
    if (!s->accepting || vow_on_cancel(s->accepting, ch_abort, s) < 0) {
        vow_unref(s->accepting);
        s->accepting = NULL;
        stop_listening(s);
        return;
    }
    vow_scope_add(s->top, vow_ref(s->accepting));
    ch_accept_next(s);
}

/* ------------------------------------------------- many loops (--threads) */

static struct server *servers; /* one per loop of the group */

/* Before the group listens: a server record per loop, for the connections' idle
 * deadline (*arg). */
static int group_ready(vow_group *g, void *arg)
{
    uint64_t idle_ms = *(const uint64_t *)arg;
    unsigned n = vow_group_size(g);
    servers = calloc(n, sizeof(*servers));
    if (!servers)
        return VOW_ENOMEM;
    for (unsigned i = 0; i < n; i++)
        servers[i] = (struct server){ .l = vow_group_loop(g, i), .lfd = -1, .idle_ms = idle_ms };
    return 0;
}

/* On the loop that got the connection: its coroutine, which the group tracks (the
 * group's stop cancels it and waits for it). */
static vow *group_conn(vow_loop *l, int fd, void *ctx)
{
    (void)ctx;
    struct co_conn *c = vow_malloc(sizeof(*c));
    vow *co = NULL;
    if (c) {
        *c = (struct co_conn){ .s = &servers[vow_group_self(serve_group)], .fd = fd };
        co = vow_co_spawn(l, echo_conn, c, NULL);
    }
    if (!co) {
        vow_free(c);
        vow_fd_close(fd);
    }
    return co;
}

static int serve_threads(unsigned threads, unsigned flags, int port, double seconds,
                         uint64_t idle_ms)
{
    int rc = serve_on_group("echo_server", &(vow_group_opts){ .loops = threads }, port, flags,
                            seconds, group_ready, &idle_ms, group_conn, NULL);
    free(servers);
    return rc;
}

/* ----------------------------------------------------------------- shutdown */

/* Runs l until p settles (or nothing is left to run). */
static void wait_for(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING && vow_loop_run(l, VOW_RUN_ONCE) > 0)
        ;
}

/*
 * Runs until every child of top has finished, or SIGINT or SIGTERM comes first: the
 * signal then wins the race, the race cancels the join it beat, and a cancelled join
 * cancels its scope. Either way everything top owns is joined before this returns.
 * Returns the final join's code: 0, or VOW_ECANCELED after a signal.
 */
static int run_until_done(vow_loop *l, vow_scope *top)
{
    vow *sigs[2] = { vow_signal_wait(l, SIGINT), vow_signal_wait(l, SIGTERM) };
    vow *first[2] = { vow_scope_join(top), vow_race(l, sigs, 2) };
    vow *ended = vow_race(l, first, 2);
    wait_for(l, ended);
    vow_unref(ended);
    vow *all = vow_scope_join(top);
    wait_for(l, all);
    int code = all ? vow_code(all) : VOW_ENOMEM;
    vow_unref(all);
    return code;
}

int main(int argc, char **argv)
{
    struct server s = { .lfd = -1, .idle_ms = 30000 };
    bool chains = false;
    double seconds = 0;
    int port = 0;
    long threads = -1; /* -1: one loop, no group */
    unsigned group_flags = 0;
    bool usage = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--chains") == 0)
            chains = true;
        else if (i + 1 < argc && strcmp(argv[i], "--max-conns") == 0)
            s.max_conns = strtol(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[++i], NULL);
        else if (i + 1 < argc && strcmp(argv[i], "--idle-ms") == 0)
            s.idle_ms = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--handoff") == 0)
            group_flags |= VOW_GROUP_HANDOFF;
        else if (argv[i][0] != '-')
            port = atoi(argv[i]);
        else
            usage = true;
    }
    /* The group mode has a coroutine per connection and no connection limit. */
    if (usage || (threads >= 0 && (chains || s.max_conns)) || (threads < 0 && group_flags) ||
        threads < -1 || threads > VOW_GROUP_MAX) {
        fprintf(stderr,
                "usage: %s [--chains] [--max-conns N] [--seconds S] [--idle-ms MS] [PORT]\n"
                "       %s --threads N [--handoff] [--seconds S] [--idle-ms MS] [PORT]\n",
                argv[0], argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (threads >= 0)
        return serve_threads((unsigned)threads, group_flags, port, seconds, s.idle_ms);
    s.l = vow_loop_new();
    if (!s.l)
        return 1;
    s.lfd = vow_tcp_listen("127.0.0.1", port, 128);
    if (s.lfd < 0) {
        fprintf(stderr, "echo_server: listen: %s\n", vow_strerror(s.lfd));
        vow_loop_close(s.l);
        return 1;
    }
    /* kill -USR1 <pid> prints what the server is doing (its coroutines, scopes,
     * pending vows and watched fds, as a tree) on stderr; the dump runs on the loop
     * thread at its next turn, never inside the signal handler. */
    vow_loop_dump_on(s.l, SIGUSR1, stderr);
    printf("port=%d\n", vow_sock_port(s.lfd));
    fflush(stdout);

    /* The whole server: --seconds is its deadline, which ends it as a success
     * (move-on); supervisor and discard, for the chains' connections. */
    s.top = vow_scope_new(s.l, &(vow_scope_opts){
        .flags = VOW_SCOPE_DISCARD | VOW_SCOPE_SUPERVISOR | VOW_SCOPE_MOVE_ON,
        .timeout_ms = (uint64_t)(seconds * 1000) });
    int code = VOW_ENOMEM;
    if (s.top) {
        if (chains)
            ch_serve(&s);
        else
            vow_scope_spawn(s.top, co_serve, &s, NULL);
        code = run_until_done(s.l, s.top);
        vow_scope_close(s.top);
    }
    stop_listening(&s);
    vow_loop_run(s.l, VOW_RUN_DEFAULT);
    int r = vow_loop_close(s.l);
    if (r < 0)
        fprintf(stderr, "echo_server: close: %s\n", vow_strerror(r));
    if (code != 0 && code != VOW_ECANCELED)
        fprintf(stderr, "echo_server: %s\n", vow_strerror(code));
    return r < 0 || (code != 0 && code != VOW_ECANCELED);
}
