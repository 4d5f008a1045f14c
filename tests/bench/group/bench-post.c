/* SPDX-License-Identifier: MIT */
/*
 * Posting to an awake loop of a group: this thread posts N callbacks, one at a time,
 * to a group's loop that an immediate keeps busy (it never sleeps, so a post needs no
 * wake-up), through vow_group_post (which checks that the group still runs) or
 * vow_loop_post on vow_group_loop directly. Reports the poster's cost per post, for
 * the first N (cold: the queue's nodes come fresh from the allocator) and a second N
 * (warm), and checks that every callback ran once, in order.
 *   usage: bench-post N group|loop
 * prints: workload=post_awake impl=vow_group_post|vow_loop_post n=N cold_ns=C warm_ns=W
 */
#include "benchutil.h"

#include <vow.h>
#include <vow/group.h>

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static long ran;              /* callbacks run (loop thread) */
static atomic_long ran_pub;   /* ran, published for the poster */
static long bad;              /* out of order */
static vow_immediate spinner; /* keeps the loop awake */
static atomic_int spinning;   /* 0: the spinner stops */

static void on_post(vow_loop *l, void *arg)
{
    (void)l;
    if ((long)(intptr_t)arg != ran)
        bad++;
    ran++;
    atomic_store_explicit(&ran_pub, ran, memory_order_release);
}

static void spin_cb(vow_immediate *im)
{
    if (atomic_load_explicit(&spinning, memory_order_relaxed))
        vow_immediate_start(im);
}

static void start_spinner(vow_loop *l, void *arg)
{
    (void)arg;
    vow_immediate_init(l, &spinner, spin_cb);
    vow_immediate_start(&spinner);
}

static double round_ns(vow_group *g, vow_loop *l, long first, long n, bool via_group)
{
    double t0 = bench_now();
    for (long i = first; i < first + n; i++) {
        int r = via_group ? vow_group_post(g, 0, on_post, (void *)(intptr_t)i)
                          : vow_loop_post(l, on_post, (void *)(intptr_t)i);
        if (r != 0)
            bench_fail("post_awake", vow_strerror(r));
    }
    double dt = bench_now() - t0;
    while (atomic_load_explicit(&ran_pub, memory_order_acquire) < first + n)
        sched_yield();
    return dt * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 2000000);
    bool via_group = !(argc > 2 && strcmp(argv[2], "loop") == 0);
    vow_group_opts o = {.loops = 1};
    vow_group *g = NULL;
    if (vow_group_new(&o, &g) != 0)
        bench_fail("post_awake", "vow_group_new");
    vow_loop *l = vow_group_loop(g, 0);
    atomic_store(&spinning, 1);
    vow_group_post(g, 0, start_spinner, NULL);
    double cold = round_ns(g, l, 0, n, via_group);
    double warm = round_ns(g, l, n, n, via_group);
    atomic_store(&spinning, 0);
    if (bad)
        bench_fail("post_awake", "callbacks out of order");
    if (vow_group_close(g) != 0)
        bench_fail("post_awake", "vow_group_close");
    printf("workload=post_awake impl=%s n=%ld cold_ns=%.1f warm_ns=%.1f\n",
           via_group ? "vow_group_post" : "vow_loop_post", n, cold, warm);
    return 0;
}
