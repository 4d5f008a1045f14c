/* SPDX-License-Identifier: MIT */
/*
 * Coordination benchmarks (run.sh runs the peers and prints the ratios):
 *
 *   pingpong   one value bounced N times between two coroutines through two
 *              rendezvous channels; impl=floor_2switch is the floor, N round trips of
 *              the raw context switch (two switches each, main -> coroutine -> main);
 *   prodcons   a producer coroutine sends N numbers through a channel of capacity 64
 *              to a consumer coroutine that sums them;
 *   cross      the same through a channel between two loops on two threads;
 *              impl=condvar is the peer, a plain C bounded queue (capacity 64) on a
 *              mutex and two condvars.
 *
 * Each coroutine workload runs in two idioms: impl=libvow awaits every operation
 * (vow_await(vow_chan_send(...))), impl=libvow_try tries first (vow_chan_try_send /
 * try_recv) and awaits only when it would wait. One impl per process; bench_run
 * (tests/bench/bench.h) times the cold run apart from a warm one. Each run checks its
 * result.
 *   usage: bench-sync <pingpong|prodcons|cross> <impl> [N]
 */
#include "bench.h"

#include "switch.h"

#include <vow.h>
#include <vow/co.h>
#include <vow/sync.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define CAP 64

/* Awaits p, consumes it, returns its code; *ret_num gets the value's num if fulfilled. */
static int await_unref(vow *p, int64_t *ret_num)
{
    if (!p)
        bench_fail("sync", "out of memory");
    int rc = vow_await(p);
    if (rc == 0 && ret_num)
        *ret_num = vow_value(p)->num;
    vow_unref(p);
    return rc;
}

/* Sends v in the chosen idiom. */
static int co_send(vow_chan *c, int64_t v, int try_first)
{
    if (try_first && vow_chan_try_send(c, vow_val_num(v)) == 0)
        return 0;
    return await_unref(vow_chan_send(c, vow_val_num(v)), NULL);
}

static int co_recv(vow_chan *c, int64_t *ret, int try_first)
{
    vow_val v;
    if (try_first) {
        int r = vow_chan_try_recv(c, &v);
        if (r == 0) {
            *ret = v.num;
            return 0;
        }
        if (r != VOW_EAGAIN)
            return r;
    }
    return await_unref(vow_chan_recv(c), ret);
}

/* ----------------------------------------------------------------- pingpong */

struct pp {
    vow_chan *ping, *pong; /* A -> B, B -> A */
    long n;                /* round trips */
    int try_first;         /* idiom */
    int64_t last;          /* what A got back last */
};

static vow_ret pp_a(void *arg)
{
    struct pp *p = arg;
    int64_t v = 0;
    for (long i = 0; i < p->n; i++) {
        if (co_send(p->ping, v, p->try_first) < 0 || co_recv(p->pong, &v, p->try_first) < 0)
            bench_fail("pingpong", "a channel failed");
    }
    p->last = v;
    vow_chan_close(p->ping);
    return vow_ok(vow_val_none());
}

static vow_ret pp_b(void *arg)
{
    struct pp *p = arg;
    for (;;) {
        int64_t v = 0;
        if (co_recv(p->ping, &v, p->try_first) < 0)
            break;
        if (co_send(p->pong, v + 1, p->try_first) < 0)
            bench_fail("pingpong", "pong failed");
    }
    return vow_ok(vow_val_none());
}

static void run_pingpong(void *ctx, long n)
{
    int try_first = *(int *)ctx;
    vow_loop *l = vow_loop_new();
    struct pp p = { vow_chan_new(l, 0), vow_chan_new(l, 0), n, try_first, 0 };
    vow *b = vow_co_spawn(l, pp_b, &p, NULL), *a = vow_co_spawn(l, pp_a, &p, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    if (p.last != n || vow_state(a) != VOW_FULFILLED || vow_state(b) != VOW_FULFILLED)
        bench_fail("pingpong", "wrong result");
    vow_unref(a);
    vow_unref(b);
    vow_chan_unref(p.ping);
    vow_chan_unref(p.pong);
    if (vow_loop_close(l) != 0)
        bench_fail("pingpong", "loop close");
}

/* The floor: a round trip of the raw switch, main -> coroutine -> main. */
static struct vow__co_ctx fmain, fco;

static void floor_entry(void *data)
{
    uintptr_t x = (uintptr_t)data;
    for (;;)
        x = (uintptr_t)vow__co_jump(&fco, &fmain, (void *)(x + 1));
}

static void run_floor(void *ctx, long n)
{
    (void)ctx;
    size_t size = 64 * 1024;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        bench_fail("pingpong", "mmap");
    vow__co_make(&fco, mem, size, floor_entry);
    uintptr_t x = 0;
    for (long i = 0; i < n; i++)
        x = (uintptr_t)vow__co_jump(&fmain, &fco, (void *)x);
    if (x != (uintptr_t)n)
        bench_fail("pingpong", "floor: wrong count");
    munmap(mem, size);
}

/* ----------------------------------------------------------------- prodcons */

struct pc {
    vow_chan *c;   /* the channel */
    long n;        /* items */
    int try_first; /* idiom */
    int64_t sum;   /* consumer's sum */
};

static vow_ret pc_producer(void *arg)
{
    struct pc *p = arg;
    for (long i = 0; i < p->n; i++)
        if (co_send(p->c, i, p->try_first) < 0)
            bench_fail("prodcons", "send failed");
    vow_chan_close(p->c);
    return vow_ok(vow_val_none());
}

static vow_ret pc_consumer(void *arg)
{
    struct pc *p = arg;
    int64_t v = 0;
    while (co_recv(p->c, &v, p->try_first) == 0)
        p->sum += v;
    return vow_ok(vow_val_none());
}

static void run_prodcons(void *ctx, long n)
{
    int try_first = *(int *)ctx;
    vow_loop *l = vow_loop_new();
    struct pc p = { vow_chan_new(l, CAP), n, try_first, 0 };
    vow *c = vow_co_spawn(l, pc_consumer, &p, NULL), *pr = vow_co_spawn(l, pc_producer, &p, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    if (p.sum != (int64_t)n * (n - 1) / 2)
        bench_fail("prodcons", "wrong sum");
    vow_unref(c);
    vow_unref(pr);
    vow_chan_unref(p.c);
    if (vow_loop_close(l) != 0)
        bench_fail("prodcons", "loop close");
}

/* -------------------------------------------------------------------- cross */

struct xp {
    vow_loop *consumer;    /* the consumer's loop */
    vow_chan *c;           /* made by the producer thread */
    long n;                /* items */
    int try_first;         /* idiom */
    pthread_mutex_t mu;    /* hands c over */
    pthread_cond_t ready;  /* c is set */
};

static vow_ret xp_produce(void *arg)
{
    struct xp *x = arg;
    for (long i = 0; i < x->n; i++)
        if (co_send(x->c, i, x->try_first) < 0)
            bench_fail("cross", "send failed");
    vow_chan_close(x->c);
    return vow_ok(vow_val_none());
}

static void *xp_thread(void *arg)
{
    struct xp *x = arg;
    vow_loop *l = vow_loop_new();
    vow_chan *c;
    if (!l || vow_chan_new_between(l, x->consumer, CAP, &c) != 0)
        bench_fail("cross", "setup");
    pthread_mutex_lock(&x->mu);
    x->c = vow_chan_ref(c);
    pthread_cond_signal(&x->ready);
    pthread_mutex_unlock(&x->mu);
    vow *co = vow_co_spawn(l, xp_produce, x, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    vow_unref(co);
    vow_chan_unref(c);
    if (vow_loop_close(l) != 0)
        bench_fail("cross", "producer loop close");
    return NULL;
}

struct xc {
    vow_chan *c;   /* the consumer's reference */
    int try_first; /* idiom */
    int64_t sum;   /* of the items */
};

static vow_ret xc_consume(void *arg)
{
    struct xc *k = arg;
    int64_t v = 0;
    while (co_recv(k->c, &v, k->try_first) == 0)
        k->sum += v;
    return vow_ok(vow_val_none());
}

static void run_cross(void *ctx, long n)
{
    int try_first = *(int *)ctx;
    struct xp x;
    memset(&x, 0, sizeof(x));
    x.consumer = vow_loop_new();
    x.n = n;
    x.try_first = try_first;
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.ready, NULL);
    pthread_t t;
    pthread_create(&t, NULL, xp_thread, &x);
    pthread_mutex_lock(&x.mu);
    while (!x.c)
        pthread_cond_wait(&x.ready, &x.mu);
    pthread_mutex_unlock(&x.mu);
    struct xc k = { x.c, try_first, 0 };
    vow *co = vow_co_spawn(x.consumer, xc_consume, &k, NULL);
    vow_loop_run(x.consumer, VOW_RUN_DEFAULT);
    pthread_join(t, NULL);
    if (k.sum != (int64_t)n * (n - 1) / 2)
        bench_fail("cross", "wrong sum");
    vow_unref(co);
    vow_chan_unref(k.c);
    if (vow_loop_close(x.consumer) != 0)
        bench_fail("cross", "loop close");
    pthread_mutex_destroy(&x.mu);
    pthread_cond_destroy(&x.ready);
}

/* The peer: a bounded queue on a mutex and two condvars, one thread each side. */
struct cq {
    pthread_mutex_t mu;             /* guards everything */
    pthread_cond_t not_full, not_empty; /* the two waits */
    int64_t ring[CAP];              /* items */
    size_t head, len;               /* ring state */
    bool closed;                    /* no more items */
    long n;                         /* items to send */
};

static void *cq_producer(void *arg)
{
    struct cq *q = arg;
    for (long i = 0; i < q->n; i++) {
        pthread_mutex_lock(&q->mu);
        while (q->len == CAP)
            pthread_cond_wait(&q->not_full, &q->mu);
        q->ring[(q->head + q->len) % CAP] = i;
        q->len++;
        pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&q->mu);
    }
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void run_condvar(void *ctx, long n)
{
    (void)ctx;
    struct cq q;
    memset(&q, 0, sizeof(q));
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_full, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    q.n = n;
    pthread_t t;
    pthread_create(&t, NULL, cq_producer, &q);
    int64_t sum = 0;
    for (;;) {
        pthread_mutex_lock(&q.mu);
        while (q.len == 0 && !q.closed)
            pthread_cond_wait(&q.not_empty, &q.mu);
        if (q.len == 0) {
            pthread_mutex_unlock(&q.mu);
            break;
        }
        sum += q.ring[q.head];
        q.head = (q.head + 1) % CAP;
        q.len--;
        pthread_cond_signal(&q.not_full);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_join(t, NULL);
    if (sum != (int64_t)n * (n - 1) / 2)
        bench_fail("cross", "condvar: wrong sum");
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.not_full);
    pthread_cond_destroy(&q.not_empty);
}

int main(int argc, char **argv)
{
    const char *w = argc > 1 ? argv[1] : "";
    const char *impl = argc > 2 ? argv[2] : "";
    long n = bench_arg(argc, argv, 3, 0);
    int try_first = strcmp(impl, "libvow_try") == 0;
    bool vow_impl = try_first || strcmp(impl, "libvow") == 0;
    bench_fn fn = NULL;
    if (strcmp(w, "pingpong") == 0) {
        n = n ? n : 1000000;
        fn = vow_impl ? run_pingpong : strcmp(impl, "floor_2switch") == 0 ? run_floor : NULL;
    } else if (strcmp(w, "prodcons") == 0) {
        n = n ? n : 1000000;
        fn = vow_impl ? run_prodcons : NULL;
    } else if (strcmp(w, "cross") == 0) {
        n = n ? n : 1000000;
        fn = vow_impl ? run_cross : strcmp(impl, "condvar") == 0 ? run_condvar : NULL;
    }
    if (!fn) {
        fprintf(stderr, "usage: bench-sync pingpong floor_2switch|libvow|libvow_try [N]\n"
                        "       bench-sync prodcons libvow|libvow_try [N]\n"
                        "       bench-sync cross condvar|libvow|libvow_try [N]\n");
        return 2;
    }
    bench_run(w, impl, n, fn, &try_first);
    return 0;
}
