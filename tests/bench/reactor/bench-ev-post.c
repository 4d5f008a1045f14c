/* SPDX-License-Identifier: MIT */
/*
 * Peer of bench-post (workload "post-awake") on libev: one thread calls
 * ev_async_send N times on a loop kept awake by an idle watcher. Like uv_async_send
 * it carries no payload and coalesces; the loop checks that the last send was seen.
 * Same warm-up and cold phase as bench-post.
 */
#include "post-util.h"

#include <ev.h>

#include <pthread.h>
#include <stdatomic.h>



static struct {
    struct ev_loop *loop;
    ev_async async;
    ev_idle idle;
    atomic_int running; /* the loop has turned once */
    atomic_int done;    /* the poster has finished */
    int seen_done;      /* an async callback ran after done */
    long n;
    struct post_times t; /* the poster's */
} B;

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (atomic_load(&B.done))
        B.seen_done = 1;
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    atomic_store_explicit(&B.running, 1, memory_order_release);
    if (B.seen_done) {
        ev_idle_stop(loop, w);
        ev_async_stop(loop, &B.async);
    }
}

static void post_many(long from, long count)
{
    (void)from;
    for (long i = 0; i < count; i++)
        ev_async_send(B.loop, &B.async);
}

static void *poster(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&B.running, memory_order_acquire))
        ;
    post_phases(post_many, B.n, &B.t);
    atomic_store(&B.done, 1);
    ev_async_send(B.loop, &B.async);
    return NULL;
}

int main(int argc, char **argv)
{
    B.n = bench_n(argc, argv, 2000000);
    B.loop = ev_loop_new(EVFLAG_AUTO);
    if (!B.loop)
        bench_fail("post-awake", "ev_loop_new");
    ev_async_init(&B.async, on_async);
    ev_async_start(B.loop, &B.async);
    ev_idle_init(&B.idle, on_idle);
    ev_idle_start(B.loop, &B.idle);
    pthread_t th;
    if (pthread_create(&th, NULL, poster, NULL) != 0)
        bench_fail("post-awake", "pthread_create");
    ev_run(B.loop, 0);
    pthread_join(th, NULL);
    if (!B.seen_done)
        bench_fail("post-awake", "the last send was not seen");
    ev_loop_destroy(B.loop);
    post_report("libev", B.n, &B.t);
    return 0;
}
