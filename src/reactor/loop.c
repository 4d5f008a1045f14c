/* SPDX-License-Identifier: MIT */
/*
 * The run loop: turns, liveness, the microtask drain, fd watchers and the eventfd
 * that wakes the loop for posts, signals and child re-checks. A turn is: what the
 * last turn's microtask slice left over, poll (not blocking when work is ready), I/O
 * callbacks, posts, immediates, timers (libuv's order, posts where its async is).
 */
#include "reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct vow__io_impl) <= sizeof(((vow_io *)0)->private_),
               "vow_io private storage too small");
_Static_assert(offsetof(struct vow_loop, head) == 0, "head must be the first member");

/* On the poll backend an embedding host cannot see fd readiness through one fd, so
 * vow_loop_backend_timeout() caps its sleep while fds are watched (see there). */
#define POLL_EMBED_SLICE_MS 10

static uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------- microtasks */

/* A new slice: called at the start of each turn. */
static void slice_begin(vow_loop *l)
{
    l->slice_left = VOW__SLICE_TASKS;
    l->slice_end = clock_ms() + VOW__SLICE_MS;
}

/*
 * Runs queued microtasks until the queue is empty or the turn's slice is used up.
 * When the queue empties, the checkpoint hook runs (the unhandled-rejection report),
 * repeating while it queued more; when the slice runs out first, the trim hook runs
 * instead (it lets go of what is no longer needed without reporting anything) and
 * the rest waits for the next turn.
 */
void vow__drain(vow_loop *l)
{
    struct vow__loop_head *h = &l->head;
    if (l->draining)
        return;
    l->draining = 1;
    l->cb_depth++;
    int yielded = 0;
    unsigned left0 = l->slice_left;
    for (;;) {
        vow__task *t;
        while ((t = h->micro.head) != NULL) {
            if (l->slice_left == 0) {
                yielded = 1;
                break;
            }
            if (--l->slice_left % VOW__SLICE_CLOCK_EVERY == 0 && clock_ms() >= l->slice_end)
                l->slice_left = 0;
            h->micro.head = t->next;
            if (!h->micro.head)
                h->micro.tail = &h->micro.head;
            t->ops->run(l, t);
        }
        if (yielded) {
            /* Only a drain that ran something can have handled a listed rejection. */
            if (l->slice_left != left0 && h->ext_ops && h->ext_ops->trim)
                h->ext_ops->trim(l);
            break;
        }
        if (h->ext_ops && h->ext_ops->checkpoint)
            h->ext_ops->checkpoint(l);
        if (!h->micro.head)
            break;
    }
    l->cb_depth--;
    l->draining = 0;
    if (l->sig_linger && !h->micro.head)
        vow__signals_linger_end(l);
}

bool vow__loop_in_callback(const vow_loop *l)
{
    return l->cb_depth > 0 || l->draining;
}

struct microtask {
    vow__task task; /* queue node, first so the cast back is free */
    vow_post_fn fn; /* user function */
    void *arg;      /* its argument */
};

/* The node is freed before fn runs, so fn may close the loop. */
static void microtask_run(vow_loop *l, vow__task *t)
{
    struct microtask *m = (struct microtask *)(void *)t;
    vow_post_fn fn = m->fn;
    void *arg = m->arg;
    vow__free(m);
    fn(l, arg);
}

static const struct vow__task_ops microtask_ops = { microtask_run };

int vow_loop_queue_microtask(vow_loop *l, vow_post_fn fn, void *arg)
{
    vow__check(l && fn, VOW_EINVAL);
    struct microtask *m = vow__malloc(sizeof(*m));
    vow__check(m, VOW_ENOMEM);
    m->task.ops = &microtask_ops;
    m->fn = fn;
    m->arg = arg;
    vow__task_push(&l->head.micro, &m->task);
    return 0;
}

/* ------------------------------------------------------------ fd watchers */

static int fdtab_reserve(vow_loop *l, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= l->fdtab_len)
        return 0;
    size_t len = l->fdtab_len ? l->fdtab_len * 2 : 64;
    while (len < need)
        len *= 2;
    struct vow__io_core **t = vow__realloc(l->fdtab, len * sizeof(*t));
    if (!t)
        return VOW_ENOMEM;
    memset(t + l->fdtab_len, 0, (len - l->fdtab_len) * sizeof(*t));
    l->fdtab = t;
    l->fdtab_len = len;
    return 0;
}

static uint64_t io_token(const struct vow__io_core *c)
{
    return ((uint64_t)c->gen << 32) | (uint32_t)c->fd;
}

/*
 * A new start gets a new stamp, so an event collected for an earlier watcher of the
 * same fd number (stopped, fd closed and reused this turn) never reaches this one.
 */
int vow__io_core_start(struct vow__io_core *c, unsigned events)
{
    vow_loop *l = c->loop;
    int r;
    if (c->events) {
        if (events == c->events)
            return 0;
        r = l->backend->ctl(l, c->fd, c->events, events, io_token(c));
        if (r < 0)
            return r;
        c->events = events;
        return 0;
    }
    r = fdtab_reserve(l, c->fd);
    if (r < 0)
        return r;
    if (l->fdtab[c->fd])
        return VOW_EEXIST;
    uint32_t gen = ++l->io_gen;
    if (gen == 0)
        gen = ++l->io_gen;
    c->gen = gen;
    r = l->backend->ctl(l, c->fd, 0, events, io_token(c));
    if (r < 0) {
        c->gen = 0;
        return r;
    }
    l->fdtab[c->fd] = c;
    c->events = events;
    if (!c->internal) {
        l->active++;
        l->n_user_io++;
    }
    return 0;
}

/* The backend may fail to remove a closed fd (EBADF/ENOENT); the kernel already has. */
void vow__io_core_stop(struct vow__io_core *c)
{
    vow_loop *l = c->loop;
    if (!c->events)
        return;
    (void)l->backend->ctl(l, c->fd, c->events, 0, io_token(c));
    l->fdtab[c->fd] = NULL;
    c->events = 0;
    c->gen = 0;
    if (!c->internal) {
        l->active--;
        l->n_user_io--;
    }
}

void vow__io_event(vow_loop *l, uint64_t token, unsigned revents)
{
    uint32_t fd = (uint32_t)token;
    if (fd >= l->fdtab_len)
        return;
    struct vow__io_core *c = l->fdtab[fd];
    if (!c || c->gen != (uint32_t)(token >> 32))
        return;
    revents &= c->events | VOW_ERROR | VOW_HANGUP;
    if (!revents)
        return;
    l->cb_depth++;
    c->dispatch(c, revents);
    l->cb_depth--;
    vow__loop_after_cb(l);
}

static void io_dispatch(struct vow__io_core *c, unsigned revents)
{
    struct vow__io_impl *w = (struct vow__io_impl *)(void *)c;
    w->cb(VOW__PUB(io, w), c->fd, revents);
}

int vow_io_init(vow_loop *l, vow_io *w, int fd, vow_io_fn cb)
{
    vow__check(l && w && cb && fd >= 0, VOW_EINVAL);
    struct vow__io_impl *io = VOW__IMPL(io, w);
    memset(io, 0, sizeof(*io));
    io->core.loop = l;
    io->core.dispatch = io_dispatch;
    io->core.fd = fd;
    io->cb = cb;
    return 0;
}

int vow_io_start(vow_io *w, unsigned events)
{
    vow__check(w && VOW__IMPL(io, w)->core.loop, VOW_EINVAL);
    vow__check(events && !(events & ~(unsigned)(VOW_READABLE | VOW_WRITABLE)), VOW_EINVAL);
    return vow__io_core_start(&VOW__IMPL(io, w)->core, events);
}

int vow_io_stop(vow_io *w)
{
    vow__check(w && VOW__IMPL(io, w)->core.loop, VOW_EINVAL);
    vow__io_core_stop(&VOW__IMPL(io, w)->core);
    return 0;
}

/* ---------------------------------------------------------------- wake-up */

/* Any thread and async-signal-safe: one write(2) on the eventfd. */
void vow__loop_wake(vow_loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->wakefd, &one, sizeof(one));
    (void)n; /* EAGAIN means the counter is already non-zero: the loop wakes anyway. */
}

static void wake_dispatch(struct vow__io_core *c, unsigned revents)
{
    vow_loop *l = c->loop;
    uint64_t v;
    ssize_t n = read(l->wakefd, &v, sizeof(v));
    (void)n;
    if (l->sig_slot >= 0)
        vow__signals_run(l);
    /* After vow_loop_stop, leftover work waits for the next run: keep fd readable. */
    if (l->child_recheck) {
        if (l->stop_flag)
            vow__loop_wake(l);
        else
            vow__children_run(l);
    }
}

/* ------------------------------------------------------------------- loop */

static const struct vow__backend *backend_named(const char *name)
{
    if (name && strcmp(name, "poll") == 0)
        return &vow__backend_poll;
    if (name && strcmp(name, "epoll") == 0)
        return &vow__backend_epoll;
    return NULL;
}

/* VOW_BACKEND wins when it names a backend; anything else means the build default. */
static const struct vow__backend *backend_choose(void)
{
    const struct vow__backend *b = backend_named(secure_getenv("VOW_BACKEND"));
    if (!b)
        b = backend_named(VOW_BACKEND_DEFAULT);
    return b ? b : &vow__backend_epoll;
}

/* Frees a loop in any state of construction (destructors accept half-built objects). */
static void loop_free(vow_loop *l)
{
    if (l->dump_out)
        vow_signal_stop(&l->dump_sig);
    if (l->sig_linger)
        vow__signals_linger_end(l);
    if (l->wake_io.events)
        vow__io_core_stop(&l->wake_io);
    if (l->bdata || l->bfd >= 0)
        l->backend->fini(l);
    vow__posts_fini(l);
    vow__free(l->fdtab);
    vow__heap_fini(&l->timers);
    vow__free(l);
}

vow_loop *vow_loop_new(void)
{
    vow_loop *l = vow__calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->head.micro.tail = &l->head.micro.head;
    l->bfd = -1;
    l->wakefd = -1;
    l->sig_slot = -1;
    l->owner = pthread_self();
    l->backend = backend_choose();
    vow__q_init(&l->immediates);
    vow__q_init(&l->signals);
    vow__q_init(&l->children);
    l->postq = vow__postq_new();
    if (!l->postq)
        goto fail;
    l->wakefd = vow__postq_fd(l->postq);
    if (l->backend->init(l) < 0)
        goto fail;
    l->wake_io.loop = l;
    l->wake_io.dispatch = wake_dispatch;
    l->wake_io.fd = l->wakefd;
    l->wake_io.internal = 1;
    if (vow__io_core_start(&l->wake_io, VOW_READABLE) < 0)
        goto fail;
    l->now = clock_ms();
    slice_begin(l);
    vow__alloc_loop_count(1);
    return l;
fail:
    loop_free(l);
    return NULL;
}

static int loop_alive(const vow_loop *l)
{
    return l->active > 0 || l->keepalive > 0 || l->head.micro.head != NULL ||
           vow__posts_pending(l) > 0;
}

int vow_loop_alive(const vow_loop *l)
{
    vow__check(l, 0);
    return loop_alive(l);
}

/* How long the loop may sleep: 0 whenever something can run without waiting. */
static int ready_timeout(const vow_loop *l)
{
    if (!vow__q_empty(&l->immediates) || l->head.micro.head || vow__posts_pending(l))
        return 0;
    return vow__timers_timeout(l);
}

static int poll_timeout(const vow_loop *l)
{
    if (l->stop_flag || !loop_alive(l))
        return 0;
    return ready_timeout(l);
}

int vow_loop_run(vow_loop *l, int mode)
{
    vow__check(l && mode >= 0 && mode < _VOW_RUN_MAX, VOW_EINVAL);
#ifndef NDEBUG
    vow__check(pthread_equal(l->owner, pthread_self()), VOW_ETHREAD);
#endif
    vow__check(!vow__loop_in_callback(l), VOW_EBUSY);
    vow__posts_awake(l);
    slice_begin(l);
    vow__loop_after_cb(l);
    /* Microtasks left by the last slice (or queued outside the loop) ran just now: that
     * was this call's work, so VOW_RUN_ONCE does not block for more. */
    int worked = l->slice_left != VOW__SLICE_TASKS;
    int r = loop_alive(l);
    if (mode == VOW_RUN_DEFAULT && r && !l->stop_flag) {
        vow_loop_update_time(l);
        vow__timers_run(l);
    }
    int first = 1;
    while (r && !l->stop_flag) {
        /* What the last slice left over runs first, in a slice of this turn's own. */
        if (!first) {
            slice_begin(l);
            vow__loop_after_cb(l);
        }
        first = 0;
        int timeout = mode == VOW_RUN_NOWAIT || (mode == VOW_RUN_ONCE && worked)
                          ? 0
                          : poll_timeout(l);
        if (timeout != 0)
            timeout = vow__posts_sleep(l, timeout);
        int pr = l->backend->poll(l, timeout);
        if (timeout != 0)
            vow__posts_awake(l);
        if (pr < 0) {
            l->stop_flag = 0;
            vow__posts_leave(l);
            return pr;
        }
        if (!l->stop_flag && vow__posts_pending(l))
            vow__posts_run(l);
        if (!l->stop_flag)
            vow__immediates_run(l);
        if (!l->stop_flag) {
            vow_loop_update_time(l);
            vow__timers_run(l);
        }
        if (l->sig_linger && !l->head.micro.head)
            vow__signals_linger_end(l);
        r = loop_alive(l);
        if (mode != VOW_RUN_DEFAULT)
            break;
    }
    l->stop_flag = 0;
    if (l->sig_linger && !l->head.micro.head)
        vow__signals_linger_end(l);
    vow__posts_leave(l);
    return loop_alive(l);
}

void vow_loop_stop(vow_loop *l)
{
    if (l)
        l->stop_flag = 1;
}

#ifdef VOW_DEBUG
/*
 * Debug builds: the reactor's part of why close is refused, on stderr: handles by
 * kind, keepalives, posts and microtasks. The vow tier lists its vows through its
 * busy hook.
 */
static void report_busy(vow_loop *l)
{
    size_t posts = vow__posts_pending(l);
    if (l->active == 0 && l->keepalive == 0 && !l->head.micro.head && posts == 0)
        return;
    unsigned n_imm = 0, n_sig = 0;
    for (struct vow__qnode *q = l->immediates.next; q != &l->immediates; q = q->next)
        n_imm++;
    for (struct vow__qnode *q = l->signals.next; q != &l->signals; q = q->next)
        if (!vow__container_of(q, struct vow__signal_impl, link)->internal)
            n_sig++;
    size_t n_micro = 0;
    for (vow__task *t = l->head.micro.head; t; t = t->next)
        n_micro++;
    fprintf(stderr,
            "libvow: vow_loop_close: busy: %u active handles (fd watchers %u, timers %zu, "
            "immediates %u, signal watchers %u, child watchers %u), keepalives %d, "
            "posts pending %zu, microtasks queued %zu\n",
            l->active, l->n_user_io, l->timers.n, n_imm, n_sig, l->n_child, l->keepalive, posts,
            n_micro);
}
#endif

int vow_loop_close(vow_loop *l)
{
    vow__check(l, VOW_EINVAL);
    vow__check(!vow__loop_in_callback(l), VOW_EBUSY);
    /* In debug builds everything that keeps the loop busy is listed, each tier its
     * part (a job on the thread pool holds a keepalive and a pending vow: both named). */
    int busy = l->active != 0 || l->keepalive != 0 || l->head.micro.head != NULL;
    const struct vow__ext_ops *ops = l->head.ext_ops;
#ifdef VOW_DEBUG
    report_busy(l);
    if (ops && ops->busy && ops->busy(l))
        busy = 1;
    /* What is alive, as a tree: vows with what they wait on, coroutines (inspect.c). */
    if (busy) {
        fputs("libvow: vow_loop_close: what keeps the loop busy:\n", stderr);
        (void)vow_loop_dump(l, stderr);
    }
#else
    if (!busy && ops && ops->busy && ops->busy(l))
        busy = 1;
#endif
    if (busy)
        return VOW_EBUSY;
    /* Posters race with close: one atomic step refuses them from now on, or finds a
     * post queued or a poster inside its call and fails. */
    if (vow__posts_close(l) < 0)
        return VOW_EBUSY;
    if (ops && ops->fini)
        ops->fini(l);
    loop_free(l);
    vow__alloc_loop_count(-1);
    return 0;
}

uint64_t vow_loop_now(const vow_loop *l)
{
    return l ? l->now : 0;
}

void vow_loop_update_time(vow_loop *l)
{
    if (l)
        l->now = clock_ms();
}

const char *vow_loop_backend_name(const vow_loop *l)
{
    return l ? l->backend->name : NULL;
}

int vow_loop_backend_fd(const vow_loop *l)
{
    vow__check(l, VOW_EINVAL);
    return l->bfd;
}

/*
 * The deadline is measured from the clock now, not from the loop's cached time: a
 * host calls this on every one of its iterations, most of which run no libvow turn
 * (so the cached time does not move), and a deadline computed from a stale time
 * would move with every host wake-up and never be reached under a busy host.
 * On epoll the host's wait on the epoll fd sees every watched fd. On poll there is
 * no such fd: the eventfd is made readable here whenever work is ready (including
 * fds that are ready now), and while fds are watched the sleep is capped at
 * POLL_EMBED_SLICE_MS so readiness that arrives later is noticed within that bound.
 */
int vow_loop_backend_timeout(const vow_loop *l)
{
    vow__check(l, VOW_EINVAL);
    if (vow__posts_pending(l) > 0)
        return 0;
    int t = !vow__q_empty(&l->immediates) || l->head.micro.head
                ? 0
                : vow__timers_timeout_at(l, clock_ms());
    if (l->backend != &vow__backend_poll)
        return t;
    vow_loop *ml = (vow_loop *)l;
    if (t == 0 || vow__poll_ready(ml)) {
        vow__loop_wake(ml);
        return 0;
    }
    if (vow__poll_watched(ml) > 1 && (t < 0 || t > POLL_EMBED_SLICE_MS))
        t = POLL_EMBED_SLICE_MS;
    return t;
}

int vow_loop_keepalive(vow_loop *l, int delta)
{
    vow__check(l && (delta == 1 || delta == -1), VOW_EINVAL);
    vow__check(l->keepalive + delta >= 0, VOW_EINVAL);
    l->keepalive += delta;
    return l->keepalive;
}

/*
 * In a child after fork(): the eventfd and the backend's kernel state are shared with
 * the parent, so each gets a private replacement. The new eventfd takes the old
 * number, which the fd table, the backend and the signal slot already use. Only safe
 * while no other thread uses this loop.
 */
int vow__loop_after_fork(vow_loop *l)
{
    vow__check(l, VOW_EINVAL);
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    int r = dup3(fd, l->wakefd, O_CLOEXEC) < 0 ? -errno : 0;
    close(fd);
    if (r < 0)
        return r;
    r = l->backend->after_fork(l);
    if (r < 0)
        return r;
    l->owner = pthread_self();
    /* Work queued before the fork is still queued here: make sure it is seen. */
    if (vow__posts_pending(l) || l->child_recheck || l->sig_slot >= 0)
        vow__loop_wake(l);
    return 0;
}

/* --------------------------------------------------------------- verify */

int vow__loop_verify(vow_loop *l)
{
    vow__check(l, VOW_EINVAL);
    int r = vow__heap_verify(&l->timers);
    if (r < 0)
        return r;
    unsigned n_io = 0, n_sig = 0, n_sig_all = 0, n_imm = 0;
    for (size_t fd = 0; fd < l->fdtab_len; fd++) {
        struct vow__io_core *c = l->fdtab[fd];
        if (!c)
            continue;
        if (c->fd != (int)fd || c->events == 0 || c->loop != l)
            return VOW_ESTATE;
        if (!c->internal)
            n_io++;
    }
    if (n_io != l->n_user_io)
        return VOW_ESTATE;
    for (struct vow__qnode *q = l->immediates.next; q != &l->immediates; q = q->next)
        n_imm++;
    unsigned per_sig[VOW__NSIG] = { 0 };
    for (struct vow__qnode *q = l->signals.next; q != &l->signals; q = q->next) {
        struct vow__signal_impl *s = vow__container_of(q, struct vow__signal_impl, link);
        if (s->signum <= 0 || s->signum >= VOW__NSIG)
            return VOW_ESTATE;
        per_sig[s->signum]++;
        n_sig_all++;
        if (!s->internal)
            n_sig++;
    }
    if (memcmp(per_sig, l->sig_count, sizeof(per_sig)) != 0)
        return VOW_ESTATE;
    if ((n_sig_all > 0 || l->sig_linger) != (l->sig_slot >= 0))
        return VOW_ESTATE;
    if (l->active != l->timers.n + n_imm + n_sig + n_io + l->n_child)
        return VOW_ESTATE;
    vow__task **tail = &l->head.micro.head;
    while (*tail)
        tail = &(*tail)->next;
    if (tail != l->head.micro.tail || l->keepalive < 0)
        return VOW_ESTATE;
    return 0;
}
