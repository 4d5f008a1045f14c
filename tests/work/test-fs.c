/* SPDX-License-Identifier: MIT */
/*
 * Files through vow_fs_* on real files in a fresh temporary directory: whole-file
 * and positioned reads and writes, metadata, errors as -errno, the fd duplicated
 * before the call returns, close taking its fd, withdrawal before a job starts (the
 * file is untouched), cancellation while a job is blocked (a FIFO holds it in open or
 * read) with its result released on the loop, fd operations refusing files, and
 * the seams (then, timeout, race). The pool has 4 threads (set in main).
 */
#include "work-test.h"

#include "work_int.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#define THREADS 4

static char dir[64];

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* The bytes of a fulfilled vow_fs_buf vow (borrowed from p). */
static const vow_fs_buf *buf_of(const vow *p)
{
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    return vow_value(p)->ptr;
}

/* Open fds of this process. */
static long fds(void)
{
    return tu_open_fds();
}

/* Waits (on the test thread) until the pool has taken n more jobs than at mark. */
static void wait_picked(unsigned long mark, unsigned long n)
{
    while (atomic_load(&vow__work_picks) < mark + n)
        sched_yield();
}

static void test_whole_file(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    char path[128];
    path_of(path, sizeof(path), "whole");
    assert_int_equal(wt_num(l, vow_fs_write_file(l, path, "hello, file", 11)), 11);
    vow *p = vow_fs_read_file(l, path);
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, 11);
    assert_string_equal(buf_of(p)->data, "hello, file");
    vow_unref(p);

    /* Empty, then large (several reads, a size known from fstat). */
    assert_int_equal(wt_num(l, vow_fs_write_file(l, path, NULL, 0)), 0);
    p = vow_fs_read_file(l, path);
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, 0);
    assert_string_equal(buf_of(p)->data, "");
    vow_unref(p);
    size_t big = 3u << 20;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7 + i / 4096);
    assert_int_equal(wt_num(l, vow_fs_write_file(l, path, data, big)), (int64_t)big);
    p = vow_fs_read_file(l, path);
    memset(data + 100, 0, 10); /* the write had its own copy */
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, big);
    for (size_t i = 0; i < big; i++)
        if (buf_of(p)->data[i] != (char)(i * 7 + i / 4096))
            fail_msg("byte %zu differs", i);
    vow_unref(p);
    free(data);

    /* A file whose size stat does not know (/proc): the buffer grows. */
    p = vow_fs_read_file(l, "/proc/self/status");
    wt_wait(l, p);
    assert_true(buf_of(p)->len > 0);
    assert_non_null(strstr(buf_of(p)->data, "Pid:"));
    vow_unref(p);

    char missing[128];
    path_of(missing, sizeof(missing), "missing");
    assert_int_equal(wt_code(l, vow_fs_read_file(l, missing)), -ENOENT);
    assert_int_equal(wt_code(l, vow_fs_read_file(l, dir)), -EISDIR);
    char nodir[160];
    snprintf(nodir, sizeof(nodir), "%s/no/such", dir);
    assert_int_equal(wt_code(l, vow_fs_write_file(l, nodir, "x", 1)), -ENOENT);
    assert_int_equal(wt_num(l, vow_fs_unlink(l, path)), 0);
    wt_finish(l);
}

static void test_fd_ops(void **state)
{
    (void)state;
    long before = fds();
    vow_loop *l = wt_loop_new();
    char path[128];
    path_of(path, sizeof(path), "fdops");
    int fd = (int)wt_num(l, vow_fs_open(l, path, O_RDWR | O_CREAT | O_EXCL, 0600));
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(wt_code(l, vow_fs_open(l, path, O_RDWR | O_CREAT | O_EXCL, 0600)),
                     -EEXIST);

    /* At the file offset, then positioned (which leaves the offset alone). */
    assert_int_equal(wt_num(l, vow_fs_write(l, fd, "abcdef", 6, -1)), 6);
    assert_int_equal(wt_num(l, vow_fs_write(l, fd, "XY", 2, 2)), 2);
    assert_int_equal(wt_num(l, vow_fs_write(l, fd, "gh", 2, -1)), 2);
    vow *p = vow_fs_read(l, fd, 100, 0);
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, 8);
    assert_memory_equal(buf_of(p)->data, "abXYefgh", 8);
    vow_unref(p);
    p = vow_fs_read(l, fd, 3, 5);
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, 3);
    assert_string_equal(buf_of(p)->data, "fgh");
    vow_unref(p);
    p = vow_fs_read(l, fd, 10, -1); /* the offset is at the end */
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, 0);
    vow_unref(p);
    assert_int_equal(wt_num(l, vow_fs_fsync(l, fd)), 0);

    p = vow_fs_fstat(l, fd);
    wt_wait(l, p);
    const struct stat *st = vow_value(p)->ptr;
    assert_int_equal(st->st_size, 8);
    assert_true(S_ISREG(st->st_mode));
    assert_int_equal(st->st_mode & 0777, 0600);
    vow_unref(p);
    p = vow_fs_stat(l, path);
    wt_wait(l, p);
    assert_int_equal(((const struct stat *)vow_value(p)->ptr)->st_size, 8);
    vow_unref(p);

    /* The job works on its own duplicate: closing ours at once is fine. */
    int mine = dup(fd);
    p = vow_fs_read(l, mine, 4, 0);
    close(mine);
    wt_wait(l, p);
    assert_memory_equal(buf_of(p)->data, "abXY", 4);
    vow_unref(p);
    assert_int_equal(wt_code(l, vow_fs_read(l, mine, 4, 0)), -EBADF);

    /* Writes to a read-only fd fail with the real errno. */
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    p = vow_fs_write(l, ro, "zz", 2, 0);
    wt_wait(l, p);
    assert_int_equal(vow_code(p), -EBADF);
    assert_int_equal(vow_value(p)->num, 0);
    vow_unref(p);
    close(ro);

    assert_int_equal(wt_num(l, vow_fs_close(l, fd)), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(wt_num(l, vow_fs_unlink(l, path)), 0);
    assert_int_equal(wt_code(l, vow_fs_unlink(l, path)), -ENOENT);
    wt_finish(l);
    assert_int_equal(fds(), before);
}

static void test_names(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    char sub[128], a[160], b[160];
    path_of(sub, sizeof(sub), "sub");
    assert_int_equal(wt_num(l, vow_fs_mkdir(l, sub, 0700)), 0);
    assert_int_equal(wt_code(l, vow_fs_mkdir(l, sub, 0700)), -EEXIST);
    snprintf(a, sizeof(a), "%s/a", sub);
    snprintf(b, sizeof(b), "%s/b", sub);
    assert_int_equal(wt_num(l, vow_fs_write_file(l, a, "A", 1)), 1);
    assert_int_equal(wt_num(l, vow_fs_rename(l, a, b)), 0);
    assert_int_equal(wt_code(l, vow_fs_stat(l, a)), -ENOENT);
    vow *p = vow_fs_stat(l, b);
    wt_wait(l, p);
    assert_int_equal(((const struct stat *)vow_value(p)->ptr)->st_size, 1);
    vow_unref(p);
    assert_int_equal(wt_code(l, vow_fs_rename(l, a, b)), -ENOENT);
    assert_int_equal(wt_code(l, vow_fs_unlink(l, sub)), -EISDIR);
    assert_int_equal(wt_num(l, vow_fs_unlink(l, b)), 0);
    assert_int_equal(rmdir(sub), 0);
    wt_finish(l);
}

static void test_bad_args(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    char buf[4];
    assert_null(vow_fs_open(NULL, "x", O_RDONLY, 0));
    assert_null(vow_fs_read_file(NULL, "x"));
    assert_int_equal(wt_code(l, vow_fs_open(l, NULL, O_RDONLY, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_close(l, -1)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_read(l, -1, 1, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_read(l, 0, 0, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_read(l, 0, 1, -2)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_read(l, 0, SIZE_MAX, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_write(l, 0, NULL, 1, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_write(l, -1, buf, 1, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_write(l, 0, buf, 1, -5)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_stat(l, NULL)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_fstat(l, -1)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_fsync(l, -1)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_rename(l, "a", NULL)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_unlink(l, NULL)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_mkdir(l, NULL, 0)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_read_file(l, NULL)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_write_file(l, NULL, buf, 1)), VOW_EINVAL);
    assert_int_equal(wt_code(l, vow_fs_write_file(l, "x", NULL, 1)), VOW_EINVAL);
    wt_finish(l);
}

/* Files have no readiness: every fd operation of vow/io.h refuses them alike. */
static void test_no_readiness(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    char path[128];
    path_of(path, sizeof(path), "ready");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    char c;
    assert_int_equal(wt_code(l, vow_read(l, fd, &c, 1)), VOW_EFILE);
    assert_int_equal(wt_code(l, vow_readable(l, fd)), VOW_EFILE);
    assert_string_equal(vow_strerror(VOW_EFILE), "files have no readiness: use vow_fs_*");
    close(fd);
    unlink(path);
    wt_finish(l);
}

/* Holds every pool thread at g, so the FS jobs queued next wait. */
static void fill_pool(vow_loop *l, struct gate *g, vow **ps)
{
    for (int i = 0; i < THREADS; i++)
        ps[i] = vow_work(l, VOW_WORK_CPU, gate_job, g, NULL);
    gate_wait_started(g, THREADS);
}

static void release_pool(vow_loop *l, struct gate *g, vow **ps)
{
    gate_open(g);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(wt_num(l, ps[i]), 42);
}

/* Withdrawn before they start, operations leave the file system alone; a close
 * still closes (it took the fd). */
static void test_withdraw(void **state)
{
    (void)state;
    long before = fds();
    vow_loop *l = wt_loop_new();
    char path[128], moved[128];
    path_of(path, sizeof(path), "keep");
    path_of(moved, sizeof(moved), "moved");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    int fd2 = dup(fd);
    struct gate g;
    gate_init(&g);
    vow *ps[THREADS];
    fill_pool(l, &g, ps);
    vow *w = vow_fs_write(l, fd, "lost", 4, 0);
    vow *r = vow_fs_rename(l, path, moved);
    vow *wf = vow_fs_write_file(l, path, "also lost", 9);
    vow *c = vow_fs_close(l, fd2);
    assert_int_equal(vow_cancel(w), 0);
    vow_unref(r);
    vow *t = vow_timeout(wf, 0);
    vow_unref(c);
    wt_wait(l, t);
    assert_int_equal(vow_code(t), VOW_ETIMEDOUT);
    vow_unref(t);
    release_pool(l, &g, ps);
    assert_int_equal(vow_code(w), VOW_ECANCELED);
    vow_unref(w);
    wt_finish(l);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(fcntl(fd2, F_GETFD), -1);
    close(fd);
    unlink(path);
    assert_int_equal(fds(), before);
    gate_destroy(&g);
}

/* A FIFO holds a job inside open(2) or read(2) for as long as the test wants: the job
 * is dropped while blocked there, and what it returns later is released on the loop. */
static void test_cancel_blocked(void **state)
{
    (void)state;
    long before = fds();
    vow_loop *l = wt_loop_new();
    char fifo[128];
    path_of(fifo, sizeof(fifo), "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);

    /* open(O_WRONLY) blocks until a reader comes. */
    unsigned long mark = atomic_load(&vow__work_picks);
    vow *p = vow_fs_open(l, fifo, O_WRONLY, 0);
    wait_picked(mark, 1);
    vow_unref(p);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(rd >= 0);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    /* The fd the job opened was closed when it came back: the reader sees EOF. */
    char c;
    assert_int_equal(read(rd, &c, 1), 0);
    close(rd);

    /* read(2) on a FIFO without data blocks; cancelled there, its buffer goes. */
    int fd = open(fifo, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    mark = atomic_load(&vow__work_picks);
    p = vow_fs_read(l, fd, 64, -1);
    wait_picked(mark, 1);
    assert_int_equal(vow_cancel(p), 0);
    assert_int_equal(write(fd, "data", 4), 4);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    vow_unref(p);
    close(fd);

    /* read_file blocks in open until a writer comes; dropped, its buffer goes. */
    mark = atomic_load(&vow__work_picks);
    p = vow_fs_read_file(l, fifo);
    wait_picked(mark, 1);
    vow_unref(p);
    int wr;
    while ((wr = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        assert_int_equal(errno, ENXIO); /* the job is not inside open(2) yet */
        sched_yield();
    }
    assert_int_equal(write(wr, "abc", 3), 3);
    close(wr);
    wt_finish(l);
    unlink(fifo);
    assert_int_equal(fds(), before);
}

/* --------------------------------------------------------------- seams */

struct upper {
    vow_loop *l;     /* the loop */
    const char *out; /* where the upper-cased copy goes */
};

/* Upper-cases the file's bytes into another file; fulfils with its length. */
static vow_ret upper_it(void *ctx, const vow_val *v)
{
    struct upper *u = ctx;
    const vow_fs_buf *b = v->ptr;
    char tmp[64];
    for (size_t i = 0; i < b->len && i < sizeof(tmp); i++)
        tmp[i] = (char)(b->data[i] >= 'a' && b->data[i] <= 'z' ? b->data[i] - 32 : b->data[i]);
    return vow_follow(vow_fs_write_file(u->l, u->out, tmp, b->len));
}

static vow_ret read_back(void *ctx, const vow_val *v)
{
    struct upper *u = ctx;
    (void)v;
    return vow_follow(vow_fs_read_file(u->l, u->out));
}

static void test_seams(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    char in[128], out[128];
    path_of(in, sizeof(in), "in");
    path_of(out, sizeof(out), "out");
    assert_int_equal(wt_num(l, vow_fs_write_file(l, in, "chain me", 8)), 8);

    /* then: read, transform, write, read back. */
    struct upper u = { l, out };
    vow *p = vow_then(vow_fs_read_file(l, in), upper_it, NULL, &u);
    p = vow_then(p, read_back, NULL, &u);
    wt_wait(l, p);
    assert_string_equal(buf_of(p)->data, "CHAIN ME");
    vow_unref(p);

    /* Under a generous vow_timeout it is just a read. */
    p = vow_timeout(vow_fs_read_file(l, in), 60000);
    wt_wait(l, p);
    assert_int_equal(buf_of(p)->len, 8);
    vow_unref(p);

    /* In vow_race against a long delay, the read wins and the delay is cancelled. */
    vow *in2[2] = { vow_delay(l, 60000, vow_val_num(0)), vow_fs_stat(l, in) };
    p = vow_race(l, in2, 2);
    wt_wait(l, p);
    assert_int_equal(((const struct stat *)vow_value(p)->ptr)->st_size, 8);
    vow_unref(p);

    unlink(in);
    unlink(out);
    wt_finish(l);
}

int main(void)
{
    tu_install_allocator();
    assert_int_equal(vow_work_configure(THREADS, 64), 0);
    wt_tmpdir(dir, sizeof(dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_file),
        cmocka_unit_test(test_fd_ops),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_no_readiness),
        cmocka_unit_test(test_withdraw),
        cmocka_unit_test(test_cancel_blocked),
        cmocka_unit_test(test_seams),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    wt_rmdir(dir);
    return r;
}
