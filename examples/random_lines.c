/* SPDX-License-Identifier: MIT */
/*
 * The flagship demo: two children (random_lines.sh) print random numbers at random
 * intervals; we keep the latest complete line of each and render "time line1 line2"
 * on every new line and on every clock tick, for --seconds, or until Ctrl-C. The same
 * program is written three ways (--style callbacks|chains|coro); docs/guide.md quotes
 * the regions marked guide:NAME-begin/end verbatim.
 */
#include <vow.h>
#include <vow/io.h>
#ifdef HAVE_VOW_CO
#include <vow/co.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RANDOM_LINES_SH
#define RANDOM_LINES_SH "examples/random_lines.sh"
#endif

/* guide:app-begin */
/* What every style shares: the latest line of each child and how to show them. */
struct app {
    vow_loop *l;
    const char *script;  /* the children's shell script */
    uint64_t run_ms;     /* stop after this long */
    uint64_t clock_ms;   /* re-render at least this often */
    char latest[2][32];  /* latest complete line of each child, "-" before the first */
    bool tty;            /* redraw one line in place instead of printing lines */
};

static void render(struct app *a)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    printf(a->tty ? "\r\033[K%02d:%02d:%02d %s %s" : "%02d:%02d:%02d %s %s\n", tm.tm_hour,
           tm.tm_min, tm.tm_sec, a->latest[0], a->latest[1]);
    fflush(stdout);
}

static void keep_line(struct app *a, int which, const char *line)
{
    snprintf(a->latest[which], sizeof(a->latest[which]), "%.31s", line);
    render(a);
}
/* guide:app-end */

/* ------------------------------------------------------------- callbacks */

/* guide:callbacks-begin */
/* Raw callbacks: the reactor's handles and our own line assembly. */
struct cb_child {
    struct app *a;
    int which;       /* 0 or 1: which latest[] slot */
    int pid;         /* the shell, leader of its own process group */
    int fd;          /* read end of its stdout */
    vow_io io;       /* readable watcher on fd */
    vow_child wait;  /* reaps the child */
    char buf[256];   /* a partial line carried between reads */
    size_t len;      /* bytes in buf */
    bool done;       /* reaped */
};

struct cb_app {
    struct cb_child kids[2];
    vow_timer clock;      /* repeating: re-render */
    vow_timer deadline;   /* one-shot: stop after run_ms */
    vow_signal sigint;    /* Ctrl-C stops early */
};

static void cb_stop(struct cb_app *s)
{
    vow_timer_stop(&s->clock);
    vow_timer_stop(&s->deadline);
    vow_signal_stop(&s->sigint);
    for (int i = 0; i < 2; i++)
        if (!s->kids[i].done)
            kill(-s->kids[i].pid, SIGTERM);
}

static void cb_readable(vow_io *w, int fd, unsigned events)
{
    struct cb_child *k = w->data;
    ssize_t n = read(fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len);
    if (n <= 0) {
        if (n == 0 || errno != EAGAIN)
            vow_io_stop(w); /* EOF or error: nothing more to read */
        return;
    }
    k->len += (size_t)n;
    char *start = k->buf, *nl;
    while ((nl = memchr(start, '\n', k->len - (size_t)(start - k->buf)))) {
        *nl = '\0';
        keep_line(k->a, k->which, start);
        start = nl + 1;
    }
    k->len -= (size_t)(start - k->buf);
    memmove(k->buf, start, k->len);
    if (k->len == sizeof(k->buf) - 1)
        k->len = 0; /* an overlong line: drop it rather than stall */
}

static void cb_exited(vow_child *c, int pid, int status, int signum)
{
    struct cb_child *k = c->data;
    k->done = true;
    vow_io_stop(&k->io);
    close(k->fd);
}

static void cb_tick(vow_timer *t)
{
    render(t->data);
}

static void cb_deadline(vow_timer *t)
{
    cb_stop(t->data);
}

static void cb_sigint(vow_signal *sig, int signum)
{
    cb_stop(sig->data);
}
/* guide:callbacks-end */

/* A raw spawn for the callbacks style: fork, a pipe for stdout, a process group. */
static int spawn_raw(const char *script, int *ret_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    int pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        setpgid(0, 0);
        dup2(p[1], 1);
        execl("/bin/sh", "sh", script, (char *)NULL);
        _exit(127);
    }
    /* The parent sets the group too: the child may not have run yet when Ctrl-C
     * makes cb_stop signal the group (EACCES once the child has exec'd: it did). */
    setpgid(pid, pid);
    close(p[1]);
    vow_fd_nonblock(p[0]);
    *ret_fd = p[0];
    return pid;
}

/* guide:callbacks-main-begin */
static int run_callbacks(struct app *a)
{
    struct cb_app s;
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 2; i++) {
        struct cb_child *k = &s.kids[i];
        k->a = a;
        k->which = i;
        k->pid = spawn_raw(a->script, &k->fd);
        if (k->pid < 0)
            return k->pid;
        vow_io_init(a->l, &k->io, k->fd, cb_readable);
        k->io.data = k;
        vow_io_start(&k->io, VOW_READABLE);
        vow_child_init(a->l, &k->wait, cb_exited);
        k->wait.data = k;
        vow_child_start(&k->wait, k->pid);
    }
    vow_timer_init(a->l, &s.clock, cb_tick);
    s.clock.data = a;
    vow_timer_start(&s.clock, a->clock_ms, a->clock_ms);
    vow_timer_init(a->l, &s.deadline, cb_deadline);
    s.deadline.data = &s;
    vow_timer_start(&s.deadline, a->run_ms, 0);
    vow_signal_init(a->l, &s.sigint, cb_sigint);
    s.sigint.data = &s;
    vow_signal_start(&s.sigint, SIGINT);
    /* Runs until the children are reaped and every handle is stopped. */
    return vow_loop_run(a->l, VOW_RUN_DEFAULT);
}
/* guide:callbacks-main-end */

/* ---------------------------------------------------------------- chains */

/* guide:chains-begin */
/* Vow chains: each reader is a loop written as "keep this line, then follow the next
 * one"; the clock is the same loop over ticks; a race of the deadline and Ctrl-C
 * decides when to stop. */
struct ch_child {
    struct app *a;
    int which;          /* latest[] slot */
    vow_process proc;   /* pid, stdout_fd and the exit vow */
    vow_lines *lines;   /* line reader on proc.stdout_fd */
};

struct ch_app {
    struct app *a;
    struct ch_child kids[2];
    vow_ticker *ticker;  /* the clock */
    vow *clock;          /* the clock's chain, cancelled at stop */
};

static vow *ch_read_lines(struct ch_child *k);

static vow_ret ch_on_line(void *ctx, const vow_val *v)
{
    struct ch_child *k = ctx;
    if (!v->ptr)
        return vow_ok(vow_val_none()); /* EOF: this reader is done */
    keep_line(k->a, k->which, v->ptr);
    return vow_follow(ch_read_lines(k));
}

static vow *ch_read_lines(struct ch_child *k)
{
    return vow_then(vow_lines_next(k->lines), ch_on_line, NULL, k);
}

static vow *ch_clock(struct ch_app *s);

static vow_ret ch_on_tick(void *ctx, const vow_val *v)
{
    struct ch_app *s = ctx;
    render(s->a);
    return vow_follow(ch_clock(s));
}

static vow *ch_clock(struct ch_app *s)
{
    return vow_then(vow_ticker_next(s->ticker), ch_on_tick, NULL, s);
}

/* Deadline or Ctrl-C: stop the clock, signal the children, wait for both exits. */
static vow_ret ch_on_stop(void *ctx, const vow_val *v)
{
    struct ch_app *s = ctx;
    vow_cancel(s->clock);
    vow *exits[2];
    for (int i = 0; i < 2; i++) {
        kill(-s->kids[i].proc.pid, SIGTERM);
        exits[i] = vow_ref(s->kids[i].proc.exited);
    }
    return vow_follow(vow_all(s->a->l, exits, 2));
}
/* guide:chains-end */

static int run_chains(struct app *a)
{
    /* guide:chains-main-begin */
    struct ch_app s = { .a = a };
    const char *argv[] = { "/bin/sh", a->script, NULL };
    vow *readers[2];
    for (int i = 0; i < 2; i++) {
        struct ch_child *k = &s.kids[i];
        k->a = a;
        k->which = i;
        int r = vow_spawn(a->l, argv, VOW_SPAWN_STDOUT | VOW_SPAWN_SETPGROUP, &k->proc);
        if (r < 0)
            return r;
        k->lines = vow_lines_new(a->l, k->proc.stdout_fd, 0);
        readers[i] = ch_read_lines(k);
    }
    s.ticker = vow_ticker_new(a->l, a->clock_ms);
    s.clock = ch_clock(&s);
    vow *stops[2] = { vow_delay(a->l, a->run_ms, vow_val_none()),
                      vow_signal_wait(a->l, SIGINT) };
    vow *stopped = vow_then(vow_race(a->l, stops, 2), ch_on_stop, NULL, &s);
    /* Runs until the readers saw EOF and the children are reaped. */
    int r = vow_loop_run(a->l, VOW_RUN_DEFAULT);
    /* guide:chains-main-end */
    if (vow_state(stopped) != VOW_FULFILLED)
        r = vow_code(stopped);
    vow_unref(stopped);
    vow_unref(s.clock);
    vow_ticker_close(s.ticker);
    for (int i = 0; i < 2; i++) {
        vow_unref(readers[i]);
        vow_unref(s.kids[i].proc.exited);
        vow_lines_close(s.kids[i].lines);
        close(s.kids[i].proc.stdout_fd);
    }
    return r;
}

/* ------------------------------------------------------------------ coro */

#ifdef HAVE_VOW_CO
/* guide:coro-begin */
/* Coroutines: the same loops as plain sequential code; vow_await suspends only the
 * coroutine, the loop keeps running the others. */
struct co_child {
    struct app *a;
    int which;          /* latest[] slot */
    vow_process proc;   /* pid, stdout_fd and the exit vow */
};

static vow_ret co_reader(void *arg)
{
    struct co_child *k = arg;
    vow_lines *lines = vow_lines_new(k->a->l, k->proc.stdout_fd, 0);
    for (;;) {
        vow *p = vow_lines_next(lines);
        int rc = vow_await(p);
        const char *line = rc == 0 ? vow_value(p)->ptr : NULL;
        if (line)
            keep_line(k->a, k->which, line);
        vow_unref(p);
        if (!line)
            break; /* EOF, or cancelled */
    }
    vow_lines_close(lines);
    return vow_ok(vow_val_none());
}

static vow_ret co_clock(void *arg)
{
    struct app *a = arg;
    vow_ticker *t = vow_ticker_new(a->l, a->clock_ms);
    for (;;) {
        vow *tick = vow_ticker_next(t);
        int rc = vow_await(tick);
        vow_unref(tick);
        if (rc != 0)
            break; /* cancelled: the program is stopping */
        render(a);
    }
    vow_ticker_close(t);
    return vow_ok(vow_val_none());
}

static vow_ret co_main(void *arg)
{
    struct app *a = arg;
    const char *argv[] = { "/bin/sh", a->script, NULL };
    struct co_child kids[2];
    vow *readers[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = (struct co_child){ .a = a, .which = i };
        int r = vow_spawn(a->l, argv, VOW_SPAWN_STDOUT | VOW_SPAWN_SETPGROUP, &kids[i].proc);
        if (r < 0)
            return vow_fail(r, vow_val_none()); /* (a first child would be left) */
        readers[i] = vow_co_spawn(a->l, co_reader, &kids[i], NULL);
    }
    vow *clock = vow_co_spawn(a->l, co_clock, a, NULL);

    vow *stops[2] = { vow_delay(a->l, a->run_ms, vow_val_none()),
                      vow_signal_wait(a->l, SIGINT) };
    vow *stop = vow_race(a->l, stops, 2);
    vow_await(stop);
    vow_unref(stop);

    vow_cancel(clock);
    for (int i = 0; i < 2; i++)
        kill(-kids[i].proc.pid, SIGTERM);
    for (int i = 0; i < 2; i++) {
        vow_await(readers[i]);
        vow_await(kids[i].proc.exited);
        vow_unref(readers[i]);
        vow_unref(kids[i].proc.exited);
        close(kids[i].proc.stdout_fd);
    }
    vow_await(clock);
    vow_unref(clock);
    return vow_ok(vow_val_none());
}
/* guide:coro-end */

static int run_coro(struct app *a)
{
    /* guide:coro-main-begin */
    vow *done = vow_co_spawn(a->l, co_main, a, NULL);
    int r = vow_loop_run(a->l, VOW_RUN_DEFAULT);
    /* guide:coro-main-end */
    if (vow_state(done) != VOW_FULFILLED)
        r = vow_code(done);
    vow_unref(done);
    return r;
}
#endif

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--style callbacks|chains|coro] [--seconds N] [--clock-ms MS]"
            " [--script PATH]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    struct app a = {
        .script = RANDOM_LINES_SH,
        .run_ms = 3000,
        .clock_ms = 1000,
        .latest = { "-", "-" },
        .tty = isatty(1),
    };
    const char *style = "chains";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--style") == 0)
            style = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            a.run_ms = (uint64_t)(strtod(argv[++i], NULL) * 1000);
        else if (i + 1 < argc && strcmp(argv[i], "--clock-ms") == 0)
            a.clock_ms = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--script") == 0)
            a.script = argv[++i];
        else
            return usage(argv[0]);
    }
    if (a.clock_ms == 0 || access(a.script, R_OK) < 0)
        return usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    a.l = vow_loop_new();
    if (!a.l)
        return 1;
    int r;
    if (strcmp(style, "callbacks") == 0)
        r = run_callbacks(&a);
    else if (strcmp(style, "chains") == 0)
        r = run_chains(&a);
#ifdef HAVE_VOW_CO
    else if (strcmp(style, "coro") == 0)
        r = run_coro(&a);
#endif
    else
        r = usage(argv[0]);
    if (a.tty)
        printf("\n");
    if (r < 0)
        fprintf(stderr, "random_lines: %s\n", vow_strerror(r));
    int c = vow_loop_close(a.l);
    if (c < 0)
        fprintf(stderr, "random_lines: close: %s\n", vow_strerror(c));
    return r < 0 || c < 0 ? 1 : r == 2 ? 2 : 0;
}
