/* SPDX-License-Identifier: MIT */
/*
 * Scopes (vow/scope.h): joins that wait until every child has finished, fail-fast,
 * supervisor and discard policies, deadlines and shields over a coroutine's code,
 * cancellation flowing down nested scopes, children of every kind (coroutines, chains,
 * timers, I/O), thousands of children, the seams (a join under vow_timeout, in a race,
 * from a chain, awaited by another coroutine), cancellation and drops at every await,
 * joining one coroutine, misuse, and an allocation-failure sweep. Built once per
 * switch; run on both reactor backends, and with VOW_CO_TEST_COPY=1 in copy-stack mode.
 */
#include "testutil.h"

#include "vow/io.h"
#include "vow/scope.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int unhandled_seen;

static void count_unhandled(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    if (event == VOW_UNHANDLED)
        unhandled_seen++;
}

static vow_loop *L;

/* The options of every spawn: NULL, or copy-stack mode. */
static const vow_co_opts *OPTS;
static const vow_co_opts copy_opts = { .flags = VOW_CO_COPY_STACK };

static void begin(void)
{
    L = vow_loop_new();
    assert_non_null(L);
    assert_int_equal(vow_loop_set_unhandled(L, count_unhandled, NULL), 0);
    unhandled_seen = 0;
}

static void finish(void)
{
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_co_live(L), 0);
    assert_int_equal(vow_loop_close(L), 0);
    assert_int_equal(tu_live_allocations(), 0);
    L = NULL;
}

/* A fresh reference to a coroutine's result, for tests that run it to the end. */
static vow *spawn(vow_co_fn fn, void *arg)
{
    vow *c = vow_co_spawn(L, fn, arg, OPTS);
    assert_non_null(c);
    return c;
}

static vow_ret catch_all(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)code;
    (void)detail;
    return vow_ok(vow_val_none());
}

/* Runs the loop until p settles, handling its rejection (the tests read it). */
static void await_settled(vow *p)
{
    vow_unref(vow_catch(vow_ref(p), catch_all, NULL));
    tu_wait(L, p);
}

static uint32_t rnd_state;

static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) & 0x7fff;
}

struct tree {
    int started;  /* coroutines that started */
    int returned; /* coroutines that returned */
    int leaves;   /* leaves that saw VOW_ECANCELED */
};

static struct tree T;

static vow_ret leaf(void *arg);

/* ------------------------------------------- the guide's 100 children */

#define KIDS 100

struct kids {
    int returned;      /* children whose body returned */
    int at_join;       /* returned when the parent's join settled */
    int ms[KIDS];      /* each child's sleep */
    int code;          /* the join's code */
    size_t listed;     /* items of the join's list */
    unsigned flags;    /* the scope's */
};

struct kid {
    struct kids *k; /* shared */
    int i;          /* its index */
};

static struct kid kid_args[KIDS];

static vow_ret kid(void *arg)
{
    struct kid *a = arg;
    int rc = vow_co_sleep((uint64_t)a->k->ms[a->i]);
    a->k->returned++;
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    if (a->i % 33 == 7) /* 7, 40, 73: three failures */
        return vow_fail(VOW_EUSER, vow_val_num(a->i));
    return vow_ok(vow_val_num(a->i));
}

static vow_ret kids_parent(void *arg)
{
    struct kids *k = arg;
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = k->flags });
    assert_non_null(s);
    for (int i = 0; i < KIDS; i++) {
        kid_args[i] = (struct kid){ k, i };
        assert_int_equal(vow_scope_spawn(s, kid, &kid_args[i], OPTS), 0);
    }
    vow *j = vow_scope_join(s);
    k->code = vow_await(j);
    k->at_join = k->returned;
    const vow_list *list = vow_list_get(vow_value(j));
    assert_non_null(list);
    k->listed = list->n;
    for (size_t i = 0; i < list->n; i++) {
        if (k->code == 0)
            assert_int_equal(vow_value(list->items[i])->num, (int64_t)i);
        else
            assert_int_equal(vow_code(list->items[i]), VOW_EUSER);
    }
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    return vow_ok(vow_val_none());
}

static void run_kids(struct kids *k)
{
    begin();
    rnd_state = 42;
    for (int i = 0; i < KIDS; i++)
        k->ms[i] = 1 + (int)(rnd() % 50);
    vow *c = spawn(kids_parent, k);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(c);
    assert_int_equal(unhandled_seen, 0);
    finish();
}

static void hundred_fail_fast(void **state)
{
    (void)state;
    struct kids k = { .flags = 0 };
    run_kids(&k);
    /* The first failure (the shortest sleep among 7, 40, 73) cancelled the rest, yet
     * the join waited until every child had returned. */
    assert_int_equal(k.code, VOW_EUSER);
    assert_int_equal(k.at_join, KIDS);
    assert_true(k.listed >= 1 && k.listed <= 3);
}

static void hundred_supervisor(void **state)
{
    (void)state;
    struct kids k = { .flags = VOW_SCOPE_SUPERVISOR };
    run_kids(&k);
    assert_int_equal(k.code, VOW_EUSER);
    assert_int_equal(k.at_join, KIDS);
    assert_int_equal(k.listed, 3);
}

static void hundred_all_fulfil(void **state)
{
    (void)state;
    /* Without failures (every sleep cut to 0 ms, and no i % 33 == 7 reached): the join
     * lists every child in the order added. */
    struct kids k = { .flags = 0 };
    begin();
    for (int i = 0; i < KIDS; i++)
        k.ms[i] = 0;
    vow_scope *s = vow_scope_new(L, NULL);
    assert_non_null(s);
    for (int i = 0; i < KIDS; i++) {
        kid_args[i] = (struct kid){ &k, i % 33 == 7 ? 8 : i };
        assert_int_equal(vow_scope_spawn(s, kid, &kid_args[i], OPTS), 0);
    }
    assert_int_equal(vow_scope_live(s), KIDS);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_state(j), VOW_FULFILLED);
    assert_int_equal(k.returned, KIDS);
    const vow_list *list = vow_list_get(vow_value(j));
    assert_int_equal(list->n, KIDS);
    assert_int_equal(vow_value(list->items[99])->num, 99);
    assert_int_equal(vow_value(list->items[7])->num, 8);
    vow_unref(j);
    assert_int_equal(vow_scope_live(s), 0);
    assert_int_equal(vow_scope_failed(s), 0);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* ------------------------------------- join waits for cleanup that awaits */

struct clean {
    int stage;    /* 1 once cancelled, 2 once its cleanup's await finished */
    int cleanup;  /* what the cleanup's awaits returned (0 expected) */
    int after;    /* what an await after the shield returned */
};

static vow_ret cleaning_child(void *arg)
{
    struct clean *c = arg;
    int rc = vow_co_sleep(10000);
    assert_int_equal(rc, VOW_ECANCELED);
    c->stage = 1;
    /* Cancelled: a shield lets it await its cleanup, bounded by its own deadline. */
    vow_scope *sh = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SHIELD,
                                                        .timeout_ms = 1000 });
    assert_non_null(sh);
    c->cleanup = vow_co_sleep(5);
    c->cleanup |= vow_co_yield();
    c->stage = 2;
    assert_int_equal(vow_scope_close(sh), 0);
    c->after = vow_co_yield();
    return vow_ok(vow_val_none());
}

static void join_waits_for_cleanup(void **state)
{
    (void)state;
    begin();
    struct clean c = { 0 };
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, cleaning_child, &c, OPTS), 0);
    vow *j = vow_scope_join(s);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_scope_cancel(s), 0);
    /* The child's vow settled at once, but the join waits for its cleanup. */
    while (vow_state(j) == VOW_PENDING) {
        assert_true(vow_loop_run(L, VOW_RUN_ONCE) >= 0);
        if (vow_state(j) == VOW_PENDING)
            assert_int_equal(vow_scope_live(s), 1);
    }
    assert_int_equal(c.stage, 2);
    assert_int_equal(c.cleanup, 0);
    assert_int_equal(c.after, VOW_ECANCELED);
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    assert_int_equal(vow_list_get(vow_value(j))->n, 0);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* -------------------------------------- a deadline over sequential awaits */

struct seq {
    int rc[5];       /* what each step returned */
    uint64_t t0, t3; /* loop clock at the start and after the third await */
    int delay_state; /* the third await's delay after it returned */
    int flags;       /* extra scope flags */
};

static vow_ret three_awaits(void *arg)
{
    struct seq *q = arg;
    q->t0 = vow_loop_now(L);
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = (unsigned)q->flags,
                                                       .timeout_ms = 200 });
    assert_non_null(s);
    q->rc[0] = vow_co_sleep(5);
    vow *a = vow_delay(L, 5, vow_val_num(1));
    q->rc[1] = vow_await(a);
    vow_unref(a);
    vow *d = vow_delay(L, 100000, vow_val_none());
    q->rc[2] = vow_await(d);
    q->t3 = vow_loop_now(L);
    /* The await left the delay: it had no other consumer, so it was cancelled. */
    q->delay_state = vow_code(d);
    vow_unref(d);
    q->rc[3] = vow_co_yield(); /* still inside the expired scope */
    assert_int_equal(vow_scope_canceled(s), VOW_ETIMEDOUT);
    assert_int_equal(vow_scope_close(s), 0);
    q->rc[4] = vow_co_yield(); /* outside it: fine */
    return vow_ok(vow_val_none());
}

static void deadline_three_awaits(void **state)
{
    (void)state;
    begin();
    struct seq q = { 0 };
    vow *c = spawn(three_awaits, &q);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(c);
    assert_int_equal(q.rc[0], 0);
    assert_int_equal(q.rc[1], 0);
    assert_int_equal(q.rc[2], VOW_ETIMEDOUT);
    assert_true(q.t3 - q.t0 >= 200);
    assert_int_equal(q.delay_state, VOW_ECANCELED);
    assert_int_equal(q.rc[3], VOW_ETIMEDOUT);
    assert_int_equal(q.rc[4], 0);
    finish();
}

/* Cancellation from above stays VOW_ECANCELED inside a deadline scope. */
static vow_ret deadline_cancelled(void *arg)
{
    int *rc = arg;
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 100000 });
    rc[0] = vow_co_sleep(100000);
    rc[1] = vow_scope_canceled(s);
    assert_int_equal(vow_scope_close(s), 0);
    return vow_ok(vow_val_none());
}

static void deadline_vs_cancel(void **state)
{
    (void)state;
    begin();
    int rc[2] = { 1, 1 };
    vow *c = spawn(deadline_cancelled, rc);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(c), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(rc[0], VOW_ECANCELED);
    assert_int_equal(rc[1], VOW_ECANCELED);
    vow_unref(c);
    finish();
}

/* A coroutine awaiting the join of its own deadline scope: the deadline cancels the
 * children, and the await returns VOW_ETIMEDOUT once they have returned. */
static vow_ret deadline_join(void *arg)
{
    int *rc = arg;
    memset(&T, 0, sizeof(T));
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 5 });
    for (int i = 0; i < 3; i++)
        vow_scope_spawn(s, leaf, NULL, OPTS);
    vow *j = vow_scope_join(s);
    rc[0] = vow_await(j);
    rc[1] = T.returned;
    vow_unref(j);
    vow_scope_close(s);
    return vow_ok(vow_val_none());
}

static void deadline_over_join(void **state)
{
    (void)state;
    begin();
    int rc[2] = { 1, 1 };
    vow *c = spawn(deadline_join, rc);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    vow_unref(c);
    assert_int_equal(rc[0], VOW_ETIMEDOUT);
    assert_int_equal(rc[1], 3);
    finish();
}

/* move_on: the deadline cuts the children short without failing the join. */
static vow_ret sleeper(void *arg)
{
    int rc = vow_co_sleep((uint64_t)(intptr_t)arg);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_num(1));
}

static void move_on(void **state)
{
    (void)state;
    begin();
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_MOVE_ON,
                                                       .timeout_ms = 200 });
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)1, OPTS), 0);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_state(j), VOW_FULFILLED);
    const vow_list *list = vow_list_get(vow_value(j));
    assert_int_equal(list->n, 2);
    assert_int_equal(vow_state(list->items[0]), VOW_FULFILLED);
    assert_int_equal(vow_code(list->items[1]), VOW_ECANCELED);
    assert_int_equal(vow_scope_canceled(s), VOW_ETIMEDOUT);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);

    /* Without move_on, outside any coroutine: the join rejects with VOW_ETIMEDOUT. */
    s = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 5 });
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_code(j), VOW_ETIMEDOUT);
    vow_unref(j);
    /* A join asked for once everything finished settles at once, the same way. */
    j = vow_scope_join(s);
    assert_int_equal(vow_code(j), VOW_ETIMEDOUT);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* Moving the deadline: later, then removed, then to now. */
static void set_timeout(void **state)
{
    (void)state;
    begin();
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 1 });
    assert_int_equal(vow_scope_set_timeout(s, 100000), 0);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)5, OPTS), 0);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_state(j), VOW_FULFILLED);
    vow_unref(j);
    assert_int_equal(vow_scope_set_timeout(s, VOW_SCOPE_NO_TIMEOUT), 0);
    assert_int_equal(vow_loop_alive(L), 0);
    assert_int_equal(vow_scope_set_timeout(s, 0), 0);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_code(j), VOW_ETIMEDOUT);
    vow_unref(j);
    /* Once cancelled, nothing changes and nothing starts. */
    assert_int_equal(vow_scope_set_timeout(s, 5), 0);
    assert_int_equal(vow_loop_alive(L), 0);
    assert_int_equal(vow_scope_set_timeout(NULL, 5), VOW_EINVAL);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* ------------------------------------------------------------- shields */

struct shield {
    int rc[4];
};

static vow_ret shielded(void *arg)
{
    struct shield *h = arg;
    h->rc[0] = vow_co_sleep(100000); /* cancelled from outside */
    vow_scope *sh = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SHIELD,
                                                        .timeout_ms = 300 });
    h->rc[1] = vow_co_sleep(2);      /* cleanup: goes through */
    h->rc[2] = vow_co_sleep(100000); /* too long: the shield's own deadline */
    assert_int_equal(vow_scope_close(sh), 0);
    h->rc[3] = vow_co_yield(); /* cancelled again outside the shield */
    return vow_ok(vow_val_none());
}

static void shield_cleanup(void **state)
{
    (void)state;
    begin();
    struct shield h = { { 1, 1, 1, 1 } };
    vow *c = spawn(shielded, &h);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_cancel(c), 0);
    vow *j = vow_co_join(c);
    assert_non_null(j);
    await_settled(j);
    /* The join settled like the coroutine (cancelled), after it returned. */
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    assert_int_equal(vow_co_live(L), 0);
    assert_int_equal(h.rc[0], VOW_ECANCELED);
    assert_int_equal(h.rc[1], 0);
    assert_int_equal(h.rc[2], VOW_ETIMEDOUT);
    assert_int_equal(h.rc[3], VOW_ECANCELED);
    vow_unref(j);
    vow_unref(c);
    finish();
}

/* A shield's children and inner scopes are out of an outer cancellation's reach. */
static vow_ret shield_with_children(void *arg)
{
    int *rc = arg;
    vow_scope *outer = vow_scope_new(L, NULL);
    vow_scope *sh = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SHIELD });
    vow_scope *in = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(in, sleeper, (void *)(intptr_t)20, OPTS), 0);
    vow_scope_cancel(outer);
    vow *j = vow_scope_join(in);
    rc[0] = vow_await(j);
    vow_unref(j);
    rc[1] = vow_scope_canceled(in);
    assert_int_equal(vow_scope_close(in), 0);
    assert_int_equal(vow_scope_close(sh), 0);
    rc[2] = vow_co_yield();
    assert_int_equal(vow_scope_close(outer), 0);
    return vow_ok(vow_val_none());
}

static void shield_stops_cascade(void **state)
{
    (void)state;
    begin();
    int rc[3] = { 1, 1, 1 };
    vow *c = spawn(shield_with_children, rc);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    vow_unref(c);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
    assert_int_equal(rc[2], VOW_ECANCELED);
    finish();
}

/* ---------------------------------------------- nested scopes, cancelled */

static vow_ret leaf(void *arg)
{
    (void)arg;
    T.started++;
    int rc = vow_co_sleep(100000);
    if (rc == VOW_ECANCELED)
        T.leaves++;
    T.returned++;
    return vow_ok(vow_val_none());
}

/* depth levels of scopes below: each node opens a scope with three children. */
static vow_ret node(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    T.started++;
    vow_scope *s = vow_scope_new(L, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vow_scope_spawn(s, depth > 1 ? node : leaf, (void *)(depth - 1),
                                         OPTS),
                         0);
    vow *j = vow_scope_join(s);
    int rc = vow_await(j);
    /* The join waited for the whole subtree. */
    assert_int_equal(rc, VOW_ECANCELED);
    assert_int_equal(vow_scope_live(s), 0);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    T.returned++;
    return vow_ok(vow_val_none());
}

static void nested_cancel(void **state)
{
    (void)state;
    begin();
    memset(&T, 0, sizeof(T));
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, node, (void *)(intptr_t)3, OPTS), 0);
    vow *j = vow_scope_join(s);
    /* 1 + 3 + 9 nodes, 27 leaves, all started and waiting. */
    for (int i = 0; i < 10 && T.started < 40; i++)
        assert_true(vow_loop_run(L, VOW_RUN_NOWAIT) >= 0);
    assert_int_equal(T.started, 40);
    assert_int_equal(vow_scope_cancel(s), 0);
    assert_int_equal(vow_scope_cancel(s), 0); /* twice: nothing more */
    await_settled(j);
    assert_int_equal(T.returned, 40);
    assert_int_equal(T.leaves, 27);
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* The same tree cancelled through the root coroutine's own vow. */
static void nested_cancel_root_coroutine(void **state)
{
    (void)state;
    begin();
    memset(&T, 0, sizeof(T));
    vow *c = spawn(node, (void *)(intptr_t)2);
    for (int i = 0; i < 10 && T.started < 13; i++)
        assert_true(vow_loop_run(L, VOW_RUN_NOWAIT) >= 0);
    assert_int_equal(T.started, 13);
    vow *j = vow_co_stop(c);
    await_settled(j);
    assert_int_equal(T.returned, 13);
    assert_int_equal(T.leaves, 9);
    vow_unref(j);
    vow_unref(c);
    finish();
}

/* -------------------------------------------------- cancel during join */

static vow_ret cancel_own_scope(void *arg)
{
    vow_scope *s = arg;
    /* From a child: the scope (and so this child) is cancelled. */
    assert_int_equal(vow_scope_cancel(s), 0);
    int rc = vow_co_yield();
    assert_int_equal(rc, VOW_ECANCELED);
    assert_int_equal(vow_scope_cancel(s), 0);
    return vow_ok(vow_val_none());
}

static vow_ret joiner_cancels(void *arg)
{
    int *rc = arg;
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    vow *j = vow_scope_join(s);
    /* The coroutine awaiting its own scope's join is cancelled: the scope is, and the
     * await still waits for the children. */
    vow_cancel(vow_co_self());
    rc[0] = vow_await(j);
    rc[1] = (int)vow_scope_live(s);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    return vow_ok(vow_val_none());
}

static void cancel_during_join(void **state)
{
    (void)state;
    begin();
    /* From outside, while a join is pending, twice. */
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    vow *j1 = vow_scope_join(s);
    vow *j2 = vow_scope_join(s);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_scope_cancel(s), 0);
    assert_int_equal(vow_scope_cancel(s), 0);
    assert_int_equal(vow_state(j1), VOW_PENDING);
    assert_int_equal(vow_scope_close(s), VOW_EBUSY);
    await_settled(j2);
    assert_int_equal(vow_code(j1), VOW_ECANCELED);
    assert_int_equal(vow_code(j2), VOW_ECANCELED);
    vow_unref(j1);
    vow_unref(j2);
    assert_int_equal(vow_scope_close(s), 0);

    /* From a child. */
    s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    assert_int_equal(vow_scope_spawn(s, cancel_own_scope, s, OPTS), 0);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);

    /* The joining coroutine itself cancelled. */
    int rc[2] = { 1, 1 };
    vow *c = spawn(joiner_cancels, rc);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(rc[0], VOW_ECANCELED);
    assert_int_equal(rc[1], 0);
    vow_unref(c);
    finish();
}

/* ------------------------------------------------ children of every kind */

static vow_ret add_ten(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 10));
}

struct mixed {
    int fds[2];  /* a pipe: the read child reads fds[0] */
    char buf[8]; /* its buffer */
    vow_timer t; /* writes to fds[1] */
};

static void write_pipe(vow_timer *t)
{
    struct mixed *m = t->data;
    assert_int_equal(write(m->fds[1], "hi", 2), 2);
}

static vow_ret co_value(void *arg)
{
    int rc = vow_co_sleep(2);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_num((intptr_t)arg));
}

static void mixed_children_case(int cancel)
{
    begin();
    struct mixed m;
    assert_int_equal(pipe(m.fds), 0);
    assert_int_equal(vow_fd_nonblock(m.fds[0]), 0);
    assert_int_equal(vow_timer_init(L, &m.t, write_pipe), 0);
    m.t.data = &m;
    assert_int_equal(vow_timer_start(&m.t, 3, 0), 0);
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_add(s, vow_delay(L, 1, vow_val_num(1))), 0);
    assert_int_equal(vow_scope_add(s, vow_read(L, m.fds[0], m.buf, sizeof(m.buf))), 0);
    assert_int_equal(vow_scope_spawn(s, co_value, (void *)(intptr_t)3, OPTS), 0);
    assert_int_equal(vow_scope_add(s, vow_then(vow_delay(L, 2, vow_val_num(4)), add_ten, NULL,
                                               NULL)),
                     0);
    assert_int_equal(vow_scope_add(s, vow_resolved(L, vow_val_num(5))), 0);
    assert_int_equal(vow_scope_live(s), 5);
    vow *j = vow_scope_join(s);
    if (cancel) {
        assert_int_equal(vow_scope_cancel(s), 0);
        vow_timer_stop(&m.t);
    }
    await_settled(j);
    if (cancel) {
        assert_int_equal(vow_code(j), VOW_ECANCELED);
        /* The read was withdrawn: the pipe's byte is still there. */
        assert_int_equal(write(m.fds[1], "x", 1), 1);
        assert_int_equal(read(m.fds[0], m.buf, sizeof(m.buf)), 1);
    } else {
        assert_int_equal(vow_state(j), VOW_FULFILLED);
        const vow_list *list = vow_list_get(vow_value(j));
        assert_int_equal(list->n, 5);
        assert_int_equal(vow_value(list->items[0])->num, 1);
        assert_int_equal(vow_value(list->items[1])->num, 2);
        assert_memory_equal(m.buf, "hi", 2);
        assert_int_equal(vow_value(list->items[2])->num, 3);
        assert_int_equal(vow_value(list->items[3])->num, 14);
        assert_int_equal(vow_value(list->items[4])->num, 5);
    }
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    close(m.fds[0]);
    close(m.fds[1]);
    finish();
}

static void mixed_children(void **state)
{
    (void)state;
    mixed_children_case(0);
    mixed_children_case(1);
}

/* A failing plain vow fails the scope fast: its coroutine sibling is cancelled. */
static void plain_failure_fails_fast(void **state)
{
    (void)state;
    begin();
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    assert_int_equal(vow_scope_add(s, vow_rejected(L, -EIO, vow_val_none())), 0);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_code(j), -EIO);
    const vow_list *list = vow_list_get(vow_value(j));
    assert_int_equal(list->n, 1);
    assert_int_equal(vow_code(list->items[0]), -EIO);
    assert_int_equal(vow_scope_failed(s), 1);
    assert_int_equal(vow_scope_canceled(s), VOW_ECANCELED);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    assert_int_equal(unhandled_seen, 0);
    finish();
}

/* A child that returns vow_follow(q) finishes when q settles. */
static vow_ret follower(void *arg)
{
    uint64_t ms = arg ? (uint64_t)(intptr_t)arg : 5;
    return vow_follow(vow_delay(L, ms, vow_val_num(77)));
}

static void child_follows(void **state)
{
    (void)state;
    begin();
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, follower, NULL, OPTS), 0);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_state(j), VOW_FULFILLED);
    assert_int_equal(vow_value(vow_list_get(vow_value(j))->items[0])->num, 77);
    vow_unref(j);
    /* Cancelled while its vow follows: the scope cancels it, and it is done. */
    assert_int_equal(vow_scope_spawn(s, follower, (void *)(intptr_t)100000, OPTS), 0);
    j = vow_scope_join(s);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_scope_live(s), 1);
    vow_scope_cancel(s);
    await_settled(j);
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* ------------------------------------------------ thousands of children */

#define MANY 5000

static int many_done;

static vow_ret yielder(void *arg)
{
    int rc = vow_co_yield();
    if (rc == 0)
        rc = vow_co_yield();
    many_done++;
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_num((intptr_t)arg));
}

static void thousands(void **state)
{
    (void)state;
    begin();
    many_done = 0;
    vow_scope *s = vow_scope_new(L, NULL);
    for (intptr_t i = 0; i < MANY; i++) {
        if (i % 2)
            assert_int_equal(vow_scope_spawn(s, yielder, (void *)i, OPTS), 0);
        else
            assert_int_equal(vow_scope_add(s, vow_resolved(L, vow_val_num(i))), 0);
    }
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(many_done, MANY / 2);
    const vow_list *list = vow_list_get(vow_value(j));
    assert_int_equal(list->n, MANY);
    for (size_t i = 0; i < MANY; i++)
        assert_int_equal(vow_value(list->items[i])->num, (int64_t)i);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* Discard mode keeps nothing of finished children: the record count stays at what is
 * live, failures count but only the first is kept. */
static vow_ret fail_after_yield(void *arg)
{
    (void)arg;
    vow_co_yield();
    return vow_fail(-EIO, vow_val_none());
}

static void discard_mode(void **state)
{
    (void)state;
    begin();
    many_done = 0;
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_DISCARD |
                                                                 VOW_SCOPE_SUPERVISOR });
    long base = tu_live_allocations();
    for (intptr_t i = 0; i < MANY; i++) {
        assert_int_equal(vow_scope_spawn(s, yielder, (void *)i, OPTS), 0);
        if (i % 100 == 99) {
            /* Every wave finishes before the next: memory stays at one wave's. */
            while (vow_scope_live(s))
                assert_true(vow_loop_run(L, VOW_RUN_ONCE) >= 0);
            if (tu_live_allocations() - base >= 50)
                fail_msg("%ld allocations after %ld children", tu_live_allocations() - base,
                         (long)i + 1);
        }
    }
    assert_int_equal(many_done, MANY);
    assert_int_equal(vow_scope_spawn(s, fail_after_yield, NULL, OPTS), 0);
    assert_int_equal(vow_scope_spawn(s, fail_after_yield, NULL, OPTS), 0);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)3, OPTS), 0);
    vow *j = vow_scope_join(s);
    await_settled(j);
    /* Supervisor: the sleeper finished normally; two failures, one kept. */
    assert_int_equal(vow_code(j), -EIO);
    assert_int_equal(vow_list_get(vow_value(j))->n, 1);
    assert_int_equal(vow_scope_failed(s), 2);
    assert_int_equal(vow_scope_canceled(s), 0);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    assert_int_equal(unhandled_seen, 0);
    finish();
}

/* ------------------------------------------------------------ the seams */

static vow_ret keep_list_size(void *ctx, const vow_val *v)
{
    *(size_t *)ctx = vow_list_get(v)->n;
    return vow_ok(vow_val_none());
}

static void join_seams(void **state)
{
    (void)state;
    begin();
    /* Under vow_timeout: the timeout fires, cancels the join, the join cancels the
     * scope; a second join waits for the cancelled children. */
    vow_scope *s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    vow *t = vow_timeout(vow_scope_join(s), 5);
    await_settled(t);
    assert_int_equal(vow_code(t), VOW_ETIMEDOUT);
    vow_unref(t);
    assert_int_equal(vow_scope_canceled(s), VOW_ECANCELED);
    vow *j = vow_scope_join(s);
    await_settled(j);
    assert_int_equal(vow_scope_live(s), 0);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);

    /* In a race it loses to a delay: the join is cancelled, so is the scope. */
    s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    vow *in[2] = { vow_scope_join(s), vow_delay(L, 2, vow_val_num(9)) };
    vow *r = vow_race(L, in, 2);
    await_settled(r);
    assert_int_equal(vow_value(r)->num, 9);
    vow_unref(r);
    assert_int_equal(vow_scope_canceled(s), VOW_ECANCELED);
    /* It wins a race against a slower delay. */
    vow_scope *s2 = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s2, sleeper, (void *)(intptr_t)1, OPTS), 0);
    vow *in2[2] = { vow_scope_join(s2), vow_delay(L, 100000, vow_val_none()) };
    r = vow_race(L, in2, 2);
    await_settled(r);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    vow_unref(r);
    assert_int_equal(vow_scope_canceled(s2), 0);
    j = vow_scope_join(s);
    await_settled(j);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    assert_int_equal(vow_scope_close(s2), 0);

    /* From a chain: then on the join. Dropping the chain's end withdraws nothing. */
    s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)2, OPTS), 0);
    assert_int_equal(vow_scope_add(s, vow_delay(L, 1, vow_val_none())), 0);
    size_t n = 0;
    vow_unref(vow_then(vow_scope_join(s), keep_list_size, NULL, &n));
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(n, 2);
    assert_int_equal(vow_scope_canceled(s), 0);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

struct other {
    vow_scope *s; /* a scope opened outside the awaiting coroutine */
    int rc;       /* what its await of the join returned */
};

static vow_ret await_other_join(void *arg)
{
    struct other *o = arg;
    vow *j = vow_scope_join(o->s);
    o->rc = vow_await(j);
    vow_unref(j);
    return vow_ok(vow_val_none());
}

static void join_awaited_elsewhere(void **state)
{
    (void)state;
    begin();
    struct other o = { vow_scope_new(L, NULL), 1 };
    assert_int_equal(vow_scope_spawn(o.s, sleeper, (void *)(intptr_t)3, OPTS), 0);
    vow *c = spawn(await_other_join, &o);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(o.rc, 0);
    vow_unref(c);
    /* Cancelled while awaiting another's join: its await returns at once; the join
     * loses its only consumer and is cancelled, and with it the scope. */
    assert_int_equal(vow_scope_spawn(o.s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    c = spawn(await_other_join, &o);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    vow_cancel(c);
    assert_int_equal(vow_scope_canceled(o.s), VOW_ECANCELED);
    assert_true(vow_loop_run(L, VOW_RUN_NOWAIT) >= 0);
    assert_int_equal(o.rc, VOW_ECANCELED);
    vow_unref(c);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_scope_close(o.s), 0);
    finish();
}

/* ----------------------------------- cancellation or drop at every await */

#define STEPS 6

static int steps_taken;

/* A child with STEPS awaits of different kinds. */
static vow_ret stepper(void *arg)
{
    (void)arg;
    int rc = 0;
    for (int i = 0; i < STEPS && rc == 0; i++) {
        steps_taken++;
        switch (i % 3) {
        case 0:
            rc = vow_co_yield();
            break;
        case 1:
            rc = vow_co_sleep(1);
            break;
        default: {
            vow *p = vow_then(vow_delay(L, 1, vow_val_num(i)), add_ten, NULL, NULL);
            rc = vow_await(p);
            vow_unref(p);
        }
        }
    }
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_num(STEPS));
}

/* A coroutine parent with a scope of two steppers and a plain delay. */
static vow_ret step_parent(void *arg)
{
    (void)arg;
    vow_scope *s = vow_scope_new(L, NULL);
    vow_scope_spawn(s, stepper, NULL, OPTS);
    vow_scope_spawn(s, stepper, NULL, OPTS);
    vow_scope_add(s, vow_delay(L, 3, vow_val_none()));
    vow *j = vow_scope_join(s);
    int rc = vow_await(j);
    vow_unref(j);
    assert_int_equal(vow_scope_live(s), 0);
    assert_int_equal(vow_scope_close(s), 0);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}


static void cancel_at_every_await(void **state)
{
    (void)state;
    /* how: 0 cancel the parent, 1 cancel_all, 2 drop the parent's vow (nothing). */
    for (int how = 0; how < 3; how++) {
        for (int k = 0; k <= 2 * STEPS + 2; k++) {
            begin();
            steps_taken = 0;
            vow *c = spawn(step_parent, NULL);
            vow *d = vow_catch(vow_ref(c), catch_all, NULL);
            while (steps_taken < k && vow_loop_run(L, VOW_RUN_ONCE) > 0)
                ;
            if (how == 0)
                vow_cancel(c);
            else if (how == 1)
                vow_co_cancel_all(L);
            vow_unref(c);
            await_settled(d);
            assert_int_equal(vow_state(d), VOW_FULFILLED);
            vow_unref(d);
            if (how == 2)
                assert_int_equal(steps_taken, 2 * STEPS);
            finish();
        }
    }
}

/* Dropping a join at every point withdraws nothing: the scope runs on. */
static void drop_join_at_every_point(void **state)
{
    (void)state;
    for (int k = 0; k <= 2 * STEPS + 2; k++) {
        begin();
        steps_taken = 0;
        vow_scope *s = vow_scope_new(L, NULL);
        vow_scope_spawn(s, stepper, NULL, OPTS);
        vow_scope_spawn(s, stepper, NULL, OPTS);
        vow *j = vow_scope_join(s);
        while (steps_taken < k && vow_loop_run(L, VOW_RUN_ONCE) > 0)
            ;
        vow_unref(j);
        assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
        assert_int_equal(steps_taken, 2 * STEPS);
        assert_int_equal(vow_scope_canceled(s), 0);
        j = vow_scope_join(s);
        assert_int_equal(vow_state(j), VOW_FULFILLED);
        vow_unref(j);
        assert_int_equal(vow_scope_close(s), 0);
        finish();
    }
}

/* ----------------------------------------------------- joining one coroutine */

static vow_ret stubborn(void *arg)
{
    int *cleaned = arg;
    int rc = vow_co_sleep(100000);
    vow_scope *sh = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SHIELD });
    vow_co_sleep(3);
    *cleaned = 1;
    vow_scope_close(sh);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_num(5));
}

static vow_ret join_self(void *arg)
{
    (void)arg;
    vow *j = vow_co_join(vow_co_self());
    int code = vow_code(j);
    vow_unref(j);
    return vow_ok(vow_val_num(code));
}

static void co_join(void **state)
{
    (void)state;
    begin();
    int cleaned = 0;
    vow *c = spawn(stubborn, &cleaned);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    vow *j = vow_co_stop(c);
    assert_int_equal(vow_state(c), VOW_REJECTED);
    await_settled(j);
    assert_int_equal(cleaned, 1);
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    vow_unref(j);
    /* Joining what finished already, and a plain vow. */
    j = vow_co_join(c);
    await_settled(j);
    assert_int_equal(vow_code(j), VOW_ECANCELED);
    vow_unref(j);
    vow_unref(c);
    vow *p = vow_delay(L, 1, vow_val_num(3));
    j = vow_co_join(p);
    await_settled(j);
    assert_int_equal(vow_value(j)->num, 3);
    vow_unref(j);
    vow_unref(p);
    /* Joining without cancelling: it settles with the value after the return. */
    cleaned = 0;
    c = spawn(sleeper, (void *)(intptr_t)2);
    j = vow_co_join(c);
    vow *j2 = vow_co_join(c);
    await_settled(j);
    await_settled(j2);
    assert_int_equal(vow_value(j)->num, 1);
    assert_int_equal(vow_value(j2)->num, 1);
    vow_unref(j);
    vow_unref(j2);
    vow_unref(c);
    /* Cancelling the join cancels the coroutine; dropping it does not. */
    c = spawn(sleeper, (void *)(intptr_t)100000);
    vow_unref(vow_co_join(c));
    j = vow_co_join(c);
    assert_int_equal(vow_cancel(j), 0);
    assert_int_equal(vow_code(c), VOW_ECANCELED);
    vow_unref(j);
    vow_unref(c);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    /* Itself: VOW_ECYCLE. */
    c = spawn(join_self, NULL);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(c)->num, VOW_ECYCLE);
    vow_unref(c);
    assert_null(vow_co_join(NULL));
    assert_null(vow_co_stop(NULL));
    finish();
}

/* --------------------------------------- a coroutine that forgets to close */

static vow_ret forgetful(void *arg)
{
    (void)arg;
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 100000 });
    vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS);
    vow_scope_new(L, NULL); /* and an empty one inside it */
    return vow_ok(vow_val_none());
}

static void auto_close_on_return(void **state)
{
    (void)state;
    begin();
    vow *c = spawn(forgetful, NULL);
    /* Its scopes are cancelled and closed when it returns; the child ends. */
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(c);
    finish();
}

/* -------------------------------------------- children settled by threads */

#define THREADS 4

static void *settle_remote(void *arg)
{
    vow_remote *r = arg;
    while (vow_remote_resolve(r, vow_val_num(7)) == VOW_ENOMEM)
        ;
    return NULL;
}

/* Vows settled from other threads (vow_remote) are children like any other; a
 * coroutine child awaits one of them. */
static vow_ret await_remote(void *arg)
{
    vow *p = arg;
    int rc = vow_await(p);
    int64_t n = rc == 0 ? vow_value(p)->num : rc;
    vow_unref(p);
    return vow_ok(vow_val_num(n + 1));
}

static void remote_children(void **state)
{
    (void)state;
    begin();
    vow_scope *s = vow_scope_new(L, NULL);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        vow *p = vow_pending(L);
        vow_remote *r = vow_remote_new(p);
        assert_non_null(r);
        if (i % 2)
            assert_int_equal(vow_scope_add(s, p), 0);
        else
            assert_int_equal(vow_scope_spawn(s, await_remote, p, OPTS), 0);
        assert_int_equal(pthread_create(&t[i], NULL, settle_remote, r), 0);
    }
    vow *j = vow_scope_join(s);
    await_settled(j);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    const vow_list *list = vow_list_get(vow_value(j));
    for (size_t i = 0; i < THREADS; i++)
        assert_int_equal(vow_value(list->items[i])->num, i % 2 ? 7 : 8);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
}

/* ------------------------------------------------------------------ misuse */

static vow_ret close_rules(void *arg)
{
    vow_scope *outside = arg;
    vow_scope *a = vow_scope_new(L, NULL);
    vow_scope *b = vow_scope_new(L, NULL);
    /* Innermost first. */
    assert_int_equal(vow_scope_close(a), VOW_ESTATE);
    assert_int_equal(vow_scope_close(b), 0);
    /* A child awaiting its own scope's join would wait for itself. */
    vow_scope_spawn(a, sleeper, (void *)(intptr_t)1, OPTS);
    assert_int_equal(vow_scope_close(a), VOW_EBUSY);
    vow *j = vow_scope_join(a);
    assert_int_equal(vow_await(j), 0);
    vow_unref(j);
    assert_int_equal(vow_scope_close(a), 0);
    /* A scope opened outside coroutines can be closed from one. */
    assert_int_equal(vow_scope_close(outside), 0);
    return vow_ok(vow_val_none());
}

static vow_ret waits_for_itself(void *arg)
{
    vow_scope *s = arg;
    vow *j = vow_scope_join(s);
    int rc = vow_await(j);
    vow_unref(j);
    return vow_ok(vow_val_num(rc));
}

static vow *gate; /* what opens_and_waits waits for: the test resolves it */

static vow_ret opens_and_waits(void *arg)
{
    vow_scope **ret = arg;
    *ret = vow_scope_new(L, NULL);
    assert_int_equal(vow_await(gate), 0);
    assert_int_equal(vow_scope_close(*ret), 0);
    return vow_ok(vow_val_none());
}

static void misuse(void **state)
{
    (void)state;
    begin();
    assert_null(vow_scope_new(NULL, NULL));
    assert_null(vow_scope_new(L, &(vow_scope_opts){ .flags = 1u << 20 }));
    assert_int_equal(vow_scope_close(NULL), VOW_EINVAL);
    assert_int_equal(vow_scope_cancel(NULL), VOW_EINVAL);
    assert_int_equal(vow_scope_spawn(NULL, sleeper, NULL, OPTS), VOW_EINVAL);
    assert_int_equal(vow_scope_add(NULL, vow_resolved(L, vow_val_none())), VOW_EINVAL);
    assert_null(vow_scope_join(NULL));
    assert_int_equal(vow_scope_canceled(NULL), 0);
    assert_int_equal(vow_scope_live(NULL), 0);
    assert_int_equal(vow_scope_failed(NULL), 0);

    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SUPERVISOR });
    vow_loop *l2 = vow_loop_new();
    assert_int_equal(vow_scope_add(s, vow_resolved(l2, vow_val_none())), VOW_EINVAL);
    assert_int_equal(vow_loop_close(l2), 0);
    assert_int_equal(vow_scope_failed(s), 0);
    /* A spawn with bad arguments is a failed child; so is a NULL vow added (what a
     * constructor that ran out of memory returns). */
    assert_int_equal(vow_scope_spawn(s, NULL, NULL, OPTS), VOW_EINVAL);
    assert_int_equal(vow_scope_add(s, NULL), VOW_ENOMEM);
    assert_int_equal(vow_scope_failed(s), 2);
    assert_int_equal(vow_scope_canceled(s), 0);
    vow *j = vow_scope_join(s);
    assert_int_equal(vow_code(j), VOW_EINVAL);
    const vow_list *fl = vow_list_get(vow_value(j));
    assert_int_equal(fl->n, 2);
    assert_int_equal(vow_code(fl->items[1]), VOW_ENOMEM);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    /* Fail-fast: the first failure cancels the scope. */
    s = vow_scope_new(L, NULL);
    assert_int_equal(vow_scope_spawn(s, NULL, NULL, OPTS), VOW_EINVAL);
    assert_int_equal(vow_scope_canceled(s), VOW_ECANCELED);
    assert_int_equal(vow_scope_close(s), 0);

    /* Close rules inside a coroutine. */
    s = vow_scope_new(L, NULL);
    vow *c = spawn(close_rules, s);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(c);

    /* A scope covering a coroutine's code cannot be closed from elsewhere. */
    vow_scope *inner = NULL;
    gate = vow_pending(L);
    c = spawn(opens_and_waits, &inner);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_non_null(inner);
    assert_int_equal(vow_scope_close(inner), VOW_ESTATE);
    assert_int_equal(vow_resolve(gate, vow_val_none()), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    vow_unref(gate);
    vow_unref(c);

    /* A child awaiting its own scope's join. */
    s = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SUPERVISOR });
    assert_int_equal(vow_scope_spawn(s, waits_for_itself, s, OPTS), 0);
    j = vow_scope_join(s);
    await_settled(j);
    const vow_list *list = vow_list_get(vow_value(j));
    assert_int_equal(vow_value(list->items[0])->num, VOW_ECYCLE);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);

    /* vow_val_list's own checks. */
    vow_val v;
    vow *pend = vow_pending(L);
    assert_int_equal(vow_val_list(&pend, 1, &v), VOW_EINVAL);
    assert_int_equal(vow_val_list(NULL, 1, &v), VOW_EINVAL);
    assert_int_equal(vow_val_list(NULL, 0, NULL), VOW_EINVAL);
    vow_unref(pend);
    finish();
}

/* -------------------------------------------- more cancellation shapes */

/* Cancelling an outer scope reaches the scopes opened after it in the same
 * coroutine, and their children. */
static vow_ret inner_scopes(void *arg)
{
    int *rc = arg;
    vow_scope *a = vow_scope_new(L, NULL);
    vow_scope *b = vow_scope_new(L, NULL);
    vow_scope *c = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 100000 });
    assert_int_equal(vow_scope_spawn(c, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    vow_scope_cancel(a);
    rc[0] = vow_scope_canceled(b);
    rc[1] = vow_scope_canceled(c);
    rc[2] = vow_co_yield();
    vow *j = vow_scope_join(c);
    rc[3] = vow_await(j);
    vow_unref(j);
    vow_scope_close(c);
    vow_scope_close(b);
    vow_scope_close(a);
    return vow_ok(vow_val_none());
}

static void cancel_reaches_inner_scopes(void **state)
{
    (void)state;
    begin();
    int rc[4] = { 1, 1, 1, 1 };
    vow *c = spawn(inner_scopes, rc);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    vow_unref(c);
    assert_int_equal(rc[0], VOW_ECANCELED);
    assert_int_equal(rc[1], VOW_ECANCELED);
    assert_int_equal(rc[2], VOW_ECANCELED);
    assert_int_equal(rc[3], VOW_ECANCELED);
    finish();
}

/* Any of several joins cancelled cancels the scope; the others still wait. Discard
 * mode releases children that finish out of order. Joins of one coroutine: any
 * cancelled cancels it. */
static void several_joins(void **state)
{
    (void)state;
    begin();
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_DISCARD });
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)100000, OPTS), 0);
    assert_int_equal(vow_scope_spawn(s, sleeper, (void *)(intptr_t)1, OPTS), 0);
    vow *j1 = vow_scope_join(s), *j2 = vow_scope_join(s), *j3 = vow_scope_join(s);
    /* The second child finishes first: released from the middle of the list. */
    while (vow_scope_live(s) == 2)
        assert_true(vow_loop_run(L, VOW_RUN_ONCE) > 0);
    assert_int_equal(vow_cancel(j2), 0);
    assert_int_equal(vow_scope_canceled(s), VOW_ECANCELED);
    await_settled(j3);
    assert_int_equal(vow_code(j1), VOW_ECANCELED);
    assert_int_equal(vow_code(j3), VOW_ECANCELED);
    vow_unref(j1);
    vow_unref(j2);
    vow_unref(j3);
    assert_int_equal(vow_scope_close(s), 0);

    vow *c = spawn(sleeper, (void *)(intptr_t)100000);
    vow *k1 = vow_co_join(c), *k2 = vow_co_join(c);
    assert_int_equal(vow_cancel(k1), 0);
    assert_int_equal(vow_code(c), VOW_ECANCELED);
    await_settled(k2);
    assert_int_equal(vow_code(k2), VOW_ECANCELED);
    vow_unref(k1);
    vow_unref(k2);
    vow_unref(c);
    finish();
}

/* -------------------------------------------------- allocation failures */

static vow_ret sweep_parent(void *arg)
{
    int *complete = arg;
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .timeout_ms = 100000 });
    if (!s) {
        *complete = 0;
        return vow_fail(VOW_ENOMEM, vow_val_none());
    }
    int ok = 1;
    ok &= vow_scope_spawn(s, sleeper, (void *)(intptr_t)1, OPTS) == 0;
    ok &= vow_scope_add(s, vow_delay(L, 1, vow_val_num(2))) == 0;
    ok &= vow_scope_spawn(s, yielder, NULL, OPTS) == 0;
    vow_scope *sh = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SHIELD });
    if (sh) {
        ok &= vow_co_yield() == 0;
        vow_scope_close(sh);
    } else {
        ok = 0;
    }
    vow *j = vow_scope_join(s);
    while (!j) {
        /* Out of memory for the join: cancel and join again (the next try works,
         * since only one allocation fails). */
        ok = 0;
        vow_scope_cancel(s);
        j = vow_scope_join(s);
    }
    int rc = vow_await(j);
    if (rc != 0)
        ok = 0;
    else if (ok)
        assert_int_equal(vow_list_get(vow_value(j))->n, 3);
    vow_unref(j);
    assert_int_equal(vow_scope_live(s), 0);
    assert_int_equal(vow_scope_close(s), 0);
    *complete = ok;
    return vow_ok(vow_val_none());
}

static int sweep_program(void *arg)
{
    (void)arg;
    L = vow_loop_new();
    if (!L)
        return 0;
    if (vow_loop_set_unhandled(L, tu_quiet, NULL) < 0) {
        assert_int_equal(vow_loop_close(L), 0);
        return 0;
    }
    int complete = 0;
    vow *c = vow_co_spawn(L, sweep_parent, &complete, OPTS);
    if (!c) {
        finish();
        return 0;
    }
    vow_unref(vow_catch(c, catch_all, NULL));
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    finish();
    return complete;
}

static void oom_sweep(void **state)
{
    (void)state;
    long n = tu_sweep(sweep_program, NULL);
    assert_true(n > 10);
}

/* The rarer shapes under allocation failure: a child that follows a vow, one that
 * fails (the join builds a list of failures), a chain added, two joins, and a
 * coroutine joined on its own. */
static vow_ret fails_now(void *arg)
{
    (void)arg;
    return vow_fail(-EIO, vow_val_none());
}

static int sweep_shapes(void *arg)
{
    (void)arg;
    L = vow_loop_new();
    if (!L)
        return 0;
    if (vow_loop_set_unhandled(L, tu_quiet, NULL) < 0) {
        assert_int_equal(vow_loop_close(L), 0);
        return 0;
    }
    int ok = 1;
    vow_scope *s = vow_scope_new(L, &(vow_scope_opts){ .flags = VOW_SCOPE_SUPERVISOR });
    if (!s) {
        assert_int_equal(vow_loop_close(L), 0);
        return 0;
    }
    ok &= vow_scope_spawn(s, follower, NULL, OPTS) == 0;
    ok &= vow_scope_spawn(s, fails_now, NULL, OPTS) == 0;
    ok &= vow_scope_add(s, vow_then(vow_delay(L, 1, vow_val_num(4)), add_ten, NULL, NULL)) == 0;
    vow *c = vow_co_spawn(L, sleeper, (void *)(intptr_t)1, OPTS);
    vow *k = c ? vow_co_join(c) : NULL;
    ok &= k != NULL;
    vow *j1 = vow_scope_join(s), *j2 = vow_scope_join(s);
    ok &= j1 && j2;
    vow *j = j2 ? j2 : j1;
    while (!j) {
        vow_scope_cancel(s);
        j = vow_scope_join(s);
    }
    await_settled(j);
    if (vow_code(j) != -EIO || !vow_list_get(vow_value(j)))
        ok = 0;
    else
        assert_int_equal(vow_list_get(vow_value(j))->n, 1);
    if (k) {
        await_settled(k);
        ok &= vow_state(k) == VOW_FULFILLED;
    }
    if (j1 != j)
        vow_unref(j1);
    vow_unref(j);
    vow_unref(k);
    vow_unref(c);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_scope_close(s), 0);
    finish();
    return ok;
}

static void oom_sweep_shapes(void **state)
{
    (void)state;
    long n = tu_sweep(sweep_shapes, NULL);
    assert_true(n > 10);
}

int main(void)
{
    tu_install_allocator();
    const char *mode = getenv("VOW_CO_TEST_COPY");
    if (mode && strcmp(mode, "1") == 0)
        OPTS = &copy_opts;
    printf("# switch: %s, %s stacks\n", vow_co_switch_name(), OPTS ? "copy" : "separate");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hundred_fail_fast),
        cmocka_unit_test(hundred_supervisor),
        cmocka_unit_test(hundred_all_fulfil),
        cmocka_unit_test(join_waits_for_cleanup),
        cmocka_unit_test(deadline_three_awaits),
        cmocka_unit_test(deadline_vs_cancel),
        cmocka_unit_test(deadline_over_join),
        cmocka_unit_test(move_on),
        cmocka_unit_test(set_timeout),
        cmocka_unit_test(shield_cleanup),
        cmocka_unit_test(shield_stops_cascade),
        cmocka_unit_test(nested_cancel),
        cmocka_unit_test(nested_cancel_root_coroutine),
        cmocka_unit_test(cancel_during_join),
        cmocka_unit_test(mixed_children),
        cmocka_unit_test(plain_failure_fails_fast),
        cmocka_unit_test(child_follows),
        cmocka_unit_test(thousands),
        cmocka_unit_test(discard_mode),
        cmocka_unit_test(join_seams),
        cmocka_unit_test(join_awaited_elsewhere),
        cmocka_unit_test(cancel_at_every_await),
        cmocka_unit_test(drop_join_at_every_point),
        cmocka_unit_test(co_join),
        cmocka_unit_test(remote_children),
        cmocka_unit_test(auto_close_on_return),
        cmocka_unit_test(misuse),
        cmocka_unit_test(cancel_reaches_inner_scopes),
        cmocka_unit_test(several_joins),
        cmocka_unit_test(oom_sweep),
        cmocka_unit_test(oom_sweep_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
