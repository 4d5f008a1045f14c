/* SPDX-License-Identifier: MIT */
/*
 * The debug aid: built with VOW_DEBUG, vow_loop_close() on a busy loop fails with
 * VOW_EBUSY and lists on stderr what keeps it busy: handles by kind, keepalives,
 * posts, microtasks, and each live vow with the file:line that created it (also
 * for the io.h constructors), or no site at all for an untracked one.
 */
#define VOW_TRACK_SITES 1
#include "testutil.h"

#include "vow/io.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static vow_ret keep(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(*v);
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
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
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
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tu_live_allocations(), 0);
}

/* Counts the occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = strstr(hay, needle); s; s = strstr(s + 1, needle))
        n++;
    return n;
}

/* An untracked vow made after a tracked one has no site: not the earlier line. */
static void untracked_vow_has_no_stale_line(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int line = __LINE__ + 1;
    vow *tracked = vow_pending(l);
    vow *untracked = (vow_pending)(l); /* the parentheses keep the site macro out */
    char buf[4096], want[64];
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    snprintf(want, sizeof(want), ":%d\n", line);
    if (count(buf, want) != 1)
        fail_msg("line %d listed %d times, not once:\n%s", line, count(buf, want), buf);
    assert_non_null(strstr(buf, "created at an untracked site"));
    assert_non_null(strstr(buf, "2 vows still alive"));
    vow_unref(tracked);
    vow_unref(untracked);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void on_timer(vow_timer *t)
{
    (void)t;
}

static void on_immediate(vow_immediate *im)
{
    (void)im;
}

/* Handles, keepalives and microtasks are listed by kind, with the vows. */
static void lists_handles_by_kind(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow_timer t1, t2;
    vow_immediate im;
    assert_int_equal(vow_timer_init(l, &t1, on_timer), 0);
    assert_int_equal(vow_timer_init(l, &t2, on_timer), 0);
    assert_int_equal(vow_immediate_init(l, &im, on_immediate), 0);
    assert_int_equal(vow_timer_start(&t1, 10000, 0), 0);
    assert_int_equal(vow_timer_start(&t2, 20000, 0), 0);
    assert_int_equal(vow_immediate_start(&im), 0);
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    char byte;
    int line_read = __LINE__ + 1;
    vow *rd = vow_read(l, fds[0], &byte, 1);
    int line_delay = __LINE__ + 1;
    vow *d = vow_delay(l, 30000, vow_val_none());
    char buf[8192], want[160];
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    /* The read watches one fd; vow_delay runs a third timer. */
    const char *kinds[] = {"5 active handles",  "fd watchers 1",     "timers 3",
                           "immediates 1",      "signal watchers 0", "child watchers 0",
                           "keepalives 1",      "posts pending 0",   "microtasks queued 0",
                           "2 vows still alive"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strstr(buf, kinds[i]))
            fail_msg("no \"%s\" in:\n%s", kinds[i], buf);
    snprintf(want, sizeof(want), "test-debug.c:%d\n", line_read);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), "test-debug.c:%d\n", line_delay);
    assert_non_null(strstr(buf, want));
    /* Nothing but the keepalive left: the reactor alone is listed. */
    vow_unref(rd);
    vow_unref(d);
    vow_timer_stop(&t1);
    vow_timer_stop(&t2);
    vow_immediate_stop(&im);
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    assert_non_null(strstr(buf, "0 active handles"));
    assert_non_null(strstr(buf, "keepalives 1"));
    assert_null(strstr(buf, "vows still alive"));
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lists_pending_vows_with_sites),
        cmocka_unit_test(untracked_vow_has_no_stale_line),
        cmocka_unit_test(lists_handles_by_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
