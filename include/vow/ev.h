/* SPDX-License-Identifier: MIT */
/*
 * libev host adapter: embeds a libvow loop into a struct ev_loop, so vows, libvow
 * handles and coroutines run inside ev_run(). Link with libvow-ev (dependency vow-ev).
 */
#ifndef VOW_EV_H
#define VOW_EV_H

#include <ev.h>

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attaches l to the libev loop h: an ev_io watches vow_loop_backend_fd(), an ev_timer
 * follows vow_loop_backend_timeout(), and an ev_prepare / ev_check pair runs
 * vow_loop_run(l, VOW_RUN_NOWAIT) each libev iteration, so microtasks queued by libev
 * callbacks run before libev blocks again.
 *
 * Liveness: every adapter watcher is ev_unref'd; the adapter holds one ev_ref on h
 * only while vow_loop_alive(l) is 1, re-checked in every libev iteration (prepare and
 * check), so ev_run() returns once both loops are idle. From attach until the first
 * iteration the reference is held, so work added between attach and ev_run() is not
 * missed. Work added from outside any callback after ev_run() has returned is seen by
 * the next ev_run() only if something else keeps h alive; otherwise detach and attach
 * again.
 *
 * Do not call ev_run() on h from inside a libvow callback or vow handler. Loop thread
 * only (the thread running both loops).
 *   VOW_EINVAL  l or h is NULL
 *   VOW_EBUSY   l is already attached (to this or any other host loop)
 *   VOW_ENOMEM  out of memory
 */
VOW_API int vow_ev_attach(vow_loop *l, struct ev_loop *h);

/*
 * Stops the adapter's watchers and frees its memory, synchronously (libev has no
 * close callbacks); called from inside a callback the adapter is running, the memory
 * is released when that callback returns. l is free again at once: it can be attached
 * anew, run on its own, or closed (detach first, then vow_loop_close).
 *   VOW_EINVAL  l is NULL or not attached to a libev loop
 */
VOW_API int vow_ev_detach(vow_loop *l);

#ifdef __cplusplus
}
#endif
#endif /* VOW_EV_H */
