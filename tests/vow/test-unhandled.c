/* SPDX-License-Identifier: MIT */
/*
 * Unhandled rejections: reported at the end of the microtask checkpoint in which
 * they happened, "handled after all" when a handler comes later, dropped ones too,
 * cancellations never; the default hook writes one line on stderr.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct seen {
    int unhandled;   /* VOW_UNHANDLED events */
    int late;        /* VOW_HANDLED_LATE events */
    int last_code;   /* code of the last vow reported */
};

static void on_event(void *ctx, vow *p, int event)
{
    struct seen *s = ctx;
    if (event == VOW_UNHANDLED)
        s->unhandled++;
    else if (event == VOW_HANDLED_LATE)
        s->late++;
    s->last_code = vow_code(p);
}

static vow_ret swallow(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)code;
    (void)d;
    return vow_ok(vow_val_num(0));
}

static vow_ret identity(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(*v);
}

static vow_loop *loop_with_hook(struct seen *s)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    vow_loop_set_unhandled(l, on_event, s);
    return l;
}

static void finish(vow_loop *l)
{
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void reported_once_at_checkpoint(void **state)
{
    (void)state;
    struct seen s = { 0 };
    vow_loop *l = loop_with_hook(&s);
    vow *p = vow_rejected(l, -EIO, vow_val_none());
    assert_int_equal(s.unhandled, 0); /* not before the checkpoint */
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(s.unhandled, 1);
    assert_int_equal(s.last_code, -EIO);
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(s.unhandled, 1);
    vow_unref(p);
    finish(l);
}

static void handler_in_same_tick_is_not_reported(void **state)
{
    (void)state;
    struct seen s = { 0 };
    vow_loop *l = loop_with_hook(&s);
    vow *p = vow_pending(l);
    vow_reject(p, -EIO, vow_val_none());
    vow *d = vow_catch(p, swallow, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(s.unhandled, 0);
    assert_int_equal(vow_state(d), VOW_FULFILLED);
    vow_unref(d);
    finish(l);
}

static void late_handler_is_reported_handled(void **state)
{
    (void)state;
    struct seen s = { 0 };
    vow_loop *l = loop_with_hook(&s);
    vow *p = vow_rejected(l, -EPIPE, vow_val_none());
    vow_loop_run(l, VOW_RUN_NOWAIT);
    assert_int_equal(s.unhandled, 1);
    vow *d = vow_catch(vow_ref(p), swallow, NULL);
    vow *d2 = vow_catch(p, swallow, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(s.late, 1);
    assert_int_equal(s.last_code, -EPIPE);
    vow_unref(d);
    vow_unref(d2);
    finish(l);
}

static void dropped_rejection_is_reported(void **state)
{
    (void)state;
    struct seen s = { 0 };
    vow_loop *l = loop_with_hook(&s);
    vow *p = vow_pending(l);
    vow_reject(p, -ENOENT, vow_val_none());
    vow_unref(p);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(s.unhandled, 1);
    assert_int_equal(s.last_code, -ENOENT);
    finish(l);
}

static void chain_reports_its_end_only(void **state)
{
    (void)state;
    struct seen s = { 0 };
    vow_loop *l = loop_with_hook(&s);
    /* then without a rejection handler: the source is handled, the end is not. */
    vow *d = vow_then(vow_then(vow_rejected(l, -EIO, vow_val_none()), identity, NULL, NULL),
                      identity, NULL, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(s.unhandled, 1);
    assert_int_equal(vow_code(d), -EIO);
    vow_unref(d);
    finish(l);
}

static void cancellation_is_not_reported(void **state)
{
    (void)state;
    struct seen s = { 0 };
    vow_loop *l = loop_with_hook(&s);
    vow *p = vow_pending(l);
    vow_cancel(p);
    vow *d = vow_then(vow_delay(l, 60000, vow_val_num(0)), identity, NULL, NULL);
    vow_cancel(d);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(s.unhandled, 0);
    vow_unref(p);
    vow_unref(d);
    finish(l);
}

static void default_hook_writes_one_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fds[1], 2);
    vow_loop *l = vow_loop_new();
    vow_unref(vow_rejected(l, VOW_ECYCLE, vow_val_none()));
    vow_loop_run(l, VOW_RUN_DEFAULT);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    char buf[512] = { 0 };
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "unhandled rejection"));
    assert_non_null(strstr(buf, "VOW_ECYCLE"));
    assert_int_equal(buf[n - 1], '\n');
    /* One line; a debug build adds the causal trail, each of its lines indented under
     * the first. */
    for (char *nl = strchr(buf, '\n'); nl < buf + n - 1; nl = strchr(nl + 1, '\n'))
        assert_int_equal(strncmp(nl + 1, "libvow:   ", 10), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reported_once_at_checkpoint),
        cmocka_unit_test(handler_in_same_tick_is_not_reported),
        cmocka_unit_test(late_handler_is_reported_handled),
        cmocka_unit_test(dropped_rejection_is_reported),
        cmocka_unit_test(chain_reports_its_end_only),
        cmocka_unit_test(cancellation_is_not_reported),
        cmocka_unit_test(default_hook_writes_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
