/* SPDX-License-Identifier: MIT */
/*
 * Signal watchers. One process-wide sigaction per signum, refcounted under sig_mu
 * and restored when the last watcher stops. The handler only counts the delivery,
 * marks the signal pending in each watching loop's slot and writes that loop's
 * eventfd; callbacks run on the loop thread from the eventfd's wake-up. A watcher
 * sees only deliveries counted after it started, and a loop whose last watcher of a
 * signal stops inside a callback or microtask keeps the handler until its microtask
 * queue is empty (so a waiter that re-arms from the microtasks leaves no gap).
 */
#include "reactor.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct vow__signal_impl) <= sizeof(((vow_signal *)0)->private_),
               "vow_signal private storage too small");

#define SIG_SLOTS 64

/* A loop's entry in the table the handler reads; everything here is lock-free. */
struct sig_slot {
    atomic_int fd_plus1;                /* the loop's eventfd + 1, 0 when free */
    atomic_uint_least64_t mask;         /* signals the loop watches, bit signum-1 */
    atomic_uint_least64_t pending;      /* signals delivered since the loop looked */
};

static struct sig_slot slots[SIG_SLOTS];
/* Deliveries of each signal since the process started (any thread, the handler). */
static atomic_uint_least64_t sig_seq[VOW__NSIG];
static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER; /* sigaction and slot claims */
static unsigned sig_refs[VOW__NSIG];           /* watchers per signum, all loops */
static struct sigaction sig_old[VOW__NSIG];    /* disposition to restore */
static atomic_int in_handler;                  /* handlers running now, any thread */

static uint64_t sig_bit(int signum)
{
    return (uint64_t)1 << (signum - 1);
}

/* Async-signal-safe: atomics on lock-free 64-bit words and write(2). */
static void sig_handler(int signum)
{
    int saved = errno;
    atomic_fetch_add(&in_handler, 1);
    /* Counted before any loop is told, so a loop that sees the pending bit sees the
     * count too, and a watcher started after this point has a count that includes it. */
    atomic_fetch_add(&sig_seq[signum], 1);
    uint64_t bit = sig_bit(signum);
    for (int i = 0; i < SIG_SLOTS; i++) {
        int fd1 = atomic_load(&slots[i].fd_plus1);
        if (fd1 && (atomic_load(&slots[i].mask) & bit)) {
            atomic_fetch_or(&slots[i].pending, bit);
            uint64_t one = 1;
            ssize_t n = write(fd1 - 1, &one, sizeof(one));
            (void)n;
        }
    }
    atomic_fetch_sub(&in_handler, 1);
    errno = saved;
}

/* Under sig_mu. */
static int slot_claim(vow_loop *l)
{
    for (int i = 0; i < SIG_SLOTS; i++) {
        if (atomic_load(&slots[i].fd_plus1) == 0) {
            atomic_store(&slots[i].mask, 0);
            atomic_store(&slots[i].pending, 0);
            atomic_store(&slots[i].fd_plus1, l->wakefd + 1);
            l->sig_slot = i;
            return 0;
        }
    }
    return VOW_ENOSPC;
}

/*
 * Under sig_mu. A handler in another thread may have read the slot before it was
 * cleared; waiting until none runs guarantees nobody writes the eventfd after this
 * returns (the loop may close it next).
 */
static void slot_release(vow_loop *l)
{
    struct sig_slot *s = &slots[l->sig_slot];
    atomic_store(&s->fd_plus1, 0);
    atomic_store(&s->mask, 0);
    while (atomic_load(&in_handler) != 0)
        sched_yield();
    l->sig_slot = -1;
    l->sig_resume = 0;
    l->sig_linger = 0;
}

/*
 * Under sig_mu: l no longer watches signum (its last watcher stopped, or the grace
 * period after that ended). Gives back the reference that watcher held on the
 * process-wide handler, and the loop's slot if nothing else needs it.
 */
static void signal_release(vow_loop *l, int signum)
{
    atomic_fetch_and(&slots[l->sig_slot].mask, ~sig_bit(signum));
    if (--sig_refs[signum] == 0)
        sigaction(signum, &sig_old[signum], NULL);
    if (vow__q_empty(&l->signals) && !l->sig_linger)
        slot_release(l);
}

int vow_signal_init(vow_loop *l, vow_signal *s, vow_signal_fn cb)
{
    vow__check(l && s && cb, VOW_EINVAL);
    struct vow__signal_impl *si = VOW__IMPL(signal, s);
    memset(si, 0, sizeof(*si));
    si->loop = l;
    si->cb = cb;
    return 0;
}

static int signal_start(vow_signal *s, int signum, int internal)
{
    vow__check(s && VOW__IMPL(signal, s)->loop, VOW_EINVAL);
    vow__check(signum > 0 && signum < VOW__NSIG && signum != SIGKILL && signum != SIGSTOP,
               VOW_EINVAL);
    struct vow__signal_impl *si = VOW__IMPL(signal, s);
    vow_loop *l = si->loop;
    if (si->signum == signum)
        return 0;
    if (si->signum)
        vow_signal_stop(s);
    int r = 0;
    pthread_mutex_lock(&sig_mu);
    int claimed = 0;
    if (l->sig_slot < 0) {
        r = slot_claim(l);
        if (r < 0)
            goto out;
        claimed = 1;
    }
    if (l->sig_linger & sig_bit(signum)) {
        /* The loop kept the handler since the last watcher stopped: take it over. */
        l->sig_linger &= ~sig_bit(signum);
        l->sig_count[signum]++;
        goto out;
    }
    if (sig_refs[signum] == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = sig_handler;
        sa.sa_flags = SA_RESTART | SA_ONSTACK;
        sigfillset(&sa.sa_mask);
        if (sigaction(signum, &sa, &sig_old[signum]) < 0) {
            r = -errno;
            if (claimed)
                slot_release(l);
            goto out;
        }
    }
    sig_refs[signum]++;
    if (l->sig_count[signum]++ == 0)
        atomic_fetch_or(&slots[l->sig_slot].mask, sig_bit(signum));
out:
    pthread_mutex_unlock(&sig_mu);
    if (r < 0)
        return r;
    si->signum = signum;
    si->internal = internal;
    si->seen = atomic_load(&sig_seq[signum]);
    vow__q_insert_tail(&l->signals, &si->link);
    if (!internal)
        l->active++;
    return 0;
}

int vow_signal_start(vow_signal *s, int signum)
{
    return signal_start(s, signum, 0);
}

int vow__signal_start_internal(vow_signal *s, int signum)
{
    return signal_start(s, signum, 1);
}

int vow_signal_stop(vow_signal *s)
{
    vow__check(s && VOW__IMPL(signal, s)->loop, VOW_EINVAL);
    struct vow__signal_impl *si = VOW__IMPL(signal, s);
    vow_loop *l = si->loop;
    int signum = si->signum;
    if (!signum)
        return 0;
    vow__q_remove(&si->link);
    if (!si->internal)
        l->active--;
    si->signum = 0;
    pthread_mutex_lock(&sig_mu);
    if (--l->sig_count[signum] > 0) {
        /* Others on this loop still watch: only this watcher's reference goes. */
        if (--sig_refs[signum] == 0)
            sigaction(signum, &sig_old[signum], NULL);
    } else if (vow__loop_in_callback(l)) {
        /* Stopped from a callback or microtask (a wait that settled, timed out or
         * was cancelled): the loop keeps this watcher's reference and its slot bit
         * until the microtask queue is empty, so a wait that starts again from the
         * microtasks after it takes them over without a gap. */
        l->sig_linger |= sig_bit(signum);
    } else {
        signal_release(l, signum);
    }
    pthread_mutex_unlock(&sig_mu);
    return 0;
}

/*
 * Ends the grace period of every signal whose last watcher stopped during its
 * dispatch and was not started again by the microtasks after it. Called once the
 * microtask queue is empty, and at close.
 */
void vow__signals_linger_end(vow_loop *l)
{
    pthread_mutex_lock(&sig_mu);
    while (l->sig_linger) {
        int signum = __builtin_ctzll(l->sig_linger) + 1;
        l->sig_linger &= ~sig_bit(signum);
        signal_release(l, signum);
    }
    pthread_mutex_unlock(&sig_mu);
}

/*
 * Runs each watcher of each delivered signal once, if the signal was delivered after
 * the watcher started: the delivery count is read once per signal, and a watcher
 * runs when it has not seen that count yet. The list may change under any callback,
 * so the scan restarts after each one; a watcher started meanwhile has seen the
 * count already. A vow_loop_stop leaves the rest of the round for the next wake-up.
 */
void vow__signals_run(vow_loop *l)
{
    uint64_t pend = atomic_exchange(&slots[l->sig_slot].pending, 0);
    pend |= l->sig_resume;
    l->sig_resume = 0;
    for (int signum = 1; signum < VOW__NSIG && pend; signum++) {
        uint64_t bit = sig_bit(signum);
        if (!(pend & bit))
            continue;
        pend &= ~bit;
        uint64_t count = atomic_load(&sig_seq[signum]);
        struct vow__qnode *q = l->signals.next;
        while (q != &l->signals) {
            struct vow__signal_impl *si = vow__container_of(q, struct vow__signal_impl, link);
            if (si->signum != signum || si->seen >= count) {
                q = q->next;
                continue;
            }
            si->seen = count;
            l->cb_depth++;
            si->cb(VOW__PUB(signal, si), signum);
            l->cb_depth--;
            vow__loop_after_cb(l);
            if (l->sig_linger && !l->head.micro.head)
                vow__signals_linger_end(l);
            if (l->sig_slot < 0)
                return;
            if (l->stop_flag) {
                l->sig_resume = bit;
                if (pend)
                    atomic_fetch_or(&slots[l->sig_slot].pending, pend);
                vow__loop_wake(l);
                return;
            }
            q = l->signals.next;
        }
    }
}
