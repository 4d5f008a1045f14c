/* SPDX-License-Identifier: MIT */
/*
 * The peer of bench-fs.c with libuv: "small_files" reads every file s0000.. whole
 * (uv_fs_open, uv_fs_read, uv_fs_close chained per file, 64 files in flight),
 * "big_file" reads "big" in 1 MiB uv_fs_read chunks, 4 in flight. Cold after
 * posix_fadvise(DONTNEED), then warm. ns_per_op is per file, or per MiB.
 * Usage: bench-uv-fs DIR NFILES
 */
#include "bench.h"

#include <uv.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)
#define WIDTH 64

static const char *dir;
static long nfiles;
static size_t small_size, big_size;

static void report(const char *w, const char *phase, long ops, double bytes, double s)
{
    printf("workload=%s impl=libuv phase=%s n=%ld seconds=%.6f ns_per_op=%.1f mb_per_s=%.1f\n",
           w, phase, ops, s, s * 1e9 / (double)ops, bytes / s / 1e6);
    fflush(stdout);
}

static void drop_cache(void)
{
    char p[512];
    for (long i = 0; i <= nfiles; i++) {
        if (i < nfiles)
            snprintf(p, sizeof(p), "%s/s%04ld", dir, i);
        else
            snprintf(p, sizeof(p), "%s/big", dir);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            bench_fail("setup", p);
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* ------------------------------------------------------------ small files */

struct slot {
    uv_fs_t req;      /* the current request */
    uv_file fd;       /* the open file */
    char buf[65536];  /* read buffer */
    uv_buf_t iov;     /* over buf */
};

static long next_file, files_done;
static size_t small_bytes;
static struct slot *slots;

static void on_open(uv_fs_t *req);

static void start_file(struct slot *s)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/s%04ld", dir, next_file++);
    uv_fs_open(uv_default_loop(), &s->req, p, O_RDONLY | O_CLOEXEC, 0, on_open);
}

static void on_close(uv_fs_t *req)
{
    struct slot *s = req->data;
    uv_fs_req_cleanup(req);
    files_done++;
    if (next_file < nfiles) {
        s->req.data = s;
        start_file(s);
    }
}

static void on_read(uv_fs_t *req)
{
    struct slot *s = req->data;
    if (req->result < 0)
        bench_fail("small_files", "read");
    small_bytes += (size_t)req->result;
    uv_fs_req_cleanup(req);
    s->req.data = s;
    uv_fs_close(uv_default_loop(), &s->req, s->fd, on_close);
}

static void on_open(uv_fs_t *req)
{
    struct slot *s = req->data;
    if (req->result < 0)
        bench_fail("small_files", "open");
    s->fd = (uv_file)req->result;
    uv_fs_req_cleanup(req);
    s->iov = uv_buf_init(s->buf, sizeof(s->buf));
    s->req.data = s;
    uv_fs_read(uv_default_loop(), &s->req, s->fd, &s->iov, 1, 0, on_read);
}

static double uv_small(void)
{
    next_file = files_done = 0;
    small_bytes = 0;
    double t0 = bench_now();
    for (int i = 0; i < WIDTH && next_file < nfiles; i++) {
        slots[i].req.data = &slots[i];
        start_file(&slots[i]);
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    double t = bench_now() - t0;
    if (files_done != nfiles || small_bytes != (size_t)nfiles * small_size)
        bench_fail("small_files", "libuv read the wrong amount");
    return t;
}

/* ------------------------------------------------------------ big file */

struct chunk {
    uv_fs_t req;  /* the read */
    char *buf;    /* 1 MiB */
    uv_buf_t iov; /* over buf */
};

static uv_file big_fd;
static size_t big_next, big_bytes;

static void on_chunk(uv_fs_t *req);

static void read_chunk(struct chunk *c)
{
    c->iov = uv_buf_init(c->buf, CHUNK);
    c->req.data = c;
    uv_fs_read(uv_default_loop(), &c->req, big_fd, &c->iov, 1, (int64_t)big_next, on_chunk);
    big_next += CHUNK;
}

static void on_chunk(uv_fs_t *req)
{
    struct chunk *c = req->data;
    if (req->result < 0)
        bench_fail("big_file", "read");
    big_bytes += (size_t)req->result;
    uv_fs_req_cleanup(req);
    if (big_next < big_size)
        read_chunk(c);
}

static double uv_big(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/big", dir);
    struct chunk cs[4];
    for (int i = 0; i < 4; i++)
        cs[i].buf = malloc(CHUNK);
    big_next = big_bytes = 0;
    double t0 = bench_now();
    big_fd = open(p, O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 4 && big_next < big_size; i++)
        read_chunk(&cs[i]);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    close(big_fd);
    double t = bench_now() - t0;
    for (int i = 0; i < 4; i++)
        free(cs[i].buf);
    if (big_bytes != big_size)
        bench_fail("big_file", "libuv read the wrong amount");
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        bench_fail("setup", "usage: bench-uv-fs DIR NFILES");
    dir = argv[1];
    nfiles = strtol(argv[2], NULL, 10);
    struct stat st;
    char p[512];
    snprintf(p, sizeof(p), "%s/s0000", dir);
    if (stat(p, &st) < 0)
        bench_fail("setup", "no small files");
    small_size = (size_t)st.st_size;
    snprintf(p, sizeof(p), "%s/big", dir);
    if (stat(p, &st) < 0)
        bench_fail("setup", "no big file");
    big_size = (size_t)st.st_size;
    slots = calloc(WIDTH, sizeof(*slots));
    double sb = (double)nfiles * (double)small_size, bb = (double)big_size;
    long mib = (long)(big_size / CHUNK);
    const char *phases[2] = { "cold", "warm" };
    for (int ph = 0; ph < 2; ph++) {
        if (ph == 0)
            drop_cache();
        report("small_files", phases[ph], nfiles, sb, uv_small());
        if (ph == 0)
            drop_cache();
        report("big_file", phases[ph], mib, bb, uv_big());
    }
    free(slots);
    uv_loop_close(uv_default_loop());
    return 0;
}
