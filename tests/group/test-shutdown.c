/* SPDX-License-Identifier: MIT */
/*
 * The graceful shutdown while the group is busy: every loop runs coroutines that
 * sleep, await coroutines of the other loops and hold values that crossed, plus a
 * raw timer the stop hook stops; the test's own loop waits on work in the group;
 * plain threads keep posting and spawning through the stop. One call stops it all:
 * every coroutine ends (cancelled at its await), every crossing settles, the loops
 * close and nothing leaks. Also: a stop from a signal handler, and a close refused
 * while the closing thread still waits on the group.
 */
#include "group-test.h"

#include "vow/co.h"

#include <sched.h>
#include <signal.h>

#ifdef GT_TSAN
enum { LOOPS = 4, PER_LOOP = 20, POSTERS = 4 }; /* see GT_TSAN */
#else
enum { LOOPS = 4, PER_LOOP = 50, POSTERS = 4 };
#endif

struct busy {
    vow_group *g;
    atomic_int started;     /* coroutines started */
    atomic_int ended;       /* coroutines that returned */
    atomic_int cancelled;   /* ... ended by the stop (VOW_ECANCELED, VOW_ECLOSED) */
    atomic_int rounds;      /* cross-loop awaits that completed */
    atomic_int hooks;       /* stop hooks run */
    vow_timer ticks[LOOPS]; /* a raw handle per loop, stopped by the hook */
};

static struct busy B;

static void blob_drop(void *p)
{
    vow_free(p);
}

/* Work on another loop: a coroutine that sleeps a little and returns a value with a
 * drop (so shared copies are alive when the stop comes). */
static vow_ret leaf(void *arg)
{
    int rc = vow_co_sleep((uint64_t)(intptr_t)arg);
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    char *s = vow_malloc(8);
    if (!s)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    memcpy(s, "leaf", 5);
    return vow_ok(vow_val_ptr(s, blob_drop));
}

static vow *spawn_leaf(vow_loop *l, void *arg)
{
    return vow_co_spawn(l, leaf, arg, NULL);
}

static vow_ret worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    vow_loop *l = vow_loop_of(vow_co_self());
    atomic_fetch_add(&B.started, 1);
    vow *held = NULL;
    int rc = 0;
    for (unsigned k = 0; rc == 0; k++) {
        int n = (int)vow_group_size(B.g);
        int other = (me + 1 + (int)(k % (unsigned)(n - 1))) % n;
        vow *p = (k & 1) ? vow_group_call(B.g, other, l, spawn_leaf, (void *)(intptr_t)(k % 3))
                         : vow_group_spawn(B.g, other, l, spawn_leaf, (void *)(intptr_t)(k % 3));
        rc = p ? vow_await(p) : VOW_ENOMEM;
        if (rc == 0) {
            gt_check(strcmp(vow_value(p)->ptr, "leaf") == 0);
            atomic_fetch_add(&B.rounds, 1);
            vow_unref(held); /* keep one crossed value alive at a time */
            held = p;
        } else {
            vow_unref(p);
        }
        if (rc == 0)
            rc = vow_co_sleep(k % 2);
    }
    vow_unref(held);
    /* Cancelled at an await, or refused new work once the group was stopping (a
     * loop whose stop has not run yet keeps going until then). */
    if (rc == VOW_ECANCELED || rc == VOW_ECLOSED)
        atomic_fetch_add(&B.cancelled, 1);
    atomic_fetch_add(&B.ended, 1);
    return vow_ok(vow_val_num(rc)); /* nobody reads it: no unhandled rejection */
}

static void tick(vow_timer *t)
{
    (void)t;
}

static void start_workers(vow_loop *l, void *arg)
{
    int me = vow_group_self(B.g);
    for (int i = 0; i < PER_LOOP; i++)
        vow_unref(vow_co_spawn(l, worker, (void *)(intptr_t)me, NULL));
    /* The hook stops it: only started where the hook is known to run later. */
    if (arg) {
        vow_timer_init(l, &B.ticks[me], tick);
        vow_timer_start(&B.ticks[me], 1, 1);
    }
}

static void stop_hook(vow_loop *l, unsigned index, void *ctx)
{
    (void)ctx;
    vow_timer_stop(&B.ticks[index]); /* a timer never initialised (zeroed) is refused */
    gt_check(vow_co_cancel_all(l) >= 0);
    atomic_fetch_add(&B.hooks, 1);
}

/* Plain threads keep posting and spawning through the stop. */
static atomic_int post_runs, posts_accepted, posts_refused;

static void counted(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    atomic_fetch_add(&post_runs, 1);
}

static void *poster(void *arg)
{
    (void)arg;
    for (;;) {
        int r = vow_group_post(B.g, VOW_GROUP_NEXT, counted, NULL);
        if (r == 0)
            atomic_fetch_add(&posts_accepted, 1);
        else if (r == VOW_ECLOSED) {
            atomic_fetch_add(&posts_refused, 1);
            return NULL;
        }
        sched_yield();
    }
}

static void test_busy_shutdown(void **state)
{
    (void)state;
    memset(&B, 0, sizeof(B));
    vow_loop *x = gt_loop();
    B.g = gt_group(LOOPS, stop_hook, NULL);
    for (int i = 0; i < LOOPS; i++)
        assert_int_equal(vow_group_post(B.g, i, start_workers, &B), 0);
    pthread_t th[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, poster, NULL), 0);
    /* The test's loop waits on the group too: a long spawn and a call. */
    vow *mine[2] = {vow_group_spawn(B.g, 0, x, spawn_leaf, (void *)(intptr_t)60000),
                    vow_group_call(B.g, 1, x, spawn_leaf, (void *)(intptr_t)60000)};
    /* Let the traffic build up, waiting on the loop (not sleeping): at least 30 ms, and
     * until a cross-loop round has completed (a busy machine may take longer; 10 s at
     * most). */
    for (int waited = 0; (waited < 30 || atomic_load(&B.rounds) == 0) && waited < 10000;
         waited += 5) {
        vow *later = vow_delay(x, 5, vow_val_none());
        tu_wait(x, later);
        vow_unref(later);
    }
    assert_true(atomic_load(&B.rounds) > 0);

    /* The closing thread waits on the group: closing now would wait for itself. */
    assert_int_equal(vow_group_close(B.g), -EDEADLK);
    /* The stop has begun: the crossings this loop waits on are cancelled there. */
    assert_int_equal(gt_code(x, mine[0]), VOW_ECANCELED);
    assert_int_equal(gt_code(x, mine[1]), VOW_ECANCELED);
    /* Callers must be done with the group before it is freed: the posters end on
     * their first VOW_ECLOSED. */
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(vow_group_close(B.g), 0);
    B.g = NULL;
    gt_finish(NULL, x);
    assert_int_equal(atomic_load(&B.started), LOOPS * PER_LOOP);
    assert_int_equal(atomic_load(&B.ended), LOOPS * PER_LOOP);
    assert_int_equal(atomic_load(&B.cancelled), LOOPS * PER_LOOP);
    assert_int_equal(atomic_load(&B.hooks), LOOPS);
    assert_int_equal(atomic_load(&post_runs), atomic_load(&posts_accepted));
    assert_int_equal(atomic_load(&posts_refused), POSTERS);
}

/* ------------------------------------------------------------ from a signal */

static vow_group *signalled;

static void on_usr1(int sig)
{
    (void)sig;
    vow_group_stop(signalled);
}

static void *raiser(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR1);
    return NULL;
}

static void test_signal_stop(void **state)
{
    (void)state;
    memset(&B, 0, sizeof(B));
    B.g = gt_group(2, stop_hook, NULL);
    signalled = B.g;
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(vow_group_post(B.g, i, start_workers, &B), 0);
    while (atomic_load(&B.started) < 2 * PER_LOOP)
        sched_yield();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, raiser, NULL), 0);
    pthread_join(th, NULL);
    /* The stop came from the handler: posting is refused once it ran. */
    while (vow_group_post(B.g, 0, counted, NULL) == 0)
        sched_yield();
    assert_int_equal(vow_group_close(B.g), 0);
    sigaction(SIGUSR1, &old, NULL);
    B.g = NULL;
    gt_finish(NULL, NULL);
    assert_int_equal(atomic_load(&B.ended), 2 * PER_LOOP);
}

/* A group stopped and closed at once, with work still being handed around. */
static void test_close_at_once(void **state)
{
    (void)state;
    memset(&B, 0, sizeof(B));
    B.g = gt_group(3, stop_hook, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vow_group_post(B.g, i, start_workers, NULL), 0);
    assert_int_equal(vow_group_close(B.g), 0);
    B.g = NULL;
    gt_finish(NULL, NULL);
    assert_int_equal(atomic_load(&B.ended), atomic_load(&B.started));
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_busy_shutdown),
        cmocka_unit_test(test_signal_stop),
        cmocka_unit_test(test_close_at_once),
    };
    return cmocka_run_group_tests_name("group-shutdown", tests, NULL, NULL);
}
