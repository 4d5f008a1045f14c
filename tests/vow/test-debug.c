/* SPDX-License-Identifier: MIT */
/*
 * The debug aid: built with VOW_DEBUG, vow_loop_close() on a loop with live vows
 * fails with VOW_EBUSY and lists each one with the file:line that created it.
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

/* Runs close with stderr captured; returns close's result, fills buf. */
static int close_captured(vow_loop *l, char *buf, size_t size)
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

static void lists_pending_vows_with_sites(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int line_pending = __LINE__ + 1;
    vow *p = vow_pending(l);
    int line_then = __LINE__ + 1;
    vow *d = vow_then(vow_ref(p), keep, NULL, NULL);
    char buf[4096];
    assert_int_equal(close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    char want[128];
    snprintf(want, sizeof(want), "test-debug.c:%d", line_pending);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), "test-debug.c:%d", line_then);
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "pending"));
    /* Clean up: settle, run, and the close succeeds with nothing listed. */
    vow_resolve(p, vow_val_num(1));
    vow_unref(p);
    vow_unref(d);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(close_captured(l, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lists_pending_vows_with_sites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
