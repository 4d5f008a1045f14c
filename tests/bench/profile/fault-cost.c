/* SPDX-License-Identifier: MIT */
/*
 * The physical floor under a cold run: what one page fault costs on this machine, and
 * the calls a coroutine stack or a slab chunk pays for. Each figure is the median of
 * ROUNDS fresh mappings of PAGES 4 KiB pages (argument, default 16384 = 64 MiB):
 *   fault_4k_ns      first write to a 4 KiB page of a fresh anonymous mapping with
 *                    huge pages refused (MADV_NOHUGEPAGE): fault + zeroing + map
 *                    (fault_4k_first_ns: the first round's, before this process
 *                    got memory back from its own munmaps)
 *   touch_4k_ns      a second write to the same page (resident): the loop's own cost
 *   populate_4k_ns   the same pages made resident by one madvise(MADV_POPULATE_WRITE)
 *                    of the whole mapping, per page: a fault without the trap
 *   fault_2m_us      first write to a 2 MiB-aligned block advised MADV_HUGEPAGE: one
 *                    huge-page fault (zeroing 2 MiB, and compaction if the kernel
 *                    has no free 2 MiB block); thp_share says how many got a huge page
 *   zero_2m_us       memset of 2 MiB already resident: zeroing bandwidth in user space
 *   munmap_4k_ns     munmap of the touched 4 KiB-page mapping, per page
 *   guard_ns         one madvise(MADV_GUARD_INSTALL) of 4 pages (a coroutine stack's
 *                    guard), or mprotect(PROT_NONE) where the kernel lacks it
 *   usage: fault-cost [PAGES]
 * A second mode shows where a cold run's time goes on a virtual machine whose guest
 * hands free memory back to the host (virtio-balloon free page reporting): it maps,
 * touches (huge-page advised, as slab chunks are) and unmaps MIB mebibytes ROUNDS
 * times, pausing PAUSE seconds between rounds. Touching memory the guest reported
 * to the host makes the host fault it in again, which the guest sees as slow page
 * zeroing; memory freed less than the reporting delay ago is still backed:
 *   fault-cost reuse MIB PAUSE   ->  one line per round: round=R touch_ms=T sys_ms=S
 */
#include <string.h>
#include <sys/resource.h>
#include "bench.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define ROUNDS 7
#define PG 4096u
#define HUGE ((size_t)2 * 1024 * 1024)

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp);
    return v[ROUNDS / 2];
}

/* thp_fault_alloc from /proc/vmstat (system-wide), or -1. */
static long thp_faults(void)
{
    char line[128];
    long v = -1;
    FILE *f = fopen("/proc/vmstat", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "thp_fault_alloc %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* A mapping of len bytes whose start is aligned to align. */
static char *map_aligned(size_t len, size_t align)
{
    char *m = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        bench_fail("fault-cost", "mmap");
    char *p = (char *)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
    if (p > m)
        munmap(m, (size_t)(p - m));
    munmap(p + len, (size_t)(m + align - p));
    return p;
}

static double sys_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int reuse(long mib, long pause)
{
    size_t len = (size_t)mib * 1024 * 1024;
    len = (len + HUGE - 1) / HUGE * HUGE;
    for (int r = 0; r < ROUNDS; r++) {
        if (r > 0 && pause > 0)
            sleep((unsigned)pause);
        char *h = map_aligned(len, HUGE);
        madvise(h, len, MADV_HUGEPAGE);
        long before = thp_faults();
        double s0 = sys_s(), t0 = bench_now();
        for (size_t i = 0; i < len; i += PG)
            h[i] = 1;
        double t1 = bench_now(), s1 = sys_s();
        long after = thp_faults();
        printf("workload=fault_reuse round=%d mib=%ld pause_s=%ld touch_ms=%.1f sys_ms=%.1f "
               "thp_faults=%ld\n",
               r, mib, pause, (t1 - t0) * 1e3, (s1 - s0) * 1e3, after - before);
        fflush(stdout);
        munmap(h, len);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "reuse") == 0)
        return reuse(bench_arg(argc, argv, 2, 128), argc > 3 ? atol(argv[3]) : 0);
    long pages = bench_n(argc, argv, 16384);
    size_t len = (size_t)pages * PG;
    size_t hlen = (len + HUGE - 1) / HUGE * HUGE;
    long nhuge = (long)(hlen / HUGE);
    double fault[ROUNDS], touch[ROUNDS], populate[ROUNDS], unmap[ROUNDS], hfault[ROUNDS], zero[ROUNDS],
        guard[ROUNDS];
    long thp_got = 0;
    const char *guard_kind = "madv_guard_install";

    for (int r = 0; r < ROUNDS; r++) {
        char *p = map_aligned(len, PG);
        madvise(p, len, MADV_NOHUGEPAGE);
        double t0 = bench_now();
        for (size_t i = 0; i < len; i += PG)
            p[i] = 1;
        double t1 = bench_now();
        for (size_t i = 0; i < len; i += PG)
            p[i] = 2;
        double t2 = bench_now();
        for (size_t i = 0; i < len; i += PG)
            if (p[i] != 2)
                bench_fail("fault-cost", "memory lost a write");
        double t3 = bench_now();
        munmap(p, len);
        double t4 = bench_now();
        fault[r] = (t1 - t0) / (double)pages * 1e9;
        touch[r] = (t2 - t1) / (double)pages * 1e9;
        unmap[r] = (t4 - t3) / (double)pages * 1e9;

        p = map_aligned(len, PG);
        madvise(p, len, MADV_NOHUGEPAGE);
        t0 = bench_now();
        int pr = madvise(p, len, MADV_POPULATE_WRITE);
        t1 = bench_now();
        populate[r] = pr == 0 ? (t1 - t0) / (double)pages * 1e9 : -1;
        munmap(p, len);

        char *h = map_aligned(hlen, HUGE);
        madvise(h, hlen, MADV_HUGEPAGE);
        long before = thp_faults();
        t0 = bench_now();
        for (size_t i = 0; i < hlen; i += HUGE)
            h[i] = 1;
        t1 = bench_now();
        long after = thp_faults();
        if (before >= 0 && after >= before)
            thp_got += after - before > nhuge ? nhuge : after - before;
        t2 = bench_now();
        memset(h, 0, HUGE);
        __asm__ volatile("" : : "r"(h) : "memory");
        t3 = bench_now();
        hfault[r] = (t1 - t0) / (double)nhuge * 1e6;
        zero[r] = (t3 - t2) * 1e6;
        munmap(h, hlen);

        /* 64 guards of 4 pages, each over a touched stack-sized slot, as stack.c does. */
        size_t slot = 20 * PG;
        char *g = map_aligned(64 * slot, PG);
        for (size_t i = 0; i < 64 * slot; i += PG)
            g[i] = 1;
        t0 = bench_now();
        for (int i = 0; i < 64; i++) {
            if (madvise(g + (size_t)i * slot, 4 * PG, MADV_GUARD_INSTALL) != 0) {
                if (errno != EINVAL && errno != ENOSYS)
                    bench_fail("fault-cost", "madvise");
                guard_kind = "mprotect";
                mprotect(g + (size_t)i * slot, 4 * PG, PROT_NONE);
            }
        }
        t1 = bench_now();
        guard[r] = (t1 - t0) / 64 * 1e9;
        munmap(g, 64 * slot);
    }
    double first = fault[0], hfirst = hfault[0];
    printf("workload=fault_cost impl=%s pages=%ld fault_4k_ns=%.0f fault_4k_first_ns=%.0f "
           "touch_4k_ns=%.1f populate_4k_ns=%.0f fault_2m_us=%.1f fault_2m_first_us=%.1f thp_share=%.2f "
           "zero_2m_us=%.1f munmap_4k_ns=%.0f guard_ns=%.0f\n",
           guard_kind, pages, median(fault), first, median(touch), median(populate), median(hfault), hfirst,
           (double)thp_got / (double)(ROUNDS * nhuge), median(zero), median(unmap),
           median(guard));
    return 0;
}
