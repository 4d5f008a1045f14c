/* SPDX-License-Identifier: MIT */
/*
 * Allocation-failure sweeps of the coordination tier: every constructor and every
 * waiting path (flag, semaphore, lock, channel on one loop and between two loops,
 * select) run again and again, failing the 1st, 2nd, 3rd ... allocation. Each run
 * must report the failure (NULL, VOW_ENOMEM) and still leave nothing behind, and
 * every item must be received or dropped exactly once whatever failed.
 */
#include "st.h"

#include "../quality/sweep.h"

#define MAXV 32

/* The vows a program made, released at its end. */
struct held {
    vow *v[MAXV]; /* vows (NULL where a call failed) */
    int n;        /* entries used */
    int failed;   /* some call met an injected failure */
};

static vow *keep(struct held *h, vow *p)
{
    assert_true(h->n < MAXV);
    h->v[h->n++] = p;
    if (!p || (vow_state(p) == VOW_REJECTED && vow_code(p) == VOW_ENOMEM))
        h->failed = 1;
    return p;
}

static void rc_ok(struct held *h, int r, int want)
{
    if (!sweep_rc(r, want))
        h->failed = 1;
}

/* Takes the item out of every fulfilled receive or select; drops them all. */
static void release_all(struct held *h)
{
    for (int i = 0; i < h->n; i++) {
        vow *p = h->v[i];
        if (p && vow_state(p) == VOW_FULFILLED && vow_value(p)->drop) {
            const vow_selected *o = vow_selected_get(vow_value(p));
            if (!o || o->val.drop) {
                vow_val v;
                assert_int_equal(vow_chan_take(p, &v), 0);
                if (v.drop == st_item_drop)
                    st_received(v);
            }
        }
        if (p && vow_state(p) == VOW_PENDING)
            vow_cancel(p);
        vow_unref(p);
    }
    h->n = 0;
}

static int prog_chan(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    struct held h = { { NULL }, 0, 0 };
    struct st_item it[6];
    for (int i = 0; i < 6; i++)
        it[i] = (struct st_item){ i, 0, 0 };
    vow_chan *c = vow_chan_new(l, 1);
    if (!c) {
        h.failed = 1;
        /* Nothing else can run; the items were never handed over. */
        for (int i = 0; i < 6; i++)
            it[i].drops++;
        goto out;
    }
    keep(&h, vow_chan_recv(c));                 /* waits */
    keep(&h, vow_chan_send(c, st_val(&it[0]))); /* to the waiting receiver */
    keep(&h, vow_chan_send(c, st_val(&it[1]))); /* buffered (the ring grows) */
    keep(&h, vow_chan_send(c, st_val(&it[2]))); /* waits: full */
    /* A select whose RECV case is ready, then one that has to wait. */
    vow_select_case k[3] = { { VOW_SELECT_RECV, c, { { NULL }, NULL }, NULL },
                             { VOW_SELECT_SEND, c, st_val(&it[3]), NULL },
                             { VOW_SELECT_VOW, NULL, { { NULL }, NULL },
                               vow_delay(l, 1, vow_val_none()) } };
    vow *sel = keep(&h, vow_select(l, k, 3));
    if (!sel || vow_state(sel) != VOW_FULFILLED ||
        vow_selected_get(vow_value(sel))->index != 1 ||
        vow_selected_get(vow_value(sel))->code != 0)
        it[3].drops++; /* the SEND case did not take it: ours to drop */
    vow_select_case k2[2] = { { VOW_SELECT_SEND, c, st_val(&it[4]), NULL },
                              { VOW_SELECT_VOW, NULL, { { NULL }, NULL },
                                vow_delay(l, 1, vow_val_none()) } };
    vow *sel2 = keep(&h, vow_select(l, k2, 2));
    sweep_run(l);
    if (!sel2 || vow_state(sel2) != VOW_FULFILLED ||
        vow_selected_get(vow_value(sel2))->index != 0 ||
        vow_selected_get(vow_value(sel2))->code != 0)
        it[4].drops++;
    int r = vow_chan_try_send(c, st_val(&it[5]));
    if (r != 0)
        it[5].drops++;
    vow_val v;
    while (vow_chan_try_recv(c, &v) == 0)
        st_received(v);
    vow_chan_close(c);
    vow_chan_unref(c);
out:
    sweep_run(l);
    release_all(&h);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    st_check_once(it, 6);
    return !h.failed;
}

/* Two loops on this thread, joined by a channel between loops (its eventfd path). */
static int prog_cross(void *arg)
{
    (void)arg;
    vow_loop *a = sweep_loop_new();
    if (!a)
        return 0;
    vow_loop *b = sweep_loop_new();
    if (!b) {
        assert_int_equal(vow_loop_close(a), 0);
        return 0;
    }
    struct held h = { { NULL }, 0, 0 };
    struct st_item it[4];
    for (int i = 0; i < 4; i++)
        it[i] = (struct st_item){ i, 0, 0 };
    vow_chan *c = NULL;
    int r = vow_chan_new_between(a, b, 1, &c);
    if (r < 0) {
        rc_ok(&h, r, 0);
        for (int i = 0; i < 4; i++)
            it[i].drops++;
        goto out;
    }
    keep(&h, vow_chan_recv(c));                 /* waits on b */
    keep(&h, vow_chan_send(c, st_val(&it[0]))); /* buffered, wakes b */
    keep(&h, vow_chan_send(c, st_val(&it[1]))); /* waits on a: full */
    vow_select_case k = { VOW_SELECT_SEND, c, st_val(&it[2]), NULL };
    vow *sel = keep(&h, vow_select(a, &k, 1));
    for (int turn = 0; turn < 6; turn++) {
        vow_loop_run(a, VOW_RUN_NOWAIT);
        vow_loop_run(b, VOW_RUN_NOWAIT);
        keep(&h, vow_timeout(vow_chan_recv(c), 0));
    }
    if (!sel || vow_state(sel) != VOW_FULFILLED || vow_selected_get(vow_value(sel))->code != 0) {
        if (sel && vow_state(sel) == VOW_PENDING)
            vow_cancel(sel);
        it[2].drops++;
    }
    r = vow_chan_try_send(c, st_val(&it[3]));
    if (r != 0)
        it[3].drops++;
    vow_chan_close(c);
    vow_loop_run(a, VOW_RUN_NOWAIT);
    vow_loop_run(b, VOW_RUN_NOWAIT);
    vow_val v;
    while (vow_chan_try_recv(c, &v) == 0)
        st_received(v);
out:
    release_all(&h);
    vow_chan_unref(c);
    sweep_run(a);
    sweep_run(b);
    assert_int_equal(vow_loop_close(a), 0);
    assert_int_equal(vow_loop_close(b), 0);
    st_check_once(it, 4);
    return !h.failed;
}

static int prog_waits(void *arg)
{
    (void)arg;
    vow_loop *l = sweep_loop_new();
    if (!l)
        return 0;
    struct held h = { { NULL }, 0, 0 };
    vow_flag *f = vow_flag_new(l);
    vow_sem *s = vow_sem_new(l, 1);
    vow_lock *k = vow_lock_new(l);
    if (!f || !s || !k) {
        h.failed = 1;
        goto out;
    }
    keep(&h, vow_flag_wait(f));
    keep(&h, vow_flag_wait(f));
    vow_flag_set(f);
    keep(&h, vow_flag_wait(f));
    keep(&h, vow_sem_acquire(s));
    vow *w = keep(&h, vow_sem_acquire(s));
    rc_ok(&h, vow_sem_release(s), 0);
    if (w && vow_state(w) == VOW_FULFILLED)
        rc_ok(&h, vow_sem_release(s), 0);
    vow *a = keep(&h, vow_lock_acquire(k));
    vow *b = keep(&h, vow_lock_acquire(k));
    if (a && vow_state(a) == VOW_FULFILLED)
        rc_ok(&h, vow_lock_release(k, vow_value(a)->num), 0);
    if (b && vow_state(b) == VOW_FULFILLED)
        rc_ok(&h, vow_lock_release(k, vow_value(b)->num), 0);
out:
    release_all(&h);
    vow_flag_close(f);
    vow_sem_close(s);
    if (k)
        assert_int_equal(vow_lock_close(k), 0);
    sweep_run(l);
    assert_int_equal(vow_loop_close(l), 0);
    return !h.failed;
}

static void sweep_channels(void **state)
{
    (void)state;
    SWEEP(prog_chan, NULL);
}

static void sweep_channels_between_loops(void **state)
{
    (void)state;
    SWEEP(prog_cross, NULL);
}

static void sweep_flag_sem_lock(void **state)
{
    (void)state;
    SWEEP(prog_waits, NULL);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_channels),
        cmocka_unit_test(sweep_channels_between_loops),
        cmocka_unit_test(sweep_flag_sem_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
