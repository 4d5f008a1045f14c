/* SPDX-License-Identifier: MIT */
/*
 * Coroutines on several threads at once, one loop per thread: the adapter's per-loop
 * registries and stack caches are thread-local, so the threads never share state.
 * Half of the coroutines are copy-stack ones, on each loop's shared stack. Meant for
 * ThreadSanitizer as much as for the plain build.
 */
#include "testutil.h"

#include "vow/co.h"

#include <pthread.h>

#define NTHREADS 4
#define NCO 2000

struct job {
    vow_loop *l;   /* this thread's loop */
    int64_t sum;   /* what its coroutines returned */
    int ok;        /* everything checked out */
};

/* Returns its index, kept in a local array across the yields. */
static vow_ret co_work(void *arg)
{
    int64_t i = (int64_t)(intptr_t)arg;
    volatile int64_t keep[32];
    for (int k = 0; k < 32; k++)
        keep[k] = i + k;
    for (int k = 0; k < 3; k++) {
        if (vow_co_yield() < 0)
            return vow_fail(VOW_EINVAL, vow_val_none());
    }
    int64_t v = 0;
    for (int k = 0; k < 32; k++)
        v += keep[k] - k;
    return vow_ok(vow_val_num(v / 32));
}

static void *thread_main(void *arg)
{
    struct job *j = arg;
    j->l = vow_loop_new();
    if (!j->l)
        return NULL;
    vow *ps[NCO];
    const vow_co_opts copy = { .flags = VOW_CO_COPY_STACK };
    for (int i = 0; i < NCO; i++)
        ps[i] = vow_co_spawn(j->l, co_work, (void *)(intptr_t)i, i % 2 ? &copy : NULL);
    vow *all = vow_all(j->l, ps, NCO);
    int r = vow_loop_run(j->l, VOW_RUN_DEFAULT);
    const vow_list *list = all ? vow_list_get(vow_value(all)) : NULL;
    if (r == 0 && list && list->n == NCO) {
        for (int i = 0; i < NCO; i++)
            j->sum += vow_value(list->items[i])->num;
        j->ok = vow_co_live(j->l) == 0;
    }
    vow_unref(all);
    j->ok &= vow_loop_close(j->l) == 0;
    /* The thread's stack cache goes when the thread exits; trimming here as well
     * shows there was one. */
    j->ok &= vow_co_trim() > 0;
    return NULL;
}

static void threads_run_their_own_coroutines(void **state)
{
    (void)state;
    pthread_t t[NTHREADS];
    struct job jobs[NTHREADS] = { { 0 } };
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &jobs[i]), 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        assert_true(jobs[i].ok);
        assert_int_equal(jobs[i].sum, (int64_t)NCO * (NCO - 1) / 2);
    }
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_run_their_own_coroutines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
