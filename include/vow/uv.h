/* SPDX-License-Identifier: MIT */
/*
 * libuv host adapter: embeds a libvow loop into a uv_loop_t, so vows, libvow handles
 * and coroutines run inside uv_run(). Link with libvow-uv (dependency vow-uv).
 */
#ifndef VOW_UV_H
#define VOW_UV_H

#include <uv.h>

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attaches l to the libuv loop h: a uv_poll_t watches vow_loop_backend_fd(), a
 * uv_timer_t follows vow_loop_backend_timeout(), and a uv_prepare_t / uv_check_t pair
 * runs vow_loop_run(l, VOW_RUN_NOWAIT) each uv iteration, so microtasks queued by uv
 * callbacks (a uv timer resolving a vow) run before uv blocks again.
 *
 * Liveness: the adapter's handles keep uv_run() running only while
 * vow_loop_alive(l) is 1, re-checked in every uv iteration (the prepare and check
 * hooks); when the libvow loop has nothing to do they are uv_unref'd and uv_run() can
 * return. From attach until the first uv iteration they count as alive, so work added
 * between attach and uv_run() is not missed. Work added from outside any callback
 * after uv_run() has returned is seen by the next uv_run() only if something else keeps
 * h alive; otherwise detach and attach again.
 *
 * Do not call uv_run() on h from inside a libvow callback or vow handler. Loop thread
 * only (the thread running both loops).
 *   VOW_EINVAL  l or h is NULL
 *   VOW_EBUSY   l is already attached (to this or any other host loop)
 *   VOW_ENOMEM  out of memory
 *   -errno      what libuv reported for the backend fd (UV_E* are -errno on Unix)
 */
VOW_API int vow_uv_attach(vow_loop *l, uv_loop_t *h);

/*
 * Stops the adapter's handles and uv_close()s them. libuv frees nothing synchronously:
 * the adapter's memory is released by the close callbacks, so run h at least once more
 * (uv_run(h, UV_RUN_NOWAIT) is enough) before uv_loop_close(h). l itself is free
 * again at once: it can be attached anew, run on its own, or closed (detach first,
 * then vow_loop_close). May be called from any callback, including a vow handler the
 * adapter is running.
 *   VOW_EINVAL  l is NULL or not attached to a libuv loop
 */
VOW_API int vow_uv_detach(vow_loop *l);

#ifdef __cplusplus
}
#endif
#endif /* VOW_UV_H */
