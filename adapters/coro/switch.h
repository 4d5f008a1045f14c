/* SPDX-License-Identifier: MIT */
/*
 * The context-switch seam of the coroutine adapter: one implementation per build,
 * hand-written assembly (switch_x86_64.S, switch_aarch64.S) or ucontext
 * (VOW_CO_UCONTEXT), plus the sanitizer annotations every switch must carry.
 */
#ifndef VOW_CO_SWITCH_H
#define VOW_CO_SWITCH_H

#include <stddef.h>

#if !defined(VOW_CO_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define VOW_CO_UCONTEXT 1
#endif

#ifdef VOW_CO_UCONTEXT
#include <ucontext.h>
#endif

/* A suspended execution context. The assembly reads sp at offset 0. */
struct vow__co_ctx {
#ifdef VOW_CO_UCONTEXT
    ucontext_t uc;             /* registers, signal mask and stack */
    void (*entry)(void *data); /* first function of a fresh context */
#else
    void *sp; /* saved stack pointer; the registers are pushed below it */
#endif
};

/*
 * Saves the running context into from and continues to; returns, once something
 * jumps back to from, the data that jump passed. A fresh context (vow__co_make)
 * starts in entry(data), which must never return.
 */
void *vow__co_jump(struct vow__co_ctx *from, struct vow__co_ctx *to, void *data);

/* Prepares c to start entry on the stack [lo, lo + size). */
void vow__co_make(struct vow__co_ctx *c, void *lo, size_t size, void (*entry)(void *data));

/* "asm-x86_64", "asm-aarch64" or "ucontext". */
const char *vow__co_switch_kind(void);

/* ------------------------------------------------------ copy-stack support */

/*
 * Copy-stack coroutines need the exact stack pointer a suspended context saved (the
 * lowest byte it still owns) and, before suspending, the current one. Both are known
 * on x86-64 and AArch64, with either switch; elsewhere copy mode falls back to
 * separate stacks.
 */
#if defined(__x86_64__) || defined(__aarch64__)
#define VOW_CO_HAVE_COPY 1

/* The stack pointer saved in c, which must have been suspended by vow__co_jump. */
void *vow__co_ctx_sp(const struct vow__co_ctx *c);

/* An upper bound on what a call to vow__co_jump adds below its caller's stack
 * pointer: the return address and the saved registers for the assembly switches; for
 * ucontext, the frame of a C function that only calls swapcontext, with room to spare
 * for unoptimised and instrumented builds. */
#ifdef VOW_CO_UCONTEXT
#define VOW_CO_JUMP_FRAME 512u
#elif defined(__x86_64__)
#define VOW_CO_JUMP_FRAME 0x40u
#else
#define VOW_CO_JUMP_FRAME 0xb0u
#endif

/* The caller's stack pointer. Always inlined, so it is the caller's own. */
static inline __attribute__((always_inline)) void *vow__co_sp(void)
{
    void *sp;
#if defined(__x86_64__)
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
#else
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    return sp;
}
#endif

/* ---------------------------------------------------------- sanitizers */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VOW_CO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(VOW_CO_ASAN)
#define VOW_CO_ASAN 1
#endif

#ifdef VOW_CO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VOW_CO_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(VOW_CO_TSAN)
#define VOW_CO_TSAN 1
#endif

#ifdef VOW_CO_TSAN
/* ThreadSanitizer's fiber API (sanitizer/tsan_interface.h), declared here because
 * gcc 12 does not ship that header with these functions. */
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define VOW_CO_VALGRIND 1
#endif
#endif

#endif /* VOW_CO_SWITCH_H */
