/* SPDX-License-Identifier: MIT */
/*
 * Causal rejection reports (debug builds): an unhandled rejection prints the creation
 * sites of the vows the rejection passed through, nearest first, down to its origin
 * (then -> then -> timeout), through pass-throughs, failing handlers, adoptions and
 * combinators; a long chain keeps its nearest causes and its origin. Built on the
 * library's debug variant; the report goes to stderr, captured here.
 */
#define VOW_TRACK_SITES 1
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static vow_ret keep(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(*v);
}

static vow_ret fail_eio(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)code;
    (void)detail;
    return vow_fail(-5, vow_val_none());
}

static vow *follow_target;

static vow_ret follow(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return vow_follow(follow_target);
}

static char out[16384];

/* Runs l to the end with stderr captured into out. */
static void run_captured(vow_loop *l)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fds[1], 2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
}

/* want: "from", "origin" or "rejected"; the line of this file it must name. */
static const char *expect_line(const char *from, const char *role, int line)
{
    char want[96];
    snprintf(want, sizeof(want), "%s the vow created at %stest-cause.c:%d\n", role, "", line);
    const char *at = from ? strstr(from, role) : NULL;
    for (; at; at = strstr(at + 1, role)) {
        const char *nl = strchr(at, '\n');
        const char *site = strstr(at, "test-cause.c:");
        if (site && nl && site < nl && atoi(site + strlen("test-cause.c:")) == line)
            return nl;
    }
    fail_msg("no \"%s ... test-cause.c:%d\" after the expected lines in:\n%s", role, line, out);
    return NULL;
}

/* then -> then -> timeout: the report names b, then a, then the timeout (origin). */
static void then_then_timeout(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *x = vow_pending(l);
    int line_t = __LINE__ + 1;
    vow *t = vow_timeout(x, 5);
    int line_a = __LINE__ + 1;
    vow *a = vow_then(t, keep, NULL, NULL);
    int line_b = __LINE__ + 1;
    vow *b = vow_then(a, keep, NULL, NULL);
    vow_unref(b);
    run_captured(l);
    const char *p = strstr(out, "unhandled rejection: ETIMEDOUT");
    if (!p)
        fail_msg("no report:\n%s", out);
    p = expect_line(p, "rejected:", line_b);
    p = expect_line(p, "from:", line_a);
    p = expect_line(p, "origin:", line_t);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A failing handler and an adoption are causes too: the handler's source caused its
 * failure. */
static void failure_and_adoption(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int line_r = __LINE__ + 1;
    vow *r = vow_rejected(l, VOW_ECANCELED, vow_val_none());
    int line_f = __LINE__ + 1;
    vow *f = vow_catch(r, fail_eio, NULL);
    int line_q = __LINE__ + 1;
    follow_target = vow_then(f, keep, NULL, NULL);
    vow *start = vow_resolved(l, vow_val_none());
    int line_end = __LINE__ + 1;
    vow *end = vow_then(start, follow, NULL, NULL);
    vow_unref(end);
    run_captured(l);
    const char *p = strstr(out, "unhandled rejection: EIO");
    if (!p)
        fail_msg("no report:\n%s", out);
    p = expect_line(p, "rejected:", line_end);
    p = expect_line(p, "from:", line_q);
    p = expect_line(p, "from:", line_f);
    /* The catch failed while handling r: r is where it started. */
    p = expect_line(p, "origin:", line_r);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* vow_all rejects from its first rejected input. */
static void combinator(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *ok = vow_pending(l);
    int line_bad = __LINE__ + 1;
    vow *bad = vow_rejected(l, -5, vow_val_none());
    vow *ps[2] = {vow_ref(ok), bad};
    int line_all = __LINE__ + 1;
    vow *all = vow_all(l, ps, 2); /* held: dropping it would withdraw it */
    run_captured(l);
    const char *p = strstr(out, "unhandled rejection: EIO");
    if (!p)
        fail_msg("no report:\n%s", out);
    p = expect_line(p, "rejected:", line_all);
    p = expect_line(p, "origin:", line_bad);
    vow_unref(all);
    vow_resolve(ok, vow_val_none());
    vow_unref(ok);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* 30 thens: the 7 nearest causes, a count of those left out (22), and the origin. */
static void long_chain(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int line_origin = __LINE__ + 1;
    vow *p = vow_rejected(l, -5, vow_val_none());
    int line_then = __LINE__ + 2;
    for (int i = 0; i < 30; i++)
        p = vow_then(p, keep, NULL, NULL);
    vow_unref(p);
    run_captured(l);
    const char *at = strstr(out, "unhandled rejection: EIO");
    if (!at)
        fail_msg("no report:\n%s", out);
    at = expect_line(at, "from:", line_then);
    if (!strstr(at, "... 22 more\n"))
        fail_msg("no count of the causes left out:\n%s", out);
    expect_line(at, "origin:", line_origin);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(then_then_timeout),
        cmocka_unit_test(failure_and_adoption),
        cmocka_unit_test(combinator),
        cmocka_unit_test(long_chain),
    };
    return cmocka_run_group_tests_name("cause", tests, NULL, NULL);
}
