/* SPDX-License-Identifier: MIT */
/*
 * vow_loop_post: real threads posting thousands of callbacks (FIFO per thread, each
 * runs once on the loop thread), a keepalive while waiting for them, posts keeping
 * the loop alive, posts from a post callback, stop in the middle, and ENOMEM.
 */
#include "rt.h"

#include <pthread.h>

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

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_post_from_callback),
        cmocka_unit_test(test_stop_in_post),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
