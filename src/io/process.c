/* SPDX-License-Identifier: MIT */
/*
 * Child processes with optional stdio pipes and a vow of their exit status.
 * posix_spawn (vfork-style in glibc) keeps
 * spawning cheap and safe in threaded programs; the reactor's vow_child reaps.
 */
#include "io_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The wait for one child. Like the fd operations it holds no reference to p. */
struct child_op {
    vow *p;          /* borrowed; NULL once cancelled with kill-on-cancel */
    vow_child c;     /* the reactor's wait, data = this */
    int pid;         /* the child */
    bool kill;       /* VOW_SPAWN_KILL_ON_CANCEL */
};

static void child_exit(vow_child *c, int pid, int exit_status, int term_signal)
{
    struct child_op *op = c->data;
    (void)pid;
    vow *p = op->p;
    vow__free(op);
    if (p)
        vow_resolve(p, vow_val_num(term_signal ? 256 + term_signal : exit_status));
}

static void child_abort(void *ctx, vow *p)
{
    struct child_op *op = ctx;
    (void)p;
    if (op->kill) {
        /* Keep waiting so the killed child is reaped rather than left a zombie. */
        op->p = NULL;
        kill(op->pid, SIGKILL);
        return;
    }
    vow_child_stop(&op->c);
    vow__free(op);
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Starts the wait for a running child: 0 and the exit vow in *ret, or a negative code. */
static int watch_child(vow_loop *l, int pid, bool kill_on_cancel, vow **ret)
{
    vow *p = vow_pending(l);
    if (!p)
        return VOW_ENOMEM;
    struct child_op *op = vow__malloc(sizeof(*op));
    if (!op) {
        vow_unref(p);
        return VOW_ENOMEM;
    }
    *op = (struct child_op){ .p = p, .pid = pid, .kill = kill_on_cancel };
    int r = vow_child_init(l, &op->c, child_exit);
    if (r < 0)
        goto fail;
    op->c.data = op;
    r = vow_child_start(&op->c, pid);
    if (r < 0)
        goto fail;
    r = vow_on_cancel_named(p, child_abort, op, "child wait");
    if (r < 0) {
        vow_child_stop(&op->c);
        goto fail;
    }
    *ret = p;
    return 0;
fail:
    vow__free(op);
    vow_unref(p);
    return r;
}

int vow_spawn(vow_loop *l, const char *const argv[], unsigned flags, vow_process *ret)
{
    vow__check(l && argv && argv[0] && ret, VOW_EINVAL);
    vow__check((flags & ~0x3fu) == 0, VOW_EINVAL);
    /* posix_spawn reports a failed exec only where the child shares our memory until
     * exec (glibc's clone(CLONE_VFORK)); emulators like Valgrind turn that into a
     * fork and the failure would show up as exit status 127 instead, so a path is
     * checked up front. */
    if (strchr(argv[0], '/') && access(argv[0], X_OK) < 0)
        return -errno;
    int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
    const unsigned pipe_flag[3] = { VOW_SPAWN_STDIN, VOW_SPAWN_STDOUT, VOW_SPAWN_STDERR };
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int r = 0;
    int pid = -1;
    for (int i = 0; i < 3; i++) {
        if (!(flags & pipe_flag[i]))
            continue;
        if (pipe2(pipes[i], O_CLOEXEC) < 0) {
            r = -errno;
            goto out_pipes;
        }
        /* Our end: [1] for stdin, [0] for stdout/stderr. */
        r = vow_fd_nonblock(pipes[i][i == 0 ? 1 : 0]);
        if (r < 0)
            goto out_pipes;
    }
    r = -posix_spawn_file_actions_init(&fa);
    if (r < 0)
        goto out_pipes;
    r = -posix_spawnattr_init(&attr);
    if (r < 0)
        goto out_fa;
    for (int i = 0; i < 3 && r == 0; i++) {
        if (flags & pipe_flag[i])
            r = -posix_spawn_file_actions_adddup2(&fa, pipes[i][i == 0 ? 0 : 1], i);
        else if (flags & VOW_SPAWN_NULL_STDIO)
            r = -posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
                                                  i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    /* The loop may block or catch signals for its own handling; the child must not
     * inherit that. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (r == 0)
        r = -posix_spawnattr_setsigmask(&attr, &none);
    if (r == 0)
        r = -posix_spawnattr_setsigdefault(&attr, &all);
    short sflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (flags & VOW_SPAWN_SETPGROUP) {
        sflags |= POSIX_SPAWN_SETPGROUP;
        if (r == 0)
            r = -posix_spawnattr_setpgroup(&attr, 0);
    }
    if (r == 0)
        r = -posix_spawnattr_setflags(&attr, sflags);
    if (r == 0) {
        pid_t cpid;
        r = -posix_spawnp(&cpid, argv[0], &fa, &attr, (char *const *)(uintptr_t)argv,
                          environ);
        if (r == 0)
            pid = cpid;
    }
    posix_spawnattr_destroy(&attr);
out_fa:
    posix_spawn_file_actions_destroy(&fa);
    if (r < 0)
        goto out_pipes;
    vow *exited = NULL;
    r = watch_child(l, pid, (flags & VOW_SPAWN_KILL_ON_CANCEL) != 0, &exited);
    if (r < 0) {
        /* Nobody could ever reap it otherwise; it dies at once. */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto out_pipes;
    }
    for (int i = 0; i < 3; i++) {
        /* The child's ends belong to the child now. */
        if (pipes[i][i == 0 ? 0 : 1] >= 0)
            close(pipes[i][i == 0 ? 0 : 1]);
    }
    ret->pid = pid;
    ret->stdin_fd = pipes[0][1];
    ret->stdout_fd = pipes[1][0];
    ret->stderr_fd = pipes[2][0];
    ret->exited = exited;
    return 0;
out_pipes:
    for (int i = 0; i < 3; i++)
        close_pair(pipes[i]);
    return r;
}
