/* SPDX-License-Identifier: MIT */
/*
 * AddressSanitizer sees inside the slabs: in an ASan build (this program and the
 * library's testing copy, no VOW_DEBUG), a vow or a reaction freed back to its slab
 * is poisoned and kept out of reuse for a while, so a use after free (a double
 * vow_unref; a read of a freed reaction, white-box) is ASan's report at the faulty
 * access, even after other objects were made. Built in ASan builds only
 * (tests/vow/meson.build).
 */
#include "testutil.h"
#include "vow_int.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifndef TEST_ASAN
#error "test-poison checks AddressSanitizer's reports: build it with -Db_sanitize=address"
#endif
#include <sanitizer/asan_interface.h>

/* ASan's report ends in abort(), whatever ASAN_OPTIONS says about exit codes. */
static void die(void)
{
    abort();
}

static void double_unref(void *arg)
{
    int others = *(int *)arg;
    __asan_set_death_callback(die);
    vow_loop *l = vow_loop_new();
    vow *keep = vow_pending(l); /* the loop's slab stays in use */
    vow *p = vow_resolved(l, vow_val_num(1));
    vow_unref(p);
    for (int i = 0; i < others; i++)
        vow_unref(vow_then(vow_pending(l), NULL, NULL, NULL));
    vow_unref(p);
    (void)keep;
}

static void read_freed_reaction(void *arg)
{
    (void)arg;
    __asan_set_death_callback(die);
    vow_loop *l = vow_loop_new();
    vow *keep = vow_pending(l); /* makes the vow tier's per-loop state */
    char *r = vow__react_alloc(l);
    r[0] = 1;
    vow__react_free(l, r);
    for (int i = 0; i < 300; i++)
        vow_unref(vow_then(vow_pending(l), NULL, NULL, NULL));
    printf("%d\n", *(volatile char *)r);
    (void)keep;
}

static void freed_reaction_is_poisoned(void **state)
{
    (void)state;
    const char *want[] = { "AddressSanitizer: use-after-poison", "read_freed_reaction", NULL };
    tu_expect_abort(read_freed_reaction, NULL, want);
}

static void freed_vow_is_poisoned(void **state)
{
    (void)state;
    const char *want[] = {"AddressSanitizer: use-after-poison", "unref", NULL};
    int none = 0, some = 300;
    tu_expect_abort(double_unref, &none, want);
    tu_expect_abort(double_unref, &some, want);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(freed_vow_is_poisoned),
        cmocka_unit_test(freed_reaction_is_poisoned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
