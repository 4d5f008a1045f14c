/* SPDX-License-Identifier: MIT */
/*
 * The pool's size from the environment: VOW_THREADPOOL_SIZE (registered with a
 * valid and an invalid value) sets it unless the program configures it; an invalid
 * value falls back to the machine's CPUs, at least 4. Once a job has started the
 * pool, its size is fixed.
 */
#include "work-test.h"

#include <sched.h>

static int add_one(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    *ret = vow_val_num((int64_t)(intptr_t)arg + 1);
    return 0;
}

/* What the pool's default must be: the environment's if valid, else the CPUs. */
static unsigned expected(void)
{
    const char *env = getenv("VOW_THREADPOOL_SIZE");
    char *end;
    unsigned long n = env ? strtoul(env, &end, 10) : 0;
    if (env && *env && *end == '\0' && n >= 1 && n <= VOW_WORK_MAX_THREADS)
        return (unsigned)n;
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    unsigned cpus = (unsigned)CPU_COUNT(&set);
    return cpus < 4 ? 4 : cpus;
}

static void test_env(void **state)
{
    (void)state;
    assert_int_equal(vow_work_threads(), expected());
    /* The program's setting wins; 0 keeps it. */
    assert_int_equal(vow_work_configure(5, 0), 0);
    assert_int_equal(vow_work_threads(), 5);
    assert_int_equal(vow_work_configure(0, 0), 0);
    assert_int_equal(vow_work_threads(), 5);
    assert_int_equal(vow_work_configure(0, 0), 0);
    assert_int_equal(vow_work_configure(1, 1), 0);
    vow_loop *l = wt_loop_new();
    /* One thread: every lane, NET included, still gets it in turn. */
    vow *ps[3];
    for (int i = 0; i < 3; i++) {
        ps[i] = vow_work(l, i, add_one, (void *)(intptr_t)i, NULL);
        if (vow_state(ps[i]) == VOW_REJECTED) /* one waiting job at most */
            assert_int_equal(vow_code(ps[i]), VOW_EQUEUEFULL);
        else
            assert_int_equal(wt_num(l, vow_ref(ps[i])), i + 1);
        vow_unref(ps[i]);
    }
    assert_int_equal(vow_work_configure(2, 0), VOW_EBUSY);
    assert_int_equal(vow_work_threads(), 1);
    wt_finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
