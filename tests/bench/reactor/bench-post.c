/* SPDX-License-Identifier: MIT */
/*
 * Workload "post-awake": one thread posts N callbacks through vow_loop_post to a loop
 * that is awake (an immediate re-arms itself every turn, so the loop never blocks),
 * after a warm-up of N/10 posts; "post-awake-cold" is the first 10,000 posts of the
 * process. Time is the posting thread's, so ns_per_post is what a post costs its
 * caller. Uses only the API that libvow had before vow_poster, so tests/bench/reactor/
 * run.sh can build it against an older libvow too. Peers: bench-uv-post,
 * bench-ev-post.
 */
#include "post-util.h"

#include <vow.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#ifndef IMPL
#define IMPL "libvow"
#endif



struct bench {
    vow_loop *l;        /* the loop, run by the main thread */
    vow_immediate im;   /* keeps the loop turning */
    long total;         /* posts to expect */
    long ran;           /* posts run (loop thread) */
    long sum;           /* sum of their arguments, checked */
    atomic_int running; /* the loop has turned once */
    struct post_times t; /* the poster's */
    long n; /* measured posts */
};

static struct bench B;

static void on_post(vow_loop *l, void *arg)
{
    (void)l;
    B.ran++;
    B.sum += (long)(intptr_t)arg;
}

static void on_turn(vow_immediate *im)
{
    atomic_store_explicit(&B.running, 1, memory_order_release);
    if (B.ran < B.total && vow_immediate_start(im) != 0)
        bench_fail("post-awake", "vow_immediate_start");
}

static void post_many(long from, long count)
{
    for (long i = from; i < from + count; i++) {
        int r;
        while ((r = vow_loop_post(B.l, on_post, (void *)(intptr_t)(i & 7))) == VOW_ENOMEM)
            ;
        if (r != 0)
            bench_fail("post-awake", "vow_loop_post");
    }
}

static void *poster(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&B.running, memory_order_acquire))
        ;
    post_phases(post_many, B.n, &B.t);
    return NULL;
}

int main(int argc, char **argv)
{
    B.n = bench_n(argc, argv, 2000000);
    B.total = COLD + B.n / 10 + B.n;
    B.l = vow_loop_new();
    if (!B.l || vow_immediate_init(B.l, &B.im, on_turn) != 0 || vow_immediate_start(&B.im) != 0)
        bench_fail("post-awake", "setup");
    pthread_t th;
    if (pthread_create(&th, NULL, poster, NULL) != 0)
        bench_fail("post-awake", "pthread_create");
    if (vow_loop_run(B.l, VOW_RUN_DEFAULT) != 0)
        bench_fail("post-awake", "vow_loop_run");
    pthread_join(th, NULL);
    long want = 0;
    for (long i = 0; i < B.total; i++)
        want += i & 7;
    if (B.ran != B.total || B.sum != want)
        bench_fail("post-awake", "not every post ran once");
    if (vow_loop_close(B.l) != 0)
        bench_fail("post-awake", "vow_loop_close");
    post_report(IMPL, B.n, &B.t);
    return 0;
}
