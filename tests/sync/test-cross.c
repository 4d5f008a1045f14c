/* SPDX-License-Identifier: MIT */
/*
 * Channels between loops on real threads (run under ThreadSanitizer by test.sh):
 * producer threads feed a consumer loop with backpressure, with sends and receives
 * under short timeouts on both sides (a timed-out send never delivers, a timed-out
 * receive never takes an item); the last reference dropped on another thread while
 * a receive waits; close from the receiving side; select on a channel's receiving
 * side; a rendezvous between loops is refused.
 */
#include "st.h"

#include "vow/co.h"

#include <pthread.h>
#include <stdatomic.h>

#define PRODUCERS 3
#define PER_PRODUCER 3000
#define CAP 4

static atomic_int live_items; /* heap items made and not yet freed */
static atomic_int freed_by_channel; /* items the library dropped */

/* A heap item: its producer and its number. */
struct hitem {
    int producer; /* who sent it */
    int n;        /* its number, 0.. in send order */
};

static void hitem_drop(void *ptr)
{
    atomic_fetch_add(&freed_by_channel, 1);
    atomic_fetch_sub(&live_items, 1);
    free(ptr);
}

static vow_val hitem_new(int producer, int n)
{
    struct hitem *h = malloc(sizeof(*h));
    assert_non_null(h);
    h->producer = producer;
    h->n = n;
    atomic_fetch_add(&live_items, 1);
    return vow_val_ptr(h, hitem_drop);
}

/* ------------------------------------------------------------ producers */

struct consumer {
    vow_chan *c;  /* receive from here */
    int id;       /* the producer behind it */
    int got;      /* items received, in order */
    int timeouts; /* receives that timed out */
    vow *co;      /* the consuming coroutine */
};

struct producer {
    int id;             /* producer number */
    vow_loop *target;   /* the consumer's loop */
    vow_chan *c;        /* its own reference */
    int timeouts;       /* sends that timed out (and were sent again) */
    struct consumer *k; /* the consumer's side, set up on the consumer's loop */
    pthread_t thread;   /* the thread */
};

/* Sends PER_PRODUCER items in order; a send that times out is made again with a new
 * value (the timed-out one was dropped, never delivered). */
static vow_ret produce(void *arg)
{
    struct producer *p = arg;
    for (int n = 0; n < PER_PRODUCER;) {
        vow *s = vow_chan_send(p->c, hitem_new(p->id, n));
        assert_non_null(s);
        vow *t = n % 7 == 0 ? vow_timeout(vow_ref(s), 0) : vow_ref(s);
        int rc = vow_await(t);
        vow_unref(t);
        /* The send's own vow is the truth (see the docs on wrappers). */
        if (rc == 0 || vow_state(s) == VOW_FULFILLED) {
            n++;
        } else {
            assert_int_equal(rc, VOW_ETIMEDOUT);
            p->timeouts++;
        }
        if (vow_state(s) == VOW_PENDING)
            vow_cancel(s);
        vow_unref(s);
        assert_true(vow_chan_len(p->c) <= CAP);
    }
    assert_int_equal(vow_chan_close(p->c), 0);
    return vow_ok(vow_val_none());
}

static vow_ret consume(void *arg)
{
    struct consumer *k = arg;
    for (int i = 0;; i++) {
        vow *r = vow_chan_recv(k->c);
        vow *t = i % 5 == 0 ? vow_timeout(vow_ref(r), 0) : vow_ref(r);
        int rc = vow_await(t);
        vow_unref(t);
        if (vow_state(r) == VOW_FULFILLED) {
            vow_val v;
            assert_int_equal(vow_chan_take(r, &v), 0);
            struct hitem *h = v.ptr;
            assert_int_equal(h->producer, k->id);
            assert_int_equal(h->n, k->got);
            k->got++;
            free(h);
            atomic_fetch_sub(&live_items, 1);
        } else if (rc == VOW_EOF) {
            vow_unref(r);
            break;
        } else {
            assert_int_equal(rc, VOW_ETIMEDOUT);
            k->timeouts++;
        }
        if (vow_state(r) == VOW_PENDING)
            vow_cancel(r);
        vow_unref(r);
        /* A slow consumer now and then, so producers meet a full channel. */
        if (i % 64 == 0)
            assert_int_equal(vow_co_sleep(0), 0);
    }
    return vow_ok(vow_val_none());
}

/* On the consumer's loop: a producer announced its channel. */
static void start_consumer(vow_loop *l, void *arg)
{
    struct consumer *k = arg;
    k->co = vow_co_spawn(l, consume, k, NULL);
    assert_non_null(k->co);
    vow_loop_keepalive(l, -1);
}

/* A producer thread makes its loop, then the channel from it to the consumer's
 * loop, hands the consumer a reference (posted to the consumer's loop) and sends. */
static void *producer_thread(void *arg)
{
    struct producer *p = arg;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_chan_new_between(l, p->target, CAP, &p->c), 0);
    p->k->c = vow_chan_ref(p->c);
    p->k->id = p->id;
    assert_int_equal(vow_loop_post(p->target, start_consumer, p->k), 0);
    vow *co = vow_co_spawn(l, produce, p, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(co), VOW_FULFILLED);
    vow_unref(co);
    vow_chan_unref(p->c);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_loop_close(l), 0);
    return NULL;
}

static void producers_feed_one_loop(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct producer p[PRODUCERS];
    struct consumer k[PRODUCERS];
    atomic_store(&live_items, 0);
    atomic_store(&freed_by_channel, 0);
    for (int i = 0; i < PRODUCERS; i++) {
        /* Alive until every producer has announced its channel. */
        assert_true(vow_loop_keepalive(l, 1) > 0);
        memset(&k[i], 0, sizeof(k[i]));
        p[i] = (struct producer){ i, l, NULL, 0, &k[i], 0 };
        assert_int_equal(pthread_create(&p[i].thread, NULL, producer_thread, &p[i]), 0);
    }
    vow_loop_run(l, VOW_RUN_DEFAULT);
    int timeouts = 0, send_timeouts = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(pthread_join(p[i].thread, NULL), 0);
        assert_int_equal(vow_state(k[i].co), VOW_FULFILLED);
        assert_int_equal(k[i].got, PER_PRODUCER);
        timeouts += k[i].timeouts;
        send_timeouts += p[i].timeouts;
        vow_unref(k[i].co);
        vow_chan_unref(k[i].c);
    }
    /* Each timed-out send's value was dropped; nothing else was. */
    assert_int_equal(atomic_load(&freed_by_channel), send_timeouts);
    assert_int_equal(atomic_load(&live_items), 0);
    fprintf(stderr, "# %d items, %d receive and %d send timeouts\n", PRODUCERS * PER_PRODUCER,
            timeouts, send_timeouts);
    st_finish(l);
}

/* ------------------------------------------------- a thread with a loop of its own */

/*
 * A helper thread: makes its loop, runs setup(t) on it, and runs it until nothing is
 * left. The main thread talks to it through vow_loop_post only.
 */
struct peer {
    vow_loop *main;                /* the test's loop */
    vow_loop *l;                   /* the peer's loop (made by the peer) */
    vow_chan *c;                   /* the channel, made by the peer */
    size_t cap;                    /* its capacity */
    void (*setup)(struct peer *t); /* runs on the peer's loop first */
    void (*on_main)(vow_loop *l, void *arg); /* posted to the main loop after setup */
    vow *r;                        /* main side: a pending receive or select */
    atomic_int code;               /* an outcome seen on the peer */
    pthread_t thread;              /* the thread */
};

static void *peer_thread(void *arg)
{
    struct peer *t = arg;
    t->l = vow_loop_new();
    assert_non_null(t->l);
    assert_int_equal(vow_chan_new_between(t->l, t->main, t->cap, &t->c), 0);
    vow_loop_keepalive(t->l, 1);
    if (t->setup)
        t->setup(t);
    assert_int_equal(vow_loop_post(t->main, t->on_main, t), 0);
    vow_loop_run(t->l, VOW_RUN_DEFAULT);
    return NULL;
}

static void peer_start(struct peer *t, vow_loop *main, size_t cap, void (*setup)(struct peer *),
                       void (*on_main)(vow_loop *, void *))
{
    memset(t, 0, sizeof(*t));
    t->main = main;
    t->cap = cap;
    t->setup = setup;
    t->on_main = on_main;
    assert_true(vow_loop_keepalive(main, 1) > 0);
    assert_int_equal(pthread_create(&t->thread, NULL, peer_thread, t), 0);
}

static void peer_join(struct peer *t)
{
    assert_int_equal(pthread_join(t->thread, NULL), 0);
    assert_int_equal(vow_loop_close(t->l), 0);
}

/* A thread sends two items and drops the last reference while our receive waits:
 * we drain the first; the second goes with the channel. */
static void late_send(vow_loop *l, void *arg)
{
    struct peer *t = arg;
    (void)l;
    assert_int_equal(vow_chan_try_send(t->c, hitem_new(9, 0)), 0);
    assert_int_equal(vow_chan_try_send(t->c, hitem_new(9, 1)), 0);
    vow_chan_unref(t->c);
    vow_loop_keepalive(t->l, -1);
}

static void late_main(vow_loop *l, void *arg)
{
    struct peer *t = arg;
    /* The peer's reference is the only one: ours is a receive that waits, which
     * does not keep the channel open. */
    t->r = vow_chan_recv(t->c);
    assert_int_equal(vow_state(t->r), VOW_PENDING);
    assert_int_equal(vow_loop_post(t->l, late_send, t), 0);
    vow_loop_keepalive(l, -1);
}

static void last_reference_on_other_thread(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    atomic_store(&live_items, 0);
    struct peer t;
    peer_start(&t, l, 2, NULL, late_main);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    assert_int_equal(vow_state(t.r), VOW_FULFILLED);
    vow_val v;
    assert_int_equal(vow_chan_take(t.r, &v), 0);
    assert_int_equal(((struct hitem *)v.ptr)->n, 0);
    hitem_drop(v.ptr);
    vow_unref(t.r);
    peer_join(&t);
    assert_int_equal(atomic_load(&live_items), 0);
    st_finish(l);
}

/* The receiving side closes while a send waits on the other loop: the send fails
 * there, its value dropped on that thread. */
static vow_ret blocked_done(void *ctx, int code, const vow_val *d)
{
    struct peer *t = ctx;
    (void)d;
    atomic_store(&t->code, code);
    vow_chan_unref(t->c);
    vow_loop_keepalive(t->l, -1);
    return vow_ok(vow_val_none());
}

static void blocked_setup(struct peer *t)
{
    assert_int_equal(vow_chan_try_send(t->c, vow_val_num(1)), 0);
    vow *s = vow_chan_send(t->c, hitem_new(1, 1));
    assert_int_equal(vow_state(s), VOW_PENDING);
    vow_unref(vow_catch(s, blocked_done, t));
}

static void blocked_main(vow_loop *l, void *arg)
{
    struct peer *t = arg;
    assert_int_equal(vow_chan_len(t->c), 1);
    /* Ours, to drain after the peer let go of its one. */
    vow_chan_ref(t->c);
    assert_int_equal(vow_chan_close(t->c), 0);
    vow_loop_keepalive(l, -1);
}

static void close_from_receiving_side(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    atomic_store(&live_items, 0);
    struct peer t;
    peer_start(&t, l, 1, blocked_setup, blocked_main);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    vow_chan *c = t.c;
    peer_join(&t);
    assert_int_equal(atomic_load(&t.code), VOW_ECLOSED);
    assert_int_equal(atomic_load(&live_items), 0);
    /* Receivers still drain the buffered item, then see the end. */
    vow_val v;
    assert_int_equal(vow_chan_try_recv(c, &v), 0);
    assert_int_equal(v.num, 1);
    assert_int_equal(vow_chan_try_recv(c, &v), VOW_EOF);
    vow_chan_unref(c);
    st_finish(l);
}

/* Select over a channel's receiving side and a long delay; the peer sends once the
 * select waits. */
static void sel_send(vow_loop *l, void *arg)
{
    struct peer *t = arg;
    (void)l;
    vow_unref(vow_chan_send(t->c, vow_val_num(42)));
    vow_chan_unref(t->c);
    vow_loop_keepalive(t->l, -1);
}

static void sel_main(vow_loop *l, void *arg)
{
    struct peer *t = arg;
    vow_select_case k[2] = { { VOW_SELECT_RECV, t->c, { { NULL }, NULL }, NULL },
                             { VOW_SELECT_VOW, NULL, { { NULL }, NULL },
                               vow_delay(l, 60000, vow_val_none()) } };
    t->r = vow_select(l, k, 2);
    assert_int_equal(vow_state(t->r), VOW_PENDING);
    /* A SEND case on the receiving side's loop is refused. */
    vow_select_case bad = { VOW_SELECT_SEND, t->c, vow_val_num(1), NULL };
    vow *b = vow_select(l, &bad, 1);
    assert_int_equal(vow_code(b), VOW_EINVAL);
    static struct st_seen seen; /* the reaction runs after this returns */
    st_watch(b, &seen);
    /* Our own reference, for after the peer let go of its one. */
    vow_chan_ref(t->c);
    assert_int_equal(vow_loop_post(t->l, sel_send, t), 0);
    vow_loop_keepalive(l, -1);
}

static void select_between_loops(void **state)
{
    (void)state;
    vow_loop *l = st_loop();
    struct peer t;
    peer_start(&t, l, 2, NULL, sel_main);
    while (!t.r || vow_state(t.r) == VOW_PENDING)
        vow_loop_run(l, VOW_RUN_ONCE);
    const vow_selected *o = vow_selected_get(vow_value(t.r));
    assert_int_equal(o->index, 0);
    assert_int_equal(o->val.num, 42);
    vow_unref(t.r);
    peer_join(&t);
    vow_chan_unref(t.c);
    /* Rendezvous between two loops is refused. */
    vow_chan *z = NULL;
    vow_loop *l3 = vow_loop_new();
    assert_int_equal(vow_chan_new_between(l3, l, 0, &z), VOW_EINVAL);
    assert_int_equal(vow_loop_close(l3), 0);
    st_finish(l);
}

/* ------------------------------------------- two loops on one thread (deterministic) */

/* Runs both loops without blocking until neither has anything ready. */
static void spin(vow_loop *a, vow_loop *b)
{
    for (int i = 0; i < 8; i++) {
        vow_loop_run(a, VOW_RUN_NOWAIT);
        vow_loop_run(b, VOW_RUN_NOWAIT);
    }
}

static void two_loops_close_and_select(void **state)
{
    (void)state;
    vow_loop *a = st_loop(), *b = st_loop();
    vow_chan *c;
    assert_int_equal(vow_chan_new_between(a, b, 1, &c), 0);
    assert_int_equal(vow_chan_capacity(c), 1);
    /* Receivers wait on b; a close from a makes them see the end on b's turn. */
    struct st_seen r1 = { 0 }, r2 = { 0 };
    st_watch(vow_chan_recv(c), &r1);
    vow_select_case k = { VOW_SELECT_RECV, c, { { NULL }, NULL }, NULL };
    vow *sel = vow_select(b, &k, 1);
    st_watch(vow_chan_recv(c), &r2);
    assert_int_equal(vow_chan_is_closed(c), 0);
    assert_int_equal(vow_chan_close(c), 0);
    assert_int_equal(vow_chan_is_closed(c), 1);
    assert_int_equal(vow_chan_close(c), VOW_ECLOSED);
    assert_int_equal(r1.err, 0);
    spin(a, b);
    assert_int_equal(r1.code, VOW_EOF);
    assert_int_equal(r2.code, VOW_EOF);
    assert_int_equal(vow_selected_get(vow_value(sel))->code, VOW_EOF);
    vow_unref(sel);
    /* After the close: sends fail at once, selects too. */
    struct st_item it = { 0, 0, 0 };
    vow *s = vow_chan_send(c, st_val(&it));
    assert_int_equal(vow_code(s), VOW_ECLOSED);
    assert_int_equal(it.drops, 1);
    struct st_seen seen = { 0 };
    st_watch(s, &seen);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(1)), VOW_ECLOSED);
    vow_select_case ks = { VOW_SELECT_SEND, c, vow_val_num(2), NULL };
    sel = vow_select(a, &ks, 1);
    assert_int_equal(vow_selected_get(vow_value(sel))->code, VOW_ECLOSED);
    vow_unref(sel);
    sel = vow_select(b, &k, 1);
    assert_int_equal(vow_selected_get(vow_value(sel))->code, VOW_EOF);
    vow_unref(sel);
    vow_chan_unref(c);

    /* Senders wait on a; a close from b fails them on a's turn, values dropped. */
    assert_int_equal(vow_chan_new_between(a, b, 1, &c), 0);
    struct st_item x[3] = { { 0, 0, 0 }, { 1, 0, 0 }, { 2, 0, 0 } };
    struct st_seen s1 = { 0 };
    /* A select SEND case with room goes in at once. */
    ks = (vow_select_case){ VOW_SELECT_SEND, c, st_val(&x[0]), NULL };
    sel = vow_select(a, &ks, 1);
    assert_int_equal(vow_selected_get(vow_value(sel))->code, 0);
    vow_unref(sel);
    st_watch(vow_chan_send(c, st_val(&x[1])), &s1);
    ks.val = st_val(&x[2]);
    sel = vow_select(a, &ks, 1);
    assert_int_equal(vow_state(sel), VOW_PENDING);
    spin(a, b);
    assert_int_equal(vow_chan_close(c), 0);
    spin(a, b);
    assert_int_equal(s1.code, VOW_ECLOSED);
    assert_int_equal(x[1].drops, 1);
    /* The select's value stays ours. */
    assert_int_equal(vow_selected_get(vow_value(sel))->code, VOW_ECLOSED);
    assert_int_equal(x[2].drops, 0);
    x[2].drops++;
    vow_unref(sel);
    /* A select RECV case takes the buffered item at once. */
    k.chan = c;
    sel = vow_select(b, &k, 1);
    assert_ptr_equal(st_take(sel), &x[0]);
    vow_unref(sel);
    st_check_once(x, 3);
    vow_chan_unref(c);

    /* A select that waits on b gets an item that was sent before it could queue:
     * its side wakes itself. */
    assert_int_equal(vow_chan_new_between(a, b, 2, &c), 0);
    vow_select_case k2[2] = { { VOW_SELECT_RECV, c, { { NULL }, NULL }, NULL },
                              { VOW_SELECT_VOW, NULL, { { NULL }, NULL }, vow_pending(b) } };
    sel = vow_select(b, k2, 2);
    assert_int_equal(vow_chan_try_send(c, vow_val_num(5)), 0);
    spin(a, b);
    assert_int_equal(vow_selected_get(vow_value(sel))->val.num, 5);
    vow_unref(sel);
    vow_chan_unref(c);
    spin(a, b);
    assert_int_equal(vow_loop_close(a), 0);
    st_finish(b);
}

#include <sys/resource.h>
#include <unistd.h>

/* No fd left for the eventfds: the error is returned, nothing leaks. */
static void eventfd_exhaustion(void **state)
{
    (void)state;
    vow_loop *a = st_loop(), *b = st_loop();
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    for (int keep = 0; keep < 2; keep++) {
        /* Allow no new fd, then exactly one (the limit is on fd numbers; every
         * number below the lowest free one is taken). */
        long open_fds = tu_open_fds();
        int lowest = dup(0);
        assert_true(lowest >= 0);
        close(lowest);
        low.rlim_cur = (rlim_t)lowest + (rlim_t)keep;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        vow_chan *c = NULL;
        int r = vow_chan_new_between(a, b, 1, &c);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        assert_int_equal(r, -EMFILE);
        assert_null(c);
        assert_int_equal(tu_open_fds(), open_fds);
    }
    assert_int_equal(vow_loop_close(a), 0);
    st_finish(b);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(producers_feed_one_loop),
        cmocka_unit_test(last_reference_on_other_thread),
        cmocka_unit_test(close_from_receiving_side),
        cmocka_unit_test(select_between_loops),
        cmocka_unit_test(two_loops_close_and_select),
        cmocka_unit_test(eventfd_exhaustion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
