/* SPDX-License-Identifier: MIT */
/*
 * Settling vows from other threads through vow_remote: four real threads settle
 * thousands of vows that the loop's thread awaits with vow_all (run under TSan).
 */
#include "testutil.h"

#include <pthread.h>

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

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_threads_settle),
        cmocka_unit_test(remote_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
