/* SPDX-License-Identifier: MIT */
/*
 * Combinators (all, all_settled, race, any). A combinator is one allocation holding
 * an element reaction per input. The elements consume (and hold) the inputs; the
 * combinator holds its result only weakly, so dropping the result withdraws it.
 * race and any cancel the losers that no other consumer wants once decided, all
 * the remaining inputs once it has rejected.
 */
#include "vow_int.h"

#include <string.h>

enum { K_ALL, K_SETTLED, K_RACE, K_ANY };

struct comb;
struct elem {
    struct vow__react base; /* on input i; base.src is NULL once the element ran */
    struct comb *c;         /* the combinator */
};

struct comb {
    vow *out;              /* weak: the result while pending; NULL once settled or gone */
    vow_list *list;        /* settled inputs collected so far (references) */
    size_t left;           /* inputs still needed before all/all_settled/any finish */
    size_t attached;       /* elements that have not run yet */
    int kind;              /* K_* */
    struct vow__link link; /* on out */
    size_t n;              /* inputs */
    struct elem elems[];   /* one per input */
};

static void list_drop(void *ptr)
{
    vow_list *list = ptr;
    for (size_t i = 0; i < list->n; i++)
        vow__drop(list->items[i]);
    vow__free(list);
}

const vow_list *vow_list_get(const vow_val *v)
{
    return v && v->drop == list_drop ? v->ptr : NULL;
}

static vow_list *list_new(size_t n)
{
    if (n > (SIZE_MAX - sizeof(vow_list)) / sizeof(vow *))
        return NULL;
    /* One allocation: the header, then the items it points to. */
    vow_list *list = vow__calloc(1, sizeof(vow_list) + n * sizeof(vow *));
    if (list) {
        list->n = n;
        list->items = (vow **)(void *)(list + 1);
    }
    return list;
}

int vow_val_list(vow *const *items, size_t n, vow_val *ret)
{
    vow__check(ret && (items || n == 0), VOW_EINVAL);
    for (size_t i = 0; i < n; i++)
        vow__check(items[i] && vow_state(items[i]) != VOW_PENDING, VOW_EINVAL);
    vow_list *list = list_new(n);
    if (!list)
        return VOW_ENOMEM;
    for (size_t i = 0; i < n; i++)
        list->items[i] = vow__hold(items[i]); /* the list's drop lets go of it (vow__drop) */
    *ret = vow_val_ptr(list, list_drop);
    return 0;
}

/* Lets go of every input (combine took them over, see there). */
static void consume_all(vow **ps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vow__drop(ps[i]);
}

/*
 * Every element still waiting on a pending input leaves it; work (if not NULL)
 * collects the inputs nothing else wants, for cancellation.
 */
static void detach_waiting(struct comb *c, vow **work)
{
    for (size_t j = 0; j < c->n; j++) {
        struct elem *e = &c->elems[j];
        if (e->base.src && e->base.src->state == VOW_PENDING) {
            vow__react_detach(&e->base, work);
            c->attached--;
        }
    }
}

/* The inputs still waiting are left; those no other consumer wants are cancelled. */
static void cancel_rest(struct comb *c)
{
    vow *work = NULL;
    detach_waiting(c, &work);
    vow__cancel_run(work);
}

static void comb_free(struct comb *c)
{
    if (c->out)
        vow__unlink(c->out, &c->link);
    if (c->list)
        list_drop(c->list);
    vow__free(c);
}

static void finish_list(struct comb *c, int code)
{
    vow_val v = vow_val_ptr(c->list, list_drop);
    c->list = NULL;
    if (code == 0)
        vow__fulfil(c->out, v);
    else
        vow__reject(c->out, code, v);
}

/* Keeps src (its reference) as input i's entry in the list; the last entry settles
 * out with the list and code. Returns NULL: src now belongs to the list. */
static vow *keep(struct comb *c, size_t i, vow *src, int code)
{
    c->list->items[i] = src;
    if (--c->left == 0)
        finish_list(c, code);
    return NULL;
}

static void elem_run(vow_loop *l, vow__task *t)
{
    struct elem *e = (struct elem *)t;
    struct comb *c = e->c;
    vow *src = e->base.src;
    size_t i = (size_t)(e - c->elems);
    (void)l;
    e->base.src = NULL;
    c->attached--;
    vow *out = c->out;
    if (out && out->state == VOW_PENDING && !(out->flags & VF_LOCKED)) {
        int ok = src->state == VOW_FULFILLED;
        switch (c->kind) {
        case K_ALL:
            if (ok) {
                src = keep(c, i, src, 0);
            } else {
                vow__forward(out, src);
                cancel_rest(c);
            }
            break;
        case K_SETTLED:
            src = keep(c, i, src, 0);
            break;
        case K_RACE:
            vow__forward(out, src);
            cancel_rest(c);
            break;
        case K_ANY:
            if (ok) {
                vow__forward(out, src);
                cancel_rest(c);
            } else {
                src = keep(c, i, src, VOW_EAGGREGATE);
            }
            break;
        }
    }
    vow__drop(src);
    if (c->attached == 0) {
        /* Still pending: an input was collected, so nothing can settle the result. */
        out = c->out;
        comb_free(c);
        if (out)
            vow__collect_maybe(out);
    }
}

/* The input is garbage: this element will never run. */
static void elem_discard(struct vow__react *r, vow **work)
{
    struct comb *c = ((struct elem *)r)->c;
    vow *src = r->src;
    r->src = NULL;
    c->attached--;
    vow__unref_collect(src, work);
    if (c->attached == 0) {
        vow *out = c->out;
        comb_free(c);
        /* Its last input is gone: nothing can settle the result any more. */
        if (out)
            vow__collect_check(out, work);
    }
}

static const struct vow__react_ops elem_ops = { { elem_run }, elem_discard };

static void comb_link_cancel(struct vow__link *k, vow *p, vow **work)
{
    struct comb *c = vow__container_of(k, struct comb, link);
    (void)p;
    detach_waiting(c, work);
    c->out = NULL;
    if (c->attached == 0)
        comb_free(c);
}

/* The result settled (here, or by whoever else could): it is no longer ours to touch. */
static void comb_link_release(struct vow__link *k)
{
    vow__container_of(k, struct comb, link)->out = NULL;
}

static void comb_parents(struct vow__link *k, vow *p, struct vow__search *s)
{
    (void)p;
    struct comb *c = vow__container_of(k, struct comb, link);
    for (size_t j = 0; j < c->n; j++)
        vow__search_visit(s, c->elems[j].base.src);
}

static const struct vow__link_ops comb_link_ops = { comb_link_cancel, comb_link_release,
                                                    comb_parents, "combinator" };

/*
 * The inputs' references become the library's first (debug builds check that the
 * caller holds each one, so the same vow twice needs two references), before
 * anything else can fail: every path below consumes them.
 */
static vow *combine(vow_loop *l, vow **ps, size_t n, int kind, const char *fn)
{
    int bad = n && !ps;
    for (size_t i = 0; i < n && ps; i++) {
        if (ps[i]) {
            vow__dbg_owned(ps[i], fn);
            vow__take(ps[i]);
        }
        if (!ps[i] || ps[i]->loop != l)
            bad = 1;
    }
    if (!l) {
        if (ps)
            consume_all(ps, n);
        return NULL;
    }
    vow *out = vow__new(l);
    if (!out) {
        if (ps)
            consume_all(ps, n);
        return NULL;
    }
    if (bad) {
        if (ps)
            consume_all(ps, n);
        vow__reject(out, VOW_EINVAL, vow_val_none());
        return out;
    }
    if (n == 0) {
        if (kind == K_RACE)
            return out;
        vow_list *list = list_new(0);
        if (!list) {
            vow_unref(out);
            return NULL;
        }
        if (kind == K_ANY)
            vow__reject(out, VOW_EAGGREGATE, vow_val_ptr(list, list_drop));
        else
            vow__fulfil(out, vow_val_ptr(list, list_drop));
        return out;
    }
    struct comb *c = NULL;
    vow_list *list = NULL;
    if (n <= (SIZE_MAX - sizeof(struct comb)) / sizeof(struct elem))
        c = vow__malloc(sizeof(struct comb) + n * sizeof(struct elem));
    if (c && kind != K_RACE)
        list = list_new(n);
    if (!c || (kind != K_RACE && !list)) {
        vow__free(c);
        vow__free(list);
        vow_unref(out);
        consume_all(ps, n);
        return NULL;
    }
    c->out = out;
    c->list = list;
    c->left = n;
    c->attached = n;
    c->kind = kind;
    c->n = n;
    c->link.ops = &comb_link_ops;
    vow__add_link(out, &c->link);
    for (size_t i = 0; i < n; i++) {
        struct elem *e = &c->elems[i];
        e->c = c;
        e->base.task.ops = &elem_ops.task;
        vow__attach(ps[i], &e->base);
    }
    return out;
}

vow *vow_all(vow_loop *l, vow **ps, size_t n)
{
    return combine(l, ps, n, K_ALL, "vow_all");
}

vow *vow_all_settled(vow_loop *l, vow **ps, size_t n)
{
    return combine(l, ps, n, K_SETTLED, "vow_all_settled");
}

vow *vow_race(vow_loop *l, vow **ps, size_t n)
{
    return combine(l, ps, n, K_RACE, "vow_race");
}

vow *vow_any(vow_loop *l, vow **ps, size_t n)
{
    return combine(l, ps, n, K_ANY, "vow_any");
}
