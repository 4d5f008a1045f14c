/* SPDX-License-Identifier: MIT */
/*
 * The context switch and the stacks alone, without a loop: ping-pong with data,
 * callee-saved state (MXCSR, x87 control word, live locals) kept per context, stack
 * alignment, symmetric switches between coroutines, many contexts alive at once, the
 * pool's reuse and bounds, and a guard-page overflow killing a child with SIGSEGV.
 * Built once per switch implementation (asm and ucontext).
 */
#include "testutil.h"

#include "stack.h"
#include "switch.h"
#include "vow/co.h"

#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A test fiber: context plus what ASan needs to follow the switches. */
struct fiber {
    struct vow__co_ctx ctx;      /* saved context */
    struct vow__co_stack *stack; /* NULL for the main fiber */
    void *fake;                  /* ASan fake stack while switched out */
    void *arg;                   /* test data */
    long acc;                    /* test data */
};

static struct vow__co_pool pool;
static struct fiber main_fiber;

#ifdef VOW_CO_ASAN
static const void *main_lo;
static size_t main_size;
#endif

static void *fjump(struct fiber *from, struct fiber *to, void *data)
{
#ifdef VOW_CO_ASAN
    const void *lo = to->stack ? to->stack->lo : main_lo;
    size_t size = to->stack ? to->stack->size : main_size;
    __sanitizer_start_switch_fiber(&from->fake, lo, size);
#endif
    void *r = vow__co_jump(&from->ctx, &to->ctx, data);
#ifdef VOW_CO_ASAN
    if (from == &main_fiber)
        __sanitizer_finish_switch_fiber(from->fake, NULL, NULL);
    else
        __sanitizer_finish_switch_fiber(from->fake, &main_lo, &main_size);
#endif
    return r;
}

/* First code on a fiber's stack: completes ASan's switch, then runs the body. */
static void fiber_enter(void)
{
#ifdef VOW_CO_ASAN
    __sanitizer_finish_switch_fiber(NULL, &main_lo, &main_size);
#endif
}

static void fiber_new(struct fiber *f, void (*entry)(void *), size_t size)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(vow__co_stack_get(&pool, vow__co_stack_round(size), &f->stack), 0);
    vow__co_make(&f->ctx, f->stack->lo, f->stack->size, entry);
}

static void fiber_free(struct fiber *f)
{
    vow__co_stack_put(&pool, f->stack);
    f->stack = NULL;
}

/* --------------------------------------------------------------- ping-pong */

static struct fiber ping;

static void ping_entry(void *data)
{
    fiber_enter();
    struct fiber *self = &ping;
    long n = (long)(intptr_t)data;
    for (;;) {
        self->acc += n;
        n = (long)(intptr_t)fjump(self, &main_fiber, (void *)(intptr_t)(n * 2));
    }
}

static void test_ping_pong(void **state)
{
    (void)state;
    fiber_new(&ping, ping_entry, 0);
    long sum = 0;
    for (long i = 1; i <= 1000; i++) {
        long r = (long)(intptr_t)fjump(&main_fiber, &ping, (void *)(intptr_t)i);
        assert_int_equal(r, i * 2);
        sum += i;
    }
    assert_int_equal(ping.acc, sum);
    fiber_free(&ping);
    vow__co_pool_fini(&pool);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ----------------------------------------------------- callee-saved state */

/* Valgrind runs SSE and x87 code in round-to-nearest whatever the control words say,
 * so under it only the saving of live registers can be checked. */
static int on_valgrind(void)
{
#ifdef VOW_CO_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

static struct fiber fpu;

#if defined(__x86_64__)
static unsigned get_mxcsr(void)
{
    unsigned v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}
static unsigned short get_fpucw(void)
{
    unsigned short v;
    __asm__ volatile("fnstcw %0" : "=m"(v));
    return v;
}
static void set_fpucw(unsigned short v)
{
    __asm__ volatile("fldcw %0" : : "m"(v));
}
#endif

/* Many values live across the switch: the compiler keeps them in callee-saved
 * registers, which the switch must restore. */
static volatile long sink;

static void fpu_entry(void *data)
{
    fiber_enter();
    (void)data;
    fesetround(FE_UPWARD);
#if defined(__x86_64__)
    set_fpucw((unsigned short)((get_fpucw() & ~0x300u) | 0x200u)); /* 53-bit precision */
#endif
    long a = sink + 1, b = sink + 2, c = sink + 3, d = sink + 4, e = sink + 5, f = sink + 6;
    for (;;) {
        fjump(&fpu, &main_fiber, NULL);
        fpu.acc = on_valgrind() || fegetround() == FE_UPWARD;
#if defined(__x86_64__)
        fpu.acc &= on_valgrind() ||
                   (((get_mxcsr() >> 13) & 3) == 2 && (get_fpucw() & 0x300u) == 0x200u);
#endif
        fpu.acc &= a + b + c + d + e + f == 21 + 6 * sink;
        a += 1;
        b -= 1;
    }
}

static void test_callee_saved(void **state)
{
    (void)state;
    sink = 0;
    fesetround(FE_TONEAREST);
#if defined(__x86_64__)
    unsigned mx = get_mxcsr();
    unsigned short cw = get_fpucw();
#endif
    fiber_new(&fpu, fpu_entry, 0);
    long x = sink + 10, y = sink + 20, z = sink + 30, w = sink + 40;
    for (int i = 0; i < 100; i++) {
        fjump(&main_fiber, &fpu, NULL);
        if (i > 0)
            assert_int_equal(fpu.acc, 1);
        assert_int_equal(fegetround(), FE_TONEAREST);
#if defined(__x86_64__)
        if (!on_valgrind()) {
            assert_int_equal(get_mxcsr(), mx);
            assert_int_equal(get_fpucw(), cw);
        }
#endif
        assert_int_equal(x + y + z + w, 100);
        x++;
        y--;
    }
    fiber_free(&fpu);
    vow__co_pool_fini(&pool);
    assert_int_equal(tu_live_allocations(), 0);
}

/* --------------------------------------------------------------- alignment */

static struct fiber al;

static void __attribute__((noinline)) check_align(void)
{
    /* The ABI promises 16-byte alignment at every call; formatting a double uses
     * aligned SSE spills that would fault otherwise. */
    char buf[64];
    al.acc = ((uintptr_t)__builtin_frame_address(0) & 15) == 0;
    snprintf(buf, sizeof(buf), "%.3f", (double)al.acc * 1.5);
    al.acc &= strcmp(buf, "1.500") == 0;
}

static void al_entry(void *data)
{
    fiber_enter();
    (void)data;
    check_align();
    fjump(&al, &main_fiber, NULL);
}

static void test_alignment(void **state)
{
    (void)state;
    fiber_new(&al, al_entry, 0);
    fjump(&main_fiber, &al, NULL);
    assert_int_equal(al.acc, 1);
    fiber_free(&al);
    vow__co_pool_fini(&pool);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ------------------------------------------------ symmetric switching, many */

#define NFIB 5000
static struct fiber *fibs;
static long ring_started;

/* Each fiber passes a token to the next one; the last hands it back to main. Fibers
 * start in index order during the first round, which tells each one who it is. */
static void ring_entry(void *data)
{
    fiber_enter();
    long i = ring_started++;
    struct fiber *self = &fibs[i];
    long token = (long)(intptr_t)data;
    assert_int_equal(token, i);
    for (;;) {
        struct fiber *next = i + 1 < NFIB ? &fibs[i + 1] : &main_fiber;
        self->acc++;
        token = (long)(intptr_t)fjump(self, next, (void *)(intptr_t)(token + 1));
        /* Back from main: take the token from it. */
        token = 0;
    }
}

static void test_ring(void **state)
{
    (void)state;
    fibs = calloc(NFIB, sizeof(*fibs));
    assert_non_null(fibs);
    for (int i = 0; i < NFIB; i++) {
        memset(&fibs[i], 0, sizeof(fibs[i]));
        assert_int_equal(vow__co_stack_get(&pool, vow__co_stack_round(0), &fibs[i].stack), 0);
        vow__co_make(&fibs[i].ctx, fibs[i].stack->lo, fibs[i].stack->size, ring_entry);
    }
    /* Stacks never overlap and each one's guard lies below it. */
    for (int i = 1; i < NFIB; i++) {
        char *a = fibs[i - 1].stack->lo, *b = fibs[i].stack->lo;
        size_t d = a > b ? (size_t)(a - b) : (size_t)(b - a);
        assert_true(d >= fibs[i].stack->size);
    }
    /* Every fiber starts, so NFIB contexts are alive at once; the token counts the
     * hops of the first round. */
    ring_started = 0;
    long token = (long)(intptr_t)fjump(&main_fiber, &fibs[0], NULL);
    assert_int_equal(token, NFIB);
    for (int round = 1; round < 3; round++)
        fjump(&main_fiber, &fibs[0], NULL);
    for (int i = 0; i < NFIB; i++)
        assert_int_equal(fibs[i].acc, 3);
    for (int i = 0; i < NFIB; i++)
        fiber_free(&fibs[i]);
    free(fibs);
    vow__co_pool_fini(&pool);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ---------------------------------------------------------------------- pool */

static void test_pool(void **state)
{
    (void)state;
    /* Start without the slabs earlier tests left in the thread's cache. */
    vow_co_trim();
    size_t sz = vow__co_stack_round(0);
    assert_int_equal(sz, VOW_CO_STACK_DEFAULT);
    assert_int_equal(vow__co_stack_round(1), VOW_CO_STACK_MIN);
    assert_int_equal(vow__co_stack_round(VOW_CO_STACK_MAX + 1), 0);
    assert_int_equal(vow__co_stack_round(VOW_CO_STACK_MIN + 1) % 4096, 0);

    struct vow__co_stack *s[200];
    for (int i = 0; i < 200; i++)
        assert_int_equal(vow__co_stack_get(&pool, sz, &s[i]), 0);
    assert_int_equal(pool.in_use, 200);
    assert_int_equal(pool.cached, 0);
    /* Stacks are writable end to end. */
    for (int i = 0; i < 200; i++) {
        ((char *)s[i]->lo)[0] = 1;
        ((char *)s[i]->lo)[s[i]->size - 1] = 1;
    }
    /* A returned stack is the next one handed out. */
    void *lo = s[7]->lo;
    vow__co_stack_put(&pool, s[7]);
    assert_int_equal(pool.cached, 1);
    assert_int_equal(vow__co_stack_get(&pool, sz, &s[7]), 0);
    assert_ptr_equal(s[7]->lo, lo);
    /* A different size never gets one of these. */
    struct vow__co_stack *big;
    assert_int_equal(vow__co_stack_get(&pool, sz * 4, &big), 0);
    assert_int_equal(big->size, sz * 4);
    vow__co_stack_put(&pool, big);

    for (int i = 0; i < 200; i++)
        vow__co_stack_put(&pool, s[i]);
    assert_int_equal(pool.in_use, 0);
    /* Bounded: at most one idle slab stays mapped. */
    assert_true(pool.idle <= 1);
    assert_true(pool.cached <= 64);
    vow__co_pool_fini(&pool);
    assert_null(pool.slabs);
    /* Idle slabs went to the thread's cache, and come back for the same size. */
    struct vow__co_stack *again;
    assert_int_equal(vow__co_stack_get(&pool, sz, &again), 0);
    assert_true(pool.cached > 0);
    vow__co_stack_put(&pool, again);
    vow__co_pool_fini(&pool);
    assert_true(vow_co_trim() > 0);
    assert_int_equal(vow_co_trim(), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* --------------------------------------------------------- guard-page overflow */

static struct fiber ov;

static int __attribute__((noinline)) recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    pad[511] = (char)n;
    return n > 0 ? recurse(n - 1) + pad[0] + pad[511] : 0;
}

static void ov_entry(void *data)
{
    fiber_enter();
    (void)data;
    /* 10,000 frames of over 512 bytes: far more than 64 KiB. */
    ov.acc = recurse(10000);
    fjump(&ov, &main_fiber, NULL);
}

static int under_asan(void)
{
#ifdef VOW_CO_ASAN
    return 1;
#else
    return 0;
#endif
}

static void test_guard_overflow(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fiber_new(&ov, ov_entry, 0);
        fjump(&main_fiber, &ov, NULL);
        _exit(0); /* not reached: the overflow kills us */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (under_asan()) {
        /* ASan catches the fault on its alternate stack, reports a stack overflow and
         * exits with an error instead of dying by the signal. */
        assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    } else {
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSEGV);
    }
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    printf("# switch: %s\n", vow__co_switch_kind());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_callee_saved),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_guard_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
