/* SPDX-License-Identifier: MIT */
/*
 * Peer for workload "turn" on libuv: N uv timers (i % 11 ms) and N callbacks posted the
 * way libuv users do it, a mutex-guarded queue drained by a uv_async_t; the timers
 * are closed at the end of each run. The line reports n = 2N callbacks.
 */
#include "bench.h"

#include <pthread.h>
#include <uv.h>

struct node {
    struct node *next; /* FIFO link */
    void (*fn)(void *arg); /* what to run */
    void *arg;         /* its argument */
};

static long timers_fired, posts_run, posts_pending;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct node *head, **tail = &head;
static uv_async_t async;

static void on_timer(uv_timer_t *t)
{
    timers_fired++;
}

static void on_post(void *arg)
{
    posts_run += (long)(intptr_t)arg;
}

static int post(void (*fn)(void *), void *arg)
{
    struct node *n = malloc(sizeof(*n));
    if (!n)
        return -1;
    n->next = NULL;
    n->fn = fn;
    n->arg = arg;
    pthread_mutex_lock(&mu);
    *tail = n;
    tail = &n->next;
    pthread_mutex_unlock(&mu);
    return uv_async_send(&async);
}

static void on_async(uv_async_t *a)
{
    pthread_mutex_lock(&mu);
    struct node *n = head;
    head = NULL;
    tail = &head;
    pthread_mutex_unlock(&mu);
    while (n) {
        struct node *next = n->next;
        n->fn(n->arg);
        free(n);
        n = next;
        if (--posts_pending == 0)
            uv_close((uv_handle_t *)a, NULL);
    }
}

static void turn(void *ctx, long n2)
{
    uv_loop_t *loop = ctx;
    long n = n2 / 2;
    uv_timer_t *ts = malloc((size_t)n * sizeof(*ts));
    if (!ts || uv_async_init(loop, &async, on_async) != 0)
        bench_fail("turn", "setup");
    timers_fired = posts_run = 0;
    uv_update_time(loop);
    uint64_t start = uv_now(loop);
    posts_pending = n;
    for (long i = 0; i < n; i++) {
        if (uv_timer_init(loop, &ts[i]) != 0 ||
            uv_timer_start(&ts[i], on_timer, (uint64_t)(i % 11), 0) != 0)
            bench_fail("turn", "uv_timer_start");
        if (post(on_post, (void *)(intptr_t)1) != 0)
            bench_fail("turn", "post");
    }
    uv_run(loop, UV_RUN_DEFAULT);
    if (timers_fired != n || posts_run != n)
        bench_fail("turn", "not every callback ran");
    if (n > 10 && uv_now(loop) - start < 10)
        bench_fail("turn", "finished before the longest deadline");
    for (long i = 0; i < n; i++)
        uv_close((uv_handle_t *)&ts[i], NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    free(ts);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 500000);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        bench_fail("turn", "uv_loop_init");
    bench_run("turn", "libuv", 2 * n, turn, &loop);
    if (uv_loop_close(&loop) != 0)
        bench_fail("turn", "uv_loop_close");
    return 0;
}
