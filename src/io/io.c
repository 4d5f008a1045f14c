/* SPDX-License-Identifier: MIT */
/*
 * Promise-returning fd operations: readiness, read, read-exactly, and the fd
 * operation machine that accept and connect (net.c) reuse. Each operation tries its
 * syscall at once and only waits on the reactor when the fd would block. Writes have
 * a queue per fd (writeq.c).
 */
#include "io_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int vow_fd_nonblock(int fd)
{
    vow__check(fd >= 0, VOW_EINVAL);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int vow_fd_close(int fd)
{
    vow__check(fd >= 0, VOW_EINVAL);
    /* On Linux the fd is gone even when close reports EINTR; retrying could close an
     * fd another thread just opened. */
    if (close(fd) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

int vow__watch_start(vow_loop *l, struct vow__watch *wt, int fd, unsigned events,
                     vow_io_fn cb, void *data)
{
    if (wt->wfd >= 0)
        return 0;
    int r = vow_io_init(l, &wt->w, fd, cb);
    if (r < 0)
        return r;
    wt->w.data = data;
    r = vow_io_start(&wt->w, events);
    if (r == 0) {
        wt->wfd = fd;
        wt->dup = false;
        return 0;
    }
    if (r != VOW_EEXIST)
        return r;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0)
        return -errno;
    r = vow_io_init(l, &wt->w, d, cb);
    if (r == 0) {
        wt->w.data = data;
        r = vow_io_start(&wt->w, events);
    }
    if (r < 0) {
        close(d);
        return r;
    }
    wt->wfd = d;
    wt->dup = true;
    return 0;
}

void vow__watch_stop(struct vow__watch *wt)
{
    if (wt->wfd < 0)
        return;
    /* The reactor forgets the fd before the duplicate is closed, so the backend never
     * holds a registration for a closed fd number. */
    vow_io_stop(&wt->w);
    if (wt->dup)
        close(wt->wfd);
    wt->wfd = -1;
    wt->dup = false;
}

/* One pending fd operation. It does not hold a reference to p: dropping the last
 * reference or cancelling runs abort(), which frees the operation before p goes. */
struct fdop {
    vow *p;               /* borrowed, see above */
    struct vow__watch wt; /* readiness wait, armed only while the fd would block */
    int kind;             /* enum vow__fdop_kind */
    int fd;               /* the fd operated on (owned for CONNECT until success) */
    char *buf;            /* caller's buffer (READ*) */
    size_t len;           /* buffer length */
    size_t done;          /* bytes transferred so far */
};

static unsigned wanted_events(int kind)
{
    switch (kind) {
    case VOW__OP_WRITABLE:
    case VOW__OP_CONNECT:
        return VOW_WRITABLE;
    default:
        return VOW_READABLE;
    }
}

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}

/*
 * Advances op. Returns 0 to wait for readiness, 1 when done with *ret the value, or a
 * negative code with *ret the rejection detail. events is 0 for the first attempt.
 */
static int step(struct fdop *op, unsigned events, int64_t *ret)
{
    *ret = 0;
    switch (op->kind) {
    case VOW__OP_READABLE:
    case VOW__OP_WRITABLE:
        if (events == 0)
            return 0;
        *ret = events;
        return 1;
    case VOW__OP_READ:
        for (;;) {
            ssize_t n = read(op->fd, op->buf, op->len);
            if (n >= 0) {
                *ret = n;
                return 1;
            }
            if (errno == EINTR)
                continue;
            return would_block(errno) ? 0 : -errno;
        }
    case VOW__OP_READ_EXACT:
        while (op->done < op->len) {
            ssize_t n = read(op->fd, op->buf + op->done, op->len - op->done);
            if (n > 0) {
                op->done += (size_t)n;
                continue;
            }
            if (n == 0) {
                *ret = (int64_t)op->done;
                return VOW_EOF;
            }
            if (errno == EINTR)
                continue;
            if (would_block(errno))
                return 0;
            *ret = (int64_t)op->done;
            return -errno;
        }
        *ret = (int64_t)op->len;
        return 1;
    case VOW__OP_ACCEPT:
        for (;;) {
            int c = accept4(op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                *ret = c;
                return 1;
            }
            /* A connection that died in the backlog is not the listener's failure. */
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return would_block(errno) ? 0 : -errno;
        }
    case VOW__OP_CONNECT: {
        if (events == 0)
            return 0;
        int err = 0;
        socklen_t sl = sizeof(err);
        if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
            err = errno;
        if (err == EINPROGRESS || err == EALREADY)
            return 0;
        if (err != 0)
            return -err;
        *ret = op->fd;
        op->fd = -1;
        return 1;
    }
    }
    return VOW_EINVAL;
}

static void fdop_free(struct fdop *op)
{
    vow__watch_stop(&op->wt);
    if (op->kind == VOW__OP_CONNECT && op->fd >= 0)
        close(op->fd);
    vow__free(op);
}

static void settle(struct fdop *op, int r, int64_t v)
{
    vow *p = op->p;
    fdop_free(op);
    if (r > 0)
        vow_resolve(p, vow_val_num(v));
    else
        vow_reject(p, r, vow_val_num(v));
}

static void on_ready(vow_io *w, int fd, unsigned events)
{
    struct fdop *op = w->data;
    int64_t v;
    (void)fd;
    int r = step(op, events, &v);
    if (r != 0)
        settle(op, r, v);
}

static void on_abort(void *ctx, vow *p)
{
    (void)p;
    fdop_free(ctx);
}

/*
 * Files, directories and block devices have no readiness: epoll refuses them and
 * poll calls them always ready, so a read would block the loop on the disk. They
 * are refused the same way on every backend; vow/fs.h is the way to them.
 */
bool vow__fd_no_readiness(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 &&
           (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode));
}

/* What inspection calls each kind of operation (vow/inspect.h). */
static const char *const fdop_names[] = {
    [VOW__OP_READABLE] = "readable", [VOW__OP_WRITABLE] = "writable",
    [VOW__OP_READ] = "read",         [VOW__OP_READ_EXACT] = "read exact",
    [VOW__OP_ACCEPT] = "accept",     [VOW__OP_CONNECT] = "connect",
};

vow *vow__fdop(vow_loop *l, int kind, int fd, void *buf, size_t len)
{
    if (kind != VOW__OP_ACCEPT && kind != VOW__OP_CONNECT && vow__fd_no_readiness(fd))
        return vow_rejected(l, VOW_EFILE, vow_val_none());
    vow *p = vow_pending(l);
    if (!p)
        goto fail;
    struct fdop *op = vow__malloc(sizeof(*op));
    if (!op) {
        vow_unref(p);
        goto fail;
    }
    *op = (struct fdop){ .p = p, .wt = { .wfd = -1 }, .kind = kind, .fd = fd,
                         .buf = buf, .len = len };
    int64_t v;
    int r = step(op, 0, &v);
    if (r == 0) {
        r = vow_on_cancel_named(p, on_abort, op, fdop_names[kind]);
        if (r == 0) {
            r = vow__watch_start(l, &op->wt, fd, wanted_events(kind), on_ready, op);
            if (r == 0)
                return p;
        }
        /* Settling releases the abort hook without running it. */
        v = 0;
    }
    settle(op, r, v);
    return p;
fail:
    if (kind == VOW__OP_CONNECT)
        close(fd);
    return NULL;
}

/* Argument errors surface as a rejected vow, so callers have one failure path. */
static vow *reject_now(vow_loop *l, int code)
{
    return vow_rejected(l, code, vow_val_none());
}

vow *vow_readable(vow_loop *l, int fd)
{
    if (!l)
        return NULL;
    if (fd < 0)
        return reject_now(l, VOW_EINVAL);
    return vow__fdop(l, VOW__OP_READABLE, fd, NULL, 0);
}

vow *vow_writable(vow_loop *l, int fd)
{
    if (!l)
        return NULL;
    if (fd < 0)
        return reject_now(l, VOW_EINVAL);
    return vow__fdop(l, VOW__OP_WRITABLE, fd, NULL, 0);
}

vow *vow_read(vow_loop *l, int fd, void *buf, size_t len)
{
    if (!l)
        return NULL;
    if (fd < 0 || !buf || len == 0)
        return reject_now(l, VOW_EINVAL);
    return vow__fdop(l, VOW__OP_READ, fd, buf, len);
}

vow *vow_read_exact(vow_loop *l, int fd, void *buf, size_t len)
{
    if (!l)
        return NULL;
    if (fd < 0 || (!buf && len > 0))
        return reject_now(l, VOW_EINVAL);
    return vow__fdop(l, VOW__OP_READ_EXACT, fd, buf, len);
}
