/* SPDX-License-Identifier: MIT */
/*
 * A TCP proxy on 127.0.0.1, structured with scopes: for each client, connect to the
 * destination and copy both ways until each side's EOF (passed on as a shutdown of
 * the write side), then close both ends. Each session is a coroutine with a scope of
 * its own: its deadline is the idle timeout (any traffic moves it), and its two pumps
 * are children that fail fast (a reset on one side ends both). Sessions are children
 * of a server scope in discard mode; the whole proxy is one scope that --seconds,
 * SIGINT or SIGTERM ends, joining every session before the program exits.
 * Backpressure: each direction holds at most one chunk and reads again only after
 * the write handed it to the kernel.
 * kill -USR1 prints the loop's tree (vow_loop_dump_on) on stderr.
 *   usage: proxy [--port P] [--max-conns N] [--seconds S] [--idle-ms MS] DEST_HOST DEST_PORT
 *   (prints "port=N"; exits 1 if a session failed, 0 otherwise)
 */
#include <vow.h>
#include <vow/inspect.h>
#include <vow/io.h>
#include <vow/scope.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536
#define ACCEPT_BACKOFF_MS 10

struct proxy {
    vow_loop *l;
    int lfd;          /* listening socket, -1 once closed */
    const char *host; /* destination */
    int port;
    long max_conns;   /* stop accepting after this many (0: never) */
    long accepted;    /* sessions accepted so far */
    uint64_t idle_ms; /* a session idle this long ends (0: never) */
    long failed;      /* sessions that ended with an error */
    size_t up, down;  /* bytes copied, all sessions */
};

/* One direction of a session. */
struct pump {
    struct proxy *px;
    vow_scope *session; /* its deadline moves with every chunk */
    vow_stream *in;     /* reads from here */
    vow_stream *out;    /* writes there */
    int to;             /* the fd behind out, shut down for writing at EOF */
    size_t *bytes;      /* where the count goes */
};

/* Copies until EOF, then passes the EOF on. A failure (reset, the idle deadline,
 * cancellation) fails the pump, and the session's scope cancels the other one. */
static vow_ret pump(void *arg)
{
    struct pump *p = arg;
    char *buf = vow_malloc(CHUNK);
    int rc = buf ? 0 : VOW_ENOMEM;
    while (rc == 0) {
        vow *r = vow_stream_read(p->in, buf, CHUNK);
        rc = vow_await(r);
        int64_t n = rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (rc != 0 || n == 0)
            break;
        vow *w = vow_stream_write(p->out, buf, (size_t)n);
        rc = vow_await(w);
        vow_unref(w);
        *p->bytes += rc == 0 ? (size_t)n : 0;
        if (rc == 0 && p->px->idle_ms)
            vow_scope_set_timeout(p->session, p->px->idle_ms);
    }
    vow_free(buf);
    if (rc != 0)
        return vow_fail(rc, vow_val_none());
    vow_shutdown_write(p->to);
    return vow_ok(vow_val_none());
}

struct client {
    struct proxy *px;
    int fd;
};

static vow_ret session(void *arg)
{
    struct client c = *(struct client *)arg;
    struct proxy *px = c.px;
    vow_free(arg);
    /* The session's scope covers the connect too: the idle deadline bounds it. */
    vow_scope *s = vow_scope_new(px->l, &(vow_scope_opts){ .timeout_ms = px->idle_ms });
    int server = -1, rc = VOW_ENOMEM;
    vow *conn = s ? vow_tcp_connect(px->l, px->host, px->port) : NULL;
    if (conn) {
        rc = vow_await(conn);
        server = rc == 0 ? (int)vow_value(conn)->num : -1;
        vow_unref(conn);
    }
    /* One stream per socket: each carries one pump's reads and the other's writes. */
    vow_stream *cs = server >= 0 ? vow_stream_new(px->l, c.fd) : NULL;
    vow_stream *ss = cs ? vow_stream_new(px->l, server) : NULL;
    if (ss) {
        struct pump up = { px, s, cs, ss, server, &px->up };
        struct pump down = { px, s, ss, cs, c.fd, &px->down };
        vow_scope_spawn(s, pump, &up, NULL);
        vow_scope_spawn(s, pump, &down, NULL);
        /* Both pumps end before their locals go: this waits for them, even when the
         * server is shutting down. */
        vow *j = vow_scope_join(s);
        rc = vow_await(j);
        vow_unref(j);
    } else if (rc == 0) {
        rc = VOW_ENOMEM;
    }
    vow_stream_close(cs);
    vow_stream_close(ss);
    if (server >= 0)
        vow_fd_close(server);
    vow_fd_close(c.fd);
    vow_scope_close(s);
    /* Shut down or idle too long: an ending, not a failure. */
    if (rc != 0 && rc != VOW_ECANCELED && rc != VOW_ETIMEDOUT)
        px->failed++;
    return vow_ok(vow_val_none());
}

static vow_ret serve(void *arg)
{
    struct proxy *px = arg;
    vow_scope *sessions = vow_scope_new(
        px->l, &(vow_scope_opts){ .flags = VOW_SCOPE_DISCARD | VOW_SCOPE_SUPERVISOR });
    while (sessions && (px->max_conns == 0 || px->accepted < px->max_conns)) {
        vow *a = vow_accept(px->l, px->lfd);
        int rc = vow_await(a);
        int fd = rc == 0 ? (int)vow_value(a)->num : -1;
        vow_unref(a);
        if (rc == VOW_ECANCELED)
            break;
        if (fd < 0) {
            /* Out of fds or memory: back off so the loop keeps turning. */
            if ((rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM || !a) &&
                vow_co_sleep(ACCEPT_BACKOFF_MS) == VOW_ECANCELED)
                break;
            continue;
        }
        px->accepted++;
        struct client *c = vow_malloc(sizeof(*c));
        if (c)
            *c = (struct client){ px, fd };
        if (!c || vow_scope_spawn(sessions, session, c, NULL) < 0) {
            vow_free(c);
            vow_fd_close(fd);
        }
    }
    vow_fd_close(px->lfd);
    px->lfd = -1;
    vow *j = vow_scope_join(sessions);
    vow_await(j);
    vow_unref(j);
    vow_scope_close(sessions);
    return vow_ok(vow_val_none());
}

static void wait_for(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING && vow_loop_run(l, VOW_RUN_ONCE) > 0)
        ;
}

int main(int argc, char **argv)
{
    struct proxy px = { .lfd = -1, .idle_ms = 30000 };
    int listen_port = 0;
    double seconds = 0;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            listen_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-conns") == 0)
            px.max_conns = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--idle-ms") == 0)
            px.idle_ms = strtoull(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (argc - i != 2) {
        fprintf(stderr,
                "usage: %s [--port P] [--max-conns N] [--seconds S] [--idle-ms MS] "
                "DEST_HOST DEST_PORT\n",
                argv[0]);
        return 2;
    }
    px.host = argv[i];
    px.port = atoi(argv[i + 1]);
    signal(SIGPIPE, SIG_IGN);
    px.l = vow_loop_new();
    if (!px.l)
        return 1;
    px.lfd = vow_tcp_listen("127.0.0.1", listen_port, 128);
    if (px.lfd < 0) {
        fprintf(stderr, "proxy: listen: %s\n", vow_strerror(px.lfd));
        vow_loop_close(px.l);
        return 1;
    }
    /* kill -USR1 <pid> prints what the server is doing (its coroutines, scopes,
     * pending vows and watched fds, as a tree) on stderr; the dump runs on the loop
     * thread at its next turn, never inside the signal handler. */
    vow_loop_dump_on(px.l, SIGUSR1, stderr);
    printf("port=%d\n", vow_sock_port(px.lfd));
    fflush(stdout);

    /* The whole proxy: --seconds ends it as a success (move-on); a signal wins the
     * race, the race cancels the join it beat, and that cancels the scope. Then
     * everything is joined. */
    vow_scope *top = vow_scope_new(px.l, &(vow_scope_opts){
        .flags = VOW_SCOPE_MOVE_ON, .timeout_ms = (uint64_t)(seconds * 1000) });
    if (top) {
        vow_scope_spawn(top, serve, &px, NULL);
        vow *sigs[2] = { vow_signal_wait(px.l, SIGINT), vow_signal_wait(px.l, SIGTERM) };
        vow *first[2] = { vow_scope_join(top), vow_race(px.l, sigs, 2) };
        vow *ended = vow_race(px.l, first, 2);
        wait_for(px.l, ended);
        vow_unref(ended);
        vow *all = vow_scope_join(top);
        wait_for(px.l, all);
        vow_unref(all);
        vow_scope_close(top);
    }
    if (px.lfd >= 0)
        vow_fd_close(px.lfd);
    vow_loop_run(px.l, VOW_RUN_DEFAULT);
    fprintf(stderr, "proxy: %ld sessions, %zu bytes up, %zu down, %ld failed\n", px.accepted,
            px.up, px.down, px.failed);
    int r = vow_loop_close(px.l);
    return r < 0 || !top || px.failed > 0;
}
