/* SPDX-License-Identifier: MIT */
/*
 * poll(2) backend: the portable fallback and the model for a future kqueue seam.
 * A dense pollfd array with an fd -> slot map; ready events are copied out before
 * dispatch because callbacks add and remove slots while the batch runs.
 */
#include "reactor.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

struct ready {
    uint64_t token;  /* the loop's token for the fd */
    unsigned events; /* VOW_* bits */
};

struct poll_state {
    struct pollfd *fds;  /* watched fds, dense */
    uint64_t *tokens;    /* token per slot */
    struct ready *ready; /* copy of one poll's results, as long as fds */
    size_t n;            /* slots used */
    size_t cap;          /* slots allocated in each array */
    int *slot;           /* fd -> slot, -1 when not watched */
    size_t slot_len;     /* entries in slot */
};

static int poll_init(vow_loop *l)
{
    struct poll_state *st = vow__calloc(1, sizeof(*st));
    if (!st)
        return VOW_ENOMEM;
    l->bdata = st;
    l->bfd = l->wakefd;
    return 0;
}

static void poll_fini(vow_loop *l)
{
    struct poll_state *st = l->bdata;
    if (st) {
        vow__free(st->fds);
        vow__free(st->tokens);
        vow__free(st->ready);
        vow__free(st->slot);
        vow__free(st);
    }
    l->bdata = NULL;
    l->bfd = -1;
}

/* Grows each array separately: a failure leaves the larger ones in place, harmless. */
static int poll_reserve(struct poll_state *st, int fd)
{
    if ((size_t)fd >= st->slot_len) {
        size_t len = st->slot_len ? st->slot_len : 64;
        while (len <= (size_t)fd)
            len *= 2;
        int *s = vow__realloc(st->slot, len * sizeof(*s));
        if (!s)
            return VOW_ENOMEM;
        for (size_t i = st->slot_len; i < len; i++)
            s[i] = -1;
        st->slot = s;
        st->slot_len = len;
    }
    if (st->n < st->cap)
        return 0;
    size_t cap = st->cap ? st->cap * 2 : 16;
    struct pollfd *f = vow__realloc(st->fds, cap * sizeof(*f));
    if (!f)
        return VOW_ENOMEM;
    st->fds = f;
    uint64_t *t = vow__realloc(st->tokens, cap * sizeof(*t));
    if (!t)
        return VOW_ENOMEM;
    st->tokens = t;
    struct ready *r = vow__realloc(st->ready, cap * sizeof(*r));
    if (!r)
        return VOW_ENOMEM;
    st->ready = r;
    st->cap = cap;
    return 0;
}

static short to_poll(unsigned events)
{
    return (short)((events & VOW_READABLE ? POLLIN : 0) | (events & VOW_WRITABLE ? POLLOUT : 0));
}

static int poll_ctl(vow_loop *l, int fd, unsigned old_events, unsigned new_events,
                    uint64_t token)
{
    struct poll_state *st = l->bdata;
    if (!old_events) {
        int r = poll_reserve(st, fd);
        if (r < 0)
            return r;
        if (st->slot[fd] >= 0)
            return VOW_EEXIST;
        st->slot[fd] = (int)st->n;
        st->fds[st->n] = (struct pollfd){ .fd = fd, .events = to_poll(new_events) };
        st->tokens[st->n] = token;
        st->n++;
        return 0;
    }
    if ((size_t)fd >= st->slot_len || st->slot[fd] < 0)
        return -ENOENT;
    size_t i = (size_t)st->slot[fd];
    if (new_events) {
        st->fds[i].events = to_poll(new_events);
        st->tokens[i] = token;
        return 0;
    }
    st->slot[fd] = -1;
    if (i != --st->n) {
        st->fds[i] = st->fds[st->n];
        st->tokens[i] = st->tokens[st->n];
        st->slot[st->fds[i].fd] = (int)i;
    }
    return 0;
}

static unsigned from_poll(short e)
{
    return (e & (POLLIN | POLLPRI) ? VOW_READABLE : 0u) | (e & POLLOUT ? VOW_WRITABLE : 0u) |
           (e & (POLLERR | POLLNVAL) ? VOW_ERROR : 0u) | (e & POLLHUP ? VOW_HANGUP : 0u);
}

static int poll_poll(vow_loop *l, int timeout)
{
    struct poll_state *st = l->bdata;
    int n = poll(st->fds, (nfds_t)st->n, timeout);
    int err = errno;
    vow_loop_update_time(l);
    if (n < 0)
        return err == EINTR ? 0 : -err;
    size_t k = 0;
    for (size_t i = 0; i < st->n && k < (size_t)n; i++) {
        if (st->fds[i].revents) {
            st->ready[k].token = st->tokens[i];
            st->ready[k].events = from_poll(st->fds[i].revents);
            k++;
        }
    }
    /* st->ready may move when a callback adds fds; index it afresh each time. */
    for (size_t j = 0; j < k && !l->stop_flag; j++)
        vow__io_event(l, st->ready[j].token, st->ready[j].events);
    return 0;
}

/* poll(2) keeps no kernel state: nothing to re-create after fork. */
static int poll_after_fork(vow_loop *l)
{
    (void)l;
    return 0;
}

int vow__poll_ready(vow_loop *l)
{
    struct poll_state *st = l->bdata;
    return poll(st->fds, (nfds_t)st->n, 0) > 0;
}

size_t vow__poll_watched(const vow_loop *l)
{
    const struct poll_state *st = l->bdata;
    return st->n;
}

const struct vow__backend vow__backend_poll = {
    .name = "poll",
    .init = poll_init,
    .fini = poll_fini,
    .ctl = poll_ctl,
    .poll = poll_poll,
    .after_fork = poll_after_fork,
};
