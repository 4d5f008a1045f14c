/* SPDX-License-Identifier: MIT */
/*
 * Echo benchmark driver: starts an echo server (the command after "--", which prints
 * "port=N"), pinned to one core, and drives it from another core with a raw-epoll
 * load generator: C connections doing ping-pong with SIZE-byte messages for SECONDS.
 * Checks every echoed byte, then reports requests/s and the server's CPU time per
 * request (all its threads, from /proc/<pid>/task/<tid>/schedstat, in nanoseconds) in
 * one workload= line, for the first ECHO_COLD_SECONDS (default 0.5 s) after the
 * connections are up (cold_us_per_req: first requests in a fresh server) and for the
 * rest of the run (warm_us_per_req).
 *   usage: echo_bench IMPL SIZE CONNS SECONDS -- SERVER-ARGV...
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct client {
    int fd;
    size_t sent;     /* bytes of the current message written */
    size_t got;      /* bytes of its echo read */
    unsigned seq;    /* message number, varies the payload */
    int out;         /* EPOLLOUT is in the interest set */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % n, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

/* CPU time of every thread of pid so far, in nanoseconds, or -1. */
static long long cpu_ns(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[sizeof(e->d_name) + 64];
        snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p, "r");
        unsigned long long ns;
        if (!f)
            continue; /* the thread just exited */
        if (fscanf(f, "%llu", &ns) == 1)
            sum += (long long)ns;
        fclose(f);
    }
    closedir(d);
    return sum;
}

static long peak_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static unsigned char pattern(unsigned seq, size_t i)
{
    return (unsigned char)((seq * 131u + i * 7u) % 251u);
}

/* Sends what is left of c's message; watches for writability only while some is left. */
static int send_rest(int ep, struct client *c, int idx, unsigned char *msg, size_t size)
{
    for (size_t i = c->sent; i < size; i++)
        msg[i] = pattern(c->seq, i);
    ssize_t w = send(c->fd, msg + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN)
        return -1;
    if (w > 0)
        c->sent += (size_t)w;
    int want = c->sent < size;
    if (want == c->out)
        return 0;
    c->out = want;
    struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0),
                              .data.u32 = (uint32_t)idx };
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

int main(int argc, char **argv)
{
    if (argc < 7 || strcmp(argv[5], "--") != 0) {
        fprintf(stderr, "usage: %s IMPL SIZE CONNS SECONDS -- SERVER-ARGV...\n", argv[0]);
        return 2;
    }
    const char *impl = argv[1];
    size_t size = strtoul(argv[2], NULL, 10);
    int conns = atoi(argv[3]);
    double seconds = strtod(argv[4], NULL);
    if (size == 0 || conns <= 0 || seconds <= 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);

    int out[2];
    if (pipe(out) < 0)
        return 1;
    int pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        pin(0);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execvp(argv[6], argv + 6);
        _exit(127);
    }
    close(out[1]);
    pin(1);
    char line[64] = { 0 };
    size_t ln = 0;
    while (ln < sizeof(line) - 1) {
        ssize_t r = read(out[0], line + ln, 1);
        if (r <= 0 || line[ln] == '\n')
            break;
        ln++;
    }
    int port = 0;
    if (sscanf(line, "port=%d", &port) != 1) {
        fprintf(stderr, "echo_bench: %s: no port line\n", impl);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct client *cs = calloc((size_t)conns, sizeof(*cs));
    unsigned char *msg = malloc(size), *in = malloc(size);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(cs[i].fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            perror("echo_bench: connect");
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return 1;
        }
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }

    const char *cv = getenv("ECHO_COLD_SECONDS");
    double cold_s = cv ? strtod(cv, NULL) : 0.5;
    if (!(cold_s > 0 && cold_s < seconds))
        cold_s = seconds / 4;
    long long cpu0 = cpu_ns(pid), cpu_cold = -1, req_cold = 0;
    double t0 = now_s(), end = t0 + seconds, last_progress = t0, t_cold = t0 + cold_s;
    long long requests = 0, bad = 0;
    for (int i = 0; i < conns; i++)
        if (send_rest(ep, &cs[i], i, msg, size) < 0)
            bad++;
    struct epoll_event evs[64];
    while (!bad && now_s() < end) {
        int n = epoll_wait(ep, evs, 64, 100);
        if (cpu_cold < 0 && now_s() >= t_cold) {
            cpu_cold = cpu_ns(pid);
            req_cold = requests;
            t_cold = now_s();
        }
        if (n == 0 && now_s() - last_progress > 5) {
            fprintf(stderr, "echo_bench: %s: no progress for 5 s\n", impl);
            bad++;
        }
        for (int e = 0; e < n && !bad; e++) {
            int idx = (int)evs[e].data.u32;
            struct client *c = &cs[idx];
            if ((evs[e].events & EPOLLOUT) && c->sent < size && send_rest(ep, c, idx, msg, size) < 0)
                bad++;
            while (!bad && c->got < c->sent) {
                ssize_t r = recv(c->fd, in, c->sent - c->got, 0);
                if (r <= 0) {
                    if (r == 0 || errno != EAGAIN)
                        bad++;
                    break;
                }
                for (ssize_t i = 0; i < r; i++)
                    if (in[i] != pattern(c->seq, c->got + (size_t)i))
                        bad++;
                c->got += (size_t)r;
            }
            if (!bad && c->got == size) {
                requests++;
                last_progress = now_s();
                c->seq++;
                c->sent = c->got = 0;
                if (send_rest(ep, c, idx, msg, size) < 0)
                    bad++;
            }
        }
    }
    double elapsed = now_s() - t0;
    long long cpu1 = cpu_ns(pid);
    long rss = peak_rss_kb(pid);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < conns; i++)
        close(cs[i].fd);
    close(ep);
    free(cs);
    free(msg);
    free(in);

    if (bad || req_cold == 0 || requests == req_cold || cpu0 < 0 || cpu_cold < 0 || cpu1 < 0) {
        fprintf(stderr, "echo_bench: %s: %lld errors, %lld requests (%lld cold)\n", impl, bad,
                requests, req_cold);
        return 1;
    }
    printf("workload=echo_%zu impl=%s n=%lld seconds=%.3f ops_per_s=%.0f "
           "cold_us_per_req=%.3f warm_us_per_req=%.3f warm_ops_per_s=%.0f peak_rss_kib=%ld\n",
           size, impl, requests, elapsed, (double)requests / elapsed,
           (double)(cpu_cold - cpu0) / 1e3 / (double)req_cold,
           (double)(cpu1 - cpu_cold) / 1e3 / (double)(requests - req_cold),
           (double)(requests - req_cold) / (t0 + elapsed - t_cold), rss);
    return 0;
}
