/* SPDX-License-Identifier: MIT */
/*
 * Callback bridges: a vow calls a plain C callback when it settles (vow_notify), and
 * the embedding registry the host-loop adapters (uv, ev, event, glib) share so that a
 * libvow loop is attached to at most one host loop at a time.
 */
#ifndef VOW_BRIDGE_H
#define VOW_BRIDGE_H

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What vow_notify calls: code is 0 when the vow fulfilled (value is the fulfilment
 * value) or the rejection code (< 0, value is the detail). value is borrowed for the
 * call only; keep what you need by copying it.
 */
typedef void (*vow_notify_fn)(void *user_data, int code, const vow_val *value);

/*
 * Calls cb(user_data, code, value) once when p settles, from the loop's microtask
 * queue (never synchronously, even if p is already settled). Consumes p, even on
 * failure. A rejection passed to cb counts as handled (no unhandled-rejection report).
 * If p is still pending when its loop is torn down the callback never runs; as with
 * any pending vow, vow_loop_close() then fails with VOW_EBUSY. Loop thread only.
 * Returns 0, or
 *   VOW_EINVAL  p or cb is NULL (p, if non-NULL, is released; cb never runs)
 *   VOW_ENOMEM  out of memory (cb never runs)
 */
VOW_API int vow_notify(vow *p, vow_notify_fn cb, void *user_data);

/*
 * Embedding registry. An adapter claims a loop when it attaches it to a host loop and
 * releases it when it detaches; state is the adapter's own per-loop data, which it can
 * find again from the loop alone. One claim per loop, whichever host: a second claim
 * fails with VOW_EBUSY, so a loop is never driven by two hosts. The registry holds no
 * reference to the loop: release the claim before vow_loop_close(). Any thread (the
 * registry is guarded by a mutex); host names are compared as strings.
 *   vow_embed_claim:   0, VOW_EINVAL (NULL l or host), VOW_EBUSY (already claimed),
 *                      VOW_ENOMEM
 *   vow_embed_state:   the state given to the claim, or NULL if l is not claimed by host
 *   vow_embed_release: 0, VOW_EINVAL (l is not claimed by host)
 */
VOW_API int vow_embed_claim(vow_loop *l, const char *host, void *state);
VOW_API void *vow_embed_state(const vow_loop *l, const char *host);
VOW_API int vow_embed_release(vow_loop *l, const char *host);

#ifdef __cplusplus
}
#endif
#endif /* VOW_BRIDGE_H */
