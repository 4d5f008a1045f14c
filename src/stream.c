/* SPDX-License-Identifier: MIT */
/*
 * Buffered stream helpers: the line reader, whose buffer outlives each call so no
 * byte read from the fd is ever lost between calls or on cancellation, and the
 * ticker, a drift-free clock of vows.
 */
#include "io_int.h"

#include <errno.h>
#include <string.h>
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
    char *nl = memchr(r->buf + r->scan, '\n', r->len - r->scan);
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
    k = vow_on_cancel(p, lines_abort, r);
    if (k == 0)
        k = vow__watch_start(r->l, &r->wt, r->fd, VOW_READABLE, lines_ready, r);
    if (k < 0) {
        vow_reject(p, k, vow_val_none());
        return p;
    }
    r->p = p;
    return p;
}

void vow_lines_free(vow_lines *r)
{
    if (!r)
        return;
    if (r->p)
        vow_cancel(r->p);
    vow__watch_stop(&r->wt);
    vow__free(r->buf);
    vow__free(r);
}

/* ---------------------------------------------------------------- ticker */

struct vow_ticker {
    vow_loop *l;     /* owning loop */
    uint64_t start;  /* loop time of tick 0 */
    uint64_t period; /* ms between ticks */
    uint64_t tick;   /* the tick the pending vow waits for */
    vow_timer t;     /* one-shot, armed only while p is pending */
    vow *p;          /* pending vow_ticker_next, borrowed (its abort clears it) */
};

static void ticker_fire(vow_timer *t)
{
    vow_ticker *k = t->data;
    vow *p = k->p;
    k->p = NULL;
    vow_resolve(p, vow_val_num((int64_t)k->tick));
}

static void ticker_abort(void *ctx, vow *p)
{
    vow_ticker *k = ctx;
    (void)p;
    vow_timer_stop(&k->t);
    k->p = NULL;
}

vow_ticker *vow_ticker_new(vow_loop *l, uint64_t period_ms)
{
    if (!l || period_ms == 0)
        return NULL;
    vow_ticker *k = vow__calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    if (vow_timer_init(l, &k->t, ticker_fire) < 0) {
        vow__free(k);
        return NULL;
    }
    k->t.data = k;
    k->l = l;
    k->start = vow_loop_now(l);
    k->period = period_ms;
    return k;
}

vow *vow_ticker_next(vow_ticker *k)
{
    if (!k)
        return NULL;
    if (k->p)
        return vow_rejected(k->l, VOW_EBUSY, vow_val_none());
    /* Deadlines are multiples of the period from the start, so lateness in one turn
     * never shifts later ticks. */
    uint64_t now = vow_loop_now(k->l);
    uint64_t n = (now - k->start) / k->period + 1;
    uint64_t deadline = k->start + n * k->period;
    vow *p = vow_pending(k->l);
    if (!p)
        return NULL;
    int r = vow_on_cancel(p, ticker_abort, k);
    if (r == 0)
        r = vow_timer_start(&k->t, deadline - now, 0);
    if (r < 0) {
        vow_reject(p, r, vow_val_none());
        return p;
    }
    k->tick = n;
    k->p = p;
    return p;
}

void vow_ticker_free(vow_ticker *k)
{
    if (!k)
        return;
    if (k->p)
        vow_cancel(k->p);
    vow_timer_stop(&k->t);
    vow__free(k);
}
