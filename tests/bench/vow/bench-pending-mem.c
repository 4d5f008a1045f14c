/* SPDX-License-Identifier: MIT */
/*
 * Workload "pending_mem": N pending vows created, checked and released; what it is for
 * is the resident memory they cost, bytes_per_op (the peak RSS growth of the cold run
 * over N). The array that holds them is allocated and touched before the baseline and
 * the layer's per-loop state exists already, so only the vows are counted. Targets
 * (vow/run.sh): <= 64 bytes per vow and <= 100 MiB peak RSS for a million.
 */
#include "bench.h"

#include <string.h>
#include <vow.h>

struct ctx {
    vow_loop *l; /* the loop, for every run */
    vow **ps;    /* N slots, touched before the baseline */
};

static void pending(void *arg, long n)
{
    struct ctx *c = arg;
    for (long i = 0; i < n; i++) {
        c->ps[i] = vow_pending(c->l);
        if (!c->ps[i])
            bench_fail("pending_mem", "vow_pending: out of memory");
    }
    for (long i = 0; i < n; i++) {
        if (vow_state(c->ps[i]) != VOW_PENDING)
            bench_fail("pending_mem", "a new vow is not pending");
        vow_unref(c->ps[i]);
    }
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    struct ctx c = { vow_loop_new(), malloc((size_t)n * sizeof(vow *)) };
    if (!c.ps || !c.l)
        bench_fail("pending_mem", "setup: out of memory");
    /* Not zero: the compiler would turn malloc + zeroing into calloc, which leaves the
     * pages untouched and so outside the baseline. */
    memset(c.ps, 0xa5, (size_t)n * sizeof(vow *));
    /* The first vow creates the layer's per-loop state; keep that out of the delta. */
    vow_unref(vow_pending(c.l));
    bench_run("pending_mem", "libvow", n, pending, &c);
    if (vow_loop_close(c.l) != 0)
        bench_fail("pending_mem", "vow_loop_close");
    free(c.ps);
    return 0;
}
