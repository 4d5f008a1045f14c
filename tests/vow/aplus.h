/* SPDX-License-Identifier: MIT */
/*
 * Harness for the Promises/A+ ports: the official suite's three timings (already
 * settled, settled right after the test attaches, settled later from a timer),
 * values whose drop is counted so ownership can be checked, recording handlers,
 * and a counting unhandled-rejection hook. Everything is static inline so each
 * test program takes only what it uses.
 */
#ifndef VOW_TEST_APLUS_H
#define VOW_TEST_APLUS_H

#include "testutil.h"

#include <string.h>

enum aplus_timing { APLUS_ALREADY = 1, APLUS_IMMEDIATELY, APLUS_EVENTUALLY };

/*
 * Registers fn three times, once per timing; the timing travels in cmocka's initial
 * state, which aplus_begin() reads back.
 */
#define APLUS_TIMED(fn)                                                                            \
    {#fn "_already", fn, NULL, NULL, (void *)(uintptr_t)APLUS_ALREADY},                            \
        {#fn "_immediately", fn, NULL, NULL, (void *)(uintptr_t)APLUS_IMMEDIATELY},                \
    {                                                                                              \
#fn "_eventually", fn, NULL, NULL, (void *)(uintptr_t)APLUS_EVENTUALLY                     \
    }

#define APLUS_MAX_TOKENS 32
#define APLUS_MAX_ACTIONS 16
#define APLUS_MAX_LOG 64

/* A value with identity: handlers compare pointers, the harness counts drops. */
struct aplus_token {
    int drops; /* times the drop ran; must be exactly 1 at the end */
    int given; /* handed out by aplus_val() */
};

struct aplus;
typedef void (*aplus_action_fn)(struct aplus *a, void *arg);

/* Work a timer does later: run fn, or (fn NULL) settle p. */
struct aplus_action {
    vow_timer timer;    /* one-shot */
    struct aplus *a;    /* back pointer for the timer callback */
    aplus_action_fn fn; /* NULL: settle p with code/val */
    void *arg;          /* for fn */
    vow *p;             /* vow to settle (one reference), or NULL */
    int code;           /* 0 fulfils, < 0 rejects */
    vow_val val;        /* value or detail, owned until used */
    int rc;             /* what vow_resolve/vow_reject returned */
    int fired;          /* the timer ran */
    uint64_t due;       /* vow_loop_now() + ms when started */
    uint64_t at;        /* vow_loop_now() when it ran */
};

struct aplus {
    vow_loop *l;                                    /* the loop under test */
    int timing;                                     /* APLUS_* for this run */
    struct aplus_token tokens[APLUS_MAX_TOKENS];    /* values handed out */
    int n_tokens;                                   /* used entries of tokens */
    struct aplus_action actions[APLUS_MAX_ACTIONS]; /* timers started */
    int n_actions;                                  /* used entries of actions */
    int log[APLUS_MAX_LOG];                         /* handler ids in call order */
    int n_log;                                      /* used entries of log */
    int unhandled;                                  /* VOW_UNHANDLED reports */
    int handled_late;                               /* VOW_HANDLED_LATE reports */
    int last_unhandled_code;                        /* code of the last one reported */
    int mark;                                       /* free for tests: "this happened" */
    vow *source;                                    /* aplus_source's vow to settle */
    int source_code;                                /* its outcome: 0 or a code */
    vow_val source_val;                             /* its value, owned until used */
    long live_before;                               /* allocations left by failed tests */
};

static inline void aplus_token_drop(void *ptr)
{
    struct aplus_token *t = ptr;
    t->drops++;
}

static inline void aplus_on_unhandled(void *ctx, vow *p, int event)
{
    struct aplus *a = ctx;
    if (event == VOW_UNHANDLED) {
        a->unhandled++;
        a->last_unhandled_code = vow_code(p);
    } else if (event == VOW_HANDLED_LATE) {
        a->handled_late++;
    }
}

/* state: cmocka's state, or NULL for a test that does not run per timing. */
static inline void aplus_begin(struct aplus *a, void **state)
{
    memset(a, 0, sizeof(*a));
    /* Zero unless an earlier test failed (cmocka jumps out of it, leaking its loop). */
    a->live_before = tu_live_allocations();
    a->timing = state && *state ? (int)(uintptr_t)*state : APLUS_ALREADY;
    a->l = vow_loop_new();
    assert_non_null(a->l);
    assert_int_equal(vow_loop_set_unhandled(a->l, aplus_on_unhandled, a), 0);
}

/* A fresh tracked value: ptr is the token, drop counts. */
static inline vow_val aplus_val(struct aplus *a)
{
    assert_true(a->n_tokens < APLUS_MAX_TOKENS);
    struct aplus_token *t = &a->tokens[a->n_tokens++];
    t->given = 1;
    return vow_val_ptr(t, aplus_token_drop);
}

/* The token behind a tracked value, or NULL if v is not one of ours. */
static inline struct aplus_token *aplus_token_of(const vow_val *v)
{
    return v && v->drop == aplus_token_drop ? v->ptr : NULL;
}

static inline int aplus_settle_now(vow *p, int code, vow_val v)
{
    return code == 0 ? vow_resolve(p, v) : vow_reject(p, code, v);
}

static inline void aplus_action_fire(vow_timer *t)
{
    struct aplus_action *ac = t->data;
    ac->fired = 1;
    ac->at = vow_loop_now(ac->a->l);
    if (ac->fn) {
        ac->fn(ac->a, ac->arg);
    } else {
        vow *p = ac->p;
        ac->p = NULL;
        ac->rc = aplus_settle_now(p, ac->code, ac->val);
        vow_unref(p);
    }
}

static inline struct aplus_action *aplus_action_new(struct aplus *a, uint64_t ms)
{
    assert_true(a->n_actions < APLUS_MAX_ACTIONS);
    struct aplus_action *ac = &a->actions[a->n_actions++];
    ac->a = a;
    ac->rc = 1;
    assert_int_equal(vow_timer_init(a->l, &ac->timer, aplus_action_fire), 0);
    ac->timer.data = ac;
    ac->due = vow_loop_now(a->l) + ms;
    assert_int_equal(vow_timer_start(&ac->timer, ms, 0), 0);
    return ac;
}

/* Runs fn(a, arg) from a timer after ms on the loop clock. */
static inline struct aplus_action *aplus_at(struct aplus *a, uint64_t ms, aplus_action_fn fn,
                                            void *arg)
{
    struct aplus_action *ac = aplus_action_new(a, ms);
    ac->fn = fn;
    ac->arg = arg;
    return ac;
}

/* Settles p (borrowed: a reference is kept until then) from a timer after ms. */
static inline struct aplus_action *aplus_settle_at(struct aplus *a, uint64_t ms, vow *p, int code,
                                                   vow_val v)
{
    struct aplus_action *ac = aplus_action_new(a, ms);
    ac->p = vow_ref(p);
    ac->code = code;
    ac->val = v;
    return ac;
}

/*
 * The vow under test, to be settled with code (0: fulfil with v, else reject with
 * code and detail v) according to the timing: already settled here, or pending until
 * aplus_settle(), which the test calls after attaching its handlers.
 */
static inline vow *aplus_source(struct aplus *a, int code, vow_val v)
{
    assert_null(a->source);
    if (a->timing == APLUS_ALREADY) {
        vow *p = code == 0 ? vow_resolved(a->l, v) : vow_rejected(a->l, code, v);
        assert_non_null(p);
        return p;
    }
    vow *p = vow_pending(a->l);
    assert_non_null(p);
    a->source = vow_ref(p);
    a->source_code = code;
    a->source_val = v;
    return p;
}

/* Settles aplus_source's vow: now (immediately) or from a timer (eventually). */
static inline void aplus_settle(struct aplus *a)
{
    vow *p = a->source;
    a->source = NULL;
    if (!p)
        return;
    if (a->timing == APLUS_IMMEDIATELY)
        assert_int_equal(aplus_settle_now(p, a->source_code, a->source_val), 0);
    else
        aplus_settle_at(a, 2, p, a->source_code, a->source_val);
    vow_unref(p);
}

/* Runs the loop until nothing is left to do. */
static inline void aplus_run(struct aplus *a)
{
    assert_int_equal(vow_loop_run(a->l, VOW_RUN_DEFAULT), 0);
}

/* Closes the loop and checks that every value was dropped exactly once. */
static inline void aplus_end(struct aplus *a)
{
    assert_null(a->source);
    for (int i = 0; i < a->n_actions; i++) {
        assert_true(a->actions[i].fired);
        assert_null(a->actions[i].p);
        /* A timer never fires early on the loop clock. */
        assert_true(a->actions[i].at >= a->actions[i].due);
    }
    assert_int_equal(vow_loop_close(a->l), 0);
    for (int i = 0; i < a->n_tokens; i++)
        assert_int_equal(a->tokens[i].drops, 1);
    assert_int_equal(tu_live_allocations() - a->live_before, 0);
}

static inline void aplus_log(struct aplus *a, int id)
{
    assert_true(a->n_log < APLUS_MAX_LOG);
    a->log[a->n_log++] = id;
}

/* Checks the handler call order against ids[0..n). */
static inline void aplus_assert_log(const struct aplus *a, const int *ids, int n)
{
    assert_int_equal(a->n_log, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(a->log[i], ids[i]);
}

/* ------------------------------------------------------------------ probes */

enum aplus_ret { APLUS_RET_NUM, APLUS_RET_PASS, APLUS_RET_OK, APLUS_RET_FAIL, APLUS_RET_FOLLOW };

/*
 * A recording handler context: aplus_ok/aplus_err log the probe's id, count calls,
 * remember what they saw, check the borrowed value is still alive, run an optional
 * hook from inside the handler and return what ret says (by default vow_ok(id), so
 * derived vows fulfil and nothing goes unhandled).
 */
struct aplus_probe {
    struct aplus *a;                        /* harness */
    int id;                                 /* logged on each call */
    int ok, err;                            /* calls of the fulfilment / rejection handler */
    int code;                               /* code the rejection handler saw */
    const void *ptr;                        /* value or detail ptr seen */
    int64_t num;                            /* value or detail num seen */
    int dead;                               /* saw a value whose drop had already run */
    int mark;                               /* a->mark when the handler ran */
    enum aplus_ret ret;                     /* what to return */
    int ret_code;                           /* for APLUS_RET_FAIL */
    vow_val ret_val;                        /* for APLUS_RET_OK/FAIL: moved out on first use */
    vow *ret_follow;                        /* for APLUS_RET_FOLLOW: moved out on first use */
    void (*inside)(struct aplus_probe *pr); /* runs inside the handler, or NULL */
    void *arg;                              /* for inside */
};

static inline void aplus_probe_init(struct aplus_probe *pr, struct aplus *a, int id)
{
    memset(pr, 0, sizeof(*pr));
    pr->a = a;
    pr->id = id;
    pr->ret = APLUS_RET_NUM;
}

static inline vow_ret aplus_probe_ret(struct aplus_probe *pr)
{
    switch (pr->ret) {
    case APLUS_RET_PASS:
        return vow_pass();
    case APLUS_RET_OK: {
        vow_val v = pr->ret_val;
        pr->ret_val = vow_val_none();
        return vow_ok(v);
    }
    case APLUS_RET_FAIL: {
        vow_val v = pr->ret_val;
        pr->ret_val = vow_val_none();
        return vow_fail(pr->ret_code, v);
    }
    case APLUS_RET_FOLLOW: {
        vow *f = pr->ret_follow;
        pr->ret_follow = NULL;
        return vow_follow(f);
    }
    case APLUS_RET_NUM:
    default:
        return vow_ok(vow_val_num(pr->id));
    }
}

static inline void aplus_probe_saw(struct aplus_probe *pr, const vow_val *v)
{
    aplus_log(pr->a, pr->id);
    pr->mark = pr->a->mark;
    if (v) {
        pr->ptr = v->ptr;
        pr->num = v->num;
        const struct aplus_token *t = aplus_token_of(v);
        if (t && t->drops != 0)
            pr->dead = 1;
    }
    if (pr->inside)
        pr->inside(pr);
}

static inline vow_ret aplus_ok(void *ctx, const vow_val *v)
{
    struct aplus_probe *pr = ctx;
    pr->ok++;
    aplus_probe_saw(pr, v);
    return aplus_probe_ret(pr);
}

static inline vow_ret aplus_err(void *ctx, int code, const vow_val *detail)
{
    struct aplus_probe *pr = ctx;
    pr->err++;
    pr->code = code;
    aplus_probe_saw(pr, detail);
    return aplus_probe_ret(pr);
}

/* Attaches pr for one outcome only, as the official suite does: then(f) or then(null, r). */
static inline vow *aplus_on(vow *p, int rejecting, struct aplus_probe *pr)
{
    vow *d = rejecting ? vow_then(p, NULL, aplus_err, pr) : vow_then(p, aplus_ok, NULL, pr);
    assert_non_null(d);
    return d;
}

/* Calls of the handler for the given outcome. */
static inline int aplus_calls(const struct aplus_probe *pr, int rejecting)
{
    return rejecting ? pr->err : pr->ok;
}

/* Releases anything the probe still owns (a return value it never used). */
static inline void aplus_probe_fini(struct aplus_probe *pr)
{
    if ((pr->ret == APLUS_RET_OK || pr->ret == APLUS_RET_FAIL) && pr->ret_val.drop) {
        pr->ret_val.drop(pr->ret_val.ptr);
        pr->ret_val = vow_val_none();
    }
    vow_unref(pr->ret_follow);
    pr->ret_follow = NULL;
}

#endif /* VOW_TEST_APLUS_H */
