/* SPDX-License-Identifier: MIT */
/*
 * TCP echo server on 127.0.0.1: a coroutine per connection, or vow chains with
 * --chains. Prints "port=N" once listening (port 0 picks a free one). Stops after
 * --max-conns connections have been served, or after --seconds. Clients that vanish
 * mid-write just end their connection: the write rejects and everything is freed.
 *   usage: echo_server [--chains] [--max-conns N] [--seconds S] [PORT]
 */
#include <vow.h>
#include <vow/io.h>
#ifdef HAVE_VOW_CO
#include <vow/co.h>
#endif

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 16384

struct server {
    vow_loop *l;
    int lfd;            /* listening socket, -1 once closed */
    long max_conns;     /* stop accepting after this many (0: never) */
    long accepted;      /* connections accepted so far */
    long live;          /* connections not yet finished */
    vow *acceptor;      /* the accept loop (coroutine vow or current accept chain) */
    struct conn *conns; /* chains mode: live connections, for the deadline */
};

static void stop_listening(struct server *s)
{
    if (s->lfd >= 0) {
        vow_fd_close(s->lfd);
        s->lfd = -1;
    }
}

/* --------------------------------------------------------------- coroutines */

#ifdef HAVE_VOW_CO
struct co_conn {
    struct server *s;
    int fd;
};

/* Echo until EOF or an error; any failure (reset, EPIPE, cancel) ends the loop. */
static vow_ret co_echo(void *arg)
{
    struct co_conn c = *(struct co_conn *)arg;
    vow_free(arg);
    char buf[CHUNK];
    /* A stream keeps the fd registered between reads: no epoll_ctl per message. */
    vow_stream *st = vow_stream_new(c.s->l, c.fd);
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
    }
    vow_stream_close(st);
    vow_fd_close(c.fd);
    c.s->live--;
    return vow_ok(vow_val_none());
}

static vow_ret co_accept_loop(void *arg)
{
    struct server *s = arg;
    while (s->max_conns == 0 || s->accepted < s->max_conns) {
        vow *a = vow_accept(s->l, s->lfd);
        int rc = vow_await(a);
        int fd = rc == 0 ? (int)vow_value(a)->num : -1;
        vow_unref(a);
        if (rc == VOW_ECANCELED)
            break;
        if (fd < 0)
            continue; /* EMFILE and friends: try the next one */
        s->accepted++;
        struct co_conn *c = vow_malloc(sizeof(*c));
        vow *co = NULL;
        if (c) {
            *c = (struct co_conn){ .s = s, .fd = fd };
            co = vow_co_spawn(s->l, co_echo, c, NULL);
        }
        if (!co) {
            vow_free(c);
            vow_fd_close(fd);
            continue;
        }
        s->live++;
        vow_unref(co); /* it runs to its end; its result is not needed */
    }
    stop_listening(s);
    return vow_ok(vow_val_none());
}
#endif

/* ------------------------------------------------------------------- chains */

/*
 * One connection: read, then write what was read, then start over. Each step starts
 * a fresh chain instead of following the next one, so a long-lived connection does
 * not build an ever-longer chain of adopted vows. c->op is the I/O in flight: the
 * deadline cancels it, which runs conn_failed.
 */
struct conn {
    struct server *s;
    int fd;
    vow_stream *st;        /* fd, registered once for the connection's life */
    vow *op;               /* the read or write in flight (our reference) */
    struct conn *prev, *next;
    char buf[CHUNK];
};

static vow_ret conn_got(void *ctx, const vow_val *v);
static vow_ret conn_written(void *ctx, const vow_val *v);
static vow_ret conn_failed(void *ctx, int code, const vow_val *detail);

/* Starts op for c; the chain on it runs by itself, only op is kept. */
static void conn_step(struct conn *c, vow *op, vow_ok_fn next)
{
    c->op = op;
    vow_unref(vow_then(vow_ref(op), next, conn_failed, c));
}

static void conn_end(struct conn *c)
{
    vow_stream_close(c->st);
    vow_fd_close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->s->live--;
    vow_free(c);
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

static vow_ret ch_accepted(void *ctx, const vow_val *v);

static vow_ret ch_accept_failed(void *ctx, int code, const vow_val *detail)
{
    struct server *s = ctx;
    vow_unref(s->acceptor);
    s->acceptor = NULL;
    stop_listening(s);
    return vow_ok(vow_val_none());
}

static void ch_accept_next(struct server *s)
{
    s->acceptor = vow_accept(s->l, s->lfd);
    vow_unref(vow_then(vow_ref(s->acceptor), ch_accepted, ch_accept_failed, s));
}

static vow_ret ch_accepted(void *ctx, const vow_val *v)
{
    struct server *s = ctx;
    vow_unref(s->acceptor);
    s->acceptor = NULL;
    s->accepted++;
    struct conn *c = vow_malloc(sizeof(*c));
    vow_stream *st = c ? vow_stream_new(s->l, (int)v->num) : NULL;
    if (st) {
        *c = (struct conn){ .s = s, .fd = (int)v->num, .st = st, .next = s->conns };
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->live++;
        conn_step(c, vow_stream_read(st, c->buf, sizeof(c->buf)), conn_got);
    } else {
        vow_free(c);
        vow_fd_close((int)v->num);
    }
    if (s->max_conns == 0 || s->accepted < s->max_conns)
        ch_accept_next(s);
    else
        stop_listening(s);
    return vow_ok(vow_val_none());
}

/* ----------------------------------------------------------------- deadline */

static vow_ret on_deadline(void *ctx, const vow_val *v)
{
    struct server *s = ctx;
    /* Cancelling makes every pending step reject, so each connection ends itself. */
    if (s->acceptor)
        vow_cancel(s->acceptor);
    for (struct conn *c = s->conns; c; c = c->next)
        vow_cancel(c->op);
#ifdef HAVE_VOW_CO
    vow_co_cancel_all(s->l);
#endif
    return vow_ok(vow_val_none());
}

int main(int argc, char **argv)
{
    struct server s = { .lfd = -1 };
    bool chains = false;
    double seconds = 0;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--chains") == 0)
            chains = true;
        else if (i + 1 < argc && strcmp(argv[i], "--max-conns") == 0)
            s.max_conns = strtol(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[++i], NULL);
        else if (argv[i][0] != '-')
            port = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: %s [--chains] [--max-conns N] [--seconds S] [PORT]\n",
                    argv[0]);
            return 2;
        }
    }
#ifndef HAVE_VOW_CO
    chains = true;
#endif
    signal(SIGPIPE, SIG_IGN);
    s.l = vow_loop_new();
    if (!s.l)
        return 1;
    s.lfd = vow_tcp_listen("127.0.0.1", port, 128);
    if (s.lfd < 0) {
        fprintf(stderr, "echo_server: listen: %s\n", vow_strerror(s.lfd));
        vow_loop_close(s.l);
        return 1;
    }
    printf("port=%d\n", vow_sock_port(s.lfd));
    fflush(stdout);

    vow *deadline = NULL;
    if (seconds > 0)
        deadline = vow_then(vow_delay(s.l, (uint64_t)(seconds * 1000), vow_val_none()),
                            on_deadline, NULL, &s);
    if (chains) {
        ch_accept_next(&s);
    } else {
#ifdef HAVE_VOW_CO
        s.acceptor = vow_co_spawn(s.l, co_accept_loop, &s, NULL);
#endif
    }
    /* Once the listener is closed and every connection has ended, only the deadline
     * can keep the loop alive: cancel it then. */
    while (vow_loop_run(s.l, VOW_RUN_ONCE) > 0) {
        if (s.lfd < 0 && s.live == 0 && deadline && vow_state(deadline) == VOW_PENDING)
            vow_cancel(deadline);
    }
    vow_unref(deadline);
    vow_unref(s.acceptor);
    stop_listening(&s);
    int r = vow_loop_close(s.l);
    if (r < 0)
        fprintf(stderr, "echo_server: close: %s\n", vow_strerror(r));
    return r < 0;
}
