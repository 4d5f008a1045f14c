/* SPDX-License-Identifier: MIT */
/*
 * Regular files: each call runs its system calls on the thread pool's FS lane
 * (vow/work.h) and returns a vow (a new reference) settled on the loop's thread.
 * Files never go through readiness: vow_read and the other fd operations of
 * vow/io.h reject a regular file with VOW_EFILE. Loop thread only.
 */
#ifndef VOW_FS_H
#define VOW_FS_H

#include <stddef.h>
#include <stdint.h>

#include "../vow.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Rules shared by every call below:
 *
 * - NULL means out of memory (or l is NULL), and nothing else; any other failure is
 *   a rejected vow: VOW_EINVAL for bad arguments, -errno for the system call's
 *   failure (-ENOENT, -EACCES, -EMFILE, ...), VOW_EQUEUEFULL when the pool's queue
 *   is full.
 * - Paths and buffers handed to a call are copied before it returns: free or reuse
 *   them at once. Data read comes back in a buffer owned by the vow's value
 *   (vow_fs_buf), so the library never writes into your memory from another thread.
 * - An fd handed to a call is duplicated before the call returns (the job works on
 *   its own close-on-exec duplicate), so you may close yours at once, even while the
 *   operation runs; the duplicate shares the file offset. vow_fs_close is the
 *   exception: it takes the fd.
 * - Cancelling the vow (vow_cancel, vow_timeout, a lost vow_race) or dropping your
 *   last reference to it while it is pending withdraws an operation that has not
 *   started: nothing happens to the file. One already running cannot be stopped:
 *   its effect happens (a rename is done, bytes are written) and its result is
 *   released on the loop thread (a buffer freed, an opened fd closed).
 * - Offsets: >= 0 reads or writes at that position (pread/pwrite) without moving
 *   the file offset; -1 uses and advances the file offset (read/write).
 */

/* What vow_fs_read and vow_fs_read_file fulfil with: vow_value(p)->ptr points to
 * one, owned by the value (freed when the vow lets go). */
typedef struct vow_fs_buf {
    char *data; /* ro: the bytes read, followed by a '\0' not counted in len */
    size_t len; /* ro: how many bytes were read */
} vow_fs_buf;

/* open(2) with flags (O_CLOEXEC is always added) and mode (for O_CREAT). Fulfils
 * with the fd (num), yours to close (vow_fs_close). */
VOW_API vow *vow_fs_open(vow_loop *l, const char *path, int flags, unsigned mode);

/* Closes fd on the pool (close(2) may block: flushing on network file systems,
 * freeing a deleted file's blocks). Consumes fd: it is closed even if the vow is
 * cancelled or dropped first (that only discards the result). Fulfils with 0;
 * rejects with -errno (-EIO; the fd is closed anyway; EINTR counts as closed). */
VOW_API vow *vow_fs_close(vow_loop *l, int fd);

/* Reads at most len (> 0) bytes, with one read(2)/pread(2). Fulfils with a
 * vow_fs_buf (len may be less than asked: 0 at end of file). */
VOW_API vow *vow_fs_read(vow_loop *l, int fd, size_t len, int64_t offset);

/* Writes all len bytes of buf (copied before the call returns). Fulfils with len
 * (num); rejects with -errno (-ENOSPC, ...) with the bytes written in detail.num. */
VOW_API vow *vow_fs_write(vow_loop *l, int fd, const void *buf, size_t len, int64_t offset);

/* stat(2) of path (following symbolic links) / fstat(2) of fd. Fulfils with a
 * `struct stat *` (vow_value(p)->ptr, owned by the value; include <sys/stat.h>). */
struct stat;
VOW_API vow *vow_fs_stat(vow_loop *l, const char *path);
VOW_API vow *vow_fs_fstat(vow_loop *l, int fd);

/* fsync(2). Fulfils with 0. */
VOW_API vow *vow_fs_fsync(vow_loop *l, int fd);

/* rename(2), unlink(2), mkdir(2). Each fulfils with 0. */
VOW_API vow *vow_fs_rename(vow_loop *l, const char *from, const char *to);
VOW_API vow *vow_fs_unlink(vow_loop *l, const char *path);
VOW_API vow *vow_fs_mkdir(vow_loop *l, const char *path, unsigned mode);

/* The whole content of path in one job (open, read to the end, close). Fulfils with
 * a vow_fs_buf. */
VOW_API vow *vow_fs_read_file(vow_loop *l, const char *path);

/*
 * Creates or truncates path (mode 0666 less the umask) and writes the len bytes of
 * buf (copied before the call returns), in one job. Fulfils with len (num). Not
 * atomic: a reader may see a partial file; for that, write a temporary name in the
 * same directory, vow_fs_fsync it if it must survive a crash, and vow_fs_rename it.
 * A close error (-EIO on some file systems) rejects it too.
 */
VOW_API vow *vow_fs_write_file(vow_loop *l, const char *path, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* VOW_FS_H */
