/* SPDX-License-Identifier: MIT */
/*
 * Settling vows from other threads through vow_remote: four real threads settle
 * thousands of vows that the loop's thread awaits with vow_all; a remote used twice,
 * or by two threads racing, settles once and the other use gets VOW_ESETTLED, even
 * once its slot was reused (run under TSan).
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#define THREADS 4
#define PER_THREAD 2500

struct job {
    vow_remote **remotes; /* this thread's remotes */
    int first;            /* index of the first vow */
    int failures;         /* calls that did not return 0 */
};

static void *settle_all(void *arg)
{
    struct job *j = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        int k = j->first + i;
        int rc;
        if (k % 10 == 9)
            rc = vow_remote_reject(j->remotes[i], -EIO, vow_val_num(k));
        else
            rc = vow_remote_resolve(j->remotes[i], vow_val_num(k));
        if (rc != 0)
            j->failures++;
    }
    return NULL;
}

static void many_threads_settle(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    enum { N = THREADS * PER_THREAD };
    static vow *ps[N];
    static vow_remote *rs[N];
    for (int i = 0; i < N; i++) {
        ps[i] = vow_pending(l);
        rs[i] = vow_remote_new(ps[i]);
        assert_non_null(rs[i]);
    }
    vow *settled = vow_all_settled(l, ps, N);
    pthread_t t[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct job){ rs + i * PER_THREAD, i * PER_THREAD, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, settle_all, &jobs[i]), 0);
    }
    /* The remotes keep the loop alive until every settlement has arrived. */
    vow_loop_run(l, VOW_RUN_DEFAULT);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(settled), VOW_FULFILLED);
    const vow_list *list = vow_list_get(vow_value(settled));
    assert_non_null(list);
    assert_int_equal(list->n, N);
    long sum = 0;
    int rejected = 0;
    for (size_t i = 0; i < list->n; i++) {
        assert_int_equal(vow_value(list->items[i])->num, (int64_t)i);
        if (vow_state(list->items[i]) == VOW_REJECTED) {
            rejected++;
            assert_int_equal(vow_code(list->items[i]), -EIO);
        }
        sum += vow_value(list->items[i])->num;
    }
    assert_int_equal(rejected, N / 10);
    assert_int_equal(sum, (long)N * (N - 1) / 2);
    vow_unref(settled);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void remote_bad_arguments(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_null(vow_remote_new(NULL));
    assert_int_equal(vow_remote_resolve(NULL, vow_val_num(0)), VOW_EINVAL);
    vow *p = vow_pending(l);
    vow_remote *r = vow_remote_new(p);
    assert_int_equal(vow_remote_reject(r, 5, vow_val_none()), VOW_EINVAL);
    /* A remote settling an already-settled vow changes nothing. */
    vow_resolve(p, vow_val_num(1));
    assert_int_equal(vow_remote_reject(r, -EIO, vow_val_none()), 0);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(p), VOW_FULFILLED);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A second use is an error code, before and after the settlement ran, and even
 * after another remote took over the handle's slot. */
static void second_use_is_an_error(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    vow_remote *r = vow_remote_new(p);
    assert_non_null(r);
    assert_int_equal(vow_remote_resolve(r, vow_val_num(1)), 0);
    assert_int_equal(vow_remote_resolve(r, vow_val_num(2)), VOW_ESETTLED);
    assert_int_equal(vow_remote_reject(r, -EIO, vow_val_none()), VOW_ESETTLED);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(p)->num, 1);
    assert_int_equal(vow_remote_resolve(r, vow_val_num(3)), VOW_ESETTLED);
    /* New remotes reuse freed slots; the old handle stays dead. */
    vow *q[8];
    vow_remote *rq[8];
    for (int i = 0; i < 8; i++) {
        q[i] = vow_pending(l);
        rq[i] = vow_remote_new(q[i]);
        assert_non_null(rq[i]);
        assert_ptr_not_equal(rq[i], r);
    }
    assert_int_equal(vow_remote_reject(r, -EIO, vow_val_none()), VOW_ESETTLED);
    for (int i = 0; i < 8; i++)
        assert_int_equal(vow_remote_resolve(rq[i], vow_val_num(10 + i)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(vow_value(q[i])->num, 10 + i);
        vow_unref(q[i]);
    }
    assert_int_equal(vow_value(p)->num, 1);
    vow_unref(p);
    /* Not a remote at all. */
    assert_int_equal(vow_remote_resolve((vow_remote *)(uintptr_t)(1u << 22), vow_val_num(0)),
                     VOW_EINVAL);
    assert_int_equal(vow_remote_resolve((vow_remote *)(uintptr_t)0x3fffff, vow_val_num(0)),
                     VOW_EINVAL);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Two threads race to use one remote, ROUNDS times; each reports what it got. */
#define ROUNDS 200

struct racer {
    pthread_barrier_t *go;      /* both start together, each round */
    vow_remote *volatile *slot; /* the round's remote, set by the loop thread */
    int64_t id;                 /* this racer's value */
    int wins, losses, other;    /* 0, VOW_ESETTLED, anything else */
    int drops;                  /* own values dropped after a loss */
};

static _Atomic int value_drops;

static void count_drop(void *ptr)
{
    (void)ptr;
    atomic_fetch_add(&value_drops, 1);
}

static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(r->go);
        vow_val v = vow_val_ptr((void *)(intptr_t)r->id, count_drop);
        int rc = r->id & 1 ? vow_remote_reject(*r->slot, -EIO, v) : vow_remote_resolve(*r->slot, v);
        if (rc == 0) {
            r->wins++;
        } else if (rc == VOW_ESETTLED) {
            /* A failed use leaves the value with the caller. */
            r->losses++;
            count_drop(v.ptr);
            r->drops++;
        } else {
            r->other++;
        }
        pthread_barrier_wait(r->go);
    }
    return NULL;
}

static void two_threads_race(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, 3), 0);
    static vow_remote *volatile current;
    struct racer rs[2] = {{&go, &current, 1, 0, 0, 0, 0}, {&go, &current, 2, 0, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
    int fulfilled = 0, rejected = 0;
    for (int i = 0; i < ROUNDS; i++) {
        vow *p = vow_pending(l);
        current = vow_remote_new(p);
        assert_non_null(current);
        pthread_barrier_wait(&go); /* race */
        pthread_barrier_wait(&go); /* both done */
        assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
        assert_int_not_equal(vow_state(p), VOW_PENDING);
        if (vow_state(p) == VOW_FULFILLED) {
            fulfilled++;
            assert_int_equal((intptr_t)vow_value(p)->ptr, 2);
        } else {
            rejected++;
            assert_int_equal(vow_code(p), -EIO);
            assert_int_equal((intptr_t)vow_value(p)->ptr, 1);
        }
        vow_unref(p);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&go);
    /* Exactly one winner per round, and every value dropped exactly once. */
    assert_int_equal(rs[0].wins + rs[1].wins, ROUNDS);
    assert_int_equal(rs[0].losses + rs[1].losses, ROUNDS);
    assert_int_equal(rs[0].other + rs[1].other, 0);
    assert_int_equal(rs[0].wins, rejected);
    assert_int_equal(rs[1].wins, fulfilled);
    assert_int_equal(atomic_load(&value_drops), 2 * ROUNDS);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A used handle kept by another thread stays dead while its slot serves new remotes. */
struct stale_job {
    vow_remote *r;         /* used already */
    pthread_barrier_t *go; /* starts the uses */
    int settled, other;    /* VOW_ESETTLED results and anything else */
};

static void *use_stale(void *arg)
{
    struct stale_job *j = arg;
    pthread_barrier_wait(j->go);
    for (int i = 0; i < 1000; i++) {
        int rc = vow_remote_resolve(j->r, vow_val_num(-1));
        if (rc == VOW_ESETTLED)
            j->settled++;
        else
            j->other++;
    }
    return NULL;
}

static void stale_handle_from_another_thread(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    vow_remote *r = vow_remote_new(p);
    assert_int_equal(vow_remote_resolve(r, vow_val_num(1)), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
    struct stale_job j = {r, &go, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, use_stale, &j), 0);
    pthread_barrier_wait(&go);
    /* Meanwhile the loop thread makes and uses remotes, reusing r's slot. */
    for (int i = 0; i < 200; i++) {
        vow *q = vow_pending(l);
        vow_remote *rq = vow_remote_new(q);
        assert_non_null(rq);
        assert_int_equal(vow_remote_resolve(rq, vow_val_num(i)), 0);
        assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
        assert_int_equal(vow_value(q)->num, i);
        vow_unref(q);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&go);
    assert_int_equal(j.settled, 1000);
    assert_int_equal(j.other, 0);
    assert_int_equal(vow_value(p)->num, 1);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Settles a remote from a thread of its own, twice: the second use must fail. */
struct late {
    vow_remote *r;     /* to use */
    int first, second; /* what each use returned */
};

static void *use_twice(void *arg)
{
    struct late *j = arg;
    j->first = vow_remote_resolve(j->r, vow_val_num(9));
    j->second = vow_remote_resolve(j->r, vow_val_num(10));
    return NULL;
}

static vow_ret plus_one(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

/*
 * A remote's vow with the other styles: chained and raced against a delay that wins
 * (race cancels the remote's vow: the remote's reference does not keep it wanted),
 * and under a timeout that does not fire. Settling a cancelled vow from the thread
 * later changes nothing; a second use is still VOW_ESETTLED.
 */
static void remote_with_race_and_timeout(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    vow_remote *r = vow_remote_new(p);
    vow *in[2] = {vow_then(vow_ref(p), plus_one, NULL, NULL), vow_delay(l, 1, vow_val_num(-1))};
    vow *race = vow_race(l, in, 2);
    vow *q = vow_pending(l);
    vow_remote *rq = vow_remote_new(q);
    vow *t = vow_timeout(vow_then(vow_ref(q), plus_one, NULL, NULL), 60000);
    tu_wait(l, race);
    assert_int_equal(vow_value(race)->num, -1);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    struct late jobs[2] = {{r, 1, 1}, {rq, 1, 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, use_twice, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].first, 0);
        assert_int_equal(jobs[i].second, VOW_ESETTLED);
    }
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_code(p), VOW_ECANCELED);
    assert_int_equal(vow_value(t)->num, 10);
    vow_unref(p);
    vow_unref(race);
    vow_unref(q);
    vow_unref(t);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_threads_settle),
        cmocka_unit_test(remote_bad_arguments),
        cmocka_unit_test(second_use_is_an_error),
        cmocka_unit_test(two_threads_race),
        cmocka_unit_test(stale_handle_from_another_thread),
        cmocka_unit_test(remote_with_race_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
