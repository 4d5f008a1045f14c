/* SPDX-License-Identifier: MIT */
/*
 * AddressSanitizer sees inside the slabs: in an ASan build (this program and the
 * library's testing copy, no VOW_DEBUG), a vow or a reaction freed back to its slab
 * is poisoned and kept out of reuse for a while, so a use after free (a double
 * vow_unref; a read of a freed reaction, white-box) is ASan's report at the faulty
 * access, even after other objects were made. The reaction half of a then (one slab
 * object with its vow) is poisoned once it is done, while the vow lives on. Built in
 * ASan builds only (tests/vow/meson.build).
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

/* The vow half stays readable, the reaction half right after it is not. */
static void read_done_then_reaction(void *arg)
{
    int large = *(int *)arg;
    __asan_set_death_callback(die);
    vow_loop *l = vow_loop_new();
    vow *d = large ? vow_then_full(vow_resolved(l, vow_val_num(1)), NULL, NULL, NULL, free)
                   : vow_then(vow_resolved(l, vow_val_num(1)), NULL, NULL, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    if (vow_value(d)->num != 1)
        return;
    /* The small form's first byte; the large form's last word (ctx_drop). */
    size_t at = sizeof(struct vow) + (large ? vow__then_size[1] - sizeof(struct vow) - 8 : 0);
    printf("%d\n", *(volatile char *)((char *)d + at));
}

static void done_then_reaction_is_poisoned(void **state)
{
    (void)state;
    const char *want[] = {"AddressSanitizer: use-after-poison", "read_done_then_reaction", NULL};
    int small = 0, large = 1;
    tu_expect_abort(read_done_then_reaction, &small, want);
    tu_expect_abort(read_done_then_reaction, &large, want);
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
        cmocka_unit_test(done_then_reaction_is_poisoned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
