/* SPDX-License-Identifier: MIT */
/*
 * Workload "adapter_chain": the chain workload (a resolved vow and N sequential vow_then
 * steps each adding one, checked at the end) on the built-in loop (argument builtin,
 * printed as impl builtin_<host> so each host's baseline stays apart) or
 * inside the host loop this program is built for (impl uv, ev, event or glib), one
 * impl per process; adapters/run.sh alternates them and compares their medians. One
 * program per host: Debian's libev exports libevent's API too, so the two cannot
 * share a process.
 *   usage: bench-adapters-chain-<host> IMPL [N]
 */
#include "bench.h"

#include <string.h>

#include <vow.h>
#ifdef HAVE_UV
#include <vow/uv.h>
#endif
#ifdef HAVE_EV
#include <vow/ev.h>
#endif
#ifdef HAVE_EVENT
#include <vow/event.h>
#endif
#ifdef HAVE_GLIB
#include <vow/glib.h>
#endif

static vow_ret add_one(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(vow_val_num(v->num + 1));
}

static int done;

static vow_ret finish(void *ctx, const vow_val *v)
{
    *(int64_t *)ctx = v->num;
    done = 1;
    return vow_ok(vow_val_none());
}

/* Builds the chain; the host (or the built-in loop) runs it. */
static vow *build(vow_loop *l, long n, int64_t *out)
{
    vow *p = vow_resolved(l, vow_val_num(0));
    for (long i = 0; i < n && p; i++)
        p = vow_then(p, add_one, NULL, NULL);
    return p ? vow_then(p, finish, NULL, out) : NULL;
}

/* Runs the loop the impl names until the chain is done. */
static int drive(const char *impl, vow_loop *l)
{
    if (strcmp(impl, "builtin") == 0)
        return vow_loop_run(l, VOW_RUN_DEFAULT) < 0 ? -1 : 0;
#ifdef HAVE_UV
    if (strcmp(impl, "uv") == 0) {
        uv_loop_t uv;
        if (uv_loop_init(&uv) != 0 || vow_uv_attach(l, &uv) != 0)
            return -1;
        uv_run(&uv, UV_RUN_DEFAULT);
        vow_uv_detach(l);
        uv_run(&uv, UV_RUN_NOWAIT);
        return uv_loop_close(&uv) == 0 ? 0 : -1;
    }
#endif
#ifdef HAVE_EV
    if (strcmp(impl, "ev") == 0) {
        struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO);
        if (!ev || vow_ev_attach(l, ev) != 0)
            return -1;
        ev_run(ev, 0);
        vow_ev_detach(l);
        ev_loop_destroy(ev);
        return 0;
    }
#endif
#ifdef HAVE_EVENT
    if (strcmp(impl, "event") == 0) {
        struct event_base *b = event_base_new();
        if (!b || vow_event_attach(l, b) != 0)
            return -1;
        event_base_dispatch(b);
        vow_event_detach(l);
        event_base_free(b);
        return 0;
    }
#endif
#ifdef HAVE_GLIB
    if (strcmp(impl, "glib") == 0) {
        GMainContext *ctx = g_main_context_new();
        if (vow_glib_attach(l, ctx) != 0)
            return -1;
        while (!done)
            g_main_context_iteration(ctx, TRUE);
        vow_glib_detach(l);
        g_main_context_unref(ctx);
        return 0;
    }
#endif
    return -1;
}

/* One whole run: a fresh vow loop (and host loop), the chain, its check and release. */
static void run_one(void *ctx, long n)
{
    const char *impl = ctx;
    vow_loop *l = vow_loop_new();
    if (!l)
        bench_fail("adapter_chain", "vow_loop_new");
    int64_t out = -1;
    done = 0;
    vow *p = build(l, n, &out);
    int r = p ? drive(impl, l) : -1;
    vow_unref(p);
    if (r < 0 || out != n)
        bench_fail("adapter_chain", "the chain did not reach N");
    if (vow_loop_close(l) != 0)
        bench_fail("adapter_chain", "vow_loop_close");
}

int main(int argc, char **argv)
{
    const char *impls[] = { "builtin",
#ifdef HAVE_UV
                            "uv",
#endif
#ifdef HAVE_EV
                            "ev",
#endif
#ifdef HAVE_EVENT
                            "event",
#endif
#ifdef HAVE_GLIB
                            "glib",
#endif
    };
    const char *impl = argc > 1 ? argv[1] : "";
    size_t k = sizeof(impls) / sizeof(impls[0]);
    for (size_t i = 0; i < k; i++) {
        if (strcmp(impl, impls[i]) == 0) {
            char label[32];
            snprintf(label, sizeof(label), "%s%s", i == 0 ? "builtin_" : "",
                     i == 0 ? impls[k - 1] : impls[i]);
            bench_run("adapter_chain", label, bench_arg(argc, argv, 2, 1000000), run_one,
                      (void *)impls[i]);
            return 0;
        }
    }
    fprintf(stderr, "usage: %s builtin|<host> [N]\n", argv[0]);
    return 2;
}
