/* SPDX-License-Identifier: MIT */
/*
 * The loop group: its threads, each running a loop of its own, the inboxes that
 * carry messages between them, placement, posting, and the shutdown. The shutdown
 * has two steps. Stop: each member withdraws what the group placed on it and runs
 * the user's hook. Release: once every member stopped and no obligation is left
 * (busy == 0: nothing waits on a loop for a message, no message is on its way, no
 * shared value is held), each member lets go of its control watcher, runs until its
 * loop has nothing left and closes it. Until the release every loop stays open, so
 * a message or a post to a member never finds a closed loop.
 */
#include "group_int.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static _Thread_local struct vow__gmember *tls_member;

/* ------------------------------------------------------------- obligations */

static void maybe_release(vow_group *g);

bool vow__group_enter(vow_group *g)
{
    atomic_fetch_add(&g->busy, 1);
    if (vow__likely(atomic_load(&g->phase) == VOW__G_RUNNING))
        return true;
    vow__group_busy(g, -1);
    return false;
}

void vow__group_busy(vow_group *g, long delta)
{
    if (atomic_fetch_add(&g->busy, delta) + delta == 0)
        maybe_release(g);
}

/* Writes the member's control eventfd. Async-signal-safe. */
static void ctl_kick(struct vow__gmember *m)
{
    uint64_t one = 1;
    ssize_t r = write(m->ctl_fd, &one, sizeof(one));
    (void)r; /* EAGAIN: the counter is already non-zero, the watcher fires anyway. */
}

/*
 * Releases the loops: called by whoever brought busy to 0, which can only happen
 * once the group is stopping (each member holds one unit until its stop has run).
 * That caller is unique, and once it has kicked the last member the group may be
 * freed at any moment (vow_group_close joins the threads that this wakes): nothing
 * of g is read after the last kick.
 */
static void maybe_release(vow_group *g)
{
    int want = VOW__G_STOPPING;
    if (!atomic_compare_exchange_strong(&g->phase, &want, VOW__G_RELEASED))
        return;
    unsigned n = g->n;
    struct vow__gmember *m = g->m;
    for (unsigned i = 0; i < n; i++)
        ctl_kick(&m[i]);
}

/* ------------------------------------------------------------------ inbox */

/* Runs every message queued so far, oldest first (member's thread). */
static void inbox_run(struct vow__gmember *m)
{
    struct vow__gmsg *s = atomic_exchange(&m->inbox, NULL);
    struct vow__gmsg *fifo = NULL;
    while (s) {
        struct vow__gmsg *next = s->next;
        s->next = fifo;
        fifo = s;
        s = next;
    }
    while (fifo) {
        struct vow__gmsg *next = fifo->next;
        fifo->fn(m, fifo); /* may free the object that holds fifo */
        fifo = next;
    }
}

static void inbox_post_run(vow_loop *l, void *arg)
{
    (void)l;
    inbox_run(arg);
}

/*
 * A Treiber stack: posters push, the member takes all at once, so there is no ABA.
 * The poster that finds it empty wakes the member with one vow_loop_post (none
 * while one is on its way); if that post cannot be allocated, the control eventfd
 * wakes it instead, so a message is never lost for want of memory.
 */
void vow__gmember_send(struct vow__gmember *m, struct vow__gmsg *msg)
{
    /* The message's own obligation may end as soon as it is pushed (the member can
     * run it at once), and with it the last one: this one keeps the loop open until
     * the wake-up below is done. */
    vow__group_busy(m->g, 1);
    struct vow__gmsg *old = atomic_load_explicit(&m->inbox, memory_order_relaxed);
    do {
        msg->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&m->inbox, &old, msg, memory_order_release,
                                                    memory_order_relaxed));
    if (!old && vow_loop_post(m->l, inbox_post_run, m) != 0)
        ctl_kick(m);
    vow__group_busy(m->g, -1);
}

/* ---------------------------------------------------------------- members */

void vow__gwork_add(struct vow__gmember *m, struct vow__gwork *w)
{
    vow__q_insert_tail(&m->work, &w->node);
}

void vow__gwork_remove(struct vow__gwork *w)
{
    if (vow__q_linked(&w->node))
        vow__q_remove(&w->node);
}

struct vow__gmember *vow__gmember_self(const vow_group *g)
{
    struct vow__gmember *m = tls_member;
    return m && m->g == g ? m : NULL;
}

/*
 * The member's stop, on its thread: listening sockets closed, the group's work
 * withdrawn (one item at a time from the front: withdrawing one may settle others,
 * whose handlers take themselves off the list later), then the user's hook.
 */
static void member_stop(struct vow__gmember *m)
{
    vow_group *g = m->g;
    m->stopped = true;
    vow__glisten_stop(m);
    while (!vow__q_empty(&m->work)) {
        struct vow__gwork *w = vow__container_of(m->work.next, struct vow__gwork, node);
        vow__q_remove(&w->node);
        w->cancel(w);
    }
    if (g->on_stop)
        g->on_stop(m->l, m->index, g->ctx);
    vow__group_busy(g, -1); /* the unit this member held while it ran */
}

/* The control eventfd: the inbox's fallback wake-up, the stop and the release. */
static void ctl_cb(vow_io *w, int fd, unsigned events)
{
    struct vow__gmember *m = w->data;
    (void)events;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    inbox_run(m);
    int phase = atomic_load(&m->g->phase);
    if (phase >= VOW__G_STOPPING && !m->stopped)
        member_stop(m);
    if (atomic_load(&m->g->phase) == VOW__G_RELEASED && !m->released) {
        m->released = true;
        vow_io_stop(&m->ctl);
    }
}

/* The i-th CPU (modulo their number) that the process may run on, or -1. */
static int nth_cpu(unsigned i)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -1;
    int n = CPU_COUNT(&set);
    if (n <= 0)
        return -1;
    unsigned want = i % (unsigned)n;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &set) && want-- == 0)
            return c;
    }
    return -1;
}

static void member_pin(struct vow__gmember *m)
{
    int c = nth_cpu(m->index);
    if (c < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(c, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Makes the member's loop and its control watcher; 0 or a negative code. */
static int member_open(struct vow__gmember *m)
{
    errno = 0;
    vow_loop *l = vow_loop_new();
    if (!l)
        return errno == EMFILE || errno == ENFILE ? -errno : VOW_ENOMEM;
    int r = vow_io_init(l, &m->ctl, m->ctl_fd, ctl_cb);
    if (r == 0) {
        m->ctl.data = m;
        r = vow_io_start(&m->ctl, VOW_READABLE);
    }
    if (r < 0) {
        vow_loop_close(l);
        return r;
    }
    m->l = l;
    return 0;
}

/*
 * A member's thread: makes its loop, reports to vow_group_new and waits for its
 * verdict, then runs the loop until the release has let it run dry (a
 * vow_loop_stop from user code only makes it go round again), and closes it.
 */
static void *member_main(void *arg)
{
    struct vow__gmember *m = arg;
    vow_group *g = m->g;
    tls_member = m;
    if (g->flags & VOW_GROUP_PIN)
        member_pin(m);
    int r = member_open(m);
    pthread_mutex_lock(&g->mu);
    m->err = r;
    g->ready++;
    pthread_cond_broadcast(&g->cv);
    while (!g->go)
        pthread_cond_wait(&g->cv, &g->mu);
    bool abort = g->abort;
    pthread_mutex_unlock(&g->mu);
    if (r < 0)
        return NULL;
    if (abort) {
        vow_io_stop(&m->ctl);
        vow_loop_close(m->l);
        m->l = NULL;
        return NULL;
    }
    for (;;) {
        r = vow_loop_run(m->l, VOW_RUN_DEFAULT);
        if (r <= 0)
            break;
    }
    if (r < 0)
        m->err = r;
    r = vow_loop_close(m->l);
    if (r < 0)
        m->err = r;
    else
        m->l = NULL;
    tls_member = NULL;
    return NULL;
}

/* ------------------------------------------------------------------ API */

static unsigned usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Joins the started threads, closes the eventfds and frees g. */
static void group_free(vow_group *g)
{
    for (unsigned i = 0; i < g->n; i++) {
        if (g->m[i].started)
            pthread_join(g->m[i].thread, NULL);
    }
    vow__glisten_free_all(g);
    for (unsigned i = 0; i < g->n; i++) {
        if (g->m[i].ctl_fd >= 0)
            close(g->m[i].ctl_fd);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    vow__free(g);
}

int vow_group_new(const vow_group_opts *opts, vow_group **ret)
{
    vow__check(ret, VOW_EINVAL);
    unsigned n = opts ? opts->loops : 0;
    unsigned flags = opts ? opts->flags : 0;
    vow__check((flags & ~(unsigned)VOW_GROUP_PIN) == 0 && n <= VOW_GROUP_MAX, VOW_EINVAL);
    if (n == 0)
        n = usable_cpus();
    if (n > VOW_GROUP_MAX)
        n = VOW_GROUP_MAX;
    vow_group *g = vow__calloc(1, sizeof(*g) + n * sizeof(g->m[0]));
    vow__check(g, VOW_ENOMEM);
    g->n = n;
    g->flags = flags;
    g->on_stop = opts ? opts->on_stop : NULL;
    g->ctx = opts ? opts->ctx : NULL;
    atomic_init(&g->phase, VOW__G_RUNNING);
    atomic_init(&g->busy, (long)n); /* one per member until its stop has run */
    atomic_init(&g->next, 0);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        struct vow__gmember *m = &g->m[i];
        m->g = g;
        m->index = i;
        m->ctl_fd = -1;
        atomic_init(&m->inbox, NULL);
        atomic_init(&m->load, 0);
        vow__q_init(&m->work);
        vow__q_init(&m->listeners);
    }
    unsigned started = 0;
    for (unsigned i = 0; i < n && err == 0; i++) {
        struct vow__gmember *m = &g->m[i];
        m->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->ctl_fd < 0) {
            err = -errno;
            break;
        }
        int r = pthread_create(&m->thread, NULL, member_main, m);
        if (r != 0) {
            err = -r;
            break;
        }
        m->started = true;
        started++;
    }
    /* Every started thread reports; then all go, or all abort. */
    pthread_mutex_lock(&g->mu);
    while (g->ready < started)
        pthread_cond_wait(&g->cv, &g->mu);
    for (unsigned i = 0; i < started && err == 0; i++)
        err = g->m[i].err;
    g->go = true;
    g->abort = err != 0;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (err != 0) {
        group_free(g);
        return err;
    }
    *ret = g;
    return 0;
}

unsigned vow_group_size(const vow_group *g)
{
    return g ? g->n : 0;
}

vow_loop *vow_group_loop(const vow_group *g, unsigned i)
{
    return g && i < g->n ? g->m[i].l : NULL;
}

int vow_group_self(const vow_group *g)
{
    struct vow__gmember *m = g ? vow__gmember_self(g) : NULL;
    return m ? (int)m->index : -1;
}

struct vow__gmember *vow__gmember_pick(vow_group *g, int i)
{
    if (i >= 0)
        return (unsigned)i < g->n ? &g->m[i] : NULL;
    if (i == VOW_GROUP_NEXT)
        return &g->m[atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed) % g->n];
    if (i != VOW_GROUP_LEAST)
        return NULL;
    struct vow__gmember *best = &g->m[0];
    long low = atomic_load_explicit(&best->load, memory_order_relaxed);
    for (unsigned k = 1; k < g->n && low > 0; k++) {
        long v = atomic_load_explicit(&g->m[k].load, memory_order_relaxed);
        if (v < low) {
            low = v;
            best = &g->m[k];
        }
    }
    return best;
}

int vow_group_pick(vow_group *g, int i)
{
    vow__check(g, VOW_EINVAL);
    struct vow__gmember *m = vow__gmember_pick(g, i);
    return m ? (int)m->index : VOW_EINVAL;
}

int vow_group_post(vow_group *g, int i, vow_post_fn fn, void *arg)
{
    vow__check(g && fn, VOW_EINVAL);
    struct vow__gmember *m = vow__gmember_pick(g, i);
    vow__check(m, VOW_EINVAL);
    /* The obligation keeps the loop open for the length of the call; the post itself
     * keeps it alive until fn has run. */
    if (!vow__group_enter(g))
        return VOW_ECLOSED;
    int r = vow_loop_post(m->l, fn, arg);
    vow__group_busy(g, -1);
    return r;
}

int vow_group_stop(vow_group *g)
{
    vow__check(g, VOW_EINVAL);
    /* A unit of our own keeps the group from being released (and freed) while we
     * kick: a member may see the phase and stop before its kick. */
    atomic_fetch_add(&g->busy, 1);
    int want = VOW__G_RUNNING;
    if (atomic_compare_exchange_strong(&g->phase, &want, VOW__G_STOPPING)) {
        for (unsigned i = 0; i < g->n; i++)
            ctl_kick(&g->m[i]);
    }
    vow__group_busy(g, -1);
    return 0;
}

int vow_group_close(vow_group *g)
{
    vow__check(g, VOW_EINVAL);
    vow_group_stop(g);
    if (vow__gmember_self(g) || vow__cross_held() > 0)
        return -EDEADLK;
    int err = 0;
    for (unsigned i = 0; i < g->n; i++) {
        pthread_join(g->m[i].thread, NULL);
        g->m[i].started = false;
        if (g->m[i].err < 0 && err == 0)
            err = g->m[i].err;
    }
    group_free(g);
    return err;
}
