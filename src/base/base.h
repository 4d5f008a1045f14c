/* SPDX-License-Identifier: MIT */
/*
 * The base every tier of src/ shares: conventions, the allocation seam and error
 * helpers. Never installed, never seen by adapters. It includes the public vow.h
 * (the base and reactor tiers are built with VOW__LOOP_ONLY, so there it declares
 * the loop and its handles only).
 */
#ifndef VOW_BASE_H
#define VOW_BASE_H

#include "vow.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ------------------------------------------------------------ conventions */

/* Argument checks of public entry points: return err when cond does not hold. */
#define vow__check(cond, err)                                                              \
    do {                                                                                   \
        if (__builtin_expect(!(cond), 0))                                                  \
            return (err);                                                                  \
    } while (0)

#define vow__likely(x) __builtin_expect(!!(x), 1)
#define vow__unlikely(x) __builtin_expect(!!(x), 0)

#define vow__container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ------------------------------------------------------------------ alloc */

/* alloc.c: everything libvow allocates goes through these (NULL means VOW_ENOMEM). */
void *vow__malloc(size_t n);
void *vow__calloc(size_t count, size_t n);
void *vow__realloc(void *p, size_t n);
void vow__free(void *p);
/* Large blocks for slabs (src/vow/slab.c); size is passed back to vow__chunk_free. */
void *vow__chunk_alloc(size_t size);
void vow__chunk_free(void *p, size_t size);
/* Counts loops alive, so vow_replace_allocator can refuse while any exists. */
void vow__alloc_loop_count(int delta);

/* Fills *ss and *len from a numeric IPv4 or IPv6 address and a port (0..65535), for the
 * tiers that bind or connect (io, group). 0, or VOW_EINVAL (host NULL or not numeric,
 * port out of range). */
int vow__inet_parse(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len);

#endif /* VOW_BASE_H */
