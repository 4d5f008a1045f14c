/* SPDX-License-Identifier: MIT */
/*
 * Regular files on the pool's FS lane. Each call copies what it is handed (paths,
 * bytes to write) and duplicates the fd it works on before it returns, so once a
 * call returns, the library never touches the caller's memory or fd number again,
 * even while the job still runs on its thread after a cancellation.
 */
#include "work_int.h"
#include "vow/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum fs_op {
    FS_OPEN,
    FS_CLOSE,
    FS_READ,
    FS_WRITE,
    FS_STAT,
    FS_FSTAT,
    FS_FSYNC,
    FS_RENAME,
    FS_UNLINK,
    FS_MKDIR,
    FS_READ_FILE,
    FS_WRITE_FILE
};

struct fs_job {
    vow_work_job j;   /* the common head */
    int op;           /* enum fs_op */
    int fd;           /* the job's own fd (duplicate, or taken by close); -1 once closed */
    int flags;        /* open flags */
    unsigned mode;    /* open/mkdir mode */
    int64_t off;      /* read/write offset, -1: the file offset */
    size_t len;       /* read: at most; write: bytes in data */
    const char *path; /* copy, in this block */
    const char *to;   /* rename's target, copy, in this block */
    const char *data; /* bytes to write, copy, in this block */
};

/* A value's drop for buffers and stat records. */
static void fs_free(void *p)
{
    vow__free(p);
}

/* Writes all of buf; the count written, or -errno with *ret_done the count so far. */
static int write_all(int fd, const char *buf, size_t len, int64_t off, size_t *ret_done)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = off >= 0 ? pwrite(fd, buf + done, len - done, (off_t)(off + (int64_t)done))
                             : write(fd, buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *ret_done = done;
            return -errno;
        }
        done += (size_t)n;
    }
    *ret_done = done;
    return 0;
}

/* A buffer value for up to cap bytes plus the '\0'; NULL on out-of-memory. */
static vow_fs_buf *buf_new(size_t cap)
{
    vow_fs_buf *b = vow__malloc(sizeof(*b) + cap + 1);
    if (b) {
        b->data = (char *)(b + 1);
        b->len = 0;
    }
    return b;
}

/*
 * A big buffer about to be filled is faulted in 2 MiB pages where the kernel allows
 * it (transparent huge pages in "madvise" mode): a 256 MiB read then takes 128
 * faults, not 65,536, which otherwise cost more than the copy itself. A hint only.
 */
static void huge_pages(char *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (len < 2 * huge)
        return;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + len) & ~(huge - 1);
    if (end > start)
        madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

/* The whole file: sized from fstat, grown for files that lie about their size
 * (/proc). 0 with *ret a buffer, or a negative code. */
static int read_file(const char *path, vow_fs_buf **ret)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    size_t cap = 4096;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uint64_t)st.st_size >= SIZE_MAX / 2) {
            r = -EFBIG;
            goto out;
        }
        /* One byte more than the size, so the read that finds EOF needs no growth. */
        cap = (size_t)st.st_size + 1;
    }
    vow_fs_buf *b = buf_new(cap);
    if (!b) {
        r = VOW_ENOMEM;
        goto out;
    }
    huge_pages(b->data, cap);
    for (;;) {
        if (b->len == cap) {
            size_t ncap = cap + (cap < 65536 ? cap : cap / 2);
            vow_fs_buf *nb = vow__realloc(b, sizeof(*b) + ncap + 1);
            if (!nb) {
                vow__free(b);
                r = VOW_ENOMEM;
                goto out;
            }
            b = nb;
            b->data = (char *)(b + 1);
            cap = ncap;
        }
        ssize_t n = read(fd, b->data + b->len, cap - b->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            vow__free(b);
            goto out;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
    b->data[b->len] = '\0';
    *ret = b;
out:
    close(fd);
    return r;
}

static int write_file(const char *path, const char *data, size_t len, size_t *ret_done)
{
    *ret_done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -errno;
    int r = write_all(fd, data, len, -1, ret_done);
    if (close(fd) < 0 && errno != EINTR && r == 0)
        r = -errno;
    return r;
}

/* Pool thread: the system calls. Sets code (>= 0 or a negative code) and val. */
static void fs_run(vow_work_job *j)
{
    struct fs_job *f = (struct fs_job *)j;
    int r = 0;
    j->val = vow_val_none();
    switch (f->op) {
    case FS_OPEN:
        r = open(f->path, f->flags | O_CLOEXEC, (mode_t)f->mode);
        if (r >= 0)
            j->val = vow_val_num(r);
        break;
    case FS_CLOSE:
        /* The fd is gone even when close reports EINTR (Linux). */
        r = close(f->fd);
        f->fd = -1;
        if (r < 0 && errno == EINTR)
            r = 0;
        break;
    case FS_READ: {
        vow_fs_buf *b = buf_new(f->len);
        if (!b) {
            j->code = VOW_ENOMEM;
            goto out;
        }
        ssize_t n;
        do
            n = f->off >= 0 ? pread(f->fd, b->data, f->len, (off_t)f->off)
                            : read(f->fd, b->data, f->len);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            j->code = -errno;
            vow__free(b);
            goto out;
        }
        b->len = (size_t)n;
        b->data[n] = '\0';
        j->val = vow_val_ptr(b, fs_free);
        r = 0;
        break;
    }
    case FS_WRITE: {
        size_t done;
        j->code = write_all(f->fd, f->data, f->len, f->off, &done);
        j->val = vow_val_num((int64_t)done);
        goto out;
    }
    case FS_STAT:
    case FS_FSTAT: {
        struct stat *st = vow__malloc(sizeof(*st));
        if (!st) {
            j->code = VOW_ENOMEM;
            goto out;
        }
        r = f->op == FS_STAT ? stat(f->path, st) : fstat(f->fd, st);
        if (r < 0) {
            int e = errno;
            vow__free(st);
            errno = e;
        } else {
            j->val = vow_val_ptr(st, fs_free);
        }
        break;
    }
    case FS_FSYNC:
        r = fsync(f->fd);
        break;
    case FS_RENAME:
        r = rename(f->path, f->to);
        break;
    case FS_UNLINK:
        r = unlink(f->path);
        break;
    case FS_MKDIR:
        r = mkdir(f->path, (mode_t)f->mode);
        break;
    case FS_READ_FILE: {
        vow_fs_buf *b = NULL;
        j->code = read_file(f->path, &b);
        if (j->code == 0)
            j->val = vow_val_ptr(b, fs_free);
        goto out;
    }
    case FS_WRITE_FILE: {
        size_t done;
        j->code = write_file(f->path, f->data, f->len, &done);
        j->val = vow_val_num(j->code == 0 ? (int64_t)f->len : (int64_t)done);
        goto out;
    }
    }
    j->code = r < 0 ? -errno : 0;
out:
    if (f->op == FS_WRITE && j->code == 0)
        j->val = vow_val_num((int64_t)f->len);
    /* The duplicate is closed here, off the loop: if the caller closed theirs, this
     * is the last reference and close may flush. */
    if (f->fd >= 0 && f->op != FS_CLOSE) {
        close(f->fd);
        f->fd = -1;
    }
}

/* Loop thread: releases an undelivered result and whatever the job still holds. */
static void fs_fini(vow_work_job *j)
{
    struct fs_job *f = (struct fs_job *)j;
    if (j->ran && !j->delivered && f->op == FS_OPEN && j->code >= 0)
        close((int)j->val.num);
    else
        vow__job_drop_result(j);
    /* Never ran (withdrawn, refused): a duplicate, or close's fd, is closed here. */
    if (f->fd >= 0)
        close(f->fd);
    vow__free(f);
}

static const struct vow__job_ops fs_ops = { fs_run, fs_fini };

/* A job for op with copies of path, to and data in the same block; NULL on OOM. */
static struct fs_job *fs_new(int op, const char *path, const char *to, const void *data,
                             size_t dlen)
{
    size_t pl = path ? strlen(path) + 1 : 0;
    size_t tl = to ? strlen(to) + 1 : 0;
    if (dlen > SIZE_MAX - sizeof(struct fs_job) - pl - tl)
        return NULL;
    struct fs_job *f =
        (struct fs_job *)vow__job_new(sizeof(struct fs_job) + pl + tl + dlen, &fs_ops, VOW_WORK_FS);
    if (!f)
        return NULL;
    char *s = (char *)(f + 1);
    f->op = op;
    f->fd = -1;
    if (path) {
        memcpy(s, path, pl);
        f->path = s;
        s += pl;
    }
    if (to) {
        memcpy(s, to, tl);
        f->to = s;
        s += tl;
    }
    if (dlen) {
        memcpy(s, data, dlen);
        f->data = s;
    }
    return f;
}

/* Submits f; with dup_fd >= 0 the job gets its own duplicate of it first. */
static vow *fs_submit(vow_loop *l, struct fs_job *f, int dup_fd)
{
    if (!f)
        return NULL;
    if (dup_fd >= 0) {
        f->fd = fcntl(dup_fd, F_DUPFD_CLOEXEC, 0);
        if (f->fd < 0) {
            int e = errno;
            vow__free(f);
            return vow_rejected(l, -e, vow_val_none());
        }
    }
    return vow__job_submit(l, &f->j);
}

static vow *einval(vow_loop *l)
{
    return l ? vow_rejected(l, VOW_EINVAL, vow_val_none()) : NULL;
}

vow *vow_fs_open(vow_loop *l, const char *path, int flags, unsigned mode)
{
    if (!l || !path)
        return einval(l);
    struct fs_job *f = fs_new(FS_OPEN, path, NULL, NULL, 0);
    if (f) {
        f->flags = flags;
        f->mode = mode;
    }
    return fs_submit(l, f, -1);
}

vow *vow_fs_close(vow_loop *l, int fd)
{
    if (!l || fd < 0) {
        if (fd >= 0)
            close(fd);
        return einval(l);
    }
    struct fs_job *f = fs_new(FS_CLOSE, NULL, NULL, NULL, 0);
    if (!f) {
        /* Consumed whatever happens. */
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->j.keep = true;
    return fs_submit(l, f, -1);
}

vow *vow_fs_read(vow_loop *l, int fd, size_t len, int64_t offset)
{
    if (!l || fd < 0 || len == 0 || len > (size_t)SSIZE_MAX - sizeof(vow_fs_buf) - 1 ||
        offset < -1)
        return einval(l);
    struct fs_job *f = fs_new(FS_READ, NULL, NULL, NULL, 0);
    if (f) {
        f->len = len;
        f->off = offset;
    }
    return fs_submit(l, f, fd);
}

vow *vow_fs_write(vow_loop *l, int fd, const void *buf, size_t len, int64_t offset)
{
    if (!l || fd < 0 || (!buf && len > 0) || offset < -1)
        return einval(l);
    struct fs_job *f = fs_new(FS_WRITE, NULL, NULL, buf, len);
    if (f) {
        f->len = len;
        f->off = offset;
    }
    return fs_submit(l, f, fd);
}

vow *vow_fs_stat(vow_loop *l, const char *path)
{
    if (!l || !path)
        return einval(l);
    return fs_submit(l, fs_new(FS_STAT, path, NULL, NULL, 0), -1);
}

vow *vow_fs_fstat(vow_loop *l, int fd)
{
    if (!l || fd < 0)
        return einval(l);
    return fs_submit(l, fs_new(FS_FSTAT, NULL, NULL, NULL, 0), fd);
}

vow *vow_fs_fsync(vow_loop *l, int fd)
{
    if (!l || fd < 0)
        return einval(l);
    return fs_submit(l, fs_new(FS_FSYNC, NULL, NULL, NULL, 0), fd);
}

vow *vow_fs_rename(vow_loop *l, const char *from, const char *to)
{
    if (!l || !from || !to)
        return einval(l);
    return fs_submit(l, fs_new(FS_RENAME, from, to, NULL, 0), -1);
}

vow *vow_fs_unlink(vow_loop *l, const char *path)
{
    if (!l || !path)
        return einval(l);
    return fs_submit(l, fs_new(FS_UNLINK, path, NULL, NULL, 0), -1);
}

vow *vow_fs_mkdir(vow_loop *l, const char *path, unsigned mode)
{
    if (!l || !path)
        return einval(l);
    struct fs_job *f = fs_new(FS_MKDIR, path, NULL, NULL, 0);
    if (f)
        f->mode = mode;
    return fs_submit(l, f, -1);
}

vow *vow_fs_read_file(vow_loop *l, const char *path)
{
    if (!l || !path)
        return einval(l);
    return fs_submit(l, fs_new(FS_READ_FILE, path, NULL, NULL, 0), -1);
}

vow *vow_fs_write_file(vow_loop *l, const char *path, const void *buf, size_t len)
{
    if (!l || !path || (!buf && len > 0))
        return einval(l);
    struct fs_job *f = fs_new(FS_WRITE_FILE, path, NULL, buf, len);
    if (f)
        f->len = len;
    return fs_submit(l, f, -1);
}
