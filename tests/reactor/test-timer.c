/* SPDX-License-Identifier: MIT */
/*
 * Timers: deadline order, start order for equal deadlines, repeat, never before the
 * deadline on the loop clock, stop and restart from callbacks, a zero timeout started
 * from a callback waiting for the next phase, freeing in the callback, and ENOMEM.
 */
#include "rt.h"

#include <limits.h>
#include <stdlib.h>

struct tctx {
    vow_loop *l;        /* the loop */
    struct rt_trace tr; /* firing order */
    int count;          /* callbacks */
    vow_timer *other;   /* a sibling to act on */
};

struct labelled {
    vow_timer t;        /* the timer */
    const char *label;  /* recorded when it fires */
    uint64_t due;       /* earliest loop time it may fire */
    struct tctx *c;     /* shared context */
};

static void labelled_fire(vow_timer *t)
{
    struct labelled *x = vow__container_of(t, struct labelled, t);
    assert_true(vow_loop_now(x->c->l) >= x->due);
    rt_mark(&x->c->tr, x->label);
    x->c->count++;
}

static void start_labelled(struct tctx *c, struct labelled *x, const char *label, uint64_t ms)
{
    assert_int_equal(vow_timer_init(c->l, &x->t, labelled_fire), 0);
    x->label = label;
    x->c = c;
    x->due = vow_loop_now(c->l) + ms;
    assert_int_equal(vow_timer_start(&x->t, ms, 0), 0);
}

static void test_order(void **state)
{
    struct tctx c = { .l = rt_new() };
    struct labelled a, b, d;
    start_labelled(&c, &a, "30", 30);
    start_labelled(&c, &b, "10", 10);
    start_labelled(&c, &d, "20", 20);
    while (rt_turn(c.l, VOW_RUN_ONCE))
        ;
    assert_string_equal(c.tr.buf, "10,20,30");
    rt_end(c.l);
}

static void test_same_deadline(void **state)
{
    struct tctx c = { .l = rt_new() };
    struct labelled x[8];
    static const char *names[8] = { "0", "1", "2", "3", "4", "5", "6", "7" };
    /* Restarting timer 0 last moves it behind the others. */
    for (int i = 0; i < 8; i++)
        start_labelled(&c, &x[i], names[i], 3);
    assert_int_equal(vow_timer_start(&x[0].t, 3, 0), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_DEFAULT), 0);
    assert_string_equal(c.tr.buf, "1,2,3,4,5,6,7,0");
    rt_end(c.l);
}

struct rep {
    vow_loop *l;    /* the loop */
    uint64_t last;  /* loop time of the previous call */
    int count;      /* calls */
};

static void rep_fire(vow_timer *t)
{
    struct rep *r = t->data;
    uint64_t now = vow_loop_now(r->l);
    assert_true(now >= r->last + 2);
    r->last = now;
    if (++r->count == 5)
        assert_int_equal(vow_timer_stop(t), 0);
}

static void test_repeat(void **state)
{
    vow_loop *l = rt_new();
    struct rep r = { l, vow_loop_now(l), 0 };
    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, rep_fire), 0);
    t.data = &r;
    assert_int_equal(vow_timer_start(&t, 2, 2), 0);
    while (rt_turn(l, VOW_RUN_ONCE))
        ;
    assert_int_equal(r.count, 5);
    assert_int_equal(vow_loop_alive(l), 0);
    rt_end(l);
}

static void restart_self(vow_timer *t)
{
    struct tctx *c = t->data;
    if (++c->count < 3)
        assert_int_equal(vow_timer_start(t, 1, 0), 0);
}

static void stop_sibling(vow_timer *t)
{
    struct tctx *c = t->data;
    c->count++;
    assert_int_equal(vow_timer_stop(c->other), 0);
    assert_int_equal(vow_timer_stop(c->other), 0);
}

static void must_not_run(vow_timer *t)
{
    fail_msg("a stopped timer ran");
}

static void test_stop_restart_in_callback(void **state)
{
    struct tctx c = { .l = rt_new() };
    vow_timer t;
    assert_int_equal(vow_timer_init(c.l, &t, restart_self), 0);
    t.data = &c;
    assert_int_equal(vow_timer_start(&t, 0, 0), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(c.count, 3);

    /* Both due in the same phase; the first stops the second. */
    vow_timer s1, s2;
    c.count = 0;
    c.other = &s2;
    assert_int_equal(vow_timer_init(c.l, &s1, stop_sibling), 0);
    assert_int_equal(vow_timer_init(c.l, &s2, must_not_run), 0);
    s1.data = &c;
    assert_int_equal(vow_timer_start(&s1, 1, 0), 0);
    assert_int_equal(vow_timer_start(&s2, 1, 0), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(c.count, 1);
    /* A repeating timer stopped from its own callback stays stopped. */
    assert_int_equal(vow_timer_stop(&s1), 0);
    rt_end(c.l);
}

static void zero_again(vow_timer *t)
{
    struct tctx *c = t->data;
    c->count++;
    assert_int_equal(vow_timer_start(t, 0, 0), 0);
}

/* A zero timeout started from a timer callback runs in the next phase, not this one. */
static void test_zero_in_callback(void **state)
{
    struct tctx c = { .l = rt_new() };
    vow_timer t;
    assert_int_equal(vow_timer_init(c.l, &t, zero_again), 0);
    t.data = &c;
    assert_int_equal(vow_timer_start(&t, 0, 0), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.count, 1);
    assert_int_equal(rt_turn(c.l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(c.count, 2);
    assert_int_equal(vow_timer_stop(&t), 0);
    rt_end(c.l);
}

static void free_self(vow_timer *t)
{
    int *n = t->data;
    (*n)++;
    assert_int_equal(vow_timer_stop(t), 0);
    free(t);
}

static void test_free_in_callback(void **state)
{
    vow_loop *l = rt_new();
    int n = 0;
    for (int i = 0; i < 4; i++) {
        vow_timer *t = malloc(sizeof(*t));
        assert_non_null(t);
        assert_int_equal(vow_timer_init(l, t, free_self), 0);
        t->data = &n;
        assert_int_equal(vow_timer_start(t, (uint64_t)i % 2, 1), 0);
    }
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(n, 4);
    rt_end(l);
}

struct many {
    vow_timer t;      /* the timer */
    unsigned idx;     /* start order */
    uint64_t ms;      /* timeout */
    unsigned *last;   /* index of the previous timer that fired, or UINT_MAX */
    struct many *all; /* the array */
    int *fired;       /* count */
};

static void many_fire(vow_timer *t)
{
    struct many *m = vow__container_of(t, struct many, t);
    if (*m->last != (unsigned)-1) {
        struct many *p = &m->all[*m->last];
        assert_true(p->ms < m->ms || (p->ms == m->ms && p->idx < m->idx));
    }
    *m->last = m->idx;
    (*m->fired)++;
}

/* Pseudo-random deadlines and stops from the middle of the heap keep the order. */
static void test_many(void **state)
{
    vow_loop *l = rt_new();
    enum { N = 1000 };
    struct many *m = calloc(N, sizeof(*m));
    unsigned last = (unsigned)-1;
    int fired = 0, stopped = 0;
    assert_non_null(m);
    for (unsigned i = 0; i < N; i++) {
        m[i] = (struct many){ .idx = i, .ms = (i * 7919u) % 13u, .last = &last, .all = m,
                              .fired = &fired };
        assert_int_equal(vow_timer_init(l, &m[i].t, many_fire), 0);
        assert_int_equal(vow_timer_start(&m[i].t, m[i].ms, 0), 0);
    }
    assert_int_equal(vow__loop_verify(l), 0);
    for (unsigned i = 0; i < N; i += 3, stopped++)
        assert_int_equal(vow_timer_stop(&m[i].t), 0);
    assert_int_equal(vow__loop_verify(l), 0);
    /* Same loop time for all starts, so deadlines order like timeouts. */
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(fired, N - stopped);
    free(m);
    rt_end(l);
}

static void test_oom(void **state)
{
    vow_loop *l = rt_new();
    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, must_not_run), 0);
    tu_fail_nth(1);
    assert_int_equal(vow_timer_start(&t, 1, 0), VOW_ENOMEM);
    tu_fail_nth(0);
    assert_int_equal(vow_loop_alive(l), 0);
    assert_int_equal(vow_timer_stop(&t), 0);
    rt_end(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_same_deadline),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_stop_restart_in_callback),
        cmocka_unit_test(test_zero_in_callback),
        cmocka_unit_test(test_free_in_callback),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
