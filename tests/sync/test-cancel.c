/* SPDX-License-Identifier: MIT */
/*
 * Cancellation safety of every wait, and the seams with the other styles: a
 * withdrawn receive never takes an item, a withdrawn send never delivers its value
 * and drops it exactly once, a withdrawn acquire never takes a unit; under
 * vow_cancel, dropping, vow_timeout, vow_race, a chain, and a coroutine cancelled at
 * each of its await points.
 */
#include "st.h"

#include "vow/co.h"

static void cancel_or_drop(vow *p, int drop)
{
    if (drop) {
        vow_unref(p);
    } else {
        assert_int_equal(vow_cancel(p), 0);
        assert_int_equal(vow_code(p), VOW_ECANCELED);
        vow_unref(p);
    }
}

static void withdrawn_recv_takes_nothing(void **state)
{
    (void)state;
    for (int drop = 0; drop < 2; drop++) {
        for (size_t cap = 0; cap < 3; cap++) {
            vow_loop *l = st_loop();
            vow_chan *c = vow_chan_new(l, cap);
            struct st_item it = { 1, 0, 0 };
            vow *r1 = vow_chan_recv(c);
            vow *r2 = vow_chan_recv(c);
            cancel_or_drop(r1, drop);
            /* The item goes to the receiver still waiting, not the withdrawn one. */
            vow *s = vow_chan_send(c, st_val(&it));
            assert_int_equal(vow_state(s), VOW_FULFILLED);
            assert_int_equal(vow_state(r2), VOW_FULFILLED);
            assert_ptr_equal(st_take(r2), &it);
            vow_unref(r2);
            vow_unref(s);
            st_check_once(&it, 1);
            vow_chan_unref(c);
            st_finish(l);
        }
    }
}

static void withdrawn_send_delivers_nothing(void **state)
{
    (void)state;
    for (int drop = 0; drop < 2; drop++) {
        for (size_t cap = 0; cap < 3; cap++) {
            vow_loop *l = st_loop();
            vow_chan *c = vow_chan_new(l, cap);
            struct st_item it[4] = { { 0, 0, 0 }, { 1, 0, 0 }, { 2, 0, 0 }, { 3, 0, 0 } };
            vow *s[4];
            for (int i = 0; i < 4; i++)
                s[i] = vow_chan_send(c, st_val(&it[i]));
            /* Withdraw the first one still waiting: its value is dropped at once. */
            size_t w = cap;
            assert_int_equal(vow_state(s[w]), VOW_PENDING);
            cancel_or_drop(s[w], drop);
            s[w] = NULL;
            assert_int_equal(it[w].drops, 1);
            /* Everything else arrives in order; the withdrawn value never does. */
            for (int i = 0; i < 4; i++) {
                if ((size_t)i == w)
                    continue;
                vow *r = vow_chan_recv(c);
                assert_int_equal(vow_state(r), VOW_FULFILLED);
                assert_int_equal(st_take(r)->id, i);
                vow_unref(r);
            }
            vow_val v;
            assert_int_equal(vow_chan_try_recv(c, &v), VOW_EAGAIN);
            st_check_once(it, 4);
            for (int i = 0; i < 4; i++)
                vow_unref(s[i]);
            vow_chan_unref(c);
            st_finish(l);
        }
    }
}

static void timeout_recv_and_send(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 1);
    struct st_seen rseen = { 0 }, sseen = { 0 };
    st_watch(vow_timeout(vow_chan_recv(c), 5), &rseen);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(rseen.code, VOW_ETIMEDOUT);
    /* The channel is full; a send under a timeout gives up and drops its value. */
    struct st_item it[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
    vow_unref(vow_chan_send(c, st_val(&it[0])));
    st_watch(vow_timeout(vow_chan_send(c, st_val(&it[1])), 5), &sseen);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(sseen.code, VOW_ETIMEDOUT);
    assert_int_equal(it[1].drops, 1);
    /* The timed-out receive did not take the item that came after it. */
    vow *r = vow_chan_recv(c);
    assert_ptr_equal(st_take(r), &it[0]);
    vow_unref(r);
    assert_int_equal(vow_chan_len(c), 0);
    st_check_once(it, 2);
    vow_chan_unref(c);
    st_finish(l);
}

/* A send that fulfils in the same turn as its timeout fires still counts as sent. */
static void timeout_after_completion(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 0);
    struct st_item it = { 0, 0, 0 };
    struct st_seen seen = { 0 };
    st_watch(vow_timeout(vow_chan_send(c, st_val(&it)), 1), &seen);
    vow *r = vow_chan_recv(c);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(seen.ok, 1);
    assert_ptr_equal(st_take(r), &it);
    vow_unref(r);
    st_check_once(&it, 1);
    vow_chan_unref(c);
    st_finish(l);
}

static void recv_in_race(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 1);
    /* The delay wins: the receive is withdrawn and takes nothing. */
    vow *in[2] = { vow_chan_recv(c), vow_delay(l, 2, vow_val_num(-1)) };
    vow *race = vow_race(l, in, 2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_value(race)->num, -1);
    vow_unref(race);
    struct st_item it = { 0, 0, 0 };
    assert_int_equal(vow_chan_try_send(c, st_val(&it)), 0);
    assert_int_equal(vow_chan_len(c), 1);
    /* The receive wins: the race shares its value, and the item moves out of it. */
    vow *in2[2] = { vow_chan_recv(c), vow_delay(l, 1000, vow_val_num(-1)) };
    race = vow_race(l, in2, 2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_ptr_equal(st_take(race), &it);
    vow_unref(race);
    st_check_once(&it, 1);
    vow_chan_unref(c);
    st_finish(l);
}

static vow_ret chain_step(void *ctx, const vow_val *v)
{
    struct st_seen *s = ctx;
    s->ok++;
    s->num = v->num;
    return vow_ok(vow_val_num(v->num * 2));
}

/* A chain on a receive; cancelling the chain's end withdraws the receive. */
static void chain_on_recv(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 0);
    struct st_seen seen = { 0 };
    vow *d = vow_then(vow_chan_recv(c), chain_step, NULL, &seen);
    vow_unref(vow_chan_send(c, vow_val_num(21)));
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(seen.ok, 1);
    assert_int_equal(vow_value(d)->num, 42);
    vow_unref(d);
    d = vow_then(vow_then(vow_chan_recv(c), chain_step, NULL, &seen), chain_step, NULL, &seen);
    assert_int_equal(vow_cancel(d), 0);
    vow_unref(d);
    /* Nothing waits any more: a send finds no receiver. */
    assert_int_equal(vow_chan_try_send(c, vow_val_num(1)), VOW_EAGAIN);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(seen.ok, 1);
    vow_chan_unref(c);
    st_finish(l);
}

static void withdrawn_acquires(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_sem *s = vow_sem_new(l, 0);
    vow *a1 = vow_sem_acquire(s), *a2 = vow_sem_acquire(s);
    struct st_seen a3 = { 0 };
    st_watch(vow_timeout(vow_sem_acquire(s), 1), &a3);
    vow *a4 = vow_sem_acquire(s);
    vow_cancel(a1);
    vow_unref(a2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(a3.code, VOW_ETIMEDOUT);
    /* The one unit released goes to the only acquire still waiting. */
    assert_int_equal(vow_sem_release(s), 0);
    assert_int_equal(vow_state(a4), VOW_FULFILLED);
    assert_int_equal(vow_sem_count(s), 0);
    vow_unref(a1);
    vow_unref(a4);
    vow_sem_close(s);

    vow_lock *k = vow_lock_new(l);
    int64_t t;
    assert_int_equal(vow_lock_try_acquire(k, &t), 0);
    vow *b1 = vow_lock_acquire(k), *b2 = vow_lock_acquire(k);
    vow_cancel(b1);
    assert_int_equal(vow_lock_release(k, t), 0);
    assert_int_equal(vow_state(b2), VOW_FULFILLED);
    assert_int_equal(vow_lock_release(k, vow_value(b2)->num), 0);
    assert_int_equal(vow_lock_is_held(k), 0);
    vow_unref(b1);
    vow_unref(b2);
    assert_int_equal(vow_lock_close(k), 0);
    st_finish(l);
}

/* ---------------------------------------------------------- coroutine seams */

struct co_recv {
    vow_chan *c;          /* receive from here */
    uint64_t timeout;     /* 0: none */
    int rc;               /* what vow_await returned */
    int state;            /* the receive's state afterwards */
    struct st_item *got;  /* the item, if the receive fulfilled */
};

static vow_ret co_recv_body(void *arg)
{
    struct co_recv *cr = arg;
    vow *r = vow_chan_recv(cr->c);
    vow *w = cr->timeout ? vow_timeout(vow_ref(r), cr->timeout) : vow_ref(r);
    cr->rc = vow_await(w);
    vow_unref(w);
    /* Cancelled or not, a receive that fulfilled holds its item: take it. */
    cr->state = vow_state(r);
    if (cr->state == VOW_FULFILLED)
        cr->got = st_take(r);
    vow_unref(r);
    return vow_ok(vow_val_none());
}

static void co_recv_under_timeout(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 1);
    struct co_recv cr = { c, 3, 0, 0, NULL };
    vow *co = vow_co_spawn(l, co_recv_body, &cr, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(cr.rc, VOW_ETIMEDOUT);
    /* The timeout was the receive's only consumer (a reference is not one): it
     * cancelled the receive, which took nothing. */
    assert_int_equal(cr.state, VOW_REJECTED);
    assert_null(cr.got);
    vow_unref(co);
    /* An item sent later stays in the channel. */
    struct st_item it = { 0, 0, 0 };
    assert_int_equal(vow_chan_try_send(c, st_val(&it)), 0);
    cr = (struct co_recv){ c, 1000, 0, 0, NULL };
    co = vow_co_spawn(l, co_recv_body, &cr, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(cr.rc, 0);
    assert_ptr_equal(cr.got, &it);
    vow_unref(co);
    st_check_once(&it, 1);
    vow_chan_unref(c);
    st_finish(l);
}

/*
 * The coroutine is cancelled while it waits. Its receive loses its only consumer (the
 * coroutine's await) and is withdrawn with it: a send that comes later finds no
 * receiver. But an item that arrived before the cancellation, in the same turn,
 * before the coroutine woke, fulfilled the receive: the coroutine finds it there.
 */
static void co_cancel_while_receiving(void **state)
{
    (void)state;
    for (int item_first = 0; item_first < 2; item_first++) {
        vow_loop *l = st_loop();
        vow_chan *c = vow_chan_new(l, 0);
        struct co_recv cr = { c, 0, 0, 0, NULL };
        vow *co = vow_co_spawn(l, co_recv_body, &cr, NULL);
        st_turn(l);
        struct st_item it = { 0, 0, 0 };
        vow *s = NULL;
        if (item_first)
            s = vow_chan_send(c, st_val(&it));
        assert_int_equal(vow_cancel(co), 0);
        if (!item_first) {
            s = vow_chan_send(c, st_val(&it));
            assert_int_equal(vow_state(s), VOW_PENDING);
        }
        vow_loop_run(l, VOW_RUN_DEFAULT);
        assert_int_equal(cr.rc, VOW_ECANCELED);
        if (item_first) {
            assert_int_equal(cr.state, VOW_FULFILLED);
            assert_ptr_equal(cr.got, &it);
        } else {
            assert_int_equal(cr.state, VOW_REJECTED);
            assert_null(cr.got);
            /* Still waiting for a receiver: dropping the send drops the item. */
            assert_int_equal(vow_state(s), VOW_PENDING);
        }
        vow_unref(s);
        st_check_once(&it, 1);
        vow_unref(co);
        vow_chan_unref(c);
        st_finish(l);
    }
}

/*
 * A relay: receive from in, pass on to out, under cancellation at each await point
 * (waiting to receive, waiting to send, waiting in a select, waiting for the lock).
 * Whatever the point, every item is delivered or dropped exactly once.
 */
struct relay {
    vow_loop *l;        /* the loop */
    vow_chan *in, *out; /* the channels */
    vow_lock *lock;     /* held around each pass-on */
    int passed;         /* items passed on */
};

static vow_ret relay_body(void *arg)
{
    struct relay *rl = arg;
    for (;;) {
        vow *r = vow_chan_recv(rl->in);
        int rc = vow_await(r);
        vow_val item = vow_val_none();
        if (vow_state(r) == VOW_FULFILLED)
            assert_int_equal(vow_chan_take(r, &item), 0);
        vow_unref(r);
        if (rc < 0 && !item.drop)
            break;
        vow *a = vow_lock_acquire(rl->lock);
        rc = vow_await(a);
        int64_t token = vow_state(a) == VOW_FULFILLED ? vow_value(a)->num : 0;
        vow_unref(a);
        if (token == 0) {
            /* Cancelled before holding the lock: the item is ours to drop. */
            item.drop(item.ptr);
            break;
        }
        /* A select with one SEND case: the value stays ours unless it wins. */
        vow_select_case k = { VOW_SELECT_SEND, rl->out, item, NULL };
        vow *sel = vow_select(rl->l, &k, 1);
        rc = vow_await(sel);
        const vow_selected *out =
            vow_state(sel) == VOW_FULFILLED ? vow_selected_get(vow_value(sel)) : NULL;
        if (!out || out->code != 0)
            item.drop(item.ptr);
        else
            rl->passed++;
        vow_unref(sel);
        assert_int_equal(vow_lock_release(rl->lock, token), 0);
        if (rc < 0)
            break;
    }
    return vow_ok(vow_val_none());
}

static void co_cancel_at_each_await_point(void **state)
{
    (void)state;
    /* Cancel (or drop the coroutine's vow) after k loop turns: the coroutine is then
     * waiting for the lock (held by the test for the first turns), for its select to
     * deliver, or for the next item. */
    for (int drop = 0; drop < 2; drop++) {
        for (int k = 0; k < 14; k++) {
            vow_loop *l = st_loop();
            struct relay rl = { l, vow_chan_new(l, 4), vow_chan_new(l, 0), vow_lock_new(l), 0 };
            struct st_item it[4];
            for (int i = 0; i < 4; i++) {
                it[i] = (struct st_item){ i, 0, 0 };
                vow_unref(vow_chan_send(rl.in, st_val(&it[i])));
            }
            int64_t held;
            assert_int_equal(vow_lock_try_acquire(rl.lock, &held), 0);
            vow *co = vow_co_spawn(l, relay_body, &rl, NULL);
            /* A slow consumer of out: one receive every other turn. */
            int taken = 0;
            for (int turn = 0; turn < 40; turn++) {
                if (turn == 3)
                    assert_int_equal(vow_lock_release(rl.lock, held), 0);
                if (turn == k) {
                    if (drop) {
                        vow_unref(co);
                        co = NULL;
                    } else {
                        vow_cancel(co);
                    }
                }
                vow_val v;
                if (turn % 2 && vow_chan_try_recv(rl.out, &v) == 0) {
                    st_received(v);
                    taken++;
                }
                st_turn(l);
            }
            vow_loop_run(l, VOW_RUN_DEFAULT);
            assert_true(co == NULL || vow_code(co) == VOW_ECANCELED);
            assert_int_equal(taken, rl.passed);
            if (k == 13)
                assert_int_equal(rl.passed, 4);
            vow_unref(co);
            vow_chan_unref(rl.in);
            vow_chan_unref(rl.out);
            assert_int_equal(vow_lock_close(rl.lock), 0);
            st_check_once(it, 4);
            st_finish(l);
        }
    }
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(withdrawn_recv_takes_nothing),
        cmocka_unit_test(withdrawn_send_delivers_nothing),
        cmocka_unit_test(timeout_recv_and_send),
        cmocka_unit_test(timeout_after_completion),
        cmocka_unit_test(recv_in_race),
        cmocka_unit_test(chain_on_recv),
        cmocka_unit_test(withdrawn_acquires),
        cmocka_unit_test(co_recv_under_timeout),
        cmocka_unit_test(co_cancel_while_receiving),
        cmocka_unit_test(co_cancel_at_each_await_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
