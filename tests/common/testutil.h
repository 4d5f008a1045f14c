/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers: a counting allocator with failure injection (installed through
 * vow_replace_allocator), so every test can end with "0 live allocations", waiting
 * for a vow, allocation-failure sweeps, and the cmocka includes in the order cmocka
 * needs.
 */
#ifndef VOW_TESTUTIL_H
#define VOW_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>

#include "vow.h"

/* Live allocations made through libvow, and the failure trigger: when fail_at > 0,
 * the fail_at-th allocation from now on returns NULL (once). */
static atomic_long tu_live;
static atomic_long tu_count;
static atomic_long tu_fail_at;

static void *tu_fail_check(void)
{
    long n = atomic_fetch_add(&tu_count, 1) + 1;
    long k = atomic_load(&tu_fail_at);
    if (k > 0 && n == k)
        return NULL;
    return (void *)1;
}

static void *tu_malloc(size_t n)
{
    if (!tu_fail_check())
        return NULL;
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&tu_live, 1);
    return p;
}

static void *tu_calloc(size_t c, size_t n)
{
    if (!tu_fail_check())
        return NULL;
    void *p = calloc(c, n);
    if (p)
        atomic_fetch_add(&tu_live, 1);
    return p;
}

static void *tu_realloc(void *old, size_t n)
{
    if (!tu_fail_check())
        return NULL;
    void *p = realloc(old, n);
    if (p && !old)
        atomic_fetch_add(&tu_live, 1);
    return p;
}

static void tu_free(void *p)
{
    if (p)
        atomic_fetch_sub(&tu_live, 1);
    free(p);
}

/* Call once in main() before any loop exists. */
static inline void tu_install_allocator(void)
{
    int r = vow_replace_allocator(tu_malloc, tu_realloc, tu_calloc, tu_free);
    (void)r;
}

static inline long tu_live_allocations(void)
{
    return atomic_load(&tu_live);
}

/* Fail the k-th allocation from now (k >= 1); 0 disarms. */
static inline void tu_fail_nth(long k)
{
    atomic_store(&tu_count, 0);
    atomic_store(&tu_fail_at, k);
}

/* How many allocations were made since the last tu_fail_nth(). */
static inline long tu_alloc_count(void)
{
    return atomic_load(&tu_count);
}

/* -------------------------------------------------------------- waiting */

/* A silent unhandled-rejection hook, for tests that read rejections by polling
 * vow_state rather than through handlers. */
static inline void tu_quiet(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    (void)event;
}

/* Runs l until p is no longer pending; fails the test if the loop runs dry first. */
static inline void tu_wait(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING) {
        int r = vow_loop_run(l, VOW_RUN_ONCE);
        assert_true(r >= 0);
        if (r == 0 && vow_state(p) == VOW_PENDING)
            fail_msg("loop ran dry with the vow still pending");
    }
}

/* Waits for p (tu_wait), checks it fulfilled, returns its number and drops p. */
static inline int64_t tu_num(vow_loop *l, vow *p)
{
    assert_non_null(p);
    tu_wait(l, p);
    if (vow_state(p) != VOW_FULFILLED)
        fail_msg("rejected: %s", vow_err_name(vow_code(p)));
    int64_t n = vow_value(p)->num;
    vow_unref(p);
    return n;
}

/* Waits for p (tu_wait), returns its rejection code (0 if it fulfilled), drops p. */
static inline int tu_code(vow_loop *l, vow *p)
{
    assert_non_null(p);
    tu_wait(l, p);
    int c = vow_code(p);
    vow_unref(p);
    return c;
}

/* ------------------------------------------------------------ death tests */

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Runs fn(arg) in a child process (fork) with its stderr captured, and fails the test
 * unless the child died of SIGABRT with every string of want (NULL-terminated) on its
 * stderr. fn must do all its work itself (its own loop); the parent's state is
 * untouched. Returns the captured text (valid until the next call); it is printed
 * when a check fails.
 */
typedef void (*tu_death_fn)(void *arg);

/* gcc's coverage runtime, when linked (coverage builds): the child saves its counts
 * before it aborts, which skips the exit handlers that would save them. */
extern void __gcov_dump(void) __attribute__((weak));
static inline void tu_abort_dump(int sig)
{
    __gcov_dump();
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline const char *tu_expect_abort(tu_death_fn fn, void *arg, const char *const *want)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        signal(SIGABRT, __gcov_dump ? tu_abort_dump : SIG_DFL);
        fn(arg);
        _exit(0); /* the misuse went unnoticed */
    }
    close(fds[1]);
    static char out[16384];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], out + len, sizeof(out) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(out) - 1) {
            /* Keep draining so the child never blocks on a full pipe. */
            char sink[4096];
            while (read(fds[0], sink, sizeof(sink)) > 0) {
            }
            break;
        }
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("the child did not abort (%s %d); its stderr:\n%s",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), out);
    for (; *want; want++)
        if (!strstr(out, *want))
            fail_msg("the child's stderr lacks \"%s\":\n%s", *want, out);
    return out;
}

/* Runs vow_loop_close(l) with stderr captured into buf (up to size - 1 bytes, NUL
 * terminated): what a busy close prints. Returns close's result. */
static inline int tu_close_captured(vow_loop *l, char *buf, size_t size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fds[1], 2);
    int rc = vow_loop_close(l);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], buf, size - 1);
    close(fds[0]);
    buf[n > 0 ? n : 0] = '\0';
    return rc;
}

/* ------------------------------------------------------------------ sweeps */

#include <dirent.h>

/* The number of open fds of this process (a leak shows as a difference). */
static inline long tu_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

/*
 * A sweep program runs one complete scenario on a loop of its own and closes it. It
 * makes its own checks with cmocka assertions and returns 1 if everything succeeded
 * (the result a run without failures must give), 0 if some step met an injected
 * failure and stopped early (NULL, VOW_ENOMEM or a rejection).
 */
typedef int (*tu_program_fn)(void *arg);

/*
 * Allocation-failure sweep: runs program once without failures (it must
 * complete), then again failing the 1st, 2nd, 3rd ... allocation, until a run
 * completes without reaching the failing one. After every run: no live allocation and
 * as many open fds as after the first run (lazily opened process-wide fds are made
 * by then). Returns the number of allocation points swept.
 */
static inline long tu_sweep(tu_program_fn program, void *arg)
{
    tu_fail_nth(0);
    assert_int_equal(program(arg), 1);
    assert_int_equal(tu_live_allocations(), 0);
    long clean = tu_alloc_count();
    long fds = tu_open_fds();
    long k;
    for (k = 1;; k++) {
        tu_fail_nth(k);
        int complete = program(arg);
        long made = tu_alloc_count();
        tu_fail_nth(0);
        if (tu_live_allocations() != 0)
            fail_msg("%ld allocations live after failing allocation %ld", tu_live_allocations(),
                     k);
        if (tu_open_fds() != fds)
            fail_msg("%ld fds open after failing allocation %ld, %ld before", tu_open_fds(), k,
                     fds);
        if (made < k) {
            /* Nothing failed this time: the run must have done everything. */
            assert_int_equal(complete, 1);
            break;
        }
        /* A program that allocates without end would never stop the sweep. */
        assert_true(k <= 4 * clean + 1000);
    }
    return k - 1;
}

#endif /* VOW_TESTUTIL_H */
