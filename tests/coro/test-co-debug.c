/* SPDX-License-Identifier: MIT */
/*
 * The coroutine adapter on the library's debug variant (VOW_DEBUG): vow_co_self() is
 * borrowed, so an unref of it from a coroutine that holds no reference of its own
 * aborts at that call with the call's file:line (a child process checks it), while
 * a vow_ref'd copy may be dropped; vow_co_spawn records its caller's site
 * (VOW_TRACK_SITES), which a refused vow_loop_close lists.
 */
#define VOW_TRACK_SITES 1
#include "testutil.h"

#include "vow/co.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vow_ret unref_self(void *arg)
{
    (void)arg;
    /* The child names the faulty line on stderr right before the call. */
    fprintf(stderr, "fault at line %d\n", __LINE__ + 1);
    vow_unref(vow_co_self());
    return vow_ok(vow_val_none());
}

/* The spawner drops its reference (fire and forget): the coroutine's own is all. */
static void unref_self_child(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow_unref(vow_co_spawn(l, unref_self, NULL, NULL));
    vow_loop_run(l, VOW_RUN_DEFAULT);
}

static void unref_of_co_self_aborts(void **state)
{
    (void)state;
    const char *want[] = {"libvow: misuse: vow_unref(", "holds no reference", "vow_co_self()",
                          "fault at line ", NULL};
    const char *out = tu_expect_abort(unref_self_child, NULL, want);
    char site[64];
    snprintf(site, sizeof(site), "test-co-debug.c:%d: ",
             atoi(strstr(out, "fault at line ") + strlen("fault at line ")));
    if (!strstr(out, site))
        fail_msg("the message lacks the site \"%s\":\n%s", site, out);
}

static vow_ret ref_and_unref_self(void *arg)
{
    int *ran = arg;
    vow *me = vow_ref(vow_co_self());
    assert_int_equal(vow_co_yield(), 0);
    vow_unref(me);
    ++*ran;
    return vow_ok(vow_val_num(5));
}

/* The correct use: a reference of one's own may be dropped, with or without the
 * spawner's. */
static void own_reference_of_co_self(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int ran = 0;
    vow *p = vow_co_spawn(l, ref_and_unref_self, &ran, NULL);
    vow_unref(vow_co_spawn(l, ref_and_unref_self, &ran, NULL));
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(ran, 2);
    assert_int_equal(vow_value(p)->num, 5);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static vow_ret wait_forever(void *arg)
{
    return vow_await(arg) == VOW_ECANCELED ? vow_ok(vow_val_none()) : vow_pass();
}

static void spawn_site_is_listed(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *gate = vow_pending(l);
    int line = __LINE__ + 1;
    vow *p = vow_co_spawn(l, wait_forever, gate, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), 0);
    char buf[8192], want[64];
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    snprintf(want, sizeof(want), "test-co-debug.c:%d\n", line);
    if (!strstr(buf, want))
        fail_msg("no \"%s\" in:\n%s", want, buf);
    assert_int_equal(vow_co_cancel_all(l), 1);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    vow_unref(p);
    vow_unref(gate);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unref_of_co_self_aborts),
        cmocka_unit_test(own_reference_of_co_self),
        cmocka_unit_test(spawn_site_is_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
