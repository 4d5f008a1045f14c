/* SPDX-License-Identifier: MIT */
/*
 * Child-process watchers. A pidfd (pidfd_open) is watched as an internal fd; where
 * the kernel lacks it, or VOW_PIDFD=0, an internal SIGCHLD watch makes the loop try
 * waitid(WNOHANG) on each watched pid. Either way the child is reaped here.
 */
#include "reactor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(sizeof(struct vow__child_impl) <= sizeof(((vow_child *)0)->private_),
               "vow_child private storage too small");

static int use_pidfd(void)
{
    const char *v = secure_getenv("VOW_PIDFD");
    return !(v && strcmp(v, "0") == 0);
}

/* Makes the watcher inactive; the loop never looks at it again. */
static void child_detach(struct vow__child_impl *ci)
{
    vow_loop *l = ci->core.loop;
    if (ci->core.fd >= 0) {
        vow__io_core_stop(&ci->core);
        close(ci->core.fd);
        ci->core.fd = -1;
    } else {
        vow__q_remove(&ci->link);
        if (--l->n_chld == 0)
            vow_signal_stop(&l->chld_sig);
    }
    ci->active = 0;
    ci->pid = 0;
    l->n_child--;
    l->active--;
}

/*
 * Reaps pid if it has exited; 1 and the callback ran, 0 if it is still running.
 * ECHILD (someone else reaped it) is reported as an exit without status, so the
 * watcher does not wait forever.
 */
static int child_try_reap(struct vow__child_impl *ci)
{
    vow_loop *l = ci->core.loop;
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int r = waitid(P_PID, (id_t)ci->pid, &info, WEXITED | WNOHANG);
    if (r == 0 && info.si_pid == 0)
        return 0;
    if (r < 0 && errno == EINTR)
        return 0;
    int pid = ci->pid, status = 0, sig = 0;
    if (r == 0 && info.si_code == CLD_EXITED)
        status = info.si_status;
    else if (r == 0)
        sig = info.si_status;
    child_detach(ci);
    l->cb_depth++;
    ci->cb(VOW__PUB(child, ci), pid, status, sig);
    l->cb_depth--;
    vow__loop_after_cb(l);
    return 1;
}

static void pidfd_dispatch(struct vow__io_core *c, unsigned revents)
{
    (void)child_try_reap((struct vow__child_impl *)(void *)c);
}

static void child_sigchld(vow_signal *s, int signum)
{
    vow_loop *l = VOW__IMPL(signal, s)->loop;
    l->child_recheck = 1;
}

/* Fallback scan; restarts after each callback because the list may have changed. */
void vow__children_run(vow_loop *l)
{
    l->child_recheck = 0;
    struct vow__qnode *q = l->children.next;
    while (q != &l->children) {
        struct vow__child_impl *ci = vow__container_of(q, struct vow__child_impl, link);
        if (!child_try_reap(ci)) {
            q = q->next;
            continue;
        }
        if (l->stop_flag) {
            l->child_recheck = 1;
            vow__loop_wake(l);
            return;
        }
        q = l->children.next;
    }
}

int vow_child_init(vow_loop *l, vow_child *c, vow_child_fn cb)
{
    vow__check(l && c && cb, VOW_EINVAL);
    struct vow__child_impl *ci = VOW__IMPL(child, c);
    memset(ci, 0, sizeof(*ci));
    ci->core.loop = l;
    ci->core.dispatch = pidfd_dispatch;
    ci->core.fd = -1;
    ci->core.internal = 1;
    ci->cb = cb;
    return 0;
}

static int fallback_start(vow_loop *l, struct vow__child_impl *ci)
{
    if (l->n_chld == 0) {
        vow_signal_init(l, &l->chld_sig, child_sigchld);
        int r = vow__signal_start_internal(&l->chld_sig, SIGCHLD);
        if (r < 0)
            return r;
    }
    l->n_chld++;
    vow__q_insert_tail(&l->children, &ci->link);
    /* The child may have exited before SIGCHLD was caught: look on the next turn. */
    l->child_recheck = 1;
    vow__loop_wake(l);
    return 0;
}

int vow_child_start(vow_child *c, int pid)
{
    vow__check(c && VOW__IMPL(child, c)->core.loop && pid > 0, VOW_EINVAL);
    struct vow__child_impl *ci = VOW__IMPL(child, c);
    vow_loop *l = ci->core.loop;
    if (ci->active && ci->pid == pid)
        return 0;
    if (ci->active)
        vow_child_stop(c);
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD ? -ESRCH : -errno;
    int r;
    int fd = use_pidfd() ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (fd >= 0) {
        ci->core.fd = fd;
        r = vow__io_core_start(&ci->core, VOW_READABLE);
        if (r < 0) {
            close(fd);
            ci->core.fd = -1;
            return r;
        }
    } else {
        if (use_pidfd() && errno == ESRCH)
            return -ESRCH;
        r = fallback_start(l, ci);
        if (r < 0)
            return r;
    }
    ci->pid = pid;
    ci->active = 1;
    l->n_child++;
    l->active++;
    return 0;
}

int vow_child_stop(vow_child *c)
{
    vow__check(c && VOW__IMPL(child, c)->core.loop, VOW_EINVAL);
    struct vow__child_impl *ci = VOW__IMPL(child, c);
    if (ci->active)
        child_detach(ci);
    return 0;
}
