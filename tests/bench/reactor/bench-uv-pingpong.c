/* SPDX-License-Identifier: MIT */
/*
 * Peer for workload "pingpong" on libuv: the same socketpair bounce with uv_poll_t
 * readiness watchers and plain read/write. n = N round trips; each run makes and
 * closes its own socketpair and watchers.
 */
#include "bench.h"

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

static long trips, target;

static void on_readable(uv_poll_t *p, int status, int events)
{
    char b = 0;
    int fd;
    if (status < 0 || uv_fileno((uv_handle_t *)p, &fd) != 0 || read(fd, &b, 1) != 1)
        bench_fail("pingpong", "read");
    if (b == 'o' && ++trips == target) {
        uv_poll_stop(p);
        uv_poll_stop(p->data);
        return;
    }
    b = b == 'i' ? 'o' : 'i';
    if (write(fd, &b, 1) != 1)
        bench_fail("pingpong", "write");
}

static void pingpong(void *ctx, long n)
{
    uv_loop_t *loop = ctx;
    int sv[2];
    uv_poll_t a, b;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        bench_fail("pingpong", "socketpair");
    trips = 0;
    target = n;
    if (uv_poll_init(loop, &a, sv[0]) != 0 || uv_poll_init(loop, &b, sv[1]) != 0)
        bench_fail("pingpong", "uv_poll_init");
    a.data = &b;
    b.data = &a;
    if (uv_poll_start(&a, UV_READABLE, on_readable) != 0 ||
        uv_poll_start(&b, UV_READABLE, on_readable) != 0)
        bench_fail("pingpong", "uv_poll_start");
    if (write(sv[0], "i", 1) != 1)
        bench_fail("pingpong", "write");
    uv_run(loop, UV_RUN_DEFAULT);
    if (trips != target)
        bench_fail("pingpong", "wrong number of round trips");
    uv_close((uv_handle_t *)&a, NULL);
    uv_close((uv_handle_t *)&b, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 200000);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        bench_fail("pingpong", "uv_loop_init");
    bench_run("pingpong", "libuv", n, pingpong, &loop);
    if (uv_loop_close(&loop) != 0)
        bench_fail("pingpong", "uv_loop_close");
    return 0;
}
