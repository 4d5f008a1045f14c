/* SPDX-License-Identifier: MIT */
/*
 * The pool after fork(): a child forked while the parent's threads run and queue
 * jobs has none of them, starts a fresh pool on its first job (with an empty queue),
 * and its jobs, files and lookups complete. The parent's own jobs are unaffected. A
 * pool that cannot start a single thread refuses the job with the error.
 * (Not for ThreadSanitizer, which cannot start threads after a multi-threaded fork.)
 */
#include "work-test.h"

#include "work_int.h"

#include <sys/wait.h>

#define THREADS 2
#define QUEUE 4

static int add_one(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    *ret = vow_val_num((int64_t)(intptr_t)arg + 1);
    return 0;
}

/* Runs l until p settles; 0 if the loop ran dry first. */
static int child_wait(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING)
        if (vow_loop_run(l, VOW_RUN_ONCE) <= 0 && vow_state(p) == VOW_PENDING)
            return 0;
    return 1;
}

/* The child's part: a full queue's worth of jobs, a file and a lookup on a new
 * loop. Returns the exit status (0: everything as expected). */
static int child_main(void)
{
    vow_loop *l = vow_loop_new();
    if (!l)
        return 10;
    vow_loop_set_unhandled(l, wt_quiet, NULL);
    vow *ps[QUEUE];
    for (int i = 0; i < QUEUE; i++) {
        ps[i] = vow_work(l, VOW_WORK_CPU, add_one, (void *)(intptr_t)i, NULL);
        /* The parent's queue was full at the fork; the child's is empty. */
        if (!ps[i] || vow_state(ps[i]) == VOW_REJECTED)
            return 11;
    }
    for (int i = 0; i < QUEUE; i++) {
        if (!child_wait(l, ps[i]) || vow_state(ps[i]) != VOW_FULFILLED ||
            vow_value(ps[i])->num != i + 1)
            return 12;
        vow_unref(ps[i]);
    }
    vow *p = vow_fs_read_file(l, "/proc/self/stat");
    if (!child_wait(l, p) || vow_state(p) != VOW_FULFILLED)
        return 13;
    vow_unref(p);
    p = vow_getaddrinfo(l, "localhost", NULL, NULL);
    if (!child_wait(l, p) || vow_state(p) != VOW_FULFILLED)
        return 14;
    vow_unref(p);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    if (vow_loop_close(l) != 0)
        return 15;
    return 0;
}

/* The parent's loop and vows, in statics: a leak checker in the child (which exits
 * with them in flight) finds them reachable. */
static vow_loop *parent;
static vow *pps[THREADS], *pqs[QUEUE];

static void test_fork_busy(void **state)
{
    (void)state;
    parent = wt_loop_new();
    struct gate g;
    gate_init(&g);
    for (int i = 0; i < THREADS; i++)
        pps[i] = vow_work(parent, VOW_WORK_CPU, gate_job, &g, NULL);
    gate_wait_started(&g, THREADS);
    for (int i = 0; i < QUEUE; i++)
        pqs[i] = vow_work(parent, VOW_WORK_FS, add_one, (void *)(intptr_t)i, NULL);
    assert_int_equal(wt_code(parent, vow_work(parent, VOW_WORK_CPU, add_one, NULL, NULL)),
                     VOW_EQUEUEFULL);

    /* Output buffered before the fork must not be flushed twice. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exit(child_main()); /* exit, not _exit: coverage builds write their data */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The parent's jobs go on. */
    gate_open(&g);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(wt_num(parent, pps[i]), 42);
    for (int i = 0; i < QUEUE; i++)
        assert_int_equal(wt_num(parent, pqs[i]), i + 1);
    wt_finish(parent);
    gate_destroy(&g);
}

/* A child whose pool cannot start any thread gets the error as a rejection. */
static void test_no_thread(void **state)
{
    (void)state;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vow_loop *l = vow_loop_new();
        vow_loop_set_unhandled(l, wt_quiet, NULL);
        atomic_store(&vow__work_spawn_fail, 1);
        vow *p = vow_work(l, VOW_WORK_CPU, add_one, NULL, NULL);
        int ok = p && vow_code(p) == -EAGAIN;
        vow_unref(p);
        atomic_store(&vow__work_spawn_fail, 0);
        p = vow_work(l, VOW_WORK_CPU, add_one, (void *)1, NULL);
        ok = ok && child_wait(l, p) && vow_value(p)->num == 2;
        vow_unref(p);
        ok = ok && vow_loop_close(l) == 0;
        exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    tu_install_allocator();
    assert_int_equal(vow_work_configure(THREADS, QUEUE), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_busy),
        cmocka_unit_test(test_no_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
