/* SPDX-License-Identifier: MIT */
/*
 * The readiness backend seam (Redis ae's aeApi* idea): epoll and poll(2) on Linux,
 * chosen per loop at vow_loop_new. A backend knows fds, interest bits and 64-bit
 * tokens; it reports each ready fd through vow__io_event() and knows no handles.
 */
#ifndef VOW_BACKEND_H
#define VOW_BACKEND_H

#include "base.h"

struct vow__backend {
    const char *name; /* "epoll" or "poll" */
    /* Creates the backend state (l->bdata) and sets l->bfd; 0 or -errno/VOW_ENOMEM. */
    int (*init)(vow_loop *l);
    /* Frees what init made; safe on a half-built loop. */
    void (*fini)(vow_loop *l);
    /* Changes fd's interest from old to new (old 0: add, new 0: remove). A failed
     * removal is ignored by callers: the fd may already be closed. */
    int (*ctl)(vow_loop *l, int fd, unsigned old_events, unsigned new_events, uint64_t token);
    /* Waits up to timeout ms (-1: forever) and reports ready fds; 0 or -errno. */
    int (*poll)(vow_loop *l, int timeout);
    /* Re-creates kernel state in a child after fork(); the loop re-adds every fd. */
    int (*after_fork)(vow_loop *l);
};

extern const struct vow__backend vow__backend_epoll;
extern const struct vow__backend vow__backend_poll;

/* Called by a backend for each ready fd with VOW_READABLE/WRITABLE/ERROR/HANGUP bits. */
void vow__io_event(vow_loop *l, uint64_t token, unsigned revents);

/* Poll backend only, for embedding: 1 if a watched fd is ready now; fds watched. */
int vow__poll_ready(vow_loop *l);
size_t vow__poll_watched(const vow_loop *l);

#endif /* VOW_BACKEND_H */
