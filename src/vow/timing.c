/* SPDX-License-Identifier: MIT */
/*
 * The timer-based vows: vow_delay fulfils after a time, vow_timeout rejects with
 * VOW_ETIMEDOUT when its input has not settled in time. Both use the public timer
 * handle; the timer is the producer and holds its vow weakly through a link.
 */
#include "vow_int.h"

/* ------------------------------------------------------------------- delay */

/* The timer is the producer: it holds the vow weakly through its link. */
struct delay {
    vow_timer timer;       /* fires once after ms */
    vow *p;                /* the vow it fulfils */
    vow_val v;             /* the value, owned until handed to p */
    struct vow__link link; /* on p: cancel or drop stops the timer */
};

/* The time is up: p fulfils, unless it was resolved onto another vow meanwhile
 * (vow_resolve_with), which then decides its outcome alone; left without this
 * producer, p may have become garbage (its adoption collected). */
static void delay_fire(vow_timer *t)
{
    struct delay *d = vow__container_of(t, struct delay, timer);
    vow *p = d->p;
    vow__unlink(p, &d->link);
    if (vow__unlikely(p->flags & VF_LOCKED)) {
        vow__val_drop(&d->v);
        vow__free(d);
        vow__collect_maybe(p);
        return;
    }
    vow__fulfil(p, d->v);
    vow__free(d);
}

static void delay_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct delay *d = vow__container_of(k, struct delay, link);
    (void)p;
    (void)work;
    vow_timer_stop(&d->timer);
    if (d->v.drop)
        d->v.drop(d->v.ptr);
    vow__free(d);
}

/* Someone else settled the vow first: the timer has nothing left to do. */
static void delay_release(struct vow__link *k)
{
    delay_cancel(k, NULL, NULL);
}

static const struct vow__link_ops delay_link_ops = { delay_cancel, delay_release, NULL,
                                                    "delay" };

vow *vow_delay(vow_loop *l, uint64_t ms, vow_val v)
{
    vow *p = l ? vow__new(l) : NULL;
    struct delay *d = p ? vow__malloc(sizeof(*d)) : NULL;
    int rc = d ? vow_timer_init(l, &d->timer, delay_fire) : VOW_ENOMEM;
    if (rc == 0)
        rc = vow_timer_start(&d->timer, ms, 0);
    if (rc < 0) {
        vow__free(d);
        vow_unref(p);
        if (v.drop)
            v.drop(v.ptr);
        return NULL;
    }
    d->p = p;
    d->v = v;
    d->link.ops = &delay_link_ops;
    vow__add_link(p, &d->link);
    return p;
}

/* ----------------------------------------------------------------- timeout */

/*
 * A timeout consumes its input (a reaction on it) and produces its own vow, which it
 * holds weakly: dropping that vow withdraws the timeout, and the input with it when
 * no other consumer wants the input. t is freed once it is off the input, its timer
 * is stopped and it no longer points at its vow.
 */
struct tmo {
    struct vow__react base; /* on the watched vow; base.src NULL once run or left */
    vow *out;               /* weak: the timeout's vow while it may settle it, or NULL */
    struct vow__link link;  /* on out */
    vow_timer timer;        /* the deadline */
    int timer_on;           /* the timer is still started */
};

static void tmo_maybe_free(struct tmo *t)
{
    if (!t->base.src && !t->timer_on && !t->out)
        vow__free(t);
}

static void tmo_stop_timer(struct tmo *t)
{
    if (t->timer_on) {
        vow_timer_stop(&t->timer);
        t->timer_on = 0;
    }
}

/*
 * out, if the timeout may still settle it; either way the timeout is done with it
 * and is taken off its producers. Its holder may have locked it onto another vow:
 * then neither the deadline nor the input can settle it, and with the timeout gone
 * nothing may be left that can (it is then collected).
 */
static vow *tmo_take_out(struct tmo *t)
{
    vow *out = t->out;
    if (!out)
        return NULL;
    vow__unlink(out, &t->link);
    t->out = NULL;
    if (out->flags & VF_LOCKED) {
        vow__collect_maybe(out);
        return NULL;
    }
    return out;
}

/* The input settled: out takes its outcome unless someone else settled it first. */
static void tmo_run(vow_loop *l, vow__task *task)
{
    struct tmo *t = (struct tmo *)task;
    vow *src = t->base.src;
    (void)l;
    t->base.src = NULL;
    tmo_stop_timer(t);
    vow *out = tmo_take_out(t);
    if (out)
        vow__forward(out, src);
    vow__drop(src);
    tmo_maybe_free(t);
}

/* The input is garbage: the timeout will never see it settle (the timer still may). */
static void tmo_discard(struct vow__react *r, vow **work)
{
    vow *src = r->src;
    r->src = NULL;
    vow__unref_collect(src, work);
    tmo_maybe_free((struct tmo *)r);
}

static const struct vow__react_ops tmo_ops = { { tmo_run }, tmo_discard };

/* The deadline passed: out rejects (unless its adoption decides it), and the input
 * is left (cancelled if nothing else consumes it). */
static void tmo_fire(vow_timer *timer)
{
    struct tmo *t = vow__container_of(timer, struct tmo, timer);
    t->timer_on = 0;
    vow *out = tmo_take_out(t);
    if (out)
        vow__reject(out, VOW_ETIMEDOUT, vow_val_none());
    vow *work = NULL;
    if (t->base.src && t->base.src->state == VOW_PENDING)
        vow__react_detach(&t->base, &work);
    vow__cancel_run(work);
    tmo_maybe_free(t);
}

/* out was cancelled or dropped while pending: the timeout is withdrawn. */
static void tmo_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct tmo *t = vow__container_of(k, struct tmo, link);
    (void)p;
    t->out = NULL;
    tmo_stop_timer(t);
    if (t->base.src && t->base.src->state == VOW_PENDING)
        vow__react_detach(&t->base, work);
    tmo_maybe_free(t);
}

/*
 * out was settled by someone else (its holder resolved it, or it adopted another
 * vow that settled): the deadline is moot. t stays on its input until that settles.
 */
static void tmo_release(struct vow__link *k)
{
    struct tmo *t = vow__container_of(k, struct tmo, link);
    t->out = NULL;
    tmo_stop_timer(t);
    tmo_maybe_free(t);
}

static void tmo_parents(struct vow__link *k, vow *p, struct vow__search *s)
{
    (void)p;
    vow__search_visit(s, vow__container_of(k, struct tmo, link)->base.src);
}

static const struct vow__link_ops tmo_link_ops = { tmo_link_cancel, tmo_release, tmo_parents,
                                                  "timeout" };

vow *vow_timeout(vow *p, uint64_t ms)
{
    if (!p)
        return NULL;
    vow__dbg_owned(p, "vow_timeout");
    vow_loop *l = p->loop;
    vow *out = vow__new(l);
    struct tmo *t = out ? vow__malloc(sizeof(*t)) : NULL;
    int rc = t ? vow_timer_init(l, &t->timer, tmo_fire) : VOW_ENOMEM;
    if (rc == 0)
        rc = vow_timer_start(&t->timer, ms, 0);
    if (rc < 0) {
        vow__free(t);
        vow_unref(out);
        vow_unref(p);
        return NULL;
    }
    t->timer_on = 1;
    t->out = out;
    t->link.ops = &tmo_link_ops;
    vow__add_link(out, &t->link);
    t->base.task.ops = &tmo_ops.task;
    vow__take(p);
    vow__attach(p, &t->base);
    return out;
}
