/* SPDX-License-Identifier: MIT */
/*
 * Peer of bench-post (workload "post-awake") on libuv: one thread calls
 * uv_async_send N times on a loop kept awake by an idle handle. impl=libuv is the
 * bare uv_async_send, which carries no payload and coalesces (the callback runs once
 * for many sends); impl=libuv+queue adds what a payload needs with libuv, a
 * mutex-guarded FIFO that the async callback empties, so each post's function runs
 * once like vow_loop_post's. Same warm-up and cold phase as bench-post.
 */
#include "post-util.h"

#include <uv.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>



struct node {
    struct node *next; /* FIFO link */
    long arg;          /* payload */
};

static struct {
    uv_loop_t loop;
    uv_async_t async;
    uv_idle_t idle;
    int queued;         /* impl=libuv+queue */
    pthread_mutex_t mu; /* guards head/tail */
    struct node *head, **tail;
    long total;         /* posts to expect (queue mode) */
    long ran, sum;      /* loop thread */
    atomic_int running; /* the loop has turned once */
    atomic_int done;    /* the poster has finished (bare mode) */
    int seen_done;      /* an async callback ran after done (bare mode) */
    long n;
    struct post_times t; /* the poster's */
} B;

static void on_async(uv_async_t *a)
{
    (void)a;
    if (B.queued) {
        pthread_mutex_lock(&B.mu);
        struct node *n = B.head;
        B.head = NULL;
        B.tail = &B.head;
        pthread_mutex_unlock(&B.mu);
        while (n) {
            struct node *next = n->next;
            B.ran++;
            B.sum += n->arg;
            free(n);
            n = next;
        }
    } else if (atomic_load(&B.done)) {
        B.seen_done = 1;
    }
}

static void on_idle(uv_idle_t *h)
{
    atomic_store_explicit(&B.running, 1, memory_order_release);
    int finished = B.queued ? B.ran == B.total : B.seen_done;
    if (finished) {
        uv_idle_stop(h);
        uv_close((uv_handle_t *)&B.async, NULL);
        uv_close((uv_handle_t *)&B.idle, NULL);
    }
}

static void post_many(long from, long count)
{
    for (long i = from; i < from + count; i++) {
        if (B.queued) {
            struct node *n = malloc(sizeof(*n));
            if (!n)
                bench_fail("post-awake", "malloc");
            n->next = NULL;
            n->arg = i & 7;
            pthread_mutex_lock(&B.mu);
            *B.tail = n;
            B.tail = &n->next;
            pthread_mutex_unlock(&B.mu);
        }
        if (uv_async_send(&B.async) != 0)
            bench_fail("post-awake", "uv_async_send");
    }
}

static void *poster(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&B.running, memory_order_acquire))
        ;
    post_phases(post_many, B.n, &B.t);
    atomic_store(&B.done, 1);
    uv_async_send(&B.async);
    return NULL;
}

int main(int argc, char **argv)
{
    B.n = bench_n(argc, argv, 2000000);
    B.queued = argc > 2 && strcmp(argv[2], "queue") == 0;
    const char *impl = B.queued ? "libuv+queue" : "libuv";
    B.total = COLD + B.n / 10 + B.n;
    B.tail = &B.head;
    pthread_mutex_init(&B.mu, NULL);
    if (uv_loop_init(&B.loop) != 0 || uv_async_init(&B.loop, &B.async, on_async) != 0 ||
        uv_idle_init(&B.loop, &B.idle) != 0 || uv_idle_start(&B.idle, on_idle) != 0)
        bench_fail("post-awake", "setup");
    pthread_t th;
    if (pthread_create(&th, NULL, poster, NULL) != 0)
        bench_fail("post-awake", "pthread_create");
    uv_run(&B.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    if (B.queued) {
        long want = 0;
        for (long i = 0; i < B.total; i++)
            want += i & 7;
        if (B.ran != B.total || B.sum != want)
            bench_fail("post-awake", "not every post ran once");
    } else if (!B.seen_done) {
        bench_fail("post-awake", "the last send was not seen");
    }
    if (uv_loop_close(&B.loop) != 0)
        bench_fail("post-awake", "uv_loop_close");
    post_report(impl, B.n, &B.t);
    return 0;
}
