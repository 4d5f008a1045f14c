/* SPDX-License-Identifier: MIT */
/*
 * GLib host adapter: one GSource whose prepare/check/dispatch follow the libvow loop
 * (its backend fd through g_source_add_unix_fd, its deadline through prepare's
 * timeout). Uses only the public libvow API.
 */
#include "vow/glib.h"

#include "vow/bridge.h"

static const char host_name[] = "glib";

struct vsource {
    GSource base;    /* GLib's part, first so GSource * casts to us */
    vow_loop *loop;  /* the embedded loop */
    gpointer fd_tag; /* the backend fd's tag from g_source_add_unix_fd */
    gint64 due;      /* g_source_get_time() at which the deadline passes, or -1 */
};

/* The libvow deadline: -1 when the loop is idle (backend timeout says 0 then). */
static int deadline(const struct vsource *s)
{
    return vow_loop_alive(s->loop) ? vow_loop_backend_timeout(s->loop) : -1;
}

/*
 * The deadline is also kept in GLib's clock, so check (which GLib calls after its
 * poll, with no new prepare in between) sees it pass.
 */
static gboolean src_prepare(GSource *g, gint *timeout)
{
    struct vsource *s = (struct vsource *)g;
    int t = deadline(s);
    *timeout = t;
    s->due = t > 0 ? g_source_get_time(g) + (gint64)t * 1000 : -1;
    return t == 0;
}

static gboolean src_check(GSource *g)
{
    struct vsource *s = (struct vsource *)g;
    if (g_source_query_unix_fd(g, s->fd_tag) & (G_IO_IN | G_IO_ERR | G_IO_HUP))
        return TRUE;
    if (s->due >= 0 && g_source_get_time(g) >= s->due)
        return TRUE;
    return deadline(s) == 0;
}

static gboolean src_dispatch(GSource *g, GSourceFunc cb, gpointer user_data)
{
    struct vsource *s = (struct vsource *)g;
    (void)cb;
    (void)user_data;
    vow_loop_run(s->loop, VOW_RUN_NOWAIT);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs src_funcs = {
    .prepare = src_prepare,
    .check = src_check,
    .dispatch = src_dispatch,
};

int vow_glib_attach(vow_loop *l, GMainContext *h)
{
    if (!l || !h)
        return VOW_EINVAL;
    int fd = vow_loop_backend_fd(l);
    if (fd < 0)
        return fd;
    struct vsource *s = (struct vsource *)g_source_new(&src_funcs, sizeof(*s));
    s->loop = l;
    s->due = -1;
    int r = vow_embed_claim(l, host_name, s);
    if (r < 0) {
        g_source_unref(&s->base);
        return r;
    }
    s->fd_tag = g_source_add_unix_fd(&s->base, fd, G_IO_IN);
    g_source_set_name(&s->base, "libvow");
    g_source_attach(&s->base, h);
    return 0;
}

int vow_glib_detach(vow_loop *l)
{
    struct vsource *s = vow_embed_state(l, host_name);
    if (!s)
        return VOW_EINVAL;
    vow_embed_release(l, host_name);
    g_source_destroy(&s->base);
    g_source_unref(&s->base);
    return 0;
}
