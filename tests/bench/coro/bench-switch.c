/* SPDX-License-Identifier: MIT */
/*
 * Workload "switch": N suspend/resume round trips (two context switches each)
 * between the main stack and one coroutine, for libvow's assembly switch, Boost.Context's
 * jump_fcontext (through its C ABI) and glibc's swapcontext, in one run, interleaved
 * and best of several rounds, since the machine may be shared. Prints one line per
 * implementation, then the ratios (time per round trip over Boost's).
 */
#include "benchutil.h"

#include "stack.h"
#include "switch.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

/* Boost.Context's C ABI (libboost_context), declared here as the brief of the
 * comparison: the same calls boost::context::detail uses. */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#define STACK (64 * 1024)

/* ------------------------------------------------------------------ libvow */

static struct vow__co_ctx vmain, vco;

static void vow_entry(void *data)
{
    uintptr_t x = (uintptr_t)data;
    for (;;)
        x = (uintptr_t)vow__co_jump(&vco, &vmain, (void *)(x + 1));
}

static double run_vow(long n)
{
    struct vow__co_pool pool;
    memset(&pool, 0, sizeof(pool));
    struct vow__co_stack *st;
    if (vow__co_stack_get(&pool, vow__co_stack_round(STACK), &st) < 0)
        bench_fail("switch", "no stack");
    vow__co_make(&vco, st->lo, st->size, vow_entry);
    uintptr_t x = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        x = (uintptr_t)vow__co_jump(&vmain, &vco, (void *)x);
    double t1 = bench_now();
    if (x != (uintptr_t)n)
        bench_fail("switch", "vow: wrong round-trip count");
    vow__co_stack_put(&pool, st);
    vow__co_pool_fini(&pool);
    return t1 - t0;
}

/* ------------------------------------------------------------------ Boost */

static void boost_entry(transfer_t t)
{
    for (;;) {
        uintptr_t x = (uintptr_t)t.data;
        t = jump_fcontext(t.fctx, (void *)(x + 1));
    }
}

static double run_boost(long n)
{
    void *mem = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        bench_fail("switch", "mmap");
    fcontext_t c = make_fcontext((char *)mem + STACK, STACK, boost_entry);
    uintptr_t x = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        transfer_t t = jump_fcontext(c, (void *)x);
        c = t.fctx;
        x = (uintptr_t)t.data;
    }
    double t1 = bench_now();
    if (x != (uintptr_t)n)
        bench_fail("switch", "boost: wrong round-trip count");
    munmap(mem, STACK);
    return t1 - t0;
}

/* ------------------------------------------------------------- swapcontext */

static ucontext_t umain, uco;
static volatile long ucount;

static void uc_entry(void)
{
    for (;;) {
        ucount++;
        swapcontext(&uco, &umain);
    }
}

static double run_ucontext(long n)
{
    void *mem = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        bench_fail("switch", "mmap");
    getcontext(&uco);
    uco.uc_stack.ss_sp = mem;
    uco.uc_stack.ss_size = STACK;
    uco.uc_link = NULL;
    makecontext(&uco, uc_entry, 0);
    ucount = 0;
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        swapcontext(&umain, &uco);
    double t1 = bench_now();
    if (ucount != n)
        bench_fail("switch", "swapcontext: wrong round-trip count");
    munmap(mem, STACK);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 20000000);
    /* swapcontext makes a system call per switch: a tenth of the work is plenty. */
    long nu = n / 10 > 0 ? n / 10 : 1;
    double best_v = 1e9, best_b = 1e9, best_u = 1e9;
    for (int round = 0; round < 5; round++) {
        double v = run_vow(n), b = run_boost(n), u = run_ucontext(nu);
        best_v = v < best_v ? v : best_v;
        best_b = b < best_b ? b : best_b;
        best_u = u < best_u ? u : best_u;
    }
    bench_report("switch", "libvow", n, best_v);
    bench_report("switch", "boost_fcontext", n, best_b);
    bench_report("switch", "swapcontext", nu, best_u);
    double ns_v = best_v / (double)n * 1e9, ns_b = best_b / (double)n * 1e9;
    double ns_u = best_u / (double)nu * 1e9;
    printf("ratio workload=switch time libvow/boost_fcontext=%.2fx (%.2f ns vs %.2f ns per "
           "round trip; target <= 1.2x: %s) swapcontext/libvow=%.1fx\n",
           ns_v / ns_b, ns_v, ns_b, ns_v / ns_b <= 1.2 ? "met" : "missed", ns_u / ns_v);
    return 0;
}
