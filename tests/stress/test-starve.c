/* SPDX-License-Identifier: MIT */
/*
 * Work that never waits must not starve the loop (the fairness slice): a coroutine
 * that loops on vow_await of already-settled vows (rejected ones, which sit on the
 * unhandled list until handled), and a chain whose handler adopts a settled vow and
 * chains again, each run until a 10 ms libvow timer fires. Without the slice the
 * timer never fires and, for the rejections, memory grows without bound: each
 * program fails fast on either (an iteration cap, an RSS cap) instead of hanging.
 */
#include "stress.h"

#include "vow/co.h"

/* Far beyond what 10 ms allows on any machine: reaching it means starvation. */
#define MAX_ITER 200000000L
/* Resident growth that means the unhandled list (or anything else) keeps growing. */
#define MAX_GROWTH_KB (256L * 1024)

struct spin {
    vow_loop *l; /* the loop */
    int fired;   /* the timer ran */
    long iter;   /* iterations done */
    long rss0;   /* resident KiB at the start */
    long peak;   /* most resident KiB seen */
    int runaway; /* a cap was reached */
};

static void on_timer(vow_timer *t)
{
    ((struct spin *)t->data)->fired = 1;
}

/* Samples memory every 4096 iterations; 1 when a cap is reached. */
static int over_cap(struct spin *s)
{
    if (++s->iter % 4096)
        return 0;
    long rss = stress_rss_kb();
    if (rss > s->peak)
        s->peak = rss;
    if (s->iter > MAX_ITER || rss - s->rss0 > MAX_GROWTH_KB) {
        s->runaway = 1;
        return 1;
    }
    return 0;
}

static vow_ret co_spin(void *arg)
{
    struct spin *s = arg;
    while (!s->fired) {
        vow *p = s->iter % 2 ? vow_rejected(s->l, VOW_EUSER, vow_val_num(s->iter))
                             : vow_resolved(s->l, vow_val_num(s->iter));
        if (!p)
            return vow_fail(VOW_ENOMEM, vow_val_none());
        int rc = vow_await(p);
        vow_unref(p);
        if (rc != (s->iter % 2 ? VOW_EUSER : 0))
            return vow_fail(VOW_ESTATE, vow_val_none());
        if (over_cap(s))
            break;
    }
    return vow_ok(vow_val_num(s->iter));
}

static void start_timer(struct spin *s, vow_timer *t)
{
    assert_int_equal(vow_timer_init(s->l, t, on_timer), 0);
    t->data = s;
    assert_int_equal(vow_timer_start(t, 10, 0), 0);
    s->rss0 = s->peak = stress_rss_kb();
}

static void test_coroutine_awaits_settled(void **state)
{
    struct spin s = {.l = vow_loop_new()};
    assert_non_null(s.l);
    vow_timer t;
    start_timer(&s, &t);
    vow *co = vow_co_spawn(s.l, co_spin, &s, NULL);
    assert_non_null(co);
    while (vow_loop_run(s.l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_code(co), 0);
    vow_unref(co);
    stress_report("starve/coroutine",
                  "%ld awaits of settled vows before a 10 ms timer fired, "
                  "resident +%ld KiB: %s",
                  s.iter, s.peak - s.rss0, s.runaway ? "STARVED" : "ok");
    assert_false(s.runaway);
    assert_true(s.fired);
    assert_int_equal(vow_loop_close(s.l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static vow_ret chain_step(void *ctx, const vow_val *v);

static vow_ret chain_caught(void *ctx, int code, const vow_val *detail)
{
    return chain_step(ctx, detail);
}

/* Adopts a settled vow (resolved or rejected, by turns) and chains on it again. */
static vow_ret chain_step(void *ctx, const vow_val *v)
{
    struct spin *s = ctx;
    if (s->fired || over_cap(s))
        return vow_ok(vow_val_num(v->num));
    vow *next = s->iter % 2 ? vow_rejected(s->l, VOW_EUSER, vow_val_num(v->num + 1))
                            : vow_resolved(s->l, vow_val_num(v->num + 1));
    if (!next)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    return vow_follow(vow_then(next, chain_step, chain_caught, s));
}

static void test_chain_adopts_settled(void **state)
{
    struct spin s = {.l = vow_loop_new()};
    assert_non_null(s.l);
    vow_timer t;
    start_timer(&s, &t);
    vow *c = vow_then(vow_resolved(s.l, vow_val_num(0)), chain_step, NULL, &s);
    assert_non_null(c);
    while (vow_loop_run(s.l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(c);
    stress_report("starve/chain",
                  "%ld adoptions of settled vows before a 10 ms timer fired, "
                  "resident +%ld KiB: %s",
                  s.iter, s.peak - s.rss0, s.runaway ? "STARVED" : "ok");
    assert_false(s.runaway);
    assert_true(s.fired);
    assert_int_equal(vow_loop_close(s.l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coroutine_awaits_settled),
        cmocka_unit_test(test_chain_adopts_settled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
