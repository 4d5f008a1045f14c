/* SPDX-License-Identifier: MIT */
/*
 * The seam between the coroutine core (co.c) and scopes (scope.c), both in the
 * vow-co library. co.c calls scope.c's hooks only for a coroutine that has scope
 * state (its scope record is set: it was spawned into a scope, opened one, or is
 * joined); scope.c sees a coroutine only through the accessors below. Loop thread
 * only, like everything of the adapter.
 */
#ifndef VOW_CO_SCOPE_INT_H
#define VOW_CO_SCOPE_INT_H

#include "vow.h"
#include "vow/inspect.h"

struct co;            /* a coroutine (co.c) */
struct vow__co_scope; /* scope.c's record of one coroutine */

/* ------------------------------------------------------------ from co.c */

/* The running coroutine, or NULL outside coroutines. */
struct co *vow__co_current(void);
/* The coroutine that the last vow_co_spawn on l made (l's newest live coroutine). */
struct co *vow__co_newest(const vow_loop *l);
/* The live (not yet returned) coroutine of l whose vow is result, or NULL. Linear in
 * l's live coroutines, newest first. */
struct co *vow__co_find(const vow_loop *l, const vow *result);
/* co's vow (borrowed), its loop, whether its vow was cancelled. */
vow *vow__co_result(const struct co *co);
vow_loop *vow__co_loop(const struct co *co);
int vow__co_canceled(const struct co *co);
/* co's scope record, NULL until scope.c sets one; co.c never frees it. */
struct vow__co_scope *vow__co_scope(const struct co *co);
void vow__co_scope_set(struct co *co, struct vow__co_scope *s);
/*
 * If co waits in vow_await, withdraws the wait (the awaited vow loses that consumer)
 * and wakes co from a microtask, making that vow_await return code (also when the
 * awaited vow had settled and its wake-up was queued already). Allocates nothing and
 * cannot fail; does nothing if co is not waiting or was interrupted already.
 */
void vow__co_interrupt(struct co *co, int code);

/* For inspection (inspect.c): l's live coroutines are vow__co_newest(l) then
 * vow__co_next; vow__co_prev goes back. A suspended coroutine's wait is the vow its
 * vow_await attached (the awaited vow is that vow's source), else NULL. */
struct co *vow__co_next(const struct co *co);
struct co *vow__co_prev(const struct co *co);
vow *vow__co_wait(const struct co *co);
const char *vow__co_state_name(const struct co *co);

/* ------------------------------------------------------------ in inspect.c */

/* The coroutine library's inspector (vow_loop_add_inspector), registered with ctx
 * NULL while l has coroutines. */
int vow__co_inspect(void *ctx, vow_loop *l, vow_inspect_emit_fn emit, void *ectx);

/* ------------------------------------------------------- hooks in scope.c */

/* Before a vow_await of p (NULL for a sleep or yield) by cs's coroutine: 0 to go on,
 * or the code to return at once (the coroutine or a scope around it was cancelled,
 * or a deadline passed, and no shield is in between). */
int vow__scope_before_await(struct vow__co_scope *cs, const vow *p);
/* cs's coroutine was cancelled (from its vow's abort hook): cancel the scopes it
 * opened, up to a shield, and interrupt its wait unless a shield covers it. */
void vow__scope_on_cancel(struct vow__co_scope *cs);
/* cs's coroutine returned and its stack is released; result is its vow (borrowed,
 * alive for the call). The last call for cs: co.c forgets the record. */
void vow__scope_returned(struct vow__co_scope *cs, vow *result);
/* Inspection: sets co_item's parent and scope (the scope cs's coroutine was spawned
 * into). scope.c's own inspector reports the scopes. */
void vow__scope_inspect(struct vow__co_scope *cs, vow_inspect_item *co_item);

#endif /* VOW_CO_SCOPE_INT_H */
