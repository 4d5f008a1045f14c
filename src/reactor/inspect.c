/* SPDX-License-Identifier: MIT */
/*
 * Inspecting a loop: the walk (the loop's node and its handles, then the vow tier's
 * part through the ext hook, which merges in what registered inspectors give), the
 * dump that prints it, the dump on a signal, and the inspector registry. The reactor
 * knows nothing of vows: it reports its handles and hands the rest to the hook.
 */
#include "reactor.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Ids: the objects' addresses, so ids of different kinds never collide. */
static uint64_t id_of(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static void node_init(vow_node *n, vow_node_kind kind, uint64_t id, uint64_t parent, unsigned depth,
                      const char *what, const char *state)
{
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->id = id;
    n->parent = parent;
    n->depth = depth;
    n->what = what;
    n->state = state;
    n->fd = -1;
    n->age_ms = -1;
}

/* The handles of one kind: their group node (id: the address of the loop field that
 * holds them, unique per kind). */
static int group(vow_loop *l, vow_walk_fn fn, void *ctx, const void *key, const char *what,
                 size_t count)
{
    vow_node n;
    node_init(&n, VOW_NODE_HANDLES, id_of(key), id_of(l), 1, what, "active");
    n.count = count;
    return fn(ctx, &n);
}

static int walk_handles(vow_loop *l, vow_walk_fn fn, void *ctx)
{
    int rc;
    char detail[64];
    vow_node n;
    /* fd watchers (the loop's own eventfd and pidfds are internal: left out). */
    size_t nio = 0;
    for (size_t fd = 0; fd < l->fdtab_len; fd++)
        if (l->fdtab[fd] && !l->fdtab[fd]->internal)
            nio++;
    if (nio) {
        if ((rc = group(l, fn, ctx, &l->fdtab, "fd", nio)) != 0)
            return rc;
        for (size_t fd = 0; fd < l->fdtab_len; fd++) {
            struct vow__io_core *c = l->fdtab[fd];
            if (!c || c->internal)
                continue;
            node_init(&n, VOW_NODE_HANDLE, id_of(c), id_of(&l->fdtab), 2, "fd", "watched");
            n.fd = c->fd;
            n.events = c->events & (VOW_READABLE | VOW_WRITABLE);
            if ((rc = fn(ctx, &n)) != 0)
                return rc;
        }
    }
    /* Timers, in heap order (the first is the next due). */
    if (l->timers.n) {
        if ((rc = group(l, fn, ctx, &l->timers, "timer", l->timers.n)) != 0)
            return rc;
        for (size_t i = 0; i < l->timers.n; i++) {
            struct vow__heap_node *h = l->timers.a[i];
            struct vow__timer_impl *t = vow__container_of(h, struct vow__timer_impl, node);
            node_init(&n, VOW_NODE_HANDLE, id_of(t), id_of(&l->timers), 2, "timer", "armed");
            n.due_ms = (int64_t)(h->key - l->now);
            if (t->repeat) {
                snprintf(detail, sizeof(detail), "repeats every %" PRIu64 " ms", t->repeat);
                n.detail = detail;
            }
            if ((rc = fn(ctx, &n)) != 0)
                return rc;
        }
    }
    size_t nimm = 0, nsig = 0;
    for (struct vow__qnode *q = l->immediates.next; q != &l->immediates; q = q->next)
        nimm++;
    for (struct vow__qnode *q = l->signals.next; q != &l->signals; q = q->next)
        nsig++;
    if (nimm && (rc = group(l, fn, ctx, &l->immediates, "immediate", nimm)) != 0)
        return rc;
    if (nsig) {
        if ((rc = group(l, fn, ctx, &l->signals, "signal", nsig)) != 0)
            return rc;
        for (struct vow__qnode *q = l->signals.next; q != &l->signals; q = q->next) {
            struct vow__signal_impl *s = vow__container_of(q, struct vow__signal_impl, link);
            node_init(&n, VOW_NODE_HANDLE, id_of(s), id_of(&l->signals), 2, "signal", "watched");
            n.events = (unsigned)s->signum;
            n.detail = s->internal ? "internal" : NULL;
            if ((rc = fn(ctx, &n)) != 0)
                return rc;
        }
    }
    if (l->n_child && (rc = group(l, fn, ctx, &l->children, "child", l->n_child)) != 0)
        return rc;
    return 0;
}

int vow_loop_walk(vow_loop *l, vow_walk_fn fn, void *ctx)
{
    vow__check(l && fn, VOW_EINVAL);
    vow__check(!l->walking, VOW_EBUSY);
    l->walking = 1;
    size_t nmicro = 0;
    for (vow__task *t = l->head.micro.head; t; t = t->next)
        nmicro++;
    char detail[160];
    snprintf(detail, sizeof(detail),
             "backend %s, clock %" PRIu64 " ms, %u active handles, %d keepalives, "
             "%zu posts pending, %zu microtasks queued",
             l->backend->name, l->now, l->active, l->keepalive, vow__posts_pending(l), nmicro);
    vow_node n;
    node_init(&n, VOW_NODE_LOOP, id_of(l), 0, 0, "loop",
              l->active || l->keepalive ? "alive" : "idle");
    n.count = l->active;
    n.detail = detail;
    int rc = fn(ctx, &n);
    if (rc == 0)
        rc = walk_handles(l, fn, ctx);
    const struct vow__ext_ops *ops = l->head.ext_ops;
    if (rc == 0 && ops && ops->inspect) {
        struct vow__walk w = {fn, ctx, id_of(l), l->insp};
        rc = ops->inspect(l, &w);
    }
    l->walking = 0;
    return rc;
}

/* ---------------------------------------------------------------- the dump */

struct dump {
    FILE *out;
    int err;
};

static void put_age(FILE *out, int64_t ms)
{
    if (ms < 0)
        return;
    if (ms < 10000)
        fprintf(out, ", %" PRId64 " ms", ms);
    else
        fprintf(out, ", %" PRId64 ".%01" PRId64 " s", ms / 1000, (ms % 1000) / 100);
}

static int dump_node(void *ctx, const vow_node *n)
{
    struct dump *d = ctx;
    FILE *out = d->out;
    for (unsigned i = 0; i < n->depth; i++)
        fputs("  ", out);
    switch (n->kind) {
    case VOW_NODE_LOOP:
        fprintf(out, "loop %p (%s): %s\n", (void *)(uintptr_t)n->id, n->state,
                n->detail ? n->detail : "");
        break;
    case VOW_NODE_HANDLES:
        fprintf(out, "%zu %s handle%s\n", n->count, n->what, n->count == 1 ? "" : "s");
        break;
    case VOW_NODE_HANDLE:
        if (n->fd >= 0)
            fprintf(out, "fd %d%s%s", n->fd, n->events & VOW_READABLE ? " readable" : "",
                    n->events & VOW_WRITABLE ? " writable" : "");
        else if (!strcmp(n->what, "timer"))
            fprintf(out, "timer due in %" PRId64 " ms", n->due_ms);
        else if (!strcmp(n->what, "signal"))
            fprintf(out, "signal %u", n->events);
        else
            fprintf(out, "%s", n->what);
        if (n->detail)
            fprintf(out, " (%s)", n->detail);
        fputc('\n', out);
        break;
    case VOW_NODE_REF:
        fprintf(out, "-> %s %#" PRIx64 " (shown above)\n", n->what, n->ref);
        break;
    default:
        fprintf(out, "%s %#" PRIx64 " %s", n->what, n->id, n->state);
        put_age(out, n->age_ms);
        if (n->kind == VOW_NODE_SCOPE)
            fprintf(out, ", %zu live", n->count);
        if (n->detail && *n->detail)
            fprintf(out, " (%s)", n->detail);
        if (n->nwaits)
            fprintf(out, ", waits on %zu", n->nwaits);
        if (n->file)
            fprintf(out, ", created at %s:%d", n->file, n->line);
#ifdef VOW_DEBUG
        /* Debug builds record sites: say when there is none. */
        else if (n->kind == VOW_NODE_VOW)
            fputs(", created at an untracked site", out);
#endif
        fputc('\n', out);
        break;
    }
    if (ferror(out))
        d->err = -EIO;
    return d->err;
}

int vow_loop_dump(vow_loop *l, FILE *out)
{
    vow__check(l && out, VOW_EINVAL);
    struct dump d = {out, 0};
    int rc = vow_loop_walk(l, dump_node, &d);
    if (rc == 0 && fflush(out) != 0)
        rc = -EIO;
    return rc;
}

static void dump_signal(vow_signal *s, int signum)
{
    (void)signum;
    vow_loop *l = s->data;
    if (l->dump_out)
        (void)vow_loop_dump(l, l->dump_out);
}

int vow_loop_dump_on(vow_loop *l, int signo, FILE *out)
{
    vow__check(l && (out || signo == 0), VOW_EINVAL);
    vow__check(signo >= 0 && signo < VOW__NSIG, VOW_EINVAL);
    if (l->dump_out) {
        vow_signal_stop(&l->dump_sig);
        l->dump_out = NULL;
    }
    if (signo == 0)
        return 0;
    int rc = vow_signal_init(l, &l->dump_sig, dump_signal);
    if (rc < 0)
        return rc;
    l->dump_sig.data = l;
    rc = vow__signal_start_internal(&l->dump_sig, signo);
    if (rc < 0)
        return rc;
    l->dump_out = out;
    return 0;
}

/* ------------------------------------------------------------- inspectors */

int vow_loop_add_inspector(vow_loop *l, vow_inspector_fn fn, void *ctx)
{
    vow__check(l && fn, VOW_EINVAL);
    struct vow__inspector *free_slot = NULL;
    for (int i = 0; i < VOW__INSPECTORS; i++) {
        struct vow__inspector *s = &l->insp[i];
        if (s->fn == fn && s->ctx == ctx)
            return VOW_EEXIST;
        if (!s->fn && !free_slot)
            free_slot = s;
    }
    if (!free_slot)
        return VOW_ENOSPC;
    free_slot->fn = fn;
    free_slot->ctx = ctx;
    return 0;
}

int vow_loop_remove_inspector(vow_loop *l, vow_inspector_fn fn, void *ctx)
{
    vow__check(l && fn, VOW_EINVAL);
    for (int i = 0; i < VOW__INSPECTORS; i++) {
        struct vow__inspector *s = &l->insp[i];
        if (s->fn == fn && s->ctx == ctx) {
            s->fn = NULL;
            s->ctx = NULL;
            return 0;
        }
    }
    return VOW_EINVAL;
}
