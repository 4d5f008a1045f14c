/* SPDX-License-Identifier: MIT */
/*
 * Handler order against ECMAScript. Each case of order-cases.h is a small promise
 * program (the language is described in gen-order.js, which ran every program in
 * Node and recorded the order its handlers logged in, and every promise's final
 * state). This test interprets the same programs with libvow's public API and
 * requires Node's order, twice per program: holding only the references the program
 * needs, and with one extra vow_ref on every vow; the order must be the same (it
 * never depends on reference counts). Handlers run whether or not anybody holds the
 * vow they settle, as in JavaScript; combinators and vow_resolve_with hold theirs
 * weakly (dropping it withdraws them, which is cancellation, not order), so the
 * program keeps those to the end in both runs.
 *
 * Mapping: a JavaScript number is vow_val_num; a rejection with reason K is code
 * VOW_EUSER with detail vow_val_num(K) (JavaScript's reject(x)); AggregateError is
 * VOW_EAGGREGATE with its vow_list; TypeError (a promise resolved with itself) is
 * VOW_ECYCLE. A later phase starts once vow_loop_run returned (Node: setImmediate).
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

/* One program and what Node printed for it (generated into order-cases.h). */
struct order_case {
    const char *name;   /* test name */
    const char *what;   /* what it shows */
    const char *text;   /* the program */
    const char *log;    /* Node's handler order: "label:input" entries */
    const char *states; /* Node's final state of every promise: "pN=state" entries */
};

/* Some programs and orders are longer than the 4095 characters C guarantees for a
 * string literal; gcc and clang take them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
#include "order-cases.h"
#pragma GCC diagnostic pop

#define N_HAND (sizeof(order_hand) / sizeof(order_hand[0]))
#define N_RANDOM (sizeof(order_random) / sizeof(order_random[0]))
#define CHUNK 50
#define N_CHUNKS ((N_RANDOM + CHUNK - 1) / CHUNK)

/* ----------------------------------------------------------------- strings */

/* A growing string (the test's own memory, outside the counting allocator). */
struct buf {
    char *s;    /* NUL-terminated text, or NULL while empty */
    size_t len; /* bytes used before the NUL */
    size_t cap; /* bytes allocated */
};

static void buf_add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_add(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        assert_non_null(s);
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static const char *buf_str(const struct buf *b)
{
    return b->s ? b->s : "";
}

static void buf_free(struct buf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------- parse */

enum op {
    OP_MKRES,  /* P = res V */
    OP_MKREJ,  /* P = rej K */
    OP_DEF,    /* P = def */
    OP_THEN,   /* P = then SRC H1 H2 */
    OP_CATCH,  /* P = catch SRC H1 */
    OP_FIN,    /* P = fin SRC H1 */
    OP_ALL,    /* P = all INS */
    OP_ALLSET, /* P = allset INS */
    OP_RACE,   /* P = race INS */
    OP_ANY,    /* P = any INS */
    OP_RES,    /* res D V */
    OP_REJ,    /* rej D K */
    OP_RESW,   /* resw D SRC */
};

enum ret_kind { R_RET, R_PASS, R_THROW, R_RETP, R_RETRES, R_RETREJ };

struct stmt {
    int op;       /* enum op */
    int dst;      /* the promise made, or the deferred settled */
    int src;      /* then/catch/fin source; resw: the adopted promise */
    int h1, h2;   /* handlers (then: ok, err; catch, fin: h1), -1 for none */
    int n;        /* the number of res/rej */
    int in0, nin; /* combinator inputs: ins[in0 .. in0 + nin) */
};

struct hand {
    char label[32];   /* what the handler logs */
    int body0, nbody; /* its statements: list[body0 .. body0 + nbody) */
    int ret;          /* enum ret_kind */
    int arg;          /* V, K or the promise of retp */
};

/* A parsed program: statements, handlers, and int pools that lists index into. */
struct prog {
    struct stmt *st;          /* every statement, in parse order */
    int nst;                  /* entries of st */
    struct hand *h;           /* every handler, in parse order */
    int nh;                   /* entries of h */
    int *ins;                 /* combinator inputs */
    int nins;                 /* entries of ins */
    int *list;                /* statement indices of phases and handler bodies */
    int nlist;                /* entries of list */
    int phase0[8], nphase[8]; /* phase i: list[phase0[i] .. phase0[i] + nphase[i]) */
    int nphases;              /* phases used */
    int obs[16], nobs;        /* promises whose final state is checked in every mode */
    int nprom;                /* promise numbers used: 0 .. nprom - 1 */
    unsigned char *def;       /* per promise: made by def */
    const char *at;           /* parse cursor */
    char tok[48];             /* current token */
    char err[160];            /* first parse error */
};

/* Room for element n of an array of n: capacities are powers of two. */
static void *grow(void *p, int n, size_t size)
{
    if (n != 0 && (n & (n - 1)) != 0)
        return p;
    void *q = realloc(p, (size_t)(n ? 2 * n : 1) * size);
    assert_non_null(q);
    return q;
}

#define PUSH(arr, n, v)                                                                            \
    do {                                                                                           \
        (arr) = grow((arr), (n), sizeof(*(arr)));                                                  \
        (arr)[(n)++] = (v);                                                                        \
    } while (0)

/* Reads the next token into g->tok; "" at the end. */
static void lex(struct prog *g)
{
    const char *s = g->at;
    while (*s == ' ')
        s++;
    size_t n = 0;
    if (s[0] == '=' && s[1] == '>') {
        n = 2;
    } else if (*s && strchr("{};|@=", *s)) {
        n = 1;
    } else {
        while (s[n] && (s[n] == '_' || s[n] == '-' || (s[n] >= '0' && s[n] <= '9') ||
                        (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')))
            n++;
        if (n && s[n] == ':')
            n++;
    }
    if (*s && n == 0)
        n = 1; /* an unknown character: a token of its own, which no rule accepts */
    if (n >= sizeof(g->tok))
        n = sizeof(g->tok) - 1;
    memcpy(g->tok, s, n);
    g->tok[n] = '\0';
    g->at = s + n;
}

static int bad(struct prog *g, const char *what)
{
    if (!g->err[0])
        snprintf(g->err, sizeof(g->err), "parse error: %s at \"%s\" before \"%.30s\"", what, g->tok,
                 g->at);
    return -1;
}

static int is_prom(const char *t)
{
    if (t[0] != 'p' || !t[1])
        return 0;
    for (const char *c = t + 1; *c; c++)
        if (*c < '0' || *c > '9')
            return 0;
    return 1;
}

/* The promise number of the current token (then moves on), or -1. */
static int prom(struct prog *g)
{
    if (!is_prom(g->tok))
        return bad(g, "expected a promise");
    int n = atoi(g->tok + 1);
    if (n > 100000)
        return bad(g, "promise number too large");
    if (n >= g->nprom)
        g->nprom = n + 1;
    lex(g);
    return n;
}

static int number(struct prog *g)
{
    if (!g->tok[0] || strspn(g->tok, "0123456789") != strlen(g->tok))
        return bad(g, "expected a number");
    int n = atoi(g->tok);
    lex(g);
    return n;
}

static int stmt(struct prog *g);

/* Whether the current token ends a statement list: "=>" in a handler body, "|", "@"
 * or the end in a phase. */
static int at_stop(const struct prog *g, int body)
{
    if (body)
        return strcmp(g->tok, "=>") == 0;
    return !g->tok[0] || strcmp(g->tok, "|") == 0 || strcmp(g->tok, "@") == 0;
}

/* A statement list (a phase or a handler body); its indices go to list, returns the
 * index of the first there, and the count in ret_n. */
static int stmts(struct prog *g, int body, int *ret_n)
{
    /* Nested bodies are parsed while this list grows: it is kept apart until done. */
    int *tmp = NULL, n = 0;
    if (!at_stop(g, body)) {
        for (;;) {
            int s = stmt(g);
            if (s < 0) {
                free(tmp);
                return -1;
            }
            PUSH(tmp, n, s);
            if (strcmp(g->tok, ";") != 0)
                break;
            lex(g);
        }
    }
    if (!at_stop(g, body)) {
        free(tmp);
        return bad(g, "unexpected token");
    }
    int first = g->nlist;
    for (int i = 0; i < n; i++)
        PUSH(g->list, g->nlist, tmp[i]);
    free(tmp);
    *ret_n = n;
    return first;
}

static int handler(struct prog *g)
{
    if (strcmp(g->tok, "-") == 0) {
        lex(g);
        return -1;
    }
    if (strcmp(g->tok, "{") != 0) {
        bad(g, "expected a handler");
        return -2;
    }
    lex(g);
    size_t len = strlen(g->tok);
    if (len < 2 || g->tok[len - 1] != ':' || len > sizeof(g->h[0].label)) {
        bad(g, "expected a label");
        return -2;
    }
    struct hand h = {.ret = R_RET};
    memcpy(h.label, g->tok, len - 1);
    int id = g->nh;
    PUSH(g->h, g->nh, h);
    lex(g);
    int nbody = 0;
    int body0 = stmts(g, 1, &nbody);
    if (body0 < 0)
        return -2;
    g->h[id].body0 = body0;
    g->h[id].nbody = nbody;
    lex(g); /* => */
    static const char *const kinds[] = {"ret", "pass", "throw", "retp", "retres", "retrej"};
    int k;
    for (k = 0; k < 6; k++)
        if (strcmp(g->tok, kinds[k]) == 0)
            break;
    if (k == 6) {
        bad(g, "expected a return");
        return -2;
    }
    lex(g);
    g->h[id].ret = k;
    if (k == R_RETP)
        g->h[id].arg = prom(g);
    else if (k != R_PASS)
        g->h[id].arg = number(g);
    if (g->h[id].arg < 0 || strcmp(g->tok, "}") != 0) {
        bad(g, "expected }");
        return -2;
    }
    lex(g);
    return id;
}

/* Parses one statement; returns its index or -1. */
static int stmt(struct prog *g)
{
    struct stmt s = {.dst = -1, .src = -1, .h1 = -1, .h2 = -1};
    if (!strcmp(g->tok, "res") || !strcmp(g->tok, "rej") || !strcmp(g->tok, "resw")) {
        s.op = !strcmp(g->tok, "res") ? OP_RES : !strcmp(g->tok, "rej") ? OP_REJ : OP_RESW;
        lex(g);
        s.dst = prom(g);
        if (s.op == OP_RESW)
            s.src = prom(g);
        else
            s.n = number(g);
        if (s.dst < 0 || (s.op == OP_RESW ? s.src < 0 : s.n < 0))
            return -1;
        if (s.op == OP_RESW && s.src == s.dst)
            return bad(g, "resw of a deferred with itself");
    } else {
        s.dst = prom(g);
        if (s.dst < 0)
            return -1;
        if (strcmp(g->tok, "=") != 0)
            return bad(g, "expected =");
        lex(g);
        static const char *const ops[] = {"res", "rej", "def",    "then", "catch",
                                          "fin", "all", "allset", "race", "any"};
        int k;
        for (k = 0; k < 10; k++)
            if (strcmp(g->tok, ops[k]) == 0)
                break;
        if (k == 10)
            return bad(g, "expected an expression");
        s.op = k;
        lex(g);
        if (k == OP_MKRES || k == OP_MKREJ) {
            s.n = number(g);
            if (s.n < 0)
                return -1;
        } else if (k == OP_THEN || k == OP_CATCH || k == OP_FIN) {
            s.src = prom(g);
            if (s.src < 0 || (s.h1 = handler(g)) < -1)
                return -1;
            if (k == OP_THEN && (s.h2 = handler(g)) < -1)
                return -1;
            if (k != OP_THEN && s.h1 < 0)
                return bad(g, "catch and fin need a handler");
        } else if (k >= OP_ALL) {
            s.in0 = g->nins;
            while (is_prom(g->tok)) {
                int p = prom(g);
                PUSH(g->ins, g->nins, p);
                s.nin++;
            }
        }
    }
    int id = g->nst;
    PUSH(g->st, g->nst, s);
    return id;
}

static void prog_free(struct prog *g)
{
    free(g->st);
    free(g->h);
    free(g->ins);
    free(g->list);
    free(g->def);
}

/* Parses text into g; 0, or -1 with g->err set. Checks what the interpreter relies on. */
static int prog_parse(struct prog *g, const char *text)
{
    memset(g, 0, sizeof(*g));
    g->at = text;
    lex(g);
    for (;;) {
        if (g->nphases == 8)
            return bad(g, "too many phases");
        int n = 0;
        int first = stmts(g, 0, &n);
        if (first < 0)
            return -1;
        g->phase0[g->nphases] = first;
        g->nphase[g->nphases++] = n;
        if (strcmp(g->tok, "|") != 0)
            break;
        lex(g);
    }
    if (strcmp(g->tok, "@") == 0) {
        lex(g);
        while (is_prom(g->tok) && g->nobs < 16)
            g->obs[g->nobs++] = prom(g);
    }
    if (g->tok[0])
        return bad(g, "trailing tokens");
    g->def = calloc((size_t)g->nprom + 1, 1);
    unsigned char *made = calloc((size_t)g->nprom + 1, 1);
    assert_true(g->def && made);
    int rc = 0;
    for (int i = 0; i < g->nst; i++) {
        const struct stmt *s = &g->st[i];
        if (s->op <= OP_ANY) {
            if (made[s->dst])
                rc = bad(g, "a promise is made twice");
            made[s->dst] = 1;
            if (s->op == OP_DEF)
                g->def[s->dst] = 1;
        }
    }
    for (int i = 0; i < g->nst; i++)
        if (g->st[i].op >= OP_RES && !g->def[g->st[i].dst])
            rc = bad(g, "settles a promise that is not a deferred");
    free(made);
    return rc;
}

/* -------------------------------------------------------------- interpret */

struct run;

/* The context of one statement's handlers. */
struct sctx {
    struct run *r; /* the interpreter */
    int st;        /* the statement */
};

struct run {
    vow_loop *l;          /* a fresh loop per run */
    const struct prog *g; /* the program */
    int extra;            /* 1: an extra reference on every vow until the end */
    int released;         /* the end: the program let go of everything */
    vow **held;           /* per promise: the program's reference, NULL if none */
    vow **keep;           /* extra mode: the extra reference */
    unsigned char *made;  /* per promise: it exists */
    int *left;            /* per promise: uses still to come */
    vow **anon;           /* extra mode: extra references on retres/retrej vows */
    int nanon;            /* used entries of anon */
    struct sctx *ctx;     /* per statement */
    struct buf log;       /* the handler order */
    char err[160];        /* the first interpreter error */
};

static void run_error(struct run *r, const char *what, int p)
{
    if (!r->err[0])
        snprintf(r->err, sizeof(r->err), "%s (p%d)", what, p);
}

/* Static uses: operand occurrences of each promise, so the last use can consume the
 * program's reference (as a JavaScript program drops a variable it never reads). */
static void count_uses(struct run *r)
{
    const struct prog *g = r->g;
    for (int i = 0; i < g->nst; i++) {
        const struct stmt *s = &g->st[i];
        if (s->op == OP_THEN || s->op == OP_CATCH || s->op == OP_FIN)
            r->left[s->src]++;
        for (int j = 0; j < s->nin; j++)
            r->left[g->ins[s->in0 + j]]++;
        if (s->op >= OP_RES)
            r->left[s->dst]++;
        if (s->op == OP_RESW)
            r->left[s->src]++;
    }
    for (int i = 0; i < g->nh; i++)
        if (g->h[i].ret == R_RETP)
            r->left[g->h[i].arg]++;
    for (int i = 0; i < g->nobs; i++)
        r->left[g->obs[i]]++;
}

/* A use that consumes: the program's own reference at the last use, a new one before. */
static vow *take(struct run *r, int p)
{
    vow *v = r->held[p];
    if (!v) {
        run_error(r, "a use after the last one", p);
        return NULL;
    }
    if (--r->left[p] == 0) {
        r->held[p] = NULL;
        return v;
    }
    return vow_ref(v);
}

/* After a use that borrows. */
static void used(struct run *r, int p)
{
    if (r->held[p] && --r->left[p] == 0) {
        vow_unref(r->held[p]);
        r->held[p] = NULL;
    }
}

static void made(struct run *r, int p, vow *v)
{
    if (!v) {
        run_error(r, "out of memory", p);
        return;
    }
    r->made[p] = 1;
    if (r->extra)
        r->keep[p] = vow_ref(v);
    if (r->left[p] == 0)
        vow_unref(v); /* never used again: the program drops it at once */
    else
        r->held[p] = v;
}

static vow *anon(struct run *r, vow *v)
{
    if (r->extra && v) {
        r->anon = grow(r->anon, r->nanon, sizeof(*r->anon));
        r->anon[r->nanon++] = vow_ref(v);
    }
    return v;
}

/* ---------------------------------------------------------------- render */

static void render_value(struct buf *b, const vow_val *v);

static void render_reason(struct buf *b, int code, const vow_val *d)
{
    if (code == VOW_EUSER) {
        render_value(b, d);
    } else if (code == VOW_EAGGREGATE) {
        buf_add(b, "agg");
        render_value(b, d);
    } else if (code == VOW_ECYCLE) {
        buf_add(b, "TypeError");
    } else {
        buf_add(b, "%s", vow_err_name(code));
    }
}

static void render_outcome(struct buf *b, int code, const vow_val *v)
{
    if (code == 0) {
        render_value(b, v);
    } else {
        buf_add(b, "!");
        render_reason(b, code, v);
    }
}

/* A list prints each settled item as an outcome: all, allSettled and any's errors. */
static void render_value(struct buf *b, const vow_val *v)
{
    const vow_list *list = vow_list_get(v);
    if (!list) {
        buf_add(b, "%lld", (long long)v->num);
        return;
    }
    buf_add(b, "[");
    for (size_t i = 0; i < list->n; i++) {
        if (i)
            buf_add(b, ",");
        render_outcome(b, vow_code(list->items[i]), vow_value(list->items[i]));
    }
    buf_add(b, "]");
}

static void render_state(struct buf *b, const vow *p)
{
    if (vow_state(p) == VOW_PENDING)
        buf_add(b, "pending");
    else
        render_outcome(b, vow_code(p), vow_value(p));
}

/* --------------------------------------------------------------- execute */

static void exec(struct run *r, int i);

enum { K_OK, K_ERR, K_FIN };

static vow_ret handle(struct run *r, int hid, int kind, int code, const vow_val *v)
{
    const struct prog *g = r->g;
    const struct hand *h = &g->h[hid];
    if (r->released && !strstr(buf_str(&r->log), "(after the release)"))
        buf_add(&r->log, "%s(after the release)", r->log.len ? " " : "");
    buf_add(&r->log, "%s%s", r->log.len ? " " : "", h->label);
    if (kind != K_FIN) {
        buf_add(&r->log, ":");
        render_outcome(&r->log, kind == K_OK ? 0 : code, v);
    }
    for (int j = 0; j < h->nbody; j++)
        exec(r, g->list[h->body0 + j]);
    switch (h->ret) {
    case R_RET:
        return vow_ok(vow_val_num(h->arg));
    case R_PASS:
        return vow_pass();
    case R_THROW:
        return vow_fail(VOW_EUSER, vow_val_num(h->arg));
    case R_RETP:
        if (!r->made[h->arg]) {
            run_error(r, "retp of a promise not made", h->arg);
            return vow_ok(vow_val_num(-1));
        }
        return vow_follow(take(r, h->arg));
    case R_RETRES:
        return vow_follow(anon(r, vow_resolved(r->l, vow_val_num(h->arg))));
    default:
        return vow_follow(anon(r, vow_rejected(r->l, VOW_EUSER, vow_val_num(h->arg))));
    }
}

static vow_ret on_ok(void *ctx, const vow_val *v)
{
    struct sctx *c = ctx;
    return handle(c->r, c->r->g->st[c->st].h1, K_OK, 0, v);
}

static vow_ret on_err(void *ctx, int code, const vow_val *detail)
{
    struct sctx *c = ctx;
    const struct stmt *s = &c->r->g->st[c->st];
    return handle(c->r, s->op == OP_CATCH ? s->h1 : s->h2, K_ERR, code, detail);
}

static vow_ret on_fin(void *ctx)
{
    struct sctx *c = ctx;
    return handle(c->r, c->r->g->st[c->st].h1, K_FIN, 0, NULL);
}

/* Runs statement i. One whose promise operand does not exist (yet) is skipped. */
static void exec(struct run *r, int i)
{
    const struct prog *g = r->g;
    const struct stmt *s = &g->st[i];
    void *ctx = &r->ctx[i];
    vow *ps[64];
    vow *v;
    switch (s->op) {
    case OP_MKRES:
        made(r, s->dst, vow_resolved(r->l, vow_val_num(s->n)));
        return;
    case OP_MKREJ:
        made(r, s->dst, vow_rejected(r->l, VOW_EUSER, vow_val_num(s->n)));
        return;
    case OP_DEF:
        made(r, s->dst, vow_pending(r->l));
        return;
    case OP_THEN:
        if (r->made[s->src])
            made(r, s->dst,
                 vow_then(take(r, s->src), s->h1 >= 0 ? on_ok : NULL, s->h2 >= 0 ? on_err : NULL,
                          ctx));
        return;
    case OP_CATCH:
        if (r->made[s->src])
            made(r, s->dst, vow_catch(take(r, s->src), on_err, ctx));
        return;
    case OP_FIN:
        if (r->made[s->src])
            made(r, s->dst, vow_finally(take(r, s->src), on_fin, ctx));
        return;
    case OP_ALL:
    case OP_ALLSET:
    case OP_RACE:
    case OP_ANY:
        if (s->nin > 64) {
            run_error(r, "too many inputs", s->dst);
            return;
        }
        for (int j = 0; j < s->nin; j++)
            if (!r->made[g->ins[s->in0 + j]])
                return;
        for (int j = 0; j < s->nin; j++)
            ps[j] = take(r, g->ins[s->in0 + j]);
        v = s->op == OP_ALL      ? vow_all(r->l, ps, (size_t)s->nin)
            : s->op == OP_ALLSET ? vow_all_settled(r->l, ps, (size_t)s->nin)
            : s->op == OP_RACE   ? vow_race(r->l, ps, (size_t)s->nin)
                                 : vow_any(r->l, ps, (size_t)s->nin);
        /* A combinator holds its result only weakly: dropping it withdraws the
         * combinator (and cancels the inputs nothing else consumes), where JavaScript
         * would let it run unobserved. That is cancellation, not order: the program
         * keeps every combinator's result to the end, in both runs. */
        if (v && !r->extra)
            r->keep[s->dst] = vow_ref(v);
        made(r, s->dst, v);
        return;
    case OP_RES:
    case OP_REJ:
        if (!r->made[s->dst])
            return;
        /* Settling a resolved deferred changes nothing (JavaScript ignores it too). */
        if (s->op == OP_RES)
            (void)vow_resolve(r->held[s->dst], vow_val_num(s->n));
        else
            (void)vow_reject(r->held[s->dst], VOW_EUSER, vow_val_num(s->n));
        used(r, s->dst);
        return;
    case OP_RESW:
        if (!r->made[s->dst] || !r->made[s->src])
            return;
        /* vow_resolve_with holds its vow weakly, as combinators do: the program keeps
         * the adopter to the end, so that dropping it cannot withdraw the adoption. */
        if (!r->extra && !r->keep[s->dst])
            r->keep[s->dst] = vow_ref(r->held[s->dst]);
        (void)vow_resolve_with(r->held[s->dst], take(r, s->src));
        used(r, s->dst);
        return;
    }
}

static void on_unhandled(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    (void)event;
}

/* What one run printed and left. */
struct outcome {
    struct buf log;    /* the handler order */
    struct buf states; /* extra mode: every promise; otherwise the observed ones */
    char err[200];     /* an interpreter or loop failure, "" if none */
};

static void outcome_free(struct outcome *o)
{
    buf_free(&o->log);
    buf_free(&o->states);
}

/*
 * Runs g on a fresh loop: each phase, then the loop until it has nothing left; reads
 * the final states; lets go of every reference (no handler may run after that), and
 * closes the loop, which must succeed with no allocation left.
 */
static void run_prog(const struct prog *g, int extra, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    long live_before = tu_live_allocations();
    struct run r = {.g = g, .extra = extra};
    size_t np = (size_t)g->nprom + 1;
    r.held = calloc(np, sizeof(*r.held));
    r.keep = calloc(np, sizeof(*r.keep));
    r.made = calloc(np, 1);
    r.left = calloc(np, sizeof(*r.left));
    r.ctx = calloc((size_t)g->nst + 1, sizeof(*r.ctx));
    assert_true(r.held && r.keep && r.made && r.left && r.ctx);
    for (int i = 0; i < g->nst; i++)
        r.ctx[i] = (struct sctx){&r, i};
    count_uses(&r);
    r.l = vow_loop_new();
    assert_non_null(r.l);
    assert_int_equal(vow_loop_set_unhandled(r.l, on_unhandled, NULL), 0);

    for (int ph = 0; ph < g->nphases; ph++) {
        for (int j = 0; j < g->nphase[ph]; j++)
            exec(&r, g->list[g->phase0[ph] + j]);
        int rc = vow_loop_run(r.l, VOW_RUN_DEFAULT);
        if (rc < 0)
            run_error(&r, "vow_loop_run failed", rc);
    }

    if (extra) {
        for (int p = 0; p < g->nprom; p++) {
            buf_add(&o->states, "%sp%d=", p ? " " : "", p);
            if (r.made[p])
                render_state(&o->states, r.keep[p]);
            else
                buf_add(&o->states, "-");
        }
    }
    for (int i = 0; i < g->nobs; i++) {
        int p = g->obs[i];
        if (!extra) {
            buf_add(&o->states, "%sp%d=", i ? " " : "", p);
            if (r.made[p])
                render_state(&o->states, r.held[p]);
            else
                buf_add(&o->states, "-");
        }
        used(&r, p);
    }

    r.released = 1;
    for (int p = 0; p < g->nprom; p++) {
        vow_unref(r.held[p]);
        vow_unref(r.keep[p]);
    }
    for (int i = 0; i < r.nanon; i++)
        vow_unref(r.anon[i]);
    int rc = vow_loop_run(r.l, VOW_RUN_DEFAULT);
    if (rc < 0)
        run_error(&r, "vow_loop_run after the release failed", rc);
    rc = vow_loop_close(r.l);
    if (rc != 0)
        run_error(&r, "vow_loop_close failed (a vow is still alive)", rc);
    if (rc != 0 || tu_live_allocations() != live_before) {
        if (!r.err[0])
            snprintf(r.err, sizeof(r.err), "%ld allocations left after the loop closed",
                     tu_live_allocations() - live_before);
    }
    o->log = r.log;
    snprintf(o->err, sizeof(o->err), "%s", r.err);
    free(r.held);
    free(r.keep);
    free(r.made);
    free(r.left);
    free(r.ctx);
    free(r.anon);
}

/* Node's final state of promise p, as "pN=state" (empty if absent). */
static void node_state(struct buf *b, const char *states, int p)
{
    char key[24];
    int n = snprintf(key, sizeof(key), "p%d=", p);
    for (const char *s = states; s && *s;) {
        if (strncmp(s, key, (size_t)n) == 0) {
            size_t len = strcspn(s, " ");
            buf_add(b, "%.*s", (int)len, s);
            return;
        }
        s += strcspn(s, " ");
        s += *s == ' ';
    }
}

/*
 * Runs case c in both modes; returns 1 if it matches Node in both, else 0 with the
 * report (program, Node's and libvow's orders and states) appended to msg.
 */
static int check_case(const struct order_case *c, const char *id, struct buf *msg)
{
    struct prog g;
    if (prog_parse(&g, c->text) < 0) {
        buf_add(msg, "# %s (%s): %s\n", id, c->name, g.err);
        prog_free(&g);
        return 0;
    }
    struct outcome own, extra;
    run_prog(&g, 0, &own);
    run_prog(&g, 1, &extra);
    struct buf want_obs = {0};
    for (int i = 0; i < g.nobs; i++) {
        if (i)
            buf_add(&want_obs, " ");
        node_state(&want_obs, c->states, g.obs[i]);
    }
    int own_ok = !own.err[0] && strcmp(buf_str(&own.log), c->log) == 0 &&
                 strcmp(buf_str(&own.states), buf_str(&want_obs)) == 0;
    int extra_ok = !extra.err[0] && strcmp(buf_str(&extra.log), c->log) == 0 &&
                   strcmp(buf_str(&extra.states), c->states) == 0;
    if (!own_ok || !extra_ok) {
        int same = strcmp(buf_str(&own.log), buf_str(&extra.log)) == 0;
        buf_add(msg, "# %s (%s): libvow differs from Node%s\n", id, c->name,
                same ? "" : "; its order depends on reference counts");
        buf_add(msg, "#   program:           %s\n", c->text);
        buf_add(msg, "#   node:              %s\n", c->log);
        buf_add(msg, "#   libvow own refs:   %s%s%s\n", buf_str(&own.log),
                own.err[0] ? "  ERROR: " : "", own.err);
        buf_add(msg, "#   libvow extra refs: %s%s%s\n", buf_str(&extra.log),
                extra.err[0] ? "  ERROR: " : "", extra.err);
        if (strcmp(buf_str(&own.states), buf_str(&want_obs)) != 0)
            buf_add(msg, "#   observed, node:    %s\n#   libvow own refs:   %s\n",
                    buf_str(&want_obs), buf_str(&own.states));
        if (strcmp(buf_str(&extra.states), c->states) != 0)
            buf_add(msg, "#   states, node:      %s\n#   libvow extra refs: %s\n", c->states,
                    buf_str(&extra.states));
    }
    buf_free(&want_obs);
    outcome_free(&own);
    outcome_free(&extra);
    prog_free(&g);
    return own_ok && extra_ok;
}

/* --------------------------------------------------------------- the tests */

static void hand_case(void **state)
{
    const struct order_case *c = *state;
    struct buf msg = {0};
    if (!check_case(c, "hand-written", &msg)) {
        /* Not print_message: it cuts long messages. TAP takes "#" lines as comments. */
        printf("# %s: %s\n%s", c->name, c->what, buf_str(&msg));
        fflush(stdout);
        buf_free(&msg);
        fail_msg("%s: libvow's order differs from Node's", c->name);
    }
    buf_free(&msg);
}

/* Random programs first..first+CHUNK-1; every failing one is reported, then one fail. */
static void random_chunk(void **state)
{
    size_t first = (size_t)(uintptr_t)*state;
    size_t last = first + CHUNK < N_RANDOM ? first + CHUNK : N_RANDOM;
    int failed = 0;
    struct buf msg = {0};
    for (size_t i = first; i < last; i++) {
        char id[32];
        snprintf(id, sizeof(id), "random #%zu", i);
        if (!check_case(&order_random[i], id, &msg))
            failed++;
    }
    if (failed) {
        buf_add(&msg, "# %d of the random programs %zu..%zu differ from Node\n", failed, first,
                last - 1);
        fputs(buf_str(&msg), stdout);
        fflush(stdout);
        buf_free(&msg);
        fail_msg("%d of the random programs %zu..%zu run in another order than in Node", failed,
                 first, last - 1);
    }
    buf_free(&msg);
}

/* The interpreter itself: a program with a known order, and parse errors caught. */
static void interpreter_self_check(void **state)
{
    (void)state;
    static const struct order_case c = {
        "self", "",
        "p0=res 1; p1=then p0 {a: => ret 2} -; p2=then p1 {b: => throw 3} -; "
        "p3=catch p2 {c: => pass}",
        "a:1 b:2 c:!3", "p0=1 p1=2 p2=!3 p3=!3"};
    struct buf msg = {0};
    assert_int_equal(check_case(&c, "self", &msg), 1);
    static const struct order_case wrong = {"wrong", "", "p0=res 1; p1=then p0 {a: => ret 2} -",
                                            "a:2", "p0=1 p1=2"};
    assert_int_equal(check_case(&wrong, "self", &msg), 0);
    struct prog g;
    assert_int_equal(prog_parse(&g, "p0=res 1; p0=res 2"), -1);
    prog_free(&g);
    assert_int_equal(prog_parse(&g, "p0=res 1; res p0 2"), -1);
    prog_free(&g);
    assert_int_equal(prog_parse(&g, "p0=then p1 {a => ret 1} -"), -1);
    prog_free(&g);
    buf_free(&msg);
}

int main(void)
{
    tu_install_allocator();
    static struct CMUnitTest tests[1 + N_HAND + N_CHUNKS];
    static char names[N_CHUNKS][48];
    size_t n = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(interpreter_self_check);
    for (size_t i = 0; i < N_HAND; i++)
        tests[n++] = (struct CMUnitTest){order_hand[i].name, hand_case, NULL, NULL,
                                         (void *)(uintptr_t)&order_hand[i]};
    for (size_t k = 0; k < N_CHUNKS; k++) {
        size_t first = k * CHUNK;
        size_t last = first + CHUNK < N_RANDOM ? first + CHUNK : N_RANDOM;
        snprintf(names[k], sizeof(names[k]), "random_%03zu_%03zu", first, last - 1);
        tests[n++] =
            (struct CMUnitTest){names[k], random_chunk, NULL, NULL, (void *)(uintptr_t)first};
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
