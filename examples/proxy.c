/* SPDX-License-Identifier: MIT */
/*
 * A TCP proxy for one connection: listen on 127.0.0.1, accept one client, connect to
 * the destination, copy both ways until each side's EOF (passed on as a shutdown of
 * the write side), then close both ends. Backpressure: each direction holds at most
 * one read chunk and reads again only after vow_write_all handed it to the kernel.
 *   usage: proxy [--port P] DEST_HOST DEST_PORT     (prints "port=N")
 */
#include <vow.h>
#include <vow/io.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536

struct proxy;

/* One direction: read from `from`, write to `to`, one chunk in flight at most. */
struct pump {
    struct proxy *px;
    struct pump *other; /* the opposite direction, stopped if this one fails */
    int from, to;       /* fds, for the shutdown at EOF */
    vow_stream *in;     /* reads from `from` */
    vow_stream *out;    /* writes to `to` */
    vow *op;            /* the read or write in flight (our reference), or NULL */
    int result;         /* 0: clean EOF; else the code that ended it */
    size_t bytes;       /* copied so far */
    char buf[CHUNK];
};

struct proxy {
    vow_loop *l;
    int lfd, client, server; /* -1 when closed */
    const char *host;        /* destination */
    int port;
    int pumps_left;          /* directions still running */
    vow_stream *cs, *ss;     /* client and server streams, each shared by both pumps */
    struct pump up, down;    /* client->server, server->client */
};

static vow_ret pump_got(void *ctx, const vow_val *v);
static vow_ret pump_written(void *ctx, const vow_val *v);
static vow_ret pump_failed(void *ctx, int code, const vow_val *detail);

/* A fresh chain per step, so a long transfer never builds a long chain. */
static void pump_step(struct pump *p, vow *op, vow_ok_fn next)
{
    p->op = op;
    vow_unref(vow_then(vow_ref(op), next, pump_failed, p));
}

static void pump_read(struct pump *p)
{
    pump_step(p, vow_stream_read(p->in, p->buf, sizeof(p->buf)), pump_got);
}

static void pump_done(struct pump *p, int result)
{
    vow_unref(p->op);
    p->op = NULL;
    p->result = result;
    struct proxy *px = p->px;
    if (result != 0 && p->other->op)
        vow_cancel(p->other->op); /* a reset ends the whole session */
    if (--px->pumps_left == 0) {
        vow_stream_close(px->cs);
        vow_stream_close(px->ss);
        px->cs = px->ss = NULL;
        vow_fd_close(px->client);
        vow_fd_close(px->server);
        px->client = px->server = -1;
    }
}

static vow_ret pump_got(void *ctx, const vow_val *v)
{
    struct pump *p = ctx;
    vow_unref(p->op);
    if (v->num == 0) {
        /* EOF: pass it on, and let the other direction finish on its own. */
        p->op = NULL;
        vow_shutdown_write(p->to);
        pump_done(p, 0);
    } else {
        pump_step(p, vow_stream_write(p->out, p->buf, (size_t)v->num), pump_written);
    }
    return vow_ok(vow_val_none());
}

static vow_ret pump_written(void *ctx, const vow_val *v)
{
    struct pump *p = ctx;
    vow_unref(p->op);
    p->bytes += (size_t)v->num;
    pump_read(p);
    return vow_ok(vow_val_none());
}

static vow_ret pump_failed(void *ctx, int code, const vow_val *detail)
{
    pump_done(ctx, code);
    return vow_ok(vow_val_none());
}

static vow_ret on_accepted(void *ctx, const vow_val *v)
{
    struct proxy *px = ctx;
    px->client = (int)v->num;
    vow_fd_close(px->lfd); /* one connection only */
    px->lfd = -1;
    return vow_follow(vow_tcp_connect(px->l, px->host, px->port));
}

static vow_ret on_connected(void *ctx, const vow_val *v)
{
    struct proxy *px = ctx;
    px->server = (int)v->num;
    /* One stream per socket: each carries one pump's reads and the other's writes. */
    px->cs = vow_stream_new(px->l, px->client);
    px->ss = vow_stream_new(px->l, px->server);
    if (!px->cs || !px->ss)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    px->up = (struct pump){ .px = px, .other = &px->down, .from = px->client,
                            .to = px->server, .in = px->cs, .out = px->ss };
    px->down = (struct pump){ .px = px, .other = &px->up, .from = px->server,
                              .to = px->client, .in = px->ss, .out = px->cs };
    px->pumps_left = 2;
    pump_read(&px->up);
    pump_read(&px->down);
    return vow_ok(vow_val_none());
}

int main(int argc, char **argv)
{
    struct proxy px = { .lfd = -1, .client = -1, .server = -1 };
    int listen_port = 0;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
        listen_port = atoi(argv[i + 1]);
        i += 2;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: %s [--port P] DEST_HOST DEST_PORT\n", argv[0]);
        return 2;
    }
    px.host = argv[i];
    px.port = atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN);
    px.l = vow_loop_new();
    if (!px.l)
        return 1;
    px.lfd = vow_tcp_listen("127.0.0.1", listen_port, 1);
    if (px.lfd < 0) {
        fprintf(stderr, "proxy: listen: %s\n", vow_strerror(px.lfd));
        vow_loop_close(px.l);
        return 1;
    }
    printf("port=%d\n", vow_sock_port(px.lfd));
    fflush(stdout);

    vow *session = vow_then(vow_then(vow_accept(px.l, px.lfd), on_accepted, NULL, &px),
                            on_connected, NULL, &px);
    vow_loop_run(px.l, VOW_RUN_DEFAULT);

    int status = 0;
    if (vow_state(session) == VOW_REJECTED) {
        fprintf(stderr, "proxy: %s\n", vow_strerror(vow_code(session)));
        status = 1;
    } else {
        fprintf(stderr, "proxy: %zu bytes up, %zu down%s\n", px.up.bytes, px.down.bytes,
                px.up.result || px.down.result ? " (reset)" : "");
        status = px.up.result || px.down.result;
    }
    vow_unref(session);
    vow_stream_close(px.cs);
    vow_stream_close(px.ss);
    if (px.server >= 0)
        vow_fd_close(px.server);
    /* What a failed connect left open. */
    if (px.client >= 0)
        vow_fd_close(px.client);
    if (px.lfd >= 0)
        vow_fd_close(px.lfd);
    int r = vow_loop_close(px.l);
    return r < 0 ? 1 : status;
}
