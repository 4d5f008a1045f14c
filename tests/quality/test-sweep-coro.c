/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweep over the coroutine adapter: spawn, await of a delay,
 * sleep and yield, and a coroutine awaiting another. A failed spawn is NULL; a failed
 * wait inside the coroutine is VOW_ENOMEM (or a VOW_ENOMEM rejection of what it
 * awaited), which the body turns into its result; no stack or registry may leak.
 */
#include "sweep.h"

#include "vow/co.h"

static int bodies; /* coroutine bodies that ran to their end */

/* Awaits a delay of 5, then sleeps and yields; returns the value + 1. */
static vow_ret inner(void *arg)
{
    vow_loop *l = arg;
    vow *d = vow_delay(l, 0, vow_val_num(5));
    if (!d) {
        bodies++;
        return vow_fail(VOW_ENOMEM, vow_val_none());
    }
    int r = vow_await(d);
    int64_t v = r == 0 ? vow_value(d)->num : 0;
    if (r == 0 && vow_state(d) != VOW_FULFILLED)
        fail_msg("vow_await returned 0 for a vow that did not fulfil");
    if (r != 0 && vow_state(d) == VOW_REJECTED)
        assert_int_equal(r, vow_code(d));
    vow_unref(d);
    if (r == 0)
        r = vow_co_sleep(0);
    if (r == 0)
        r = vow_co_yield();
    bodies++;
    if (r != 0) {
        assert_int_equal(r, VOW_ENOMEM);
        return vow_fail(r, vow_val_none());
    }
    return vow_ok(vow_val_num(v + 1));
}

/* Spawns inner and awaits it: a coroutine waiting on another's vow. */
static vow_ret outer(void *arg)
{
    vow_loop *l = arg;
    vow *c = vow_co_spawn(l, inner, l, NULL);
    bodies++;
    if (!c)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    int r = vow_await(c);
    if (r == VOW_ENOMEM && vow_state(c) == VOW_PENDING) {
        /* Our wait failed, not inner: let inner finish before we do. Sleeping (not
         * yielding) lets the loop reach inner's timer; a sleep that fails is retried. */
        while (vow_state(c) == VOW_PENDING)
            (void)vow_co_sleep(1);
    }
    vow_ret out = vow_state(c) == VOW_FULFILLED ? vow_ok(vow_val_num(vow_value(c)->num * 10))
                                                : vow_fail(r ? r : VOW_ENOMEM, vow_val_none());
    vow_unref(c);
    return out;
}

static int prog_coro(void *arg)
{
    (void)arg;
    bodies = 0;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *c = vow_co_spawn(l, outer, l, NULL);
    sweep_run(l);
    int complete = sweep_expect(c, 0, 60);
    if (c)
        assert_true(bodies >= 1);
    vow_unref(c);
    assert_int_equal(vow_co_live(l), 0);
    assert_int_equal(vow_co_cancel_all(l), 0);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete && bodies == 2;
}

static void sweep_coro(void **state)
{
    (void)state;
    SWEEP(prog_coro, NULL);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_coro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
