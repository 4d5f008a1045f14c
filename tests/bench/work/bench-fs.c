/* SPDX-License-Identifier: MIT */
/*
 * Reading files with libvow, beside plain blocking read(2) (the physical floor):
 * "small_files" reads every file s0000.. of a directory whole (libvow: one
 * vow_fs_read_file job per file, 64 in flight; read: open, read, close in turn);
 * "big_file" reads the file "big" (libvow: 1 MiB vow_fs_read chunks, 4 in flight;
 * libvow_whole: one vow_fs_read_file; read: 1 MiB read(2) calls into one buffer).
 * Each runs cold (after posix_fadvise(DONTNEED) asked the kernel to drop the files'
 * cached pages) and warm (again at once). ns_per_op is per file, or per MiB.
 * Usage: bench-fs DIR NFILES
 */
#include "bench.h"

#include <vow.h>
#include <vow/fs.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)

static const char *dir;
static long nfiles;
static size_t small_size, big_size;

static void report(const char *w, const char *impl, const char *phase, long ops, double bytes,
                   double s)
{
    printf("workload=%s impl=%s phase=%s n=%ld seconds=%.6f ns_per_op=%.1f mb_per_s=%.1f\n", w,
           impl, phase, ops, s, s * 1e9 / (double)ops, bytes / s / 1e6);
    fflush(stdout);
}

static void small_path(char *buf, size_t size, long i)
{
    snprintf(buf, size, "%s/s%04ld", dir, i);
}

/* Asks the kernel to forget the files' cached pages (cold runs). */
static void drop_cache(void)
{
    char p[512];
    for (long i = 0; i <= nfiles; i++) {
        if (i < nfiles)
            small_path(p, sizeof(p), i);
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

/* ------------------------------------------------------------ libvow */

struct small {
    vow_loop *l;
    long next;    /* the next file to read */
    long done;    /* files read */
    size_t bytes; /* bytes read */
};

static vow_ret small_done(void *ctx, const vow_val *v);

static void small_next(struct small *s)
{
    char p[512];
    small_path(p, sizeof(p), s->next++);
    vow_unref(vow_then(vow_fs_read_file(s->l, p), small_done, NULL, s));
}

static vow_ret small_done(void *ctx, const vow_val *v)
{
    struct small *s = ctx;
    s->done++;
    s->bytes += ((const vow_fs_buf *)v->ptr)->len;
    if (s->next < nfiles)
        small_next(s);
    return vow_ok(vow_val_none());
}

static double vow_small(vow_loop *l)
{
    struct small s = { l, 0, 0, 0 };
    double t0 = bench_now();
    for (int i = 0; i < 64 && s.next < nfiles; i++)
        small_next(&s);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    double t = bench_now() - t0;
    if (s.done != nfiles || s.bytes != (size_t)nfiles * small_size)
        bench_fail("small_files", "libvow read the wrong amount");
    return t;
}

struct big {
    vow_loop *l;
    int fd;
    size_t next;  /* offset of the next chunk */
    size_t bytes; /* bytes read */
    long left;    /* chunks in flight */
};

static vow_ret big_done(void *ctx, const vow_val *v);

static void big_next(struct big *b)
{
    size_t off = b->next;
    b->next += CHUNK;
    b->left++;
    vow_unref(vow_then(vow_fs_read(b->l, b->fd, CHUNK, (int64_t)off), big_done, NULL, b));
}

static vow_ret big_done(void *ctx, const vow_val *v)
{
    struct big *b = ctx;
    b->left--;
    b->bytes += ((const vow_fs_buf *)v->ptr)->len;
    if (b->next < big_size)
        big_next(b);
    return vow_ok(vow_val_none());
}

static double vow_big(vow_loop *l)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/big", dir);
    struct big b = { l, open(p, O_RDONLY | O_CLOEXEC), 0, 0, 0 };
    if (b.fd < 0)
        bench_fail("big_file", "open");
    double t0 = bench_now();
    for (int i = 0; i < 4 && b.next < big_size; i++)
        big_next(&b);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    double t = bench_now() - t0;
    close(b.fd);
    if (b.bytes != big_size)
        bench_fail("big_file", "libvow read the wrong amount");
    return t;
}

static double vow_whole(vow_loop *l)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/big", dir);
    double t0 = bench_now();
    vow *r = vow_fs_read_file(l, p);
    while (vow_state(r) == VOW_PENDING && vow_loop_run(l, VOW_RUN_ONCE) > 0)
        ;
    if (vow_state(r) != VOW_FULFILLED || ((const vow_fs_buf *)vow_value(r)->ptr)->len != big_size)
        bench_fail("big_file", "libvow_whole read the wrong amount");
    vow_unref(r);
    return bench_now() - t0;
}

/* ------------------------------------------------------------ read(2) */

static double plain_small(void)
{
    char p[512];
    static char buf[65536];
    size_t bytes = 0;
    double t0 = bench_now();
    for (long i = 0; i < nfiles; i++) {
        small_path(p, sizeof(p), i);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            bench_fail("small_files", "open");
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            bytes += (size_t)n;
        close(fd);
    }
    double t = bench_now() - t0;
    if (bytes != (size_t)nfiles * small_size)
        bench_fail("small_files", "read(2) read the wrong amount");
    return t;
}

static double plain_big(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/big", dir);
    char *buf = malloc(CHUNK);
    size_t bytes = 0;
    double t0 = bench_now();
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    while ((n = read(fd, buf, CHUNK)) > 0)
        bytes += (size_t)n;
    close(fd);
    double t = bench_now() - t0;
    free(buf);
    if (bytes != big_size)
        bench_fail("big_file", "read(2) read the wrong amount");
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        bench_fail("setup", "usage: bench-fs DIR NFILES");
    dir = argv[1];
    nfiles = strtol(argv[2], NULL, 10);
    struct stat st;
    char p[512];
    small_path(p, sizeof(p), 0);
    if (stat(p, &st) < 0)
        bench_fail("setup", "no small files");
    small_size = (size_t)st.st_size;
    snprintf(p, sizeof(p), "%s/big", dir);
    if (stat(p, &st) < 0)
        bench_fail("setup", "no big file");
    big_size = (size_t)st.st_size;
    double sb = (double)nfiles * (double)small_size, bb = (double)big_size;
    long mib = (long)(big_size / CHUNK);

    vow_loop *l = vow_loop_new();
    const char *phases[2] = { "cold", "warm" };
    for (int ph = 0; ph < 2; ph++) {
        if (ph == 0)
            drop_cache();
        report("small_files", "libvow", phases[ph], nfiles, sb, vow_small(l));
        if (ph == 0)
            drop_cache();
        report("small_files", "read", phases[ph], nfiles, sb, plain_small());
        if (ph == 0)
            drop_cache();
        report("big_file", "libvow", phases[ph], mib, bb, vow_big(l));
        if (ph == 0)
            drop_cache();
        report("big_file", "libvow_whole", phases[ph], mib, bb, vow_whole(l));
        if (ph == 0)
            drop_cache();
        report("big_file", "read", phases[ph], mib, bb, plain_big());
    }
    if (vow_loop_close(l) != 0)
        bench_fail("setup", "close");
    return 0;
}
