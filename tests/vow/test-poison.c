/* SPDX-License-Identifier: MIT */
/*
 * AddressSanitizer sees inside the slabs: in an ASan build (this program and the
 * library's testing copy, no VOW_DEBUG), a vow freed back to its slab is poisoned
 * and kept out of reuse for a while, so a use after free (here a double vow_unref)
 * is ASan's report at the faulty call, even after other vows were made. Built in
 * ASan builds only (tests/vow/meson.build).
 */
#include "testutil.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
