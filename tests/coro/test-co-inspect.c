/* SPDX-License-Identifier: MIT */
/*
 * Inspecting a loop with coroutines (vow/inspect.h through the coroutine library's
 * inspector): coroutines in nested scopes awaiting I/O, a coroutine under a vow_timeout
 * in a chain, checked by the structure of the walk's records (who is under whom, what
 * each waits on), never by the dump's layout; the inspector leaves with the last
 * coroutine. Built once per switch, run on both reactor backends.
 */
#include "testutil.h"

#include "vow/inspect.h"
#include "vow/io.h"
#include "vow/scope.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAXREC 128

struct rec {
    vow_node n;
    char what[32];
    char state[32];
    uint64_t waits[8];
};

static struct rec R[MAXREC];
static size_t NR;

static int collect(void *ctx, const vow_node *n)
{
    (void)ctx;
    assert_true(NR < MAXREC);
    struct rec *r = &R[NR++];
    memset(r, 0, sizeof(*r));
    r->n = *n;
    snprintf(r->what, sizeof(r->what), "%s", n->what);
    snprintf(r->state, sizeof(r->state), "%s", n->state);
    for (size_t i = 0; i < n->nwaits && i < 8; i++)
        r->waits[i] = n->waits[i];
    r->n.what = r->n.state = r->n.file = r->n.detail = NULL;
    r->n.waits = NULL;
    return 0;
}

static uint64_t id(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

/* A vow's record, or the task's that stands for it. */
static const struct rec *by_vow(const vow *p)
{
    for (size_t i = 0; i < NR; i++)
        if (R[i].n.kind != VOW_NODE_REF && (R[i].n.id == id(p) || R[i].n.vow_id == id(p)))
            return &R[i];
    return NULL;
}

static const struct rec *by_id(uint64_t x)
{
    for (size_t i = 0; i < NR; i++)
        if (R[i].n.id == x && R[i].n.kind != VOW_NODE_REF)
            return &R[i];
    return NULL;
}

/* The records of one kind under parent (0: any parent). */
static size_t children(vow_node_kind kind, uint64_t parent, const struct rec **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < NR; i++)
        if (R[i].n.kind == kind && (!parent || R[i].n.parent == parent) && n < max)
            out[n++] = &R[i];
    return n;
}

static void walk(vow_loop *l)
{
    NR = 0;
    assert_int_equal(vow_loop_walk(l, collect, NULL), 0);
    for (size_t i = 1; i < NR; i++) {
        const struct rec *p = by_id(R[i].n.parent);
        if (!p)
            fail_msg("record %zu (%s) has no parent before it", i, R[i].what);
        assert_int_equal(R[i].n.depth, p->n.depth + 1);
    }
}

static vow_loop *L;
static const vow_co_opts *OPTS;
static const vow_co_opts copy_opts = {.flags = VOW_CO_COPY_STACK};
static int pipes[3][2];
static vow *reads[3]; /* the reads the readers await, borrowed for the checks */

static vow_ret reader(void *arg)
{
    int i = (int)(intptr_t)arg;
    char byte;
    vow *r = vow_read(L, pipes[i][0], &byte, 1);
    reads[i] = r;
    int rc = vow_await(r);
    reads[i] = NULL;
    vow_unref(r);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

static vow_scope *scope_a, *scope_b;

/* Opens scope b, spawns readers 0 and 1 into it, waits for them. */
static vow_ret middle(void *arg)
{
    (void)arg;
    scope_b = vow_scope_new(L, NULL);
    assert_non_null(scope_b);
    assert_int_equal(vow_scope_spawn(scope_b, reader, (void *)0, OPTS), 0);
    assert_int_equal(vow_scope_spawn(scope_b, reader, (void *)1, OPTS), 0);
    vow *j = vow_scope_join(scope_b);
    int rc = vow_await(j);
    vow_unref(j);
    assert_int_equal(vow_scope_close(scope_b), 0);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

/* Opens scope a (supervisor), spawns middle and reader 2 into it, waits for them. */
static vow_ret top(void *arg)
{
    (void)arg;
    vow_scope_opts o = {.flags = VOW_SCOPE_SUPERVISOR};
    scope_a = vow_scope_new(L, &o);
    assert_non_null(scope_a);
    assert_int_equal(vow_scope_spawn(scope_a, middle, NULL, OPTS), 0);
    assert_int_equal(vow_scope_spawn(scope_a, reader, (void *)2, OPTS), 0);
    vow *j = vow_scope_join(scope_a);
    int rc = vow_await(j);
    vow_unref(j);
    assert_int_equal(vow_scope_close(scope_a), 0);
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

/* The coroutine record whose subtree holds the read of reader i. */
static const struct rec *reader_of(int i)
{
    const struct rec *rd = by_id(id(reads[i]));
    assert_non_null(rd);
    const struct rec *co = by_id(rd->n.parent);
    assert_non_null(co);
    assert_int_equal(co->n.kind, VOW_NODE_TASK);
    assert_string_equal(co->what, "coroutine");
    assert_string_equal(co->state, "suspended");
    assert_int_equal(co->n.nwaits, 1);
    assert_true(co->waits[0] == id(reads[i]));
    return co;
}

/* top -> scope a -> {middle -> scope b -> {reader 0, reader 1}, reader 2}. */
static void nested_scopes(void **state)
{
    (void)state;
    L = vow_loop_new();
    for (int i = 0; i < 3; i++)
        assert_int_equal(pipe2(pipes[i], O_NONBLOCK | O_CLOEXEC), 0);
    vow *t = vow_co_spawn(L, top, NULL, OPTS);
    assert_non_null(t);
    while (!reads[0] || !reads[1] || !reads[2])
        assert_true(vow_loop_run(L, VOW_RUN_ONCE) > 0);
    walk(L);
    const struct rec *top_rec = by_vow(t);
    assert_non_null(top_rec);
    assert_int_equal(top_rec->n.kind, VOW_NODE_TASK);
    assert_int_equal(top_rec->n.depth, 1);
    const struct rec *sa = by_id(id(scope_a)), *sb = by_id(id(scope_b));
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(sa->n.kind, VOW_NODE_SCOPE);
    assert_true(sa->n.parent == top_rec->n.id);
    assert_int_equal(sa->n.count, 2);
    assert_int_equal(sb->n.count, 2);
    const struct rec *r0 = reader_of(0), *r1 = reader_of(1), *r2 = reader_of(2);
    assert_true(r0->n.parent == sb->n.id && r1->n.parent == sb->n.id);
    assert_true(r0->n.scope == sb->n.id);
    assert_true(r2->n.parent == sa->n.id);
    const struct rec *mid = by_id(sb->n.parent);
    assert_non_null(mid);
    assert_string_equal(mid->what, "coroutine");
    assert_true(mid->n.parent == sa->n.id);
    assert_true(mid->n.scope == sa->n.id);
    /* Each scope's owner waits on its join (one vow), which sits under it. */
    assert_int_equal(mid->n.nwaits, 1);
    assert_int_equal(top_rec->n.nwaits, 1);
    const struct rec *jb = by_id(mid->waits[0]);
    assert_non_null(jb);
    assert_int_equal(jb->n.kind, VOW_NODE_VOW);
    assert_true(jb->n.parent == mid->n.id);
    /* Five coroutines, two scopes, no reference needed: it is a tree. */
    const struct rec *v[16];
    assert_int_equal(children(VOW_NODE_TASK, 0, v, 16), 5);
    assert_int_equal(children(VOW_NODE_SCOPE, 0, v, 16), 2);
    assert_int_equal(children(VOW_NODE_REF, 0, v, 16), 0);
    /* The reactor's part: three fds watched. */
    for (size_t i = 0; i < NR; i++)
        if (R[i].n.kind == VOW_NODE_HANDLES && !strcmp(R[i].what, "fd"))
            assert_int_equal(R[i].n.count, 3);
    /* Out of memory at each allocation of the walk: VOW_ENOMEM, nothing leaks, the
     * loop is unchanged; the coroutine library's inspector passes the error on. */
    long before = tu_live_allocations();
    size_t n0 = NR;
    for (long k = 1;; k++) {
        NR = 0;
        tu_fail_nth(k);
        int rc = vow_loop_walk(L, collect, NULL);
        long made = tu_alloc_count();
        tu_fail_nth(0);
        assert_int_equal(tu_live_allocations(), before);
        if (made < k) {
            assert_int_equal(rc, 0);
            assert_int_equal(NR, n0);
            break;
        }
        assert_int_equal(rc, VOW_ENOMEM);
        assert_true(k < 1000);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(vow_loop_dump(L, f), 0);
    fclose(f);
    if (!strstr(text, "coroutine ") || !strstr(text, "scope ") || !strstr(text, "supervisor"))
        fail_msg("dump:\n%s", text);
    if (getenv("VOW_TEST_SHOW_DUMP"))
        fputs(text, stderr);
    free(text);
    for (int i = 0; i < 3; i++)
        assert_int_equal(write(pipes[i][1], "x", 1), 1);
    tu_wait(L, t);
    assert_int_equal(vow_state(t), VOW_FULFILLED);
    vow_unref(t);
    /* The coroutine library's inspector left with its last coroutine. */
    walk(L);
    assert_int_equal(NR, 1);
    for (int i = 0; i < 3; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    assert_int_equal(vow_loop_close(L), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static vow_ret keep(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(*v);
}

/* then(timeout(coroutine)): the coroutine sits under the timeout, and the coroutine
 * it awaits (plain, no scope) sits under it. */
static vow *inner_vow;

static vow_ret sleeper(void *arg)
{
    (void)arg;
    return vow_co_sleep(60000) < 0 ? vow_fail(VOW_ECANCELED, vow_val_none())
                                   : vow_ok(vow_val_none());
}

static vow_ret outer(void *arg)
{
    (void)arg;
    inner_vow = vow_co_spawn(L, sleeper, NULL, OPTS);
    int rc = vow_await(inner_vow);
    vow_unref(inner_vow);
    inner_vow = NULL;
    return rc < 0 ? vow_fail(rc, vow_val_none()) : vow_ok(vow_val_none());
}

static vow_ret catch_all(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)code;
    (void)detail;
    return vow_ok(vow_val_none());
}

static void coroutine_in_chain(void **state)
{
    (void)state;
    L = vow_loop_new();
    vow *c = vow_co_spawn(L, outer, NULL, OPTS);
    vow *t = vow_timeout(vow_ref(c), 50000);
    vow *th = vow_then(vow_ref(t), keep, NULL, NULL);
    while (!inner_vow)
        assert_true(vow_loop_run(L, VOW_RUN_ONCE) > 0);
    assert_int_equal(vow_loop_run(L, VOW_RUN_NOWAIT), 1);
    walk(L);
    const struct rec *rth = by_vow(th), *rt = by_vow(t), *rc = by_vow(c), *ri = by_vow(inner_vow);
    assert_non_null(rth);
    assert_non_null(rt);
    assert_non_null(rc);
    assert_non_null(ri);
    assert_true(rt->n.parent == rth->n.id);
    assert_true(rc->n.parent == rt->n.id);
    assert_int_equal(rc->n.kind, VOW_NODE_TASK);
    assert_true(rc->waits[0] == ri->n.id);
    assert_true(ri->n.parent == rc->n.id);
    assert_int_equal(ri->n.kind, VOW_NODE_TASK);
    /* The sleeper waits on a delay, under it. */
    assert_int_equal(ri->n.nwaits, 1);
    const struct rec *d = by_id(ri->waits[0]);
    assert_non_null(d);
    assert_string_equal(d->what, "delay");
    assert_true(d->n.parent == ri->n.id);
    /* Cancelling the top reaches both coroutines. */
    assert_int_equal(vow_cancel(th), 0);
    vow_unref(vow_catch(c, catch_all, NULL));
    vow_unref(th);
    vow_unref(t);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_co_live(L), 0);
    assert_int_equal(vow_loop_close(L), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A scope opened outside coroutines, with a vow added: the scope at the top, the vow
 * under it; the scopes' inspector leaves with the last scope. */
static void scope_without_coroutines(void **state)
{
    (void)state;
    L = vow_loop_new();
    vow_scope_opts o = {.flags = VOW_SCOPE_SUPERVISOR, .timeout_ms = 50000};
    vow_scope *s = vow_scope_new(L, &o);
    assert_non_null(s);
    vow *p = vow_pending(L);
    assert_int_equal(vow_scope_add(s, vow_ref(p)), 0);
    walk(L);
    const struct rec *rs = by_id(id(s)), *rp = by_vow(p);
    assert_non_null(rs);
    assert_non_null(rp);
    assert_int_equal(rs->n.kind, VOW_NODE_SCOPE);
    assert_int_equal(rs->n.depth, 1);
    assert_int_equal(rs->n.count, 1);
    assert_int_equal(rs->n.nwaits, 1);
    assert_true(rs->waits[0] == id(p));
    assert_true(rp->n.parent == rs->n.id);
    vow_resolve(p, vow_val_none());
    vow_unref(p);
    vow *j = vow_scope_join(s);
    tu_wait(L, j);
    vow_unref(j);
    assert_int_equal(vow_scope_close(s), 0);
    walk(L);
    assert_int_equal(NR, 1);
    assert_int_equal(vow_loop_run(L, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_loop_close(L), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    if (getenv("VOW_CO_TEST_COPY"))
        OPTS = &copy_opts;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nested_scopes),
        cmocka_unit_test(coroutine_in_chain),
        cmocka_unit_test(scope_without_coroutines),
    };
    return cmocka_run_group_tests_name("co-inspect", tests, NULL, NULL);
}
