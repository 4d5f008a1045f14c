/* SPDX-License-Identifier: MIT */
/*
 * Random allocation failure over a mixed workload: chains with handlers that fail
 * and catch, combinators, timers and timeouts, queued writes and exact reads on a
 * socketpair, a line reader, coroutines that await, yield, spawn and get cancelled,
 * posts, remote settling, a signal wait. Every allocation fails with probability 1/r
 * (r from 5 to 1000, installed through vow_replace_allocator), each run with its own
 * seed. Whatever fails, the run must end with the loop closed (no vow, handle or
 * coroutine left), no allocation live and every fd closed, without a crash.
 */
#include "stress.h"

#include "vow/co.h"
#include "vow/io.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

static atomic_long fail_rate;  /* 0: no injection */
static atomic_ullong fail_seq; /* allocation sequence number, hashed into a decision */
static uint64_t fail_seed;     /* per run */
static atomic_long injected;   /* failures injected */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static int should_fail(void)
{
    long r = atomic_load(&fail_rate);
    if (r <= 0)
        return 0;
    uint64_t k = atomic_fetch_add(&fail_seq, 1);
    if (mix64(fail_seed ^ k) % (uint64_t)r != 0)
        return 0;
    atomic_fetch_add(&injected, 1);
    return 1;
}

static void *oom_malloc(size_t n)
{
    return should_fail() ? NULL : tu_malloc(n);
}

static void *oom_calloc(size_t c, size_t n)
{
    return should_fail() ? NULL : tu_calloc(c, n);
}

static void *oom_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : tu_realloc(p, n);
}

/* ------------------------------------------------------------- workload */

#define HELD 256

struct run {
    vow_loop *l;     /* the loop */
    vow *held[HELD]; /* references the workload keeps until the end */
    int n;           /* used entries */
    int sv[2];       /* socketpair */
    int pf[2];       /* pipe for the line reader */
    long posts;      /* posts run */
};

static void keep(struct run *r, vow *p)
{
    if (p && r->n < HELD)
        r->held[r->n++] = p;
    else
        vow_unref(p);
}

/* Every wait that could outlive its producer is bounded: a timeout ends it. */
static vow *bounded(vow *p)
{
    return p ? vow_timeout(p, 3) : NULL;
}

static vow_ret add_one(void *ctx, const vow_val *v)
{
    if (v->num % 3 == 0)
        return vow_fail(VOW_EUSER, vow_val_num(v->num));
    return vow_ok(vow_val_num(v->num + 1));
}

static vow_ret recover(void *ctx, int code, const vow_val *d)
{
    return vow_ok(vow_val_num(code == VOW_EUSER ? d->num : -1));
}

static vow_ret adopt(void *ctx, const vow_val *v)
{
    struct run *r = ctx;
    vow *next = vow_resolved(r->l, vow_val_num(v->num * 2));
    return next ? vow_follow(next) : vow_fail(VOW_ENOMEM, vow_val_none());
}

static vow_ret fin(void *ctx)
{
    return vow_pass();
}

static void chains(struct run *r)
{
    for (int i = 0; i < 12; i++) {
        vow *p = vow_resolved(r->l, vow_val_num(i));
        p = p ? vow_then(p, add_one, NULL, r) : NULL;
        p = p ? vow_then(p, adopt, NULL, r) : NULL;
        p = p ? vow_catch(p, recover, r) : NULL;
        p = p ? vow_finally(p, fin, r) : NULL;
        keep(r, p);
    }
    vow *in[4];
    for (int i = 0; i < 4; i++)
        in[i] = i % 2 ? vow_delay(r->l, (uint64_t)i, vow_val_num(i))
                      : vow_rejected(r->l, VOW_EUSER, vow_val_num(i));
    /* The combinators reject NULL inputs with VOW_EINVAL: give them real vows. */
    int ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= in[i] != NULL;
    if (!ok) {
        for (int i = 0; i < 4; i++)
            vow_unref(in[i]);
        return;
    }
    vow *a = vow_all_settled(r->l, (vow *[]){vow_ref(in[0]), vow_ref(in[1])}, 2);
    vow *b = vow_race(r->l, (vow *[]){vow_ref(in[2]), vow_ref(in[3])}, 2);
    vow *c = vow_any(r->l, in, 4);
    keep(r, a);
    keep(r, b);
    keep(r, c);
    keep(r, vow_timeout(vow_pending(r->l), 2));
}

static void on_post(vow_loop *l, void *arg)
{
    ((struct run *)arg)->posts++;
}

static void io(struct run *r)
{
    static const char chunk[3][64] = {"first chunk", "second chunk", "third chunk"};
    for (int i = 0; i < 3; i++)
        keep(r, bounded(vow_write_all(r->l, r->sv[0], chunk[i], sizeof(chunk[i]))));
    static char back[3 * 64];
    keep(r, bounded(vow_read_exact(r->l, r->sv[1], back, sizeof(back))));
    if (write(r->pf[1], "a\nbb\nccc\n", 9) != 9)
        fail_msg("pipe write");
}

struct co_arg {
    struct run *r; /* the run */
    int depth;     /* spawn a child while > 0 */
};

static vow_ret co_body(void *arg)
{
    struct co_arg a = *(struct co_arg *)arg;
    vow_free(arg);
    struct run *r = a.r;
    int rc = vow_co_sleep(1);
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    char buf[16];
    vow *rd = bounded(vow_read(r->l, r->sv[0], buf, sizeof(buf)));
    if (rd) {
        vow_await(rd);
        vow_unref(rd);
    }
    if ((rc = vow_co_yield()) < 0)
        return vow_fail(rc, vow_val_none());
    if (a.depth > 0) {
        struct co_arg *child = vow_malloc(sizeof(*child));
        if (!child)
            return vow_fail(VOW_ENOMEM, vow_val_none());
        *child = (struct co_arg){r, a.depth - 1};
        vow *c = vow_co_spawn(r->l, co_body, child, NULL);
        if (!c) {
            vow_free(child);
            return vow_fail(VOW_ENOMEM, vow_val_none());
        }
        rc = vow_await(c);
        vow_unref(c);
    }
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

/* The argument is freed by the body when it starts, or here if it never will. */
static void coroutines(struct run *r)
{
    for (int i = 0; i < 6; i++) {
        struct co_arg *a = vow_malloc(sizeof(*a));
        if (!a)
            continue;
        *a = (struct co_arg){r, i % 3};
        vow *c = vow_co_spawn(r->l, co_body, a, NULL);
        if (!c) {
            vow_free(a);
            continue;
        }
        if (i % 4 == 3)
            vow_cancel(c);
        keep(r, c);
    }
}

static vow_ret got_line(void *ctx, const vow_val *v)
{
    return vow_ok(vow_val_none());
}

static int workload(void)
{
    struct run r = {.l = vow_loop_new()};
    if (!r.l)
        return 0;
    long rate = atomic_exchange(&fail_rate, 0);
    int quiet = vow_loop_set_unhandled(r.l, tu_quiet, NULL);
    atomic_store(&fail_rate, rate);
    assert_int_equal(quiet, 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, r.sv), 0);
    assert_int_equal(pipe2(r.pf, O_CLOEXEC | O_NONBLOCK), 0);
    chains(&r);
    io(&r);
    vow_lines *ln = vow_lines_new(r.l, r.pf[0], 0);
    if (ln)
        keep(&r, bounded(vow_then(vow_lines_next(ln), got_line, NULL, &r)));
    coroutines(&r);
    for (int i = 0; i < 4; i++)
        vow_loop_post(r.l, on_post, &r);
    vow *rp = vow_pending(r.l);
    vow_remote *rm = rp ? vow_remote_new(rp) : NULL;
    if (rm) {
        /* VOW_ENOMEM leaves the remote unused: try again (it keeps the loop alive). */
        while (vow_remote_resolve(rm, vow_val_num(7)) == VOW_ENOMEM)
            ;
    }
    keep(&r, rp);
    vow *sig = bounded(vow_signal_wait(r.l, SIGUSR2));
    raise(SIGUSR2);
    keep(&r, sig);
    while (vow_loop_run(r.l, VOW_RUN_DEFAULT) > 0)
        ;
    for (int i = 0; i < r.n; i++)
        vow_unref(r.held[i]);
    vow_lines_close(ln);
    while (vow_loop_run(r.l, VOW_RUN_DEFAULT) > 0)
        ;
    close(r.sv[0]);
    close(r.sv[1]);
    close(r.pf[0]);
    close(r.pf[1]);
    int rc = vow_loop_close(r.l);
    if (rc != 0)
        fail_msg("vow_loop_close: %s (%ld coroutines alive)", vow_err_name(rc),
                 (long)vow_co_live(r.l));
    return 1;
}

static void test_random_failures(void **state)
{
    static const long rates[] = {5, 10, 50, 100, 1000};
    long seeds = stress_n(6, 1000);
    long runs = 0, fds0 = tu_open_fds();
    signal(SIGUSR2, SIG_IGN);
    double t0 = stress_now();
    for (size_t ri = 0; ri < sizeof(rates) / sizeof(rates[0]); ri++) {
        for (long s = 0; s < seeds; s++) {
            fail_seed = mix64((uint64_t)(ri * 1000003 + (size_t)s));
            atomic_store(&fail_seq, 0);
            atomic_store(&fail_rate, rates[ri]);
            workload();
            atomic_store(&fail_rate, 0);
            runs++;
            if (tu_live_allocations() != 0)
                fail_msg("rate 1/%ld seed %ld: %ld allocations live", rates[ri], s,
                         tu_live_allocations());
            assert_int_equal(tu_open_fds(), fds0);
        }
    }
    signal(SIGUSR2, SIG_DFL);
    stress_report("oom",
                  "%ld runs of the mixed workload at failure rates 1/5 to 1/1000 in "
                  "%.1f s: %ld allocations failed, every run closed its loop with nothing left",
                  runs, stress_now() - t0, atomic_load(&injected));
}

int main(void)
{
    if (vow_replace_allocator(oom_malloc, oom_realloc, oom_calloc, tu_free) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
