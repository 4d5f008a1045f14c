/* SPDX-License-Identifier: MIT */
/*
 * Stateful readers and writers on one fd: the line reader, whose buffer outlives each
 * call so no byte read from the fd is ever lost between calls or on cancellation, and
 * vow_stream, whose watcher stays registered across calls so a read/write loop costs
 * no epoll_ctl per message.
 */
#include "io_int.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINES_DEFAULT_MAX (64u * 1024u)
#define LINES_FIRST_CAP 512u

struct vow_lines {
    vow_loop *l;          /* owning loop */
    int fd;               /* borrowed fd */
    char *buf;            /* buffered bytes live in buf[off, len) */
    size_t off;           /* start of unconsumed data */
    size_t len;           /* end of buffered data */
    size_t scan;          /* buf[off, scan) is known to hold no '\n' */
    size_t cap;           /* allocated size of buf */
    size_t max;           /* longest line accepted */
    vow *p;               /* the pending vow_lines_next, borrowed (its abort clears it) */
    struct vow__watch wt; /* armed only while p waits for data */
    bool eof;             /* read returned 0 */
    int err;              /* sticky failure (VOW_ENOSPC or -errno), 0 if none */
};

vow_lines *vow_lines_new(vow_loop *l, int fd, size_t max_line)
{
    if (!l || fd < 0)
        return NULL;
    vow_lines *r = vow__calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->l = l;
    r->fd = fd;
    r->max = max_line ? max_line : LINES_DEFAULT_MAX;
    r->wt.wfd = -1;
    return r;
}

size_t vow_lines_buffered(const vow_lines *r)
{
    return r ? r->len - r->off : 0;
}

/* Copies buf[off, off + n) into a new string and consumes skip bytes. */
static int cut(vow_lines *r, size_t n, size_t skip, vow_val *ret)
{
    char *s = vow__malloc(n + 1);
    if (!s)
        return VOW_ENOMEM;
    memcpy(s, r->buf + r->off, n);
    s[n] = '\0';
    r->off += skip;
    r->scan = r->off;
    *ret = vow_val_ptr(s, vow_free);
    return 1;
}

/* 1 with *ret set when a line (or EOF) is ready, 0 if more bytes are needed. */
static int take_line(vow_lines *r, vow_val *ret)
{
    /* buf is NULL until the first byte arrives: no pointer arithmetic on it. */
    char *nl = r->len > r->scan ? memchr(r->buf + r->scan, '\n', r->len - r->scan) : NULL;
    if (nl) {
        size_t n = (size_t)(nl - (r->buf + r->off));
        return cut(r, n, n + 1, ret);
    }
    r->scan = r->len;
    if (!r->eof)
        return 0;
    if (r->len > r->off)
        return cut(r, r->len - r->off, r->len - r->off, ret);
    *ret = vow_val_ptr(NULL, NULL);
    return 1;
}

/* Reads once into the buffer: 1 if bytes or EOF arrived, 0 if it would block. */
static int fill(vow_lines *r)
{
    if (r->off > 0) {
        /* Compacting only here keeps taking lines O(line length). */
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->scan -= r->off;
        r->off = 0;
    }
    if (r->len >= r->max)
        return VOW_ENOSPC;
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : LINES_FIRST_CAP;
        if (cap > r->max + 1)
            cap = r->max + 1;
        char *b = vow__realloc(r->buf, cap);
        if (!b)
            return VOW_ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n > 0) {
            r->len += (size_t)n;
            return 1;
        }
        if (n == 0) {
            r->eof = true;
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

/* 1 with a line in *ret, 0 to wait, or a negative code. */
static int produce(vow_lines *r, vow_val *ret)
{
    for (;;) {
        if (r->err)
            return r->err;
        int k = take_line(r, ret);
        if (k != 0)
            return k;
        k = fill(r);
        if (k == 0)
            return 0;
        if (k < 0) {
            /* Out of memory may pass; a broken stream or an overlong line stays. */
            if (k != VOW_ENOMEM)
                r->err = k;
            return k;
        }
    }
}

static void lines_ready(vow_io *w, int fd, unsigned events)
{
    vow_lines *r = w->data;
    vow_val v;
    (void)fd;
    (void)events;
    int k = produce(r, &v);
    if (k == 0)
        return;
    vow__watch_stop(&r->wt);
    vow *p = r->p;
    r->p = NULL;
    if (k > 0)
        vow_resolve(p, v);
    else
        vow_reject(p, k, vow_val_none());
}

static void lines_abort(void *ctx, vow *p)
{
    vow_lines *r = ctx;
    (void)p;
    vow__watch_stop(&r->wt);
    r->p = NULL;
}

vow *vow_lines_next(vow_lines *r)
{
    if (!r)
        return NULL;
    if (r->p)
        return vow_rejected(r->l, VOW_EBUSY, vow_val_none());
    vow_val v;
    int k = produce(r, &v);
    if (k > 0)
        return vow_resolved(r->l, v);
    if (k < 0)
        return vow_rejected(r->l, k, vow_val_none());
    vow *p = vow_pending(r->l);
    if (!p)
        return NULL;
    k = vow_on_cancel_named(p, lines_abort, r, "line read");
    if (k == 0)
        k = vow__watch_start(r->l, &r->wt, r->fd, VOW_READABLE, lines_ready, r);
    if (k < 0) {
        vow_reject(p, k, vow_val_none());
        return p;
    }
    r->p = p;
    return p;
}

void vow_lines_close(vow_lines *r)
{
    if (!r)
        return;
    if (r->p)
        vow_cancel(r->p);
    vow__watch_stop(&r->wt);
    vow__free(r->buf);
    vow__free(r);
}

/* ---------------------------------------------------------------- vow_stream */

/* One direction's pending operation. p is borrowed: its abort hook clears it. */
struct stream_op {
    vow *p;       /* pending vow, NULL when idle */
    char *buf;    /* caller's buffer */
    size_t len;   /* its length */
    size_t done;  /* bytes written so far (writes) */
};

struct vow_stream {
    vow_loop *l;            /* owning loop */
    int fd;                 /* borrowed fd */
    struct vow__watch wt;   /* registered while any interest is set */
    unsigned armed;         /* interest currently registered */
    struct stream_op rd;    /* the pending read */
    struct stream_op wr;    /* the pending write */
    vow_immediate idle;     /* next turn: drop read interest nobody renewed */
    bool idle_active;       /* idle is started */
    bool not_sock;          /* send() said ENOTSOCK: use write() */
};

static void stream_ready(vow_io *w, int fd, unsigned events);

/* Registers exactly `events` (0: stops the watcher); a failure is returned. */
static int stream_arm(vow_stream *s, unsigned events)
{
    if (events == s->armed)
        return 0;
    int r;
    if (events == 0) {
        vow__watch_stop(&s->wt);
        r = 0;
    } else if (s->wt.wfd < 0) {
        r = vow__watch_start(s->l, &s->wt, s->fd, events, stream_ready, s);
    } else {
        r = vow_io_start(&s->wt.w, events);
    }
    if (r == 0)
        s->armed = events;
    return r;
}

/*
 * Read interest is dropped lazily: a loop that reads again from the handlers or
 * coroutine woken by the previous read (the common case, a few microtask hops later)
 * finds it still registered and costs no syscall. The immediate runs at the next turn
 * only if nobody asked for another read by then (a new read stops it), so an idle
 * stream never keeps the loop alive and never spins on level-triggered readiness.
 */
static void stream_idle(vow_immediate *im)
{
    vow_stream *s = im->data;
    s->idle_active = false;
    if (!s->rd.p)
        stream_arm(s, s->armed & ~(unsigned)VOW_READABLE);
}

static void stream_read_idle(vow_stream *s)
{
    if (s->idle_active || !(s->armed & VOW_READABLE))
        return;
    if (vow_immediate_start(&s->idle) == 0)
        s->idle_active = true;
    else
        stream_arm(s, s->armed & ~(unsigned)VOW_READABLE);
}

/* 1 done (*ret = count), 0 would block, or -errno. */
static int stream_try_read(vow_stream *s, int64_t *ret)
{
    for (;;) {
        ssize_t n = read(s->fd, s->rd.buf, s->rd.len);
        if (n >= 0) {
            *ret = n;
            return 1;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

/* 1 all written, 0 would block, or -errno. */
static int stream_try_write(vow_stream *s)
{
    struct stream_op *o = &s->wr;
    while (o->done < o->len) {
        ssize_t n;
        if (!s->not_sock) {
            n = send(s->fd, o->buf + o->done, o->len - o->done, MSG_NOSIGNAL);
            if (n < 0 && errno == ENOTSOCK) {
                s->not_sock = true;
                continue;
            }
        } else {
            n = write(s->fd, o->buf + o->done, o->len - o->done);
        }
        if (n >= 0) {
            o->done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    return 1;
}

static void settle_op(struct stream_op *o, int r, int64_t v)
{
    vow *p = o->p;
    o->p = NULL;
    if (r > 0)
        vow_resolve(p, vow_val_num(v));
    else
        vow_reject(p, r, vow_val_num(v));
}

static void stream_ready(vow_io *w, int fd, unsigned events)
{
    vow_stream *s = w->data;
    (void)fd;
    bool any = events & (VOW_ERROR | VOW_HANGUP);
    if (s->wr.p && (any || (events & VOW_WRITABLE))) {
        int r = stream_try_write(s);
        if (r != 0) {
            stream_arm(s, s->armed & ~(unsigned)VOW_WRITABLE);
            settle_op(&s->wr, r, r > 0 ? (int64_t)s->wr.len : (int64_t)s->wr.done);
        }
    }
    if (s->rd.p && (any || (events & VOW_READABLE))) {
        int64_t v = 0;
        int r = stream_try_read(s, &v);
        if (r != 0) {
            settle_op(&s->rd, r, v);
            stream_read_idle(s);
        }
    } else if (!s->rd.p && (events & VOW_READABLE)) {
        /* Readable with nobody reading: the lazy interest is dropped now. */
        stream_arm(s, s->armed & ~(unsigned)VOW_READABLE);
    }
    /* Error or hang-up with nothing pending would be reported on every turn. */
    if (any && !s->rd.p && !s->wr.p)
        stream_arm(s, 0);
}

static void stream_rd_abort(void *ctx, vow *p)
{
    vow_stream *s = ctx;
    (void)p;
    s->rd.p = NULL;
    stream_read_idle(s);
}

static void stream_wr_abort(void *ctx, vow *p)
{
    vow_stream *s = ctx;
    (void)p;
    s->wr.p = NULL;
    stream_arm(s, s->armed & ~(unsigned)VOW_WRITABLE);
}

vow_stream *vow_stream_new(vow_loop *l, int fd)
{
    if (!l || fd < 0)
        return NULL;
    vow_stream *s = vow__calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (vow_immediate_init(l, &s->idle, stream_idle) < 0) {
        vow__free(s);
        return NULL;
    }
    s->idle.data = s;
    s->l = l;
    s->fd = fd;
    s->wt.wfd = -1;
    return s;
}

/* Makes o pending on a new vow with abort hook fn and adds interest ev. */
static vow *stream_wait(vow_stream *s, struct stream_op *o, vow_cancel_fn fn, unsigned ev)
{
    vow *p = vow_pending(s->l);
    if (!p)
        return NULL;
    int r = vow_on_cancel_named(p, fn, s, ev & VOW_WRITABLE ? "stream write" : "stream read");
    if (r == 0)
        r = stream_arm(s, s->armed | ev);
    if (r < 0) {
        vow_reject(p, r, vow_val_none());
        return p;
    }
    o->p = p;
    return p;
}

vow *vow_stream_read(vow_stream *s, void *buf, size_t len)
{
    if (!s)
        return NULL;
    if (!buf || len == 0)
        return vow_rejected(s->l, VOW_EINVAL, vow_val_none());
    if (s->rd.p)
        return vow_rejected(s->l, VOW_EBUSY, vow_val_none());
    if (s->idle_active) {
        vow_immediate_stop(&s->idle);
        s->idle_active = false;
    }
    s->rd = (struct stream_op){ .buf = buf, .len = len };
    /* Still registered from the last read: the event will say when data is there. */
    if (!(s->armed & VOW_READABLE)) {
        int64_t v = 0;
        int r = stream_try_read(s, &v);
        if (r > 0)
            return vow_resolved(s->l, vow_val_num(v));
        if (r < 0)
            return vow_rejected(s->l, r, vow_val_none());
    }
    return stream_wait(s, &s->rd, stream_rd_abort, VOW_READABLE);
}

vow *vow_stream_write(vow_stream *s, const void *buf, size_t len)
{
    if (!s)
        return NULL;
    if (!buf && len > 0)
        return vow_rejected(s->l, VOW_EINVAL, vow_val_none());
    if (s->wr.p)
        return vow_rejected(s->l, VOW_EBUSY, vow_val_none());
    /* The stream never writes through buf; the cast only shares the field. */
    s->wr = (struct stream_op){ .buf = (char *)(uintptr_t)buf, .len = len };
    int r = stream_try_write(s);
    if (r > 0)
        return vow_resolved(s->l, vow_val_num((int64_t)len));
    if (r < 0)
        return vow_rejected(s->l, r, vow_val_num((int64_t)s->wr.done));
    return stream_wait(s, &s->wr, stream_wr_abort, VOW_WRITABLE);
}

void vow_stream_close(vow_stream *s)
{
    if (!s)
        return;
    if (s->rd.p)
        vow_cancel(s->rd.p);
    if (s->wr.p)
        vow_cancel(s->wr.p);
    vow_immediate_stop(&s->idle);
    stream_arm(s, 0);
    vow__free(s);
}
