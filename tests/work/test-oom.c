/* SPDX-License-Identifier: MIT */
/*
 * Failure paths of the work tier: an allocation-failure sweep over one scenario that
 * uses every kind of job (vow_work, files, a lookup, a connect by name), each step
 * waited for before the next so every run allocates in the same order; and fd
 * exhaustion (RLIMIT_NOFILE lowered in a child process), where every call rejects
 * with -EMFILE or a lookup error, and works again once an fd is free.
 */
#include "work-test.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

struct scenario {
    char path[128]; /* a file in the temporary directory */
    int lfd;        /* a listener on 127.0.0.1 */
    int port;       /* its port */
};

static int add_one(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    *ret = vow_val_num((int64_t)(intptr_t)arg + 1);
    return 0;
}

/*
 * Waits for p and judges it: 1 if it settled as wanted (fulfilled, and with num if
 * want_num >= 0), 0 if p is NULL or rejected with VOW_ENOMEM. Anything else fails
 * the test. *ret_num gets the number. Drops p.
 */
static int outcome(vow_loop *l, vow *p, int64_t want_num, int64_t *ret_num)
{
    if (!p)
        return 0;
    wt_wait(l, p);
    int ok = 1;
    if (vow_state(p) == VOW_REJECTED) {
        if (vow_code(p) != VOW_ENOMEM)
            fail_msg("rejected with %s", vow_err_name(vow_code(p)));
        ok = 0;
    } else {
        if (want_num >= 0)
            assert_int_equal(vow_value(p)->num, want_num);
        if (ret_num)
            *ret_num = vow_value(p)->num;
    }
    vow_unref(p);
    return ok;
}

static int scenario_steps(vow_loop *l, struct scenario *s)
{
    int64_t fd = -1;
    if (!outcome(l, vow_work(l, VOW_WORK_CPU, add_one, (void *)41, NULL), 42, NULL))
        return 0;
    if (!outcome(l, vow_fs_write_file(l, s->path, "sweep", 5), 5, NULL))
        return 0;
    if (!outcome(l, vow_fs_read_file(l, s->path), -1, NULL))
        return 0;
    if (!outcome(l, vow_fs_open(l, s->path, O_RDWR, 0), -1, &fd))
        return 0;
    int ok = outcome(l, vow_fs_read(l, (int)fd, 5, 0), -1, NULL) &&
             outcome(l, vow_fs_write(l, (int)fd, "SWEEP", 5, 0), 5, NULL) &&
             outcome(l, vow_fs_fstat(l, (int)fd), -1, NULL);
    /* Closing takes the fd whatever happens, even if the close job cannot be made. */
    ok = outcome(l, vow_fs_close(l, (int)fd), 0, NULL) && ok;
    if (!ok)
        return 0;
    if (!outcome(l, vow_getaddrinfo(l, "localhost", NULL, NULL), -1, NULL))
        return 0;
    int64_t c = -1;
    int r = outcome(l, vow_tcp_connect(l, "localhost", s->port), -1, &c);
    if (c >= 0)
        close((int)c);
    return r;
}

static int scenario(void *arg)
{
    struct scenario *s = arg;
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    if (vow_loop_set_unhandled(l, wt_quiet, NULL) < 0) {
        assert_int_equal(vow_loop_close(l), 0);
        return 0;
    }
    int complete = scenario_steps(l, s);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_loop_close(l), 0);
    /* Connections a failed run left in the listener's backlog. */
    int a;
    while ((a = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(a);
    unlink(s->path);
    return complete;
}

static void test_sweep(void **state)
{
    (void)state;
    char dir[64];
    wt_tmpdir(dir, sizeof(dir));
    struct scenario s;
    snprintf(s.path, sizeof(s.path), "%s/sweep", dir);
    s.lfd = vow_tcp_listen("127.0.0.1", 0, 64);
    assert_true(s.lfd >= 0);
    s.port = vow_sock_port(s.lfd);
    long points = tu_sweep(scenario, &s);
    print_message("# swept %ld allocation points\n", points);
    assert_true(points > 20);
    close(s.lfd);
    wt_rmdir(dir);
}

/* ---------------------------------------------------------- fd exhaustion */

static int child_wait(vow_loop *l, vow *p)
{
    while (vow_state(p) == VOW_PENDING)
        if (vow_loop_run(l, VOW_RUN_ONCE) <= 0 && vow_state(p) == VOW_PENDING)
            return 0;
    return 1;
}

/* The rejection code of p once settled (0 if fulfilled), or 1 if the loop ran dry;
 * drops p. */
static int child_code(vow_loop *l, vow *p)
{
    if (!p)
        return 2;
    int r = child_wait(l, p) ? vow_code(p) : 1;
    vow_unref(p);
    return r;
}

/* Exit status: 0, or the number of the check that failed. */
static int exhausted_child(const char *path, int port)
{
    vow_loop *l = vow_loop_new();
    if (!l)
        return 20;
    vow_loop_set_unhandled(l, wt_quiet, NULL);
    /* One job first, so the pool's threads exist; they need no fd. */
    if (child_code(l, vow_work(l, VOW_WORK_CPU, add_one, NULL, NULL)) != 0)
        return 21;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)tu_open_fds() + 16;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 22;
    int spare[64], n = 0;
    while (n < 64 && (spare[n] = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0)
        n++;
    if (n == 64 || errno != EMFILE)
        return 23;

    if (child_code(l, vow_fs_open(l, path, O_RDONLY, 0)) != -EMFILE)
        return 1;
    if (child_code(l, vow_fs_read(l, 0, 1, 0)) != -EMFILE)
        return 2;
    if (child_code(l, vow_fs_read_file(l, path)) != -EMFILE)
        return 3;
    if (child_code(l, vow_fs_write_file(l, path, "x", 1)) != -EMFILE)
        return 4;
    if (child_code(l, vow_tcp_connect(l, "127.0.0.1", port)) != -EMFILE)
        return 5;
    /* A lookup that cannot open /etc/hosts nor a socket fails, one way or another. */
    if (child_code(l, vow_getaddrinfo(l, "localhost", NULL, NULL)) >= 0)
        return 6;
    if (child_code(l, vow_tcp_connect(l, "localhost", port)) >= 0)
        return 7;
    /* With an fd free again, everything works. */
    close(spare[--n]);
    close(spare[--n]);
    vow *p = vow_fs_open(l, path, O_RDONLY, 0);
    if (!child_wait(l, p) || vow_state(p) != VOW_FULFILLED)
        return 8;
    int fd = (int)vow_value(p)->num;
    vow_unref(p);
    if (child_code(l, vow_fs_close(l, fd)) != 0)
        return 9;
    while (n > 0)
        close(spare[--n]);
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    if (vow_loop_close(l) != 0)
        return 10;
    return 0;
}

static void test_fd_exhaustion(void **state)
{
    (void)state;
    char dir[64], path[128];
    wt_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/file", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    int lfd = vow_tcp_listen("127.0.0.1", 0, 8);
    assert_true(lfd >= 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exit(exhausted_child(path, vow_sock_port(lfd)));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("child failed check %d", WEXITSTATUS(status));
    close(lfd);
    wt_rmdir(dir);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_fd_exhaustion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
