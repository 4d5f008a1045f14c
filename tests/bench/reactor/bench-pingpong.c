/* SPDX-License-Identifier: MIT */
/*
 * Workload "pingpong": one byte bounced N times over a socketpair, both ends watched
 * for readability on one loop; each callback reads the byte and writes it back.
 * n = N round trips; each run makes and closes its own socketpair. Peer: bench-uv-pingpong (uv_poll_t, the same readiness model).
 */
#include "bench.h"

#include <sys/socket.h>
#include <unistd.h>
#include <vow.h>

static long trips, target;

static void on_readable(vow_io *w, int fd, unsigned events)
{
    char b;
    if (read(fd, &b, 1) != 1)
        bench_fail("pingpong", "read");
    if (b == 'o' && ++trips == target) {
        vow_io_stop(w);
        vow_io_stop(w->data);
        return;
    }
    b = b == 'i' ? 'o' : 'i';
    if (write(fd, &b, 1) != 1)
        bench_fail("pingpong", "write");
}

static void pingpong(void *ctx, long n)
{
    vow_loop *l = ctx;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        bench_fail("pingpong", "socketpair");
    trips = 0;
    target = n;
    vow_io a, b;
    if (vow_io_init(l, &a, sv[0], on_readable) != 0 || vow_io_init(l, &b, sv[1], on_readable) != 0)
        bench_fail("pingpong", "vow_io_init");
    a.data = &b;
    b.data = &a;
    if (vow_io_start(&a, VOW_READABLE) != 0 || vow_io_start(&b, VOW_READABLE) != 0)
        bench_fail("pingpong", "vow_io_start");
    if (write(sv[0], "i", 1) != 1)
        bench_fail("pingpong", "write");
    if (vow_loop_run(l, VOW_RUN_DEFAULT) != 0)
        bench_fail("pingpong", "vow_loop_run");
    if (trips != target)
        bench_fail("pingpong", "wrong number of round trips");
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    long n = bench_n(argc, argv, 200000);
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("pingpong", "vow_loop_new");
    bench_run("pingpong", "libvow", n, pingpong, l);
    if (vow_loop_close(l) != 0)
        bench_fail("pingpong", "vow_loop_close");
    return 0;
}
