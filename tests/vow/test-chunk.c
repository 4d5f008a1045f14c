/* SPDX-License-Identifier: MIT */
/*
 * vow_malloc_chunk / vow_free_chunk: blocks below 2 MiB come from the allocator,
 * blocks of 2 MiB or more are mapped on their own and aligned to 2 MiB (sizes that
 * are not whole pages too), NULL frees nothing, an impossible size is NULL, and once
 * the allocator is replaced every block goes through it. The first tests run on the
 * built-in allocator; the last one replaces it (that lasts for the process).
 */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIB ((size_t)1024 * 1024)

/* Is [p, p + n) mapped in this process (from /proc/self/maps)? */
static int mapped(const void *p, size_t n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    uintptr_t lo = (uintptr_t)p, hi = lo + n;
    int found = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a <= lo && hi <= b)
            found = 1;
    }
    fclose(f);
    return found;
}

/* Does any mapping overlap [p, p + n)? */
static int overlaps(const void *p, size_t n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    uintptr_t lo = (uintptr_t)p, hi = lo + n;
    int found = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && lo < b)
            found = 1;
    }
    fclose(f);
    return found;
}

static void write_all(char *p, size_t n)
{
    memset(p, 0xa5, n);
    assert_int_equal((unsigned char)p[0], 0xa5);
    assert_int_equal((unsigned char)p[n - 1], 0xa5);
}

static void below_2mib_usable(void **state)
{
    (void)state;
    size_t sizes[] = { 1, 16, 4096, 16 * 1024, MIB, 2 * MIB - 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = vow_malloc_chunk(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        write_all(p, sizes[i]);
        vow_free_chunk(p, sizes[i]);
    }
    /* Zero bytes is a valid request, like malloc(0) in libvow's seam. */
    void *z = vow_malloc_chunk(0);
    assert_non_null(z);
    vow_free_chunk(z, 0);
}

static void from_2mib_aligned_and_unmapped(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sizes[] = { 2 * MIB, 2 * MIB + 1, 3 * MIB + 100, 4 * MIB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = vow_malloc_chunk(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % (2 * MIB), 0);
        write_all(p, sizes[i]);
        assert_true(mapped(p, sizes[i]));
        /* Mapped on its own with the alignment slack trimmed: the page after its
         * last whole page is not mapped (a size that is not whole pages too), and
         * freeing it unmaps all of it. */
        size_t whole = (sizes[i] + page - 1) / page * page;
        assert_false(overlaps(p + whole, page));
        vow_free_chunk(p, sizes[i]);
        assert_false(overlaps(p, whole));
    }
}

static void null_and_impossible(void **state)
{
    (void)state;
    vow_free_chunk(NULL, 0);
    vow_free_chunk(NULL, 64);
    vow_free_chunk(NULL, 4 * MIB);
    assert_null(vow_malloc_chunk(SIZE_MAX));
    assert_null(vow_malloc_chunk(SIZE_MAX / 2 + 1));
}

static void replaced_allocator_gets_every_block(void **state)
{
    (void)state;
    tu_install_allocator();
    size_t sizes[] = { 64, MIB, 2 * MIB, 2 * MIB + 1, 4 * MIB };
    void *blocks[sizeof sizes / sizeof sizes[0]];
    tu_fail_nth(0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        blocks[i] = vow_malloc_chunk(sizes[i]);
        assert_non_null(blocks[i]);
        write_all(blocks[i], sizes[i]);
    }
    assert_int_equal(tu_alloc_count(), 5);
    assert_int_equal(tu_live_allocations(), 5);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        vow_free_chunk(blocks[i], sizes[i]);
    assert_int_equal(tu_live_allocations(), 0);
    /* The allocator's failure is the caller's NULL, at any size. */
    tu_fail_nth(1);
    assert_null(vow_malloc_chunk(4 * MIB));
    tu_fail_nth(1);
    assert_null(vow_malloc_chunk(64));
    tu_fail_nth(0);
    vow_free_chunk(NULL, 4 * MIB);
    assert_int_equal(tu_live_allocations(), 0);
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(below_2mib_usable),
        cmocka_unit_test(from_2mib_aligned_and_unmapped),
        cmocka_unit_test(null_and_impossible),
        cmocka_unit_test(replaced_allocator_gets_every_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
