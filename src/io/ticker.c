/* SPDX-License-Identifier: MIT */
/*
 * The ticker: a drift-free clock of vows. Deadlines are multiples of the period from
 * the start, and the timer is armed only while someone waits for a tick.
 */
#include "io_int.h"

struct vow_ticker {
    vow_loop *l;     /* owning loop */
    uint64_t start;  /* loop time of tick 0 */
    uint64_t period; /* ms between ticks */
    uint64_t tick;   /* the tick the pending vow waits for */
    vow_timer t;     /* one-shot, armed only while p is pending */
    vow *p;          /* pending vow_ticker_next, borrowed (its abort clears it) */
};

static void ticker_fire(vow_timer *t)
{
    vow_ticker *k = t->data;
    vow *p = k->p;
    k->p = NULL;
    vow_resolve(p, vow_val_num((int64_t)k->tick));
}

static void ticker_abort(void *ctx, vow *p)
{
    vow_ticker *k = ctx;
    (void)p;
    vow_timer_stop(&k->t);
    k->p = NULL;
}

vow_ticker *vow_ticker_new(vow_loop *l, uint64_t period_ms)
{
    if (!l || period_ms == 0)
        return NULL;
    vow_ticker *k = vow__calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    if (vow_timer_init(l, &k->t, ticker_fire) < 0) {
        vow__free(k);
        return NULL;
    }
    k->t.data = k;
    k->l = l;
    k->start = vow_loop_now(l);
    k->period = period_ms;
    return k;
}

vow *vow_ticker_next(vow_ticker *k)
{
    if (!k)
        return NULL;
    if (k->p)
        return vow_rejected(k->l, VOW_EBUSY, vow_val_none());
    /* Deadlines are multiples of the period from the start, so lateness in one turn
     * never shifts later ticks. */
    uint64_t now = vow_loop_now(k->l);
    uint64_t n = (now - k->start) / k->period + 1;
    uint64_t deadline = k->start + n * k->period;
    vow *p = vow_pending(k->l);
    if (!p)
        return NULL;
    int r = vow_on_cancel_named(p, ticker_abort, k, "tick");
    if (r == 0)
        r = vow_timer_start(&k->t, deadline - now, 0);
    if (r < 0) {
        vow_reject(p, r, vow_val_none());
        return p;
    }
    k->tick = n;
    k->p = p;
    return p;
}

void vow_ticker_close(vow_ticker *k)
{
    if (!k)
        return;
    if (k->p)
        vow_cancel(k->p);
    vow_timer_stop(&k->t);
    vow__free(k);
}
