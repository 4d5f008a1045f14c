/* SPDX-License-Identifier: MIT */
/*
 * Immediates: FIFO at the next turn, the loop never blocks while one is queued, one
 * started from an immediate callback waits for the next turn, stop (self, sibling,
 * free) from callbacks.
 */
#include "rt.h"

#include <stdlib.h>

struct ictx {
    vow_loop *l;            /* the loop */
    struct rt_trace tr;     /* run order */
    int count;              /* callbacks */
    vow_immediate *other;   /* sibling to stop */
};

struct labelled {
    vow_immediate im;   /* the handle */
    const char *label;  /* recorded when it runs */
    struct ictx *c;     /* shared context */
};

static void labelled_run(vow_immediate *im)
{
    struct labelled *x = vow__container_of(im, struct labelled, im);
    rt_mark(&x->c->tr, x->label);
    x->c->count++;
}

static void test_fifo(void **state)
{
    struct ictx c = { .l = rt_new() };
    struct labelled x[3] = { { .label = "a" }, { .label = "b" }, { .label = "c" } };
    for (int i = 0; i < 3; i++) {
        x[i].c = &c;
        assert_int_equal(vow_immediate_init(c.l, &x[i].im, labelled_run), 0);
    }
    assert_int_equal(vow_immediate_start(&x[1].im), 0);
    assert_int_equal(vow_immediate_start(&x[0].im), 0);
    assert_int_equal(vow_immediate_start(&x[2].im), 0);
    assert_int_equal(vow_immediate_start(&x[0].im), 0); /* already queued: no-op */
    assert_int_equal(vow_loop_alive(c.l), 1);
    assert_int_equal(rt_turn(c.l, VOW_RUN_NOWAIT), 0);
    assert_string_equal(c.tr.buf, "b,a,c");
    /* One-shot: nothing left. */
    assert_int_equal(rt_turn(c.l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(c.count, 3);
    rt_end(c.l);
}

/* With a keepalive and nothing else, ONCE would block forever if it ignored the
 * queued immediate: the test would time out. */
static void test_no_block(void **state)
{
    struct ictx c = { .l = rt_new() };
    struct labelled x = { .label = "x", .c = &c };
    assert_int_equal(vow_loop_keepalive(c.l, 1), 1);
    assert_int_equal(vow_immediate_init(c.l, &x.im, labelled_run), 0);
    assert_int_equal(vow_immediate_start(&x.im), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.count, 1);
    assert_int_equal(vow_loop_keepalive(c.l, -1), 0);
    rt_end(c.l);
}

static void again(vow_immediate *im)
{
    struct ictx *c = im->data;
    c->count++;
    assert_int_equal(vow_immediate_start(im), 0);
}

static void test_restart_next_turn(void **state)
{
    struct ictx c = { .l = rt_new() };
    vow_immediate im;
    assert_int_equal(vow_immediate_init(c.l, &im, again), 0);
    im.data = &c;
    assert_int_equal(vow_immediate_start(&im), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.count, 1);
    assert_int_equal(rt_turn(c.l, VOW_RUN_ONCE), 1);
    assert_int_equal(c.count, 2);
    assert_int_equal(vow_immediate_stop(&im), 0);
    assert_int_equal(vow_immediate_stop(&im), 0);
    assert_int_equal(rt_turn(c.l, VOW_RUN_ONCE), 0);
    assert_int_equal(c.count, 2);
    rt_end(c.l);
}

static void stop_other(vow_immediate *im)
{
    struct ictx *c = im->data;
    c->count++;
    assert_int_equal(vow_immediate_stop(c->other), 0);
}

static void must_not_run(vow_immediate *im)
{
    fail_msg("a stopped immediate ran");
}

static void free_self(vow_immediate *im)
{
    int *n = im->data;
    (*n)++;
    assert_int_equal(vow_immediate_stop(im), 0);
    free(im);
}

static void test_stop_in_callback(void **state)
{
    struct ictx c = { .l = rt_new() };
    vow_immediate a, b;
    assert_int_equal(vow_immediate_init(c.l, &a, stop_other), 0);
    assert_int_equal(vow_immediate_init(c.l, &b, must_not_run), 0);
    a.data = &c;
    c.other = &b;
    assert_int_equal(vow_immediate_start(&a), 0);
    assert_int_equal(vow_immediate_start(&b), 0);
    int n = 0;
    for (int i = 0; i < 3; i++) {
        vow_immediate *f = malloc(sizeof(*f));
        assert_non_null(f);
        assert_int_equal(vow_immediate_init(c.l, f, free_self), 0);
        f->data = &n;
        assert_int_equal(vow_immediate_start(f), 0);
    }
    assert_int_equal(rt_turn(c.l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(c.count, 1);
    assert_int_equal(n, 3);
    rt_end(c.l);
}

static void stop_loop(vow_immediate *im)
{
    struct ictx *c = im->data;
    c->count++;
    vow_loop_stop(c->l);
}

/* vow_loop_stop inside the phase leaves the rest queued, in order, for the next run. */
static void test_stop_loop(void **state)
{
    struct ictx c = { .l = rt_new() };
    vow_immediate s;
    struct labelled x[2] = { { .label = "a", .c = &c }, { .label = "b", .c = &c } };
    assert_int_equal(vow_immediate_init(c.l, &s, stop_loop), 0);
    s.data = &c;
    assert_int_equal(vow_immediate_start(&s), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vow_immediate_init(c.l, &x[i].im, labelled_run), 0);
        assert_int_equal(vow_immediate_start(&x[i].im), 0);
    }
    assert_int_equal(rt_turn(c.l, VOW_RUN_DEFAULT), 1);
    assert_int_equal(c.count, 1);
    assert_int_equal(rt_turn(c.l, VOW_RUN_DEFAULT), 0);
    assert_string_equal(c.tr.buf, "a,b");
    rt_end(c.l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_no_block),
        cmocka_unit_test(test_restart_next_turn),
        cmocka_unit_test(test_stop_in_callback),
        cmocka_unit_test(test_stop_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
