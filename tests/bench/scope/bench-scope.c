/* SPDX-License-Identifier: MIT */
/*
 * Workload "scope": N coroutines, each computing (i % 7)^3, yielding once and
 * returning it, spawned into a scope and joined (impl=libvow_scope), against the same
 * coroutines spawned bare with vow_co_spawn and gathered with vow_all (impl=libvow_all);
 * the checksum is verified from the join's (or vow_all's) list. With a batch size B,
 * the coroutines run B at a time, each batch in a scope (or vow_all) of its own that is
 * joined before the next starts (workload scope_batch<B>: the steady state, with
 * pooled stacks); without, all N are alive at once (workload scope). One process runs
 * R rounds on one loop: the first is reported as <workload>_cold (fresh stacks, cold
 * caches), the median of the others as <workload>_warm. tests/bench/scope/run.sh runs
 * each impl in several fresh processes and compares medians, with the Node peer
 * scope.js (async functions + Promise.all).
 *   usage: bench-scope scope|all [N] [R] [B]
 */
#include "benchutil.h"

#include <vow.h>
#include <vow/scope.h>

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

static char name[64];

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

static void run(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING) {
        int r = vow_loop_run(l, VOW_RUN_ONCE);
        if (r < 0)
            bench_fail(name, vow_strerror(r));
    }
}

/* One batch with a scope: spawn, join, check. */
static int64_t round_scope(vow_loop *l, long first, long n)
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
    run(l, j);
    int64_t sum = sum_list(j, n);
    vow_unref(j);
    if (vow_scope_close(s) < 0)
        bench_fail(name, "vow_scope_close");
    return sum;
}

/* The same batch with bare coroutines and vow_all. */
static int64_t round_all(vow_loop *l, long first, long n, vow **ps)
{
    for (long i = 0; i < n; i++) {
        ps[i] = vow_co_spawn(l, work, (void *)(intptr_t)(first + i), NULL);
        if (!ps[i])
            bench_fail(name, "vow_co_spawn");
    }
    vow *all = vow_all(l, ps, (size_t)n);
    if (!all)
        bench_fail(name, "vow_all");
    run(l, all);
    int64_t sum = sum_list(all, n);
    vow_unref(all);
    return sum;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int scope = argc > 1 && strcmp(argv[1], "scope") == 0;
    if (argc < 2 || (!scope && strcmp(argv[1], "all") != 0)) {
        fprintf(stderr, "usage: %s scope|all [N] [R]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    long rounds = argc > 3 ? strtol(argv[3], NULL, 10) : 6;
    long batch = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
    if (n <= 0)
        n = 20000;
    if (rounds < 2)
        rounds = 2;
    if (batch <= 0 || batch > n)
        batch = n;
    if (batch == n)
        snprintf(name, sizeof(name), "scope");
    else
        snprintf(name, sizeof(name), "scope_batch%ld", batch);
    const char *impl = scope ? "libvow_scope" : "libvow_all";
    vow_loop *l = vow_loop_new();
    vow **ps = malloc((size_t)batch * sizeof(*ps));
    double *t = malloc((size_t)rounds * sizeof(*t));
    if (!l || !ps || !t)
        bench_fail(name, "out of memory");
    int64_t want = 0;
    for (long i = 0; i < n; i++)
        want += (i % 7) * (i % 7) * (i % 7);
    for (long r = 0; r < rounds; r++) {
        double t0 = bench_now();
        int64_t sum = 0;
        for (long first = 0; first < n; first += batch) {
            long k = n - first < batch ? n - first : batch;
            sum += scope ? round_scope(l, first, k) : round_all(l, first, k, ps);
        }
        t[r] = bench_now() - t0;
        if (sum != want)
            bench_fail(name, "wrong checksum");
    }
    char w[80];
    snprintf(w, sizeof(w), "%s_cold", name);
    bench_report(w, impl, n, t[0]);
    qsort(t + 1, (size_t)rounds - 1, sizeof(*t), cmp_double);
    snprintf(w, sizeof(w), "%s_warm", name);
    bench_report(w, impl, n, t[1 + (rounds - 1) / 2]);
    free(t);
    free(ps);
    if (vow_loop_close(l) != 0)
        bench_fail(name, "vow_loop_close");
    return 0;
}
