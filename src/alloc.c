/* SPDX-License-Identifier: MIT */
/*
 * The one allocation seam. jemalloc, when the build links it, replaces the system
 * malloc underneath these calls; vow_replace_allocator() swaps the functions (tests
 * use it for counting and failure injection). Callers handle NULL as VOW_ENOMEM.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>

#ifdef VOW_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>

/*
 * jemalloc's own entry points: linked into libvow only, its malloc would lose to
 * libc's in the executable's symbol lookup; mallocx and friends exist only there.
 */
static void *je_malloc_fn(size_t n)
{
    return mallocx(n ? n : 1, 0);
}

static void *je_calloc_fn(size_t count, size_t n)
{
    size_t total;
    if (__builtin_mul_overflow(count, n, &total))
        return NULL;
    return mallocx(total ? total : 1, MALLOCX_ZERO);
}

static void *je_realloc_fn(void *p, size_t n)
{
    return p ? rallocx(p, n ? n : 1, 0) : je_malloc_fn(n);
}

static void je_free_fn(void *p)
{
    if (p)
        dallocx(p, 0);
}

#define DEFAULT_FNS { je_malloc_fn, je_realloc_fn, je_calloc_fn, je_free_fn }
#else
#define DEFAULT_FNS { malloc, realloc, calloc, free }
#endif

static struct {
    vow_malloc_fn malloc;
    vow_realloc_fn realloc;
    vow_calloc_fn calloc;
    vow_free_fn free;
} fns = DEFAULT_FNS;

/* Loops alive in the process; the allocator may only change while this is zero. */
static atomic_int loops_alive;

void vow__alloc_loop_count(int delta)
{
    atomic_fetch_add_explicit(&loops_alive, delta, memory_order_relaxed);
}

int vow_replace_allocator(vow_malloc_fn m, vow_realloc_fn r, vow_calloc_fn c, vow_free_fn f)
{
    vow__check(m && r && c && f, VOW_EINVAL);
    vow__check(atomic_load_explicit(&loops_alive, memory_order_relaxed) == 0, VOW_EBUSY);
    fns.malloc = m;
    fns.realloc = r;
    fns.calloc = c;
    fns.free = f;
    return 0;
}

void *vow__malloc(size_t n)
{
    return fns.malloc(n);
}

void *vow__calloc(size_t count, size_t n)
{
    return fns.calloc(count, n);
}

void *vow__realloc(void *p, size_t n)
{
    return fns.realloc(p, n);
}

void vow__free(void *p)
{
    if (p)
        fns.free(p);
}

void *vow_malloc(size_t size)
{
    return fns.malloc(size);
}

void vow_free(void *ptr)
{
    vow__free(ptr);
}
