/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the allocation-failure sweeps: a quiet loop, running it dry, and
 * the one rule every result is held to: the expected outcome, or a
 * failure that says "out of memory" (NULL or VOW_ENOMEM).
 */
#ifndef VOW_SWEEP_H
#define VOW_SWEEP_H

#include "testutil.h"

/* A loop with a silent unhandled-rejection hook, or NULL if either allocation failed
 * (nothing is left behind then). */
static inline vow_loop *sweep_loop_new(void)
{
    vow_loop *l = vow_loop_new();
    if (!l)
        return NULL;
    int r = vow_loop_set_unhandled(l, tu_quiet, NULL);
    if (r != 0) {
        assert_int_equal(r, VOW_ENOMEM);
        assert_int_equal(vow_loop_close(l), 0);
        return NULL;
    }
    return l;
}

/* Runs l until nothing is left; a loop error is a test failure. */
static inline void sweep_run(vow_loop *l)
{
    int r = vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_true(r >= 0);
}

/*
 * Checks a settled vow against the expected outcome (code 0: fulfilled with num;
 * code < 0: rejected with code). Returns 1 on the expected outcome, 0 if p is NULL or
 * rejected with VOW_ENOMEM (an injected failure); anything else fails the test.
 * Does not consume p.
 */
static inline int sweep_expect(const vow *p, int code, int64_t num)
{
    if (!p)
        return 0;
    int st = vow_state(p);
    if (st == VOW_PENDING)
        fail_msg("vow still pending");
    if (code == 0 && st == VOW_FULFILLED) {
        assert_int_equal(vow_value(p)->num, num);
        return 1;
    }
    assert_int_equal(st, VOW_REJECTED);
    if (vow_code(p) == code)
        return 1;
    if (vow_code(p) != VOW_ENOMEM)
        fail_msg("rejected with %s, expected %s or VOW_ENOMEM", vow_err_name(vow_code(p)),
                 code ? vow_err_name(code) : "fulfilment");
    return 0;
}

/* Like sweep_expect, for outcomes whose value is not a number: 1 if p settled as
 * state (VOW_FULFILLED, or VOW_REJECTED with any code but VOW_ENOMEM), 0 if p is NULL
 * or rejected with VOW_ENOMEM; anything else fails the test. */
static inline int sweep_settled(const vow *p, int state)
{
    if (!p)
        return 0;
    if (vow_state(p) == state && !(state == VOW_REJECTED && vow_code(p) == VOW_ENOMEM))
        return 1;
    if (vow_state(p) != VOW_REJECTED || vow_code(p) != VOW_ENOMEM)
        fail_msg("vow in state %d (%s), expected %d or VOW_ENOMEM", vow_state(p),
                 vow_err_name(vow_code(p)), state);
    return 0;
}

/* An int result: 1 for want, 0 for VOW_ENOMEM, a test failure otherwise. */
static inline int sweep_rc(int r, int want)
{
    if (r == want)
        return 1;
    if (r != VOW_ENOMEM)
        fail_msg("got %s, expected %s or VOW_ENOMEM", vow_err_name(r), vow_err_name(want));
    return 0;
}

/* Runs one sweep and reports how many allocation points it covered. */
#define SWEEP(program, arg)                                                                        \
    do {                                                                                           \
        long n_ = tu_sweep(program, arg);                                                          \
        print_message("# %s: %ld allocation points\n", #program, n_);                              \
        assert_true(n_ >= 1);                                                                      \
    } while (0)

#endif /* VOW_SWEEP_H */
