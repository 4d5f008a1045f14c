/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers: a counting allocator with failure injection (installed through
 * vow_replace_allocator), so every test can end with "0 live allocations", and the
 * cmocka includes in the order cmocka needs.
 */
#ifndef VOW_TESTUTIL_H
#define VOW_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>

#include "vow.h"

/* Live allocations made through libvow, and the failure trigger: when fail_at > 0,
 * the fail_at-th allocation from now on returns NULL (once). */
static atomic_long tu_live;
static atomic_long tu_count;
static atomic_long tu_fail_at;

static void *tu_fail_check(void)
{
    long n = atomic_fetch_add(&tu_count, 1) + 1;
    long k = atomic_load(&tu_fail_at);
    if (k > 0 && n == k)
        return NULL;
    return (void *)1;
}

static void *tu_malloc(size_t n)
{
    if (!tu_fail_check())
        return NULL;
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&tu_live, 1);
    return p;
}

static void *tu_calloc(size_t c, size_t n)
{
    if (!tu_fail_check())
        return NULL;
    void *p = calloc(c, n);
    if (p)
        atomic_fetch_add(&tu_live, 1);
    return p;
}

static void *tu_realloc(void *old, size_t n)
{
    if (!tu_fail_check())
        return NULL;
    void *p = realloc(old, n);
    if (p && !old)
        atomic_fetch_add(&tu_live, 1);
    return p;
}

static void tu_free(void *p)
{
    if (p)
        atomic_fetch_sub(&tu_live, 1);
    free(p);
}

/* Call once in main() before any loop exists. */
static inline void tu_install_allocator(void)
{
    int r = vow_replace_allocator(tu_malloc, tu_realloc, tu_calloc, tu_free);
    (void)r;
}

static inline long tu_live_allocations(void)
{
    return atomic_load(&tu_live);
}

/* Fail the k-th allocation from now (k >= 1); 0 disarms. */
static inline void tu_fail_nth(long k)
{
    atomic_store(&tu_count, 0);
    atomic_store(&tu_fail_at, k);
}

/* How many allocations were made since the last tu_fail_nth(). */
static inline long tu_alloc_count(void)
{
    return atomic_load(&tu_count);
}

#endif /* VOW_TESTUTIL_H */
