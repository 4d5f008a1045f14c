/* SPDX-License-Identifier: MIT */
/*
 * libevent 2 host adapter: embeds a libvow loop into a struct event_base, so vows,
 * libvow handles and coroutines run inside event_base_dispatch(). Link with
 * libvow-event (dependency vow-event).
 */
#ifndef VOW_EVENT_H
#define VOW_EVENT_H

#include <event2/event.h>

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attaches l to the event base h: a persistent read event watches
 * vow_loop_backend_fd(), a timer event follows vow_loop_backend_timeout(), and each
 * adapter callback runs vow_loop_run(l, VOW_RUN_NOWAIT).
 *
 * libevent 2.1 has no prepare/check watchers (evwatch arrived in 2.2), so the adapter
 * cannot see a libevent callback settle a vow or start libvow work: such a callback
 * must end with vow_event_wake(l), which makes the adapter run the libvow loop (its
 * microtasks first) before libevent blocks again. Settling from libvow callbacks, vow
 * handlers and coroutines needs nothing.
 *
 * Liveness: libevent has no unref, so the adapter's events are added only while
 * vow_loop_alive(l) is 1 (re-checked in every adapter callback and by
 * vow_event_wake); event_base_dispatch() returns once both loops are idle. A
 * cross-thread vow_loop_post() reaches an idle attached loop only while a
 * vow_loop_keepalive() is held, as with vow_loop_run(VOW_RUN_DEFAULT). Attach also
 * schedules one wake, so work added between attach and dispatch is seen.
 *
 * Do not dispatch h from inside a libvow callback or vow handler. Loop thread only
 * (the thread running both loops).
 *   VOW_EINVAL  l or h is NULL, or libevent refused an event
 *   VOW_EBUSY   l is already attached (to this or any other host loop)
 *   VOW_ENOMEM  out of memory
 */
VOW_API int vow_event_attach(vow_loop *l, struct event_base *h);

/*
 * Schedules the adapter's run of l in the current (or next) libevent iteration, after
 * the callback that is running: call it at the end of a libevent callback that
 * settled vows or added libvow work. Cheap and idempotent.
 *   VOW_EINVAL  l is NULL or not attached to an event base
 */
VOW_API int vow_event_wake(vow_loop *l);

/*
 * Deletes the adapter's events and frees its memory, synchronously; called from
 * inside a callback the adapter is running, the memory is released when that callback
 * returns. l is free again at once (attach anew, run alone, or vow_loop_close).
 *   VOW_EINVAL  l is NULL or not attached to an event base
 */
VOW_API int vow_event_detach(vow_loop *l);

#ifdef __cplusplus
}
#endif
#endif /* VOW_EVENT_H */
