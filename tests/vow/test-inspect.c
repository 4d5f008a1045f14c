/* SPDX-License-Identifier: MIT */
/*
 * Inspecting a loop (vow/inspect.h): the walk's records for known programs (a chain,
 * a race under a timeout, a source two consumers share, an fd watcher), checked for
 * structure (ids, parents, depths, waits), never for the dump's layout; the dump
 * itself; stopping a walk and its errors; an allocation-failure sweep; a dump
 * requested with a signal from another process. Built twice: on the testing variant
 * and, as test-inspect-debug, on the debug variant, where creation sites and ages
 * are checked too.
 */
#ifdef VOW_DEBUG
#define VOW_TRACK_SITES 1
#endif
#include "testutil.h"

#include "vow/inspect.h"
#include "vow/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------- collecting records */

#define MAXREC 256

struct rec {
    vow_node n;        /* the record (pointers cleared) */
    char what[32];     /* n.what */
    char state[32];    /* n.state */
    char file[128];    /* n.file or "" */
    uint64_t waits[8]; /* n.waits (the first 8) */
};

struct recs {
    struct rec r[MAXREC];
    size_t n;
    int stop_at; /* non-zero: return 7 at that record (1-based) */
};

static int collect(void *ctx, const vow_node *n)
{
    struct recs *rs = ctx;
    assert_true(rs->n < MAXREC);
    struct rec *r = &rs->r[rs->n++];
    memset(r, 0, sizeof(*r));
    r->n = *n;
    assert_non_null(n->what);
    assert_non_null(n->state);
    snprintf(r->what, sizeof(r->what), "%s", n->what);
    snprintf(r->state, sizeof(r->state), "%s", n->state);
    snprintf(r->file, sizeof(r->file), "%s", n->file ? n->file : "");
    for (size_t i = 0; i < n->nwaits && i < 8; i++)
        r->waits[i] = n->waits[i];
    r->n.what = r->n.state = r->n.file = r->n.detail = NULL;
    r->n.waits = NULL;
    if (rs->stop_at && (int)rs->n == rs->stop_at)
        return 7;
    return 0;
}

static uint64_t id(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static const struct rec *find(const struct recs *rs, const void *obj)
{
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].n.id == id(obj) && rs->r[i].n.kind != VOW_NODE_REF)
            return &rs->r[i];
    fail_msg("no record for %p", obj);
    return NULL;
}

static const struct rec *find_what(const struct recs *rs, vow_node_kind kind, const char *what)
{
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].n.kind == kind && !strcmp(rs->r[i].what, what))
            return &rs->r[i];
    return NULL;
}

/* Every record's parent came before it, one level up; the loop comes first. */
static void check_tree(const struct recs *rs, vow_loop *l)
{
    assert_true(rs->n >= 1);
    assert_int_equal(rs->r[0].n.kind, VOW_NODE_LOOP);
    assert_true(rs->r[0].n.id == id(l));
    assert_int_equal(rs->r[0].n.depth, 0);
    for (size_t i = 1; i < rs->n; i++) {
        const vow_node *n = &rs->r[i].n;
        assert_true(n->id != 0);
        size_t j = i;
        while (j-- > 0)
            if (rs->r[j].n.id == n->parent)
                break;
        if (j == (size_t)-1)
            fail_msg("record %zu (%s): parent %#llx not reported before it", i, rs->r[i].what,
                     (unsigned long long)n->parent);
        assert_int_equal(n->depth, rs->r[j].n.depth + 1);
        for (size_t k = 0; k < i; k++)
            if (rs->r[k].n.id == n->id)
                fail_msg("id %#llx reported twice", (unsigned long long)n->id);
    }
}

static void walk(vow_loop *l, struct recs *rs)
{
    rs->n = 0;
    assert_int_equal(vow_loop_walk(l, collect, rs), 0);
    check_tree(rs, l);
}

static vow_ret keep(void *ctx, const vow_val *v)
{
    (void)ctx;
    return vow_ok(*v);
}

static struct recs R;

/* ------------------------------------------------------------------- cases */

/* p <- then a <- then b: b at the top, a under it, p under a. */
static void chain(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int line_p = __LINE__ + 1;
    vow *p = vow_pending(l);
    vow *a = vow_then(vow_ref(p), keep, NULL, NULL);
    int line_b = __LINE__ + 1;
    vow *b = vow_then(vow_ref(a), keep, NULL, NULL);
    walk(l, &R);
    const struct rec *rb = find(&R, b), *ra = find(&R, a), *rp = find(&R, p);
    assert_int_equal(rb->n.kind, VOW_NODE_VOW);
    assert_string_equal(rb->what, "then");
    assert_string_equal(rb->state, "pending");
    assert_true(rb->n.parent == id(l));
    assert_int_equal(rb->n.nwaits, 1);
    assert_true(rb->waits[0] == id(a));
    assert_true(ra->n.parent == id(b));
    assert_true(ra->waits[0] == id(p));
    assert_true(rp->n.parent == id(a));
    assert_int_equal(rp->n.depth, 3);
    assert_int_equal(rp->n.nwaits, 0);
    assert_string_equal(rp->what, "vow");
#ifdef VOW_DEBUG
    assert_non_null(strstr(rp->file, "test-inspect.c"));
    assert_int_equal(rp->n.line, line_p);
    assert_int_equal(rb->n.line, line_b);
    assert_true(rp->n.age_ms >= 0);
#else
    (void)line_p;
    (void)line_b;
    assert_string_equal(rp->file, "");
    assert_true(rp->n.age_ms == -1);
#endif
    vow_resolve(p, vow_val_num(1));
    tu_wait(l, b);
    /* Settled vows still held are alive too: reported, waiting on nothing. */
    walk(l, &R);
    assert_string_equal(find(&R, b)->state, "fulfilled");
    vow_unref(p);
    vow_unref(a);
    vow_unref(b);
    walk(l, &R);
    assert_int_equal(R.n, 1);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* timeout(race(x, delay)): the timeout on top, the race under it, both inputs under
 * the race; the reactor shows two timers (the delay's and the timeout's). */
static void race_under_timeout(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *x = vow_pending(l);
    vow *y = vow_delay(l, 50000, vow_val_none());
    vow *ps[2] = {vow_ref(x), vow_ref(y)};
    vow *r = vow_race(l, ps, 2);
    vow *t = vow_timeout(vow_ref(r), 60000);
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    walk(l, &R);
    const struct rec *rt = find(&R, t), *rr = find(&R, r), *rx = find(&R, x), *ry = find(&R, y);
    assert_string_equal(rt->what, "timeout");
    assert_true(rt->n.parent == id(l));
    assert_true(rt->waits[0] == id(r));
    assert_string_equal(rr->what, "combinator");
    assert_true(rr->n.parent == id(t));
    assert_int_equal(rr->n.nwaits, 2);
    assert_true((rr->waits[0] == id(x) && rr->waits[1] == id(y)) ||
                (rr->waits[0] == id(y) && rr->waits[1] == id(x)));
    assert_true(rx->n.parent == id(r) && ry->n.parent == id(r));
    assert_int_equal(rx->n.depth, 3);
    assert_string_equal(ry->what, "delay");
    const struct rec *timers = find_what(&R, VOW_NODE_HANDLES, "timer");
    assert_non_null(timers);
    assert_int_equal(timers->n.count, 2);
    int due = 0;
    for (size_t i = 0; i < R.n; i++) {
        const vow_node *n = &R.r[i].n;
        if (n->kind == VOW_NODE_HANDLE && !strcmp(R.r[i].what, "timer")) {
            assert_true(n->parent == timers->n.id);
            assert_true(n->due_ms > 40000 && n->due_ms <= 60000);
            due++;
        }
    }
    assert_int_equal(due, 2);
    /* Cancelling the top withdraws everything under it but what is held and pending. */
    assert_int_equal(vow_cancel(t), 0);
    vow_unref(t);
    vow_unref(r);
    vow_unref(y);
    tu_wait(l, x);
    vow_unref(x);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A source two thens consume sits under the first; the second names it. */
static void shared_source(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    vow *a = vow_then(vow_ref(p), keep, NULL, NULL);
    vow *b = vow_then(vow_ref(p), keep, NULL, NULL);
    vow *ps[2] = {vow_ref(a), vow_ref(b)};
    vow *all = vow_all(l, ps, 2);
    walk(l, &R);
    const struct rec *rp = find(&R, p);
    assert_true(rp->n.parent == id(a) || rp->n.parent == id(b));
    int refs = 0;
    for (size_t i = 0; i < R.n; i++) {
        const vow_node *n = &R.r[i].n;
        if (n->kind == VOW_NODE_REF) {
            assert_true(n->ref == id(p));
            assert_true(n->parent == id(a) || n->parent == id(b));
            assert_true(n->parent != rp->n.parent);
            refs++;
        }
    }
    assert_int_equal(refs, 1);
    assert_true(find(&R, all)->n.depth == 1);
    vow_resolve(p, vow_val_num(1));
    tu_wait(l, all);
    vow_unref(all);
    vow_unref(a);
    vow_unref(b);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* A read on a pipe: its vow, and the fd it watches among the reactor's handles. */
static void fd_watch(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    char byte;
    vow *rd = vow_read(l, fds[0], &byte, 1);
    assert_non_null(rd);
    walk(l, &R);
    const struct rec *g = find_what(&R, VOW_NODE_HANDLES, "fd");
    assert_non_null(g);
    assert_int_equal(g->n.count, 1);
    int seen = 0;
    for (size_t i = 0; i < R.n; i++)
        if (R.r[i].n.kind == VOW_NODE_HANDLE && R.r[i].n.fd == fds[0]) {
            assert_true(R.r[i].n.events & VOW_READABLE);
            seen++;
        }
    assert_int_equal(seen, 1);
    assert_int_equal(find(&R, rd)->n.kind, VOW_NODE_VOW);
    /* The read named its abort hook (vow_on_cancel_named). */
    assert_string_equal(find(&R, rd)->what, "read");
    /* The dump prints the same tree. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(vow_loop_dump(l, f), 0);
    fclose(f);
    char want[32];
    snprintf(want, sizeof(want), "fd %d readable", fds[0]);
    if (!strstr(text, want) || !strstr(text, "loop ") || !strstr(text, "1 fd handle"))
        fail_msg("dump:\n%s", text);
    free(text);
    assert_int_equal(write(fds[1], "x", 1), 1);
    tu_wait(l, rd);
    vow_unref(rd);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

struct nested {
    vow_loop *l;
    int rc;
};

static int nested_walk(void *ctx, const vow_node *n)
{
    (void)n;
    struct nested *x = ctx;
    x->rc = vow_loop_walk(x->l, collect, &R);
    return 1;
}

/* A callback stops the walk with its value; bad arguments and nesting are refused. */
static void stops_and_errors(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    vow *a = vow_then(vow_ref(p), keep, NULL, NULL);
    R.n = 0;
    R.stop_at = 2;
    assert_int_equal(vow_loop_walk(l, collect, &R), 7);
    assert_int_equal(R.n, 2);
    R.stop_at = 3;
    R.n = 0;
    assert_int_equal(vow_loop_walk(l, collect, &R), 7);
    assert_int_equal(R.n, 3);
    R.stop_at = 0;
    assert_int_equal(vow_loop_walk(NULL, collect, &R), VOW_EINVAL);
    assert_int_equal(vow_loop_walk(l, NULL, &R), VOW_EINVAL);
    assert_int_equal(vow_loop_dump(l, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_dump(NULL, stderr), VOW_EINVAL);
    struct nested inner = {l, 0};
    assert_int_equal(vow_loop_walk(l, nested_walk, &inner), 1);
    assert_int_equal(inner.rc, VOW_EBUSY);
    assert_int_equal(vow_loop_dump_on(l, SIGKILL, stderr), VOW_EINVAL);
    assert_int_equal(vow_loop_dump_on(l, SIGUSR2, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_dump_on(NULL, SIGUSR2, stderr), VOW_EINVAL);
    assert_int_equal(vow_loop_dump_on(l, 0, NULL), 0);
    /* A request left armed is stopped by close. */
    assert_int_equal(vow_loop_dump_on(l, SIGUSR2, stderr), 0);
    vow_resolve(p, vow_val_none());
    tu_wait(l, a);
    vow_unref(a);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static int fake_inspector(void *ctx, vow_loop *l, vow_inspect_emit_fn emit, void *ectx)
{
    (void)l;
    vow *p = ctx;
    vow_inspect_item it;
    memset(&it, 0, sizeof(it));
    it.kind = VOW_NODE_TASK;
    it.id = &it;
    it.what = "task";
    it.state = "waiting";
    it.waits = &p;
    it.nwaits = 1;
    it.age_ms = 5;
    strcpy(it.detail, "a fake task");
    return emit(ectx, &it);
}

static void hook_noop(void *ctx, vow *p)
{
    (void)ctx;
    (void)p;
}

/* A producer's name is what the walk reports; an unnamed hook is a "producer". */
static void named_hooks(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *a = vow_pending(l), *b = vow_pending(l);
    assert_int_equal(vow_on_cancel_named(a, hook_noop, NULL, "my op"), 0);
    assert_int_equal(vow_on_cancel(b, hook_noop, NULL), 0);
    assert_int_equal(vow_on_cancel_named(NULL, hook_noop, NULL, "x"), VOW_EINVAL);
    walk(l, &R);
    assert_string_equal(find(&R, a)->what, "my op");
    assert_string_equal(find(&R, b)->what, "producer");
    vow_resolve(a, vow_val_none());
    assert_int_equal(vow_on_cancel_named(a, hook_noop, NULL, "late"), VOW_ESETTLED);
    vow_unref(a);
    vow_unref(b);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* The inspector seam: an item waits on a vow, which then sits under it. */
static void inspector_seam(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    assert_int_equal(vow_loop_add_inspector(l, fake_inspector, p), 0);
    assert_int_equal(vow_loop_add_inspector(l, fake_inspector, p), VOW_EEXIST);
    assert_int_equal(vow_loop_add_inspector(l, NULL, p), VOW_EINVAL);
    walk(l, &R);
    const struct rec *task = find_what(&R, VOW_NODE_TASK, "task");
    assert_non_null(task);
    assert_int_equal(task->n.depth, 1);
    assert_int_equal(task->n.age_ms, 5);
    assert_true(task->waits[0] == id(p));
    assert_true(find(&R, p)->n.parent == task->n.id);
    for (int i = 1; i < 4; i++)
        assert_int_equal(vow_loop_add_inspector(l, fake_inspector, (char *)p + i), 0);
    assert_int_equal(vow_loop_add_inspector(l, fake_inspector, (char *)p + 4), VOW_ENOSPC);
    for (int i = 1; i < 4; i++)
        assert_int_equal(vow_loop_remove_inspector(l, fake_inspector, (char *)p + i), 0);
    assert_int_equal(vow_loop_remove_inspector(l, fake_inspector, p), 0);
    assert_int_equal(vow_loop_remove_inspector(l, fake_inspector, p), VOW_EINVAL);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ----------------------------------------------------------------- sweep */

static int sweep_walk(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    if (!l)
        return 0;
    int complete = 0;
    vow *p = vow_pending(l);
    vow *a = p ? vow_then(vow_ref(p), keep, NULL, NULL) : NULL;
    vow *t = a ? vow_timeout(vow_ref(a), 10000) : NULL;
    if (t) {
        struct recs *rs = &R;
        rs->n = 0;
        int rc = vow_loop_walk(l, collect, rs);
        if (rc == 0) {
            check_tree(rs, l);
            /* The loop, the timers' group, the timer, t, a and p. */
            complete = rs->n == 6;
        } else {
            assert_int_equal(rc, VOW_ENOMEM);
        }
    }
    if (t)
        vow_cancel(t);
    vow_unref(t);
    vow_unref(a);
    if (p)
        vow_cancel(p);
    vow_unref(p);
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    while (vow_loop_run(l, VOW_RUN_NOWAIT) > 0) {
    }
    assert_int_equal(vow_loop_close(l), 0);
    return complete;
}

static void sweep(void **state)
{
    (void)state;
    assert_true(tu_sweep(sweep_walk, NULL) > 0);
}

/* --------------------------------------------------------- dump on a signal */

/* The child: a loop with a chain pending on a control pipe, a dump on SIGUSR1 to
 * out_fd; "ready" goes to out_fd first. It ends when the control pipe has a byte. */
static void signal_child(int ctl, int out_fd)
{
    vow_loop *l = vow_loop_new();
    FILE *out = fdopen(out_fd, "w");
    if (!l || !out || vow_loop_dump_on(l, SIGUSR1, out) != 0)
        _exit(2);
    char byte;
    vow *rd = vow_read(l, ctl, &byte, 1);
    vow *th = vow_then(vow_ref(rd), keep, NULL, NULL);
    fputs("ready\n", out);
    fflush(out);
    while (vow_state(th) == VOW_PENDING)
        if (vow_loop_run(l, VOW_RUN_ONCE) < 0)
            _exit(3);
    vow_unref(th);
    vow_unref(rd);
    vow_loop_dump_on(l, 0, NULL);
    fputs("end\n", out);
    fclose(out);
    _exit(vow_loop_close(l) == 0 ? 0 : 4);
}

static void dump_on_signal(void **state)
{
    (void)state;
    int ctl[2], out[2];
    assert_int_equal(pipe2(ctl, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ctl[1]);
        close(out[0]);
        fcntl(ctl[0], F_SETFL, O_NONBLOCK);
        signal_child(ctl[0], out[1]);
    }
    close(ctl[0]);
    close(out[1]);
    static char text[16384];
    size_t len = 0;
    int signalled = 0;
    for (;;) {
        ssize_t n = read(out[0], text + len, sizeof(text) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        text[len] = '\0';
        if (!signalled && strstr(text, "ready\n")) {
            assert_int_equal(kill(pid, SIGUSR1), 0);
            signalled = 1;
        }
        /* The dump arrived: let the child finish. */
        if (signalled == 1 && strstr(text, "then ") && strstr(text, "1 fd handle")) {
            assert_int_equal(write(ctl[1], "x", 1), 1);
            signalled = 2;
        }
        if (len == sizeof(text) - 1)
            break;
    }
    close(out[0]);
    close(ctl[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || signalled != 2)
        fail_msg("child status %d, output:\n%s", status, text);
    assert_non_null(strstr(text, "end\n"));
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain),
        cmocka_unit_test(race_under_timeout),
        cmocka_unit_test(shared_source),
        cmocka_unit_test(fd_watch),
        cmocka_unit_test(stops_and_errors),
        cmocka_unit_test(inspector_seam),
        cmocka_unit_test(named_hooks),
        cmocka_unit_test(sweep),
        cmocka_unit_test(dump_on_signal),
    };
    return cmocka_run_group_tests_name("inspect", tests, NULL, NULL);
}
