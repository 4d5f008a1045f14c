/* SPDX-License-Identifier: MIT */
/*
 * A group of one loop behaves exactly like a plain loop: the same program of timers,
 * an immediate, a microtask, posts, chains (then, catch, finally), combinators,
 * timeouts, a cancellation and a coroutine that yields and sleeps leaves the same
 * trace of events, in the same order, whether it runs on a loop of the test's own
 * or on the group's only loop (started from a post callback in both cases, as
 * vow_group_spawn starts it). Every timer is due at once, so the order never depends
 * on how long a turn took. Placement always answers 0.
 */
#include "group-test.h"

#include "vow/co.h"

struct trace {
    char buf[1024]; /* event names, space-separated */
    size_t len;     /* bytes used */
    vow_loop *l;    /* the loop the program runs on */
    vow_timer t0, t2;
    vow_immediate im;
};

static void note(struct trace *t, const char *what)
{
    size_t n = strlen(what);
    if (t->len + n + 2 < sizeof(t->buf)) {
        memcpy(t->buf + t->len, what, n);
        t->len += n;
        t->buf[t->len++] = ' ';
        t->buf[t->len] = 0;
    }
}

static void on_t0(vow_timer *tm)
{
    note(tm->data, "timer0");
}

static void on_t2(vow_timer *tm)
{
    note(tm->data, "timer0b");
}

static void on_im(vow_immediate *im)
{
    note(im->data, "immediate");
}

static void on_micro(vow_loop *l, void *arg)
{
    (void)l;
    note(arg, "microtask");
}

static void on_post(vow_loop *l, void *arg)
{
    (void)l;
    note(arg, "post");
}

static vow_ret h_then1(void *ctx, const vow_val *v)
{
    note(ctx, v->num == 1 ? "then1" : "then1?");
    return vow_fail(VOW_EUSER, vow_val_num(2));
}

static vow_ret h_catch(void *ctx, int code, const vow_val *d)
{
    note(ctx, code == VOW_EUSER && d->num == 2 ? "catch" : "catch?");
    return vow_ok(vow_val_num(3));
}

static vow_ret h_finally(void *ctx)
{
    note(ctx, "finally");
    return vow_pass();
}

static vow_ret h_all(void *ctx, const vow_val *v)
{
    const vow_list *list = vow_list_get(v);
    note(ctx, list && list->n == 2 ? "all" : "all?");
    return vow_ok(vow_val_num(4));
}

static vow_ret h_timeout(void *ctx, int code, const vow_val *d)
{
    (void)d;
    note(ctx, code == VOW_ETIMEDOUT ? "timeout" : "timeout?");
    return vow_ok(vow_val_none());
}

static vow_ret h_cancelled(void *ctx, int code, const vow_val *d)
{
    (void)d;
    note(ctx, code == VOW_ECANCELED ? "cancelled" : "cancelled?");
    return vow_ok(vow_val_none());
}

static vow_ret h_done(void *ctx, const vow_val *v)
{
    (void)v;
    note(ctx, "done");
    return vow_ok(vow_val_num(7));
}

static vow_ret co_body(void *arg)
{
    struct trace *t = arg;
    note(t, "co1");
    vow_co_yield();
    note(t, "co2");
    vow_co_sleep(0);
    note(t, "co3");
    return vow_ok(vow_val_num(5));
}

/* The program; its vow fulfils with 7 once everything happened. */
static vow *program(vow_loop *l, void *arg)
{
    struct trace *t = arg;
    t->l = l;
    note(t, "start");
    vow_timer_init(l, &t->t0, on_t0);
    t->t0.data = t;
    vow_timer_start(&t->t0, 0, 0);
    vow_timer_init(l, &t->t2, on_t2);
    t->t2.data = t;
    vow_timer_start(&t->t2, 0, 0);
    vow_immediate_init(l, &t->im, on_im);
    t->im.data = t;
    vow_immediate_start(&t->im);
    vow_loop_queue_microtask(l, on_micro, t);
    vow_loop_post(l, on_post, t);

    vow *chain = vow_finally(
        vow_catch(vow_then(vow_resolved(l, vow_val_num(1)), h_then1, NULL, t), h_catch, t),
        h_finally, t);
    vow *both[2] = {vow_delay(l, 0, vow_val_num(1)), vow_resolved(l, vow_val_num(0))};
    vow *all = vow_then(vow_all(l, both, 2), h_all, NULL, t);
    vow *slow = vow_catch(vow_timeout(vow_pending(l), 0), h_timeout, t);
    vow *victim = vow_delay(l, 60000, vow_val_none());
    vow *gone = vow_catch(vow_ref(victim), h_cancelled, t);
    vow_cancel(victim);
    vow_unref(victim);
    vow *co = vow_co_spawn(l, co_body, t, NULL);
    vow *end[6] = {chain, all, slow, gone, co, vow_delay(l, 0, vow_val_none())};
    return vow_then(vow_all(l, end, 6), h_done, NULL, t);
}

/* ------------------------------------------------------------- the plain loop */

struct plain_start {
    struct trace *t; /* where the program writes */
    vow *result;     /* its vow */
};

static void start_plain(vow_loop *l, void *arg)
{
    struct plain_start *s = arg;
    s->result = program(l, s->t);
}

static void run_plain(struct trace *t)
{
    vow_loop *l = gt_loop();
    struct plain_start s = {.t = t};
    assert_int_equal(vow_loop_post(l, start_plain, &s), 0);
    while (!s.result)
        assert_true(vow_loop_run(l, VOW_RUN_ONCE) >= 0);
    assert_int_equal(gt_num(l, s.result), 7);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(l), 0);
}

/* -------------------------------------------------------------- the group */

static void run_group(struct trace *t)
{
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(1, NULL, NULL);
    assert_int_equal(vow_group_pick(g, VOW_GROUP_NEXT), 0);
    assert_int_equal(vow_group_pick(g, VOW_GROUP_NEXT), 0);
    assert_int_equal(vow_group_pick(g, VOW_GROUP_LEAST), 0);
    assert_int_equal(gt_num(x, vow_group_spawn(g, VOW_GROUP_NEXT, x, program, t)), 7);
    gt_finish(g, x);
}

static void test_same_trace(void **state)
{
    (void)state;
    struct trace plain = {.len = 0}, group = {.len = 0};
    run_plain(&plain);
    run_group(&group);
    if (getenv("GT_TRACE"))
        printf("# %s\n", plain.buf);
    assert_string_equal(group.buf, plain.buf);
    /* Every event happened, none twice. */
    const char *want[] = {"start", "timer0", "timer0b", "immediate", "microtask", "post",
                          "then1", "catch",  "finally", "all",       "timeout",   "cancelled",
                          "co1",   "co2",    "co3",     "done"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char w[32];
        snprintf(w, sizeof(w), "%s ", want[i]);
        const char *at = strstr(plain.buf, w);
        if (!at || strstr(at + 1, w))
            fail_msg("event %s missing or repeated in: %s", want[i], plain.buf);
    }
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_trace),
    };
    return cmocka_run_group_tests_name("group-one", tests, NULL, NULL);
}
