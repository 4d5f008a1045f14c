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
#include <valgrind/valgrind.h>
#define VOW_CO_VALGRIND 1
#endif
#endif

#endif /* VOW_CO_SWITCH_H */
