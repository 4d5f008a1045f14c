/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the reactor tests: a loop per test, checked by
 * vow__loop_verify after turns and closed with no allocation left behind.
 */
#ifndef VOW_TEST_RT_H
#define VOW_TEST_RT_H

#include "testutil.h"

#include "reactor.h"

#include <stdio.h>
#include <string.h>

static inline vow_loop *rt_new(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    const char *be = getenv("VOW_BACKEND");
    if (be)
        assert_string_equal(vow_loop_backend_name(l), be);
    return l;
}

/* One turn in the given mode, then the loop's own consistency check. */
static inline int rt_turn(vow_loop *l, int mode)
{
    int r = vow_loop_run(l, mode);
    assert_int_equal(vow__loop_verify(l), 0);
    return r;
}

static inline void rt_end(vow_loop *l)
{
    assert_int_equal(vow__loop_verify(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Records a short trace of what ran, for order assertions. */
struct rt_trace {
    char buf[512]; /* comma-separated labels */
};

static inline void rt_mark(struct rt_trace *t, const char *what)
{
    size_t n = strlen(t->buf);
    snprintf(t->buf + n, sizeof(t->buf) - n, "%s%s", n ? "," : "", what);
}

#endif /* VOW_TEST_RT_H */
