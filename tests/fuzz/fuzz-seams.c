/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the seams between the styles: the input is a program over two
 * socketpairs, a table of eight vows and a few coroutines. Operations: fd reads,
 * exact reads and writes into heap buffers of the harness, delays, user vows with an
 * abort hook, then/catch/finally, timeouts, the four combinators, coroutines running
 * a small script (await a named vow, sleep, yield, a read or write under a timeout
 * into a buffer of their own), cancels, drops, copies, the peer's writes and reads,
 * loop turns and vow_co_cancel_all.
 *
 * The harness keeps a model of who consumes what (reactions, timeouts, combinator
 * inputs, awaits) and applies the cancellation rules to it: a vow is withdrawn when
 * it is cancelled, when its last reference goes while it has no consumer (user code
 * -- a handler, a coroutine -- excepted), or when the last of its consumers stops
 * consuming it (withdrawn, or seen settled). The moment the model says an operation
 * is withdrawn, its buffer is released: freed under AddressSanitizer, which then
 * reports any late read or write at the faulty call; elsewhere filled with a
 * "released" pattern that must still be there at the end and must never reach the
 * peer. A coroutine frees the buffer of its own read or write as soon as its
 * vow_await returns, cancelled or not. Invariant failures abort.
 *   FUZZ_SEAMS_TRACE=1  print each step
 *   FUZZ_SEAMS_LAX=1    skip the checks that a withdrawn vow the harness can see is
 *                       settled and its abort hook ran (look past those at memory
 *                       errors)
 */
#include "fuzz-vow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "vow/co.h"
#include "vow/io.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif

#define SLOTS 8       /* vows the program can name */
#define NPAIRS 2      /* socketpairs */
#define MAX_NODES 512 /* vows the model tracks per input */
#define MAX_BUFS 256  /* harness buffers per input */
#define MAX_COS 16    /* coroutines per input */
#define MAX_VALS 1024 /* tracked handler values per input */
#define MAX_RX 256    /* tracked reactions per input */
#define CO_STEPS 6    /* script length of a coroutine */
#define WRITE_PAT 0x57
#define READ_PAT 0xA5
#define GRAVE 0xDB /* a released buffer's bytes (never sent by the peer) */

enum kind { K_OP, K_DELAY, K_USER, K_THEN, K_TIMEOUT, K_COMB, K_CO };

/* A vow the model tracks. */
struct node {
    int kind;          /* enum kind */
    int rooted;        /* dropping its last reference withdraws nothing (user code, or
                          a user vow whose producer holds it) */
    int gone;          /* withdrawn, or seen settled: it consumes nothing any more */
    int withdrawn;     /* gone because the rules withdrew it (not seen settled) */
    int nin;           /* inputs it consumes */
    int in[SLOTS];     /* their node ids */
    int consumers;     /* live consumers of this node */
    int held;          /* references the harness holds (slots, coroutines' awaits) */
    int buf;           /* the buffer of an operation, or -1 */
    int co;            /* the coroutine of a K_CO node, or -1 */
    int hook_runs;     /* K_USER: abort hook calls */
    int settled_by_us; /* K_USER: the harness settled it */
    vow *producer;     /* K_USER: the producer's own reference, until the end */
};

/* A buffer handed to an operation. */
struct buf {
    unsigned char *mem; /* NULL once freed (ASan builds) */
    size_t len;         /* bytes */
    int released;       /* the rules say the library is done with it */
};

/* A coroutine and its script. */
struct co {
    int node;                 /* its K_CO node */
    uint8_t script[CO_STEPS]; /* its steps */
    int awaiting;             /* the node it awaits now, or -1 */
    int done;                 /* the body returned */
};

/* A then/catch/finally handler's context. */
struct rx {
    int mode;     /* 0: fulfil with a tracked value, 1: fail, 2: pass */
    int ran;      /* handler calls */
    int has_drop; /* attached with vow_then_full */
    int dropped;  /* ctx_drop calls */
};

struct slot {
    vow *p;   /* our reference, or NULL */
    int node; /* its node */
};

static struct {
    vow_loop *l;
    int fd[NPAIRS], peer[NPAIRS];
    struct slot slot[SLOTS];
    struct node nodes[MAX_NODES];
    int nnodes;
    struct buf bufs[MAX_BUFS];
    int nbufs;
    struct co cos[MAX_COS];
    int ncos;
    int vals[MAX_VALS]; /* drops per tracked value */
    int nvals;
    struct rx rxs[MAX_RX];
    int nrx;
    int in_api; /* inside a call that must not run handlers synchronously */
    long fds0;  /* open fds before the input */
    const uint8_t *in;
    size_t len;
} F;

static int trace, lax;

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (trace)                                                                                 \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz-seams: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static unsigned next(void)
{
    if (F.len == 0)
        return 0;
    F.len--;
    return *F.in++;
}

/* ------------------------------------------------------------------ values */

static void val_drop(void *ptr)
{
    int *d = ptr;
    CHECK(d >= F.vals && d < F.vals + MAX_VALS);
    (*d)++;
    CHECK(*d == 1);
}

static vow_val new_val(void)
{
    if (F.nvals == MAX_VALS)
        return vow_val_num(-1);
    return vow_val_ptr(&F.vals[F.nvals++], val_drop);
}

/* ------------------------------------------------------------------ model */

static int new_node(int kind, int rooted)
{
    if (F.nnodes == MAX_NODES)
        return -1;
    int id = F.nnodes++;
    struct node *n = &F.nodes[id];
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->rooted = rooted;
    n->buf = -1;
    n->co = -1;
    return id;
}

static struct buf *new_buf(size_t len, int pattern, int *ret_id)
{
    if (F.nbufs == MAX_BUFS)
        return NULL;
    struct buf *b = &F.bufs[F.nbufs];
    b->mem = malloc(len);
    if (!b->mem)
        return NULL;
    memset(b->mem, pattern, len);
    b->len = len;
    b->released = 0;
    *ret_id = F.nbufs++;
    return b;
}

/* The library must never touch b again: free it (ASan reports a late access at the
 * faulty call) or fill it with the released pattern (checked at the end). */
static void release_buf(struct buf *b)
{
    if (b->released)
        return;
    b->released = 1;
#ifdef FUZZ_ASAN
    free(b->mem);
    b->mem = NULL;
#else
    memset(b->mem, GRAVE, b->len);
#endif
}

static void node_gone(int id, int withdrawn);

/* Node id lost one of its consumers; with none left it is withdrawn. */
static void lose_consumer(int id)
{
    struct node *n = &F.nodes[id];
    CHECK(n->consumers > 0);
    n->consumers--;
    if (n->consumers == 0 && !n->gone)
        node_gone(id, 1);
}

/* Node id consumes nothing any more: withdrawn by the rules, or seen settled. Its
 * operation's buffer is released; its inputs lose it as a consumer. */
static void node_gone(int id, int withdrawn)
{
    struct node *n = &F.nodes[id];
    if (n->gone)
        return;
    TRACE("  node %d gone (%s)\n", id, withdrawn ? "withdrawn" : "settled");
    n->gone = 1;
    n->withdrawn = withdrawn;
    if (n->buf >= 0)
        release_buf(&F.bufs[n->buf]);
    for (int i = 0; i < n->nin; i++)
        lose_consumer(n->in[i]);
    n->nin = 0;
    if (n->co >= 0 && F.cos[n->co].awaiting >= 0) {
        int a = F.cos[n->co].awaiting;
        F.cos[n->co].awaiting = -1;
        lose_consumer(a);
    }
}

/* The harness let go of one reference to node id: a vow that nobody consumes and
 * nobody holds is withdrawn, unless user code keeps it going. */
static void node_unheld(int id)
{
    struct node *n = &F.nodes[id];
    CHECK(n->held > 0);
    n->held--;
    if (n->held == 0 && n->consumers == 0 && !n->rooted && !n->gone)
        node_gone(id, 1);
}

static void add_input(int consumer, int input)
{
    struct node *c = &F.nodes[consumer];
    c->in[c->nin++] = input;
    F.nodes[input].consumers++;
}

/* Checks every vow the harness can see: one the rules withdrew is settled, and a
 * withdrawn user vow ran its abort hook once. Seen settled: the model learns it. */
static void verify(void)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &F.slot[i];
        if (!s->p)
            continue;
        struct node *n = &F.nodes[s->node];
        int st = vow_state(s->p);
        CHECK(st == VOW_PENDING || st == VOW_FULFILLED || st == VOW_REJECTED);
        if (n->gone && n->withdrawn && !lax && st == VOW_PENDING) {
            fprintf(stderr, "fuzz-seams: node %d (kind %d) withdrawn but pending\n", s->node,
                    n->kind);
            CHECK(!"a withdrawn vow is still pending");
        }
        if (st != VOW_PENDING && !n->gone)
            node_gone(s->node, 0);
    }
    for (int id = 0; id < F.nnodes; id++) {
        struct node *n = &F.nodes[id];
        if (n->kind != K_USER)
            continue;
        CHECK(n->hook_runs <= 1);
        if (!lax && n->gone && n->withdrawn && !n->settled_by_us)
            CHECK(n->hook_runs == 1);
        if (!n->gone && vow_state(n->producer) != VOW_PENDING)
            node_gone(id, 0);
    }
}

/* ------------------------------------------------------------------ slots */

/* Puts p (a new reference, maybe NULL) of node id into slot s, dropping what was
 * there. */
static void put(unsigned s, vow *p, int id)
{
    struct slot *sl = &F.slot[s % SLOTS];
    vow *old = sl->p;
    int old_node = sl->node;
    sl->p = p;
    sl->node = id;
    if (p)
        F.nodes[id].held++;
    if (old) {
        F.in_api = 1;
        vow_unref(old);
        F.in_api = 0;
        node_unheld(old_node);
    }
}

/* A new operation vow p into slot d; drops p if the model is full. */
static void put_new(unsigned d, vow *p, int kind, int rooted, int buf)
{
    int id = p ? new_node(kind, rooted) : -1;
    if (p && id < 0) {
        vow_cancel(p);
        vow_unref(p);
        if (buf >= 0)
            release_buf(&F.bufs[buf]);
        return;
    }
    if (id >= 0)
        F.nodes[id].buf = buf;
    else if (buf >= 0)
        release_buf(&F.bufs[buf]);
    put(d, p, id);
}

static int slot_node(unsigned s)
{
    return F.slot[s % SLOTS].p ? F.slot[s % SLOTS].node : -1;
}

/* ------------------------------------------------------------- operations */

static const size_t read_lens[] = {1, 16, 64, 4096};
static const size_t write_lens[] = {1, 100, 8192, 262144};

static void op_read(int exact)
{
    unsigned j = next() % NPAIRS, len = read_lens[next() % 4], d = next();
    int b;
    struct buf *bf = new_buf(len, READ_PAT, &b);
    if (!bf)
        return;
    vow *p =
        exact ? vow_read_exact(F.l, F.fd[j], bf->mem, len) : vow_read(F.l, F.fd[j], bf->mem, len);
    put_new(d, p, K_OP, 0, b);
}

static void op_write(void)
{
    unsigned j = next() % NPAIRS, len = write_lens[next() % 4], d = next();
    int b;
    struct buf *bf = new_buf(len, WRITE_PAT, &b);
    if (!bf)
        return;
    put_new(d, vow_write_all(F.l, F.fd[j], bf->mem, len), K_OP, 0, b);
}

static void user_hook(void *ctx, vow *p)
{
    struct node *n = &F.nodes[(intptr_t)ctx];
    CHECK(vow_state(p) == VOW_REJECTED && vow_code(p) == VOW_ECANCELED);
    n->hook_runs++;
    CHECK(n->hook_runs == 1);
}

/* A user vow with an abort hook; the harness is its producer and keeps a reference
 * to settle it (which, by the rules, does not keep it wanted). */
static void op_user(void)
{
    unsigned d = next();
    vow *p = vow_pending(F.l);
    int id = p ? new_node(K_USER, 1) : -1;
    if (id < 0 || vow_on_cancel(p, user_hook, (void *)(intptr_t)id) < 0) {
        if (id >= 0)
            F.nnodes--;
        vow_unref(p);
        return;
    }
    F.nodes[id].producer = vow_ref(p);
    put(d, p, id);
}

static void op_settle_user(void)
{
    int id = slot_node(next());
    if (id < 0 || F.nodes[id].kind != K_USER)
        return;
    struct node *n = &F.nodes[id];
    unsigned how = next();
    F.in_api = 1;
    int r =
        how & 1 ? vow_reject(n->producer, -EIO, new_val()) : vow_resolve(n->producer, new_val());
    F.in_api = 0;
    CHECK(r == 0 || r == VOW_ESETTLED);
    if (r == 0)
        n->settled_by_us = 1;
}

static vow_ret rx_ok(void *ctx, const vow_val *v)
{
    struct rx *r = ctx;
    CHECK(!F.in_api && v != NULL);
    r->ran++;
    CHECK(r->ran == 1);
    if (r->mode == 0)
        return vow_ok(new_val());
    if (r->mode == 1)
        return vow_fail(VOW_EUSER, new_val());
    return vow_pass();
}

static vow_ret rx_err(void *ctx, int code, const vow_val *detail)
{
    struct rx *r = ctx;
    CHECK(!F.in_api && code < 0 && detail != NULL);
    r->ran++;
    CHECK(r->ran == 1);
    return r->mode == 0 ? vow_ok(new_val()) : vow_pass();
}

static vow_ret rx_fin(void *ctx)
{
    struct rx *r = ctx;
    CHECK(!F.in_api);
    r->ran++;
    CHECK(r->ran == 1);
    return r->mode == 1 ? vow_fail(VOW_EUSER, new_val()) : vow_pass();
}

static void rx_drop(void *ctx)
{
    struct rx *r = ctx;
    CHECK(r->has_drop);
    r->dropped++;
    CHECK(r->dropped == 1);
}

static void op_chain(int kind)
{
    unsigned s = next(), m = next(), d = next();
    int in = slot_node(s);
    if (in < 0 || F.nrx == MAX_RX)
        return;
    int id = new_node(K_THEN, 1);
    if (id < 0)
        return;
    struct rx *r = &F.rxs[F.nrx++];
    memset(r, 0, sizeof(*r));
    r->mode = (int)(m % 3);
    vow *src = vow_ref(F.slot[s % SLOTS].p);
    vow *p;
    F.in_api = 1;
    if (kind == 0) {
        r->has_drop = 1;
        p = vow_then_full(src, rx_ok, (m & 4) ? rx_err : NULL, r, rx_drop);
    } else if (kind == 1) {
        p = vow_catch(src, rx_err, r);
    } else {
        p = vow_finally(src, rx_fin, r);
    }
    F.in_api = 0;
    if (!p) {
        F.nnodes--;
        return;
    }
    add_input(id, in);
    put(d, p, id);
}

static void op_timeout(void)
{
    unsigned s = next(), ms = next() % 3, d = next();
    int in = slot_node(s);
    if (in < 0)
        return;
    int id = new_node(K_TIMEOUT, 0);
    if (id < 0)
        return;
    F.in_api = 1;
    vow *p = vow_timeout(vow_ref(F.slot[s % SLOTS].p), ms);
    F.in_api = 0;
    if (!p) {
        F.nnodes--;
        return;
    }
    add_input(id, in);
    put(d, p, id);
}

static void op_combine(void)
{
    unsigned kind = next() % 4, mask = next(), d = next();
    int id = new_node(K_COMB, 0);
    if (id < 0)
        return;
    vow *ps[SLOTS];
    int ins[SLOTS];
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++)
        if (((mask >> i) & 1) && F.slot[i].p) {
            ins[n] = F.slot[i].node;
            ps[n++] = vow_ref(F.slot[i].p);
        }
    F.in_api = 1;
    vow *p = kind == 0   ? vow_all(F.l, ps, n)
             : kind == 1 ? vow_all_settled(F.l, ps, n)
             : kind == 2 ? vow_race(F.l, ps, n)
                         : vow_any(F.l, ps, n);
    F.in_api = 0;
    if (!p) {
        F.nnodes--;
        return;
    }
    for (size_t i = 0; i < n; i++)
        add_input(id, ins[i]);
    put(d, p, id);
}

static void op_cancel(void)
{
    struct slot *sl = &F.slot[next() % SLOTS];
    if (!sl->p)
        return;
    F.in_api = 1;
    int r = vow_cancel(sl->p);
    F.in_api = 0;
    CHECK(r == 0 || r == VOW_ESETTLED);
    if (r == 0)
        CHECK(vow_state(sl->p) == VOW_REJECTED && vow_code(sl->p) == VOW_ECANCELED);
    node_gone(sl->node, r == 0);
}

static void op_copy(void)
{
    unsigned a = next() % SLOTS, b = next() % SLOTS;
    if (!F.slot[a].p || a == b)
        return;
    put(b, vow_ref(F.slot[a].p), F.slot[a].node);
}

/* The peer sends n bytes of lowercase letters (never the released pattern). */
static void op_peer_write(void)
{
    unsigned j = next() % NPAIRS, n = 1 + next() % 64;
    char tmp[64];
    for (unsigned i = 0; i < n; i++)
        tmp[i] = (char)('a' + i % 26);
    ssize_t r = write(F.peer[j], tmp, n);
    (void)r;
}

/* The peer reads what arrived; a released buffer's bytes must never arrive. */
static void peer_drain(unsigned j)
{
    unsigned char tmp[65536];
    for (;;) {
        ssize_t n = read(F.peer[j], tmp, sizeof(tmp));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            CHECK(tmp[i] == WRITE_PAT);
    }
}

static void op_run(void)
{
    F.in_api = 0;
    CHECK(vow_loop_run(F.l, VOW_RUN_NOWAIT) >= 0);
}

static void op_cancel_all(void)
{
    F.in_api = 1;
    int n = vow_co_cancel_all(F.l);
    F.in_api = 0;
    CHECK(n >= 0);
    for (int i = 0; i < F.ncos; i++)
        if (!F.cos[i].done)
            node_gone(F.cos[i].node, 1);
}

/* ------------------------------------------------------------- coroutines */

/* The coroutine's own vow was cancelled: every later await must say so at once. */
static int self_cancelled(void)
{
    return vow_state(vow_co_self()) != VOW_PENDING;
}

/* Awaits p (borrowed) as consumer node a (or -1), keeping the model in step. */
static int co_await (struct co *c, vow *p, int a)
{
    int was_cancelled = self_cancelled();
    /* A cancelled coroutine's await returns at once and consumes nothing; so does an
     * await of its own vow (VOW_ECYCLE). */
    if (a >= 0 && !was_cancelled && p != vow_co_self()) {
        c->awaiting = a;
        F.nodes[a].consumers++;
    }
    int rc = vow_await(p);
    /* Resumed from a microtask, never inside the call that cancelled it. */
    CHECK(!F.in_api);
    if (c->awaiting >= 0) {
        int x = c->awaiting;
        c->awaiting = -1;
        lose_consumer(x);
    }
    if (was_cancelled)
        CHECK(rc == VOW_ECANCELED);
    return rc;
}

/* An operation of the coroutine's own under a timeout: its buffer is freed as soon as
 * the await returns, whatever it returned (the await was its only consumer). */
static void co_private_op(struct co *c, unsigned arg, int write)
{
    size_t len = write ? write_lens[(arg >> 2) % 4] : read_lens[(arg >> 2) % 4];
    unsigned char *buf = malloc(len);
    if (!buf)
        return;
    memset(buf, write ? WRITE_PAT : READ_PAT, len);
    int j = (int)(arg & 1);
    vow *op = write ? vow_write_all(F.l, F.fd[j], buf, len) : vow_read(F.l, F.fd[j], buf, len);
    vow *t = op ? vow_timeout(op, (arg >> 1) & 1 ? 50 : 1) : NULL;
    if (t)
        co_await (c, t, -1);
    vow_unref(t);
    free(buf);
}

static vow_ret co_body(void *arg)
{
    struct co *c = &F.cos[(intptr_t)arg];
    CHECK(!F.in_api);
    for (int i = 0; i < CO_STEPS; i++) {
        unsigned b = c->script[i], op = b % 7, a = b / 7;
        if (!lax && F.nodes[c->node].gone && F.nodes[c->node].withdrawn)
            CHECK(self_cancelled());
        switch (op) {
        case 0: {
            struct slot *s = &F.slot[a % SLOTS];
            if (!s->p) {
                vow_co_yield();
                break;
            }
            vow *p = vow_ref(s->p);
            int id = s->node;
            F.nodes[id].held++;
            co_await (c, p, id);
            vow_unref(p);
            node_unheld(id);
            break;
        }
        case 1:
            vow_co_sleep(a % 3);
            break;
        case 2:
            vow_co_yield();
            break;
        case 3:
        case 4:
            co_private_op(c, a, op == 4);
            break;
        case 5:
            /* The exact read of a coroutine, awaited without a timeout. */
            {
                size_t len = read_lens[a % 4];
                unsigned char *buf = malloc(len);
                if (!buf)
                    break;
                vow *op2 = vow_read_exact(F.l, F.fd[(a >> 2) & 1], buf, len);
                if (op2)
                    co_await (c, op2, -1);
                vow_unref(op2);
                free(buf);
            }
            break;
        default:
            c->done = 1;
            return a & 1 ? vow_fail(-EIO, new_val()) : vow_ok(new_val());
        }
    }
    c->done = 1;
    return vow_ok(new_val());
}

static void op_spawn(void)
{
    unsigned d = next();
    if (F.ncos == MAX_COS)
        return;
    int id = new_node(K_CO, 1);
    if (id < 0)
        return;
    int ci = F.ncos;
    struct co *c = &F.cos[ci];
    memset(c, 0, sizeof(*c));
    c->node = id;
    c->awaiting = -1;
    for (int i = 0; i < CO_STEPS; i++)
        c->script[i] = (uint8_t)next();
    F.in_api = 1;
    vow *p = vow_co_spawn(F.l, co_body, (void *)(intptr_t)ci, NULL);
    F.in_api = 0;
    if (!p) {
        F.nnodes--;
        return;
    }
    F.ncos++;
    F.nodes[id].co = ci;
    put(d, p, id);
}

/* ------------------------------------------------------------------- steps */

static int step(void)
{
    if (F.len == 0)
        return 0;
    static const char *const names[] = {
        "read",       "read-exact", "write-all", "delay",       "user",       "then", "catch",
        "finally",    "timeout",    "combine",   "spawn",       "cancel",     "drop", "copy",
        "peer-write", "peer-drain", "run",       "settle-user", "cancel-all",
    };
    enum { NOPS = sizeof(names) / sizeof(names[0]) };
    unsigned op = next() % NOPS;
    TRACE("step %s", names[op]);
    for (size_t i = 0; i < 4 && i < F.len; i++)
        TRACE(" %u", F.in[i]);
    TRACE("\n");
    switch (op) {
    case 0:
    case 1:
        op_read(op == 1);
        break;
    case 2:
        op_write();
        break;
    case 3: {
        unsigned ms = next() % 3, d = next();
        put_new(d, vow_delay(F.l, ms, new_val()), K_DELAY, 0, -1);
        break;
    }
    case 4:
        op_user();
        break;
    case 5:
    case 6:
    case 7:
        op_chain((int)op - 5);
        break;
    case 8:
        op_timeout();
        break;
    case 9:
        op_combine();
        break;
    case 10:
        op_spawn();
        break;
    case 11:
        op_cancel();
        break;
    case 12:
        put(next(), NULL, -1);
        break;
    case 13:
        op_copy();
        break;
    case 14:
        op_peer_write();
        break;
    case 15:
        peer_drain(next() % NPAIRS);
        break;
    case 16:
        op_run();
        break;
    case 17:
        op_settle_user();
        break;
    default:
        op_cancel_all();
        break;
    }
    verify();
    return 1;
}

static void quiet(void *ctx, vow *p, int event)
{
    (void)ctx;
    CHECK(p != NULL);
    CHECK(event == VOW_UNHANDLED || event == VOW_HANDLED_LATE);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_SEAMS_TRACE") != NULL;
    lax = getenv("FUZZ_SEAMS_LAX") != NULL;
    tu_install_allocator();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&F, 0, sizeof(F));
    F.in = data;
    F.len = size;
    F.fds0 = tu_open_fds();
    F.l = vow_loop_new();
    CHECK(F.l != NULL);
    CHECK(vow_loop_set_unhandled(F.l, quiet, NULL) == 0);
    for (int j = 0; j < NPAIRS; j++) {
        int fds[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        int small = 4096;
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        F.fd[j] = fds[0];
        F.peer[j] = fds[1];
    }
    for (int steps = 0; steps < 2048 && step(); steps++)
        ;

    /* Cleanup: cancel what the harness holds, shut every coroutine down, let go. */
    TRACE("cleanup\n");
    for (int i = 0; i < SLOTS; i++)
        if (F.slot[i].p && vow_cancel(F.slot[i].p) == 0)
            node_gone(F.slot[i].node, 1);
    op_cancel_all();
    verify();
    for (int i = 0; i < SLOTS; i++)
        put((unsigned)i, NULL, -1);
    /* What user code keeps going (a dropped then over a read, a rooted coroutine)
     * ends once the peers are gone: reads see EOF, writes fail. */
    for (int j = 0; j < NPAIRS; j++) {
        peer_drain((unsigned)j);
        close(F.peer[j]);
    }
    for (int i = 0; i < 10000 && vow_loop_alive(F.l); i++)
        CHECK(vow_loop_run(F.l, VOW_RUN_ONCE) >= 0);
    CHECK(!vow_loop_alive(F.l));
    for (int id = 0; id < F.nnodes; id++)
        if (F.nodes[id].kind == K_USER) {
            struct node *n = &F.nodes[id];
            CHECK(n->hook_runs <= 1);
            vow_cancel(n->producer);
            vow_unref(n->producer);
        }
    CHECK(vow_loop_run(F.l, VOW_RUN_DEFAULT) == 0);
    CHECK(vow_co_live(F.l) == 0);
    for (int j = 0; j < NPAIRS; j++)
        close(F.fd[j]);
    int rc = vow_loop_close(F.l);
    if (rc != 0)
        fprintf(stderr, "fuzz-seams: vow_loop_close: %s\n", vow_err_name(rc));
    CHECK(rc == 0);
    CHECK(tu_live_allocations() == 0);
    CHECK(tu_open_fds() == F.fds0);
    for (int i = 0; i < F.nbufs; i++) {
        struct buf *b = &F.bufs[i];
#ifndef FUZZ_ASAN
        if (b->released)
            for (size_t k = 0; k < b->len; k++)
                CHECK(b->mem[k] == GRAVE);
#endif
        free(b->mem);
    }
    for (int i = 0; i < F.nvals; i++)
        CHECK(F.vals[i] == 1);
    for (int i = 0; i < F.nrx; i++) {
        CHECK(F.rxs[i].ran <= 1);
        CHECK(F.rxs[i].dropped == F.rxs[i].has_drop);
    }
    return 0;
}
