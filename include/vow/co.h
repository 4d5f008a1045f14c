/* SPDX-License-Identifier: MIT */
/*
 * libvow coroutine adapter (library vow-co): stackful coroutines on a vow_loop.
 * vow_co_spawn() runs a function on its own stack and returns a vow of its result;
 * inside it, vow_await() suspends until a vow settles. Loop thread only throughout.
 */
#ifndef VOW_CO_H
#define VOW_CO_H

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The body of a coroutine: its vow_ret (vow_ok, vow_fail or vow_follow) settles the
 * vow that vow_co_spawn returned. vow_pass() rejects it with VOW_EINVAL. */
typedef vow_ret (*vow_co_fn)(void *arg);

/* Options for vow_co_spawn; a NULL pointer means all defaults. */
typedef struct vow_co_opts {
    size_t stack_size; /* rw: stack bytes, 0 = VOW_CO_STACK_DEFAULT; rounded up to whole
                          pages, at least VOW_CO_STACK_MIN, at most VOW_CO_STACK_MAX. The
                          coroutine's bookkeeping (a few hundred bytes, about 2 KiB with
                          ucontext) and up to 4 KiB of cache colouring come out of it.
                          With VOW_CO_COPY_STACK: 0, or at most VOW_CO_COPY_STACK_SIZE */
    unsigned flags;    /* rw: 0 or VOW_CO_COPY_STACK */
} vow_co_opts;

#define VOW_CO_STACK_DEFAULT ((size_t)64 * 1024)
#define VOW_CO_STACK_MIN ((size_t)16 * 1024)
#define VOW_CO_STACK_MAX ((size_t)256 * 1024 * 1024)

/*
 * Copy-stack mode: the coroutine runs on its loop's one shared stack
 * (VOW_CO_COPY_STACK_SIZE bytes, guard-paged) instead of a stack of its own. When
 * another copy-stack coroutine needs the shared stack, the part this one uses is
 * copied into a heap buffer of its own, and copied back before it resumes. A
 * suspended copy-stack coroutine costs its bookkeeping plus the bytes of stack it
 * was using (typically under 1 KiB) instead of a mapped, touched stack page and guard.
 * The price: while it is suspended, its locals do not stay at their addresses, so a
 * pointer into its stack (a local passed by address to another coroutine, a callback
 * or a vow handler) must not be used until it runs again; pass heap memory instead.
 * Resuming costs a copy of the stack in use, so keep deep stacks out of this mode.
 * Architectures other than x86-64 and AArch64 run these coroutines on separate
 * stacks (of stack_size, or the default).
 */
#define VOW_CO_COPY_STACK (1u << 0)
#define VOW_CO_COPY_STACK_SIZE ((size_t)256 * 1024)

/*
 * Starts fn(arg) as a coroutine on l and returns a new reference to its result vow.
 * The coroutine does not run inside this call: it starts from a microtask, like a
 * vow_then handler, so spawn never runs user code synchronously. It always starts,
 * even if its vow was cancelled meanwhile (its first vow_await then returns
 * VOW_ECANCELED), so fn can release what arg owns.
 * The stack comes from a per-loop pool of mmap'd stacks, each with guard pages below
 * it: overflowing it is a SIGSEGV, never silent corruption.
 * Cancellation that reaches the returned vow (vow_cancel on it, a vow_timeout over
 * it firing, a lost race, a consumer of it cancelled with no other consumer left)
 * makes the coroutine's current or next vow_await return VOW_ECANCELED, and every
 * later one too, so it runs to its end. The coroutine body is user code: it runs
 * whether or not anybody holds the returned vow (dropping it cancels nothing).
 * Returning vow_follow(q) adopts q like vow_resolve_with: q is then withdrawn if
 * nobody holds or consumes the coroutine's vow.
 * Returns NULL if l is NULL or on out-of-memory (no stack or no vow could be made;
 * fn will not run). Invalid fn or opts (unknown flags, a stack size out of range)
 * give a vow rejected with VOW_EINVAL.
 */
VOW_API vow *vow_co_spawn(vow_loop *l, vow_co_fn fn, void *arg, const vow_co_opts *opts);

/*
 * Suspends the calling coroutine until p settles, letting the loop run meanwhile, and
 * returns 0 if p fulfilled or its rejection code; read the value or detail with
 * vow_value(p). Borrows p: the caller keeps its reference. During the suspension the
 * wait is one of p's consumers, so cancelling the coroutine also cancels p when no
 * other consumer wants p (the caller's reference does not count). Always suspends at
 * least once through the microtask queue, even when p is already settled, so other
 * microtasks run in between.
 *   VOW_ECANCELED the coroutine's own vow was cancelled (now or earlier: once
 *                 cancelled, vow_await returns this at once without suspending); p has
 *                 then lost this consumer (cancelled if it had no other)
 *   VOW_ENOTCORO  not called from inside a coroutine (nothing happens)
 *   VOW_EINVAL    p is NULL or belongs to another loop
 *   VOW_ECYCLE    p is the calling coroutine's own vow (it would wait for itself)
 *   VOW_ENOMEM    the wait could not be set up, or (copy-stack mode) the buffer
 *                 that keeps its stack while suspended could not grow to the stack
 *                 in use; the coroutine did not suspend and may try again
 */
VOW_API int vow_await(vow *p);

/*
 * Suspends the calling coroutine for at least ms on the loop clock (vow_delay).
 * Returns 0, or VOW_ECANCELED (the timer is then stopped), VOW_ENOTCORO, VOW_ENOMEM.
 */
VOW_API int vow_co_sleep(uint64_t ms);

/*
 * Lets every microtask already queued run, and callbacks if the loop gets a turn,
 * then resumes the calling coroutine: an await of an already-settled vow.
 * Returns 0, or VOW_ECANCELED, VOW_ENOTCORO, VOW_ENOMEM.
 */
VOW_API int vow_co_yield(void);

/* The calling coroutine's result vow, borrowed (vow_ref it to keep it, never
 * vow_unref it: a debug build aborts on an unref from code that holds no reference of
 * its own); NULL outside a coroutine. */
VOW_API vow *vow_co_self(void);

/*
 * Cancels the vow of every coroutine of l that has not finished (vow_cancel), so each
 * one's vow_await returns VOW_ECANCELED and, once the loop runs, it can finish. Call
 * it before vow_loop_close, which returns VOW_EBUSY while any coroutine is alive.
 * Returns the number of coroutines cancelled (>= 0), or
 *   VOW_EINVAL  l is NULL
 */
VOW_API int vow_co_cancel_all(vow_loop *l);

/*
 * How many coroutines of l have been spawned and not finished, and how many free
 * stacks l's pool keeps for reuse. The adapter frees all its per-loop state (registry,
 * stack pool) as soon as the last coroutine of a loop finishes, so nothing is left for
 * vow_loop_close and no allocator memory survives. Both 0 for a NULL l or a loop
 * without coroutines.
 */
VOW_API size_t vow_co_live(const vow_loop *l);
VOW_API size_t vow_co_pooled(const vow_loop *l);

/*
 * When a pool is freed, up to 32 of its idle stack slabs (mmap'd memory, never the
 * allocator's) stay with the calling thread for the next loop that runs coroutines of
 * the same stack size, so bursts of coroutines do not map and fault in fresh stacks
 * each time. The cache is unmapped when the thread exits, or now by vow_co_trim, which
 * returns the number of stacks released. Any thread (its own cache).
 */
VOW_API size_t vow_co_trim(void);

/* The context switch in use: "asm-x86_64", "asm-aarch64" or "ucontext". Any thread. */
VOW_API const char *vow_co_switch_name(void);

/* Site tracking (see vow_debug_site in vow.h): the coroutine's vow records your line. */
#ifdef VOW_TRACK_SITES
#define vow_co_spawn(l, fn, arg, opts) VOW__SITE(vow_co_spawn(l, fn, arg, opts))
#endif

#ifdef __cplusplus
}
#endif
#endif /* VOW_CO_H */
