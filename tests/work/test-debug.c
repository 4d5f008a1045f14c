/* SPDX-License-Identifier: MIT */
/*
 * In a VOW_DEBUG build, vow_loop_close() on a loop with a job in flight fails with
 * VOW_EBUSY and names the job's vow with the caller's file:line (VOW_TRACK_SITES),
 * like any other pending vow.
 */
#define VOW_TRACK_SITES 1
#include "work-test.h"

static void test_names_jobs(void **state)
{
    (void)state;
    vow_loop *l = wt_loop_new();
    struct gate g;
    gate_init(&g);
    int line = __LINE__ + 1;
    vow *p = vow_work(l, VOW_WORK_CPU, gate_job, &g, NULL);
    gate_wait_started(&g, 1);
    char buf[4096], want[128];
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    snprintf(want, sizeof(want), "test-debug.c:%d", line);
    if (!strstr(buf, want))
        fail_msg("%s not in: %s", want, buf);
    assert_non_null(strstr(buf, "pending"));
    line = __LINE__ + 1;
    vow *q = vow_getaddrinfo(l, "localhost", NULL, NULL);
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), VOW_EBUSY);
    snprintf(want, sizeof(want), "test-debug.c:%d", line);
    assert_non_null(strstr(buf, want));
    gate_open(&g);
    assert_int_equal(wt_num(l, p), 42);
    wt_wait(l, q);
    vow_unref(q);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(tu_close_captured(l, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tu_live_allocations(), 0);
    gate_destroy(&g);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
