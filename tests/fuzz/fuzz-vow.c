/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the vow layer: the input is a program of API calls over a
 * small table of vows (create, then/catch/finally with input-chosen handlers, settle,
 * adopt, cancel, combinators, ref/unref, loop turns, injected allocation failures).
 * After every step it checks the contract's invariants and aborts on a violation.
 */
#include "fuzz-vow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SLOTS 8       /* vows the program can name */
#define MAX_VALS 2048 /* tracked values per input */
#define MAX_RX 1024   /* tracked reactions per input */
#define MAX_UIDS 8192 /* vows named per input (each step names at most one) */

/* A value the harness made: its drop must run exactly once, never while a vow that
 * the harness saw settled with it is still alive. */
struct tval {
    int drops; /* times drop ran */
};

/* One attached handler (its ctx). */
struct rx {
    int parent;   /* uid of the vow it was attached to */
    int seq;      /* attachment order on that vow, from 1 */
    int ok_mode;  /* what on_ok returns (see handler_result) */
    int err_mode; /* what on_err returns */
    int arg;      /* slot to follow, or the code to fail with */
    int ran;      /* handler calls */
    int dropped;  /* ctx_drop calls */
    int has_drop; /* attached with vow_then_full (ctx_drop must run once) */
};

/* One named vow: our reference to it, and what we saw of it. */
struct slot {
    vow *p;      /* our reference, or NULL */
    int uid;     /* identity for the ordering check */
    int locked;  /* a settle call on it succeeded: later ones must fail */
    int seen;    /* it was seen settled: the fields below must never change */
    int state;   /* the settled state seen */
    int code;    /* the settled code seen */
    vow_val val; /* the value or detail seen (compared bit for bit) */
};

static struct {
    vow_loop *l;                /* the loop of this input */
    struct slot slot[SLOTS];    /* the named vows */
    struct tval vals[MAX_VALS]; /* values made so far */
    int nvals;                  /* entries of vals in use */
    struct rx rxs[MAX_RX];      /* handlers attached so far */
    int nrx;                    /* entries of rxs in use */
    int attached[MAX_UIDS];     /* reactions attached per uid */
    int last_run[MAX_UIDS];     /* seq of the last handler run per uid */
    int nuids;                  /* uids handed out */
    int in_api;                 /* inside a call that must not run handlers synchronously */
    vow *produced[SLOTS * 8];   /* vows we registered abort hooks on: we are their producer */
    int nproduced;              /* entries of produced in use */
    const uint8_t *in;          /* the unread part of the input */
    size_t len;                 /* its length */
} F;

/* FUZZ_VOW_TRACE=1 prints each step, to read a minimised crash. */
static int trace;
/* FUZZ_VOW_CANCEL_DROPS=1: cancel a pending vow before letting go of the last named
 * reference to it (a careful caller), to look past abandoned-chain reports. */
static int cancel_drops;

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (trace)                                                                                 \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz-vow: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,       \
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

static void tval_drop(void *ptr)
{
    struct tval *v = ptr;
    CHECK(v >= F.vals && v < F.vals + MAX_VALS);
    TRACE("  drop value %d\n", (int)(v - F.vals));
    v->drops++;
    CHECK(v->drops == 1);
}

/* A new value: tracked while there is room, a plain number afterwards. */
static vow_val new_val(void)
{
    if (F.nvals == MAX_VALS)
        return vow_val_num(F.nvals);
    return vow_val_ptr(&F.vals[F.nvals++], tval_drop);
}

static const int codes[] = {VOW_EUSER, -EIO, VOW_ECANCELED, VOW_ETIMEDOUT, -ECONNRESET, 0};

static int new_uid(void)
{
    return F.nuids < MAX_UIDS ? F.nuids++ : MAX_UIDS - 1;
}

/* Puts p (a new reference, maybe NULL) into slot s, dropping what was there. */
static void put(unsigned s, vow *p)
{
    struct slot *sl = &F.slot[s % SLOTS];
    vow *old = sl->p;
    if (cancel_drops && old && vow_state(old) == VOW_PENDING) {
        int named = 0;
        for (int i = 0; i < SLOTS; i++)
            named += F.slot[i].p == old;
        if (named == 1)
            vow_cancel(old);
    }
    memset(sl, 0, sizeof(*sl));
    sl->p = p;
    sl->uid = new_uid();
    vow_unref(old);
}

/* Copies slot a's vow into slot b as a second reference with the same knowledge. */
static void copy(unsigned a, unsigned b)
{
    struct slot *sa = &F.slot[a % SLOTS];
    if (!sa->p || a % SLOTS == b % SLOTS)
        return;
    struct slot tmp = *sa;
    tmp.p = vow_ref(sa->p);
    vow *old = F.slot[b % SLOTS].p;
    F.slot[b % SLOTS] = tmp;
    vow_unref(old);
}

/* Marks every slot holding p as locked (a settle call on p succeeded). */
static void lock(vow *p)
{
    for (int i = 0; i < SLOTS; i++)
        if (F.slot[i].p == p)
            F.slot[i].locked = 1;
}

static vow_ret handler_result(struct rx *r, int mode)
{
    switch (mode) {
    case 0:
        return vow_ok(new_val());
    case 1: {
        int code = codes[r->arg % 5];
        return vow_fail(code, new_val());
    }
    case 2: {
        /* Follow a named vow (maybe the derived one's own ancestor: a cycle). */
        vow *o = F.slot[r->arg % SLOTS].p;
        return vow_follow(o ? vow_ref(o) : vow_resolved(F.l, new_val()));
    }
    default:
        return vow_pass();
    }
}

static void rx_ran(struct rx *r)
{
    CHECK(!F.in_api);
    CHECK(r->ran == 0);
    r->ran++;
    CHECK(r->seq > F.last_run[r->parent]);
    F.last_run[r->parent] = r->seq;
}

static vow_ret on_ok(void *ctx, const vow_val *v)
{
    struct rx *r = ctx;
    CHECK(v != NULL);
    rx_ran(r);
    return handler_result(r, r->ok_mode);
}

static vow_ret on_err(void *ctx, int code, const vow_val *detail)
{
    struct rx *r = ctx;
    CHECK(code < 0 && detail != NULL);
    rx_ran(r);
    return handler_result(r, r->err_mode);
}

static vow_ret on_finally(void *ctx)
{
    struct rx *r = ctx;
    rx_ran(r);
    return handler_result(r, r->ok_mode);
}

static void rx_drop(void *ctx)
{
    struct rx *r = ctx;
    CHECK(r->has_drop);
    r->dropped++;
    CHECK(r->dropped == 1);
}

/* A reaction record for slot s's vow, or NULL when the table is full. */
static struct rx *new_rx(unsigned s)
{
    if (F.nrx == MAX_RX)
        return NULL;
    struct rx *r = &F.rxs[F.nrx++];
    struct slot *sl = &F.slot[s % SLOTS];
    memset(r, 0, sizeof(*r));
    r->parent = sl->uid;
    r->seq = ++F.attached[sl->uid];
    unsigned m = next();
    r->ok_mode = m & 3;
    r->err_mode = (m >> 2) & 3;
    r->arg = (int)(m >> 4);
    return r;
}

/* Checks what was seen of every named vow: settled never changes, a settled vow's
 * tracked value is not dropped while the vow lives. */
static void verify(void)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *sl = &F.slot[i];
        if (!sl->p)
            continue;
        int st = vow_state(sl->p);
        CHECK(st == VOW_PENDING || st == VOW_FULFILLED || st == VOW_REJECTED);
        if (sl->seen) {
            CHECK(st == sl->state);
            CHECK(vow_code(sl->p) == sl->code);
            const vow_val *v = vow_value(sl->p);
            CHECK(v != NULL);
            CHECK(v->num == sl->val.num && v->drop == sl->val.drop);
        } else if (st != VOW_PENDING) {
            sl->seen = 1;
            sl->state = st;
            sl->code = vow_code(sl->p);
            CHECK((st == VOW_FULFILLED) == (sl->code == 0));
            CHECK(sl->code <= 0);
            const vow_val *v = vow_value(sl->p);
            CHECK(v != NULL);
            sl->val = *v;
        } else {
            CHECK(vow_value(sl->p) == NULL);
        }
        if (sl->seen) {
            /* A list value (all, all_settled, any's aggregate) holds settled vows. */
            const vow_list *list = vow_list_get(&sl->val);
            for (size_t k = 0; list && k < list->n; k++)
                CHECK(list->items[k] && vow_state(list->items[k]) != VOW_PENDING);
        }
        if (sl->seen && sl->val.drop == tval_drop)
            CHECK(((struct tval *)sl->val.ptr)->drops == 0);
    }
    TRACE("  slots:");
    for (int i = 0; i < SLOTS; i++) {
        if (!F.slot[i].p)
            TRACE(" -");
        else if (vow_state(F.slot[i].p) == VOW_PENDING)
            TRACE(" %p:P%s", (void *)F.slot[i].p, F.slot[i].locked ? "L" : "");
        else
            TRACE(" %p:%s", (void *)F.slot[i].p, vow_err_name(vow_code(F.slot[i].p)));
    }
    TRACE("\n");
}

/* Settles slot a with a value or a rejection; checks the result against what we know. */
static void op_settle(unsigned op)
{
    struct slot *sl = &F.slot[next() % SLOTS];
    int was_locked = sl->locked || sl->seen;
    int code = codes[next() % 6];
    int r;
    F.in_api = 1;
    if (op == 0)
        r = vow_resolve(sl->p, new_val());
    else
        r = vow_reject(sl->p, code, new_val());
    F.in_api = 0;
    if (!sl->p) {
        CHECK(r == VOW_EINVAL);
    } else if (op == 1 && code >= 0) {
        CHECK(r == VOW_EINVAL);
    } else if (was_locked) {
        CHECK(r == VOW_ESETTLED);
    } else if (r == 0) {
        lock(sl->p);
    } else {
        /* Someone else (a handler, a combinator, a cancel) resolved it meanwhile. */
        CHECK(r == VOW_ESETTLED);
    }
}

static void op_adopt(void)
{
    struct slot *a = &F.slot[next() % SLOTS];
    struct slot *b = &F.slot[next() % SLOTS];
    if (!a->p || !b->p)
        return;
    int was_locked = a->locked || a->seen;
    F.in_api = 1;
    int r = vow_resolve_with(a->p, vow_ref(b->p));
    F.in_api = 0;
    if (was_locked)
        CHECK(r == VOW_ESETTLED);
    else if (r == 0)
        lock(a->p);
    else
        CHECK(r == VOW_ESETTLED || r == VOW_ENOMEM);
}

static void op_chain(unsigned kind)
{
    unsigned s = next(), d = next();
    struct slot *sl = &F.slot[s % SLOTS];
    if (!sl->p)
        return;
    struct rx *r = new_rx(s);
    if (!r)
        return;
    unsigned which = next();
    vow *in = vow_ref(sl->p);
    vow *out;
    F.in_api = 1;
    if (kind == 0) {
        r->has_drop = 1;
        out =
            vow_then_full(in, (which & 1) ? on_ok : NULL, (which & 2) ? on_err : NULL, r, rx_drop);
        if (!out)
            CHECK(r->dropped == 1);
    } else if (kind == 1) {
        out = vow_catch(in, on_err, r);
    } else {
        out = vow_finally(in, on_finally, r);
    }
    F.in_api = 0;
    CHECK(r->ran == 0);
    put(d, out);
}

static void op_combine(void)
{
    unsigned kind = next(), mask = next(), d = next();
    vow *in[SLOTS];
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++)
        if ((mask >> i) & 1 && F.slot[i].p)
            in[n++] = vow_ref(F.slot[i].p);
    vow *out;
    F.in_api = 1;
    switch (kind & 3) {
    case 0:
        out = vow_all(F.l, in, n);
        break;
    case 1:
        out = vow_all_settled(F.l, in, n);
        break;
    case 2:
        out = vow_race(F.l, in, n);
        break;
    default:
        out = vow_any(F.l, in, n);
        break;
    }
    F.in_api = 0;
    put(d, out);
}

static void op_cancel(void)
{
    struct slot *sl = &F.slot[next() % SLOTS];
    int settled = sl->seen;
    F.in_api = 1;
    int r = vow_cancel(sl->p);
    F.in_api = 0;
    if (!sl->p)
        CHECK(r == VOW_EINVAL);
    else if (settled)
        CHECK(r == VOW_ESETTLED);
    else
        CHECK(r == 0 || r == VOW_ESETTLED);
    if (sl->p && r == 0)
        CHECK(vow_state(sl->p) == VOW_REJECTED && vow_code(sl->p) == VOW_ECANCELED);
}

static void op_run(void)
{
    int r = vow_loop_run(F.l, VOW_RUN_NOWAIT);
    CHECK(r >= 0);
}

static void op_close_busy(void)
{
    for (int i = 0; i < SLOTS; i++)
        if (F.slot[i].p) {
            CHECK(vow_loop_close(F.l) == VOW_EBUSY);
            return;
        }
}

/* vow_settle with a handler-style result, as a producer holding a vow_ret does. */
static void op_settle_ret(void)
{
    struct slot *sl = &F.slot[next() % SLOTS];
    struct rx r = {.arg = (int)next()};
    int was_locked = sl->locked || sl->seen;
    unsigned mode = next() % 3; /* ok, fail or follow: vow_pass is not a result here */
    vow_ret ret = handler_result(&r, (int)mode);
    F.in_api = 1;
    int rc = vow_settle(sl->p, ret);
    F.in_api = 0;
    if (!sl->p)
        CHECK(rc == VOW_EINVAL);
    else if (was_locked)
        CHECK(rc == VOW_ESETTLED);
    else if (rc == 0)
        lock(sl->p);
    else
        CHECK(rc == VOW_ESETTLED || rc == VOW_EINVAL || rc == VOW_ENOMEM);
}

static int hook_runs[MAX_UIDS]; /* abort-hook calls per uid */

/* An abort hook sees its vow already settled as cancelled, and runs at most once. */
static void on_cancel_hook(void *ctx, vow *p)
{
    int uid = (int)(intptr_t)ctx;
    CHECK(p != NULL);
    CHECK(vow_state(p) == VOW_REJECTED && vow_code(p) == VOW_ECANCELED);
    hook_runs[uid]++;
    CHECK(hook_runs[uid] == 1);
}

/*
 * Registering an abort hook makes the harness a producer of that vow, like an I/O
 * operation: it keeps the vow (here with a reference) and settles or cancels it at
 * the end. A hook with nobody behind it would be a producer that never settles.
 */
static void op_on_cancel(void)
{
    struct slot *sl = &F.slot[next() % SLOTS];
    if (!sl->p || F.nproduced == (int)(sizeof(F.produced) / sizeof(F.produced[0])))
        return;
    int uid = new_uid();
    hook_runs[uid] = 0;
    F.in_api = 1;
    int rc = vow_on_cancel(sl->p, on_cancel_hook, (void *)(intptr_t)uid);
    F.in_api = 0;
    if (sl->seen)
        CHECK(rc == VOW_ESETTLED);
    else
        CHECK(rc == 0 || rc == VOW_ESETTLED || rc == VOW_ENOMEM);
    if (rc == 0)
        F.produced[F.nproduced++] = vow_ref(sl->p);
}

/* One step; returns 0 when the input is used up. */
static int step(void)
{
    if (F.len == 0)
        return 0;
    /* Bytes 252..255 select the later operations, so the saved inputs (written when
     * there were 18) still decode to the same programs. */
    unsigned code = next();
    unsigned op = code < 252 ? code % 18 : 18 + (code - 252) / 2;
    static const char *const names[20] = {
        "pending", "resolved", "rejected", "then",       "catch",  "finally",   "resolve",
        "reject",  "adopt",    "cancel",   "combine",    "ref",    "unref",     "run",
        "delay",   "timeout",  "failnth",  "close-busy", "settle", "on-cancel",
    };
    const uint8_t *args = F.in;
    size_t nargs = F.len < 4 ? F.len : 4;
    TRACE("step %-10s args", names[op]);
    for (size_t i = 0; i < nargs; i++)
        TRACE(" %u", args[i]);
    TRACE("\n");
    switch (op) {
    case 0:
        put(next(), vow_pending(F.l));
        break;
    case 1:
        put(next(), vow_resolved(F.l, new_val()));
        break;
    case 2:
        put(next(), vow_rejected(F.l, codes[next() % 5], new_val()));
        break;
    case 3:
    case 4:
    case 5:
        op_chain(op - 3);
        break;
    case 6:
    case 7:
        op_settle(op - 6);
        break;
    case 8:
        op_adopt();
        break;
    case 9:
        op_cancel();
        break;
    case 10:
        op_combine();
        break;
    case 11: {
        unsigned a = next(), b = next();
        copy(a, b);
        break;
    }
    case 12:
        put(next(), NULL);
        break;
    case 13:
        op_run();
        break;
    case 14:
        put(next(), vow_delay(F.l, 0, new_val()));
        break;
    case 15: {
        struct slot *sl = &F.slot[next() % SLOTS];
        if (sl->p) {
            vow *t = vow_timeout(vow_ref(sl->p), next() % 2);
            put(next(), t);
        }
        break;
    }
    case 16:
        /* The k-th allocation from now fails (once); 0 disarms. */
        tu_fail_nth(next() % 16);
        break;
    case 17:
        op_close_busy();
        break;
    case 18:
        op_settle_ret();
        break;
    default:
        op_on_cancel();
        break;
    }
    verify();
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_VOW_TRACE") != NULL;
    cancel_drops = getenv("FUZZ_VOW_CANCEL_DROPS") != NULL;
    tu_install_allocator();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&F, 0, sizeof(F));
    F.in = data;
    F.len = size;
    tu_fail_nth(0);
    F.l = vow_loop_new();
    CHECK(F.l != NULL);
    CHECK(vow_loop_set_unhandled(F.l, tu_quiet, NULL) == 0);
    for (int steps = 0; steps < 4096 && step(); steps++)
        ;
    /* Cleanup: nothing may fail now; cancel what we hold, let go of it, run dry. */
    tu_fail_nth(0);
    for (int i = 0; i < F.nproduced; i++)
        if (vow_state(F.produced[i]) == VOW_PENDING)
            vow_cancel(F.produced[i]);
    for (int i = 0; i < SLOTS; i++)
        if (F.slot[i].p && vow_state(F.slot[i].p) == VOW_PENDING)
            vow_cancel(F.slot[i].p);
    verify();
    for (int i = 0; i < SLOTS; i++)
        put((unsigned)i, NULL);
    for (int i = 0; i < F.nproduced; i++)
        vow_unref(F.produced[i]);
    CHECK(vow_loop_run(F.l, VOW_RUN_DEFAULT) == 0);
    int rc = vow_loop_close(F.l);
    if (rc != 0)
        fprintf(stderr, "fuzz-vow: vow_loop_close: %s\n", vow_err_name(rc));
    CHECK(rc == 0);
    CHECK(tu_live_allocations() == 0);
    for (int i = 0; i < F.nvals; i++) {
        if (F.vals[i].drops != 1)
            fprintf(stderr, "fuzz-vow: value %d (of %d) dropped %d times\n", i, F.nvals,
                    F.vals[i].drops);
        CHECK(F.vals[i].drops == 1);
    }
    for (int i = 0; i < F.nrx; i++) {
        CHECK(F.rxs[i].ran <= 1);
        CHECK(F.rxs[i].dropped == F.rxs[i].has_drop);
    }
    return 0;
}
