/* SPDX-License-Identifier: MIT */
/*
 * Copy-stack coroutines (VOW_CO_COPY_STACK): locals that survive evictions, deep
 * stacks that outgrow the save buffer, 100,000 suspended at once, cancellation while
 * evicted, a mix with separate-stack coroutines on one loop, option checks, a
 * shared-stack overflow, and allocation-failure sweeps. Built once per switch.
 */
#include "testutil.h"

#include "vow/co.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static const vow_co_opts COPY = { .flags = VOW_CO_COPY_STACK };
static vow_loop *L;

/* ThreadSanitizer counts every coroutine as a thread and stops at 8,128 of them. */
#if defined(__SANITIZE_THREAD__)
#define NMANY 5000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NMANY 5000
#endif
#endif
#ifndef NMANY
#define NMANY 100000
#endif

/* Divides the large counts (the valgrind setup sets it). */
static long scale(void)
{
    const char *s = getenv("VOW_DEEP_SCALE");
    long v = s ? strtol(s, NULL, 10) : 1;
    return v > 0 ? v : 1;
}

static vow_loop *new_loop(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    return l;
}

static void finish(vow_loop *l)
{
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_co_live(l), 0);
    assert_int_equal(vow_co_pooled(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A value that differs for every coroutine, slot and round. */
static uint32_t mix(uint32_t id, uint32_t i, uint32_t round)
{
    uint32_t x = id * 2654435761u ^ (i + 1) * 40503u ^ round * 2246822519u;
    x ^= x >> 15;
    return x * 2246822519u;
}

/* ------------------------------------------ locals survive many evictions */

#define NLOCAL 64
#define WORDS 1024 /* 4 KiB of locals per coroutine */
#define ROUNDS 8

static int64_t checksum(const volatile uint32_t *a, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int64_t)a[i] * (int64_t)(i + 1);
    return s;
}

/* Fills a local array, then after every suspension checks it and refills it for
 * the next round; the coroutines take turns, so each resume follows an eviction. */
static vow_ret co_locals(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    volatile uint32_t a[WORDS];
    uint32_t local_id = id;
    int bad = 0;
    for (uint32_t round = 0; round < ROUNDS; round++) {
        for (uint32_t i = 0; i < WORDS; i++)
            a[i] = mix(id, i, round);
        int64_t want = checksum(a, WORDS);
        /* Odd coroutines wait on a timer now and then, so the order of resumes is
         * not the order of suspensions. */
        int rc = (id & 1) && round % 3 == 1 ? vow_co_sleep(1) : vow_co_yield();
        if (rc < 0)
            return vow_fail(rc, vow_val_none());
        if (checksum(a, WORDS) != want || local_id != id)
            bad++;
    }
    return vow_ok(vow_val_num(bad));
}

static void locals_survive(void **state)
{
    (void)state;
    L = new_loop();
    vow *ps[NLOCAL];
    for (int i = 0; i < NLOCAL; i++) {
        ps[i] = vow_co_spawn(L, co_locals, (void *)(uintptr_t)i, &COPY);
        assert_non_null(ps[i]);
    }
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < NLOCAL; i++) {
        assert_int_equal(vow_state(ps[i]), VOW_FULFILLED);
        assert_int_equal(vow_value(ps[i])->num, 0);
        vow_unref(ps[i]);
    }
    finish(L);
}

/* --------------------------------------------- deep stacks before a yield */

/* About 1 KiB of frame per level; yields at the bottom, checks on the way up. */
static int64_t __attribute__((noinline)) deep_yield(uint32_t id, int n)
{
    volatile uint32_t pad[240];
    for (int i = 0; i < 240; i++)
        pad[i] = mix(id, (uint32_t)i, (uint32_t)n);
    int64_t below = 0;
    if (n > 0) {
        below = deep_yield(id, n - 1);
        if (below < 0)
            return below;
    } else {
        /* Twice, so the grown buffer is reused as well. */
        for (int k = 0; k < 2; k++) {
            int rc = vow_co_yield();
            if (rc < 0)
                return rc;
        }
    }
    int64_t s = below;
    for (int i = 0; i < 240; i++)
        s += pad[i] == mix(id, (uint32_t)i, (uint32_t)n) ? 1 : -1000000;
    return s;
}

static vow_ret co_deep(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int depth = (int)(v >> 8);
    int64_t r = deep_yield((uint32_t)(v & 0xff), depth);
    return r < 0 ? vow_fail((int)r, vow_val_none()) : vow_ok(vow_val_num(r));
}

static void deep_stack_grows_buffer(void **state)
{
    (void)state;
    L = new_loop();
    /* Depths from a few hundred bytes to about 180 KiB of the 256 KiB shared stack,
     * interleaved, so every resume restores a stack of another size. */
    static const int depths[] = { 0, 1, 3, 10, 40, 100, 170, 7, 60, 2 };
    enum { N = sizeof(depths) / sizeof(depths[0]) };
    vow *ps[N];
    for (int i = 0; i < N; i++) {
        uintptr_t v = ((uintptr_t)depths[i] << 8) | (uintptr_t)i;
        ps[i] = vow_co_spawn(L, co_deep, (void *)v, &COPY);
        assert_non_null(ps[i]);
    }
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(vow_state(ps[i]), VOW_FULFILLED);
        assert_int_equal(vow_value(ps[i])->num, 240 * (depths[i] + 1));
        vow_unref(ps[i]);
    }
    finish(L);
}

/* ------------------------------------------------ 100,000 suspended at once */

struct gate {
    vow *open;    /* every coroutine awaits it */
    int64_t next; /* numbers the coroutines as they start */
};

/* Keeps its number in a local across the wait and returns it plus the gate's value. */
static vow_ret co_at_gate(void *arg)
{
    struct gate *g = arg;
    volatile int64_t mine = g->next++;
    int rc = vow_await(g->open);
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    return vow_ok(vow_val_num(mine + vow_value(g->open)->num));
}

static void many_suspended(void **state)
{
    (void)state;
    L = new_loop();
    long n = NMANY / scale();
    struct gate g = { vow_pending(L), 0 };
    vow **ps = malloc((size_t)n * sizeof(*ps));
    assert_non_null(ps);
    for (long i = 0; i < n; i++) {
        ps[i] = vow_co_spawn(L, co_at_gate, &g, &COPY);
        assert_non_null(ps[i]);
    }
    vow *all = vow_all(L, ps, (size_t)n);
    free(ps);
    /* A turn runs a slice of the microtask queue; turns until nothing is left. */
    int turns = 0;
    while (vow_loop_run(L, VOW_RUN_NOWAIT) == 1)
        assert_true(++turns < 10 * n);
    /* All of them wait at once, each with its stack saved. */
    assert_int_equal(vow_co_live(L), (size_t)n);
    assert_int_equal(vow_state(all), VOW_PENDING);
    assert_int_equal(vow_resolve(g.open, vow_val_num(3)), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(all), VOW_FULFILLED);
    const vow_list *list = vow_list_get(vow_value(all));
    assert_int_equal(list->n, (size_t)n);
    int64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += vow_value(list->items[i])->num;
    assert_int_equal(sum, 3 * (int64_t)n + (int64_t)n * (n - 1) / 2);
    vow_unref(all);
    vow_unref(g.open);
    finish(L);
}

/* ------------------------------------------- cancel while suspended, evicted */

struct waiter {
    vow *p;       /* what it awaits */
    int first;    /* the first await's code */
    int second;   /* the next one's */
    uint32_t tag; /* checked in a local after the wake-up */
    int intact;   /* the local survived */
};

static vow_ret co_waiter(void *arg)
{
    struct waiter *w = arg;
    volatile uint32_t local[256];
    for (int i = 0; i < 256; i++)
        local[i] = mix(w->tag, (uint32_t)i, 0);
    w->first = vow_await(w->p);
    w->second = vow_co_yield();
    w->intact = 1;
    for (int i = 0; i < 256; i++)
        w->intact &= local[i] == mix(w->tag, (uint32_t)i, 0);
    return vow_ok(vow_val_num(1));
}

static vow_ret co_churn(void *arg)
{
    (void)arg;
    volatile char pad[2048];
    memset((char *)pad, 0x5a, sizeof(pad));
    for (int i = 0; i < 3; i++)
        vow_co_yield();
    return vow_ok(vow_val_num(pad[7]));
}

static void cancel_while_evicted(void **state)
{
    (void)state;
    L = new_loop();
    struct waiter w[3];
    vow *c[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){ .p = vow_pending(L), .first = 1, .second = 1, .tag = 7u + i };
        c[i] = vow_co_spawn(L, co_waiter, &w[i], &COPY);
    }
    /* Other copy-stack coroutines run meanwhile: the waiters are evicted. */
    vow *churn = vow_co_spawn(L, co_churn, NULL, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(vow_state(churn), VOW_FULFILLED);
    assert_int_equal(vow_cancel(c[0]), 0);
    assert_int_equal(w[0].first, 1);
    /* The rest through cancel_all, which counts only those not cancelled yet. */
    assert_int_equal(vow_co_cancel_all(L), 2);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].first, VOW_ECANCELED);
        assert_int_equal(w[i].second, VOW_ECANCELED);
        assert_true(w[i].intact);
        assert_int_equal(vow_code(c[i]), VOW_ECANCELED);
        /* The await was the awaited vow's only consumer: cancelled with it (the
         * test's reference keeps the memory, not the operation). */
        assert_int_equal(vow_code(w[i].p), VOW_ECANCELED);
        assert_int_equal(vow_resolve(w[i].p, vow_val_none()), VOW_ESETTLED);
        vow_unref(w[i].p);
        vow_unref(c[i]);
    }
    vow_unref(churn);
    finish(L);
}

/* ---------------------------- copy-stack and separate-stack on one loop */

static vow_ret co_child_sum(void *arg)
{
    int64_t n = (int64_t)(intptr_t)arg;
    volatile int64_t acc[64];
    for (int i = 0; i < 64; i++)
        acc[i] = n + i;
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    int64_t s = 0;
    for (int i = 0; i < 64; i++)
        s += acc[i];
    return vow_ok(vow_val_num(s));
}

/* Spawns children of both kinds, awaits them all; arg's low bit picks our own kind
 * (only the spawner cares), the rest is our id. */
static vow_ret co_parent(void *arg)
{
    int64_t id = (int64_t)((uintptr_t)arg >> 1);
    volatile uint32_t mine[512];
    for (int i = 0; i < 512; i++)
        mine[i] = mix((uint32_t)id, (uint32_t)i, 1);
    vow *kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = vow_co_spawn(L, co_child_sum, (void *)(intptr_t)(id * 10 + k),
                               k % 2 ? &COPY : NULL);
        if (!kids[k])
            return vow_fail(VOW_ENOMEM, vow_val_none());
    }
    int64_t total = 0;
    for (int k = 0; k < 4; k++) {
        int rc = vow_await(kids[k]);
        total += rc == 0 ? vow_value(kids[k])->num : -1000000;
        vow_unref(kids[k]);
    }
    for (int i = 0; i < 512; i++)
        total += mine[i] == mix((uint32_t)id, (uint32_t)i, 1) ? 0 : -1000000;
    return vow_ok(vow_val_num(total));
}

static int64_t parent_want(int64_t id)
{
    int64_t t = 0;
    for (int k = 0; k < 4; k++)
        t += 64 * (id * 10 + k) + 64 * 63 / 2;
    return t;
}

static void mixed_modes(void **state)
{
    (void)state;
    L = new_loop();
    enum { N = 12 };
    vow *ps[N];
    for (int i = 0; i < N; i++) {
        uintptr_t arg = ((uintptr_t)i << 1) | (uintptr_t)(i % 3 != 0);
        ps[i] = vow_co_spawn(L, co_parent, (void *)arg, i % 3 != 0 ? &COPY : NULL);
        assert_non_null(ps[i]);
    }
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(vow_state(ps[i]), VOW_FULFILLED);
        assert_int_equal(vow_value(ps[i])->num, parent_want(i));
        vow_unref(ps[i]);
    }
    finish(L);
}

/* ------------------------------- a copy-stack coroutine runs another loop */

/* On loop A: keeps a local array, runs loop B (whose copy-stack coroutines use B's
 * own shared stack) to completion from inside itself, yields on A, checks. */
static vow_ret co_runs_other_loop(void *arg)
{
    vow_loop *b = arg;
    volatile uint32_t mine[256];
    for (int i = 0; i < 256; i++)
        mine[i] = mix(99, (uint32_t)i, 0);
    vow *kids[6];
    for (int k = 0; k < 6; k++)
        kids[k] = vow_co_spawn(b, co_child_sum, (void *)(intptr_t)k, k % 3 ? &COPY : NULL);
    int r = vow_loop_run(b, VOW_RUN_DEFAULT);
    int64_t total = r == 0 ? 0 : -1000000;
    for (int k = 0; k < 6; k++) {
        total += kids[k] && vow_state(kids[k]) == VOW_FULFILLED ? vow_value(kids[k])->num
                                                                : -1000000;
        vow_unref(kids[k]);
    }
    if (vow_co_yield() < 0)
        total -= 1000000;
    for (int i = 0; i < 256; i++)
        total += mine[i] == mix(99, (uint32_t)i, 0) ? 0 : -1000000;
    return vow_ok(vow_val_num(total));
}

static void runs_other_loop(void **state)
{
    (void)state;
    L = new_loop();
    vow_loop *b = new_loop();
    vow *x = vow_co_spawn(L, co_runs_other_loop, b, &COPY);
    /* A sibling on A, so A's shared stack changes hands around the nested run. */
    vow *y = vow_co_spawn(L, co_churn, NULL, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    int64_t want = 0;
    for (int k = 0; k < 6; k++)
        want += 64 * k + 64 * 63 / 2;
    assert_int_equal(vow_state(x), VOW_FULFILLED);
    assert_int_equal(vow_value(x)->num, want);
    assert_int_equal(vow_state(y), VOW_FULFILLED);
    vow_unref(x);
    vow_unref(y);
    assert_int_equal(vow_co_live(b), 0);
    assert_int_equal(vow_loop_close(b), 0);
    finish(L);
}

/* ---------------------------------------------------------- options */

static vow_ret co_one(void *arg)
{
    (void)arg;
    int rc = vow_co_yield();
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_num(1));
}

static void options(void **state)
{
    (void)state;
    L = new_loop();
    assert_int_equal(vow_loop_set_unhandled(L, tu_quiet, NULL), 0);
    vow_co_opts unknown = { .flags = 1u << 5 };
    vow_co_opts too_big = { .stack_size = VOW_CO_COPY_STACK_SIZE + 1,
                            .flags = VOW_CO_COPY_STACK };
    vow_co_opts fits = { .stack_size = VOW_CO_COPY_STACK_SIZE, .flags = VOW_CO_COPY_STACK };
    vow *a = vow_co_spawn(L, co_one, NULL, &unknown);
    vow *b = vow_co_spawn(L, co_one, NULL, &too_big);
    vow *c = vow_co_spawn(L, co_one, NULL, &fits);
    vow *d = vow_co_spawn(L, NULL, NULL, &COPY);
    assert_int_equal(vow_code(a), VOW_EINVAL);
    assert_int_equal(vow_code(b), VOW_EINVAL);
    assert_int_equal(vow_code(d), VOW_EINVAL);
    assert_int_equal(vow_co_live(L), 1);
    /* The shared stack is in use, not pooled. */
    assert_int_equal(vow_co_pooled(L), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(c)->num, 1);
    vow_unref(a);
    vow_unref(b);
    vow_unref(c);
    vow_unref(d);
    finish(L);
}

/* ------------------------------------------ overflowing the shared stack */

static int64_t __attribute__((noinline)) runaway(int n)
{
    volatile char pad[700];
    pad[0] = (char)n;
    pad[699] = (char)n;
    return n > 0 ? runaway(n - 1) + pad[0] + pad[699] : 0;
}

static vow_ret co_overflow(void *arg)
{
    (void)arg;
    /* At least 1.6 MB of frames (clang keeps only the two bytes used of each pad)
     * on the 256 KiB shared stack. */
    return vow_ok(vow_val_num(runaway(100000)));
}

static void overflow_hits_guard(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vow_loop *l = vow_loop_new();
        vow *c = l ? vow_co_spawn(l, co_overflow, NULL, &COPY) : NULL;
        if (c)
            vow_loop_run(l, VOW_RUN_DEFAULT);
        _exit(0); /* not reached when the guard works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
#ifdef UNDER_ASAN
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
#endif
    assert_int_equal(tu_live_allocations(), 0);
}

/* ------------------------------------------------ the save buffer cannot grow */

/* Frame bytes for the tests that need the real stack to be deep: a variable-length
 * array, because ASan's detect_stack_use_after_return moves fixed-size locals to a
 * heap "fake stack", which copy mode does not have to save. */
static volatile size_t frame_bytes = 1024;

struct grow {
    int failed;  /* the deep await's first code */
    int ran;     /* the microtask queued before it had run when it returned */
    int retried; /* the retry's code */
};

static int ticked;

static void tick(vow_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    ticked = 1;
}

static int64_t __attribute__((noinline)) deep_then_await(struct grow *g, int n)
{
    size_t len = frame_bytes;
    volatile char pad[len];
    for (size_t i = 0; i < len; i++)
        pad[i] = (char)n;
    if (n > 0)
        return deep_then_await(g, n - 1) + pad[0] + pad[len - 1] - n;
    ticked = 0;
    assert_int_equal(vow_loop_queue_microtask(L, tick, NULL), 0);
    /* The next allocation is the buffer's growth: vow_await fails without
     * suspending, so the microtask has not run. */
    tu_fail_nth(1);
    g->failed = vow_co_yield();
    tu_fail_nth(0);
    g->ran = ticked;
    g->retried = vow_co_yield();
    return pad[0];
}

static vow_ret co_grow(void *arg)
{
    struct grow *g = arg;
    /* Suspend shallow once, so the buffer is in use before it must grow. */
    vow_co_yield();
    return vow_ok(vow_val_num(deep_then_await(g, 8)));
}

static void growth_failure(void **state)
{
    (void)state;
    L = new_loop();
    struct grow g = { 1, -1, 1 };
    vow *c = vow_co_spawn(L, co_grow, &g, &COPY);
    vow *other = vow_co_spawn(L, co_churn, NULL, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(g.failed, VOW_ENOMEM);
    assert_int_equal(g.ran, 0);
    assert_int_equal(g.retried, 0);
    assert_int_equal(vow_state(c), VOW_FULFILLED);
    assert_int_equal(vow_value(c)->num, 36);
    vow_unref(c);
    vow_unref(other);
    finish(L);
}

/* ------------------------------- save buffers come from the loop's size classes */

struct hinted {
    int depth;     /* frames of about 1 KiB before the await */
    int fail_now;  /* make the allocation after the await's start fail */
    int rc;        /* what the deep await returned */
};

static int64_t __attribute__((noinline)) deep_yield_once(struct hinted *h, int n)
{
    size_t len = frame_bytes;
    volatile char pad[len];
    for (size_t i = 0; i < len; i++)
        pad[i] = (char)n;
    if (n > 0)
        return deep_yield_once(h, n - 1) + pad[0] + pad[len - 1] - n;
    if (h->fail_now)
        tu_fail_nth(1);
    h->rc = vow_co_yield();
    tu_fail_nth(0);
    return pad[0];
}

static vow_ret co_hinted(void *arg)
{
    struct hinted *h = arg;
    /* The first yield is shallow: it warms the loop's free lists, so the deep one
     * below has nothing to allocate but, maybe, the save buffer. */
    vow_co_yield();
    return vow_ok(vow_val_num(deep_yield_once(h, h->depth)));
}

static vow_ret co_keeper(void *arg)
{
    vow *gate = arg;
    vow_co_yield();
    int rc = vow_await(gate);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

/*
 * A save buffer goes back to the loop's arena when its coroutine finishes, and the
 * next coroutine that needs one of that size class takes it without allocating:
 * with the next allocation made to fail, its deep await still suspends. Buffers
 * beyond the arena's classes come from the allocator: there the failure shows.
 */
static void save_buffers_from_pool(void **state)
{
    (void)state;
    L = new_loop();
    vow *gate = vow_pending(L);
    /* Keeps the loop's adapter state (and so its arena) alive throughout. */
    vow *keeper = vow_co_spawn(L, co_keeper, gate, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);

    struct hinted a = { .depth = 1, .fail_now = 0, .rc = 1 };
    vow *pa = vow_co_spawn(L, co_hinted, &a, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(vow_state(pa), VOW_FULFILLED);
    /* a's buffer and bookkeeping are free in the arena now. */
    struct hinted b = { .depth = 1, .fail_now = 1, .rc = 1 };
    vow *pb = vow_co_spawn(L, co_hinted, &b, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(vow_value(pb)->num, 1);
    /* About 6 KiB of stack: more than the arena's largest class. */
    struct hinted c = { .depth = 5, .fail_now = 1, .rc = 1 };
    vow *pc = vow_co_spawn(L, co_hinted, &c, &COPY);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 0);
    assert_int_equal(c.rc, VOW_ENOMEM);
    assert_int_equal(vow_state(pc), VOW_FULFILLED);

    assert_int_equal(vow_resolve(gate, vow_val_none()), 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_state(keeper), VOW_FULFILLED);
    vow_unref(pa);
    vow_unref(pb);
    vow_unref(pc);
    vow_unref(keeper);
    vow_unref(gate);
    finish(L);
}

/* ------------------------------------------------- allocation failure sweep */

static vow_ret co_sweep_child(void *arg)
{
    int depth = (int)(intptr_t)arg;
    int64_t r = deep_yield(3, depth);
    return r < 0 ? vow_fail((int)r, vow_val_none()) : vow_ok(vow_val_num(r));
}

/* Spawns two copy-stack children, a shallow and a deep one (whose buffer must
 * grow), and awaits both; any failure rejects with its code. */
static vow_ret co_sweep(void *arg)
{
    (void)arg;
    int rc = vow_co_yield();
    if (rc < 0)
        return vow_fail(rc, vow_val_none());
    vow *a = vow_co_spawn(L, co_sweep_child, (void *)(intptr_t)0, &COPY);
    if (!a)
        return vow_fail(VOW_ENOMEM, vow_val_none());
    vow *b = vow_co_spawn(L, co_sweep_child, (void *)(intptr_t)20, &COPY);
    if (!b) {
        vow_await(a);
        vow_unref(a);
        return vow_fail(VOW_ENOMEM, vow_val_none());
    }
    /* An await that fails with VOW_ENOMEM did not wait: waiting again is safe, since
     * only one allocation fails. The child may also have failed with VOW_ENOMEM. */
    int ra = vow_await(a);
    if (ra == VOW_ENOMEM && vow_state(a) == VOW_PENDING)
        ra = vow_await(a);
    int rb = vow_await(b);
    if (rb == VOW_ENOMEM && vow_state(b) == VOW_PENDING)
        rb = vow_await(b);
    int64_t v = (ra == 0 ? vow_value(a)->num : 0) + (rb == 0 ? vow_value(b)->num : 0);
    vow_unref(a);
    vow_unref(b);
    if (ra < 0 || rb < 0)
        return vow_fail(ra < 0 ? ra : rb, vow_val_none());
    return vow_ok(vow_val_num(v));
}

static int caught;

static vow_ret catch_code(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)d;
    caught = code;
    return vow_ok(vow_val_none());
}

static void oom_sweep(void **state)
{
    (void)state;
    int clean = 0, saw_fulfilled = 0;
    for (long k = 1; k < 400 && !clean; k++) {
        L = new_loop();
        assert_int_equal(vow_loop_set_unhandled(L, tu_quiet, NULL), 0);
        tu_fail_nth(k);
        vow *c = vow_co_spawn(L, co_sweep, NULL, &COPY);
        if (c) {
            vow *keep = vow_ref(c);
            vow *d = vow_catch(c, catch_code, NULL);
            vow_loop_run(L, VOW_RUN_DEFAULT);
            assert_int_not_equal(vow_state(keep), VOW_PENDING);
            if (vow_state(keep) == VOW_FULFILLED) {
                assert_int_equal(vow_value(keep)->num, 240 + 240 * 21);
                saw_fulfilled = 1;
            } else {
                assert_int_equal(vow_code(keep), VOW_ENOMEM);
            }
            vow_unref(keep);
            vow_unref(d);
        }
        clean = tu_alloc_count() < k;
        tu_fail_nth(0);
        finish(L);
    }
    assert_true(clean);
    assert_true(saw_fulfilled);
}

int main(void)
{
    tu_install_allocator();
    printf("# switch: %s\n", vow_co_switch_name());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locals_survive),
        cmocka_unit_test(deep_stack_grows_buffer),
        cmocka_unit_test(many_suspended),
        cmocka_unit_test(cancel_while_evicted),
        cmocka_unit_test(mixed_modes),
        cmocka_unit_test(runs_other_loop),
        cmocka_unit_test(options),
        cmocka_unit_test(overflow_hits_guard),
        cmocka_unit_test(growth_failure),
        cmocka_unit_test(save_buffers_from_pool),
        cmocka_unit_test(oom_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
