/* SPDX-License-Identifier: MIT */
/*
 * Randomized stress of the channel cancellation races (seeded, bounded): sends,
 * receives and selects, plain or under short timeouts, interleaved with cancels,
 * drops, closes, channel replacement and loop turns. After every step and at the end
 * of every round: no item is both received and dropped, none twice; every receiver
 * got its items in FIFO order; no channel ever buffers more than its capacity; at the
 * end every item was received or dropped exactly once and the loop closes clean.
 * VOW_SYNC_SEED picks the seed, VOW_SYNC_ROUNDS the number of rounds.
 */
#include "st.h"

#include <stdbool.h>

#define NCH 3       /* channels */
#define SLOTS 24    /* pending operations held at once */
#define STEPS 160   /* steps per round */
#define MAXCASES 3  /* cases per select */
#define MAXITEMS (STEPS * MAXCASES + 8)

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 33) % n;
}

/* An item: which channel it was offered on, and its send order there. */
struct item {
    struct st_item t; /* drop/receive counters (t.id is the index) */
    int chan;         /* channel number (generation-unique) */
    long seq;         /* send order on that channel */
    int owner_drop;   /* the caller still owns it (a select's SEND case) */
};

enum { OP_SEND = 1, OP_RECV, OP_SELECT };

/* One held operation. */
struct slot {
    vow *p;                       /* its vow (or the timeout around it), NULL if free */
    int op;                       /* OP_* */
    int wrapped;                  /* p is a vow_timeout around the operation */
    int chan;                     /* SEND/RECV: channel number */
    long rseq;                    /* RECV/SELECT: call order (receivers are FIFO) */
    struct item *item;            /* SEND: the item */
    int ncases;                   /* SELECT */
    int cop[MAXCASES];            /* SELECT: case ops */
    int cchan[MAXCASES];          /* SELECT: channel numbers (-1 for VOW cases) */
    struct item *citem[MAXCASES]; /* SELECT: SEND items (borrowed by the select) */
};

/* A received item, for the FIFO check. */
struct got {
    int chan;  /* channel number */
    long rseq; /* the receiver's call order */
    long seq;  /* the item's send order */
};

static struct {
    vow_loop *l;
    vow_chan *ch[NCH];    /* live channels */
    int num[NCH];         /* their channel numbers */
    size_t cap[NCH];      /* their capacities */
    long next_seq[NCH];   /* next send order per channel */
    int next_num;         /* next channel number */
    struct slot slot[SLOTS];
    struct item items[MAXITEMS];
    int nitems;
    struct got got[MAXITEMS];
    int ngot;
    long rseq;            /* receive call counter */
} S;

static void check_items(void)
{
    for (int i = 0; i < S.nitems; i++) {
        struct st_item *t = &S.items[i].t;
        if (t->drops + t->received > 1)
            fail_msg("seed %llu: item %d dropped %d and received %d times",
                     (unsigned long long)rng_state, i, t->drops, t->received);
    }
    for (int c = 0; c < NCH; c++)
        assert_true(vow_chan_len(S.ch[c]) <= S.cap[c]);
}

static struct item *new_item(int c)
{
    assert_true(S.nitems < MAXITEMS);
    struct item *it = &S.items[S.nitems];
    memset(it, 0, sizeof(*it));
    it->t.id = S.nitems++;
    it->chan = S.num[c];
    it->seq = S.next_seq[c]++;
    return it;
}

static void new_chan(int c)
{
    static const size_t caps[] = { 0, 1, 2, 4 };
    S.cap[c] = caps[rnd(4)];
    S.ch[c] = vow_chan_new(S.l, S.cap[c]);
    assert_non_null(S.ch[c]);
    S.num[c] = S.next_num++;
    S.next_seq[c] = 0;
}

static void got_item(vow_val v, int chan, long rseq)
{
    struct item *it = (struct item *)st_received(v);
    assert_int_equal(it->chan, chan);
    S.got[S.ngot++] = (struct got){ chan, rseq, it->seq };
}

/* What an item that a settled or abandoned select did not deliver needs: the caller
 * owns it and drops it once, however many of its cases offered it. */
static void select_release_items(struct slot *s, int delivered_case)
{
    for (int k = 0; k < s->ncases; k++) {
        struct item *it = s->citem[k];
        if (!it || k == delivered_case)
            continue;
        if (delivered_case >= 0 && s->citem[delivered_case] == it)
            continue;
        bool seen = false;
        for (int j = 0; j < k; j++)
            seen = seen || s->citem[j] == it;
        if (!seen)
            st_item_drop(&it->t);
    }
}

/* A settled operation: check and consume its outcome, free the slot. */
static void settle(struct slot *s)
{
    vow *p = s->p;
    int state = vow_state(p), code = vow_code(p);
    if (s->op == OP_SEND) {
        /* A failed send dropped its value and never delivered it. A cancelled
         * timeout around a send is the exception: cancelled in the same turn in
         * which the send completed, it reports VOW_ECANCELED for a value that went
         * in (the send's own vow is the truth); the final check covers it. */
        if (state == VOW_REJECTED && !(s->wrapped && code == VOW_ECANCELED)) {
            assert_int_equal(s->item->t.drops, 1);
            assert_int_equal(s->item->t.received, 0);
        }
    } else if (s->op == OP_RECV) {
        if (state == VOW_FULFILLED) {
            vow_val v;
            assert_int_equal(vow_chan_take(p, &v), 0);
            got_item(v, s->chan, s->rseq);
        } else {
            assert_true(code == VOW_ECANCELED || code == VOW_ETIMEDOUT || code == VOW_EOF);
        }
    } else {
        int won = -1;
        if (state == VOW_FULFILLED) {
            const vow_selected *o = vow_selected_get(vow_value(p));
            assert_non_null(o);
            won = (int)o->index;
            if (s->cop[won] == VOW_SELECT_RECV && o->code == 0) {
                vow_val v;
                assert_int_equal(vow_chan_take(p, &v), 0);
                got_item(v, s->cchan[won], s->rseq);
            }
            if (s->cop[won] != VOW_SELECT_SEND || o->code != 0)
                won = -1;
        } else {
            assert_int_equal(code, VOW_ECANCELED);
        }
        select_release_items(s, won);
    }
    vow_unref(p);
    memset(s, 0, sizeof(*s));
}

/* Drops a pending (or settled) operation unread: a pending one is withdrawn. A
 * vow_timeout keeps its input going when dropped (it still has a deadline to keep),
 * so a wrapped one is cancelled first. */
static void drop_slot(struct slot *s)
{
    if (vow_state(s->p) != VOW_PENDING) {
        settle(s);
        return;
    }
    if (s->wrapped)
        vow_cancel(s->p);
    vow_unref(s->p);
    if (s->op == OP_SEND && !s->wrapped) {
        assert_int_equal(s->item->t.drops, 1);
    } else if (s->op == OP_SELECT) {
        select_release_items(s, -1);
    }
    memset(s, 0, sizeof(*s));
}

static vow *maybe_timeout(struct slot *s, vow *p)
{
    if (p && rnd(4) == 0) {
        s->wrapped = 1;
        return vow_timeout(p, rnd(3));
    }
    return p;
}

static struct slot *free_slot(void)
{
    for (int i = 0; i < SLOTS; i++)
        if (!S.slot[i].p)
            return &S.slot[i];
    return NULL;
}

static void op_select(struct slot *s)
{
    vow_select_case k[MAXCASES];
    int n = 1 + (int)rnd(MAXCASES);
    s->op = OP_SELECT;
    s->ncases = n;
    s->rseq = S.rseq++;
    for (int i = 0; i < n; i++) {
        int c = (int)rnd(NCH);
        uint32_t what = rnd(10);
        memset(&k[i], 0, sizeof(k[i]));
        if (what < 4) {
            k[i].op = VOW_SELECT_RECV;
            k[i].chan = S.ch[c];
            s->cchan[i] = S.num[c];
        } else if (what < 8) {
            k[i].op = VOW_SELECT_SEND;
            k[i].chan = S.ch[c];
            s->cchan[i] = S.num[c];
            /* Sometimes the same item is offered by two cases on one channel. */
            struct item *it = i > 0 && s->cop[i - 1] == VOW_SELECT_SEND &&
                                      s->cchan[i - 1] == S.num[c] && rnd(2)
                                  ? s->citem[i - 1]
                                  : new_item(c);
            s->citem[i] = it;
            k[i].val = st_val(&it->t);
        } else {
            k[i].op = VOW_SELECT_VOW;
            k[i].p = rnd(2) ? vow_delay(S.l, rnd(3), vow_val_num(i))
                            : vow_resolved(S.l, vow_val_num(i));
            s->cchan[i] = -1;
        }
        s->cop[i] = k[i].op;
    }
    /* Not under vow_timeout: a select times out through a VOW case (a delay). */
    s->p = vow_select(S.l, k, (size_t)n);
    assert_non_null(s->p);
}

static void step(void)
{
    uint32_t what = rnd(100);
    int c = (int)rnd(NCH);
    struct slot *s = free_slot();
    if (what < 20 && s) {
        struct item *it = new_item(c);
        s->op = OP_SEND;
        s->chan = S.num[c];
        s->item = it;
        s->p = maybe_timeout(s, vow_chan_send(S.ch[c], st_val(&it->t)));
    } else if (what < 40 && s) {
        s->op = OP_RECV;
        s->chan = S.num[c];
        s->rseq = S.rseq++;
        s->p = maybe_timeout(s, vow_chan_recv(S.ch[c]));
    } else if (what < 50 && s) {
        op_select(s);
    } else if (what < 55) {
        struct item *it = new_item(c);
        int r = vow_chan_try_send(S.ch[c], st_val(&it->t));
        if (r < 0) {
            /* Refused: the value is still ours. */
            assert_true(r == VOW_EAGAIN || r == VOW_ECLOSED);
            st_item_drop(&it->t);
        }
    } else if (what < 60) {
        vow_val v;
        long rseq = S.rseq++;
        int r = vow_chan_try_recv(S.ch[c], &v);
        if (r == 0)
            got_item(v, S.num[c], rseq);
        else
            assert_true(r == VOW_EAGAIN || r == VOW_EOF);
    } else if (what < 70) {
        struct slot *t = &S.slot[rnd(SLOTS)];
        if (t->p && vow_state(t->p) == VOW_PENDING)
            vow_cancel(t->p);
    } else if (what < 76) {
        struct slot *t = &S.slot[rnd(SLOTS)];
        if (t->p)
            drop_slot(t);
    } else if (what < 79) {
        vow_chan_close(S.ch[c]);
    } else if (what < 81) {
        /* Replace the channel: its last reference closes it and drops its items. */
        vow_chan_unref(S.ch[c]);
        new_chan(c);
    } else if (what < 92) {
        vow_loop_run(S.l, rnd(3) ? VOW_RUN_NOWAIT : VOW_RUN_ONCE);
    } else {
        for (int i = 0; i < SLOTS; i++)
            if (S.slot[i].p && vow_state(S.slot[i].p) != VOW_PENDING)
                settle(&S.slot[i]);
    }
    check_items();
}

static int cmp_got(const void *a, const void *b)
{
    const struct got *x = a, *y = b;
    if (x->chan != y->chan)
        return x->chan < y->chan ? -1 : 1;
    return x->rseq < y->rseq ? -1 : x->rseq > y->rseq;
}

static void ignore_unhandled(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    (void)event;
}

static void round_once(void)
{
    memset(&S, 0, sizeof(S));
    S.l = st_loop();
    assert_int_equal(vow_loop_set_unhandled(S.l, ignore_unhandled, NULL), 0);
    for (int c = 0; c < NCH; c++)
        new_chan(c);
    for (int i = 0; i < STEPS; i++)
        step();
    /* Wind down: close everything, let every wait settle, read every outcome. */
    for (int c = 0; c < NCH; c++)
        vow_chan_close(S.ch[c]);
    vow_loop_run(S.l, VOW_RUN_DEFAULT);
    for (int c = 0; c < NCH; c++) {
        vow_val v;
        long rseq = S.rseq++;
        while (vow_chan_try_recv(S.ch[c], &v) == 0)
            got_item(v, S.num[c], rseq);
    }
    for (int i = 0; i < SLOTS; i++)
        if (S.slot[i].p) {
            assert_int_not_equal(vow_state(S.slot[i].p), VOW_PENDING);
            settle(&S.slot[i]);
        }
    for (int c = 0; c < NCH; c++)
        vow_chan_unref(S.ch[c]);
    /* FIFO: per channel, receivers in call order got items in send order. */
    qsort(S.got, (size_t)S.ngot, sizeof(S.got[0]), cmp_got);
    for (int i = 1; i < S.ngot; i++)
        if (S.got[i].chan == S.got[i - 1].chan && S.got[i].seq <= S.got[i - 1].seq)
            fail_msg("channel %d: receiver %ld got item %ld after receiver %ld got %ld",
                     S.got[i].chan, S.got[i].rseq, S.got[i].seq, S.got[i - 1].rseq,
                     S.got[i - 1].seq);
    for (int i = 0; i < S.nitems; i++)
        S.items[i].t.id = i;
    for (int i = 0; i < S.nitems; i++) {
        struct st_item *t = &S.items[i].t;
        if (t->drops + t->received != 1)
            fail_msg("item %d: dropped %d, received %d", i, t->drops, t->received);
    }
    st_finish(S.l);
}

static void stress(void **state)
{
    (void)state;
    const char *e = getenv("VOW_SYNC_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : 0x5eed5eedull;
    e = getenv("VOW_SYNC_ROUNDS");
    long rounds = e ? strtol(e, NULL, 0) : 300;
    if (getenv("VOW_UNDER_VALGRIND"))
        rounds = rounds / 10 > 0 ? rounds / 10 : 1;
    for (long r = 0; r < rounds; r++) {
        rng_state = seed + (uint64_t)r * 0x9e3779b97f4a7c15ull;
        if (!rng_state)
            rng_state = 1;
        round_once();
    }
    fprintf(stderr, "# %ld rounds of %d steps from seed %#llx\n", rounds, STEPS,
            (unsigned long long)seed);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
