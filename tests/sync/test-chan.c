/* SPDX-License-Identifier: MIT */
/*
 * Channels on one loop: FIFO order of items, senders and receivers; backpressure
 * (a fast producer never gets more than `capacity` items buffered); rendezvous; the
 * non-waiting calls; close (drain, then end of channel); the last reference; values
 * dropped exactly once; argument errors.
 */
#include "st.h"

#include "vow/co.h"

static void fifo_items_and_receivers(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 4);
    assert_non_null(c);
    assert_int_equal(vow_chan_capacity(c), 4);
    /* Three receivers wait, in order; items reach them in send order. */
    vow *r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = vow_chan_recv(c);
        assert_int_equal(vow_state(r[i]), VOW_PENDING);
    }
    for (int i = 0; i < 5; i++) {
        vow *s = vow_chan_send(c, vow_val_num(100 + i));
        /* Each send completes at once: a receiver took it, or there is room. */
        assert_int_equal(vow_state(s), VOW_FULFILLED);
        vow_unref(s);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vow_state(r[i]), VOW_FULFILLED);
        assert_int_equal(vow_value(r[i])->num, 100 + i);
        vow_unref(r[i]);
    }
    assert_int_equal(vow_chan_len(c), 2);
    vow_val v;
    assert_int_equal(vow_chan_try_recv(c, &v), 0);
    assert_int_equal(v.num, 103);
    vow *last = vow_chan_recv(c);
    assert_int_equal(vow_value(last)->num, 104);
    vow_unref(last);
    assert_int_equal(vow_chan_try_recv(c, &v), VOW_EAGAIN);
    vow_chan_unref(c);
    st_finish(l);
}

static void fifo_senders_when_full(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 2);
    vow *s[6];
    for (int i = 0; i < 6; i++)
        s[i] = vow_chan_send(c, vow_val_num(i));
    /* Two fit; four senders wait, in order. */
    assert_int_equal(vow_state(s[1]), VOW_FULFILLED);
    for (int i = 2; i < 6; i++)
        assert_int_equal(vow_state(s[i]), VOW_PENDING);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(99)), VOW_EAGAIN);
    for (int i = 0; i < 6; i++) {
        vow_val v;
        assert_int_equal(vow_chan_try_recv(c, &v), 0);
        assert_int_equal(v.num, i);
        /* Each item taken lets exactly the next waiting sender in. */
        if (i + 2 < 6) {
            assert_int_equal(vow_state(s[i + 2]), VOW_FULFILLED);
            if (i + 3 < 6)
                assert_int_equal(vow_state(s[i + 3]), VOW_PENDING);
        }
        assert_true(vow_chan_len(c) <= 2);
    }
    for (int i = 0; i < 6; i++)
        vow_unref(s[i]);
    vow_chan_unref(c);
    st_finish(l);
}

/* A receive that is already fulfilled still resumes its handlers only from the
 * microtask queue. */
static void settled_waits_resume_later(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 1);
    struct st_seen seen = { 0 };
    vow_unref(vow_chan_send(c, vow_val_num(7)));
    st_watch(vow_chan_recv(c), &seen);
    assert_int_equal(seen.ok, 0);
    st_turn(l);
    assert_int_equal(seen.ok, 1);
    assert_int_equal(seen.num, 7);
    vow_chan_unref(c);
    st_finish(l);
}

static void rendezvous(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 0);
    /* Nobody receives: try_send refuses and a send waits, holding its value. */
    assert_int_equal(vow_chan_try_send(c, vow_val_num(1)), VOW_EAGAIN);
    vow *s = vow_chan_send(c, vow_val_num(2));
    assert_int_equal(vow_state(s), VOW_PENDING);
    assert_int_equal(vow_chan_len(c), 0);
    /* A receive takes it straight from the sender and completes both. */
    vow *r = vow_chan_recv(c);
    assert_int_equal(vow_state(r), VOW_FULFILLED);
    assert_int_equal(vow_value(r)->num, 2);
    assert_int_equal(vow_state(s), VOW_FULFILLED);
    vow_unref(r);
    vow_unref(s);
    /* A waiting receiver makes try_send succeed. */
    r = vow_chan_recv(c);
    vow_val v;
    assert_int_equal(vow_chan_try_recv(c, &v), VOW_EAGAIN);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(3)), 0);
    assert_int_equal(vow_value(r)->num, 3);
    vow_unref(r);
    /* A waiting sender makes try_recv succeed. */
    s = vow_chan_send(c, vow_val_num(4));
    assert_int_equal(vow_chan_try_recv(c, &v), 0);
    assert_int_equal(v.num, 4);
    assert_int_equal(vow_state(s), VOW_FULFILLED);
    vow_unref(s);
    vow_chan_unref(c);
    st_finish(l);
}

/* ------------------------------------------------------------- backpressure */

#define BP_N 2000
#define BP_CAP 8

struct bp {
    vow_chan *c;                 /* the channel */
    struct st_item items[BP_N];  /* every item */
    int live, max_live;          /* items made and not yet consumed */
    size_t max_len;              /* the most the channel ever buffered */
    int consumed;                /* items the consumer finished */
};

static vow_ret bp_producer(void *arg)
{
    struct bp *b = arg;
    for (int i = 0; i < BP_N; i++) {
        b->items[i].id = i;
        b->live++;
        b->max_live = b->live > b->max_live ? b->live : b->max_live;
        vow *s = vow_chan_send(b->c, st_val(&b->items[i]));
        int rc = vow_await(s);
        vow_unref(s);
        assert_int_equal(rc, 0);
        size_t n = vow_chan_len(b->c);
        b->max_len = n > b->max_len ? n : b->max_len;
        assert_true(n <= BP_CAP);
    }
    vow_chan_close(b->c);
    return vow_ok(vow_val_none());
}

/* Slow: a loop turn between items. */
static vow_ret bp_consumer(void *arg)
{
    struct bp *b = arg;
    for (int i = 0;; i++) {
        vow *r = vow_chan_recv(b->c);
        int rc = vow_await(r);
        if (rc == VOW_EOF) {
            vow_unref(r);
            break;
        }
        assert_int_equal(rc, 0);
        struct st_item *it = st_take(r);
        vow_unref(r);
        assert_int_equal(it->id, i);
        assert_int_equal(vow_co_sleep(0), 0);
        b->live--;
        b->consumed++;
    }
    return vow_ok(vow_val_none());
}

static void backpressure_bounds_memory(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct bp *b = calloc(1, sizeof(*b));
    b->c = vow_chan_new(l, BP_CAP);
    vow *pc = vow_co_spawn(l, bp_consumer, b, NULL);
    vow *pp = vow_co_spawn(l, bp_producer, b, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(pp), VOW_FULFILLED);
    assert_int_equal(vow_state(pc), VOW_FULFILLED);
    assert_int_equal(b->consumed, BP_N);
    /* The buffer filled up, and never beyond capacity: the items alive at once are
     * the buffered ones, the one in the waiting send and the one being consumed. */
    assert_int_equal(b->max_len, BP_CAP);
    assert_true(b->max_live <= BP_CAP + 2);
    st_check_once(b->items, BP_N);
    vow_unref(pp);
    vow_unref(pc);
    vow_chan_unref(b->c);
    free(b);
    st_finish(l);
}

/* ------------------------------------------------------------------- close */

static void close_drains_then_eof(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 4);
    struct st_item it[3] = { { 0, 0, 0 }, { 1, 0, 0 }, { 2, 0, 0 } };
    assert_int_equal(vow_chan_try_send(c, st_val(&it[0])), 0);
    assert_int_equal(vow_chan_try_send(c, st_val(&it[1])), 0);
    assert_int_equal(vow_chan_is_closed(c), 0);
    assert_int_equal(vow_chan_close(c), 0);
    assert_int_equal(vow_chan_is_closed(c), 1);
    assert_int_equal(vow_chan_close(c), VOW_ECLOSED);
    /* Senders fail: the value is dropped by send, kept by try_send. */
    vow *s = vow_chan_send(c, st_val(&it[2]));
    assert_int_equal(vow_code(s), VOW_ECLOSED);
    assert_int_equal(it[2].drops, 1);
    vow_unref(s);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(5)), VOW_ECLOSED);
    /* Receivers drain, then see the end. */
    vow *r = vow_chan_recv(c);
    assert_ptr_equal(st_take(r), &it[0]);
    vow_unref(r);
    vow_val v;
    assert_int_equal(vow_chan_try_recv(c, &v), 0);
    assert_ptr_equal(st_received(v), &it[1]);
    r = vow_chan_recv(c);
    assert_int_equal(vow_code(r), VOW_EOF);
    vow_unref(r);
    assert_int_equal(vow_chan_try_recv(c, &v), VOW_EOF);
    st_check_once(it, 3);
    vow_chan_unref(c);
    st_finish(l);
}

static void close_settles_waiters(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    /* Waiting receivers. */
    vow_chan *c = vow_chan_new(l, 2);
    struct st_seen rs[2] = { { 0 } };
    st_watch(vow_chan_recv(c), &rs[0]);
    st_watch(vow_chan_recv(c), &rs[1]);
    assert_int_equal(vow_chan_close(c), 0);
    st_turn(l);
    assert_int_equal(rs[0].code, VOW_EOF);
    assert_int_equal(rs[1].code, VOW_EOF);
    vow_chan_unref(c);
    /* Waiting senders: values dropped, never delivered, buffered ones drained. */
    c = vow_chan_new(l, 1);
    struct st_item it[3] = { { 0, 0, 0 }, { 1, 0, 0 }, { 2, 0, 0 } };
    vow *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = vow_chan_send(c, st_val(&it[i]));
    assert_int_equal(vow_chan_close(c), 0);
    assert_int_equal(vow_state(s[0]), VOW_FULFILLED);
    assert_int_equal(vow_code(s[1]), VOW_ECLOSED);
    assert_int_equal(vow_code(s[2]), VOW_ECLOSED);
    assert_int_equal(it[1].drops, 1);
    assert_int_equal(it[2].drops, 1);
    vow *r = vow_chan_recv(c);
    assert_ptr_equal(st_take(r), &it[0]);
    vow_unref(r);
    st_check_once(it, 3);
    for (int i = 0; i < 3; i++)
        vow_unref(s[i]);
    vow_chan_unref(c);
    st_finish(l);
}

/* The last reference closes the channel, settles its waiters and drops what is
 * still buffered exactly once; other references keep it alive. */
static void last_reference_frees(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 4);
    struct st_item it[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
    assert_int_equal(vow_chan_try_send(c, st_val(&it[0])), 0);
    assert_int_equal(vow_chan_try_send(c, st_val(&it[1])), 0);
    assert_ptr_equal(vow_chan_ref(c), c);
    vow_chan_unref(c);
    assert_int_equal(vow_chan_is_closed(c), 0);
    assert_int_equal(vow_chan_len(c), 2);
    vow_chan_unref(c);
    assert_int_equal(it[0].drops, 1);
    assert_int_equal(it[1].drops, 1);

    /* A receiver waiting on a channel whose last reference goes sees the end. */
    c = vow_chan_new(l, 0);
    vow *r = vow_chan_recv(c);
    struct st_item x = { 9, 0, 0 };
    vow *s = NULL;
    vow_chan *c2 = vow_chan_new(l, 0);
    s = vow_chan_send(c2, st_val(&x));
    vow_chan_unref(c);
    assert_int_equal(vow_code(r), VOW_EOF);
    vow_chan_unref(c2);
    assert_int_equal(vow_code(s), VOW_ECLOSED);
    assert_int_equal(x.drops, 1);
    vow_unref(r);
    vow_unref(s);
    st_finish(l);
}

/* A value's drop may use the channel again (re-entrancy while closing). */
struct reenter {
    vow_chan *c;   /* the channel */
    int drops;     /* drops run */
    int sent_back; /* the send made from inside a drop was refused */
};

static void reenter_drop(void *ptr)
{
    struct reenter *re = ptr;
    re->drops++;
    vow *s = vow_chan_send(re->c, vow_val_num(1));
    if (vow_code(s) == VOW_ECLOSED)
        re->sent_back++;
    vow_unref(s);
}

static void drop_reenters_channel(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct reenter re = { vow_chan_new(l, 0), 0, 0 };
    vow *s1 = vow_chan_send(re.c, vow_val_ptr(&re, reenter_drop));
    vow *s2 = vow_chan_send(re.c, vow_val_ptr(&re, reenter_drop));
    assert_int_equal(vow_chan_close(re.c), 0);
    assert_int_equal(re.drops, 2);
    assert_int_equal(re.sent_back, 2);
    vow_unref(s1);
    vow_unref(s2);
    vow_chan_unref(re.c);
    st_finish(l);
}

static void take_moves_ownership(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    vow_chan *c = vow_chan_new(l, 2);
    struct st_item it[2] = { { 0, 0, 0 }, { 1, 0, 0 } };
    vow_unref(vow_chan_send(c, st_val(&it[0])));
    vow_unref(vow_chan_send(c, st_val(&it[1])));
    /* Not taken: the vow drops the item when it goes. */
    vow *r = vow_chan_recv(c);
    vow_unref(r);
    assert_int_equal(it[0].drops, 1);
    /* Taken: the vow keeps the bits but not the drop. */
    r = vow_chan_recv(c);
    vow_val v;
    assert_int_equal(vow_chan_take(r, &v), 0);
    assert_ptr_equal(v.ptr, &it[1]);
    assert_ptr_equal(vow_value(r)->ptr, &it[1]);
    assert_null(vow_value(r)->drop);
    vow_unref(r);
    assert_int_equal(it[1].drops, 0);
    v.drop(v.ptr);
    assert_int_equal(it[1].drops, 1);
    /* Errors. */
    r = vow_chan_recv(c);
    assert_int_equal(vow_chan_take(r, &v), VOW_ESTATE);
    assert_int_equal(vow_chan_take(NULL, &v), VOW_EINVAL);
    assert_int_equal(vow_chan_take(r, NULL), VOW_EINVAL);
    vow_unref(r);
    vow_chan_unref(c);
    st_finish(l);
}

static void bad_arguments(void **state)
{
    (void)state;
    struct st_item it = { 0, 0, 0 };
    assert_null(vow_chan_new(NULL, 1));
    assert_null(vow_chan_send(NULL, st_val(&it)));
    assert_int_equal(it.drops, 1);
    assert_null(vow_chan_recv(NULL));
    assert_int_equal(vow_chan_try_send(NULL, vow_val_num(1)), VOW_EINVAL);
    vow_val v;
    assert_int_equal(vow_chan_try_recv(NULL, &v), VOW_EINVAL);
    assert_int_equal(vow_chan_close(NULL), VOW_EINVAL);
    assert_int_equal(vow_chan_is_closed(NULL), VOW_EINVAL);
    assert_int_equal(vow_chan_len(NULL), 0);
    assert_int_equal(vow_chan_capacity(NULL), 0);
    assert_null(vow_chan_ref(NULL));
    vow_chan_unref(NULL);
    vow_chan *c = NULL;
    vow_loop *l = st_loop();
    assert_int_equal(vow_chan_new_between(NULL, l, 1, &c), VOW_EINVAL);
    assert_int_equal(vow_chan_new_between(l, l, 1, NULL), VOW_EINVAL);
    /* The same loop twice: an ordinary channel, rendezvous allowed. */
    assert_int_equal(vow_chan_new_between(l, l, 0, &c), 0);
    assert_int_equal(vow_chan_try_recv(c, NULL), VOW_EINVAL);
    vow_chan_unref(c);
    st_finish(l);
}

/* Error names of the codes this tier added. */
static void error_codes(void **state)
{
    (void)state;
    assert_string_equal(vow_err_name(VOW_EAGAIN), "EAGAIN");
    assert_string_equal(vow_err_name(VOW_EPERM), "EPERM");
    assert_string_equal(vow_err_name(VOW_EOF), "VOW_EOF");
    assert_non_null(strstr(vow_strerror(VOW_EOF), "channel"));
    assert_non_null(strstr(vow_strerror(VOW_ECLOSED), "channel"));
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_items_and_receivers),
        cmocka_unit_test(fifo_senders_when_full),
        cmocka_unit_test(settled_waits_resume_later),
        cmocka_unit_test(rendezvous),
        cmocka_unit_test(backpressure_bounds_memory),
        cmocka_unit_test(close_drains_then_eof),
        cmocka_unit_test(close_settles_waiters),
        cmocka_unit_test(last_reference_frees),
        cmocka_unit_test(drop_reenters_channel),
        cmocka_unit_test(take_moves_ownership),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(error_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
