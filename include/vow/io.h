/* SPDX-License-Identifier: MIT */
/*
 * Promise-returning I/O on a libvow loop: fd readiness, byte streams on non-blocking
 * fds, a line reader, TCP and Unix sockets, child processes, signals and a ticker.
 * Regular files are in vow/fs.h.
 * Every operation starts at once and returns a vow (a new reference). Loop thread only.
 */
#ifndef VOW_IO_H
#define VOW_IO_H

#include <stddef.h>
#include <stdint.h>

#include "vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Rules shared by every vow-returning call below:
 *
 * - The call returns a new reference, or NULL only on out-of-memory. Any other
 *   failure (bad argument, a syscall error) is a rejected vow: VOW_EINVAL or -errno.
 * - Cancelling the vow (vow_cancel, vow_timeout, a race lost) withdraws the
 *   operation: its watcher stops, fds it created are closed, and once vow_cancel
 *   returns the library never touches the caller's buffer again. Dropping your last
 *   reference to the vow while it is pending does the same, also through wrappers
 *   (vow_timeout, race, all, ...): keep the vow, or a handler on it, for as long as
 *   you want the work done. A reference alone does not keep it from being
 *   cancelled when its last consumer is (docs/reference/vow.md, Cancellation).
 * - Buffers are the caller's and must stay valid until the vow settles or is
 *   cancelled. Bytes already transferred when an operation is withdrawn are lost to
 *   the caller (except for vow_lines, which never loses data).
 * - fds must be non-blocking (vow_fd_nonblock); a blocking fd would stall the loop.
 * - Files have no readiness (poll calls them always ready, and a read of a slow disk
 *   would stall the loop): the fd operations below reject a regular file, a
 *   directory or a block device with VOW_EFILE, on every backend. Use vow/fs.h,
 *   which runs file system calls on the thread pool.
 * - Waiting for an fd that another started vow_io on the loop already watches works:
 *   the operation then watches a private duplicate of the fd.
 */

/* Sets O_NONBLOCK on fd (for fds you did not get from this API). 0 or -errno. */
VOW_API int vow_fd_nonblock(int fd);

/* Closes fd; 0 or -errno (-EBADF). EINTR counts as closed (Linux semantics). */
VOW_API int vow_fd_close(int fd);

/* ------------------------------------------------------------ readiness */

/* Fulfils with the event mask (VOW_READABLE/VOW_WRITABLE, plus VOW_ERROR or
 * VOW_HANGUP if the fd reported them) once fd is readable / writable. */
VOW_API vow *vow_readable(vow_loop *l, int fd);
VOW_API vow *vow_writable(vow_loop *l, int fd);

/* ---------------------------------------------------------- byte streams */

/* Reads at most len (> 0) bytes into buf. Fulfils with the count (num), 0 at EOF.
 * Rejects with -errno (-ECONNRESET, ...). */
VOW_API vow *vow_read(vow_loop *l, int fd, void *buf, size_t len);

/* Reads exactly len bytes into buf. Fulfils with len. Rejects with VOW_EOF if the
 * stream ends first, with the number of bytes read in detail.num, or -errno. */
VOW_API vow *vow_read_exact(vow_loop *l, int fd, void *buf, size_t len);

/*
 * Writes all len bytes of buf. Fulfils with len once the last byte is handed to the
 * kernel: this is the backpressure point, so wait for it before writing more.
 * Rejects with -errno (-EPIPE, -ECONNRESET). Sockets are written with MSG_NOSIGNAL;
 * for pipes, ignore SIGPIPE in your program to get -EPIPE instead of dying.
 */
VOW_API vow *vow_write_all(vow_loop *l, int fd, const void *buf, size_t len);

/*
 * Line reader: keeps an internal buffer, so bytes read past the end of one line are
 * kept for the next call and nothing read from the fd is ever lost, even when a
 * vow_lines_next is cancelled.
 */
typedef struct vow_lines vow_lines;

/* A reader on fd (borrowed: you still close it, after vow_lines_close). max_line caps
 * the buffered length of one line (0: 64 KiB). NULL on out-of-memory or bad args. */
VOW_API vow_lines *vow_lines_new(vow_loop *l, int fd, size_t max_line);

/*
 * The next line. Fulfils with a vow_val whose ptr is a NUL-terminated copy of the
 * line without its '\n' (drop = vow_free: the vow owns it; strdup it to keep it past
 * the vow). A last line without '\n' is delivered at EOF; after that, fulfils with
 * ptr == NULL (EOF). Only one call may be pending at a time.
 *   VOW_EBUSY   a previous vow_lines_next is still pending
 *   VOW_ENOSPC  a line is longer than max_line (the reader stays in this state)
 *   -errno      the read failed (the reader stays in this state)
 */
VOW_API vow *vow_lines_next(vow_lines *r);

/* Bytes buffered but not yet returned as lines. */
VOW_API size_t vow_lines_buffered(const vow_lines *r);

/* Frees the reader, cancelling a pending vow_lines_next. NULL is a no-op. */
VOW_API void vow_lines_close(vow_lines *r);

/*
 * A stream on a connected fd for read/write loops: its watcher stays registered from
 * one read to the next, so a loop that reads again from the previous read's handler
 * or coroutine costs the reactor no syscall (vow_read pays two epoll_ctl per wait).
 * One read and one write may be pending at the same time (full duplex). The fd is
 * borrowed: close it after vow_stream_close. Buffers follow the rules above.
 */
typedef struct vow_stream vow_stream;

/* NULL on out-of-memory, NULL l or fd < 0. */
VOW_API vow_stream *vow_stream_new(vow_loop *l, int fd);

/* As vow_read: fulfils with the count, 0 at EOF; -errno. VOW_EBUSY if a read is
 * already pending. NULL on out-of-memory or NULL s. */
VOW_API vow *vow_stream_read(vow_stream *s, void *buf, size_t len);

/* As vow_write_all: fulfils with len once all is handed to the kernel; -errno (detail:
 * bytes written). VOW_EBUSY if a write is already pending. */
VOW_API vow *vow_stream_write(vow_stream *s, const void *buf, size_t len);

/* Cancels pending operations and frees the stream. NULL is a no-op. */
VOW_API void vow_stream_close(vow_stream *s);

/* --------------------------------------------------------------- sockets */

/*
 * A listening TCP socket on a numeric address ("127.0.0.1", "::1", "0.0.0.0"; no
 * name lookup) and port (0: ephemeral), non-blocking and close-on-exec, with
 * SO_REUSEADDR. Returns the fd, or VOW_EINVAL (bad address) or -errno.
 */
VOW_API int vow_tcp_listen(const char *host, int port, int backlog);

/* A listening Unix stream socket bound to path (unlinked first if it is a socket).
 * Returns the fd, or VOW_EINVAL (path too long) or -errno. */
VOW_API int vow_unix_listen(const char *path, int backlog);

/* The local port of a TCP socket, or -errno / VOW_EINVAL (not an inet socket). */
VOW_API int vow_sock_port(int fd);

/* Fulfils with a connected fd (num; non-blocking, close-on-exec, yours to close).
 * Rejects with -errno. */
VOW_API vow *vow_accept(vow_loop *l, int listen_fd);

/*
 * Connects to host and port (1..65535). A numeric address ("127.0.0.1", "::1") is
 * connected at once; anything else is a host name, resolved on the thread pool
 * (vow_getaddrinfo, vow/work.h), whose addresses are then tried Happy Eyeballs
 * style (RFC 8305): both families interleaved, a new attempt every 250 ms or as soon
 * as the previous one fails, the first connection wins and the others are closed.
 * Fulfils with the connected fd (num, non-blocking, close-on-exec, TCP_NODELAY,
 * yours to close). Rejects with the real -errno of the last attempt
 * (-ECONNREFUSED, -ENETUNREACH), a lookup error (VOW_EAI_NONAME, VOW_EAI_AGAIN, ...:
 * see vow_getaddrinfo), or VOW_EINVAL (NULL or empty host, port out of range).
 * Sockets are closed on failure and on cancellation; cancelling during the lookup
 * withdraws it.
 */
VOW_API vow *vow_tcp_connect(vow_loop *l, const char *host, int port);
VOW_API vow *vow_unix_connect(vow_loop *l, const char *path);

/* Shuts down the write side (the peer reads EOF). 0 or -errno. */
VOW_API int vow_shutdown_write(int fd);

/* -------------------------------------------------------- child processes */

enum vow_spawn_flag {
    VOW_SPAWN_STDIN = 1u << 0,          /* a pipe to the child's stdin */
    VOW_SPAWN_STDOUT = 1u << 1,         /* a pipe from the child's stdout */
    VOW_SPAWN_STDERR = 1u << 2,         /* a pipe from the child's stderr */
    VOW_SPAWN_KILL_ON_CANCEL = 1u << 3, /* cancelling the exit vow sends SIGKILL */
    VOW_SPAWN_NULL_STDIO = 1u << 4,     /* stdio not piped reads/writes /dev/null */
    VOW_SPAWN_SETPGROUP = 1u << 5       /* the child leads a new process group, so
                                           kill(-pid, sig) reaches its descendants */
};

typedef struct vow_process {
    int pid;       /* ro: the child's pid */
    int stdin_fd;  /* ro: write end of the child's stdin, or -1; yours to close */
    int stdout_fd; /* ro: read end of the child's stdout, or -1; yours to close */
    int stderr_fd; /* ro: read end of the child's stderr, or -1; yours to close */
    vow *exited;   /* ro: a new reference, fulfilled with the exit status (see below) */
} vow_process;

/*
 * Starts argv[0] (searched in PATH) with argv. The pipe ends in *ret are non-blocking
 * and close-on-exec; the child starts with default signal dispositions and an empty
 * signal mask. ret->exited fulfils (num) with the exit code (0..255) if the child
 * exited, or 256 + the signal number if a signal killed it; read it with
 * vow_exit_code/vow_exit_signal. The child is reaped by the loop.
 * Cancelling ret->exited stops waiting; with VOW_SPAWN_KILL_ON_CANCEL it also sends
 * SIGKILL and the loop keeps running until the child is reaped (no zombie), without
 * it the child is left to you.
 * Returns 0 and fills *ret, or (with *ret untouched and nothing left behind):
 *   VOW_EINVAL   NULL l/argv/ret, empty argv, unknown flags
 *   VOW_ENOMEM
 *   -errno       pipe or spawn failure (-ENOENT: no such program)
 */
VOW_API int vow_spawn(vow_loop *l, const char *const argv[], unsigned flags,
                      vow_process *ret);

/* The exit code (0..255) of a status from vow_process.exited, or -1 if a signal
 * killed the child. */
static inline int vow_exit_code(int64_t status)
{
    return status >= 0 && status < 256 ? (int)status : -1;
}
/* The signal that killed the child, or 0 if it exited. */
static inline int vow_exit_signal(int64_t status)
{
    return status >= 256 ? (int)(status - 256) : 0;
}

/* -------------------------------------------------------------- signals */

/* Fulfils with signum (num) at the next delivery of signum after the call. Rejects
 * with VOW_EINVAL for uncatchable signals. While pending, the signal's default action
 * is replaced by the loop's handling (as with vow_signal). */
VOW_API vow *vow_signal_wait(vow_loop *l, int signum);

/* ---------------------------------------------------------------- ticker */

/*
 * A clock that ticks every period_ms on the loop clock, without drift. Each
 * vow_ticker_next fulfils at the next tick with the tick count since the ticker
 * started (num, 1, 2, ...); ticks that pass with nobody waiting are counted, not
 * queued, so a slow consumer skips ahead instead of bursting. One pending call at a
 * time (VOW_EBUSY otherwise). The ticker keeps the loop alive only while a
 * vow_ticker_next is pending.
 */
typedef struct vow_ticker vow_ticker;
/* NULL on out-of-memory, NULL l or period_ms == 0. */
VOW_API vow_ticker *vow_ticker_new(vow_loop *l, uint64_t period_ms);
VOW_API vow *vow_ticker_next(vow_ticker *t);
/* Frees the ticker, cancelling a pending vow_ticker_next. NULL is a no-op. */
VOW_API void vow_ticker_close(vow_ticker *t);

/* Site tracking (see vow_debug_site in vow.h): each vow made here records your line. */
#ifdef VOW_TRACK_SITES
#define vow_readable(l, fd) VOW__SITE(vow_readable(l, fd))
#define vow_writable(l, fd) VOW__SITE(vow_writable(l, fd))
#define vow_read(l, fd, buf, len) VOW__SITE(vow_read(l, fd, buf, len))
#define vow_read_exact(l, fd, buf, len) VOW__SITE(vow_read_exact(l, fd, buf, len))
#define vow_write_all(l, fd, buf, len) VOW__SITE(vow_write_all(l, fd, buf, len))
#define vow_lines_next(r) VOW__SITE(vow_lines_next(r))
#define vow_stream_read(s, buf, len) VOW__SITE(vow_stream_read(s, buf, len))
#define vow_stream_write(s, buf, len) VOW__SITE(vow_stream_write(s, buf, len))
#define vow_accept(l, fd) VOW__SITE(vow_accept(l, fd))
#define vow_tcp_connect(l, host, port) VOW__SITE(vow_tcp_connect(l, host, port))
#define vow_unix_connect(l, path) VOW__SITE(vow_unix_connect(l, path))
#define vow_spawn(l, argv, flags, ret) VOW__SITE(vow_spawn(l, argv, flags, ret))
#define vow_signal_wait(l, signum) VOW__SITE(vow_signal_wait(l, signum))
#define vow_ticker_next(t) VOW__SITE(vow_ticker_next(t))
#endif

#ifdef __cplusplus
}
#endif
#endif /* VOW_IO_H */
