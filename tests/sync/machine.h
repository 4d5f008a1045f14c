/* SPDX-License-Identifier: MIT */
/*
 * A state machine over the channel API, shared by the randomized stress test (choices
 * from a seeded generator) and the libFuzzer target tests/fuzz/fuzz-sync.c (choices
 * from the input): sends, receives and selects, plain or under short timeouts,
 * try_send/try_recv, cancels, drops, closes, channel replacement, loop turns and (for
 * the fuzzer) injected allocation failures. The includer defines M_CHECK(cond) (a
 * failed invariant must stop the program) and sets m_next, the source of choices.
 *
 * Invariants checked after every step: no item both received and dropped, none
 * twice; no channel buffers more than its capacity; a failed send dropped its value.
 * At the end of a run: every item received or dropped exactly once, receivers of a
 * channel got items in send order (FIFO on both sides), the loop closes clean.
 */
#ifndef VOW_SYNC_MACHINE_H
#define VOW_SYNC_MACHINE_H

#include "vow/sync.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define M_NCH 3       /* channels */
#define M_SLOTS 24    /* pending operations held at once */
#define M_MAXSTEPS 400 /* steps per run at most */
#define M_MAXCASES 3  /* cases per select */
#define M_MAXITEMS (M_MAXSTEPS * M_MAXCASES + 8)

/* The source of choices: a number in [0, n). */
static uint32_t (*m_next)(uint32_t n);
/* Injects an allocation failure k allocations from now (the fuzzer's; may be NULL). */
static void (*m_fail_soon)(long k);
/* Timeouts and delays last 0 .. m_ms - 1 milliseconds (the fuzzer keeps them at 0, so
 * no run ever sleeps). */
static uint32_t m_ms = 3;

/* An item: how often it was dropped and received, where and when it was sent. */
struct m_item {
    int drops;    /* times its drop ran */
    int received; /* times a receiver took it */
    int chan;     /* channel number (unique per channel made) */
    long seq;     /* send order on that channel */
};

enum { M_SEND = 1, M_RECV, M_SELECT };

/* One held operation. */
struct m_slot {
    vow *p;                          /* its vow (or the timeout around it); NULL: free */
    int op;                          /* M_* */
    int wrapped;                     /* p is a vow_timeout around the operation */
    int chan;                        /* SEND/RECV: channel number */
    long rseq;                       /* RECV/SELECT: call order (receivers are FIFO) */
    struct m_item *item;             /* SEND: the item */
    int ncases;                      /* SELECT */
    int cop[M_MAXCASES];             /* SELECT: case ops */
    int cchan[M_MAXCASES];           /* SELECT: channel numbers (-1: VOW case) */
    struct m_item *citem[M_MAXCASES]; /* SELECT: SEND items (borrowed by the select) */
};

/* A received item, for the FIFO check. */
struct m_got {
    int chan;  /* channel number */
    long rseq; /* the receiver's call order */
    long seq;  /* the item's send order */
};

static struct {
    vow_loop *l;                       /* the loop */
    vow_chan *ch[M_NCH];               /* live channels (NULL if one could not be made) */
    int num[M_NCH];                    /* their channel numbers */
    size_t cap[M_NCH];                 /* their capacities */
    long next_seq[M_NCH];              /* next send order per channel */
    int next_num;                      /* next channel number */
    struct m_slot slot[M_SLOTS];       /* held operations */
    struct m_item items[M_MAXITEMS];   /* every item made */
    int nitems;                        /* entries of items used */
    struct m_got got[M_MAXITEMS];      /* every item received */
    int ngot;                          /* entries of got used */
    long rseq;                         /* receive call counter */
} M;

static void m_item_drop(void *ptr)
{
    struct m_item *it = ptr;
    M_CHECK(it >= M.items && it < M.items + M.nitems);
    it->drops++;
    M_CHECK(it->drops == 1 && it->received == 0);
}

static vow_val m_val(struct m_item *it)
{
    return vow_val_ptr(it, m_item_drop);
}

/* Every drop and every receipt checks "at most once" as it happens (m_item_drop,
 * m_got_item); after each step only the capacities are left to check. */
static void m_check_items(void)
{
    for (int c = 0; c < M_NCH; c++)
        M_CHECK(vow_chan_len(M.ch[c]) <= M.cap[c]);
}

static struct m_item *m_new_item(int c)
{
    M_CHECK(M.nitems < M_MAXITEMS);
    struct m_item *it = &M.items[M.nitems++];
    memset(it, 0, sizeof(*it));
    it->chan = M.num[c];
    it->seq = M.next_seq[c]++;
    return it;
}

/* The caller still owns it (never handed over, or given back): drop it. */
static void m_own_drop(struct m_item *it)
{
    m_item_drop(it);
}

static void m_new_chan(int c)
{
    static const size_t caps[] = { 0, 1, 2, 4 };
    M.cap[c] = caps[m_next(4)];
    M.ch[c] = vow_chan_new(M.l, M.cap[c]);
    M.num[c] = M.next_num++;
    M.next_seq[c] = 0;
}

static void m_got_item(vow_val v, int chan, long rseq)
{
    M_CHECK(v.drop == m_item_drop);
    struct m_item *it = v.ptr;
    M_CHECK(it->chan == chan);
    it->received++;
    M_CHECK(it->received == 1 && it->drops == 0);
    M.got[M.ngot++] = (struct m_got){ chan, rseq, it->seq };
}

/* The items of a select that it did not deliver are the caller's: each is dropped
 * once, however many cases offered it. */
static void m_select_release(struct m_slot *s, int delivered)
{
    for (int k = 0; k < s->ncases; k++) {
        struct m_item *it = s->citem[k];
        if (!it || (delivered >= 0 && s->citem[delivered] == it))
            continue;
        bool seen = false;
        for (int j = 0; j < k; j++)
            seen = seen || s->citem[j] == it;
        if (!seen)
            m_own_drop(it);
    }
}

/* A settled operation: check and consume its outcome, free the slot. */
static void m_settle(struct m_slot *s)
{
    vow *p = s->p;
    int state = vow_state(p), code = vow_code(p);
    M_CHECK(state != VOW_PENDING);
    if (s->op == M_SEND) {
        /* A failed send dropped its value and never delivered it. A cancelled
         * timeout around a send is the exception: cancelled in the same turn in which
         * the send completed, it reports VOW_ECANCELED for a value that went in (the
         * send's own vow is the truth); the end-of-run check covers it. */
        if (state == VOW_REJECTED && !(s->wrapped && code == VOW_ECANCELED))
            M_CHECK(s->item->drops == 1 && s->item->received == 0);
    } else if (s->op == M_RECV) {
        if (state == VOW_FULFILLED) {
            vow_val v;
            M_CHECK(vow_chan_take(p, &v) == 0);
            m_got_item(v, s->chan, s->rseq);
        } else {
            M_CHECK(code == VOW_ECANCELED || code == VOW_ETIMEDOUT || code == VOW_EOF ||
                    code == VOW_ENOMEM);
        }
    } else {
        int won = -1;
        if (state == VOW_FULFILLED) {
            const vow_selected *o = vow_selected_get(vow_value(p));
            M_CHECK(o != NULL && o->index < (size_t)s->ncases);
            won = (int)o->index;
            if (s->cop[won] == VOW_SELECT_RECV && o->code == 0) {
                vow_val v;
                M_CHECK(vow_chan_take(p, &v) == 0);
                m_got_item(v, s->cchan[won], s->rseq);
            }
            if (s->cop[won] == VOW_SELECT_RECV)
                M_CHECK(o->code == 0 || o->code == VOW_EOF);
            if (s->cop[won] == VOW_SELECT_SEND)
                M_CHECK(o->code == 0 || o->code == VOW_ECLOSED);
            if (s->cop[won] != VOW_SELECT_SEND || o->code != 0)
                won = -1;
        } else {
            M_CHECK(code == VOW_ECANCELED || code == VOW_ENOMEM);
        }
        m_select_release(s, won);
    }
    vow_unref(p);
    memset(s, 0, sizeof(*s));
}

/* Drops an operation unread: a pending one is withdrawn. A vow_timeout keeps its
 * input going when dropped (it still has a deadline to keep), so a wrapped one is
 * cancelled first. */
static void m_drop_slot(struct m_slot *s)
{
    if (vow_state(s->p) != VOW_PENDING) {
        m_settle(s);
        return;
    }
    if (s->wrapped)
        vow_cancel(s->p);
    vow_unref(s->p);
    if (s->op == M_SEND && !s->wrapped)
        M_CHECK(s->item->drops == 1);
    else if (s->op == M_SELECT)
        m_select_release(s, -1);
    memset(s, 0, sizeof(*s));
}

/* p (maybe NULL: out of memory) into slot s, maybe under a short timeout. A NULL
 * timeout consumed p: the operation is gone, as if dropped. */
static void m_hold(struct m_slot *s, vow *p)
{
    if (p && m_next(4) == 0) {
        s->wrapped = 1;
        p = vow_timeout(p, m_next(m_ms));
    }
    s->p = p;
    if (p)
        return;
    /* A send that failed outright dropped its value; one whose timeout could not be
     * made may have completed first (the end-of-run check covers it). */
    if (s->op == M_SEND && !s->wrapped)
        M_CHECK(s->item->drops == 1);
    else if (s->op == M_SELECT)
        m_select_release(s, -1);
    memset(s, 0, sizeof(*s));
}

static struct m_slot *m_free_slot(void)
{
    for (int i = 0; i < M_SLOTS; i++)
        if (!M.slot[i].p)
            return &M.slot[i];
    return NULL;
}

static void m_op_select(struct m_slot *s)
{
    vow_select_case k[M_MAXCASES];
    int n = 1 + (int)m_next(M_MAXCASES);
    s->op = M_SELECT;
    s->ncases = n;
    s->rseq = M.rseq++;
    for (int i = 0; i < n; i++) {
        int c = (int)m_next(M_NCH);
        uint32_t what = m_next(10);
        memset(&k[i], 0, sizeof(k[i]));
        if (what < 4 || !M.ch[c]) {
            k[i].op = VOW_SELECT_VOW;
            k[i].p = what & 1 ? vow_delay(M.l, m_next(m_ms), vow_val_num(i))
                              : vow_resolved(M.l, vow_val_num(i));
            s->cchan[i] = -1;
        } else if (what < 7) {
            k[i].op = VOW_SELECT_RECV;
            k[i].chan = M.ch[c];
            s->cchan[i] = M.num[c];
        } else {
            k[i].op = VOW_SELECT_SEND;
            k[i].chan = M.ch[c];
            s->cchan[i] = M.num[c];
            /* Sometimes the same item is offered by two cases on one channel. */
            struct m_item *it = i > 0 && s->cop[i - 1] == VOW_SELECT_SEND &&
                                        s->cchan[i - 1] == M.num[c] && m_next(2)
                                    ? s->citem[i - 1]
                                    : m_new_item(c);
            s->citem[i] = it;
            k[i].val = m_val(it);
        }
        s->cop[i] = k[i].op;
        /* A NULL VOW input (out of memory) is refused with VOW_EINVAL: keep it out. */
        if (k[i].op == VOW_SELECT_VOW && !k[i].p) {
            k[i].op = VOW_SELECT_VOW;
            k[i].p = NULL;
            n = i;
            s->ncases = n;
            break;
        }
    }
    if (n == 0) {
        memset(s, 0, sizeof(*s));
        return;
    }
    /* Not under vow_timeout (a select times out through a VOW case): hold it plain. */
    vow *p = vow_select(M.l, k, (size_t)n);
    s->p = p;
    if (!p) {
        m_select_release(s, -1);
        memset(s, 0, sizeof(*s));
    }
}

static void m_step(void)
{
    uint32_t what = m_next(100);
    int c = (int)m_next(M_NCH);
    struct m_slot *s = m_free_slot();
    if (!M.ch[c] && what < 81) {
        m_new_chan(c);
    } else if (what < 20 && s) {
        struct m_item *it = m_new_item(c);
        s->op = M_SEND;
        s->chan = M.num[c];
        s->item = it;
        m_hold(s, vow_chan_send(M.ch[c], m_val(it)));
    } else if (what < 40 && s) {
        s->op = M_RECV;
        s->chan = M.num[c];
        s->rseq = M.rseq++;
        m_hold(s, vow_chan_recv(M.ch[c]));
    } else if (what < 50 && s) {
        m_op_select(s);
    } else if (what < 55) {
        struct m_item *it = m_new_item(c);
        int r = vow_chan_try_send(M.ch[c], m_val(it));
        if (r < 0) {
            /* Refused: the value is still ours. */
            M_CHECK(r == VOW_EAGAIN || r == VOW_ECLOSED || r == VOW_ENOMEM);
            m_own_drop(it);
        }
    } else if (what < 60) {
        vow_val v;
        long rseq = M.rseq++;
        int r = vow_chan_try_recv(M.ch[c], &v);
        if (r == 0)
            m_got_item(v, M.num[c], rseq);
        else
            M_CHECK(r == VOW_EAGAIN || r == VOW_EOF);
    } else if (what < 70) {
        struct m_slot *t = &M.slot[m_next(M_SLOTS)];
        if (t->p && vow_state(t->p) == VOW_PENDING)
            vow_cancel(t->p);
    } else if (what < 76) {
        struct m_slot *t = &M.slot[m_next(M_SLOTS)];
        if (t->p)
            m_drop_slot(t);
    } else if (what < 79) {
        vow_chan_close(M.ch[c]);
    } else if (what < 81) {
        /* Replace the channel: its last reference closes it and drops its items. */
        vow_chan_unref(M.ch[c]);
        m_new_chan(c);
    } else if (what < 90) {
        vow_loop_run(M.l, m_next(3) ? VOW_RUN_NOWAIT : VOW_RUN_ONCE);
    } else if (what < 93 && m_fail_soon) {
        m_fail_soon(1 + (long)m_next(8));
    } else {
        for (int i = 0; i < M_SLOTS; i++)
            if (M.slot[i].p && vow_state(M.slot[i].p) != VOW_PENDING)
                m_settle(&M.slot[i]);
    }
    m_check_items();
}

static int m_cmp_got(const void *a, const void *b)
{
    const struct m_got *x = a, *y = b;
    if (x->chan != y->chan)
        return x->chan < y->chan ? -1 : 1;
    return x->rseq < y->rseq ? -1 : x->rseq > y->rseq;
}

static void m_quiet(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    (void)event;
}

/*
 * One run: up to steps steps, then wind down (every channel closed, every wait
 * settled and read, every channel released) and check the end-of-run invariants.
 * Returns 0, or -1 if the loop itself could not be made (out of memory).
 */
static int m_run(int steps)
{
    memset(&M, 0, sizeof(M));
    M.l = vow_loop_new();
    if (!M.l)
        return -1;
    vow_loop_set_unhandled(M.l, m_quiet, NULL);
    for (int c = 0; c < M_NCH; c++)
        m_new_chan(c);
    for (int i = 0; i < steps && i < M_MAXSTEPS; i++)
        m_step();
    if (m_fail_soon)
        m_fail_soon(0);
    for (int c = 0; c < M_NCH; c++)
        vow_chan_close(M.ch[c]);
    vow_loop_run(M.l, VOW_RUN_DEFAULT);
    for (int c = 0; c < M_NCH; c++) {
        vow_val v;
        long rseq = M.rseq++;
        while (M.ch[c] && vow_chan_try_recv(M.ch[c], &v) == 0)
            m_got_item(v, M.num[c], rseq);
    }
    for (int i = 0; i < M_SLOTS; i++)
        if (M.slot[i].p)
            m_settle(&M.slot[i]);
    for (int c = 0; c < M_NCH; c++)
        vow_chan_unref(M.ch[c]);
    /* FIFO: per channel, receivers in call order got items in send order. */
    qsort(M.got, (size_t)M.ngot, sizeof(M.got[0]), m_cmp_got);
    for (int i = 1; i < M.ngot; i++)
        if (M.got[i].chan == M.got[i - 1].chan)
            M_CHECK(M.got[i].seq > M.got[i - 1].seq);
    for (int i = 0; i < M.nitems; i++)
        M_CHECK(M.items[i].drops + M.items[i].received == 1);
    vow_loop_run(M.l, VOW_RUN_DEFAULT);
    M_CHECK(vow_loop_close(M.l) == 0);
    return 0;
}

#endif /* VOW_SYNC_MACHINE_H */
