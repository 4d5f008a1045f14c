/* SPDX-License-Identifier: MIT */
/*
 * Allocation failure: a representative program (loop, chain, adoption, finally,
 * combinators, delay, timeout, cancel, remote) is run again and again, failing the
 * 1st, 2nd, 3rd ... allocation, until it completes without a failure. Each run must
 * end cleanly: NULL, VOW_ENOMEM or a rejection, never a crash or a leak.
 */
#include "testutil.h"

static int drops;     /* drops of the one value with a drop function */
static int loop_made; /* the program got past vow_loop_new */

static void drop_counted(void *p)
{
    (void)p;
    drops++;
}

static vow_ret add1(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static vow_ret follow_delay(void *ctx, const vow_val *v)
{
    vow_loop *l = ctx;
    return vow_follow(vow_delay(l, 0, vow_val_num(v->num * 2)));
}

static vow_ret recover(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)d;
    return vow_ok(vow_val_num(code));
}

static vow_ret fin(void *ctx)
{
    (void)ctx;
    return vow_pass();
}

static void quiet(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    (void)event;
}

/* Returns 1 when everything succeeded (the expected final value was seen). */
static int program(void)
{
    vow_loop *l = vow_loop_new();
    loop_made = l != NULL;
    if (!l)
        return 0;
    int complete = vow_loop_set_unhandled(l, quiet, NULL) == 0;
    vow *root = vow_pending(l);
    vow *p = vow_then(vow_ref(root), add1, NULL, NULL);
    p = vow_then(p, follow_delay, NULL, l);
    p = vow_finally(p, fin, NULL);
    vow *in[4] = {
        p,
        vow_resolved(l, vow_val_ptr(&drops, drop_counted)),
        vow_timeout(vow_delay(l, 1, vow_val_num(3)), 1000),
        vow_catch(vow_rejected(l, -EIO, vow_val_none()), recover, NULL),
    };
    vow *all = vow_all(l, in, 4);
    vow *lose = vow_delay(l, 100000, vow_val_num(0));
    vow *race_in[2] = { vow_delay(l, 0, vow_val_num(9)), lose };
    vow *race = vow_race(l, race_in, 2);
    vow *c = vow_pending(l);
    vow_remote *r = c ? vow_remote_new(c) : NULL;
    /* A failed post leaves the remote ours: the retry meets no second failure. */
    if (r && vow_remote_resolve(r, vow_val_num(1)) < 0)
        assert_int_equal(vow_remote_resolve(r, vow_val_num(1)), 0);
    if (vow_resolve(root, vow_val_num(1)) < 0)
        complete = 0;
    vow_unref(root);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    if (!all || vow_state(all) != VOW_FULFILLED)
        complete = 0;
    else {
        const vow_list *list = vow_list_get(vow_value(all));
        if (!list || list->n != 4 || vow_value(list->items[0])->num != 4 ||
            vow_value(list->items[2])->num != 3 || vow_value(list->items[3])->num != -EIO)
            complete = 0;
    }
    if (!race || vow_state(race) != VOW_FULFILLED || vow_value(race)->num != 9)
        complete = 0;
    if (!c || !r || vow_state(c) == VOW_PENDING)
        complete = 0;
    vow_unref(all);
    vow_unref(race);
    if (c && vow_state(c) == VOW_PENDING)
        vow_cancel(c);
    vow_unref(c);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    int rc = vow_loop_close(l);
    assert_int_equal(rc, 0);
    return complete;
}

static void sweep_allocation_failures(void **state)
{
    (void)state;
    long k;
    for (k = 1; k < 100000; k++) {
        drops = 0;
        tu_fail_nth(k);
        int complete = program();
        long made = tu_alloc_count();
        tu_fail_nth(0);
        assert_int_equal(tu_live_allocations(), 0);
        assert_int_equal(drops, loop_made); /* exactly once, whatever failed */
        if (made < k) {
            /* No allocation failed this time: the program must have completed. */
            assert_true(complete);
            break;
        }
    }
    assert_true(k > 8); /* slabs make the hot objects few, large allocations */
    print_message("# swept %ld failing allocations\n", k - 1);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
