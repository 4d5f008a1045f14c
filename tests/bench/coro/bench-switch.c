/* SPDX-License-Identifier: MIT */
/*
 * Workload "switch": N suspend/resume round trips (two context switches each)
 * between the main stack and one coroutine, with a fresh stack per run, for one
 * implementation per process (the first argument): libvow's assembly switch (libvow),
 * Boost.Context's jump_fcontext through its C ABI (boost_fcontext) or glibc's
 * swapcontext (swapcontext, which makes a system call per switch). coro/run.sh runs
 * the three alternately in fresh processes and compares their medians.
 *   usage: bench-switch IMPL [N]
 */
#include "bench.h"

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

static void run_vow(void *ctx, long n)
{
    (void)ctx;
    struct vow__co_pool pool;
    memset(&pool, 0, sizeof(pool));
    struct vow__co_stack *st;
    if (vow__co_stack_get(&pool, vow__co_stack_round(STACK), &st) < 0)
        bench_fail("switch", "no stack");
    vow__co_make(&vco, st->lo, st->size, vow_entry);
    uintptr_t x = 0;
    for (long i = 0; i < n; i++)
        x = (uintptr_t)vow__co_jump(&vmain, &vco, (void *)x);
    if (x != (uintptr_t)n)
        bench_fail("switch", "vow: wrong round-trip count");
    vow__co_stack_put(&pool, st);
    vow__co_pool_fini(&pool);
}

/* ------------------------------------------------------------------ Boost */

static void boost_entry(transfer_t t)
{
    for (;;) {
        uintptr_t x = (uintptr_t)t.data;
        t = jump_fcontext(t.fctx, (void *)(x + 1));
    }
}

static void run_boost(void *ctx, long n)
{
    (void)ctx;
    void *mem = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        bench_fail("switch", "mmap");
    fcontext_t c = make_fcontext((char *)mem + STACK, STACK, boost_entry);
    uintptr_t x = 0;
    for (long i = 0; i < n; i++) {
        transfer_t t = jump_fcontext(c, (void *)x);
        c = t.fctx;
        x = (uintptr_t)t.data;
    }
    if (x != (uintptr_t)n)
        bench_fail("switch", "boost: wrong round-trip count");
    munmap(mem, STACK);
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

static void run_ucontext(void *ctx, long n)
{
    (void)ctx;
    void *mem = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        bench_fail("switch", "mmap");
    getcontext(&uco);
    uco.uc_stack.ss_sp = mem;
    uco.uc_stack.ss_size = STACK;
    uco.uc_link = NULL;
    makecontext(&uco, uc_entry, 0);
    ucount = 0;
    for (long i = 0; i < n; i++)
        swapcontext(&umain, &uco);
    if (ucount != n)
        bench_fail("switch", "swapcontext: wrong round-trip count");
    munmap(mem, STACK);
}

int main(int argc, char **argv)
{
    const char *impl = argc > 1 ? argv[1] : "";
    long n = bench_arg(argc, argv, 2, 20000000);
    bench_fn fn = strcmp(impl, "libvow") == 0           ? run_vow
                  : strcmp(impl, "boost_fcontext") == 0 ? run_boost
                  : strcmp(impl, "swapcontext") == 0    ? run_ucontext
                                                        : NULL;
    if (!fn) {
        fprintf(stderr, "usage: %s libvow|boost_fcontext|swapcontext [N]\n", argv[0]);
        return 2;
    }
    bench_run("switch", impl, n, fn, NULL);
    return 0;
}
