/* SPDX-License-Identifier: MIT */
/*
 * Structured concurrency (library vow-co): a scope owns children, coroutines spawned
 * into it and vows added to it, and its join settles only once every child has
 * finished. Failures and cancellation flow along the tree of scopes; a scope opened
 * in a coroutine covers the code that follows it there (a deadline bounds every
 * vow_await in it, a shield keeps an outer cancellation out) until it is closed.
 * Loop thread only throughout. docs/reference/scope.md is the whole contract.
 */
#ifndef VOW_SCOPE_H
#define VOW_SCOPE_H

#include "co.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vow_scope vow_scope;

enum vow_scope_flag {
    /* A failing child cancels nothing; the join reports every failure. Without it
     * (fail-fast, the default) the first failure cancels the scope. */
    VOW_SCOPE_SUPERVISOR = 1u << 0,
    /* Finished children are released at once (for long-lived accept loops): the
     * join's list is empty and only the first failure is kept. */
    VOW_SCOPE_DISCARD = 1u << 1,
    /* Cancellation from outside (the coroutine's, an enclosing scope's) does not
     * reach the scope or the code it covers; its own deadline and vow_scope_cancel
     * still do. For bounded cleanup in a cancelled coroutine. */
    VOW_SCOPE_SHIELD = 1u << 2,
    /* The deadline passing cancels the scope but is not a failure of its join (trio's
     * move_on_after); vow_scope_canceled() tells that it happened. */
    VOW_SCOPE_MOVE_ON = 1u << 3
};

/* Options for vow_scope_new; a NULL pointer means all defaults. Initialise with a
 * designated initialiser so that fields added later start at 0. */
typedef struct vow_scope_opts {
    unsigned flags;      /* rw: 0 (fail-fast) or VOW_SCOPE_* flags */
    uint64_t timeout_ms; /* rw: deadline, ms from now on the loop clock; 0 = none */
} vow_scope_opts;

/* vow_scope_set_timeout's "no deadline". */
#define VOW_SCOPE_NO_TIMEOUT UINT64_MAX

/*
 * A new open scope on l. Called from a coroutine of l, the scope covers that
 * coroutine's code from here to vow_scope_close: cancelling the coroutine, or a scope
 * it opened before (unless this one is a shield), cancels it; its cancellation or
 * deadline makes the coroutine's vow_await, vow_co_sleep and vow_co_yield return
 * VOW_ECANCELED or VOW_ETIMEDOUT at once (except a vow_await of this scope's own join,
 * which waits for the children). Opened where the coroutine is already cancelled, a
 * scope (not a shield) starts cancelled. Opened elsewhere, it has no parent.
 * Returns NULL on out-of-memory (the deadline's timer included), NULL l, or unknown
 * flags.
 */
VOW_API vow_scope *vow_scope_new(vow_loop *l, const vow_scope_opts *opts);

/*
 * Ends the scope and frees it. A scope opened in a coroutine must be closed by that
 * coroutine, innermost first; one it leaves open is cancelled and closed when it
 * returns (the pointer is then no longer valid). Returns 0, or, changing nothing:
 *   VOW_EBUSY   a child has not finished (cancel and join it first)
 *   VOW_ESTATE  the scope covers a coroutine's code and this is not that coroutine,
 *               or a scope it opened later is still open
 *   VOW_EINVAL  s is NULL
 */
VOW_API int vow_scope_close(vow_scope *s);

/*
 * Spawns fn(arg) as a coroutine child of s (as vow_co_spawn does). It counts as
 * finished once it has returned (and its vow has settled), not when its vow is
 * cancelled. Into a cancelled scope it still starts, with its vow cancelled, so fn can
 * release what arg owns. Returns 0, or the error of a spawn that failed, which s
 * records as a failed child (fail-fast: its siblings are cancelled; the join reports
 * it):
 *   VOW_ENOMEM  no memory for the coroutine, its stack or the record (fn will not run)
 *   VOW_EINVAL  fn NULL or opts invalid (fn will not run); s NULL (nothing recorded)
 */
VOW_API int vow_scope_spawn(vow_scope *s, vow_co_fn fn, void *arg, const vow_co_opts *opts);

/*
 * Adds p (consumed, even on failure) as a child of s: any vow, such as a chain, an I/O
 * operation or a timer. s consumes p, so p stays wanted while s owns it; p counts as
 * finished once it settled. Cancelling s cancels p (vow_cancel). A NULL p is taken
 * for a constructor that ran out of memory, so vow_scope_add(s, vow_read(...)) loses
 * nothing. Returns 0, or
 *   VOW_ENOMEM  p is NULL, or it could not be watched (p is then cancelled): s
 *               records a failed child with this code
 *   VOW_EINVAL  s NULL, or p of another loop (p is released, nothing recorded)
 */
VOW_API int vow_scope_add(vow_scope *s, vow *p);

/*
 * A new reference to a vow that settles once every child of s has finished (at once
 * if none is left; children added before it settles are waited for too):
 * - fulfilled with a vow_list of s's children in the order they were added (empty
 *   with VOW_SCOPE_DISCARD), when no child failed and s was not cancelled;
 * - rejected with the first failure's code, detail a vow_list of the failed children
 *   in the order they failed (with VOW_SCOPE_DISCARD, the first only), when any child
 *   failed: rejected, with a code other than VOW_ECANCELED (a child that was cancelled
 *   has not failed);
 * - otherwise rejected with VOW_ETIMEDOUT (the deadline passed; with
 *   VOW_SCOPE_MOVE_ON it fulfils instead) or VOW_ECANCELED, detail an empty vow_list.
 * If memory runs out building a list, the join rejects with VOW_ENOMEM (or, when it
 * rejects anyway, carries no list). The join is rooted like a coroutine's vow:
 * dropping it withdraws nothing, but cancellation that reaches it (vow_cancel, a
 * vow_timeout over it firing, a lost race) cancels s.
 * Returns NULL on out-of-memory or NULL s.
 */
VOW_API vow *vow_scope_join(vow_scope *s);

/*
 * Cancels s: every child's vow is cancelled (coroutines see VOW_ECANCELED at their
 * vow_await and run to their end), and so, transitively, are the scopes those
 * coroutines opened and the scopes opened after s in s's coroutine, up to a shield.
 * The code s covers sees VOW_ECANCELED at its next vow_await (or is woken with it).
 * Cancelling again, during a join, or from a child is allowed and changes nothing
 * more. Returns 0, or VOW_EINVAL (s NULL).
 */
VOW_API int vow_scope_cancel(vow_scope *s);

/*
 * Moves s's deadline to ms from now on the loop clock (0: it passes at the next
 * turn), or removes it (VOW_SCOPE_NO_TIMEOUT). When the deadline passes, s is
 * cancelled with VOW_ETIMEDOUT. Nothing changes once s is cancelled. Returns 0, or
 *   VOW_ENOMEM  the timer could not be started (the deadline is removed)
 *   VOW_EINVAL  s NULL
 */
VOW_API int vow_scope_set_timeout(vow_scope *s, uint64_t ms);

/* Why s was cancelled: 0 (it was not), VOW_ECANCELED or VOW_ETIMEDOUT. */
VOW_API int vow_scope_canceled(const vow_scope *s);
/* Children of s that have not finished. */
VOW_API size_t vow_scope_live(const vow_scope *s);
/* Children of s that failed so far. */
VOW_API size_t vow_scope_failed(const vow_scope *s);

/*
 * Joining one coroutine without a scope. vow_co_join borrows co, a coroutine's vow,
 * and returns a new reference to a vow that settles like co once the coroutine has
 * returned (not merely been cancelled); for a vow that is no live coroutine's (one
 * that returned, or any other vow) it settles like co once co settles. Cancellation
 * that reaches the join cancels co. vow_co_stop cancels co first: cancel and wait
 * until finished. NULL on out-of-memory or NULL co; called by a coroutine on its own
 * vow, a vow rejected with VOW_ECYCLE.
 */
VOW_API vow *vow_co_join(vow *co);
VOW_API vow *vow_co_stop(vow *co);

#ifdef __cplusplus
}
#endif
#endif /* VOW_SCOPE_H */
