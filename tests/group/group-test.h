/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the group tests. cmocka's assertions jump back into the test
 * function, so they only work on the test's own thread: code that runs on a group's
 * threads records failed checks with gt_check, and the test asserts at the end that
 * none failed (gt_finish).
 */
#ifndef VOW_GROUP_TEST_H
#define VOW_GROUP_TEST_H

#include "testutil.h"

#include "vow/group.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*
 * Under ThreadSanitizer, tests keep fewer than ~200 coroutines alive at once: clang
 * 14's runtime gives every fiber one of its few thread slots, and once they run out
 * it recycles them and loses happens-before edges (seen here as false reports of a
 * joined thread "still running").
 */
#if defined(__SANITIZE_THREAD__)
#define GT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GT_TSAN 1
#endif
#endif

static atomic_int gt_failures;
static char gt_first[256];

static inline void gt_fail(const char *file, int line, const char *what)
{
    if (atomic_fetch_add(&gt_failures, 1) == 0)
        snprintf(gt_first, sizeof(gt_first), "%s:%d: %s", file, line, what);
}

/* A check that may run on any thread. */
#define gt_check(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            gt_fail(__FILE__, __LINE__, #cond);                                                    \
    } while (0)

static inline void gt_assert_clean(void)
{
    if (atomic_load(&gt_failures) != 0)
        fail_msg("%d check(s) failed on the group's threads; first: %s", atomic_load(&gt_failures),
                 gt_first);
}

/* A group of n loops (0: the default) with an optional stop hook. */
static inline vow_group *gt_group(unsigned n, vow_group_stop_fn on_stop, void *ctx)
{
    vow_group_opts o = {.loops = n, .on_stop = on_stop, .ctx = ctx};
    vow_group *g = NULL;
    int r = vow_group_new(&o, &g);
    if (r != 0)
        fail_msg("vow_group_new: %s", vow_strerror(r));
    return g;
}

/* A loop for the test's own thread (the "outside" loop). */
static inline vow_loop *gt_loop(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    return l;
}

/* Closes the group and the test's loop; nothing may be left. */
static inline void gt_finish(vow_group *g, vow_loop *l)
{
    if (g)
        assert_int_equal(vow_group_close(g), 0);
    if (l) {
        while (vow_loop_run(l, VOW_RUN_NOWAIT) > 0)
            ;
        assert_int_equal(vow_loop_close(l), 0);
    }
    gt_assert_clean();
    assert_int_equal(tu_live_allocations(), 0);
}

/* The number fulfilling p (waited for on l), or fails the test. Consumes p. */
#define gt_num tu_num

/* The rejection code of p (waited for on l), or fails the test. Consumes p. */
static inline int gt_code(vow_loop *l, vow *p)
{
    assert_non_null(p);
    tu_wait(l, p);
    assert_int_equal(vow_state(p), VOW_REJECTED);
    int c = vow_code(p);
    vow_unref(p);
    return c;
}

#endif /* VOW_GROUP_TEST_H */
