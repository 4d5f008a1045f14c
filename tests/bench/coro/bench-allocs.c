/* SPDX-License-Identifier: MIT */
/*
 * Allocation counts per operation, not times: how many calls each life of a coroutine
 * (spawn, one yield, return, joined by vow_all) and each vow_then step make into
 * libvow's allocator seam, through a counting allocator installed with
 * vow_replace_allocator. Slab chunks then come from that allocator too (no huge-page
 * mapping): calls of 16 KiB and more are counted apart as chunk bytes, the slab
 * memory the vows and reactions take. The counts are deterministic, so one process is
 * enough; the line reads
 *   workload=allocs_<w> impl=<impl> n=N mallocs_per_op=M frees_per_op=F
 *     small_bytes_per_op=S chunk_bytes_per_op=C live_after=L
 * and the program fails if anything is left allocated after the loop is closed.
 *   usage: bench-allocs [N]   (coroutines all at once, copy-stack, batches of 1,000,
 *                              and a chain, each of N)
 */
#include "bench.h"

#include <string.h>
#include <vow.h>
#include <vow/co.h>

#define CHUNK_MIN ((size_t)16 * 1024)

static long n_malloc, n_free, live;
static double small_bytes, chunk_bytes;

static void count(size_t n)
{
    n_malloc++;
    live++;
    if (n >= CHUNK_MIN)
        chunk_bytes += (double)n;
    else
        small_bytes += (double)n;
}

static void *c_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        count(n);
    return p;
}

static void *c_calloc(size_t k, size_t n)
{
    void *p = calloc(k, n);
    if (p)
        count(k * n);
    return p;
}

static void *c_realloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (p && !old)
        count(n);
    else if (p)
        n_malloc++;
    return p;
}

static void c_free(void *p)
{
    if (!p)
        return;
    n_free++;
    live--;
    free(p);
}

static vow_ret work(void *arg)
{
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num((int64_t)(intptr_t)arg));
}

static void coro(vow_loop *l, long n, long batch, unsigned flags)
{
    vow_co_opts opts = { .flags = flags };
    vow **ps = malloc((size_t)batch * sizeof(*ps));
    if (!ps)
        bench_fail("allocs", "malloc");
    for (long first = 0; first < n; first += batch) {
        long k = first + batch <= n ? batch : n - first;
        for (long i = 0; i < k; i++) {
            ps[i] = vow_co_spawn(l, work, (void *)(intptr_t)1, &opts);
            if (!ps[i])
                bench_fail("allocs", "vow_co_spawn");
        }
        vow *all = vow_all(l, ps, (size_t)k);
        if (!all || vow_loop_run(l, VOW_RUN_DEFAULT) < 0 || vow_state(all) != VOW_FULFILLED ||
            vow_list_get(vow_value(all))->n != (size_t)k)
            bench_fail("allocs", "coroutines did not all return");
        vow_unref(all);
    }
    free(ps);
}

static vow_ret add1(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static void chain(vow_loop *l, long n)
{
    vow *p = vow_resolved(l, vow_val_num(0));
    for (long i = 0; i < n && p; i++)
        p = vow_then(p, add1, NULL, NULL);
    if (!p || vow_loop_run(l, VOW_RUN_DEFAULT) < 0 || vow_value(p)->num != n)
        bench_fail("allocs", "the chain did not reach N");
    vow_unref(p);
}

static void report(const char *w, const char *impl, long n)
{
    printf("workload=allocs_%s impl=%s n=%ld mallocs_per_op=%.3f frees_per_op=%.3f "
           "small_bytes_per_op=%.1f chunk_bytes_per_op=%.1f live_after=%ld\n",
           w, impl, n, (double)n_malloc / (double)n, (double)n_free / (double)n,
           small_bytes / (double)n, chunk_bytes / (double)n, live);
    fflush(stdout);
    if (live != 0)
        bench_fail(w, "allocations left after vow_loop_close");
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 100000);
    if (vow_replace_allocator(c_malloc, c_realloc, c_calloc, c_free) != 0)
        bench_fail("allocs", "vow_replace_allocator");
    for (int w = 0; w < 4; w++) {
        n_malloc = n_free = live = 0;
        small_bytes = chunk_bytes = 0;
        vow_loop *l = vow_loop_new();
        if (!l)
            bench_fail("allocs", "vow_loop_new");
        /* Counted from after the loop exists: its own allocations are not per op (but
         * they must be gone after close, like everything else). */
        n_malloc = n_free = 0;
        small_bytes = chunk_bytes = 0;
        if (w == 0)
            coro(l, n, n, 0);
        else if (w == 1)
            coro(l, n, n, VOW_CO_COPY_STACK);
        else if (w == 2)
            coro(l, n, 1000, 0);
        else
            chain(l, n);
        if (vow_loop_close(l) != 0)
            bench_fail("allocs", "vow_loop_close");
        if (w == 0)
            report("coro", "libvow", n);
        else if (w == 1)
            report("coro", "libvow_copy", n);
        else if (w == 2)
            report("coro_batch1000", "libvow", n);
        else
            report("chain", "libvow", n);
    }
    vow_co_trim();
    return 0;
}
