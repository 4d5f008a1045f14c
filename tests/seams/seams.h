/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the seam tests (suite 'seams'): every case runs in a forked child of its
 * own, so a case that breaks the library (an operation left armed, a coroutine parked
 * for ever, a sanitizer abort on a use-after-free) fails alone and the parent goes on
 * with the next one. The child checks with SEAM_CHECK, which reports the first failed
 * check through its stderr (a pipe the parent reads) and exits; the parent turns that
 * report, a crash or a sanitizer exit status into a cmocka failure.
 */
#ifndef VOW_SEAMS_H
#define VOW_SEAMS_H

#include "testutil.h"

#include "vow/co.h"
#include "vow/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SEAM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEAM_ASAN 1
#endif
#endif

/* The bytes of a buffer the library must not touch any more (see seam_release). */
#define SEAM_GRAVE 0xDB

/* A case that has not finished after this long is stuck: a hang is a failure. */
#define SEAM_ALARM_SECONDS 30
#define SEAM_ALARM_SECONDS_VALGRIND 300

/* Pids the child started that must not outlive a failed case (a `sleep 1000`). */
static int seam_pids[8];
static int seam_npids;

static inline void seam_track_pid(int pid)
{
    if (seam_npids < (int)(sizeof(seam_pids) / sizeof(seam_pids[0])))
        seam_pids[seam_npids++] = pid;
}

/* Reports a failed check of the child and ends it at once: what the case left behind
 * (armed operations, live coroutines) is never cleaned up, so no exit handler runs
 * (no leak report for it), but the children it spawned are killed. */
static inline _Noreturn void seam_fail(const char *file, int line, const char *what)
{
    for (int i = 0; i < seam_npids; i++)
        kill(seam_pids[i], SIGKILL);
    fprintf(stderr, "seams: %s:%d: %s\n", file, line, what);
    fflush(stderr);
    _exit(1);
}

/* The child's assertion: cond must hold, else the case fails saying what. */
#define SEAM_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond))                                                                               \
            seam_fail(__FILE__, __LINE__, what " [" #cond "]");                                    \
    } while (0)

/* What the child is doing, for the report of a case that gets stuck. */
static const char *volatile seam_phase = "starting";

static inline void seam_set_phase(const char *what)
{
    seam_phase = what;
}

/* SIGALRM in the child: the case is stuck; say where (async-signal-safe). */
static void seam_on_alarm(int sig)
{
    (void)sig;
    for (int i = 0; i < seam_npids; i++)
        kill(seam_pids[i], SIGKILL);
    static const char head[] = "seams: stuck (no progress for the whole alarm) in: ";
    ssize_t n = write(2, head, sizeof(head) - 1);
    const char *ph = seam_phase;
    n = write(2, ph, strlen(ph));
    n = write(2, "\n", 1);
    (void)n;
    _exit(1);
}

static inline int seam_under_valgrind(void)
{
    return getenv("VOW_UNDER_VALGRIND") != NULL;
}

/*
 * Runs fn(arg) in a forked child and fails the calling cmocka test with what went
 * wrong there: the first failed SEAM_CHECK, or the crash (signal) with the sanitizer's
 * summary line, or an exit status a sanitizer or Valgrind gave. The child's stderr
 * goes to a pipe; the parent copies it to its own stderr when the case failed.
 */
static inline void seam_run(void (*fn)(void *arg), void *arg)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    /* Buffered output would be written twice, once by each process. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        /* Keep the TAP stream the parent's: the child writes nothing there. */
        int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (nul >= 0) {
            dup2(nul, 1);
            close(nul);
        }
        seam_npids = 0;
        signal(SIGALRM, seam_on_alarm);
        const char *a = getenv("VOW_SEAMS_ALARM");
        alarm(a                       ? (unsigned)atoi(a)
              : seam_under_valgrind() ? SEAM_ALARM_SECONDS_VALGRIND
                                      : SEAM_ALARM_SECONDS);
        fn(arg);
        /* exit, not _exit: leak checkers and coverage run at exit. */
        exit(0);
    }
    close(p[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap + 1);
    assert_non_null(out);
    for (;;) {
        ssize_t n = read(p[0], out + len, cap - len);
        if (n > 0) {
            len += (size_t)n;
            if (len == cap) {
                /* Keep the head (the report) and go on draining the rest. */
                char sink[4096];
                while (read(p[0], sink, sizeof(sink)) > 0)
                    ;
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    close(p[0]);
    out[len] = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strstr(out, "seams: ")) {
        free(out);
        return;
    }
    /* The first lines that say what happened: our report, the sanitizer's. */
    char why[1024] = "";
    const char *keys[] = {"seams: ", "SUMMARY: ", "ERROR: AddressSanitizer", "runtime error"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !why[0]; k++) {
        const char *s = strstr(out, keys[k]);
        if (s) {
            size_t n = strcspn(s, "\n");
            if (n >= sizeof(why))
                n = sizeof(why) - 1;
            memcpy(why, s, n);
            why[n] = '\0';
        }
    }
    fprintf(stderr, "%s", out);
    free(out);
    if (why[0])
        print_message("# %s\n", why);
    if (WIFSIGNALED(st))
        fail_msg("crashed with signal %d (%s)%s%s%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WTERMSIG(st) == SIGALRM ? " (stuck)" : "", why[0] ? ": " : "", why);
    if (why[0])
        fail_msg("%s", why);
    fail_msg("exit status %d (a sanitizer or Valgrind report is above)",
             WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ----------------------------------------------------- helpers for the child */

static inline void seam_socketpair(int fds[2])
{
    int r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
    SEAM_CHECK(r == 0, "socketpair");
}

/* Runs the ready work of l (microtasks, events that are already there) without
 * waiting: a few NOWAIT turns, since some work is deferred by one turn (a stream's
 * idle interest, a posted settlement). A timer or an fd that nothing makes ready
 * stays armed: vow_loop_alive(l) then says so. */
static inline void seam_drain(vow_loop *l)
{
    for (int i = 0; i < 4; i++) {
        int r = vow_loop_run(l, VOW_RUN_NOWAIT);
        SEAM_CHECK(r >= 0, "vow_loop_run(NOWAIT) failed");
        if (r == 0)
            break;
    }
}

/*
 * Runs l until done(arg) says so: the ready work first (VOW_RUN_ONCE waits for the
 * next event before it runs microtasks queued outside the loop, by code at top
 * level), then one blocking turn at a time, with pump(arg) (if any) before every
 * turn. Fails if the loop runs dry first.
 */
static inline void seam_run_while(vow_loop *l, int (*done)(void *arg), void (*pump)(void *arg),
                                  void *arg)
{
    for (int mode = VOW_RUN_NOWAIT; !done(arg);
         mode = mode == VOW_RUN_NOWAIT ? VOW_RUN_ONCE : VOW_RUN_NOWAIT) {
        if (pump)
            pump(arg);
        int r = vow_loop_run(l, mode);
        SEAM_CHECK(r >= 0, "vow_loop_run failed");
        if (r == 0 && !done(arg))
            seam_fail(__FILE__, __LINE__, "the loop ran dry before the awaited event");
    }
}

static inline int seam_flag_set(void *arg)
{
    return *(const int *)arg != 0;
}

static inline int seam_settled(void *arg)
{
    return vow_state(arg) != VOW_PENDING;
}

/* Runs l until *flag becomes non-zero. */
static inline void seam_run_until(vow_loop *l, int *flag)
{
    seam_run_while(l, seam_flag_set, NULL, flag);
}

/* Runs l until v is no longer pending. */
static inline void seam_wait(vow_loop *l, vow *v)
{
    seam_run_while(l, seam_settled, NULL, v);
}

/*
 * The caller is done with *buf (len bytes, from malloc) and the library must never
 * touch it again. Under AddressSanitizer it is freed, so a late read or write is
 * reported at the faulty call. Elsewhere it stays allocated, filled with SEAM_GRAVE,
 * until seam_bury checks that nothing wrote into it: freed memory may be unmapped
 * (a late write then fails with EFAULT instead of showing) or reused.
 */
static inline void seam_release(unsigned char **buf, size_t len, int *released)
{
    if (!*buf || *released)
        return;
    *released = 1;
#ifdef SEAM_ASAN
    free(*buf);
    *buf = NULL;
    (void)len;
#else
    memset(*buf, SEAM_GRAVE, len);
#endif
}

/* Frees *buf; one that was released must still hold SEAM_GRAVE only. */
static inline void seam_bury(unsigned char **buf, size_t len, int released)
{
    if (*buf && released)
        for (size_t i = 0; i < len; i++)
            if ((*buf)[i] != SEAM_GRAVE)
                seam_fail(__FILE__, __LINE__,
                          "the library wrote into the buffer after it was withdrawn");
    free(*buf);
    *buf = NULL;
}

/* Bytes waiting to be read on fd, without taking them. */
static inline long seam_peek(int fd)
{
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_PEEK | MSG_DONTWAIT);
    return n < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno) : (long)n;
}

/* Reads everything waiting on fd; returns the count. */
static inline long seam_drain_fd(int fd)
{
    char tmp[65536];
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            total += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    return total;
}

#endif /* VOW_SEAMS_H */
