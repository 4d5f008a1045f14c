/* SPDX-License-Identifier: MIT */
/*
 * vow_select: the first ready case wins, in array order; exactly one case completes
 * and the others are withdrawn in the same step (no item taken and lost, no value
 * delivered twice); VOW cases; closed channels; cancelling or dropping the select;
 * the result value; argument errors.
 */
#include "st.h"

#include "vow/co.h"

static const vow_selected *outcome(vow *sel)
{
    assert_int_equal(vow_state(sel), VOW_FULFILLED);
    const vow_selected *o = vow_selected_get(vow_value(sel));
    assert_non_null(o);
    return o;
}

static vow_select_case recv_case(vow_chan *c)
{
    vow_select_case k = { VOW_SELECT_RECV, c, { { NULL }, NULL }, NULL };
    return k;
}

static vow_select_case send_case(vow_chan *c, vow_val v)
{
    vow_select_case k = { VOW_SELECT_SEND, c, v, NULL };
    return k;
}

static vow_select_case vow_case(vow *p)
{
    vow_select_case k = { VOW_SELECT_VOW, NULL, { { NULL }, NULL }, p };
    return k;
}

static void first_ready_wins(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *a = vow_chan_new(l, 2), *b = vow_chan_new(l, 2);
    struct st_item it[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
    assert_int_equal(vow_chan_try_send(a, st_val(&it[0])), 0);
    assert_int_equal(vow_chan_try_send(b, st_val(&it[1])), 0);
    vow_select_case k[2] = { recv_case(b), recv_case(a) };
    vow *sel = vow_select(l, k, 2);
    const vow_selected *o = outcome(sel);
    assert_int_equal(o->index, 0);
    assert_int_equal(o->code, 0);
    assert_ptr_equal(o->val.ptr, &it[1]);
    assert_null(o->p);
    /* Only one case completed: a still holds its item. */
    assert_int_equal(vow_chan_len(a), 1);
    assert_int_equal(vow_chan_len(b), 0);
    assert_ptr_equal(st_take(sel), &it[1]);
    vow_unref(sel);
    vow_val v;
    assert_int_equal(vow_chan_try_recv(a, &v), 0);
    st_received(v);
    st_check_once(it, 2);
    vow_chan_unref(a);
    vow_chan_unref(b);
    st_finish(l);
}

/* Two receives wait; two items arrive in one turn: only one is taken. */
static void one_wins_others_withdrawn(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *a = vow_chan_new(l, 1), *b = vow_chan_new(l, 1);
    vow_select_case k[2] = { recv_case(a), recv_case(b) };
    vow *sel = vow_select(l, k, 2);
    assert_int_equal(vow_state(sel), VOW_PENDING);
    struct st_item it[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
    assert_int_equal(vow_chan_try_send(b, st_val(&it[1])), 0);
    assert_int_equal(vow_chan_try_send(a, st_val(&it[0])), 0);
    /* b's item reached the select at once; a's stays buffered. */
    const vow_selected *o = outcome(sel);
    assert_int_equal(o->index, 1);
    assert_int_equal(vow_chan_len(a), 1);
    assert_int_equal(vow_chan_len(b), 0);
    /* Not taken: dropping the select drops the item, once. */
    vow_unref(sel);
    assert_int_equal(it[1].drops, 1);
    vow_val v;
    assert_int_equal(vow_chan_try_recv(a, &v), 0);
    st_received(v);
    st_check_once(it, 2);
    vow_chan_unref(a);
    vow_chan_unref(b);
    st_finish(l);
}

/* One value offered on two channels reaches exactly one: SEND cases borrow it. */
static void send_same_value_to_two(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *a = vow_chan_new(l, 0), *b = vow_chan_new(l, 0);
    struct st_item it = { 0, 0, 0 };
    vow_select_case k[2] = { send_case(a, st_val(&it)), send_case(b, st_val(&it)) };
    vow *sel = vow_select(l, k, 2);
    assert_int_equal(vow_state(sel), VOW_PENDING);
    vow *rb = vow_chan_recv(b);
    assert_int_equal(outcome(sel)->index, 1);
    assert_ptr_equal(st_take(rb), &it);
    vow_unref(rb);
    /* a has no sender left. */
    vow *ra = vow_chan_recv(a);
    assert_int_equal(vow_state(ra), VOW_PENDING);
    vow_unref(ra);
    vow_unref(sel);
    st_check_once(&it, 1);
    /* A losing or withdrawn SEND case leaves the value with the caller. */
    struct st_item it2 = { 1, 0, 0 };
    vow_select_case k2[1] = { send_case(a, st_val(&it2)) };
    sel = vow_select(l, k2, 1);
    vow_cancel(sel);
    assert_int_equal(it2.drops, 0);
    vow_unref(sel);
    ra = vow_chan_recv(a);
    assert_int_equal(vow_state(ra), VOW_PENDING);
    vow_unref(ra);
    vow_chan_unref(a);
    vow_chan_unref(b);
    st_finish(l);
}

static void rendezvous_both_ways(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 0);
    /* A select waiting to receive meets a plain send, and the other way round. */
    vow_select_case k = recv_case(c);
    vow *sel = vow_select(l, &k, 1);
    vow *s = vow_chan_send(c, vow_val_num(5));
    assert_int_equal(vow_state(s), VOW_FULFILLED);
    assert_int_equal(outcome(sel)->val.num, 5);
    vow_unref(s);
    vow_unref(sel);
    k = send_case(c, vow_val_num(6));
    sel = vow_select(l, &k, 1);
    vow *r = vow_chan_recv(c);
    assert_int_equal(vow_value(r)->num, 6);
    assert_int_equal(outcome(sel)->code, 0);
    vow_unref(r);
    vow_unref(sel);
    /* Two selects meet: one receives what the other sends. */
    k = recv_case(c);
    vow *s1 = vow_select(l, &k, 1);
    vow_select_case k2 = send_case(c, vow_val_num(7));
    vow *s2 = vow_select(l, &k2, 1);
    assert_int_equal(outcome(s1)->val.num, 7);
    assert_int_equal(outcome(s2)->code, 0);
    vow_unref(s1);
    vow_unref(s2);
    vow_chan_unref(c);
    st_finish(l);
}

static void closed_channels(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 1);
    struct st_item it = { 0, 0, 0 };
    assert_int_equal(vow_chan_try_send(c, st_val(&it)), 0);
    vow_chan_close(c);
    /* RECV drains first, then sees the end; SEND sees the close. */
    vow_select_case k = recv_case(c);
    vow *sel = vow_select(l, &k, 1);
    assert_ptr_equal(st_take(sel), &it);
    vow_unref(sel);
    sel = vow_select(l, &k, 1);
    assert_int_equal(outcome(sel)->code, VOW_EOF);
    vow_unref(sel);
    struct st_item x = { 1, 0, 0 };
    k = send_case(c, st_val(&x));
    sel = vow_select(l, &k, 1);
    assert_int_equal(outcome(sel)->code, VOW_ECLOSED);
    assert_int_equal(x.drops, 0);
    vow_unref(sel);
    vow_chan_unref(c);
    /* A waiting select learns of a close. */
    c = vow_chan_new(l, 0);
    vow_select_case k2[2] = { recv_case(c), send_case(c, vow_val_num(1)) };
    sel = vow_select(l, k2, 2);
    vow_chan_close(c);
    /* The senders fail first: the SEND case wins with VOW_ECLOSED. */
    assert_int_equal(outcome(sel)->index, 1);
    assert_int_equal(outcome(sel)->code, VOW_ECLOSED);
    vow_unref(sel);
    vow_chan_unref(c);
    st_finish(l);
}

static void vow_cases(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 1);
    /* A settled input wins at once, before a later ready channel. */
    assert_int_equal(vow_chan_try_send(c, vow_val_num(1)), 0);
    vow_select_case k[2] = { vow_case(vow_resolved(l, vow_val_num(9))), recv_case(c) };
    vow *sel = vow_select(l, k, 2);
    const vow_selected *o = outcome(sel);
    assert_int_equal(o->index, 0);
    assert_int_equal(vow_value(o->p)->num, 9);
    assert_int_equal(vow_chan_len(c), 1);
    vow_unref(sel);
    /* A delay wins over an empty channel's receive, which takes nothing. */
    vow_val v;
    assert_int_equal(vow_chan_try_recv(c, &v), 0);
    vow_select_case k2[2] = { recv_case(c), vow_case(vow_delay(l, 2, vow_val_num(3))) };
    sel = vow_select(l, k2, 2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    o = outcome(sel);
    assert_int_equal(o->index, 1);
    assert_int_equal(o->code, 0);
    assert_int_equal(vow_value(o->p)->num, 3);
    vow_unref(sel);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(4)), 0);
    assert_int_equal(vow_chan_len(c), 1);
    assert_int_equal(vow_chan_try_recv(c, &v), 0);
    /* A rejected input wins with its code. */
    vow_select_case k3[2] = { recv_case(c), vow_case(vow_rejected(l, VOW_EBUSY, vow_val_none())) };
    sel = vow_select(l, k3, 2);
    o = outcome(sel);
    assert_int_equal(o->index, 1);
    assert_int_equal(o->code, VOW_EBUSY);
    vow_unref(sel);
    /* A channel wins over a pending input, which is cancelled (nobody else has it). */
    vow *in = vow_pending(l);
    struct st_seen seen = { 0 };
    st_watch(vow_ref(in), &seen);
    vow *in2 = vow_pending(l);
    vow_select_case k4[2] = { vow_case(vow_ref(in)), vow_case(vow_ref(in2)) };
    sel = vow_select(l, k4, 2);
    vow_resolve(in2, vow_val_num(8));
    vow_unref(in2);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    o = outcome(sel);
    assert_int_equal(o->index, 1);
    assert_int_equal(vow_value(o->p)->num, 8);
    /* in is still wanted by us and by the watcher: left alone. */
    assert_int_equal(vow_state(in), VOW_PENDING);
    vow_unref(sel);
    vow_resolve(in, vow_val_num(1));
    vow_unref(in);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(seen.ok, 1);
    vow_chan_unref(c);
    st_finish(l);
}

static void hook_count(void *ctx, vow *p)
{
    (void)p;
    (*(int *)ctx)++;
}

static void losing_input_cancelled(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 0);
    int hooks = 0;
    vow *in = vow_pending(l);
    assert_int_equal(vow_on_cancel(in, hook_count, &hooks), 0);
    vow_select_case k[2] = { vow_case(in), recv_case(c) };
    vow *sel = vow_select(l, k, 2);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(1)), 0);
    assert_int_equal(outcome(sel)->index, 1);
    assert_int_equal(hooks, 1);
    vow_unref(sel);
    vow_chan_unref(c);
    st_finish(l);
}

static void cancel_or_drop_select(void **state)
{
    (void)state;
    for (int drop = 0; drop < 2; drop++) {
        vow_loop *l = st_loop();
        vow_chan *a = vow_chan_new(l, 0), *b = vow_chan_new(l, 1);
        int hooks = 0;
        vow *in = vow_pending(l);
        assert_int_equal(vow_on_cancel(in, hook_count, &hooks), 0);
        vow_select_case k[3] = { recv_case(a), send_case(a, vow_val_num(2)), vow_case(in) };
        /* b is full: a SEND case on it waits too. */
        assert_int_equal(vow_chan_try_send(b, vow_val_num(0)), 0);
        vow_select_case kk[4] = { k[0], k[1], k[2], send_case(b, vow_val_num(3)) };
        vow *sel = vow_select(l, kk, 4);
        assert_int_equal(vow_state(sel), VOW_PENDING);
        if (drop)
            vow_unref(sel);
        else
            assert_int_equal(vow_cancel(sel), 0);
        assert_int_equal(hooks, 1);
        /* Nothing waits on either channel any more. */
        assert_int_equal(vow_chan_try_send(a, vow_val_num(1)), VOW_EAGAIN);
        vow_val v;
        assert_int_equal(vow_chan_try_recv(a, &v), VOW_EAGAIN);
        assert_int_equal(vow_chan_try_recv(b, &v), 0);
        assert_int_equal(v.num, 0);
        assert_int_equal(vow_chan_try_recv(b, &v), VOW_EAGAIN);
        if (!drop) {
            assert_int_equal(vow_code(sel), VOW_ECANCELED);
            vow_unref(sel);
        }
        vow_chan_unref(a);
        vow_chan_unref(b);
        st_finish(l);
    }
}

/* A select whose win cancels an input whose abort hook sends on a channel that
 * another case of the same select waits on: the finished select takes nothing more. */
struct hook_send {
    vow_chan *c; /* send here from the hook */
    int sent;    /* the send went into the buffer */
};

static void hook_sends(void *ctx, vow *p)
{
    struct hook_send *h = ctx;
    (void)p;
    h->sent = vow_chan_try_send(h->c, vow_val_num(77)) == 0;
}

static void reentrant_withdrawal(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *a = vow_chan_new(l, 1), *b = vow_chan_new(l, 1);
    struct hook_send h = { b, 0 };
    vow *in = vow_pending(l);
    assert_int_equal(vow_on_cancel(in, hook_sends, &h), 0);
    vow_select_case k[3] = { recv_case(a), vow_case(in), recv_case(b) };
    vow *sel = vow_select(l, k, 3);
    assert_int_equal(vow_chan_try_send(a, vow_val_num(1)), 0);
    assert_int_equal(outcome(sel)->index, 0);
    assert_int_equal(h.sent, 1);
    /* The item the hook sent stayed in b. */
    assert_int_equal(vow_chan_len(b), 1);
    vow_unref(sel);
    vow_chan_unref(a);
    vow_chan_unref(b);
    st_finish(l);
}

struct co_sel {
    vow_chan *a, *b; /* receive from either */
    int64_t sum;     /* of the items received */
    int n;           /* items received */
};

/* A coroutine that selects in a loop until both channels end. */
static vow_ret co_select_body(void *arg)
{
    struct co_sel *cs = arg;
    vow_loop *l = vow_loop_of(vow_co_self());
    int open = 2;
    vow_chan *ch[2] = { cs->a, cs->b };
    while (open) {
        vow_select_case k[2];
        int n = 0;
        for (int i = 0; i < 2; i++)
            if (ch[i])
                k[n++] = recv_case(ch[i]);
        vow *sel = vow_select(l, k, (size_t)n);
        int rc = vow_await(sel);
        assert_int_equal(rc, 0);
        const vow_selected *o = outcome(sel);
        if (o->code == VOW_EOF) {
            vow_chan *done = k[o->index].chan;
            for (int i = 0; i < 2; i++)
                if (ch[i] == done)
                    ch[i] = NULL;
            open--;
        } else {
            cs->sum += o->val.num;
            cs->n++;
        }
        vow_unref(sel);
    }
    return vow_ok(vow_val_none());
}

static vow_ret co_feed_body(void *arg)
{
    vow_chan *c = arg;
    for (int i = 1; i <= 100; i++) {
        vow *s = vow_chan_send(c, vow_val_num(i));
        assert_int_equal(vow_await(s), 0);
        vow_unref(s);
    }
    vow_chan_close(c);
    return vow_ok(vow_val_none());
}

static void coroutine_select_loop(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct co_sel cs = { vow_chan_new(l, 0), vow_chan_new(l, 3), 0, 0 };
    vow *co[3] = { vow_co_spawn(l, co_select_body, &cs, NULL),
                   vow_co_spawn(l, co_feed_body, cs.a, NULL),
                   vow_co_spawn(l, co_feed_body, cs.b, NULL) };
    vow_loop_run(l, VOW_RUN_DEFAULT);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vow_state(co[i]), VOW_FULFILLED);
        vow_unref(co[i]);
    }
    assert_int_equal(cs.n, 200);
    assert_int_equal(cs.sum, 2 * 5050);
    vow_chan_unref(cs.a);
    vow_chan_unref(cs.b);
    st_finish(l);
}

static void count_unhandled(void *ctx, vow *p, int event)
{
    (void)p;
    if (event == VOW_UNHANDLED)
        (*(int *)ctx)++;
}

static void bad_arguments(void **state)
{
    (void)state;
    vow_loop *l = st_loop(), *l2 = st_loop();
    int unhandled = 0;
    assert_int_equal(vow_loop_set_unhandled(l, count_unhandled, &unhandled), 0);
    vow_chan *c = vow_chan_new(l, 1), *c2 = vow_chan_new(l2, 1);
    assert_null(vow_select(NULL, NULL, 0));
    vow *sel = vow_select(l, NULL, 0);
    assert_int_equal(vow_code(sel), VOW_EINVAL);
    vow_unref(sel);
    vow_select_case bad[5] = {
        { 0, c, { { NULL }, NULL }, NULL },
        recv_case(NULL),
        recv_case(c2),
        vow_case(NULL),
        vow_case(vow_pending(l2)),
    };
    for (int i = 0; i < 5; i++) {
        /* Every VOW input is consumed, even when the select is refused. */
        vow_select_case k[2] = { vow_case(vow_pending(l)), bad[i] };
        sel = vow_select(l, k, 2);
        assert_int_equal(vow_code(sel), VOW_EINVAL);
        vow_unref(sel);
    }
    assert_null(vow_selected_get(NULL));
    vow_val v = vow_val_num(1);
    assert_null(vow_selected_get(&v));
    vow_chan_unref(c);
    vow_chan_unref(c2);
    vow_loop_run(l2, VOW_RUN_DEFAULT);
    assert_int_equal(vow_loop_close(l2), 0);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    /* The refusals themselves, dropped unread. */
    assert_int_equal(unhandled, 6);
    st_finish(l);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_ready_wins),
        cmocka_unit_test(one_wins_others_withdrawn),
        cmocka_unit_test(send_same_value_to_two),
        cmocka_unit_test(rendezvous_both_ways),
        cmocka_unit_test(closed_channels),
        cmocka_unit_test(vow_cases),
        cmocka_unit_test(losing_input_cancelled),
        cmocka_unit_test(cancel_or_drop_select),
        cmocka_unit_test(reentrant_withdrawal),
        cmocka_unit_test(coroutine_select_loop),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
