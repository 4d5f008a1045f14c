/* SPDX-License-Identifier: MIT */
/*
 * TCP and Unix stream sockets: listen, accept, connect, shutdown. Addresses here are
 * numeric, so no call blocks the loop on a name lookup; vow_tcp_connect hands a host
 * name to connect.c, which resolves it on the thread pool. Every socket is created
 * non-blocking and close-on-exec in one syscall.
 */
#include "io_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr_parse(const char *path, struct sockaddr_un *un, socklen_t *ret_len)
{
    vow__check(path && path[0], VOW_EINVAL);
    size_t n = strlen(path);
    vow__check(n < sizeof(un->sun_path), VOW_EINVAL);
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int backlog)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (sa->sa_family != AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, sa, len) < 0 || listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int vow_tcp_listen(const char *host, int port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int r = vow__inet_parse(host, port, &ss, &len);
    if (r < 0)
        return r;
    return listen_on((struct sockaddr *)&ss, len, backlog);
}

int vow_unix_listen(const char *path, int backlog)
{
    struct sockaddr_un un;
    socklen_t len;
    int r = unix_addr_parse(path, &un, &len);
    if (r < 0)
        return r;
    /* A stale socket file from an earlier run would make bind fail; anything that is
     * not a socket is left alone, so bind reports EADDRINUSE for it. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return listen_on((struct sockaddr *)&un, len, backlog);
}

int vow_sock_port(int fd)
{
    vow__check(fd >= 0, VOW_EINVAL);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return VOW_EINVAL;
}

vow *vow_accept(vow_loop *l, int listen_fd)
{
    if (!l)
        return NULL;
    if (listen_fd < 0)
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    return vow__fdop(l, VOW__OP_ACCEPT, listen_fd, NULL, 0);
}

/* Starts a non-blocking connect; the fd operation owns the socket from here on. */
vow *vow__connect_addr(vow_loop *l, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vow_rejected(l, -errno, vow_val_none());
    if (sa->sa_family != AF_UNIX) {
        /* Request/response traffic is the common case; Nagle would add a delay. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    int r;
    do
        r = connect(fd, sa, len);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        vow *p = vow_resolved(l, vow_val_num(fd));
        if (!p)
            close(fd);
        return p;
    }
    /* A Unix socket's EAGAIN means a full backlog, not a connect in progress. */
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return vow_rejected(l, -e, vow_val_none());
    }
    return vow__fdop(l, VOW__OP_CONNECT, fd, NULL, 0);
}

vow *vow_tcp_connect(vow_loop *l, const char *host, int port)
{
    if (!l)
        return NULL;
    struct sockaddr_storage ss;
    socklen_t len;
    int r = vow__inet_parse(host, port, &ss, &len);
    /* Not a numeric address: a host name, resolved on the thread pool (connect.c). */
    if (r < 0 && host && host[0] && port > 0 && port <= 65535)
        return vow__tcp_connect_name(l, host, port);
    if (r < 0 || port == 0)
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    return vow__connect_addr(l, (struct sockaddr *)&ss, len);
}

vow *vow_unix_connect(vow_loop *l, const char *path)
{
    if (!l)
        return NULL;
    struct sockaddr_un un;
    socklen_t len;
    if (unix_addr_parse(path, &un, &len) < 0)
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    return vow__connect_addr(l, (struct sockaddr *)&un, len);
}

int vow_shutdown_write(int fd)
{
    vow__check(fd >= 0, VOW_EINVAL);
    return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}
