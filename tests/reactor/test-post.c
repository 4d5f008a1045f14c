/* SPDX-License-Identifier: MIT */
/*
 * vow_loop_post: real threads posting thousands of callbacks (FIFO per thread, each
 * runs once on the loop thread), a keepalive while waiting for them, posts keeping
 * the loop alive, posts from a post callback, stop in the middle, and ENOMEM.
 * vow_poster: posting threads racing vow_loop_close (each post runs or is refused
 * with VOW_ECLOSED, nothing is touched after close), posters outliving the loop.
 * Wake-ups: a post to an awake loop writes no eventfd, posts to a sleeping one write
 * it once.
 */
#include "rt.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

enum { THREADS = 4, PER_THREAD = 5000 };

struct shared {
    vow_loop *l;                 /* the loop */
    pthread_t loop_thread;       /* where callbacks must run */
    long count;                  /* callbacks run (loop thread only) */
    long next[THREADS];          /* next expected sequence per thread */
    int done;                    /* threads finished */
};

struct msg {
    struct shared *s; /* shared state */
    int thread;       /* poster */
    long seq;         /* position in that poster's stream */
};

static struct msg msgs[THREADS][PER_THREAD];
static struct msg done_msgs[THREADS];

static void on_msg(vow_loop *l, void *arg)
{
    struct msg *m = arg;
    assert_true(pthread_equal(pthread_self(), m->s->loop_thread));
    assert_int_equal(m->seq, m->s->next[m->thread]);
    m->s->next[m->thread]++;
    m->s->count++;
}

static void on_done(vow_loop *l, void *arg)
{
    struct msg *m = arg;
    assert_int_equal(m->s->next[m->thread], PER_THREAD);
    if (++m->s->done == THREADS)
        assert_int_equal(vow_loop_keepalive(l, -1), 0);
}

static void *poster(void *arg)
{
    struct msg *first = arg;
    int t = first->thread;
    for (long i = 0; i < PER_THREAD; i++) {
        int r;
        while ((r = vow_loop_post(first->s->l, on_msg, &msgs[t][i])) == VOW_ENOMEM)
            ;
        if (r != 0)
            return (void *)1;
    }
    if (vow_loop_post(first->s->l, on_done, &done_msgs[t]) != 0)
        return (void *)1;
    return NULL;
}

static void test_threads(void **state)
{
    struct shared s = { .l = rt_new(), .loop_thread = pthread_self() };
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        for (long i = 0; i < PER_THREAD; i++)
            msgs[t][i] = (struct msg){ &s, t, i };
        done_msgs[t] = (struct msg){ &s, t, -1 };
    }
    /* The threads may not have posted anything yet: the keepalive holds the loop. */
    assert_int_equal(vow_loop_keepalive(s.l, 1), 1);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, poster, &msgs[t][0]), 0);
    assert_int_equal(rt_turn(s.l, VOW_RUN_DEFAULT), 0);
    for (int t = 0; t < THREADS; t++) {
        void *rv;
        assert_int_equal(pthread_join(th[t], &rv), 0);
        assert_null(rv);
    }
    assert_int_equal(s.count, (long)THREADS * PER_THREAD);
    assert_int_equal(s.done, THREADS);
    rt_end(s.l);
}

struct chain {
    struct rt_trace tr; /* order */
    int left;           /* re-posts to do */
};

static void repost(vow_loop *l, void *arg)
{
    struct chain *c = arg;
    rt_mark(&c->tr, "r");
    if (c->left-- > 0)
        assert_int_equal(vow_loop_post(l, repost, c), 0);
}

static void mark_p(vow_loop *l, void *arg)
{
    rt_mark(&((struct chain *)arg)->tr, "p");
}

/* A post from a post callback runs on a later turn, after what was queued before it. */
static void test_post_from_callback(void **state)
{
    vow_loop *l = rt_new();
    struct chain c = { .left = 2 };
    assert_int_equal(vow_loop_post(l, repost, &c), 0);
    assert_int_equal(vow_loop_post(l, mark_p, &c), 0);
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_string_equal(c.tr.buf, "r,p");
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_string_equal(c.tr.buf, "r,p,r,r");
    rt_end(l);
}

static void stop_post(vow_loop *l, void *arg)
{
    rt_mark(&((struct chain *)arg)->tr, "s");
    vow_loop_stop(l);
}

static void test_stop_in_post(void **state)
{
    vow_loop *l = rt_new();
    struct chain c = { 0 };
    assert_int_equal(vow_loop_post(l, stop_post, &c), 0);
    assert_int_equal(vow_loop_post(l, mark_p, &c), 0);
    assert_int_equal(vow_loop_post(l, mark_p, &c), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 1);
    assert_string_equal(c.tr.buf, "s");
    assert_int_equal(vow_loop_post(l, stop_post, &c), 0);
    /* Stopped by the last callback with nothing left: no work remains. */
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_string_equal(c.tr.buf, "s,p,p,s");
    rt_end(l);
}

static void test_oom(void **state)
{
    vow_loop *l = rt_new();
    struct chain c = { 0 };
    tu_fail_nth(1);
    assert_int_equal(vow_loop_post(l, mark_p, &c), VOW_ENOMEM);
    tu_fail_nth(0);
    assert_int_equal(vow_loop_alive(l), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    assert_string_equal(c.tr.buf, "");
    rt_end(l);
}

/* --------------------------------------------------------------- posters */

static void count_run(vow_loop *l, void *arg)
{
    atomic_fetch_add((atomic_long *)arg, 1);
}

static void test_poster_basic(void **state)
{
    vow_loop *l = rt_new();
    atomic_long runs = 0;
    assert_null(vow_poster_new(NULL));
    vow_poster *p = vow_poster_new(l);
    vow_poster *q = vow_poster_new(l);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal(vow_poster_post(NULL, count_run, &runs), VOW_EINVAL);
    assert_int_equal(vow_poster_post(p, NULL, &runs), VOW_EINVAL);
    tu_fail_nth(1);
    assert_int_equal(vow_poster_post(p, count_run, &runs), VOW_ENOMEM);
    tu_fail_nth(0);
    assert_int_equal(vow_poster_post(p, count_run, &runs), 0);
    assert_int_equal(vow_poster_post(q, count_run, &runs), 0);
    /* A queued post keeps the loop open. */
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(atomic_load(&runs), 2);
    vow_poster_close(q);
    assert_int_equal(vow__loop_verify(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
    /* The loop is gone; the poster is still the holder's (the queue it shares with
     * the loop is its one live allocation), and says so. */
    assert_int_equal(tu_live_allocations(), 1);
    assert_int_equal(vow_poster_post(p, count_run, &runs), VOW_ECLOSED);
    assert_int_equal(atomic_load(&runs), 2);
    vow_poster_close(p);
    vow_poster_close(NULL);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Scaled down under valgrind, where each round costs a thousand times more. */
static int rounds(int n)
{
    return getenv("VOW_UNDER_VALGRIND") ? n / 20 + 1 : n;
}

enum { RACERS = 4 };

struct racer {
    vow_poster *p;    /* this thread's poster */
    atomic_long *ran; /* callbacks run, all threads */
    long ok;          /* posts accepted */
    int closed;       /* the last post said VOW_ECLOSED */
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (;;) {
        int rc = vow_poster_post(r->p, count_run, r->ran);
        if (rc == VOW_ECLOSED) {
            r->closed = 1;
            break;
        }
        if (rc != 0)
            return (void *)1;
        r->ok++;
        /* Leave the loop moments with nothing queued, so that close can win. */
        if (r->ok % 4 == 0)
            sched_yield();
    }
    vow_poster_close(r->p);
    return NULL;
}

/*
 * Threads post as fast as they can while the loop thread runs a few turns and closes
 * the loop: every accepted post has run before close succeeded, every thread ends
 * with VOW_ECLOSED, and nothing is used after it is freed (ASan, TSan).
 */
static void test_poster_close_race(void **state)
{
    for (int round = 0; round < rounds(200); round++) {
        vow_loop *l = rt_new();
        atomic_long ran = 0;
        struct racer rs[RACERS];
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            rs[i] = (struct racer){ .p = vow_poster_new(l), .ran = &ran };
            assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
        }
        for (int i = 0; i < round % 5; i++)
            assert_true(rt_turn(l, VOW_RUN_NOWAIT) >= 0);
        long tries = 0;
        for (;;) {
            assert_int_equal(vow__loop_verify(l), 0);
            int rc = vow_loop_close(l);
            if (rc == 0)
                break;
            assert_int_equal(rc, VOW_EBUSY);
            assert_true(++tries < 10000000);
            assert_true(vow_loop_run(l, VOW_RUN_NOWAIT) >= 0);
        }
        long ok = 0;
        for (int i = 0; i < RACERS; i++) {
            void *rv;
            assert_int_equal(pthread_join(th[i], &rv), 0);
            assert_null(rv);
            assert_int_equal(rs[i].closed, 1);
            ok += rs[i].ok;
        }
        assert_int_equal(atomic_load(&ran), ok);
        assert_int_equal(tu_live_allocations(), 0);
    }
}

/* --------------------------------------------------------------- wake-ups */

/* The eventfd's counter, read and reset (0 when nobody wrote it). */
static uint64_t wake_count(vow_loop *l)
{
    uint64_t v = 0;
    if (read(l->wakefd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        return 0;
    return v;
}

struct awake {
    vow_poster *p;     /* the helper thread's poster */
    atomic_long ran;   /* posts run */
    atomic_int go;     /* 1: the helper posts now; 2: it has */
    uint64_t in_cb;    /* eventfd count seen right after the helper's posts */
    vow_immediate im;  /* the callback during which the helper posts */
};

static void *awake_helper(void *arg)
{
    struct awake *a = arg;
    while (atomic_load(&a->go) != 1)
        sched_yield();
    for (int i = 0; i < 100; i++)
        if (vow_poster_post(a->p, count_run, &a->ran) != 0)
            return (void *)1;
    atomic_store(&a->go, 2);
    return NULL;
}

static void awake_cb(vow_immediate *im)
{
    struct awake *a = im->data;
    vow_loop *l = VOW__IMPL(immediate, im)->loop;
    /* Running a callback: posts from this thread and from another write nothing. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(vow_loop_post(l, count_run, &a->ran), 0);
    atomic_store(&a->go, 1);
    while (atomic_load(&a->go) != 2)
        sched_yield();
    a->in_cb = wake_count(l);
}

static void test_wake_once(void **state)
{
    vow_loop *l = rt_new();
    struct awake a = { .p = vow_poster_new(l) };
    /* Outside vow_loop_run the loop counts as asleep: three posts, one write. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(vow_loop_post(l, count_run, &a.ran), 0);
    assert_int_equal(wake_count(l), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(atomic_load(&a.ran), 3);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, awake_helper, &a), 0);
    assert_int_equal(vow_immediate_init(l, &a.im, awake_cb), 0);
    a.im.data = &a;
    assert_int_equal(vow_immediate_start(&a.im), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    void *rv;
    assert_int_equal(pthread_join(th, &rv), 0);
    assert_null(rv);
    assert_int_equal(a.in_cb, 0);
    assert_int_equal(atomic_load(&a.ran), 203);
    vow_poster_close(a.p);
    rt_end(l);
}

struct sleeper {
    vow_poster *p;   /* the helper's poster */
    atomic_long ran; /* posts run */
    int n;           /* posts to make */
};

static void *sleeper_helper(void *arg)
{
    struct sleeper *s = arg;
    for (int i = 0; i < s->n; i++)
        if (vow_poster_post(s->p, count_run, &s->ran) != 0)
            return (void *)1;
    return NULL;
}

static void drop_keepalive(vow_loop *l, void *arg)
{
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
}

/* A loop blocked in its backend is woken by a post from another thread. */
static void test_wake_sleeping(void **state)
{
    vow_loop *l = rt_new();
    struct sleeper s = { .p = vow_poster_new(l), .n = 1000 };
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sleeper_helper, &s), 0);
    while (atomic_load(&s.ran) < s.n)
        assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    void *rv;
    assert_int_equal(pthread_join(th, &rv), 0);
    assert_null(rv);
    assert_int_equal(vow_poster_post(s.p, drop_keepalive, NULL), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    vow_poster_close(s.p);
    rt_end(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_post_from_callback),
        cmocka_unit_test(test_stop_in_post),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_poster_basic),
        cmocka_unit_test(test_poster_close_race),
        cmocka_unit_test(test_wake_once),
        cmocka_unit_test(test_wake_sleeping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
