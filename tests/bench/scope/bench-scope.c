/* SPDX-License-Identifier: MIT */
/*
 * Workload "scope": N coroutines, each computing (i % 7)^3, yielding once and
 * returning it, spawned into a scope and joined (impl=libvow_scope), against the same
 * coroutines spawned bare with vow_co_spawn and gathered with vow_all (impl=libvow_all);
 * the checksum is verified from the join's (or vow_all's) list. With a batch size B,
 * the coroutines run B at a time, each batch in a scope (or vow_all) of its own that is
 * joined before the next starts (workload scope_batch<B>: the steady state, with
 * pooled stacks); without, all N are alive at once (workload scope). bench_run times
 * the first run (cold) apart from a later one (warm). The Node peer is scope.js (async
 * functions + Promise.all); run.sh compares the medians.
 *   usage: bench-scope scope|all [N] [B]
 */
#include "bench.h"

#include <vow.h>
#include <vow/scope.h>

#include <string.h>

static char name[64];

struct ctx {
    vow_loop *l;  /* one loop for every run */
    vow **ps;     /* libvow_all: one batch's coroutine vows */
    long batch;   /* coroutines per scope (or vow_all) */
    int scope;    /* 1: libvow_scope, 0: libvow_all */
};

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

static int64_t sum_list(vow *v, long n)
{
    if (vow_state(v) != VOW_FULFILLED)
        bench_fail(name, vow_strerror(vow_code(v)));
    const vow_list *list = vow_list_get(vow_value(v));
    if (!list || list->n != (size_t)n)
        bench_fail(name, "wrong list length");
    int64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += vow_value(list->items[i])->num;
    return sum;
}

static void run_until(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING) {
        int r = vow_loop_run(l, VOW_RUN_ONCE);
        if (r < 0)
            bench_fail(name, vow_strerror(r));
    }
}

/* One batch with a scope: spawn, join, check. */
static int64_t batch_scope(vow_loop *l, long first, long n)
{
    vow_scope *s = vow_scope_new(l, NULL);
    if (!s)
        bench_fail(name, "vow_scope_new");
    for (long i = 0; i < n; i++)
        if (vow_scope_spawn(s, work, (void *)(intptr_t)(first + i), NULL) < 0)
            bench_fail(name, "vow_scope_spawn");
    vow *j = vow_scope_join(s);
    if (!j)
        bench_fail(name, "vow_scope_join");
    run_until(l, j);
    int64_t sum = sum_list(j, n);
    vow_unref(j);
    if (vow_scope_close(s) < 0)
        bench_fail(name, "vow_scope_close");
    return sum;
}

/* The same batch with bare coroutines and vow_all. */
static int64_t batch_all(vow_loop *l, long first, long n, vow **ps)
{
    for (long i = 0; i < n; i++) {
        ps[i] = vow_co_spawn(l, work, (void *)(intptr_t)(first + i), NULL);
        if (!ps[i])
            bench_fail(name, "vow_co_spawn");
    }
    vow *all = vow_all(l, ps, (size_t)n);
    if (!all)
        bench_fail(name, "vow_all");
    run_until(l, all);
    int64_t sum = sum_list(all, n);
    vow_unref(all);
    return sum;
}

static void scope_run(void *arg, long n)
{
    struct ctx *c = arg;
    int64_t sum = 0, want = 0;
    for (long first = 0; first < n; first += c->batch) {
        long k = n - first < c->batch ? n - first : c->batch;
        sum += c->scope ? batch_scope(c->l, first, k) : batch_all(c->l, first, k, c->ps);
    }
    for (long i = 0; i < n; i++)
        want += (i % 7) * (i % 7) * (i % 7);
    if (sum != want)
        bench_fail(name, "wrong checksum");
}

int main(int argc, char **argv)
{
    struct ctx c = { .scope = argc > 1 && strcmp(argv[1], "scope") == 0 };
    if (argc < 2 || (!c.scope && strcmp(argv[1], "all") != 0)) {
        fprintf(stderr, "usage: %s scope|all [N] [B]\n", argv[0]);
        return 2;
    }
    long n = bench_arg(argc, argv, 2, 20000);
    c.batch = bench_arg(argc, argv, 3, n);
    if (c.batch > n)
        c.batch = n;
    if (c.batch == n)
        snprintf(name, sizeof(name), "scope");
    else
        snprintf(name, sizeof(name), "scope_batch%ld", c.batch);
    c.l = vow_loop_new();
    c.ps = malloc((size_t)c.batch * sizeof(*c.ps));
    if (!c.l || !c.ps)
        bench_fail(name, "out of memory");
    bench_run(name, c.scope ? "libvow_scope" : "libvow_all", n, scope_run, &c);
    free(c.ps);
    if (vow_loop_close(c.l) != 0)
        bench_fail(name, "vow_loop_close");
    return 0;
}
