/* SPDX-License-Identifier: MIT */
/*
 * Fairness between microtasks and the rest of the loop: microtasks that queue more
 * microtasks forever still let timers, fds and immediates run, a turn runs at most a
 * slice of microtasks (VOW__SLICE_TASKS, or fewer when they are slow), and
 * VOW_RUN_NOWAIT returns with the rest queued instead of draining without end.
 */
#include "rt.h"

#include <time.h>
#include <unistd.h>

/* Far more microtasks than any slice: reaching it means the loop was starved. */
#define STARVED 50000000L

struct spin {
    long runs;       /* microtasks run */
    long since_turn; /* microtasks since the last immediate or timer callback */
    long max_run;    /* the most microtasks seen between two such callbacks */
    int stop;        /* stop queueing */
    long spin_us;    /* busy time per microtask (0: none) */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void spin_task(vow_loop *l, void *arg)
{
    struct spin *s = arg;
    s->runs++;
    if (++s->since_turn > s->max_run)
        s->max_run = s->since_turn;
    if (s->runs > STARVED)
        fail_msg("%ld microtasks and the loop never got a turn", s->runs);
    if (s->spin_us) {
        uint64_t end = now_us() + (uint64_t)s->spin_us;
        while (now_us() < end)
            ;
    }
    if (!s->stop)
        assert_int_equal(vow_loop_queue_microtask(l, spin_task, s), 0);
}

static void stop_spin(vow_timer *t)
{
    struct spin *s = t->data;
    s->since_turn = 0;
    s->stop = 1;
}

struct pipe_ctx {
    int calls; /* readable callbacks */
    char byte; /* what was read */
};

static void on_pipe(vow_io *w, int fd, unsigned events)
{
    struct pipe_ctx *c = w->data;
    assert_int_equal(read(fd, &c->byte, 1), 1);
    c->calls++;
    assert_int_equal(vow_io_stop(w), 0);
}

/* Endless microtasks: a 10 ms timer and a readable pipe still get their callbacks. */
static void test_timer_and_io_run(void **state)
{
    vow_loop *l = rt_new();
    struct spin s = {0};
    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, stop_spin), 0);
    t.data = &s;
    assert_int_equal(vow_timer_start(&t, 10, 0), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    struct pipe_ctx pc = {0};
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, fds[0], on_pipe), 0);
    w.data = &pc;
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    assert_int_equal(vow_loop_queue_microtask(l, spin_task, &s), 0);
    uint64_t t0 = vow_loop_now(l);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(pc.calls, 1);
    assert_int_equal(pc.byte, 'x');
    assert_int_equal(s.stop, 1);
    assert_true(vow_loop_now(l) >= t0 + 10);
    close(fds[0]);
    close(fds[1]);
    rt_end(l);
}

struct turns {
    struct spin *s;   /* the microtasks being counted */
    int left;         /* immediates still to run */
    vow_immediate im; /* re-armed from its own callback: once per turn */
};

static void on_turn(vow_immediate *im)
{
    struct turns *t = im->data;
    t->s->since_turn = 0;
    if (--t->left > 0)
        assert_int_equal(vow_immediate_start(im), 0);
    else
        t->s->stop = 1;
}

/* Between two turns (seen by an immediate that re-arms itself), at most a slice. */
static void check_slices(long spin_us, long bound)
{
    vow_loop *l = rt_new();
    struct spin s = {.spin_us = spin_us};
    struct turns t = {.s = &s, .left = 40};
    assert_int_equal(vow_immediate_init(l, &t.im, on_turn), 0);
    t.im.data = &t;
    assert_int_equal(vow_immediate_start(&t.im), 0);
    assert_int_equal(vow_loop_queue_microtask(l, spin_task, &s), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(t.left, 0);
    assert_true(s.max_run <= bound);
    /* Each turn ran microtasks: the queue never waited for the loop to be idle. */
    assert_true(s.runs >= 40);
    rt_end(l);
}

static void test_slice_count(void **state)
{
    check_slices(0, VOW__SLICE_TASKS);
}

/*
 * Microtasks of 100 us each: the clock check every VOW__SLICE_CLOCK_EVERY tasks sees
 * at least that many times 100 us, more than VOW__SLICE_MS, so a slice ends there.
 */
static void test_slice_time(void **state)
{
    _Static_assert(VOW__SLICE_CLOCK_EVERY * 100 / 1000 > VOW__SLICE_MS + 1,
                   "the tasks below must outlast a slice by the first clock check");
    check_slices(100, VOW__SLICE_CLOCK_EVERY);
}

/* VOW_RUN_NOWAIT returns after one slice with work left, and says so; a host that
 * asks vow_loop_backend_timeout is told not to sleep. */
static void test_nowait_returns(void **state)
{
    vow_loop *l = rt_new();
    struct spin s = {0};
    assert_int_equal(vow_loop_queue_microtask(l, spin_task, &s), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_true(s.runs >= 1 && s.runs <= 2 * VOW__SLICE_TASKS);
    assert_int_equal(vow_loop_backend_timeout(l), 0);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    long before = s.runs;
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_true(s.runs > before);
    s.stop = 1;
    int turns = 0;
    while (rt_turn(l, VOW_RUN_NOWAIT) == 1)
        assert_true(++turns < 10);
    rt_end(l);
}

struct finite {
    long left; /* microtasks still to queue */
    long runs; /* microtasks run */
};

static void finite_task(vow_loop *l, void *arg)
{
    struct finite *f = arg;
    f->runs++;
    if (--f->left > 0)
        assert_int_equal(vow_loop_queue_microtask(l, finite_task, f), 0);
}

/*
 * More microtasks than a slice, and a keepalive, so a blocking poll would never
 * return: each VOW_RUN_ONCE that finds microtasks left over runs them and returns
 * instead of blocking, so `while (!done) vow_loop_run(l, VOW_RUN_ONCE)` ends.
 */
static void test_once_after_leftovers(void **state)
{
    vow_loop *l = rt_new();
    struct finite f = {.left = 3 * VOW__SLICE_TASKS + 5};
    long total = f.left;
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    assert_int_equal(vow_loop_queue_microtask(l, finite_task, &f), 0);
    int turns = 0;
    while (f.runs < total) {
        assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
        assert_true(++turns <= 10);
    }
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
    rt_end(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_and_io_run),     cmocka_unit_test(test_slice_count),
        cmocka_unit_test(test_slice_time),           cmocka_unit_test(test_nowait_returns),
        cmocka_unit_test(test_once_after_leftovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
