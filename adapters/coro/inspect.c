/* SPDX-License-Identifier: MIT */
/*
 * The coroutine library's part of vow_loop_walk: an inspector (vow/inspect.h) that
 * co.c registers on a loop while it has coroutines. Each live coroutine is a task
 * that stands for its vow and waits on the vow its current vow_await awaits, under the
 * scope it was spawned into; scope.c's own inspector reports the scopes, each under
 * the coroutine that opened it. Built on the public headers and the adapter's seams.
 */
#include "scope_int.h"

#include "vow.h"
#include "vow/inspect.h"

#include <string.h>

int vow__co_inspect(void *ctx, vow_loop *l, vow_inspect_emit_fn emit, void *ectx)
{
    (void)ctx;
    /* Oldest first: the list is newest first. */
    struct co *co = vow__co_newest(l);
    while (co && vow__co_next(co))
        co = vow__co_next(co);
    for (; co; co = vow__co_prev(co)) {
        vow_inspect_item it;
        memset(&it, 0, sizeof(it));
        it.kind = VOW_NODE_TASK;
        it.id = co;
        it.what = "coroutine";
        it.state = vow__co_state_name(co);
        it.result = vow__co_result(co);
        /* A coroutine's vow_await waits through an embedded waiter, so the vow it
         * awaits is itself what the coroutine waits on (no vow of its own between). */
        vow *awaited = vow__co_wait(co);
        if (awaited) {
            it.waits = &awaited; /* emit copies it */
            it.nwaits = 1;
        }
        it.age_ms = -1;
        if (vow__co_canceled(co))
            strcpy(it.detail, "cancelled");
        struct vow__co_scope *cs = vow__co_scope(co);
        if (cs)
            vow__scope_inspect(cs, &it);
        int rc = emit(ectx, &it);
        if (rc < 0)
            return rc;
    }
    return 0;
}
