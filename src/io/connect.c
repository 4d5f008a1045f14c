/* SPDX-License-Identifier: MIT */
/*
 * Connecting to a host name: the name is resolved on the thread pool
 * (vow_getaddrinfo), then its addresses race Happy Eyeballs style (RFC 8305): the
 * two families interleaved, the next attempt started 250 ms after the previous one
 * or as soon as it fails, the first connection wins and the other attempts are
 * withdrawn (their sockets closed). All failed: the last attempt's error.
 */
#include "io_int.h"
#include "vow/work.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* RFC 8305's recommended "Connection Attempt Delay". */
#define ATTEMPT_DELAY_MS 250

struct race;

struct attempt {
    struct race *race;          /* the race it belongs to */
    vow *v;                     /* its chain (handlers below), held while it runs */
    socklen_t len;              /* length of ss */
    struct sockaddr_storage ss; /* the address */
};

struct race {
    vow *p;              /* the result, borrowed: NULL once settled or withdrawn */
    vow_loop *l;         /* the loop */
    unsigned refs;       /* 1 while p is pending, + 1 per attempt's handlers */
    size_t n;            /* addresses */
    size_t next;         /* the next address to try */
    int last_err;        /* the latest attempt's failure */
    vow_timer timer;     /* starts the next attempt */
    struct attempt at[]; /* addresses in the order they are tried */
};

static void race_put(struct race *r)
{
    if (--r->refs == 0)
        vow__free(r);
}

/* The race is over (p settled or withdrawn): stop the timer, withdraw the attempts
 * still running (dropping a chain cancels its connect and closes its socket). */
static void race_end(struct race *r)
{
    r->p = NULL;
    vow_timer_stop(&r->timer);
    for (size_t i = 0; i < r->next; i++) {
        vow *v = r->at[i].v;
        r->at[i].v = NULL;
        vow_unref(v);
    }
    race_put(r);
}

static size_t running(const struct race *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->next; i++)
        n += r->at[i].v != NULL;
    return n;
}

static vow_ret on_connected(void *ctx, const vow_val *v);
static vow_ret on_failed(void *ctx, int code, const vow_val *detail);
static void attempt_drop(void *ctx);

/* Starts the next address's attempt; with none left and none running, the race is
 * lost (r may be gone on return then). */
static void start_next(struct race *r)
{
    while (r->next < r->n) {
        struct attempt *a = &r->at[r->next++];
        vow *c = vow__connect_addr(r->l, (const struct sockaddr *)&a->ss, a->len);
        if (!c) {
            r->last_err = VOW_ENOMEM;
            continue;
        }
        r->refs++;
        a->v = vow_then_full(c, on_connected, on_failed, a, attempt_drop);
        if (!a->v) {
            /* attempt_drop has run. */
            r->last_err = VOW_ENOMEM;
            continue;
        }
        if (r->next < r->n && vow_timer_start(&r->timer, ATTEMPT_DELAY_MS, 0) < 0)
            continue; /* no timer: start the next one now rather than never */
        return;
    }
    if (running(r) == 0) {
        vow_reject(r->p, r->last_err, vow_val_none());
        race_end(r);
    }
}

/* This attempt's chain settles by this handler's return: let go of our reference. */
static void attempt_done(struct attempt *a)
{
    vow *v = a->v;
    a->v = NULL;
    vow_unref(v);
}

static vow_ret on_connected(void *ctx, const vow_val *v)
{
    struct attempt *a = ctx;
    struct race *r = a->race;
    int fd = (int)v->num;
    attempt_done(a);
    if (!r->p) {
        /* A second winner in the same turn. */
        close(fd);
        return vow_ok(vow_val_none());
    }
    vow_resolve(r->p, vow_val_num(fd));
    race_end(r);
    return vow_ok(vow_val_none());
}

static vow_ret on_failed(void *ctx, int code, const vow_val *detail)
{
    struct attempt *a = ctx;
    struct race *r = a->race;
    (void)detail;
    attempt_done(a);
    if (r->p) {
        r->last_err = code;
        vow_timer_stop(&r->timer);
        start_next(r);
    }
    return vow_ok(vow_val_none());
}

static void attempt_drop(void *ctx)
{
    race_put(((struct attempt *)ctx)->race);
}

static void on_timer(vow_timer *t)
{
    start_next(vow__container_of(t, struct race, timer));
}

/* The result was cancelled or dropped. */
static void on_abort(void *ctx, vow *p)
{
    (void)p;
    race_end(ctx);
}

static bool usable(const struct addrinfo *x)
{
    return (x->ai_family == AF_INET || x->ai_family == AF_INET6) &&
           x->ai_addrlen <= sizeof(struct sockaddr_storage);
}

/* The first usable address at or after x whose family is (same) or is not fam. */
static const struct addrinfo *seek(const struct addrinfo *x, int fam, bool same)
{
    while (x && !(usable(x) && (x->ai_family == fam) == same))
        x = x->ai_next;
    return x;
}

/* Copies the usable addresses of ai into r->at, the two families interleaved,
 * starting with the family of the first (RFC 8305 section 4). */
static size_t interleave(struct race *r, const struct addrinfo *ai)
{
    const struct addrinfo *x = ai;
    while (!usable(x))
        x = x->ai_next;
    int fam = x->ai_family;
    const struct addrinfo *c[2] = { seek(ai, fam, true), seek(ai, fam, false) };
    size_t k = 0;
    for (int t = 0; c[0] || c[1]; t ^= 1) {
        if (!c[t])
            continue;
        struct attempt *a = &r->at[k++];
        a->race = r;
        a->len = c[t]->ai_addrlen;
        memcpy(&a->ss, c[t]->ai_addr, c[t]->ai_addrlen);
        c[t] = seek(c[t]->ai_next, fam, t == 0);
    }
    return k;
}

vow *vow__connect_addrinfo(vow_loop *l, const struct addrinfo *ai)
{
    size_t n = 0;
    for (const struct addrinfo *x = ai; x; x = x->ai_next)
        n += usable(x);
    if (n == 0)
        return vow_rejected(l, VOW_EAI_ADDRFAMILY, vow_val_none());
    struct race *r = vow__calloc(1, sizeof(*r) + n * sizeof(struct attempt));
    if (!r)
        return NULL;
    vow *p = vow_pending(l);
    if (!p || vow_on_cancel_named(p, on_abort, r, "connect") < 0) {
        vow_unref(p);
        vow__free(r);
        return NULL;
    }
    r->p = p;
    r->l = l;
    r->refs = 1;
    r->n = interleave(r, ai);
    r->last_err = -ECONNREFUSED;
    vow_timer_init(l, &r->timer, on_timer);
    start_next(r);
    return p;
}

static vow_ret on_resolved(void *ctx, const vow_val *v)
{
    vow *p = vow__connect_addrinfo(ctx, v->ptr);
    return p ? vow_follow(p) : vow_fail(VOW_ENOMEM, vow_val_none());
}

vow *vow__tcp_connect_name(vow_loop *l, const char *host, int port)
{
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    vow *q = vow_getaddrinfo(l, host, service, &hints);
    return q ? vow_then(q, on_resolved, NULL, l) : NULL;
}
