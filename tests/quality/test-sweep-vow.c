/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweeps over the vow layer's public constructors: the loop,
 * pending/resolved/rejected, then/then_full/catch/finally, resolve_with, the four
 * combinators, delay/timeout, cancel hooks, remote settling, and all of them together
 * in one program. Each scenario is run failing its 1st,
 * 2nd, ... allocation (tu_sweep); every failure must be NULL, VOW_ENOMEM or a
 * rejection, every value's drop must run exactly once, and nothing may leak.
 */
#include "sweep.h"

static int drops; /* drops of values with drop_counted */

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

static vow_ret code_as_value(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)d;
    return vow_ok(vow_val_num(code));
}

static vow_ret follow_resolved(void *ctx, const vow_val *v)
{
    vow_loop *l = ctx;
    /* A NULL here (out of memory) rejects the derived vow through vow_follow. */
    return vow_follow(vow_resolved(l, vow_val_num(v->num * 10)));
}

static int fin_runs;

static vow_ret fin(void *ctx)
{
    (void)ctx;
    fin_runs++;
    return vow_pass();
}

static int ctx_drops;

static void ctx_drop(void *ctx)
{
    (void)ctx;
    ctx_drops++;
}

static int prog_loop(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    int complete = sweep_rc(vow_loop_set_unhandled(l, tu_quiet, NULL), 0);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

/* pending, resolved and rejected, with values that own memory. */
static int prog_create(void *arg)
{
    (void)arg;
    drops = 0;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    int complete = 1;
    vow *p = vow_pending(l);
    /* Even with no vow to settle, the value is consumed (dropped). */
    int r = vow_resolve(p, vow_val_ptr(&drops, drop_counted));
    if (p) {
        assert_int_equal(r, 0);
    } else {
        assert_int_equal(r, VOW_EINVAL);
        complete = 0;
    }
    vow *f = vow_resolved(l, vow_val_ptr(&drops, drop_counted));
    vow *j = vow_rejected(l, VOW_EUSER, vow_val_ptr(&drops, drop_counted));
    complete &= sweep_settled(p, VOW_FULFILLED);
    complete &= sweep_settled(f, VOW_FULFILLED);
    complete &= j != NULL && vow_code(j) == VOW_EUSER;
    /* Settling again changes nothing and still consumes the value. */
    if (f)
        assert_int_equal(vow_reject(f, -EIO, vow_val_ptr(&drops, drop_counted)), VOW_ESETTLED);
    else
        drops++;
    vow_unref(p);
    vow_unref(f);
    vow_unref(j);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(drops, 4); /* every value dropped once, whatever failed */
    return complete;
}

/* then, then_full, catch, finally and a handler that follows another vow. */
static int prog_chain(void *arg)
{
    (void)arg;
    fin_runs = 0;
    ctx_drops = 0;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *root = vow_pending(l);
    vow *p = vow_then(root ? vow_ref(root) : NULL, add1, NULL, NULL);
    p = vow_then_full(p, follow_resolved, NULL, l, ctx_drop);
    p = vow_finally(p, fin, NULL);
    p = vow_then(p, add1, NULL, NULL);
    vow *e = vow_catch(vow_rejected(l, -EPIPE, vow_val_none()), code_as_value, NULL);
    int complete = root ? sweep_rc(vow_resolve(root, vow_val_num(1)), 0) : 0;
    vow_unref(root);
    sweep_run(l);
    complete &= sweep_expect(p, 0, 21);
    complete &= sweep_expect(e, 0, -EPIPE);
    vow_unref(p);
    vow_unref(e);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(ctx_drops, 1); /* ran or discarded, but exactly once */
    assert_true(fin_runs <= 1);
    return complete && fin_runs == 1;
}

/* resolve_with: adoption of a pending vow, of a settled one and of itself. */
static int prog_adopt(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    int complete = 1;
    vow *a = vow_pending(l);
    vow *b = vow_pending(l);
    vow *c = vow_pending(l);
    if (a && b)
        complete &= sweep_rc(vow_resolve_with(a, vow_ref(b)), 0);
    else
        complete = 0;
    if (b)
        assert_int_equal(vow_resolve(b, vow_val_num(7)), 0);
    if (c)
        complete &= sweep_rc(vow_resolve_with(c, vow_ref(c)), 0);
    else
        complete = 0;
    sweep_run(l);
    if (a && b && vow_state(a) != VOW_PENDING)
        complete &= sweep_expect(a, 0, 7);
    else
        complete = 0;
    if (c && vow_state(c) != VOW_PENDING)
        complete &= sweep_expect(c, VOW_ECYCLE, 0);
    else
        complete = 0;
    /* An adoption that failed leaves its vow pending: cancel it so the loop closes. */
    if (a && vow_state(a) == VOW_PENDING)
        vow_cancel(a);
    if (c && vow_state(c) == VOW_PENDING)
        vow_cancel(c);
    vow_unref(a);
    vow_unref(b);
    vow_unref(c);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

/* all, all_settled, race and any over settled, pending and empty inputs. */
static int prog_combine(void *arg)
{
    (void)arg;
    drops = 0;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *in1[3] = {vow_resolved(l, vow_val_num(1)), vow_delay(l, 0, vow_val_num(2)),
                   vow_resolved(l, vow_val_ptr(&drops, drop_counted))};
    int made1 = in1[0] && in1[1] && in1[2];
    vow *all = vow_all(l, in1, 3);
    vow *in2[2] = {vow_rejected(l, -EIO, vow_val_none()), vow_resolved(l, vow_val_num(3))};
    int made2 = in2[0] && in2[1];
    vow *settled = vow_all_settled(l, in2, 2);
    vow *in3[2] = {vow_delay(l, 0, vow_val_num(4)), vow_pending(l)};
    int made3 = in3[0] && in3[1];
    vow *race = vow_race(l, in3, 2);
    vow *in4[2] = {vow_rejected(l, -EIO, vow_val_none()), vow_rejected(l, -EPIPE, vow_val_none())};
    int made4 = in4[0] && in4[1];
    vow *any = vow_any(l, in4, 2);
    vow *none = vow_all(l, NULL, 0);
    vow *any_none = vow_any(l, NULL, 0);
    sweep_run(l);
    /* A NULL input (its constructor failed) rejects the combinator with VOW_EINVAL. */
    int complete = made1 && made2 && made3 && made4;
    complete &=
        made1 ? sweep_settled(all, VOW_FULFILLED) : !all || sweep_expect(all, VOW_EINVAL, 0);
    if (made1 && all && vow_state(all) == VOW_FULFILLED) {
        const vow_list *list = vow_list_get(vow_value(all));
        assert_non_null(list);
        assert_int_equal(list->n, 3);
        assert_int_equal(vow_value(list->items[1])->num, 2);
    }
    complete &= made2 ? sweep_settled(settled, VOW_FULFILLED)
                      : !settled || sweep_expect(settled, VOW_EINVAL, 0);
    /* race of (NULL, pending) rejects at once with VOW_EINVAL; of (delay, NULL) too. */
    complete &= made3 ? sweep_expect(race, 0, 4) : !race || sweep_expect(race, VOW_EINVAL, 0);
    complete &=
        made4 ? sweep_expect(any, VOW_EAGGREGATE, 0) : !any || sweep_expect(any, VOW_EINVAL, 0);
    complete &= sweep_settled(none, VOW_FULFILLED);
    complete &= sweep_expect(any_none, VOW_EAGGREGATE, 0);
    /* race keeps a pending loser when the winner's input failed: cancel what is left. */
    vow *outs[6] = {all, settled, race, any, none, any_none};
    for (int i = 0; i < 6; i++) {
        if (outs[i] && vow_state(outs[i]) == VOW_PENDING)
            vow_cancel(outs[i]);
        vow_unref(outs[i]);
    }
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(drops, 1);
    return complete;
}

static int hook_runs;

static void on_cancel_hook(void *ctx, vow *p)
{
    (void)ctx;
    (void)p;
    hook_runs++;
}

/* delay, timeout (both outcomes), cancel with an abort hook. */
static int prog_timers(void *arg)
{
    (void)arg;
    hook_runs = 0;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *d = vow_delay(l, 1, vow_val_num(5));
    vow *t_ok = vow_timeout(vow_delay(l, 0, vow_val_num(6)), 60000);
    vow *slow = vow_pending(l);
    int hooked = slow ? sweep_rc(vow_on_cancel(slow, on_cancel_hook, NULL), 0) : 0;
    /* The timeout alone holds slow, so timing out cancels it (and runs its hook). */
    vow *t_late = slow ? vow_timeout(slow, 1) : NULL;
    vow *c = vow_pending(l);
    int cancelled = c ? vow_cancel(c) == 0 : 0;
    sweep_run(l);
    int complete = sweep_expect(d, 0, 5);
    complete &= sweep_expect(t_ok, 0, 6);
    complete &= hooked && cancelled;
    complete &= sweep_expect(t_late, VOW_ETIMEDOUT, 0);
    if (t_late && vow_code(t_late) == VOW_ETIMEDOUT)
        assert_int_equal(hook_runs, hooked);
    else
        assert_true(hook_runs <= hooked);
    if (c)
        assert_int_equal(vow_code(c), VOW_ECANCELED);
    vow_unref(d);
    vow_unref(t_ok);
    vow_unref(t_late);
    vow_unref(c);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

/*
 * Enough vows and reactions to need several slab chunks, so allocation failures
 * also strike in the middle of a long chain and a wide combinator, not only at the
 * first vow of a loop.
 */
static int prog_many(void *arg)
{
    (void)arg;
    enum { CHAIN = 700, WIDE = 300 };
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *root = vow_pending(l);
    vow *p = root ? vow_ref(root) : NULL;
    for (int i = 0; i < CHAIN; i++)
        p = vow_then(p, add1, NULL, NULL);
    vow *wide[WIDE];
    int made = 1;
    for (int i = 0; i < WIDE; i++) {
        wide[i] = vow_resolved(l, vow_val_num(i));
        made &= wide[i] != NULL;
    }
    vow *all = vow_all(l, wide, WIDE);
    int complete = root ? sweep_rc(vow_resolve(root, vow_val_num(0)), 0) : 0;
    vow_unref(root);
    sweep_run(l);
    /* A then whose input failed returns NULL, and so does every later one. */
    complete &= sweep_expect(p, 0, CHAIN);
    complete &= made ? sweep_settled(all, VOW_FULFILLED) : !all || sweep_expect(all, VOW_EINVAL, 0);
    complete &= made;
    vow_unref(p);
    vow_unref(all);
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

static vow_ret follow_delay(void *ctx, const vow_val *v)
{
    vow_loop *l = ctx;
    return vow_follow(vow_delay(l, 0, vow_val_num(v->num * 2)));
}

/*
 * Everything together: a chain that follows a pending delay and a finally, all of it
 * with an owned value, a timeout that is met and a recovered rejection, a race with
 * a loser to cancel, and a remote settled on the loop's own thread.
 */
static int prog_mixed(void *arg)
{
    (void)arg;
    drops = 0;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    vow *root = vow_pending(l);
    vow *p = vow_then(root ? vow_ref(root) : NULL, add1, NULL, NULL);
    p = vow_then(p, follow_delay, NULL, l);
    p = vow_finally(p, fin, NULL);
    vow *in[4] = {
        p,
        vow_resolved(l, vow_val_ptr(&drops, drop_counted)),
        vow_timeout(vow_delay(l, 1, vow_val_num(3)), 60000),
        vow_catch(vow_rejected(l, -EIO, vow_val_none()), code_as_value, NULL),
    };
    vow *all = vow_all(l, in, 4);
    vow *race_in[2] = { vow_delay(l, 0, vow_val_num(9)), vow_delay(l, 100000, vow_val_num(0)) };
    int race_made = race_in[0] && race_in[1];
    vow *race = vow_race(l, race_in, 2);
    vow *c = vow_pending(l);
    vow_remote *r = c ? vow_remote_new(c) : NULL;
    /* A failed post leaves the remote ours: the retry meets no second failure. */
    if (r && vow_remote_resolve(r, vow_val_num(1)) < 0)
        assert_int_equal(vow_remote_resolve(r, vow_val_num(1)), 0);
    int complete = root ? sweep_rc(vow_resolve(root, vow_val_num(1)), 0) : 0;
    vow_unref(root);
    sweep_run(l);
    if (all && vow_state(all) == VOW_FULFILLED) {
        const vow_list *list = vow_list_get(vow_value(all));
        assert_non_null(list);
        assert_int_equal(list->n, 4);
        assert_int_equal(vow_value(list->items[0])->num, 4);
        assert_int_equal(vow_value(list->items[2])->num, 3);
        assert_int_equal(vow_value(list->items[3])->num, -EIO);
    } else {
        complete = 0;
    }
    /* A NULL input (its constructor failed) rejects the race with VOW_EINVAL. */
    complete &= race_made ? sweep_expect(race, 0, 9) : !race || sweep_expect(race, VOW_EINVAL, 0);
    complete &= race_made;
    complete &= c && r && sweep_expect(c, 0, 1);
    /* Whatever failed, nothing is left pending but what a failed remote left. */
    if (c && vow_state(c) == VOW_PENDING)
        vow_cancel(c);
    vow_unref(all);
    vow_unref(race);
    vow_unref(c);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(drops, 1); /* exactly once, whatever failed */
    return complete;
}

static void sweep_loop(void **state)
{
    (void)state;
    SWEEP(prog_loop, NULL);
}

static void sweep_create(void **state)
{
    (void)state;
    SWEEP(prog_create, NULL);
}

static void sweep_chain(void **state)
{
    (void)state;
    SWEEP(prog_chain, NULL);
}

static void sweep_adopt(void **state)
{
    (void)state;
    SWEEP(prog_adopt, NULL);
}

static void sweep_combine(void **state)
{
    (void)state;
    SWEEP(prog_combine, NULL);
}

static void sweep_timers(void **state)
{
    (void)state;
    SWEEP(prog_timers, NULL);
}

static void sweep_many(void **state)
{
    (void)state;
    SWEEP(prog_many, NULL);
}

static void sweep_mixed(void **state)
{
    (void)state;
    SWEEP(prog_mixed, NULL);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_loop),    cmocka_unit_test(sweep_create),
        cmocka_unit_test(sweep_chain),   cmocka_unit_test(sweep_adopt),
        cmocka_unit_test(sweep_combine), cmocka_unit_test(sweep_timers),
        cmocka_unit_test(sweep_many),    cmocka_unit_test(sweep_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
