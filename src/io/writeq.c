/* SPDX-License-Identifier: MIT */
/*
 * vow_write_all, queued per fd: while a write on an fd waits for the kernel, later
 * writes on the same fd and loop wait behind it in call order instead of each
 * watching the fd (which cost a duplicated fd apiece). One registry, keyed by loop
 * and fd, holds a queue only while it has writes; loops of other threads share it, so
 * it is guarded by a mutex (held for a lookup only, never across a syscall or a vow).
 */
#include "io_int.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

struct wq;

/* One vow_write_all. It does not hold a reference to p: dropping the last reference
 * or cancelling runs wop_abort, which frees the write before p goes. */
struct wop {
    vow *p;             /* borrowed, see above */
    struct wq *q;       /* its queue, NULL until it has one */
    struct wop *next;   /* the write after it */
    struct wop **pprev; /* the link that points at it */
    const char *buf;    /* caller's bytes (never written through) */
    size_t len;         /* how many */
    size_t done;        /* handed to the kernel so far */
};

/* The writes waiting on one fd of one loop; the first is the one in progress. */
struct wq {
    struct wq *hnext;     /* registry chain */
    vow_loop *l;          /* the loop */
    int fd;               /* the fd */
    bool not_sock;        /* send() said ENOTSOCK: use write() */
    bool advancing;       /* inside advance(): an abort must not free the queue */
    struct wop *head;     /* first write */
    struct wop **tail;    /* &last->next */
    struct vow__watch wt; /* writability of fd, armed while the queue has writes */
};

/* ------------------------------------------------------------- registry */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wq **reg_tab; /* buckets, NULL while no queue exists */
static size_t reg_len;      /* number of buckets (a power of two) */
static size_t reg_n;        /* queues registered */

static size_t reg_hash(const vow_loop *l, int fd, size_t len)
{
    uint64_t h = (uint64_t)(uintptr_t)l ^ ((uint64_t)(unsigned)fd * 0x9e3779b97f4a7c15u);
    h ^= h >> 29;
    return (size_t)(h * 0xbf58476d1ce4e5b9u >> 17) & (len - 1);
}

static struct wq *reg_find(const vow_loop *l, int fd)
{
    pthread_mutex_lock(&reg_mu);
    struct wq *q = NULL;
    if (reg_tab) {
        q = reg_tab[reg_hash(l, fd, reg_len)];
        while (q && (q->l != l || q->fd != fd))
            q = q->hnext;
    }
    pthread_mutex_unlock(&reg_mu);
    return q;
}

/* Under reg_mu: rehashes into len buckets; a failed allocation keeps the old table. */
static int reg_resize(size_t len)
{
    struct wq **t = vow__calloc(len, sizeof(*t));
    if (!t)
        return VOW_ENOMEM;
    for (size_t i = 0; i < reg_len; i++) {
        struct wq *q = reg_tab[i];
        while (q) {
            struct wq *next = q->hnext;
            size_t b = reg_hash(q->l, q->fd, len);
            q->hnext = t[b];
            t[b] = q;
            q = next;
        }
    }
    vow__free(reg_tab);
    reg_tab = t;
    reg_len = len;
    return 0;
}

static int reg_add(struct wq *q)
{
    int r = 0;
    pthread_mutex_lock(&reg_mu);
    if (!reg_tab)
        r = reg_resize(64);
    else if (reg_n >= 2 * reg_len)
        (void)reg_resize(2 * reg_len); /* longer chains if it fails; still correct */
    if (r == 0) {
        size_t b = reg_hash(q->l, q->fd, reg_len);
        q->hnext = reg_tab[b];
        reg_tab[b] = q;
        reg_n++;
    }
    pthread_mutex_unlock(&reg_mu);
    return r;
}

/* The last queue gone frees the table, so an idle process holds nothing. */
static void reg_del(struct wq *q)
{
    pthread_mutex_lock(&reg_mu);
    struct wq **pp = &reg_tab[reg_hash(q->l, q->fd, reg_len)];
    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
    if (--reg_n == 0) {
        vow__free(reg_tab);
        reg_tab = NULL;
        reg_len = 0;
    }
    pthread_mutex_unlock(&reg_mu);
}

/* ----------------------------------------------------------------- writes */

/* Writes what is left of op: 1 when all of it is out, 0 when fd would block, or
 * -errno. Sockets get MSG_NOSIGNAL; other fds (pipes) plain write(). */
static int write_some(int fd, bool *not_sock, struct wop *op)
{
    while (op->done < op->len) {
        ssize_t n;
        if (!*not_sock) {
            n = send(fd, op->buf + op->done, op->len - op->done, MSG_NOSIGNAL);
            if (n < 0 && errno == ENOTSOCK) {
                *not_sock = true;
                continue;
            }
        } else {
            n = write(fd, op->buf + op->done, op->len - op->done);
        }
        if (n >= 0) {
            op->done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
    return 1;
}

/* Frees op and settles its vow: len on success, else the code with the bytes written
 * in detail. Settling releases the abort hook without running it. */
static void wop_settle(struct wop *op, int r)
{
    vow *p = op->p;
    int64_t done = (int64_t)op->done;
    vow__free(op);
    if (r > 0)
        vow_resolve(p, vow_val_num(done));
    else
        vow_reject(p, r, vow_val_num(done));
}

static void wop_unlink(struct wop *op)
{
    struct wq *q = op->q;
    *op->pprev = op->next;
    if (op->next)
        op->next->pprev = op->pprev;
    else
        q->tail = op->pprev;
    op->q = NULL;
}

static void wq_free(struct wq *q)
{
    vow__watch_stop(&q->wt);
    reg_del(q);
    vow__free(q);
}

/* Writes from the head on, settling each write that completes, until the fd would
 * block (the watch stays armed) or the queue is empty (it goes). */
static void advance(struct wq *q)
{
    q->advancing = true;
    struct wop *op;
    while ((op = q->head) != NULL) {
        int r = write_some(q->fd, &q->not_sock, op);
        if (r == 0)
            break;
        wop_unlink(op);
        wop_settle(op, r);
    }
    q->advancing = false;
    if (!q->head)
        wq_free(q);
}

static void on_writable(vow_io *w, int fd, unsigned events)
{
    (void)fd;
    (void)events;
    advance(w->data);
}

/*
 * Cancelled or dropped: the write leaves its queue and is never looked at again, so
 * its buffer is the caller's at once. Bytes of a write in progress that were already
 * written stay written. A queue left empty goes.
 */
static void wop_abort(void *ctx, vow *p)
{
    struct wop *op = ctx;
    (void)p;
    struct wq *q = op->q;
    wop_unlink(op);
    vow__free(op);
    if (!q->head && !q->advancing)
        wq_free(q);
}

/* A queue for l/fd whose first write is op, watching fd; 0 or a negative code. */
static int wq_new(vow_loop *l, int fd, bool not_sock, struct wop *op)
{
    struct wq *q = vow__calloc(1, sizeof(*q));
    if (!q)
        return VOW_ENOMEM;
    q->l = l;
    q->fd = fd;
    q->not_sock = not_sock;
    q->wt.wfd = -1;
    q->head = op;
    q->tail = &op->next;
    op->pprev = &q->head;
    op->q = q;
    int r = reg_add(q);
    if (r == 0) {
        r = vow__watch_start(l, &q->wt, fd, VOW_WRITABLE, on_writable, q);
        if (r == 0)
            return 0;
        reg_del(q);
    }
    op->q = NULL;
    vow__free(q);
    return r;
}

vow *vow_write_all(vow_loop *l, int fd, const void *buf, size_t len)
{
    if (!l)
        return NULL;
    if (fd < 0 || (!buf && len > 0))
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    if (vow__fd_no_readiness(fd))
        return vow_rejected(l, VOW_EFILE, vow_val_none());
    vow *p = vow_pending(l);
    if (!p)
        return NULL;
    struct wop *op = vow__calloc(1, sizeof(*op));
    if (!op) {
        vow_unref(p);
        return NULL;
    }
    op->p = p;
    op->buf = buf;
    op->len = len;
    struct wq *q = reg_find(l, fd);
    int r;
    if (!q) {
        /* Nothing queued on fd: try at once, and queue only what would block. */
        bool not_sock = false;
        r = write_some(fd, &not_sock, op);
        if (r != 0)
            goto settle;
        r = vow_on_cancel_named(p, wop_abort, op, "write");
        if (r == 0)
            r = wq_new(l, fd, not_sock, op);
        if (r < 0)
            goto settle;
        return p;
    }
    r = vow_on_cancel_named(p, wop_abort, op, "write");
    if (r < 0)
        goto settle;
    op->q = q;
    op->pprev = q->tail;
    *q->tail = op;
    q->tail = &op->next;
    return p;
settle:
    wop_settle(op, r);
    return p;
}
