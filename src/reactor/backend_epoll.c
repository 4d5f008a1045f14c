/* SPDX-License-Identifier: MIT */
/*
 * epoll(7) backend, level-triggered. The event's data holds the loop's token (watch
 * stamp and fd), never a pointer, so an event for a watcher stopped earlier in the
 * same turn is recognised as stale by the loop and dropped.
 */
#include "reactor.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EPOLL_BATCH 256

struct epoll_state {
    int epfd;                              /* the epoll instance (l->bfd) */
    struct epoll_event ev[EPOLL_BATCH];    /* events of one epoll_wait */
};

static int epoll_init(vow_loop *l)
{
    struct epoll_state *st = vow__malloc(sizeof(*st));
    if (!st)
        return VOW_ENOMEM;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        int r = -errno;
        vow__free(st);
        return r;
    }
    l->bdata = st;
    l->bfd = st->epfd;
    return 0;
}

static void epoll_fini(vow_loop *l)
{
    struct epoll_state *st = l->bdata;
    if (st) {
        close(st->epfd);
        vow__free(st);
    }
    l->bdata = NULL;
    l->bfd = -1;
}

static uint32_t to_epoll(unsigned events)
{
    return (events & VOW_READABLE ? EPOLLIN : 0u) | (events & VOW_WRITABLE ? EPOLLOUT : 0u);
}

/*
 * ENOENT on modify means the kernel dropped the fd when it was closed and a new one
 * got the number; EEXIST on add means a dup of a closed fd keeps the old registration
 * alive. Either way the other operation brings the kernel in line with the loop.
 */
static int epoll_ctl_fd(vow_loop *l, int fd, unsigned old_events, unsigned new_events,
                        uint64_t token)
{
    struct epoll_state *st = l->bdata;
    struct epoll_event ev = { .events = to_epoll(new_events), .data.u64 = token };
    if (!new_events) {
        if (epoll_ctl(st->epfd, EPOLL_CTL_DEL, fd, &ev) < 0)
            return -errno;
        return 0;
    }
    int op = old_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int r = epoll_ctl(st->epfd, op, fd, &ev);
    if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
        r = epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev);
    else if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        r = epoll_ctl(st->epfd, EPOLL_CTL_MOD, fd, &ev);
    return r < 0 ? -errno : 0;
}

static int epoll_poll(vow_loop *l, int timeout)
{
    struct epoll_state *st = l->bdata;
    int n = epoll_wait(st->epfd, st->ev, EPOLL_BATCH, timeout);
    int err = errno;
    vow_loop_update_time(l);
    if (n < 0)
        return err == EINTR ? 0 : -err;
    for (int i = 0; i < n && !l->stop_flag; i++) {
        uint32_t e = st->ev[i].events;
        unsigned bits = (e & (EPOLLIN | EPOLLPRI) ? VOW_READABLE : 0u) |
                        (e & EPOLLOUT ? VOW_WRITABLE : 0u) | (e & EPOLLERR ? VOW_ERROR : 0u) |
                        (e & EPOLLHUP ? VOW_HANGUP : 0u);
        vow__io_event(l, st->ev[i].data.u64, bits);
    }
    return 0;
}

/*
 * A forked child shares the parent's epoll instance, so changes in one would show in
 * the other: the child gets a private instance holding every fd the loop watches.
 */
static int epoll_after_fork(vow_loop *l)
{
    struct epoll_state *st = l->bdata;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    int old = st->epfd;
    st->epfd = epfd;
    for (size_t fd = 0; fd < l->fdtab_len; fd++) {
        struct vow__io_core *c = l->fdtab[fd];
        if (!c)
            continue;
        int r = epoll_ctl_fd(l, c->fd, 0, c->events, ((uint64_t)c->gen << 32) | (uint32_t)c->fd);
        if (r < 0) {
            st->epfd = old;
            close(epfd);
            return r;
        }
    }
    close(old);
    l->bfd = epfd;
    return 0;
}

const struct vow__backend vow__backend_epoll = {
    .name = "epoll",
    .init = epoll_init,
    .fini = epoll_fini,
    .ctl = epoll_ctl_fd,
    .poll = epoll_poll,
    .after_fork = epoll_after_fork,
};
