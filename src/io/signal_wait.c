/* SPDX-License-Identifier: MIT */
/*
 * vow_signal_wait: a vow of the next delivery of a signal, on the reactor's signal
 * watcher. Cancelling or dropping the vow stops the watcher.
 */
#include "io_int.h"

struct sig_op {
    vow *p;       /* borrowed: the abort hook frees this before p goes */
    vow_signal s; /* the reactor's watcher, data = this */
};

static void sig_fire(vow_signal *s, int signum)
{
    struct sig_op *op = s->data;
    vow *p = op->p;
    vow_signal_stop(s);
    vow__free(op);
    vow_resolve(p, vow_val_num(signum));
}

static void sig_abort(void *ctx, vow *p)
{
    struct sig_op *op = ctx;
    (void)p;
    vow_signal_stop(&op->s);
    vow__free(op);
}

vow *vow_signal_wait(vow_loop *l, int signum)
{
    if (!l)
        return NULL;
    vow *p = vow_pending(l);
    if (!p)
        return NULL;
    struct sig_op *op = vow__malloc(sizeof(*op));
    if (!op) {
        vow_unref(p);
        return NULL;
    }
    op->p = p;
    int r = vow_signal_init(l, &op->s, sig_fire);
    if (r < 0)
        goto fail;
    op->s.data = op;
    r = vow_on_cancel_named(p, sig_abort, op, "signal wait");
    if (r < 0)
        goto fail;
    r = vow_signal_start(&op->s, signum);
    if (r == 0)
        return p;
fail:
    /* Settling releases the abort hook without running it. */
    vow__free(op);
    vow_reject(p, r, vow_val_none());
    return p;
}
