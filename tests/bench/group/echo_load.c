/* SPDX-License-Identifier: MIT */
/*
 * Client load for the group's echo benchmark, from a process of its own: starts the
 * server (the command after "--", which prints "port=N"), unpinned, opens C
 * connections that each do ping-pong with SIZE-byte messages for SECONDS, checks
 * every echoed byte, then stops the server with SIGINT (it must exit 0). The first
 * second is reported apart (cold: the server's loops and stacks warming up) from the
 * rest (warm). The machine has 2 cores shared by server and client, so the client's
 * own CPU per request is reported too (client_cpu_us).
 *   usage: echo_load WORKLOAD IMPL SIZE CONNS SECONDS -- SERVER-ARGV...
 * prints: workload=W impl=I n=REQUESTS cold_s=C warm_s=W cold_rps=R warm_rps=R
 *         server_cpu_us=U client_cpu_us=U peak_rss_kib=K
 * cold_s and warm_s are seconds per request (the cost the shared harness compares).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct client {
    int fd;
    size_t sent;  /* bytes of the current message written */
    size_t got;   /* bytes of its echo read */
    unsigned seq; /* message number, varies the payload */
    int out;      /* EPOLLOUT is in the interest set */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of pid in clock ticks, or -1. */
static long long cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut, st;
    /* Fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
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
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = (uint32_t)idx};
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: %s WORKLOAD IMPL SIZE CONNS SECONDS -- SERVER-ARGV...\n", argv[0]);
        return 2;
    }
    const char *workload = argv[1];
    const char *impl = argv[2];
    size_t size = strtoul(argv[3], NULL, 10);
    int conns = atoi(argv[4]);
    double seconds = strtod(argv[5], NULL);
    if (size == 0 || conns <= 0 || seconds <= 1)
        return 2;
    signal(SIGPIPE, SIG_IGN);

    int out[2];
    if (pipe(out) < 0)
        return 1;
    int pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execvp(argv[7], argv + 7);
        _exit(127);
    }
    close(out[1]);
    char line[64] = {0};
    size_t ln = 0;
    while (ln < sizeof(line) - 1) {
        ssize_t r = read(out[0], line + ln, 1);
        if (r <= 0 || line[ln] == '\n')
            break;
        ln++;
    }
    int port = 0;
    if (sscanf(line, "port=%d", &port) != 1) {
        fprintf(stderr, "echo_load: %s: no port line\n", impl);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct client *cs = calloc((size_t)conns, sizeof(*cs));
    unsigned char *msg = malloc(size), *in = malloc(size);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(cs[i].fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            perror("echo_load: connect");
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return 1;
        }
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }

    long long cpu0 = cpu_ticks(pid);
    double self0 = self_cpu_s();
    double t0 = now_s(), end = t0 + seconds, last_progress = t0, t_cold = t0 + 1;
    long long requests = 0, cold_requests = -1, bad = 0;
    for (int i = 0; i < conns; i++)
        if (send_rest(ep, &cs[i], i, msg, size) < 0)
            bad++;
    struct epoll_event evs[64];
    double now = t0;
    while (!bad && (now = now_s()) < end) {
        if (cold_requests < 0 && now >= t_cold)
            cold_requests = requests;
        int n = epoll_wait(ep, evs, 64, 100);
        if (n == 0 && now_s() - last_progress > 5) {
            fprintf(stderr, "echo_load: %s: no progress for 5 s\n", impl);
            bad++;
        }
        for (int e = 0; e < n && !bad; e++) {
            int idx = (int)evs[e].data.u32;
            struct client *c = &cs[idx];
            if ((evs[e].events & EPOLLOUT) && c->sent < size &&
                send_rest(ep, c, idx, msg, size) < 0)
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
    double self_cpu = self_cpu_s() - self0;
    long long cpu1 = cpu_ticks(pid);
    long rss = peak_rss_kb(pid);
    kill(pid, SIGINT);
    int wst = 0;
    waitpid(pid, &wst, 0);
    for (int i = 0; i < conns; i++)
        close(cs[i].fd);
    close(ep);
    free(cs);
    free(msg);
    free(in);

    double cpu_s = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK);
    if (bad || cold_requests <= 0 || requests <= cold_requests) {
        fprintf(stderr, "echo_load: %s: %lld errors, %lld requests\n", impl, bad, requests);
        return 1;
    }
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        fprintf(stderr, "echo_load: %s: the server did not exit 0 on SIGINT\n", impl);
        return 1;
    }
    double cold_rps = (double)cold_requests / 1.0;
    double warm_rps = (double)(requests - cold_requests) / (elapsed - 1.0);
    printf("workload=%s impl=%s n=%lld cold_s=%.9f warm_s=%.9f cold_rps=%.0f warm_rps=%.0f "
           "server_cpu_us=%.2f client_cpu_us=%.2f peak_rss_kib=%ld\n",
           workload, impl, requests, 1.0 / cold_rps, 1.0 / warm_rps, cold_rps, warm_rps,
           cpu_s * 1e6 / (double)requests, self_cpu * 1e6 / (double)requests, rss);
    return 0;
}
