/* SPDX-License-Identifier: MIT */
/*
 * The group itself: start and close, its loops and threads, placement (an index,
 * round-robin, least loaded), vow_group_post from outside threads and from the
 * group's own threads (8 threads posting to one loop, FIFO per poster), the stop
 * hook, refusal once stopping, pinning, and argument errors.
 */
#include "group-test.h"

#include <sched.h>

enum { POSTERS = 8, PER_POSTER = 4000 };

/* ------------------------------------------------------------ lifecycle */

static void test_new_close(void **state)
{
    (void)state;
    vow_group *g = NULL;
    assert_int_equal(vow_group_new(NULL, &g), 0);
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    assert_int_equal(vow_group_size(g), (unsigned)CPU_COUNT(&set));
    for (unsigned i = 0; i < vow_group_size(g); i++) {
        assert_non_null(vow_group_loop(g, i));
        for (unsigned k = 0; k < i; k++)
            assert_ptr_not_equal(vow_group_loop(g, i), vow_group_loop(g, k));
    }
    assert_null(vow_group_loop(g, vow_group_size(g)));
    assert_int_equal(vow_group_self(g), -1);
    gt_finish(g, NULL);

    g = gt_group(3, NULL, NULL);
    assert_int_equal(vow_group_size(g), 3);
    gt_finish(g, NULL);
}

static void test_args(void **state)
{
    (void)state;
    vow_group *g = NULL;
    vow_group_opts o = {.loops = VOW_GROUP_MAX + 1};
    assert_int_equal(vow_group_new(&o, &g), VOW_EINVAL);
    o = (vow_group_opts){.flags = 1u << 7};
    assert_int_equal(vow_group_new(&o, &g), VOW_EINVAL);
    assert_int_equal(vow_group_new(NULL, NULL), VOW_EINVAL);
    assert_null(g);
    assert_int_equal(vow_group_close(NULL), VOW_EINVAL);
    assert_int_equal(vow_group_stop(NULL), VOW_EINVAL);
    assert_int_equal(vow_group_size(NULL), 0);
    assert_null(vow_group_loop(NULL, 0));
    assert_int_equal(vow_group_self(NULL), -1);
    assert_int_equal(vow_group_pick(NULL, 0), VOW_EINVAL);
    assert_int_equal(vow_group_post(NULL, 0, NULL, NULL), VOW_EINVAL);

    g = gt_group(2, NULL, NULL);
    assert_int_equal(vow_group_pick(g, 2), VOW_EINVAL);
    assert_int_equal(vow_group_pick(g, -3), VOW_EINVAL);
    assert_int_equal(vow_group_post(g, 2, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_group_post(g, 5, (vow_post_fn)(void (*)(void))test_args, NULL),
                     VOW_EINVAL);
    gt_finish(g, NULL);
}

/* ----------------------------------------------------------- placement */

struct where {
    vow_group *g;
    atomic_int index; /* vow_group_self seen by the callback */
    atomic_int ran;   /* callbacks run */
};

static void note_where(vow_loop *l, void *arg)
{
    struct where *w = arg;
    int i = vow_group_self(w->g);
    gt_check(i >= 0 && vow_group_loop(w->g, (unsigned)i) == l);
    atomic_store(&w->index, i);
    atomic_fetch_add(&w->ran, 1);
}

/* Waits (without sleeping: yielding the CPU) for a counter set by other threads. */
static void wait_count(atomic_int *c, int want)
{
    while (atomic_load(c) < want)
        sched_yield();
}

static void test_post_placement(void **state)
{
    (void)state;
    vow_group *g = gt_group(4, NULL, NULL);
    struct where w = {.g = g};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(vow_group_post(g, i, note_where, &w), 0);
        wait_count(&w.ran, i + 1);
        assert_int_equal(atomic_load(&w.index), i);
    }
    /* Round-robin visits every loop in turn. */
    int first = vow_group_pick(g, VOW_GROUP_NEXT);
    for (int i = 1; i <= 8; i++)
        assert_int_equal(vow_group_pick(g, VOW_GROUP_NEXT), (first + i) % 4);
    /* Nothing placed: the least loaded is the lowest index. */
    assert_int_equal(vow_group_pick(g, VOW_GROUP_LEAST), 0);
    gt_finish(g, NULL);
}

/* --------------------------------------------------- many posters, one loop */

struct stream {
    long next[POSTERS + 8]; /* next sequence number expected per poster (loop 0 only) */
    long count;             /* messages run (loop 0 only) */
    atomic_int finished;    /* posters whose last message ran */
    vow_group *g;
};

struct msg {
    struct stream *s; /* shared */
    int poster;       /* who posted it */
    long seq;         /* its place in that poster's stream */
};

static struct msg msgs[POSTERS + 8][PER_POSTER];

static void on_msg(vow_loop *l, void *arg)
{
    struct msg *m = arg;
    (void)l;
    gt_check(vow_group_self(m->s->g) == 0);
    gt_check(m->seq == m->s->next[m->poster]);
    m->s->next[m->poster] = m->seq + 1;
    m->s->count++;
    if (m->seq == PER_POSTER - 1)
        atomic_fetch_add(&m->s->finished, 1);
}

static void post_stream(struct stream *s, int poster)
{
    for (long i = 0; i < PER_POSTER; i++) {
        struct msg *m = &msgs[poster][i];
        *m = (struct msg){.s = s, .poster = poster, .seq = i};
        int r;
        while ((r = vow_group_post(s->g, 0, on_msg, m)) == VOW_ENOMEM)
            ;
        gt_check(r == 0);
    }
}

struct poster_arg {
    struct stream *s; /* shared */
    int poster;       /* index */
};

static void *poster_main(void *arg)
{
    struct poster_arg *a = arg;
    post_stream(a->s, a->poster);
    return NULL;
}

/* 8 plain threads post to loop 0 at once: each stream arrives whole and in order. */
static void test_eight_threads_post(void **state)
{
    (void)state;
    vow_group *g = gt_group(2, NULL, NULL);
    struct stream s = {.g = g};
    pthread_t th[POSTERS];
    struct poster_arg a[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        a[i] = (struct poster_arg){.s = &s, .poster = i};
        assert_int_equal(pthread_create(&th[i], NULL, poster_main, &a[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    wait_count(&s.finished, POSTERS);
    gt_finish(g, NULL);
    assert_int_equal(s.count, (long)POSTERS * PER_POSTER);
}

/* The group's own 8 loops each post a stream to loop 0 (itself included). */
static void member_poster(vow_loop *l, void *arg)
{
    struct stream *s = arg;
    (void)l;
    post_stream(s, POSTERS + vow_group_self(s->g));
}

static void test_members_post(void **state)
{
    (void)state;
    vow_group *g = gt_group(8, NULL, NULL);
    struct stream s = {.g = g};
    for (int i = 0; i < 8; i++)
        assert_int_equal(vow_group_post(g, i, member_poster, &s), 0);
    wait_count(&s.finished, 8);
    gt_finish(g, NULL);
    assert_int_equal(s.count, 8L * PER_POSTER);
}

/* ----------------------------------------------------------------- stop */

struct stops {
    vow_group *g;
    atomic_int calls; /* stop hooks run */
    atomic_int mask;  /* loops whose hook ran, one bit each */
    atomic_int late;  /* vow_group_post from a hook: must be refused */
};

static void on_stop(vow_loop *l, unsigned index, void *ctx)
{
    struct stops *s = ctx;
    gt_check(vow_group_loop(s->g, index) == l);
    gt_check(vow_group_self(s->g) == (int)index);
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_or(&s->mask, 1 << index);
    if (vow_group_post(s->g, 0, note_where, NULL) == VOW_ECLOSED)
        atomic_fetch_add(&s->late, 1);
}

static void test_stop_hook(void **state)
{
    (void)state;
    struct stops s = {0};
    vow_group *g = gt_group(3, on_stop, &s);
    s.g = g;
    assert_int_equal(vow_group_stop(g), 0);
    assert_int_equal(vow_group_stop(g), 0); /* idempotent */
    struct where w = {.g = g};
    assert_int_equal(vow_group_post(g, 1, note_where, &w), VOW_ECLOSED);
    gt_finish(g, NULL);
    assert_int_equal(atomic_load(&s.calls), 3);
    assert_int_equal(atomic_load(&s.mask), 7);
    assert_int_equal(atomic_load(&s.late), 3);
    assert_int_equal(atomic_load(&w.ran), 0);
}

/* A stop from one of the group's threads, and a close there (refused: it would wait
 * for itself). */
static atomic_int close_from_member;

static void stop_from_inside(vow_loop *l, void *arg)
{
    vow_group *g = arg;
    (void)l;
    gt_check(vow_group_stop(g) == 0);
    atomic_store(&close_from_member, vow_group_close(g));
}

static void test_stop_inside(void **state)
{
    (void)state;
    vow_group *g = gt_group(2, NULL, NULL);
    assert_int_equal(vow_group_post(g, 1, stop_from_inside, g), 0);
    gt_finish(g, NULL);
    assert_int_equal(atomic_load(&close_from_member), -EDEADLK);
}

/* Posts made before the stop still run. */
static void test_posts_before_stop_run(void **state)
{
    (void)state;
    vow_group *g = gt_group(2, NULL, NULL);
    struct where w = {.g = g};
    for (int i = 0; i < 100; i++)
        assert_int_equal(vow_group_post(g, i % 2, note_where, &w), 0);
    gt_finish(g, NULL);
    assert_int_equal(atomic_load(&w.ran), 100);
}

/* --------------------------------------------------------------- pinning */

struct pinned {
    vow_group *g;
    atomic_int cpu[4]; /* the single CPU each loop's thread may run on, or -1 */
    atomic_int ran;    /* loops that answered */
};

static void note_cpu(vow_loop *l, void *arg)
{
    struct pinned *p = arg;
    (void)l;
    cpu_set_t set;
    int only = -1;
    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                only = c;
    atomic_store(&p->cpu[vow_group_self(p->g)], only);
    atomic_fetch_add(&p->ran, 1);
}

static void test_pin(void **state)
{
    (void)state;
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    int cpus[CPU_SETSIZE], n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    vow_group_opts o = {.loops = 4, .flags = VOW_GROUP_PIN};
    vow_group *g = NULL;
    assert_int_equal(vow_group_new(&o, &g), 0);
    struct pinned p = {.g = g};
    for (int i = 0; i < 4; i++)
        assert_int_equal(vow_group_post(g, i, note_cpu, &p), 0);
    wait_count(&p.ran, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&p.cpu[i]), cpus[i % n]);
    gt_finish(g, NULL);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_close),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_post_placement),
        cmocka_unit_test(test_eight_threads_post),
        cmocka_unit_test(test_members_post),
        cmocka_unit_test(test_stop_hook),
        cmocka_unit_test(test_stop_inside),
        cmocka_unit_test(test_posts_before_stop_run),
        cmocka_unit_test(test_pin),
    };
    return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
