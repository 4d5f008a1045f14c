/* SPDX-License-Identifier: MIT */
/*
 * The chain workload on the built-in loop and inside one host loop, in one run: a
 * resolved vow and N sequential vow_then steps each adding one, checked at the end.
 * Prints one standard line per impl, then the host/built-in ratio. One program per
 * host: Debian's libev exports libevent's API too, so the two cannot share a process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

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

/* One timed run; returns seconds or a negative number on failure. */
static double run_one(const char *impl, long n)
{
    vow_loop *l = vow_loop_new();
    if (!l)
        return -1;
    int64_t out = -1;
    done = 0;
    double t0 = now_s();
    vow *p = build(l, n, &out);
    int r = p ? drive(impl, l) : -1;
    double secs = now_s() - t0;
    vow_unref(p);
    if (r < 0 || out != n || vow_loop_close(l) != 0) {
        fprintf(stderr, "bench-chain: %s failed (result %lld, want %ld)\n", impl,
                (long long)out, n);
        return -1;
    }
    printf("workload=chain impl=%s n=%ld seconds=%.4f ops_per_s=%.0f peak_rss_kb=%ld\n",
           impl, n, secs, (double)n / secs, peak_rss_kb());
    fflush(stdout);
    return secs;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
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
    size_t k = sizeof(impls) / sizeof(impls[0]);
    double secs[8];
    for (size_t i = 0; i < k; i++) {
        /* Best of three, so one scheduling hiccup on a shared machine does not decide. */
        secs[i] = -1;
        for (int rep = 0; rep < 3; rep++) {
            double s = run_one(impls[i], n);
            if (s < 0)
                return 1;
            if (secs[i] < 0 || s < secs[i])
                secs[i] = s;
        }
    }
    for (size_t i = 1; i < k; i++)
        printf("# ratio %s/builtin = %.2fx (throughput, best of 3; target >= 0.8x)\n",
               impls[i], secs[0] / secs[i]);
    return 0;
}
