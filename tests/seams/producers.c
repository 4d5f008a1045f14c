/* SPDX-License-Identifier: MIT */
/*
 * The producer kinds of the cancellation matrix: how each operation is started, what
 * the outside world does to it (a peer writes, a client connects, a child is
 * signalled), and what must and must not have happened once its consumer went away
 * (withdrawn) or, for rooted consumers, once it completed.
 */
#include "matrix.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>

/* The first part of a read_exact that arrives before the consumer goes away. */
#define EXACT_LEN 16
#define EXACT_HEAD 6
/* A write that cannot complete while the peer does not read. */
#define WRITE_LEN ((size_t)512 * 1024)
#define PATTERN 0xA5
#define SEAM_SIGNAL SIGUSR2

static const char data10[] = "0123456789";

static void hook(void *ctx, vow *p)
{
    struct cell *c = ctx;
    (void)p;
    c->hook_runs++;
}

static void value_drop(void *ptr)
{
    struct cell *c = ptr;
    c->value_drops++;
}

static void take_fd(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num > 2, "an fd result");
    close((int)v->num);
    c->taken++;
}

/* A socket listening on 127.0.0.1 with an accept queue of one, already full: a
 * connect to it stays in progress (the kernel drops its SYN). */
static void full_listener(struct cell *c)
{
    c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    SEAM_CHECK(c->lfd >= 0, "socket");
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof(a);
    SEAM_CHECK(bind(c->lfd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
    SEAM_CHECK(listen(c->lfd, 0) == 0, "listen");
    SEAM_CHECK(getsockname(c->lfd, (struct sockaddr *)&a, &n) == 0, "getsockname");
    c->port = ntohs(a.sin_port);
    c->filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    SEAM_CHECK(c->filler >= 0, "socket");
    int r = connect(c->filler, (struct sockaddr *)&a, sizeof(a));
    SEAM_CHECK(r == 0 || errno == EINPROGRESS, "connect the filler");
    struct pollfd pf = {.fd = c->filler, .events = POLLOUT};
    SEAM_CHECK(poll(&pf, 1, 5000) == 1, "the filler connects");
}

/* Connects c->client to the TCP listener without waiting for accept. */
static void client_connect(struct cell *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    SEAM_CHECK(c->client >= 0, "socket");
    int r = connect(c->client, (struct sockaddr *)&a, sizeof(a));
    SEAM_CHECK(r == 0 || errno == EINPROGRESS, "connect the client");
    struct pollfd pf = {.fd = c->client, .events = POLLOUT};
    SEAM_CHECK(poll(&pf, 1, 5000) == 1, "the client connects");
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---------------------------------------------------------------- producers */

/* delay */
static vow *delay_start(struct cell *c)
{
    return vow_delay(c->l, c->rooted ? SOON : HOUR, vow_val_num(1));
}

static void num1_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == 1, "the delay's value");
    c->taken++;
}

/* ticker */
static void ticker_setup(struct cell *c)
{
    c->ticker = vow_ticker_new(c->l, c->rooted ? SOON : HOUR);
    SEAM_CHECK(c->ticker != NULL, "vow_ticker_new");
}

static vow *ticker_start(struct cell *c)
{
    return vow_ticker_next(c->ticker);
}

static void ticker_withdrawn(struct cell *c)
{
    vow *q = vow_ticker_next(c->ticker);
    SEAM_CHECK(q != NULL, "vow_ticker_next");
    SEAM_CHECK(!(vow_state(q) == VOW_REJECTED && vow_code(q) == VOW_EBUSY),
               "the ticker still has the withdrawn vow_ticker_next pending (VOW_EBUSY)");
    vow_cancel(q);
    vow_unref(q);
}

static void ticker_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num >= 1, "a tick count");
    c->taken++;
}

static void ticker_cleanup(struct cell *c)
{
    vow_ticker_close(c->ticker);
    c->ticker = NULL;
}

/* read, read_exact, stream read: a socketpair and a patterned heap buffer */
static void pair_setup(struct cell *c)
{
    int fds[2];
    seam_socketpair(fds);
    c->fd = fds[0];
    c->peer = fds[1];
}

static void read_setup(struct cell *c)
{
    pair_setup(c);
    c->len = 64;
    c->buf = malloc(c->len);
    SEAM_CHECK(c->buf != NULL, "malloc");
    memset(c->buf, PATTERN, c->len);
}

static vow *read_start(struct cell *c)
{
    return vow_read(c->l, c->fd, c->buf, c->len);
}

/* The peer sends 10 bytes into the withdrawn operation's fd. */
static void read_poke(struct cell *c)
{
    SEAM_CHECK(write(c->peer, data10, 10) == 10, "the peer writes");
}

static void read_withdrawn(struct cell *c)
{
    SEAM_CHECK(seam_peek(c->fd) == 10,
               "the withdrawn read took the peer's bytes (into the released buffer)");
}

static void read_finished(struct cell *c)
{
    SEAM_CHECK(memcmp(c->buf, data10, 10) == 0, "the read wrote the peer's bytes");
    SEAM_CHECK(c->buf[10] == PATTERN, "the read wrote past what it read");
    SEAM_CHECK(seam_peek(c->fd) == 0, "bytes left in the socket");
}

static void read10_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == 10, "the read's count");
    c->taken++;
}

static void pair_cleanup(struct cell *c)
{
    close_fd(&c->fd);
    close_fd(&c->peer);
}

/* read_exact: part of it has arrived when the consumer goes away. */
static void exact_setup(struct cell *c)
{
    pair_setup(c);
    c->len = EXACT_LEN;
    c->buf = malloc(c->len);
    SEAM_CHECK(c->buf != NULL, "malloc");
    memset(c->buf, PATTERN, c->len);
    SEAM_CHECK(write(c->peer, data10, EXACT_HEAD) == EXACT_HEAD, "the peer writes the head");
}

static vow *exact_start(struct cell *c)
{
    return vow_read_exact(c->l, c->fd, c->buf, c->len);
}

static void exact_poke(struct cell *c)
{
    SEAM_CHECK(write(c->peer, data10, EXACT_LEN - EXACT_HEAD) == EXACT_LEN - EXACT_HEAD,
               "the peer writes the tail");
}

static void exact_withdrawn(struct cell *c)
{
    SEAM_CHECK(seam_peek(c->fd) == EXACT_LEN - EXACT_HEAD,
               "the withdrawn read_exact took the tail (into the released buffer)");
}

static void exact_finished(struct cell *c)
{
    SEAM_CHECK(memcmp(c->buf, data10, EXACT_HEAD) == 0 &&
                   memcmp(c->buf + EXACT_HEAD, data10, EXACT_LEN - EXACT_HEAD) == 0,
               "read_exact wrote what the peer sent");
    SEAM_CHECK(seam_peek(c->fd) == 0, "bytes left in the socket");
}

static void exact_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == EXACT_LEN, "read_exact's count");
    c->taken++;
}

/* write_all, stream write: a buffer larger than the socket can hold. */
static void write_setup(struct cell *c)
{
    pair_setup(c);
    int small = 4096;
    SEAM_CHECK(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0, "SO_SNDBUF");
    c->len = WRITE_LEN;
    c->buf = malloc(c->len);
    SEAM_CHECK(c->buf != NULL, "malloc");
    memset(c->buf, PATTERN, c->len);
}

static vow *write_start(struct cell *c)
{
    return vow_write_all(c->l, c->fd, c->buf, c->len);
}

/* The peer reads everything the withdrawn write left in the socket. */
static void write_poke(struct cell *c)
{
    c->peer_total += seam_drain_fd(c->peer);
}

static void write_withdrawn(struct cell *c)
{
    long more = seam_drain_fd(c->peer);
    SEAM_CHECK(more == 0, "the withdrawn write went on sending (from the released buffer)");
    SEAM_CHECK(c->peer_total < (long)WRITE_LEN, "the write completed before the way");
}

/* Reads what the peer got and checks it is the pattern. */
static void write_pump(struct cell *c)
{
    unsigned char tmp[65536];
    for (;;) {
        ssize_t n = read(c->peer, tmp, sizeof(tmp));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            SEAM_CHECK(tmp[i] == PATTERN, "the peer got the buffer's bytes");
        c->peer_total += n;
    }
}

static void write_finished(struct cell *c)
{
    write_pump(c);
    SEAM_CHECK(c->peer_total == (long)WRITE_LEN, "the peer got every byte");
}

static void write_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == (int64_t)WRITE_LEN, "the write's count");
    c->taken++;
}

/* stream read / write */
static void sread_setup(struct cell *c)
{
    read_setup(c);
    c->stream = vow_stream_new(c->l, c->fd);
    SEAM_CHECK(c->stream != NULL, "vow_stream_new");
}

static vow *sread_start(struct cell *c)
{
    return vow_stream_read(c->stream, c->buf, c->len);
}

static void sread_withdrawn(struct cell *c)
{
    read_withdrawn(c);
    /* The stream must be free for the next read, which gets the bytes. */
    char tmp[64];
    vow *q = vow_stream_read(c->stream, tmp, sizeof(tmp));
    SEAM_CHECK(q != NULL, "vow_stream_read");
    seam_wait(c->l, q);
    SEAM_CHECK(!(vow_state(q) == VOW_REJECTED && vow_code(q) == VOW_EBUSY),
               "the stream still has the withdrawn read pending (VOW_EBUSY)");
    SEAM_CHECK(vow_state(q) == VOW_FULFILLED && vow_value(q)->num == 10,
               "the next read gets the peer's bytes");
    vow_unref(q);
}

static void stream_cleanup(struct cell *c)
{
    vow_stream_close(c->stream);
    c->stream = NULL;
    pair_cleanup(c);
}

static void swrite_setup(struct cell *c)
{
    write_setup(c);
    c->stream = vow_stream_new(c->l, c->fd);
    SEAM_CHECK(c->stream != NULL, "vow_stream_new");
}

static vow *swrite_start(struct cell *c)
{
    return vow_stream_write(c->stream, c->buf, c->len);
}

static void swrite_withdrawn(struct cell *c)
{
    write_withdrawn(c);
    static const char one = 'x';
    vow *q = vow_stream_write(c->stream, &one, 1);
    SEAM_CHECK(q != NULL, "vow_stream_write");
    seam_wait(c->l, q);
    SEAM_CHECK(!(vow_state(q) == VOW_REJECTED && vow_code(q) == VOW_EBUSY),
               "the stream still has the withdrawn write pending (VOW_EBUSY)");
    SEAM_CHECK(vow_state(q) == VOW_FULFILLED, "the next write succeeds");
    vow_unref(q);
    SEAM_CHECK(seam_drain_fd(c->peer) == 1, "the peer gets the next write only");
}

/* the line reader */
static void lines_setup(struct cell *c)
{
    pair_setup(c);
    c->lines = vow_lines_new(c->l, c->fd, 0);
    SEAM_CHECK(c->lines != NULL, "vow_lines_new");
}

static vow *lines_start(struct cell *c)
{
    return vow_lines_next(c->lines);
}

static void lines_poke(struct cell *c)
{
    SEAM_CHECK(write(c->peer, "hello\n", 6) == 6, "the peer writes a line");
}

static void lines_withdrawn(struct cell *c)
{
    SEAM_CHECK(seam_peek(c->fd) + (long)vow_lines_buffered(c->lines) == 6,
               "the withdrawn vow_lines_next took the line");
    /* The reader is free for the next call, and nothing was lost. */
    vow *q = vow_lines_next(c->lines);
    SEAM_CHECK(q != NULL, "vow_lines_next");
    seam_wait(c->l, q);
    SEAM_CHECK(!(vow_state(q) == VOW_REJECTED && vow_code(q) == VOW_EBUSY),
               "the reader still has the withdrawn vow_lines_next pending (VOW_EBUSY)");
    SEAM_CHECK(vow_state(q) == VOW_FULFILLED && vow_value(q)->ptr &&
                   strcmp(vow_value(q)->ptr, "hello") == 0,
               "the next line is the peer's line");
    vow_unref(q);
}

static void lines_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->ptr && strcmp(v->ptr, "hello") == 0, "the line");
    c->taken++;
}

static void lines_cleanup(struct cell *c)
{
    vow_lines_close(c->lines);
    c->lines = NULL;
    pair_cleanup(c);
}

/* accept */
static void accept_setup(struct cell *c)
{
    c->lfd = vow_tcp_listen("127.0.0.1", 0, 8);
    SEAM_CHECK(c->lfd >= 0, "vow_tcp_listen");
    c->port = vow_sock_port(c->lfd);
    SEAM_CHECK(c->port > 0, "vow_sock_port");
}

static vow *accept_start(struct cell *c)
{
    return vow_accept(c->l, c->lfd);
}

static void accept_withdrawn(struct cell *c)
{
    /* A loopback handshake completes inside connect(); the poll is a safety net. */
    struct pollfd pf = {.fd = c->lfd, .events = POLLIN};
    SEAM_CHECK(poll(&pf, 1, 100) == 1,
               "the withdrawn accept took the connection (the listener is not readable)");
    int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    SEAM_CHECK(fd >= 0, "the connection is still queued on the listener");
    close(fd);
}

static void accept_finished(struct cell *c)
{
    int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0)
        close(fd);
    SEAM_CHECK(fd < 0, "the accept left the connection queued");
}

static void listen_cleanup(struct cell *c)
{
    close_fd(&c->client);
    close_fd(&c->filler);
    close_fd(&c->lfd);
}

/* tcp connect: to a full listener in withdrawal cells (it stays in progress), to a
 * free one in rooted cells (it completes). */
static void tcp_setup(struct cell *c)
{
    if (c->rooted)
        accept_setup(c);
    else
        full_listener(c);
}

static vow *tcp_start(struct cell *c)
{
    return vow_tcp_connect(c->l, "127.0.0.1", c->port);
}

/* unix connect: completes (or fails) inside the call on Linux. */
static void unix_setup(struct cell *c)
{
    strcpy(c->dir, "/tmp/vow-seams-XXXXXX");
    SEAM_CHECK(mkdtemp(c->dir) != NULL, "mkdtemp");
    snprintf(c->path, sizeof(c->path), "%s/sock", c->dir);
    c->lfd = vow_unix_listen(c->path, 8);
    SEAM_CHECK(c->lfd >= 0, "vow_unix_listen");
}

static vow *unix_start(struct cell *c)
{
    return vow_unix_connect(c->l, c->path);
}

static void unix_cleanup(struct cell *c)
{
    close_fd(&c->lfd);
    unlink(c->path);
    rmdir(c->dir);
}

/* spawn: `sleep 1000`, its exit vow */
static vow *spawn_start(struct cell *c)
{
    static const char *const argv[] = {"sleep", "1000", NULL};
    unsigned flags = VOW_SPAWN_NULL_STDIO;
    if (c->prod->flags & P_KILL)
        flags |= VOW_SPAWN_KILL_ON_CANCEL;
    vow_process proc;
    int r = vow_spawn(c->l, argv, flags, &proc);
    SEAM_CHECK(r == 0, "vow_spawn sleep");
    c->pid = proc.pid;
    seam_track_pid(c->pid);
    return proc.exited;
}

/* 1 if pid was sent SIGKILL (pending, or already dying or dead), 0 if it sleeps on
 * without one. Reads /proc instead of waiting, so a child that was not killed costs
 * no wait. A child still starting up is looked at again until it sleeps. */
static int child_killed(int pid)
{
    char path[64], line[256];
    for (int tries = 0; tries < 100000; tries++) {
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return 1; /* gone: reaped */
        char state = '?';
        unsigned long long pnd = 0, shd = 0;
        while (fgets(line, sizeof(line), f)) {
            if (!strncmp(line, "State:", 6))
                sscanf(line + 6, " %c", &state);
            else if (!strncmp(line, "SigPnd:", 7))
                pnd = strtoull(line + 7, NULL, 16);
            else if (!strncmp(line, "ShdPnd:", 7))
                shd = strtoull(line + 7, NULL, 16);
        }
        fclose(f);
        unsigned long long bit = 1ull << (SIGKILL - 1);
        if (state == 'Z' || state == 'X' || ((pnd | shd) & bit))
            return 1;
        if (state == 'S' || state == 'T')
            return 0;
        sched_yield();
    }
    return 0;
}

static void spawn_withdrawn(struct cell *c)
{
    if (c->prod->flags & P_KILL) {
        SEAM_CHECK(child_killed(c->pid), "the child was not killed (KILL_ON_CANCEL)");
        /* The loop keeps watching until it has reaped it. */
        while (vow_loop_alive(c->l))
            SEAM_CHECK(vow_loop_run(c->l, VOW_RUN_ONCE) >= 0, "vow_loop_run");
        SEAM_CHECK(kill(c->pid, 0) < 0 && errno == ESRCH, "the killed child was not reaped");
    } else {
        seam_drain(c->l);
        SEAM_CHECK(!vow_loop_alive(c->l), "the loop still watches the child");
        SEAM_CHECK(kill(c->pid, 0) == 0, "the child was killed without KILL_ON_CANCEL");
        kill(c->pid, SIGKILL);
        int st;
        SEAM_CHECK(waitpid(c->pid, &st, 0) == c->pid, "the child is ours to reap");
    }
    c->pid = 0;
}

static void spawn_finish(struct cell *c)
{
    kill(c->pid, SIGTERM);
}

static void spawn_finished(struct cell *c)
{
    SEAM_CHECK(kill(c->pid, 0) < 0 && errno == ESRCH, "the child was not reaped");
    c->pid = 0;
}

static void spawn_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(vow_exit_signal(v->num) == SIGTERM, "the exit status");
    c->taken++;
}

static void spawn_cleanup(struct cell *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
}

/* signal_wait */
static vow *signal_start(struct cell *c)
{
    return vow_signal_wait(c->l, SEAM_SIGNAL);
}

static void signal_finish(struct cell *c)
{
    (void)c;
    raise(SEAM_SIGNAL);
}

static void signal_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == SEAM_SIGNAL, "the signal number");
    c->taken++;
}

/* a coroutine that awaits a delay of its own */
static vow_ret prod_body(void *arg)
{
    struct cell *c = arg;
    vow *d = vow_delay(c->l, c->rooted ? SOON : HOUR, vow_val_none());
    c->prod_rc = d ? vow_await(d) : VOW_ENOMEM;
    vow_unref(d);
    c->prod_done = 1;
    return vow_ok(vow_val_num(7));
}

static vow *coro_start(struct cell *c)
{
    return vow_co_spawn(c->l, prod_body, c, NULL);
}

static void coro_withdrawn(struct cell *c)
{
    SEAM_CHECK(c->prod_done, "the producer coroutine did not finish");
    SEAM_CHECK(c->prod_rc == VOW_ECANCELED,
               "the producer coroutine's vow_await did not return VOW_ECANCELED");
}

static void coro_armed(struct cell *c)
{
    SEAM_CHECK(!c->prod_done, "the producer coroutine was cancelled");
}

static void coro_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == 7, "the coroutine's result");
    SEAM_CHECK(c->prod_done && c->prod_rc == 0, "the producer coroutine ran to its end");
    c->taken++;
}

/* a remote settler whose vow has an abort hook (to stop the remote work) */
static vow *remote_start(struct cell *c)
{
    vow *p = vow_pending(c->l);
    SEAM_CHECK(p != NULL, "vow_pending");
    SEAM_CHECK(vow_on_cancel(p, hook, c) == 0, "vow_on_cancel");
    c->remote = vow_remote_new(p);
    SEAM_CHECK(c->remote != NULL, "vow_remote_new");
    return p;
}

/* The remote work ends anyway and settles: the settlement must change nothing. */
static void remote_poke(struct cell *c)
{
    c->value_given = 1;
    SEAM_CHECK(vow_remote_resolve(c->remote, vow_val_ptr(c, value_drop)) == 0,
               "vow_remote_resolve");
    c->remote = NULL;
}

static void remote_withdrawn(struct cell *c)
{
    SEAM_CHECK(c->value_drops == 1, "the late settlement's value was dropped once");
}

static void remote_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->ptr == c && v->drop == value_drop, "the remote's value");
    c->taken++;
}

static void remote_cleanup(struct cell *c)
{
    /* A remote must be used once; the loop stays alive until then. */
    if (c->remote)
        vow_remote_resolve(c->remote, vow_val_none());
    c->remote = NULL;
}

/* a user vow with an abort hook, whose producer keeps a reference to settle it */
static vow *user_start(struct cell *c)
{
    vow *p = vow_pending(c->l);
    SEAM_CHECK(p != NULL, "vow_pending");
    SEAM_CHECK(vow_on_cancel(p, hook, c) == 0, "vow_on_cancel");
    c->user_p = vow_ref(p);
    return p;
}

static void user_withdrawn(struct cell *c)
{
    SEAM_CHECK(vow_resolve(c->user_p, vow_val_num(5)) == VOW_ESETTLED,
               "the user vow is still pending: settling it works");
}

static void user_armed(struct cell *c)
{
    SEAM_CHECK(vow_state(c->user_p) == VOW_PENDING, "the user vow was settled");
}

static void user_finish(struct cell *c)
{
    SEAM_CHECK(vow_resolve(c->user_p, vow_val_num(5)) == 0, "vow_resolve");
}

static void user_take(struct cell *c, const vow_val *v)
{
    SEAM_CHECK(v->num == 5, "the user vow's value");
    c->taken++;
}

static void user_cleanup(struct cell *c)
{
    vow_unref(c->user_p);
    c->user_p = NULL;
}

const struct producer seam_producers[] = {
    /* Rooted cells use 2 ms timers (the handler must run): on a loaded machine they
     * may fire before the way is applied (delay, ticker, the coroutine's delay). */
    {.name = "delay", .flags = P_ROOTED_FAST, .start = delay_start, .take = num1_take},
    {.name = "ticker",
     .flags = P_ROOTED_FAST,
     .setup = ticker_setup,
     .start = ticker_start,
     .withdrawn = ticker_withdrawn,
     .take = ticker_take,
     .cleanup = ticker_cleanup},
    {.name = "read",
     .setup = read_setup,
     .start = read_start,
     .poke = read_poke,
     .withdrawn = read_withdrawn,
     .finish = read_poke,
     .finished = read_finished,
     .take = read10_take,
     .cleanup = pair_cleanup},
    {.name = "read_exact",
     .setup = exact_setup,
     .start = exact_start,
     .poke = exact_poke,
     .withdrawn = exact_withdrawn,
     .finish = exact_poke,
     .finished = exact_finished,
     .take = exact_take,
     .cleanup = pair_cleanup},
    {.name = "write_all",
     .setup = write_setup,
     .start = write_start,
     .poke = write_poke,
     .withdrawn = write_withdrawn,
     .pump = write_pump,
     .finished = write_finished,
     .take = write_take,
     .cleanup = pair_cleanup},
    {.name = "stream_read",
     .setup = sread_setup,
     .start = sread_start,
     .poke = read_poke,
     .withdrawn = sread_withdrawn,
     .finish = read_poke,
     .finished = read_finished,
     .take = read10_take,
     .cleanup = stream_cleanup},
    {.name = "stream_write",
     .setup = swrite_setup,
     .start = swrite_start,
     .poke = write_poke,
     .withdrawn = swrite_withdrawn,
     .pump = write_pump,
     .finished = write_finished,
     .take = write_take,
     .cleanup = stream_cleanup},
    {.name = "lines",
     .setup = lines_setup,
     .start = lines_start,
     .poke = lines_poke,
     .withdrawn = lines_withdrawn,
     .finish = lines_poke,
     .take = lines_take,
     .cleanup = lines_cleanup},
    {.name = "accept",
     .flags = P_FD_VALUE,
     .setup = accept_setup,
     .start = accept_start,
     .poke = client_connect,
     .withdrawn = accept_withdrawn,
     .finish = client_connect,
     .finished = accept_finished,
     .take = take_fd,
     .cleanup = listen_cleanup},
    {.name = "tcp_connect",
     .flags = P_FD_VALUE | P_ROOTED_FAST,
     .setup = tcp_setup,
     .start = tcp_start,
     .take = take_fd,
     .cleanup = listen_cleanup},
    {.name = "unix_connect",
     .flags = P_FD_VALUE | P_AT_ONCE,
     .setup = unix_setup,
     .start = unix_start,
     .take = take_fd,
     .cleanup = unix_cleanup},
    {.name = "spawn",
     .flags = P_SIGNAL,
     .start = spawn_start,
     .withdrawn = spawn_withdrawn,
     .finish = spawn_finish,
     .finished = spawn_finished,
     .take = spawn_take,
     .cleanup = spawn_cleanup},
    {.name = "spawn_kill",
     .flags = P_KILL | P_SIGNAL,
     .start = spawn_start,
     .withdrawn = spawn_withdrawn,
     .finish = spawn_finish,
     .finished = spawn_finished,
     .take = spawn_take,
     .cleanup = spawn_cleanup},
    {.name = "signal_wait",
     .flags = P_SIGNAL,
     .start = signal_start,
     .finish = signal_finish,
     .take = signal_take},
    {.name = "coroutine",
     .flags = P_ROOTED_FAST,
     .start = coro_start,
     .withdrawn = coro_withdrawn,
     .armed = coro_armed,
     .take = coro_take},
    {.name = "remote",
     .flags = P_HOOK,
     .start = remote_start,
     .poke = remote_poke,
     .withdrawn = remote_withdrawn,
     .finish = remote_poke,
     .take = remote_take,
     .cleanup = remote_cleanup},
    {.name = "on_cancel",
     .flags = P_HOOK,
     .start = user_start,
     .withdrawn = user_withdrawn,
     .armed = user_armed,
     .finish = user_finish,
     .take = user_take,
     .cleanup = user_cleanup},
};
const size_t seam_n_producers = sizeof(seam_producers) / sizeof(seam_producers[0]);
