/* SPDX-License-Identifier: MIT */
/*
 * Posting to an awake loop of a group: this thread posts N callbacks, one at a time,
 * to a group's loop that an immediate keeps busy (it never sleeps, so a post needs no
 * wake-up), through vow_group_post (which checks that the group still runs) or
 * vow_loop_post on vow_group_loop directly, and waits until the last one ran; checks
 * that every callback ran once, in order. bench_run times the first N of the process
 * (cold: the queue's nodes come fresh from the allocator) apart from a later N (warm).
 *   usage: bench-post N group|loop
 * prints: workload=post_awake impl=vow_group_post|vow_loop_post n=N cold_s=C warm_s=W ...
 */
#include "bench.h"

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

struct ctx {
    vow_group *g;   /* the group */
    vow_loop *l;    /* its loop */
    bool via_group; /* vow_group_post, or vow_loop_post */
    long first;     /* the sequence number of the next post */
};

static void post_round(void *arg, long n)
{
    struct ctx *c = arg;
    for (long i = c->first; i < c->first + n; i++) {
        int r = c->via_group ? vow_group_post(c->g, 0, on_post, (void *)(intptr_t)i)
                             : vow_loop_post(c->l, on_post, (void *)(intptr_t)i);
        if (r != 0)
            bench_fail("post_awake", vow_strerror(r));
    }
    c->first += n;
    while (atomic_load_explicit(&ran_pub, memory_order_acquire) < c->first)
        sched_yield();
    if (bad)
        bench_fail("post_awake", "callbacks out of order");
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 2000000);
    struct ctx c = {.via_group = !(argc > 2 && strcmp(argv[2], "loop") == 0)};
    vow_group_opts o = {.loops = 1};
    if (vow_group_new(&o, &c.g) != 0)
        bench_fail("post_awake", "vow_group_new");
    c.l = vow_group_loop(c.g, 0);
    atomic_store(&spinning, 1);
    vow_group_post(c.g, 0, start_spinner, NULL);
    bench_run("post_awake", c.via_group ? "vow_group_post" : "vow_loop_post", n, post_round, &c);
    atomic_store(&spinning, 0);
    if (vow_group_close(c.g) != 0)
        bench_fail("post_awake", "vow_group_close");
    return 0;
}
