/* SPDX-License-Identifier: MIT */
/*
 * The one allocation seam: the system malloc (whichever malloc the process has, so
 * a program that links or preloads jemalloc gets it here too), or jemalloc's own
 * mallocx when the build links libvow against it (-Djemalloc=enabled, which makes
 * the shared library impossible to dlopen() where jemalloc uses initial-exec TLS);
 * vow_replace_allocator() swaps the functions (tests use it for counting and failure
 * injection). Callers handle NULL as VOW_ENOMEM.
 */
#include "base.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

#define DEFAULT_FNS je_malloc_fn, je_realloc_fn, je_calloc_fn, je_free_fn
#else
#define DEFAULT_FNS malloc, realloc, calloc, free
#endif

static struct {
    int replaced; /* vow_replace_allocator was called: chunks go through it too */
    vow_malloc_fn malloc;
    vow_realloc_fn realloc;
    vow_calloc_fn calloc;
    vow_free_fn free;
} fns = { 0, DEFAULT_FNS };

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
    fns.replaced = 1;
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

/* Huge-page size: chunks this large are mapped aligned to it and advised. */
#define HUGE_CHUNK ((size_t)2 * 1024 * 1024)

/*
 * Large slab chunks are mapped directly, aligned to 2 MiB and advised for huge
 * pages, so a million vows cost a few faults instead of tens of thousands. With a
 * replaced allocator (tests, embedders) every chunk goes through it instead.
 */
/* A mapped chunk's length: whole pages, so its tail can be unmapped exactly. */
static size_t chunk_span(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (size + page - 1) & ~(page - 1);
}

void *vow__chunk_alloc(size_t size)
{
    if (fns.replaced || size < HUGE_CHUNK)
        return fns.malloc(size);
    if (size > SIZE_MAX / 2)
        return NULL;
    size = chunk_span(size);
    size_t span = size + HUGE_CHUNK;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)m + HUGE_CHUNK - 1) & ~(uintptr_t)(HUGE_CHUNK - 1));
    if (p > m)
        munmap(m, (size_t)(p - m));
    if (m + span > p + size)
        munmap(p + size, (size_t)(m + span - (p + size)));
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void vow__chunk_free(void *p, size_t size)
{
    if (!p)
        return;
    if (fns.replaced || size < HUGE_CHUNK)
        fns.free(p);
    else
        munmap(p, chunk_span(size));
}

void *vow_malloc_chunk(size_t size)
{
    return vow__chunk_alloc(size ? size : 1);
}

void vow_free_chunk(void *ptr, size_t size)
{
    vow__chunk_free(ptr, size ? size : 1);
}
