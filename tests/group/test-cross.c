/* SPDX-License-Identifier: MIT */
/*
 * Vows that cross loops, seen from the test's own loop and from the group's loops:
 * values and rejections carried back, a value with a drop (shared, dropped on its
 * owner's thread once the last copy is gone), spawn (rooted work) against call (a
 * proxy that dropping withdraws), a shared vow consumed by two proxies, chains on a
 * proxy, a proxy under vow_timeout and in vow_race, a coroutine awaiting a coroutine
 * of another loop and cancelled there, cancel and drop at every point of a crossing,
 * argument errors and the refusal once the group stops.
 */
#include "group-test.h"

#include "vow/co.h"

#include <sched.h>
#include <stdbool.h>

static void wait_flag(atomic_int *c, int want)
{
    while (atomic_load(c) < want)
        sched_yield();
}

/* ---------------------------------------------------------------- values */

static vow *make_num(vow_loop *l, void *arg)
{
    return vow_resolved(l, vow_val_num((int64_t)(intptr_t)arg));
}

static vow *make_fail(vow_loop *l, void *arg)
{
    return vow_rejected(l, VOW_EUSER, vow_val_num((int64_t)(intptr_t)arg));
}

static vow *make_later(vow_loop *l, void *arg)
{
    return vow_delay(l, 5, vow_val_num((int64_t)(intptr_t)arg));
}

static void test_values(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gt_num(x, vow_group_spawn(g, i, x, make_num, (void *)(intptr_t)(7 + i))),
                         7 + i);
        assert_int_equal(gt_num(x, vow_group_call(g, i, x, make_later, (void *)(intptr_t)9)), 9);
        vow *p = vow_group_spawn(g, i, x, make_fail, (void *)(intptr_t)-5);
        tu_wait(x, p);
        assert_int_equal(vow_code(p), VOW_EUSER);
        assert_int_equal(vow_value(p)->num, -5);
        vow_unref(p);
    }
    /* Round-robin and least loaded place the work too. */
    assert_int_equal(gt_num(x, vow_group_spawn(g, VOW_GROUP_NEXT, x, make_num, (void *)3)), 3);
    assert_int_equal(gt_num(x, vow_group_call(g, VOW_GROUP_LEAST, x, make_num, (void *)4)), 4);
    gt_finish(g, x);
}

/* A chain on a proxy runs on the calling loop. */
static vow_ret add_one(void *ctx, const vow_val *v)
{
    gt_check(pthread_equal(pthread_self(), *(pthread_t *)ctx));
    return vow_ok(vow_val_num(v->num + 1));
}

static void test_chain(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    pthread_t self = pthread_self();
    vow *p = vow_group_call(g, 1, x, make_later, (void *)41);
    p = vow_then(vow_then(p, add_one, NULL, &self), add_one, NULL, &self);
    assert_int_equal(gt_num(x, p), 43);
    gt_finish(g, x);
}

/* -------------------------------------------------------- shared values */

struct blob {
    char text[16];   /* read on the other thread */
    pthread_t owner; /* the thread of the loop that made it */
};

static atomic_int blob_drops;
static atomic_int blob_wrong_thread;

static void blob_drop(void *ptr)
{
    struct blob *b = ptr;
    if (!pthread_equal(pthread_self(), b->owner))
        atomic_fetch_add(&blob_wrong_thread, 1);
    vow_free(b);
    atomic_fetch_add(&blob_drops, 1);
}

static vow *make_blob(vow_loop *l, void *arg)
{
    struct blob *b = vow_malloc(sizeof(*b));
    if (!b)
        return NULL;
    snprintf(b->text, sizeof(b->text), "%s", (const char *)arg);
    b->owner = pthread_self();
    return vow_resolved(l, vow_val_ptr(b, blob_drop));
}

static vow *nothing(vow_loop *l, void *arg)
{
    (void)arg;
    return vow_resolved(l, vow_val_none());
}

/* Everything posted to member i before this call has run when it returns. */
static void barrier(vow_group *g, int i, vow_loop *x)
{
    assert_int_equal(gt_num(x, vow_group_spawn(g, i, x, nothing, NULL)), 0);
}

static void test_shared_value(void **state)
{
    (void)state;
    atomic_store(&blob_drops, 0);
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    vow *p = vow_group_spawn(g, 1, x, make_blob, "crossed");
    tu_wait(x, p);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    const struct blob *b = vow_value(p)->ptr;
    assert_string_equal(b->text, "crossed");
    /* A chain on the proxy passes the value on without a copy; the owner's vow lives
     * as long as either holds it. */
    vow *q = vow_then(vow_ref(p), NULL, NULL, NULL);
    tu_wait(x, q);
    assert_ptr_equal(vow_value(q)->ptr, b);
    vow_unref(p);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&blob_drops), 0);
    vow_unref(q);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&blob_drops), 1);
    /* While this thread holds a copy, the group cannot finish: closing would wait
     * for this very thread. Once the copy is dropped, it can. */
    p = vow_group_call(g, 0, x, make_blob, "held");
    tu_wait(x, p);
    assert_int_equal(vow_group_close(g), -EDEADLK);
    assert_string_equal(((const struct blob *)vow_value(p)->ptr)->text, "held");
    vow_unref(p);
    gt_finish(g, x);
    assert_int_equal(atomic_load(&blob_drops), 2);
    assert_int_equal(atomic_load(&blob_wrong_thread), 0);
}

/* A copy that crosses again (member 1 -> member 0 -> this loop) still counts: the
 * value is dropped on member 1 only when the last copy anywhere is gone. */
struct relay {
    vow_group *g; /* the group */
    vow *held;    /* member 0 keeps its copy here until told */
};

static struct relay relay;

static vow_ret keep_copy(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return vow_pass();
}

static vow *relay_blob(vow_loop *l, void *arg)
{
    (void)arg;
    vow *p = vow_group_spawn(relay.g, 1, l, make_blob, "relayed");
    relay.held = vow_ref(p);
    return vow_then(p, keep_copy, NULL, NULL);
}

static vow *drop_held(vow_loop *l, void *arg)
{
    (void)arg;
    vow_unref(relay.held);
    relay.held = NULL;
    return vow_resolved(l, vow_val_none());
}

static void test_relayed_value(void **state)
{
    (void)state;
    atomic_store(&blob_drops, 0);
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    relay.g = g;
    vow *p = vow_group_spawn(g, 0, x, relay_blob, NULL);
    tu_wait(x, p);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    assert_string_equal(((const struct blob *)vow_value(p)->ptr)->text, "relayed");
    assert_int_equal(gt_num(x, vow_group_spawn(g, 0, x, drop_held, NULL)), 0);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&blob_drops), 0);
    vow_unref(p);
    barrier(g, 0, x);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&blob_drops), 1);
    assert_int_equal(atomic_load(&blob_wrong_thread), 0);
    gt_finish(g, x);
}

/* ------------------------------------------------ a vow of another loop */

/* Member 1's state, touched on its thread only. */
static struct {
    vow *shared;        /* a pending vow member 1 owns */
    atomic_int state;   /* its state, published by probe */
    atomic_int code;    /* its code */
    atomic_int probes;  /* probes run */
    atomic_int fn_runs; /* fn calls */
} b1;

static vow *get_shared(vow_loop *l, void *arg)
{
    (void)arg;
    atomic_fetch_add(&b1.fn_runs, 1);
    if (!b1.shared)
        b1.shared = vow_pending(l);
    return vow_ref(b1.shared);
}

static vow *probe(vow_loop *l, void *arg)
{
    (void)arg;
    atomic_store(&b1.state, b1.shared ? vow_state(b1.shared) : -1);
    atomic_store(&b1.code, b1.shared ? vow_code(b1.shared) : 0);
    atomic_fetch_add(&b1.probes, 1);
    return vow_resolved(l, vow_val_none());
}

static vow *settle_shared(vow_loop *l, void *arg)
{
    if (b1.shared && vow_state(b1.shared) == VOW_PENDING)
        vow_resolve(b1.shared, vow_val_num((int64_t)(intptr_t)arg));
    vow_unref(b1.shared);
    b1.shared = NULL;
    return vow_resolved(l, vow_val_none());
}

static int shared_state(vow_group *g, vow_loop *x)
{
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, probe, NULL)), 0);
    return atomic_load(&b1.state);
}

/* Two proxies consume the same vow: cancelling one leaves it to the other; dropping
 * the other withdraws the last consumer, which cancels it on its loop. */
static void test_call_shared(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    vow *q1 = vow_group_call(g, 1, x, get_shared, NULL);
    vow *q2 = vow_group_call(g, 1, x, get_shared, NULL);
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    assert_int_equal(vow_cancel(q1), 0);
    assert_int_equal(vow_code(q1), VOW_ECANCELED);
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    vow_unref(q2);
    assert_int_equal(shared_state(g, x), VOW_REJECTED);
    assert_int_equal(atomic_load(&b1.code), VOW_ECANCELED);
    vow_unref(q1);
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, settle_shared, NULL)), 0);
    /* Settled on its loop, both proxies see the value. */
    q1 = vow_group_call(g, 1, x, get_shared, NULL);
    q2 = vow_group_spawn(g, 1, x, get_shared, NULL);
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    vow *s = vow_group_spawn(g, 1, x, settle_shared, (void *)77);
    assert_int_equal(gt_num(x, q1), 77);
    assert_int_equal(gt_num(x, q2), 77);
    assert_int_equal(gt_num(x, s), 0);
    gt_finish(g, x);
}

/* A chain on a proxy: cancelling the end of the chain travels through the then,
 * the proxy and across to the vow on the other loop. */
static vow_ret never(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    gt_check(!"a cancelled chain's handler ran");
    return vow_pass();
}

static void test_chain_cancel(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    vow *t = vow_then(vow_group_call(g, 1, x, get_shared, NULL), never, NULL, NULL);
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    assert_int_equal(vow_cancel(t), 0);
    assert_int_equal(shared_state(g, x), VOW_REJECTED);
    assert_int_equal(atomic_load(&b1.code), VOW_ECANCELED);
    vow_unref(t);
    /* Dropping a then over a spawn's result (nothing else consumes it) cancels the
     * then, the result, and the work. */
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, settle_shared, NULL)), 0);
    vow *w =
        vow_timeout(vow_then(vow_group_spawn(g, 1, x, get_shared, NULL), never, NULL, NULL), 60000);
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    vow_unref(w);
    assert_int_equal(shared_state(g, x), VOW_REJECTED);
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, settle_shared, NULL)), 0);
    gt_finish(g, x);
}

/* Spawn is rooted: dropping its result leaves the work; cancelling it withdraws. */
static void test_spawn_rooted(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    vow_unref(vow_group_spawn(g, 1, x, get_shared, NULL));
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    vow *q = vow_group_spawn(g, 1, x, get_shared, NULL);
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    assert_int_equal(vow_cancel(q), 0);
    /* The dropped spawn still consumes it. */
    assert_int_equal(shared_state(g, x), VOW_PENDING);
    vow_unref(q);
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, settle_shared, (void *)5)), 0);
    /* The dropped spawn's reply arrived and was dropped: nothing waits any more. */
    barrier(g, 1, x);
    gt_finish(g, x);
}

/* ---------------------------------------------------- cancel and drop at every point */

/* A gate that holds member 1 inside a callback until the test opens it. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed;    /* 1 while the gate holds */
    atomic_int in; /* the member is inside */
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void gate_hold(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    atomic_store(&gate.in, 1);
    pthread_mutex_lock(&gate.mu);
    while (gate.closed)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    atomic_store(&gate.in, 0);
}

static void gate_close(vow_group *g, int i)
{
    pthread_mutex_lock(&gate.mu);
    gate.closed = 1;
    pthread_mutex_unlock(&gate.mu);
    assert_int_equal(vow_group_post(g, i, gate_hold, NULL), 0);
    wait_flag(&gate.in, 1);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.closed = 0;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

static atomic_int posted_flag;

static void set_flag(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    atomic_fetch_add(&posted_flag, 1);
}

/* Waits until member i has run everything queued to it so far (without running the
 * test's loop, so replies to it stay unapplied). */
static void drain_member(vow_group *g, int i)
{
    int want = atomic_load(&posted_flag) + 1;
    assert_int_equal(vow_group_post(g, i, set_flag, NULL), 0);
    wait_flag(&posted_flag, want);
}

enum point { BEFORE_START, WAITING, REPLIED, SETTLED, _POINTS };
static const char *point_name[] = {"before fn ran", "while the B side waits",
                                   "after B replied, before A applied", "after the result settled"};

/* The work on member 1: a vow nobody else consumes (fn_runs counts fn). */
static vow *fresh_work(vow_loop *l, void *arg)
{
    (void)arg;
    atomic_fetch_add(&b1.fn_runs, 1);
    vow_unref(b1.shared);
    b1.shared = vow_pending(l);
    return vow_ref(b1.shared);
}

/* Settled at once, for the points after the reply. */
static vow *fresh_done(vow_loop *l, void *arg)
{
    (void)arg;
    atomic_fetch_add(&b1.fn_runs, 1);
    vow_unref(b1.shared);
    b1.shared = vow_resolved(l, vow_val_num(1));
    return vow_ref(b1.shared);
}

/*
 * One crossing, ended by the test at point pt: by vow_cancel (how 0) or by dropping
 * the result (how 1), for a spawn (rooted) or a call. Afterwards the work on member 1
 * must be cancelled exactly when the rules say so: cancel always withdraws, a drop
 * only for a call; after the reply nothing is withdrawn any more.
 */
static void one_point(vow_loop *x, vow_group *g, int pt, int how, bool rooted)
{
    int runs = atomic_load(&b1.fn_runs);
    vow_group_fn fn = pt >= REPLIED ? fresh_done : fresh_work;
    if (pt == BEFORE_START)
        gate_close(g, 1);
    vow *q = rooted ? vow_group_spawn(g, 1, x, fn, NULL) : vow_group_call(g, 1, x, fn, NULL);
    assert_non_null(q);
    if (pt >= WAITING)
        drain_member(g, 1);
    if (pt == SETTLED)
        tu_wait(x, q);
    if (how == 0)
        vow_cancel(q);
    else
        vow_unref(q);
    if (pt == BEFORE_START)
        gate_open();
    /* Let every message run: the test's loop until member 1 answered a probe twice. */
    barrier(g, 1, x);
    int st = shared_state(g, x);
    bool withdrawn = pt <= WAITING && (how == 0 || !rooted);
    if (withdrawn) {
        if (st != VOW_REJECTED || atomic_load(&b1.code) != VOW_ECANCELED)
            fail_msg("%s %s %s: work not cancelled", rooted ? "spawn" : "call",
                     how ? "dropped" : "cancelled", point_name[pt]);
    } else if (pt <= WAITING) {
        if (st != VOW_PENDING)
            fail_msg("%s dropped %s: work cancelled", rooted ? "spawn" : "call", point_name[pt]);
    } else {
        assert_int_equal(st, VOW_FULFILLED);
    }
    /* fn always ran, once. */
    assert_int_equal(atomic_load(&b1.fn_runs), runs + 1);
    if (how == 0)
        vow_unref(q);
    /* A rooted spawn that was only dropped still waits: settle its work. */
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, settle_shared, NULL)), 0);
    barrier(g, 1, x);
}

static void test_every_point(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    for (int pt = 0; pt < _POINTS; pt++)
        for (int how = 0; how < 2; how++)
            for (int rooted = 0; rooted < 2; rooted++)
                one_point(x, g, pt, how, rooted);
    gt_finish(g, x);
}

/* ---------------------------------------------------------------- seams */

static atomic_int sleeper_result; /* what the coroutine on the other loop saw */

static vow_ret sleeper(void *arg)
{
    int rc = vow_co_sleep((uint64_t)(intptr_t)arg);
    atomic_store(&sleeper_result, rc == 0 ? 1 : rc);
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num(42));
}

static vow *spawn_sleeper(vow_loop *l, void *arg)
{
    return vow_co_spawn(l, sleeper, arg, NULL);
}

/* Under vow_timeout: the timeout fires, the crossing is cancelled, and the coroutine
 * on the other loop sees VOW_ECANCELED at its sleep. */
static void test_timeout(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    atomic_store(&sleeper_result, 0);
    vow *p = vow_timeout(vow_group_spawn(g, 1, x, spawn_sleeper, (void *)(intptr_t)60000), 10);
    assert_int_equal(gt_code(x, p), VOW_ETIMEDOUT);
    barrier(g, 1, x);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&sleeper_result), VOW_ECANCELED);
    /* And in time: the value comes through the timeout. */
    p = vow_timeout(vow_group_spawn(g, 0, x, spawn_sleeper, (void *)(intptr_t)1), 60000);
    assert_int_equal(gt_num(x, p), 42);
    gt_finish(g, x);
}

/* In vow_race: the loser, on another loop, is cancelled there. */
static void test_race(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    atomic_store(&sleeper_result, 0);
    vow *in[2] = {vow_group_call(g, 1, x, spawn_sleeper, (void *)(intptr_t)60000),
                  vow_group_call(g, 0, x, make_later, (void *)8)};
    assert_int_equal(gt_num(x, vow_race(x, in, 2)), 8);
    barrier(g, 1, x);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&sleeper_result), VOW_ECANCELED);
    gt_finish(g, x);
}

/* A coroutine on loop 0 awaits a coroutine of loop 1, then is cancelled while
 * awaiting another: the cancellation travels to loop 1. */
struct pair {
    vow_group *g;      /* the group */
    atomic_int got;    /* the first await's value */
    atomic_int second; /* the second await's code */
};

static vow_ret awaiter(void *arg)
{
    struct pair *pr = arg;
    vow_loop *l = vow_loop_of(vow_co_self());
    vow *p = vow_group_spawn(pr->g, 1, l, spawn_sleeper, (void *)(intptr_t)1);
    int rc = vow_await(p);
    atomic_store(&pr->got, rc == 0 ? (int)vow_value(p)->num : rc);
    vow_unref(p);
    p = vow_group_spawn(pr->g, 1, l, spawn_sleeper, (void *)(intptr_t)60000);
    rc = vow_await(p);
    atomic_store(&pr->second, rc);
    vow_unref(p);
    return vow_ok(vow_val_num(rc));
}

static vow *start_awaiter(vow_loop *l, void *arg)
{
    return vow_co_spawn(l, awaiter, arg, NULL);
}

static void test_coroutine_awaits(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    struct pair pr = {.g = g};
    atomic_store(&sleeper_result, 0);
    vow *p = vow_group_spawn(g, 0, x, start_awaiter, &pr);
    /* Wait until the coroutine awaits the second sleeper, then cancel it from here. */
    while (atomic_load(&pr.got) == 0)
        vow_loop_run(x, VOW_RUN_NOWAIT);
    assert_int_equal(atomic_load(&pr.got), 42);
    barrier(g, 0, x);
    barrier(g, 1, x);
    assert_int_equal(vow_cancel(p), 0);
    vow_unref(p);
    barrier(g, 0, x);
    barrier(g, 0, x);
    barrier(g, 1, x);
    barrier(g, 1, x);
    assert_int_equal(atomic_load(&pr.second), VOW_ECANCELED);
    assert_int_equal(atomic_load(&sleeper_result), VOW_ECANCELED);
    gt_finish(g, x);
}

/* ----------------------------------------------------------------- errors */

static vow *give_null(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    return NULL;
}

static vow_loop *stray_loop;
static vow *stray_vow;

static vow *give_stray(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    stray_loop = vow_loop_new();
    stray_vow = stray_loop ? vow_resolved(stray_loop, vow_val_none()) : NULL;
    return stray_vow;
}

static vow *clean_stray(vow_loop *l, void *arg)
{
    (void)arg;
    vow_unref(stray_vow);
    gt_check(!stray_loop || vow_loop_close(stray_loop) == 0);
    return vow_resolved(l, vow_val_none());
}

static void test_errors(void **state)
{
    (void)state;
    vow_loop *x = gt_loop();
    vow_group *g = gt_group(2, NULL, NULL);
    assert_null(vow_group_spawn(NULL, 0, x, make_num, NULL));
    assert_null(vow_group_call(g, 0, NULL, make_num, NULL));
    assert_int_equal(gt_code(x, vow_group_spawn(g, 0, x, NULL, NULL)), VOW_EINVAL);
    assert_int_equal(gt_code(x, vow_group_call(g, 2, x, make_num, NULL)), VOW_EINVAL);
    assert_int_equal(gt_code(x, vow_group_call(g, -9, x, make_num, NULL)), VOW_EINVAL);
    assert_int_equal(gt_code(x, vow_group_spawn(g, 1, x, give_null, NULL)), VOW_ENOMEM);
    assert_int_equal(gt_code(x, vow_group_spawn(g, 1, x, give_stray, NULL)), VOW_EINVAL);
    assert_int_equal(gt_num(x, vow_group_spawn(g, 1, x, clean_stray, NULL)), 0);
    assert_int_equal(vow_group_stop(g), 0);
    assert_int_equal(gt_code(x, vow_group_spawn(g, 1, x, make_num, NULL)), VOW_ECLOSED);
    assert_int_equal(gt_code(x, vow_group_call(g, 0, x, make_num, NULL)), VOW_ECLOSED);
    gt_finish(g, x);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),           cmocka_unit_test(test_chain),
        cmocka_unit_test(test_shared_value),     cmocka_unit_test(test_relayed_value),
        cmocka_unit_test(test_call_shared),      cmocka_unit_test(test_chain_cancel),
        cmocka_unit_test(test_spawn_rooted),     cmocka_unit_test(test_every_point),
        cmocka_unit_test(test_timeout),          cmocka_unit_test(test_race),
        cmocka_unit_test(test_coroutine_awaits), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("group-cross", tests, NULL, NULL);
}
