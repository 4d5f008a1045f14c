/* SPDX-License-Identifier: MIT */
/*
 * The counting semaphore and the lock: FIFO fairness (a released unit goes to the
 * longest waiter, never to a newcomer), try, close, owner tokens (a release by the
 * wrong owner, or a second release, is refused and changes nothing), mutual
 * exclusion between coroutines that yield inside their critical sections.
 */
#include "st.h"

#include "vow/co.h"

static void sem_counts_and_fifo(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_sem *s = vow_sem_new(l, 2);
    assert_int_equal(vow_sem_count(s), 2);
    vow *a = vow_sem_acquire(s);
    assert_int_equal(vow_state(a), VOW_FULFILLED);
    assert_int_equal(vow_sem_try_acquire(s), 0);
    assert_int_equal(vow_sem_count(s), 0);
    assert_int_equal(vow_sem_try_acquire(s), VOW_EAGAIN);
    vow *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = vow_sem_acquire(s);
    /* Each release goes to the longest waiter, not to the count. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vow_state(w[i]), VOW_PENDING);
        assert_int_equal(vow_sem_release(s), 0);
        assert_int_equal(vow_state(w[i]), VOW_FULFILLED);
        assert_int_equal(vow_sem_count(s), 0);
        /* A newcomer cannot overtake the waiters still queued. */
        if (i < 2)
            assert_int_equal(vow_sem_try_acquire(s), VOW_EAGAIN);
    }
    assert_int_equal(vow_sem_release(s), 0);
    assert_int_equal(vow_sem_count(s), 1);
    for (int i = 0; i < 3; i++)
        vow_unref(w[i]);
    vow_unref(a);
    vow_sem_close(s);
    st_finish(l);
}

static void sem_close_and_errors(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_sem *s = vow_sem_new(l, 0);
    struct st_seen seen[2] = { { 0 } };
    st_watch(vow_sem_acquire(s), &seen[0]);
    st_watch(vow_sem_acquire(s), &seen[1]);
    vow_sem_close(s);
    st_turn(l);
    assert_int_equal(seen[0].code, VOW_ECLOSED);
    assert_int_equal(seen[1].code, VOW_ECLOSED);
    s = vow_sem_new(l, SIZE_MAX);
    assert_int_equal(vow_sem_release(s), VOW_ENOSPC);
    vow_sem_close(s);
    vow_sem_close(NULL);
    assert_null(vow_sem_new(NULL, 1));
    assert_null(vow_sem_acquire(NULL));
    assert_int_equal(vow_sem_try_acquire(NULL), VOW_EINVAL);
    assert_int_equal(vow_sem_release(NULL), VOW_EINVAL);
    assert_int_equal(vow_sem_count(NULL), 0);
    st_finish(l);
}

static void lock_tokens(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_lock *k = vow_lock_new(l);
    assert_int_equal(vow_lock_is_held(k), 0);
    assert_int_equal(vow_lock_release(k, 1), VOW_EPERM);
    vow *a = vow_lock_acquire(k);
    assert_int_equal(vow_state(a), VOW_FULFILLED);
    int64_t t1 = vow_value(a)->num;
    assert_true(t1 > 0);
    vow_unref(a);
    assert_int_equal(vow_lock_is_held(k), 1);
    int64_t t;
    assert_int_equal(vow_lock_try_acquire(k, &t), VOW_EAGAIN);
    vow *b = vow_lock_acquire(k), *c = vow_lock_acquire(k);
    /* The wrong owner is refused and nothing changes. */
    assert_int_equal(vow_lock_release(k, t1 + 1), VOW_EPERM);
    assert_int_equal(vow_lock_release(k, 0), VOW_EPERM);
    assert_int_equal(vow_state(b), VOW_PENDING);
    assert_int_equal(vow_lock_close(k), VOW_EBUSY);
    assert_int_equal(vow_lock_release(k, t1), 0);
    /* The lock passed to b with a token of its own; t1 is stale now. */
    assert_int_equal(vow_state(b), VOW_FULFILLED);
    int64_t t2 = vow_value(b)->num;
    assert_true(t2 != t1);
    assert_int_equal(vow_lock_release(k, t1), VOW_EPERM);
    assert_int_equal(vow_state(c), VOW_PENDING);
    assert_int_equal(vow_lock_release(k, t2), 0);
    int64_t t3 = vow_value(c)->num;
    assert_int_equal(vow_lock_release(k, t3), 0);
    assert_int_equal(vow_lock_release(k, t3), VOW_EPERM);
    assert_int_equal(vow_lock_is_held(k), 0);
    assert_int_equal(vow_lock_try_acquire(k, &t), 0);
    assert_true(t != t1 && t != t2 && t != t3);
    assert_int_equal(vow_lock_release(k, t), 0);
    vow_unref(b);
    vow_unref(c);
    assert_int_equal(vow_lock_close(k), 0);
    assert_null(vow_lock_new(NULL));
    assert_null(vow_lock_acquire(NULL));
    assert_int_equal(vow_lock_close(NULL), VOW_EINVAL);
    assert_int_equal(vow_lock_try_acquire(NULL, &t), VOW_EINVAL);
    assert_int_equal(vow_lock_release(NULL, 1), VOW_EINVAL);
    assert_int_equal(vow_lock_is_held(NULL), VOW_EINVAL);
    st_finish(l);
}

/* Coroutines that read, yield and write a shared counter inside the lock: without
 * mutual exclusion updates would be lost. */
struct crit {
    vow_lock *k;    /* the lock */
    vow_sem *s;     /* bounds how many are between acquire and release of s */
    int counter;    /* the shared counter */
    int inside;     /* coroutines inside the critical section */
    int in_sem;     /* coroutines holding a unit of s */
    int max_in_sem; /* the most at once */
    int order[16];  /* which coroutine entered the lock, in order */
    int n;          /* entries of order */
};

struct crit_arg {
    struct crit *c; /* shared */
    int id;         /* this coroutine */
};

static vow_ret co_crit(void *arg)
{
    struct crit_arg *a = arg;
    struct crit *c = a->c;
    for (int round = 0; round < 2; round++) {
        vow *u = vow_sem_acquire(c->s);
        assert_int_equal(vow_await(u), 0);
        vow_unref(u);
        c->in_sem++;
        c->max_in_sem = c->in_sem > c->max_in_sem ? c->in_sem : c->max_in_sem;
        vow *p = vow_lock_acquire(c->k);
        assert_int_equal(vow_await(p), 0);
        int64_t token = vow_value(p)->num;
        vow_unref(p);
        assert_int_equal(c->inside, 0);
        c->inside++;
        if (c->n < 16)
            c->order[c->n++] = a->id;
        int v = c->counter;
        assert_int_equal(vow_co_yield(), 0);
        c->counter = v + 1;
        c->inside--;
        assert_int_equal(vow_lock_release(c->k, token), 0);
        c->in_sem--;
        assert_int_equal(vow_sem_release(c->s), 0);
        assert_int_equal(vow_co_yield(), 0);
    }
    return vow_ok(vow_val_none());
}

static void coroutines_mutual_exclusion(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct crit c = { vow_lock_new(l), vow_sem_new(l, 2), 0, 0, 0, 0, { 0 }, 0 };
    struct crit_arg a[6];
    vow *co[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (struct crit_arg){ &c, i };
        co[i] = vow_co_spawn(l, co_crit, &a[i], NULL);
    }
    vow_loop_run(l, VOW_RUN_DEFAULT);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(vow_state(co[i]), VOW_FULFILLED);
        vow_unref(co[i]);
    }
    assert_int_equal(c.counter, 12);
    assert_int_equal(c.max_in_sem, 2);
    /* The lock's first comers entered in spawn order. */
    assert_int_equal(c.order[0], 0);
    assert_int_equal(c.order[1], 1);
    assert_int_equal(vow_lock_close(c.k), 0);
    vow_sem_close(c.s);
    st_finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sem_counts_and_fifo),
        cmocka_unit_test(sem_close_and_errors),
        cmocka_unit_test(lock_tokens),
        cmocka_unit_test(coroutines_mutual_exclusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
