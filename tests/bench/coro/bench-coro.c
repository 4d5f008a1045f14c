/* SPDX-License-Identifier: MIT */
/*
 * Workload "coro": N coroutines, each computing (i % 7)^3, yielding once and
 * returning it, gathered with vow_all; the checksum is verified. Every coroutine is
 * suspended at once before the first one finishes, so this also measures N live
 * stacks (peak_rss_kb). With a batch size B as the second argument (workload
 * "coro_batch<B>"), the coroutines run B at a time, each batch gathered before the
 * next is spawned: the steady state with pooled stacks. A third argument "copy"
 * spawns them in copy-stack mode (impl=libvow_copy: one shared stack, each suspended
 * coroutine keeps only the bytes of stack it uses); otherwise each has a stack of its
 * own (impl=libvow). One mode per process, so peak_rss_kb is that mode's. Peers:
 * coro.js (Node async functions + Promise.all) and coro.py (asyncio tasks + gather),
 * with the same modes.
 */
#include "benchutil.h"

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

/* Runs coroutines [first, first + n) to completion and returns the sum of results. */
static int64_t run_batch(vow_loop *l, vow **ps, long first, long n, const char *name,
                         const vow_co_opts *opts)
{
    for (long i = 0; i < n; i++) {
        ps[i] = vow_co_spawn(l, work, (void *)(intptr_t)(first + i), opts);
        if (!ps[i])
            bench_fail(name, "vow_co_spawn: out of memory");
    }
    vow *all = vow_all(l, ps, (size_t)n);
    if (!all)
        bench_fail(name, "vow_all: out of memory");
    int r = vow_loop_run(l, VOW_RUN_DEFAULT);
    if (r < 0)
        bench_fail(name, vow_strerror(r));
    if (vow_state(all) != VOW_FULFILLED)
        bench_fail(name, vow_strerror(vow_code(all)));
    const vow_list *list = vow_list_get(vow_value(all));
    if (list->n != (size_t)n)
        bench_fail(name, "wrong list length");
    int64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += vow_value(list->items[i])->num;
    vow_unref(all);
    return sum;
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    long batch = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    if (batch <= 0 || batch > n)
        batch = n;
    int copy = argc > 3 && strcmp(argv[3], "copy") == 0;
    vow_co_opts opts = { .flags = copy ? VOW_CO_COPY_STACK : 0 };
    char name[64];
    if (batch == n)
        snprintf(name, sizeof(name), "coro");
    else
        snprintf(name, sizeof(name), "coro_batch%ld", batch);
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail(name, "vow_loop_new");
    vow **ps = malloc((size_t)batch * sizeof(*ps));
    if (!ps)
        bench_fail(name, "malloc");

    double t0 = bench_now();
    int64_t sum = 0;
    for (long first = 0; first < n; first += batch)
        sum += run_batch(l, ps, first, first + batch <= n ? batch : n - first, name, &opts);
    double t1 = bench_now();

    int64_t want = 0;
    for (long i = 0; i < n; i++) {
        int64_t m = i % 7;
        want += m * m * m;
    }
    if (sum != want)
        bench_fail(name, "wrong checksum");
    free(ps);
    if (vow_loop_close(l) != 0)
        bench_fail(name, "vow_loop_close");
    bench_report(name, copy ? "libvow_copy" : "libvow", n, t1 - t0);
    return 0;
}
