/* SPDX-License-Identifier: MIT */
/*
 * The TonIO coroutine workload over a loop group: N coroutines, each computing
 * (i % 7)^3, yielding once and returning it, summed and checked. The group's L loops
 * each run N/L of them, B at a time (each batch gathered with vow_all before the
 * next is spawned: the steady state, with pooled stacks), driven by one coroutine per
 * loop that vow_group_spawn placed there; the test's own loop gathers the L sums.
 * B = 0 spawns a loop's whole share at once, in copy-stack mode (N live coroutines).
 * "loop" instead of a number of loops runs the same on a plain loop in this thread,
 * without a group. The group is started before the timed runs (bench_run: cold, the
 * first run in the process with fresh stacks faulted in, apart from warm, pooled).
 *   usage: bench-tonio N LOOPS|loop [B]
 * prints: workload=tonio|tonio_copy|tonio_b<B> impl=group<L>|loop n=N cold_s=C
 *         warm_s=W peak_rss_kib=K bytes_per_op=B
 * and a second line, workload=<same>_cpu, whose cold_s and warm_s are the CPU time the
 * whole process spent on those runs (every thread, user and system): the same work on
 * 2 loops as on 1 costs as much CPU when nothing contends, and on a shared machine this
 * shows it even when the wall-clock ratio cannot (the other loads take the cores).
 */
#include "bench.h"

#include <vow.h>
#include <vow/co.h>
#include <vow/group.h>

#include <stdbool.h>
#include <string.h>

static long batch;       /* coroutines per batch, 0: all at once (copy stacks) */
static const char *name; /* the workload's name */

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

/* A loop's share: [first, first + n). */
struct share {
    long first;
    long n;
};

static struct share shares[VOW_GROUP_MAX];

/* Runs the share on the calling coroutine's loop, a batch at a time; its sum. */
static vow_ret driver(void *arg)
{
    struct share *s = arg;
    vow_loop *l = vow_loop_of(vow_co_self());
    long b = batch > 0 ? batch : s->n;
    vow_co_opts opts = {.flags = batch > 0 ? 0 : VOW_CO_COPY_STACK};
    vow **ps = malloc((size_t)(b > 0 ? b : 1) * sizeof(*ps));
    if (!ps)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    int64_t sum = 0;
    for (long at = 0; at < s->n; at += b) {
        long k = s->n - at < b ? s->n - at : b;
        for (long i = 0; i < k; i++) {
            ps[i] = vow_co_spawn(l, work, (void *)(intptr_t)(s->first + at + i), &opts);
            if (!ps[i])
                bench_fail(name, "vow_co_spawn: out of memory");
        }
        vow *all = vow_all(l, ps, (size_t)k);
        if (!all || vow_await(all) != 0)
            bench_fail(name, "a batch failed");
        const vow_list *list = vow_list_get(vow_value(all));
        for (long i = 0; i < k; i++)
            sum += vow_value(list->items[i])->num;
        vow_unref(all);
    }
    free(ps);
    return vow_ok(vow_val_num(sum));
}

static vow *start_driver(vow_loop *l, void *arg)
{
    return vow_co_spawn(l, driver, arg, NULL);
}

static void split(long n, unsigned loops)
{
    long at = 0;
    for (unsigned i = 0; i < loops; i++) {
        long k = n / loops + ((long)i < n % loops ? 1 : 0);
        shares[i] = (struct share){.first = at, .n = k};
        at += k;
    }
}

/* What lives across runs. */
struct ctx {
    vow_group *g;   /* NULL: run on x itself */
    vow_loop *x;    /* this thread's loop, which gathers the sums */
    unsigned loops; /* shares */
    int64_t want;   /* the checksum */
};

/* The process's CPU time so far (every thread), in seconds. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_first = -1, cpu_last; /* CPU seconds of the first and latest run */

/* One whole run of the workload, checked. */
static void run_once(void *arg, long n)
{
    struct ctx *c = arg;
    (void)n;
    double cpu0 = cpu_now();
    vow *ps[VOW_GROUP_MAX];
    for (unsigned i = 0; i < c->loops; i++) {
        ps[i] = c->g ? vow_group_spawn(c->g, (int)i, c->x, start_driver, &shares[i])
                     : vow_co_spawn(c->x, driver, &shares[i], NULL);
        if (!ps[i])
            bench_fail(name, "spawn: out of memory");
    }
    vow *all = vow_all(c->x, ps, c->loops);
    while (vow_state(all) == VOW_PENDING) {
        if (vow_loop_run(c->x, VOW_RUN_ONCE) < 0)
            bench_fail(name, "vow_loop_run");
    }
    if (vow_state(all) != VOW_FULFILLED)
        bench_fail(name, vow_strerror(vow_code(all)));
    const vow_list *list = vow_list_get(vow_value(all));
    int64_t sum = 0;
    for (unsigned i = 0; i < c->loops; i++)
        sum += vow_value(list->items[i])->num;
    vow_unref(all);
    if (sum != c->want)
        bench_fail(name, "wrong checksum");
    cpu_last = cpu_now() - cpu0;
    if (cpu_first < 0)
        cpu_first = cpu_last;
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    bool plain = argc > 2 && strcmp(argv[2], "loop") == 0;
    unsigned loops = plain ? 1 : (argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2);
    batch = argc > 3 ? strtol(argv[3], NULL, 10) : 1000;
    if (loops == 0 || loops > VOW_GROUP_MAX || batch < 0)
        bench_fail("tonio", "usage: bench-tonio N LOOPS|loop [B]");
    char wname[32], impl[32];
    if (batch == 0)
        snprintf(wname, sizeof(wname), "tonio_copy");
    else if (batch == 1000)
        snprintf(wname, sizeof(wname), "tonio");
    else
        snprintf(wname, sizeof(wname), "tonio_b%ld", batch);
    name = wname;
    if (plain)
        snprintf(impl, sizeof(impl), "loop");
    else
        snprintf(impl, sizeof(impl), "group%u", loops);

    struct ctx c = {.x = vow_loop_new(), .loops = loops};
    if (!c.x)
        bench_fail(name, "vow_loop_new");
    if (!plain) {
        vow_group_opts o = {.loops = loops};
        int r = vow_group_new(&o, &c.g);
        if (r != 0)
            bench_fail(name, vow_strerror(r));
    }
    split(n, loops);
    for (long i = 0; i < n; i++) {
        int64_t m = i % 7;
        c.want += m * m * m;
    }
    bench_run(name, impl, n, run_once, &c);
    printf("workload=%s_cpu impl=%s n=%ld cold_s=%.6f warm_s=%.6f\n", name, impl, n, cpu_first,
           cpu_last);
    if (c.g && vow_group_close(c.g) != 0)
        bench_fail(name, "vow_group_close");
    if (vow_loop_close(c.x) != 0)
        bench_fail(name, "vow_loop_close");
    return 0;
}
