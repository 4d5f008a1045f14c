/* SPDX-License-Identifier: MIT */
/*
 * fd exhaustion at every fd-creating call: a workload that makes fds every way the
 * library does (a loop's epoll fd and eventfd, a listening socket, connect, accept, a
 * duplicate for a second watcher of one fd, spawn's pipes and pidfd, a second loop)
 * runs in a child process whose RLIMIT_NOFILE allows 0, 1, 2, ... more fds, until
 * one limit lets it finish. At each limit the call that meets EMFILE must fail
 * cleanly (NULL, -EMFILE or a rejected vow), and the child must end with every fd it
 * made closed, nothing allocated, no child process left unreaped, and no crash.
 */
#include "stress.h"

#include "vow/io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* In the child, a failed check exits with this status (cmocka is the parent's). */
#define CHILD_BAD 3
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fdlimit child: %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
            _exit(CHILD_BAD);                                                                      \
        }                                                                                          \
    } while (0)

/* A failure where fds ran out: EMFILE, as a code or a rejection. */
static int emfile(int code)
{
    return code == -EMFILE || code == -ENFILE;
}

static int code_of(vow_loop *l, vow *p)
{
    CHECK(p != NULL);
    while (vow_state(p) == VOW_PENDING) {
        int r = vow_loop_run(l, VOW_RUN_ONCE);
        CHECK(r > 0 || (r == 0 && vow_state(p) != VOW_PENDING));
    }
    return vow_code(p);
}

static void nop_io(vow_io *w, int fd, unsigned events)
{
    (void)w;
    (void)fd;
    (void)events;
}

/* Where the workload stopped: the fd-creating calls, in order. */
enum step { S_LOOP, S_LISTEN, S_CONNECT, S_ACCEPT, S_DUP, S_LOOP2, S_SPAWN, S_DONE, S_N };
static const char *step_name[S_N] = {
    "vow_loop_new",         "vow_tcp_listen",      "vow_tcp_connect", "vow_accept",
    "second watcher (dup)", "second vow_loop_new", "vow_spawn",       "none"};
static enum step stopped_at;

/* The workload; 1 if it completed, 0 if it stopped where fds ran out (cleanly), with
 * the step in stopped_at. */
static int workload(void)
{
    int complete = 0, lfd = -1, cfd = -1, afd = -1;
    stopped_at = S_LOOP;
    vow_loop *l2 = NULL;
    vow *p = NULL;
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    stopped_at = S_LISTEN;
    lfd = vow_tcp_listen("127.0.0.1", 0, 8);
    if (lfd < 0) {
        CHECK(emfile(lfd));
        goto out;
    }
    stopped_at = S_CONNECT;
    p = vow_tcp_connect(l, "127.0.0.1", vow_sock_port(lfd));
    int rc = code_of(l, p);
    if (rc < 0) {
        CHECK(emfile(rc));
        goto out;
    }
    cfd = (int)vow_value(p)->num;
    vow_unref(p);
    p = NULL;
    stopped_at = S_ACCEPT;
    p = vow_accept(l, lfd);
    rc = code_of(l, p);
    if (rc < 0) {
        CHECK(emfile(rc));
        goto out;
    }
    afd = (int)vow_value(p)->num;
    vow_unref(p);
    p = NULL;
    /* A second watcher of afd: the read, which must wait, watches a private duplicate. */
    stopped_at = S_DUP;
    vow_io w;
    CHECK(vow_io_init(l, &w, afd, nop_io) == 0);
    CHECK(vow_io_start(&w, VOW_WRITABLE) == 0);
    char byte = 0;
    p = vow_read(l, afd, &byte, 1);
    CHECK(write(cfd, "x", 1) == 1);
    rc = code_of(l, p);
    vow_io_stop(&w);
    if (rc < 0) {
        CHECK(emfile(rc));
        goto out;
    }
    CHECK(byte == 'x');
    vow_unref(p);
    p = NULL; /* the exit path below drops p: a second loop that cannot be made must not drop it twice */
    /* A second loop, kept while the first spawns. */
    stopped_at = S_LOOP2;
    l2 = vow_loop_new();
    if (!l2)
        goto out;
    /* A child with three pipes (and a pidfd, or the SIGCHLD fallback without one). */
    stopped_at = S_SPAWN;
    const char *argv[] = {"true", NULL};
    vow_process proc;
    rc = vow_spawn(l, argv, VOW_SPAWN_STDIN | VOW_SPAWN_STDOUT | VOW_SPAWN_STDERR, &proc);
    if (rc < 0) {
        p = NULL;
        CHECK(emfile(rc));
        goto out;
    }
    close(proc.stdin_fd);
    close(proc.stdout_fd);
    close(proc.stderr_fd);
    p = proc.exited;
    CHECK(code_of(l, p) == 0 && vow_value(p)->num == 0);
    vow_unref(p);
    p = NULL;
    CHECK(vow_loop_close(l2) == 0);
    l2 = NULL;
    complete = 1;
    stopped_at = S_DONE;
out:
    vow_unref(p);
    if (l2)
        CHECK(vow_loop_close(l2) == 0);
    if (afd >= 0)
        close(afd);
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    CHECK(vow_loop_close(l) == 0);
    return complete;
}

static int highest_fd(void)
{
    int hi = -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 1024;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != self && fd > hi)
            hi = fd;
    }
    closedir(d);
    return hi;
}

/* One child at one limit: 0 complete, 10 + the step where it stopped cleanly, anything
 * else a bug. */
static int run_child(int extra)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* New fds take the lowest free numbers: fill the holes below the highest open
         * fd, so that the limit leaves exactly `extra` numbers to the workload. */
        int hi = highest_fd();
        for (;;) {
            int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            CHECK(fd >= 0);
            if (fd > hi) {
                close(fd);
                break;
            }
        }
        long fds0 = tu_open_fds();
        struct rlimit rl, old;
        CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
        old = rl;
        rl.rlim_cur = (rlim_t)(hi + 1 + extra);
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        int complete = workload();
        /* Counting fds takes one (the /proc directory). */
        CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
        CHECK(tu_live_allocations() == 0);
        CHECK(tu_open_fds() == fds0);
        CHECK(stress_zombies() == 0);
        _exit(complete ? 0 : 10 + (int)stopped_at);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("child at %d extra fds died of signal %d", extra, WTERMSIG(st));
    return WEXITSTATUS(st);
}

static void test_every_limit(void **state)
{
    if (stress_valgrind()) {
        /* Valgrind keeps fds of its own just below the limit a program sets, so the
         * limits cannot be swept under it: memcheck the whole workload once instead. */
        assert_int_equal(workload(), 1);
        assert_int_equal(tu_live_allocations(), 0);
        stress_report("fdlimit", "under valgrind: the workload once, without a limit");
        return;
    }
    int rounds = (int)stress_n(1, 20);
    int extra = 0, limits = 0;
    int hits[S_N] = {0};
    for (int round = 0; round < rounds; round++) {
        for (extra = 0;; extra++) {
            int r = run_child(extra);
            if (r == 0)
                break;
            assert_true(r >= 10 && r < 10 + S_DONE);
            hits[r - 10]++;
            limits++;
            assert_true(extra < 200);
        }
    }
    char steps[256] = "";
    for (int k = 0; k < S_DONE; k++) {
        size_t n = strlen(steps);
        snprintf(steps + n, sizeof(steps) - n, "%s%s x%d", k ? ", " : "", step_name[k],
                 hits[k] / rounds);
    }
    stress_report("fdlimit",
                  "%d rounds, %d fd limits each: EMFILE met and handled cleanly "
                  "(no fd, allocation or zombie left) at %s; complete at %d extra fds",
                  rounds, limits / rounds, steps, extra);
    /* Every fd-creating call was reached by the limit at least once. */
    for (int k = 0; k < S_DONE; k++)
        assert_true(hits[k] > 0);
}

int main(void)
{
    tu_install_allocator();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
