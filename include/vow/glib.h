/* SPDX-License-Identifier: MIT */
/*
 * GLib host adapter: embeds a libvow loop into a GMainContext as one GSource, so vows,
 * libvow handles and coroutines run inside g_main_loop_run() or
 * g_main_context_iteration(). Link with libvow-glib (dependency vow-glib).
 */
#ifndef VOW_GLIB_H
#define VOW_GLIB_H

#include <glib.h>

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attaches l to the main context h (pass g_main_context_default() for the default
 * one) through a GSource of priority G_PRIORITY_DEFAULT: it polls
 * vow_loop_backend_fd(), gives GLib vow_loop_backend_timeout() as its timeout from
 * prepare, and dispatches vow_loop_run(l, VOW_RUN_NOWAIT). prepare reports the source
 * ready whenever microtasks are queued, so vows settled by other GLib callbacks run in
 * the next iteration without GLib blocking in between.
 *
 * Liveness: a GMainLoop runs until g_main_loop_quit() whatever its sources do, so
 * there is nothing to release: an idle attached loop adds no wake-ups (timeout -1, the
 * fd quiet) and never keeps g_main_context_iteration(h, TRUE) busy.
 *
 * The GSource is GLib's allocation (g_source_new), not libvow's. Do not iterate h from
 * inside a libvow callback or vow handler. Thread: the thread that owns h and l.
 *   VOW_EINVAL  l or h is NULL
 *   VOW_EBUSY   l is already attached (to this or any other host loop)
 *   VOW_ENOMEM  out of memory
 */
VOW_API int vow_glib_attach(vow_loop *l, GMainContext *h);

/*
 * Destroys the adapter's GSource (g_source_destroy) and drops the adapter's reference;
 * GLib frees it once no dispatch holds it, so detaching from inside a vow handler the
 * source is running is safe. l is free again at once (attach anew, run alone, or
 * vow_loop_close).
 *   VOW_EINVAL  l is NULL or not attached to a main context
 */
VOW_API int vow_glib_detach(vow_loop *l);

#ifdef __cplusplus
}
#endif
#endif /* VOW_GLIB_H */
