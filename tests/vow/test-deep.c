/* SPDX-License-Identifier: MIT */
/*
 * Resolution never recurses: a chain of 10 million thens, one vow with 1 million
 * dependants, and the cancellation of a million-long chain, each run on a thread
 * whose whole stack is 256 KiB. VOW_DEEP_SCALE divides the sizes (for Valgrind).
 */
#include "testutil.h"

#include <pthread.h>

static long scale(void)
{
    const char *s = getenv("VOW_DEEP_SCALE");
    long k = s ? atol(s) : 1;
    return k > 0 ? k : 1;
}

static vow_ret add1(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static vow_ret count_ok(void *ctx, const vow_val *v)
{
    long *n = ctx;
    (*n)++;
    return vow_ok(*v);
}

static vow_ret count_err(void *ctx, int code, const vow_val *d)
{
    long *n = ctx;
    (void)d;
    *n += 1000 * 1000 * 1000; /* a handler of a cancelled link must not run */
    return vow_fail(code, vow_val_none());
}

static void count_drop(void *ctx)
{
    long *n = ctx;
    (*n)++;
}

/* Runs fn on a thread with a 256 KiB stack and waits for it. */
static void on_small_stack(void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    pthread_t t;
    assert_int_equal(pthread_attr_init(&a), 0);
    assert_int_equal(pthread_attr_setstacksize(&a, 256 * 1024), 0);
    assert_int_equal(pthread_create(&t, &a, fn, arg), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&a);
}

struct result {
    long expect; /* what the body should find */
    long got;    /* what it found */
    int closed;  /* vow_loop_close's result */
};

static void *long_chain(void *arg)
{
    struct result *r = arg;
    vow_loop *l = vow_loop_new();
    vow *root = vow_pending(l);
    vow *p = vow_ref(root);
    for (long i = 0; i < r->expect; i++)
        p = vow_then(p, add1, NULL, NULL);
    vow_resolve(root, vow_val_num(0));
    vow_unref(root);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    r->got = vow_state(p) == VOW_FULFILLED ? vow_value(p)->num : -1;
    vow_unref(p);
    r->closed = vow_loop_close(l);
    return NULL;
}

static void ten_million_thens(void **state)
{
    (void)state;
    struct result r = { 10 * 1000 * 1000 / scale(), 0, -1 };
    on_small_stack(long_chain, &r);
    assert_int_equal(r.got, r.expect);
    assert_int_equal(r.closed, 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void *wide(void *arg)
{
    struct result *r = arg;
    vow_loop *l = vow_loop_new();
    vow *root = vow_pending(l);
    long calls = 0;
    for (long i = 0; i < r->expect; i++)
        vow_unref(vow_then(vow_ref(root), count_ok, NULL, &calls));
    vow_resolve(root, vow_val_num(7));
    vow_unref(root);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    r->got = calls;
    r->closed = vow_loop_close(l);
    return NULL;
}

static void million_dependants(void **state)
{
    (void)state;
    struct result r = { 1000 * 1000 / scale(), 0, -1 };
    on_small_stack(wide, &r);
    assert_int_equal(r.got, r.expect);
    assert_int_equal(r.closed, 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Cancelling the end of a long chain reaches the timer at its start. */
static void *cancel_chain(void *arg)
{
    struct result *r = arg;
    vow_loop *l = vow_loop_new();
    long cancelled = 0;
    vow *p = vow_delay(l, 60 * 1000, vow_val_num(1));
    for (long i = 0; i < r->expect; i++)
        p = vow_then_full(p, NULL, count_err, &cancelled, count_drop);
    vow_cancel(p);
    /* The timer was the only thing keeping the loop alive; it stopped at once. */
    vow_loop_run(l, VOW_RUN_NOWAIT);
    int alive_after_cancel = vow_loop_alive(l);
    r->got = alive_after_cancel ? -1 : cancelled;
    vow_unref(p);
    r->closed = vow_loop_close(l);
    return NULL;
}

static void cancel_million_chain(void **state)
{
    (void)state;
    struct result r = { 1000 * 1000 / scale(), 0, -1 };
    on_small_stack(cancel_chain, &r);
    /* Every reaction was discarded unrun (its context dropped), none ran. */
    assert_int_equal(r.got, r.expect);
    assert_int_equal(r.closed, 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Adoption chains: each step returns a new vow to adopt, a million times. */
struct adopt_ctx {
    vow_loop *l;      /* loop to make vows on */
    long left;        /* steps still to take */
    long half;        /* the step at which live vows are counted */
    size_t live_mid;  /* vows alive half-way */
};

/* White-box (VOW_TESTING): vows alive on a loop. */
size_t vow__live_vows(vow_loop *l);

static vow_ret adopt_step(void *ctx, const vow_val *v)
{
    struct adopt_ctx *a = ctx;
    if (a->left == a->half)
        a->live_mid = vow__live_vows(a->l);
    if (a->left-- == 0)
        return vow_ok(*v);
    vow *next = vow_resolved(a->l, vow_val_num(v->num + 1));
    return vow_follow(vow_then(next, adopt_step, NULL, a));
}

static void *adopt_chain(void *arg)
{
    struct result *r = arg;
    vow_loop *l = vow_loop_new();
    struct adopt_ctx a = { l, r->expect, r->expect / 2, 0 };
    vow *p = vow_then(vow_resolved(l, vow_val_num(0)), adopt_step, NULL, &a);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    r->got = vow_state(p) == VOW_FULFILLED ? vow_value(p)->num : -1;
    /* Each step's vow handed its waiter on to the next: constant memory. */
    if (a.live_mid > 16)
        r->got = -2 - (long)a.live_mid;
    vow_unref(p);
    r->closed = vow_loop_close(l);
    return NULL;
}

static void million_adoptions(void **state)
{
    (void)state;
    struct result r = { 1000 * 1000 / scale(), 0, -1 };
    on_small_stack(adopt_chain, &r);
    assert_int_equal(r.got, r.expect);
    assert_int_equal(r.closed, 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_million_thens),
        cmocka_unit_test(million_dependants),
        cmocka_unit_test(cancel_million_chain),
        cmocka_unit_test(million_adoptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
