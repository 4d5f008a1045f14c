/* SPDX-License-Identifier: MIT */
/*
 * Private seams of the promise-returning I/O layer (io.c, stream.c, net.c,
 * process.c): one fd operation machine that every fd-based vow is built on.
 */
#ifndef VOW_IO_INT_H
#define VOW_IO_INT_H

#include "base.h"
#include "vow/io.h"

#include <stdbool.h>
#include <sys/socket.h>

/*
 * A watch on an fd for one operation. When another started vow_io already watches
 * fd, the reactor refuses a second one (VOW_EEXIST), so the watch falls back to a
 * close-on-exec duplicate of fd: epoll and poll treat it as its own entry.
 */
struct vow__watch {
    vow_io w;   /* the reactor handle, data = the owner */
    int wfd;    /* fd being watched (fd or our duplicate), -1 when stopped */
    bool dup;   /* wfd is our duplicate and must be closed on stop */
};

/* Starts (or re-arms) the watch for events; 0 or a negative code. */
int vow__watch_start(vow_loop *l, struct vow__watch *wt, int fd, unsigned events,
                     vow_io_fn cb, void *data);
/* Stops the watch and closes a duplicate; idempotent. */
void vow__watch_stop(struct vow__watch *wt);

/* The kinds of fd operation the shared machine runs. */
enum vow__fdop_kind {
    VOW__OP_READABLE,
    VOW__OP_WRITABLE,
    VOW__OP_READ,
    VOW__OP_READ_EXACT,
    VOW__OP_ACCEPT,
    VOW__OP_CONNECT
};

/*
 * Starts an operation of the given kind on fd. For VOW__OP_CONNECT, fd is a socket
 * whose non-blocking connect() returned EINPROGRESS: the operation owns it (closes
 * it on failure or cancellation, hands it over on success). NULL on out-of-memory
 * (a CONNECT fd is closed then too).
 */
vow *vow__fdop(vow_loop *l, int kind, int fd, void *buf, size_t len);

/* A non-blocking connect to sa (net.c): a vow of the connected fd, NULL on OOM. */
vow *vow__connect_addr(vow_loop *l, const struct sockaddr *sa, socklen_t len);
/* Connects to a host name resolved on the thread pool (connect.c). */
vow *vow__tcp_connect_name(vow_loop *l, const char *host, int port);
struct addrinfo;
/* Races the stream addresses of ai (borrowed: copied) as RFC 8305 says (connect.c). */
vow *vow__connect_addrinfo(vow_loop *l, const struct addrinfo *ai);

/* A file, directory or block device: no readiness, so fd operations refuse it with
 * VOW_EFILE on every backend (vow/fs.h is the way to them). */
bool vow__fd_no_readiness(int fd);

#endif /* VOW_IO_INT_H */
