/* SPDX-License-Identifier: MIT */
/*
 * The vow tier's part of vow_loop_walk (its ext hook): every vow alive on the loop,
 * the items the loop's inspectors contribute (coroutines, scopes), and the "waits on"
 * edges between them, reported as a tree. A vow waits on the sources its producers
 * name (each cancellation link's parents: a then's source, an adoption's target, a
 * combinator's inputs, a timeout's input); an item stands for the vow it settles,
 * waits on what it names and on the sources of its own via vow, and sits under its
 * parent item. A node several others wait on sits under the first (depth first, roots
 * in order: items, then vows, oldest first) and is named by a reference elsewhere.
 * Nothing here runs on a hot path: the walk builds its tables from scratch each time.
 */
#include "vow_int.h"

#include <stdlib.h>
#include <string.h>

struct insp_node {
    uint64_t key;   /* the object's address */
    vow *v;         /* a vow node: the vow; an item: the vow it settles, or NULL */
    size_t item;    /* an item: its index in items; a vow: SIZE_MAX */
    size_t alias;   /* a vow an item stands for (or its via): the item's node */
    size_t e0, ne;  /* its edges in the CSR array */
    uint32_t indeg; /* edges into it */
    uint8_t hidden; /* an item's via vow: never shown */
    uint8_t placed; /* reported already */
};

struct insp_item {
    vow_inspect_item it; /* the copy (waits points nowhere: see w0, nw) */
    size_t w0, nw;       /* its waits in the walk's wvows */
};

struct insp_edge {
    size_t from, to;  /* node indexes */
    uint8_t contains; /* a parent-child edge, not a wait */
};

struct insp_key {
    uint64_t key; /* address */
    size_t node;  /* index in nodes */
};

struct insp {
    vow_loop *l;
    struct insp_node *nodes;
    size_t nn, ncap;
    struct insp_item *items;
    size_t ni, icap;
    vow **wvows; /* items' waits, copied */
    size_t nw, wcap;
    struct insp_edge *edges;
    size_t ne, ecap;
    struct insp_key *keys; /* sorted by key */
    int err;
};

/* Grows *arr (of elem bytes) to hold one more than *n. */
static int insp_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    void *a = vow__realloc(*arr, c * elem);
    if (!a)
        return VOW_ENOMEM;
    *arr = a;
    *cap = c;
    return 0;
}

static void insp_add_vow(void *ctx, void *obj)
{
    struct insp *s = ctx;
    if (s->err || insp_grow((void **)&s->nodes, &s->ncap, s->nn, sizeof(*s->nodes)) < 0) {
        s->err = VOW_ENOMEM;
        return;
    }
    struct insp_node *n = &s->nodes[s->nn++];
    memset(n, 0, sizeof(*n));
    n->key = (uint64_t)(uintptr_t)obj;
    n->v = obj;
    n->item = SIZE_MAX;
    n->alias = SIZE_MAX;
}

static int insp_emit(void *ectx, const vow_inspect_item *item)
{
    struct insp *s = ectx;
    if (!item || !item->id || !item->what || !item->state)
        return VOW_EINVAL;
    if (insp_grow((void **)&s->items, &s->icap, s->ni, sizeof(*s->items)) < 0)
        return VOW_ENOMEM;
    for (size_t i = 0; i < item->nwaits; i++) {
        if (insp_grow((void **)&s->wvows, &s->wcap, s->nw + i, sizeof(*s->wvows)) < 0)
            return VOW_ENOMEM;
        s->wvows[s->nw + i] = item->waits[i];
    }
    struct insp_item *c = &s->items[s->ni++];
    c->it = *item;
    c->it.waits = NULL;
    c->it.detail[sizeof(c->it.detail) - 1] = '\0';
    c->w0 = s->nw;
    c->nw = item->nwaits;
    s->nw += item->nwaits;
    return 0;
}

static int insp_key_cmp(const void *a, const void *b)
{
    const struct insp_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/* The node of an object, or SIZE_MAX. */
static size_t insp_find(const struct insp *s, const void *obj)
{
    if (!obj)
        return SIZE_MAX;
    uint64_t k = (uint64_t)(uintptr_t)obj;
    size_t lo = 0, hi = s->nn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->keys[mid].key < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nn && s->keys[lo].key == k ? s->keys[lo].node : SIZE_MAX;
}

/* The node that shows x (an item stands for its vows). */
static size_t insp_resolve(const struct insp *s, size_t x)
{
    if (x != SIZE_MAX && s->nodes[x].alias != SIZE_MAX)
        return s->nodes[x].alias;
    return x;
}

static void insp_edge(struct insp *s, size_t from, size_t to, int contains)
{
    if (s->err || from == SIZE_MAX || to == SIZE_MAX || from == to)
        return;
    if (insp_grow((void **)&s->edges, &s->ecap, s->ne, sizeof(*s->edges)) < 0) {
        s->err = VOW_ENOMEM;
        return;
    }
    s->edges[s->ne++] = (struct insp_edge){from, to, (uint8_t)contains};
}

/* Edges from node `from` to every source p's producers wait on. */
static void insp_sources(struct insp *s, size_t from, vow *p)
{
    if (!p || p->state != VOW_PENDING)
        return;
    vow *stack0[32], *seen0[32];
    struct vow__search sr = {stack0, 0, 32, seen0, 0, 32, 0};
    for (struct vow__link *k = p->up; k; k = k->next)
        if (k->ops->parents)
            k->ops->parents(k, p, &sr);
    if (sr.failed)
        s->err = VOW_ENOMEM;
    for (size_t i = 0; i < sr.len; i++)
        insp_edge(s, from, insp_resolve(s, insp_find(s, sr.stack[i])), 0);
    for (size_t i = 0; i < sr.nseen; i++)
        sr.seen[i]->flags &= (uint8_t)~VF_SEEN;
    if (sr.cap > 32) {
        vow__free(sr.stack);
        vow__free(sr.seen);
    }
}

/* What made p: its newest producer's kind. */
static const char *insp_what(const vow *p)
{
    for (const struct vow__link *k = p->state == VOW_PENDING ? p->up : NULL; k; k = k->next) {
        const char *name = vow__link_name(k);
        if (name)
            return name;
    }
    return "vow";
}

static const char *insp_state(const vow *p)
{
    if (p->state == VOW_FULFILLED)
        return "fulfilled";
    if (p->state == VOW_REJECTED)
        return "rejected";
    return (p->flags & VF_LOCKED) ? "locked" : "pending";
}

static void insp_site(const vow *p, vow_node *r, uint64_t now)
{
#ifdef VOW_DEBUG
    r->file = p->site_file;
    r->line = p->site_line;
    r->age_ms = now >= p->dbg_born ? (int64_t)(now - p->dbg_born) : 0;
#else
    (void)p;
    (void)r;
    (void)now;
#endif
}

static uint64_t insp_id(const struct insp *s, size_t x)
{
    return s->nodes[x].key;
}

/* Reports node x under parent at depth, with its waits. */
static int insp_report(struct insp *s, struct vow__walk *w, size_t x, uint64_t parent,
                       unsigned depth, uint64_t *waits)
{
    struct insp_node *n = &s->nodes[x];
    vow_node r;
    memset(&r, 0, sizeof(r));
    r.id = n->key;
    r.parent = parent;
    r.depth = depth;
    r.fd = -1;
    r.age_ms = -1;
    size_t nw = 0;
    for (size_t e = n->e0; e < n->e0 + n->ne; e++)
        if (!s->edges[e].contains)
            waits[nw++] = insp_id(s, s->edges[e].to);
    r.waits = waits;
    r.nwaits = nw;
    uint64_t now = vow_loop_now(s->l);
    if (n->item == SIZE_MAX) {
        r.kind = VOW_NODE_VOW;
        r.what = insp_what(n->v);
        r.state = insp_state(n->v);
        insp_site(n->v, &r, now);
    } else {
        const vow_inspect_item *it = &s->items[n->item].it;
        r.kind = it->kind == VOW_NODE_SCOPE ? VOW_NODE_SCOPE : VOW_NODE_TASK;
        r.what = it->what;
        r.state = it->state;
        r.count = it->count;
        r.detail = it->detail[0] ? it->detail : NULL;
        size_t sc = insp_find(s, it->scope);
        r.scope = sc != SIZE_MAX ? insp_id(s, sc) : 0;
        if (n->v) {
            r.vow_id = (uint64_t)(uintptr_t)n->v;
            insp_site(n->v, &r, now);
        }
        if (it->age_ms >= 0)
            r.age_ms = it->age_ms;
    }
    return w->fn(w->ctx, &r);
}

static int insp_ref(struct insp *s, struct vow__walk *w, size_t x, uint64_t parent, unsigned depth,
                    uint64_t serial)
{
    const struct insp_node *n = &s->nodes[x];
    vow_node r;
    memset(&r, 0, sizeof(r));
    r.kind = VOW_NODE_REF;
    /* A reference's id: odd, so never an object's address. */
    r.id = (serial << 1) | 1u;
    r.parent = parent;
    r.depth = depth;
    r.what = n->item == SIZE_MAX ? insp_what(n->v) : s->items[n->item].it.what;
    r.state = "shown elsewhere";
    r.ref = n->key;
    r.fd = -1;
    r.age_ms = -1;
    return w->fn(w->ctx, &r);
}

struct insp_frame {
    size_t x;
    uint64_t parent;
    unsigned depth;
};

/* Depth first from the roots; returns 0, an error or fn's stop value. */
static int insp_emit_tree(struct insp *s, struct vow__walk *w)
{
    size_t cap = s->ne + s->nn + 1, maxdeg = 1;
    for (size_t i = 0; i < s->nn; i++)
        if (s->nodes[i].ne > maxdeg)
            maxdeg = s->nodes[i].ne;
    struct insp_frame *st = vow__malloc(cap * sizeof(*st));
    uint64_t *waits = vow__malloc(maxdeg * sizeof(*waits));
    int rc = st && waits ? 0 : VOW_ENOMEM;
    uint64_t serial = 0;
    /* Three passes over the roots: items nobody waits on, then such vows, then what
     * is left (cycles). */
    for (int pass = 0; pass < 3 && rc == 0; pass++) {
        for (size_t i = 0; i < s->nn && rc == 0; i++) {
            struct insp_node *n = &s->nodes[i];
            if (n->placed || n->hidden || n->alias != SIZE_MAX)
                continue;
            if (pass < 2 && (n->indeg != 0 || (n->item == SIZE_MAX) != (pass == 1)))
                continue;
            size_t sp = 0;
            st[sp++] = (struct insp_frame){i, w->loop_id, 1};
            while (sp && rc == 0) {
                struct insp_frame f = st[--sp];
                struct insp_node *m = &s->nodes[f.x];
                if (m->placed) {
                    rc = insp_ref(s, w, f.x, f.parent, f.depth, ++serial);
                    continue;
                }
                m->placed = 1;
                rc = insp_report(s, w, f.x, f.parent, f.depth, waits);
                for (size_t e = m->e0 + m->ne; e-- > m->e0 && sp < cap;)
                    st[sp++] = (struct insp_frame){s->edges[e].to, m->key, f.depth + 1};
            }
        }
    }
    vow__free(st);
    vow__free(waits);
    return rc;
}

static int insp_build(struct insp *s, struct vow__walk *w)
{
    struct vow__ext *x = vow__head(s->l)->ext;
    /* Every live object of these slabs starts with a live vow (a fused then's reaction
     * half is done first, and the object goes back with its vow). */
    static const int cls[] = {VOW__CLS_VOW, VOW__CLS_THEN1, VOW__CLS_THEN2};
    for (size_t i = 0; i < sizeof(cls) / sizeof(cls[0]); i++)
        if (vow__slab_each(&x->slabs[cls[i]], insp_add_vow, s) < 0 || s->err)
            return VOW_ENOMEM;
    size_t nvows = s->nn;
    for (int i = 0; i < VOW__INSPECTORS; i++) {
        const struct vow__inspector *in = &w->insp[i];
        if (!in->fn)
            continue;
        int rc = in->fn(in->ctx, s->l, insp_emit, s);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < s->ni; i++) {
        if (insp_grow((void **)&s->nodes, &s->ncap, s->nn, sizeof(*s->nodes)) < 0)
            return VOW_ENOMEM;
        struct insp_node *n = &s->nodes[s->nn++];
        memset(n, 0, sizeof(*n));
        n->key = (uint64_t)(uintptr_t)s->items[i].it.id;
        n->item = i;
        n->alias = SIZE_MAX;
    }
    s->keys = vow__malloc((s->nn + 1) * sizeof(*s->keys));
    if (!s->keys)
        return VOW_ENOMEM;
    for (size_t i = 0; i < s->nn; i++)
        s->keys[i] = (struct insp_key){s->nodes[i].key, i};
    qsort(s->keys, s->nn, sizeof(*s->keys), insp_key_cmp);
    /* An object given twice (a scope reached from two coroutines): the first wins. */
    for (size_t i = 1; i < s->nn; i++)
        if (s->keys[i].key == s->keys[i - 1].key)
            s->nodes[s->keys[i].node].hidden = 1;
    /* Items stand for the vows they settle and hide their via vows. */
    for (size_t i = nvows; i < s->nn; i++) {
        struct insp_node *n = &s->nodes[i];
        if (n->hidden)
            continue;
        const vow_inspect_item *it = &s->items[n->item].it;
        size_t r = insp_find(s, it->result);
        if (r != SIZE_MAX && r < nvows && s->nodes[r].alias == SIZE_MAX) {
            s->nodes[r].alias = i;
            n->v = it->result;
        }
        size_t v = insp_find(s, it->via);
        if (v != SIZE_MAX && v < nvows) {
            s->nodes[v].alias = i;
            s->nodes[v].hidden = 1;
        }
    }
    /* Edges: an item's children first, then what each node waits on. */
    for (size_t i = nvows; i < s->nn; i++) {
        if (s->nodes[i].hidden)
            continue;
        const vow_inspect_item *it = &s->items[s->nodes[i].item].it;
        size_t p = insp_find(s, it->parent);
        if (p != SIZE_MAX && p >= nvows)
            insp_edge(s, p, i, 1);
    }
    for (size_t i = 0; i < s->nn; i++) {
        struct insp_node *n = &s->nodes[i];
        if (n->hidden)
            continue;
        if (n->item == SIZE_MAX) {
            if (n->alias == SIZE_MAX)
                insp_sources(s, i, n->v);
            continue;
        }
        const struct insp_item *c = &s->items[n->item];
        for (size_t k = 0; k < c->nw; k++)
            insp_edge(s, i, insp_resolve(s, insp_find(s, s->wvows[c->w0 + k])), 0);
        insp_sources(s, i, c->it.via);
        insp_sources(s, i, n->v);
    }
    if (s->err)
        return s->err;
    /* Group the edges by source, keeping their order (counting sort). */
    struct insp_edge *sorted = vow__malloc((s->ne + 1) * sizeof(*sorted));
    if (!sorted)
        return VOW_ENOMEM;
    for (size_t e = 0; e < s->ne; e++) {
        s->nodes[s->edges[e].from].ne++;
        s->nodes[s->edges[e].to].indeg++;
    }
    size_t at = 0;
    for (size_t i = 0; i < s->nn; i++) {
        s->nodes[i].e0 = at;
        at += s->nodes[i].ne;
        s->nodes[i].ne = 0;
    }
    for (size_t e = 0; e < s->ne; e++) {
        struct insp_node *n = &s->nodes[s->edges[e].from];
        sorted[n->e0 + n->ne++] = s->edges[e];
    }
    vow__free(s->edges);
    s->edges = sorted;
    return 0;
}

int vow__inspect(vow_loop *l, struct vow__walk *w)
{
    struct insp s;
    memset(&s, 0, sizeof(s));
    s.l = l;
    int rc = insp_build(&s, w);
    if (rc == 0)
        rc = insp_emit_tree(&s, w);
    vow__free(s.nodes);
    vow__free(s.items);
    vow__free(s.wvows);
    vow__free(s.edges);
    vow__free(s.keys);
    return rc;
}
