/* SPDX-License-Identifier: MIT */
/*
 * The part that servers on a loop group share (examples/echo_server --threads and
 * examples/echo_group): start the group with the stop signals blocked in its threads,
 * listen on 127.0.0.1, print "port=N" and "threads=N", then wait in sigsuspend. The
 * first SIGINT or SIGTERM (or SIGALRM after `seconds`) stops the group from the
 * handler (vow_group_stop is async-signal-safe); a second one exits at once (status
 * 130) without waiting for the stop. Returns the process's exit status.
 */
#ifndef EXAMPLES_GROUP_SERVE_H
#define EXAMPLES_GROUP_SERVE_H

#include <vow.h>
#include <vow/group.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static vow_group *serve_group;
static volatile sig_atomic_t serve_signals;

static void serve_on_signal(int sig)
{
    (void)sig;
    if (++serve_signals > 1)
        _exit(130);
    vow_group_stop(serve_group);
}

/* ready(g, arg), if given, runs once the group exists and before it listens (0 or an
 * error code); on_conn(l, fd, ctx) gets each connection on the loop that has it. */
static int serve_on_group(const char *name, const vow_group_opts *o, int port, unsigned flags,
                          double seconds, int (*ready)(vow_group *g, void *arg), void *arg,
                          vow_group_conn_fn on_conn, void *ctx)
{
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    int r = vow_group_new(o, &serve_group);
    if (r != 0) {
        fprintf(stderr, "%s: %s\n", name, vow_strerror(r));
        return 1;
    }
    r = ready ? ready(serve_group, arg) : 0;
    if (r == 0)
        r = vow_group_listen(serve_group, "127.0.0.1", port, 512, flags, on_conn, ctx);
    if (r < 0) {
        fprintf(stderr, "%s: listen: %s\n", name, vow_strerror(r));
        vow_group_close(serve_group);
        return 1;
    }
    printf("port=%d\nthreads=%u\n", r, vow_group_size(serve_group));
    fflush(stdout);
    struct sigaction sa = { .sa_handler = serve_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    if (seconds > 0)
        alarm((unsigned)(seconds + 0.999));
    while (serve_signals == 0)
        sigsuspend(&old);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    r = vow_group_close(serve_group);
    if (r != 0)
        fprintf(stderr, "%s: close: %s\n", name, vow_strerror(r));
    return r != 0;
}

#endif /* EXAMPLES_GROUP_SERVE_H */
