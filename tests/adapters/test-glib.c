/* SPDX-License-Identifier: MIT */
/*
 * The adapter scenarios on GLib. A main context never "runs out" of work, so the
 * driver iterates until the scenario says it is done.
 */
#include "scenarios.h"

#include <glib-unix.h>

#include "vow/glib.h"

struct host {
    GMainContext *ctx; /* the host loop under test */
};

/* A one-shot host timer or readable watcher; GLib frees the source, we free this. */
struct once {
    void (*cb)(void *arg); /* the scenario's callback */
    void *arg;             /* its argument */
};

static struct host *glib_create(void)
{
    struct host *h = vow_malloc(sizeof(*h));
    if (h)
        h->ctx = g_main_context_new();
    return h;
}

static void glib_destroy(struct host *h)
{
    /* Nothing left to dispatch: every one-shot source fired and the adapter is gone. */
    assert_false(g_main_context_iteration(h->ctx, FALSE));
    g_main_context_unref(h->ctx);
    vow_free(h);
}

static int glib_attach(vow_loop *l, struct host *h)
{
    return vow_glib_attach(l, h ? h->ctx : NULL);
}

static void glib_run(struct host *h, const int *done)
{
    while (!*done)
        g_main_context_iteration(h->ctx, TRUE);
}

static gboolean once_timer(gpointer arg)
{
    struct once *o = arg;
    o->cb(o->arg);
    vow_free(o);
    return G_SOURCE_REMOVE;
}

static gboolean once_fd(gint fd, GIOCondition cond, gpointer arg)
{
    (void)fd;
    assert_true(cond & G_IO_IN);
    return once_timer(arg);
}

static struct once *once_new(void (*cb)(void *), void *arg)
{
    struct once *o = vow_malloc(sizeof(*o));
    assert_non_null(o);
    o->cb = cb;
    o->arg = arg;
    return o;
}

static void glib_host_timer(struct host *h, uint64_t ms, void (*cb)(void *), void *arg)
{
    GSource *src = g_timeout_source_new((guint)ms);
    g_source_set_callback(src, once_timer, once_new(cb, arg), NULL);
    g_source_attach(src, h->ctx);
    g_source_unref(src);
}

static void glib_host_readable(struct host *h, int fd, void (*cb)(void *), void *arg)
{
    GSource *src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(src, G_SOURCE_FUNC(once_fd), once_new(cb, arg), NULL);
    g_source_attach(src, h->ctx);
    g_source_unref(src);
}

static void glib_host_idle(struct host *h, void (*cb)(void *), void *arg)
{
    GSource *src = g_idle_source_new();
    g_source_set_callback(src, once_timer, once_new(cb, arg), NULL);
    g_source_attach(src, h->ctx);
    g_source_unref(src);
}

static const struct host_ops glib_ops = {
    .name = "adapters-glib",
    .create = glib_create,
    .destroy = glib_destroy,
    .attach = glib_attach,
    .detach = vow_glib_detach,
    .run = glib_run,
    .timer = glib_host_timer,
    .readable = glib_host_readable,
    .idle = glib_host_idle,
};

int main(void)
{
    return run_scenarios(&glib_ops);
}
