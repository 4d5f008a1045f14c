/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the I/O tests: a quiet loop, a vow's number or code once it
 * settles, non-blocking pipes and socketpairs.
 */
#ifndef VOW_IO_TEST_H
#define VOW_IO_TEST_H

#include "testutil.h"

#include "vow/io.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loop whose unhandled-rejection hook stays quiet: the tests read rejections by
 * polling vow_state, not through handlers. */
static inline vow_loop *io_loop_new(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_loop_set_unhandled(l, tu_quiet, NULL), 0);
    return l;
}

/* Waits for p, checks it fulfilled, returns its number and drops p. */
#define io_num tu_num
/* Waits for p, returns its rejection code (0 if it fulfilled) and drops p. */
#define io_code tu_code

static inline void io_pipe(int fds[2])
{
    assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
}

static inline void io_socketpair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

/* Runs the loop until nothing is left, then closes it and checks for leaks. */
static inline void io_finish(vow_loop *l)
{
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

#endif /* VOW_IO_TEST_H */
