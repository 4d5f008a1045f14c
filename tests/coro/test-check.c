/* SPDX-License-Identifier: MIT */
/*
 * The copy-stack mode's debug check (adapters/coro/check.h, built with VOW_DEBUG):
 * a pointer to a local of a suspended copy-stack coroutine, used from a then
 * handler, from a coroutine with its own stack, or from the code that runs the loop,
 * faults at the use and names the mistake on stderr, in a forked child. A pointer
 * the coroutine uses itself, after it resumed, is fine.
 */
#include "testutil.h"

#include "vow/co.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const vow_co_opts COPY = { .flags = VOW_CO_COPY_STACK };

static volatile int *leaked;   /* &local of the copy-stack coroutine */
static vow *gate;              /* what it waits on */
static int own_use;            /* what it read through its own pointer after resuming */

static vow_ret co_leaks(void *arg)
{
    volatile int local = 42;
    (void)arg;
    leaked = &local;
    int rc = vow_await(gate);
    own_use = *leaked;
    return vow_ok(vow_val_num(rc + local));
}

static vow_ret read_leaked(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(*leaked + v->num));
}

static vow_ret co_reads(void *arg)
{
    (void)arg;
    return vow_ok(vow_val_num(*leaked));
}

enum { FROM_HANDLER, FROM_COROUTINE, FROM_LOOP_CODE };

/* The child: a copy-stack coroutine parks, then someone else reads its local. */
static void child(int how)
{
    /* The test runner catches SIGSEGV to report crashes; here the crash is the point. */
    signal(SIGSEGV, SIG_DFL);
    vow_loop *l = vow_loop_new();
    if (!l)
        _exit(2);
    gate = vow_pending(l);
    vow *c = vow_co_spawn(l, co_leaks, NULL, &COPY);
    if (!c || vow_loop_run(l, VOW_RUN_NOWAIT) < 0 || !leaked)
        _exit(2);
    if (how == FROM_HANDLER) {
        vow *d = vow_then(vow_resolved(l, vow_val_num(1)), read_leaked, NULL, NULL);
        vow_loop_run(l, VOW_RUN_NOWAIT);
        vow_unref(d);
    } else if (how == FROM_COROUTINE) {
        vow *r = vow_co_spawn(l, co_reads, NULL, NULL);
        vow_loop_run(l, VOW_RUN_NOWAIT);
        vow_unref(r);
    } else {
        printf("%d\n", *leaked);
    }
    _exit(0); /* not reached when the check works */
}

/* Runs the child with its stderr in a pipe; returns its wait status, and what it
 * wrote in out. */
static int run_child(int how, char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        child(how);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void expect_caught(int how)
{
    char out[4096];
    int status = run_child(how, out, sizeof(out));
    if (!strstr(out, "suspended copy-stack coroutines"))
        fail_msg("no message from the check (status %#x); stderr: %s", (unsigned)status, out);
    /* The fault goes on to the previous handler: the default action, or a
     * sanitizer's report. */
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!getenv("VOW_UNDER_VALGRIND") && !strstr(out, "AddressSanitizer")) {
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSEGV);
    }
}

static void from_handler(void **state)
{
    (void)state;
    expect_caught(FROM_HANDLER);
}

static void from_separate_coroutine(void **state)
{
    (void)state;
    expect_caught(FROM_COROUTINE);
}

static void from_loop_code(void **state)
{
    (void)state;
    expect_caught(FROM_LOOP_CODE);
}

/* The coroutine's own use of its pointer, after it resumed, is fine. */
static void own_use_is_fine(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    gate = vow_pending(l);
    leaked = NULL;
    own_use = 0;
    vow *c = vow_co_spawn(l, co_leaks, NULL, &COPY);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_resolve(gate, vow_val_none()), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(own_use, 42);
    assert_int_equal(vow_value(c)->num, 42);
    vow_unref(c);
    vow_unref(gate);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(from_handler),
        cmocka_unit_test(from_separate_coroutine),
        cmocka_unit_test(from_loop_code),
        cmocka_unit_test(own_use_is_fine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
