/* SPDX-License-Identifier: MIT */
/*
 * Workload "coro": N coroutines, each computing (i % 7)^3, yielding once and
 * returning it, gathered with vow_all; the checksum is verified. Every coroutine is
 * suspended at once before the first one finishes, so this also measures N parked
 * coroutines (peak_rss_kib, and bytes_per_op: the resident bytes per coroutine). This
 * is TonIO's benchmark: spawn, yield once, return, join all. With a batch size B as the second argument (workload
 * "coro_batch<B>"), the coroutines run B at a time, each batch gathered before the
 * next is spawned: the steady state with pooled stacks. A third argument "copy"
 * spawns them in copy-stack mode (impl=libvow_copy: one shared stack, each suspended
 * coroutine keeps only the bytes of stack it uses); otherwise each has a stack of its
 * own (impl=libvow). One mode per process, so peak_rss_kib is that mode's. Peers:
 * coro.js (Node async functions + Promise.all) and coro.py (asyncio tasks + gather),
 * with the same modes.
 */
#include "bench.h"

#include <vow.h>
#include <vow/co.h>

#include <string.h>

static vow_ret work(void *arg)
{
    int64_t i = (int64_t)(intptr_t)arg;
    int64_t m = i % 7;
    int64_t v = m * m * m;
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num(v));
}

struct ctx {
    vow_loop *l;        /* the loop, for every run */
    vow **ps;           /* one batch of result vows */
    long batch;         /* coroutines per batch (N: all at once) */
    const char *name;   /* workload name */
    vow_co_opts opts;   /* spawn options (copy-stack or not) */
    int64_t want;       /* the checksum */
};

/* Runs coroutines [first, first + n) to completion and returns the sum of results. */
static int64_t run_batch(struct ctx *c, long first, long n)
{
    for (long i = 0; i < n; i++) {
        c->ps[i] = vow_co_spawn(c->l, work, (void *)(intptr_t)(first + i), &c->opts);
        if (!c->ps[i])
            bench_fail(c->name, "vow_co_spawn: out of memory");
    }
    vow *all = vow_all(c->l, c->ps, (size_t)n);
    if (!all)
        bench_fail(c->name, "vow_all: out of memory");
    int r = vow_loop_run(c->l, VOW_RUN_DEFAULT);
    if (r < 0)
        bench_fail(c->name, vow_strerror(r));
    if (vow_state(all) != VOW_FULFILLED)
        bench_fail(c->name, vow_strerror(vow_code(all)));
    const vow_list *list = vow_list_get(vow_value(all));
    if (list->n != (size_t)n)
        bench_fail(c->name, "wrong list length");
    int64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += vow_value(list->items[i])->num;
    vow_unref(all);
    return sum;
}

static void coro(void *arg, long n)
{
    struct ctx *c = arg;
    int64_t sum = 0;
    for (long first = 0; first < n; first += c->batch)
        sum += run_batch(c, first, first + c->batch <= n ? c->batch : n - first);
    if (sum != c->want)
        bench_fail(c->name, "wrong checksum");
    if (vow_co_live(c->l) != 0)
        bench_fail(c->name, "coroutines left alive");
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    long batch = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    if (batch <= 0 || batch > n)
        batch = n;
    int copy = argc > 3 && strcmp(argv[3], "copy") == 0;
    char name[64];
    if (batch == n)
        snprintf(name, sizeof(name), "coro");
    else
        snprintf(name, sizeof(name), "coro_batch%ld", batch);
    struct ctx c = { .l = vow_loop_new(), .ps = malloc((size_t)batch * sizeof(vow *)),
                     .batch = batch, .name = name,
                     .opts = { .flags = copy ? VOW_CO_COPY_STACK : 0 } };
    if (!c.l || !c.ps)
        bench_fail(name, "setup: out of memory");
    for (long i = 0; i < n; i++) {
        int64_t m = i % 7;
        c.want += m * m * m;
    }
    bench_run(name, copy ? "libvow_copy" : "libvow", n, coro, &c);
    free(c.ps);
    if (vow_loop_close(c.l) != 0)
        bench_fail(name, "vow_loop_close");
    return 0;
}
