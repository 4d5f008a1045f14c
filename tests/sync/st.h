/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the coordination tests: a loop that must close clean, tracked
 * items (each knows how often it was dropped and received, so "exactly once" is
 * checkable), and small chain handlers.
 */
#ifndef VOW_SYNC_TEST_H
#define VOW_SYNC_TEST_H

#include "testutil.h"

#include "vow/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline vow_loop *st_loop(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    return l;
}

/* Runs l dry, then it must close and nothing libvow allocated may be left. */
static inline void st_finish(vow_loop *l)
{
    assert_true(vow_loop_run(l, VOW_RUN_DEFAULT) >= 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* Runs queued microtasks and ready callbacks without blocking. */
static inline void st_turn(vow_loop *l)
{
    assert_true(vow_loop_run(l, VOW_RUN_NOWAIT) >= 0);
}

/* ------------------------------------------------------------ tracked items */

/* An item sent through a channel: its drop must run at most once, and never for an
 * item some receiver took (moved out with vow_chan_take / try_recv). */
struct st_item {
    int id;       /* its number */
    int drops;    /* times the library dropped it */
    int received; /* times a receiver took it */
};

static void st_item_drop(void *ptr)
{
    struct st_item *it = ptr;
    it->drops++;
}

static inline vow_val st_val(struct st_item *it)
{
    return vow_val_ptr(it, st_item_drop);
}

/* A receiver takes v (moved out of its vow): count it, it is not dropped. */
static inline struct st_item *st_received(vow_val v)
{
    struct st_item *it = v.ptr;
    assert_non_null(it);
    assert_ptr_equal(v.drop, st_item_drop);
    it->received++;
    return it;
}

/* Takes the item out of a fulfilled receive vow and counts it. */
static inline struct st_item *st_take(vow *r)
{
    vow_val v;
    assert_int_equal(vow_chan_take(r, &v), 0);
    return st_received(v);
}

/* Each item was delivered or dropped exactly once. */
static inline void st_check_once(struct st_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        if (items[i].drops + items[i].received != 1)
            fail_msg("item %d: dropped %d times, received %d times", items[i].id, items[i].drops,
                     items[i].received);
    }
}

/* ------------------------------------------------------------ chain helpers */

/* What a chain handler saw. */
struct st_seen {
    int ok;       /* fulfilment handlers run */
    int err;      /* rejection handlers run */
    int code;     /* the last rejection code */
    int64_t num;  /* the last fulfilment value's num */
};

static vow_ret st_on_ok(void *ctx, const vow_val *v)
{
    struct st_seen *s = ctx;
    s->ok++;
    s->num = v->num;
    return vow_ok(vow_val_none());
}

static vow_ret st_on_err(void *ctx, int code, const vow_val *d)
{
    struct st_seen *s = ctx;
    (void)d;
    s->err++;
    s->code = code;
    return vow_ok(vow_val_none());
}

/* Watches p (consumed) with st_on_ok/st_on_err; the derived vow is dropped, the
 * reaction keeps what it needs alive. */
static inline void st_watch(vow *p, struct st_seen *s)
{
    assert_non_null(p);
    vow_unref(vow_then(p, st_on_ok, st_on_err, s));
}

#endif /* VOW_SYNC_TEST_H */
