/* SPDX-License-Identifier: MIT */
/*
 * Workload "pending_mem": the resident memory that N pending vows cost, as the peak
 * RSS growth divided by N. The array that holds them is allocated and touched before
 * the baseline, so only the vows themselves are counted. Targets (run.sh): <= 64
 * bytes per vow and <= 100 MiB peak RSS for a million.
 */
#include "benchutil.h"

#include <string.h>
#include <vow.h>

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 1000000);
    vow **ps = malloc((size_t)n * sizeof(*ps));
    vow_loop *l = vow_loop_new();
    if (!ps || !l)
        bench_fail("pending_mem", "setup: out of memory");
    /* Not zero: the compiler would turn malloc + zeroing into calloc, which leaves the
     * pages untouched and so outside the baseline. */
    memset(ps, 0xa5, (size_t)n * sizeof(*ps));
    /* The first vow creates the layer's per-loop state; keep that out of the delta. */
    vow_unref(vow_pending(l));

    long base = bench_peak_rss_kb();
    for (long i = 0; i < n; i++) {
        ps[i] = vow_pending(l);
        if (!ps[i])
            bench_fail("pending_mem", "vow_pending: out of memory");
    }
    long peak = bench_peak_rss_kb();

    for (long i = 0; i < n; i++) {
        if (vow_state(ps[i]) != VOW_PENDING)
            bench_fail("pending_mem", "a new vow is not pending");
        vow_unref(ps[i]);
    }
    if (vow_loop_close(l) != 0)
        bench_fail("pending_mem", "vow_loop_close");
    free(ps);
    printf("workload=pending_mem impl=libvow n=%ld bytes_per_vow=%.1f peak_rss_kb=%ld\n", n,
           (double)(peak - base) * 1024.0 / (double)n, peak);
    return 0;
}
