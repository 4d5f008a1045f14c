/* SPDX-License-Identifier: MIT */
/*
 * A program built outside libvow's tree against an installed libvow, with nothing
 * but `pkg-config vow`: one side of a socket pair writes "ping", the other reads it
 * exactly under a timeout, vow_all gathers both, and vow_notify reports the result.
 * Exits 0 if the bytes arrived and the loop closed clean.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <vow.h>
#include <vow/bridge.h>
#include <vow/io.h>

static void done(void *user_data, int code, const vow_val *value)
{
    (void)value;
    *(int *)user_data = code == 0 ? 1 : code;
}

int main(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    if (vow_fd_nonblock(sv[0]) != 0 || vow_fd_nonblock(sv[1]) != 0)
        return 1;
    vow_loop *l = vow_loop_new();
    if (!l)
        return 1;
    char buf[4] = {0};
    vow *both[2] = {
        vow_write_all(l, sv[0], "ping", 4),
        vow_timeout(vow_read_exact(l, sv[1], buf, sizeof(buf)), 5000),
    };
    int result = 0;
    if (vow_notify(vow_all(l, both, 2), done, &result) != 0)
        return 1;
    if (vow_loop_run(l, VOW_RUN_DEFAULT) < 0)
        return 1;
    vow_fd_close(sv[0]);
    vow_fd_close(sv[1]);
    int closed = vow_loop_close(l);
    printf("core: %s, read \"%.4s\", close %d\n", result == 1 ? "fulfilled" : vow_strerror(result),
           buf, closed);
    return result == 1 && memcmp(buf, "ping", 4) == 0 && closed == 0 ? 0 : 1;
}
