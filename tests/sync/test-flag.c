/* SPDX-License-Identifier: MIT */
/*
 * The settable flag: set wakes every waiter in order, a wait on a set flag completes
 * at the next microtask (never synchronously), clear, withdrawn waiters, close, and
 * an idle flag holding nothing (the loop closes with the flag still open).
 */
#include "st.h"

#include "vow/co.h"

struct order {
    int seq[8]; /* which waiter ran, in run order */
    int n;      /* entries used */
};

struct waiter_ctx {
    struct order *o; /* shared log */
    int id;          /* this waiter */
};

static vow_ret log_ok(void *ctx, const vow_val *v)
{
    struct waiter_ctx *w = ctx;
    (void)v;
    w->o->seq[w->o->n++] = w->id;
    return vow_ok(vow_val_none());
}

static void set_wakes_all_in_order(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_flag *f = vow_flag_new(l);
    assert_int_equal(vow_flag_is_set(f), 0);
    struct order o = { { 0 }, 0 };
    struct waiter_ctx w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct waiter_ctx){ &o, i };
        vow_unref(vow_then(vow_flag_wait(f), log_ok, NULL, &w[i]));
    }
    st_turn(l);
    assert_int_equal(o.n, 0);
    assert_int_equal(vow_flag_set(f), 0);
    assert_int_equal(vow_flag_set(f), 0);
    /* Settled now, handlers later. */
    assert_int_equal(o.n, 0);
    st_turn(l);
    assert_int_equal(o.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(o.seq[i], i);
    vow_flag_close(f);
    st_finish(l);
}

static void wait_on_set_flag_is_not_synchronous(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_flag *f = vow_flag_new(l);
    vow_flag_set(f);
    assert_int_equal(vow_flag_is_set(f), 1);
    struct st_seen seen = { 0 };
    vow *p = vow_flag_wait(f);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    st_watch(p, &seen);
    assert_int_equal(seen.ok, 0);
    st_turn(l);
    assert_int_equal(seen.ok, 1);
    /* Cleared: waits wait again. */
    assert_int_equal(vow_flag_clear(f), 0);
    assert_int_equal(vow_flag_is_set(f), 0);
    p = vow_flag_wait(f);
    assert_int_equal(vow_state(p), VOW_PENDING);
    vow_flag_set(f);
    /* A set clear again at once still wakes who waited when it was set. */
    vow_flag_clear(f);
    st_turn(l);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    vow_unref(p);
    vow_flag_close(f);
    st_finish(l);
}

static void withdrawn_waiters(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_flag *f = vow_flag_new(l);
    vow *a = vow_flag_wait(f), *b = vow_flag_wait(f), *c = vow_flag_wait(f);
    struct st_seen seen = { 0 };
    st_watch(vow_timeout(vow_flag_wait(f), 1), &seen);
    /* Cancel one, drop one, time one out: the others still wait. */
    assert_int_equal(vow_cancel(a), 0);
    vow_unref(b);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(seen.code, VOW_ETIMEDOUT);
    assert_int_equal(vow_state(c), VOW_PENDING);
    vow_flag_set(f);
    st_turn(l);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(a);
    vow_unref(c);
    /* Every waiter gone: the idle flag holds no vow, so the loop can close. */
    vow_flag_clear(f);
    vow_unref(vow_flag_wait(f));
    vow *d = vow_flag_wait(f);
    vow_cancel(d);
    vow_unref(d);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_loop_close(l), 0);
    vow_flag_close(f);
    assert_int_equal(tu_live_allocations(), 0);
}

static void close_rejects_waiters(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_flag *f = vow_flag_new(l);
    struct st_seen s1 = { 0 }, s2 = { 0 };
    st_watch(vow_flag_wait(f), &s1);
    st_watch(vow_flag_wait(f), &s2);
    vow_flag_close(f);
    st_turn(l);
    assert_int_equal(s1.code, VOW_ECLOSED);
    assert_int_equal(s2.code, VOW_ECLOSED);
    vow_flag_close(NULL);
    assert_null(vow_flag_new(NULL));
    assert_null(vow_flag_wait(NULL));
    assert_int_equal(vow_flag_set(NULL), VOW_EINVAL);
    assert_int_equal(vow_flag_clear(NULL), VOW_EINVAL);
    assert_int_equal(vow_flag_is_set(NULL), VOW_EINVAL);
    st_finish(l);
}

struct gate {
    vow_flag *f; /* the gate */
    int passed;  /* coroutines through it */
};

static vow_ret co_gate(void *arg)
{
    struct gate *g = arg;
    vow *w = vow_flag_wait(g->f);
    int rc = vow_await(w);
    vow_unref(w);
    if (rc == 0)
        g->passed++;
    return vow_ok(vow_val_num(rc));
}

static void coroutines_and_race(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct gate g = { vow_flag_new(l), 0 };
    vow *co[3];
    for (int i = 0; i < 3; i++)
        co[i] = vow_co_spawn(l, co_gate, &g, NULL);
    st_turn(l);
    assert_int_equal(g.passed, 0);
    /* One of them is cancelled while it waits. */
    vow_cancel(co[1]);
    vow *in[2] = { vow_flag_wait(g.f), vow_delay(l, 1000, vow_val_num(-1)) };
    vow *race = vow_race(l, in, 2);
    vow_flag_set(g.f);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(g.passed, 2);
    assert_int_equal(vow_state(race), VOW_FULFILLED);
    assert_int_equal(vow_value(race)->num, 0);
    vow_unref(race);
    for (int i = 0; i < 3; i++)
        vow_unref(co[i]);
    vow_flag_close(g.f);
    st_finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_wakes_all_in_order),
        cmocka_unit_test(wait_on_set_flag_is_not_synchronous),
        cmocka_unit_test(withdrawn_waiters),
        cmocka_unit_test(close_rejects_waiters),
        cmocka_unit_test(coroutines_and_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
