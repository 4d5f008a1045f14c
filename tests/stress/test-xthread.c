/* SPDX-License-Identifier: MIT */
/*
 * Cross-thread settling storms: 4 loops on 4 threads and 8 producer threads. Each
 * round, every loop makes vows and hands a vow_remote for each to the producers, who
 * settle them (resolve or reject, by turns) from their own threads; each settlement's
 * handler posts a token to the next loop through a vow_poster. The producers also
 * keep posting noise to every loop through posters of their own until the loop
 * closes under them (VOW_ECLOSED). Checked: the sum of values settled equals the sum
 * the handlers saw, every token arrived, every accepted post ran once, and every loop
 * closed with nothing left. Meant for ThreadSanitizer and AddressSanitizer as well.
 */
#include "stress.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

enum { LOOPS = 4, PRODUCERS = 8 };

/* A FIFO of remotes handed from the loops to the producers. */
struct handoff {
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* signalled when items arrive or the round ends */
    vow_remote **items; /* ring of remotes */
    int64_t *vals;      /* the value each one should get */
    long cap, head, n;  /* ring size, first item, items queued */
    int over;           /* no more items this round */
};

struct loop_side {
    int idx;               /* 0..LOOPS-1 */
    vow_loop *l;           /* created by its thread */
    vow_poster *next;      /* poster of the next loop (tokens) */
    atomic_int ready;      /* the loop and its poster exist */
    long per_round;        /* vows to make */
    int64_t seen_sum;      /* values the handlers saw */
    long settled;          /* handlers run */
    atomic_long tokens;    /* tokens received from the previous loop */
    atomic_long noise_ran; /* noise posts run */
    int failed;            /* something did not check out */
};

static struct loop_side sides[LOOPS];
static struct handoff hand;
static atomic_long produced_sum;       /* sum of the values producers settled with */
static atomic_long noise_ok;           /* noise posts accepted */
static pthread_barrier_t all_ready;    /* every loop exists */
static pthread_barrier_t posters_made; /* every poster exists: loops may close after */

static void token(vow_loop *l, void *arg)
{
    (void)l;
    atomic_fetch_add(&((struct loop_side *)arg)->tokens, 1);
}

static void noise(vow_loop *l, void *arg)
{
    (void)l;
    atomic_fetch_add(&((struct loop_side *)arg)->noise_ran, 1);
}

static vow_ret on_value(void *ctx, const vow_val *v)
{
    struct loop_side *sd = ctx;
    sd->seen_sum += v->num;
    sd->settled++;
    if (vow_poster_post(sd->next, token, &sides[(sd->idx + 1) % LOOPS]) != 0)
        sd->failed = 1;
    return vow_ok(vow_val_none());
}

static vow_ret on_error(void *ctx, int code, const vow_val *detail)
{
    if (code != VOW_EUSER)
        ((struct loop_side *)ctx)->failed = 1;
    return on_value(ctx, detail);
}

static void hand_push(vow_remote *r, int64_t v)
{
    pthread_mutex_lock(&hand.mu);
    hand.items[(hand.head + hand.n) % hand.cap] = r;
    hand.vals[(hand.head + hand.n) % hand.cap] = v;
    hand.n++;
    pthread_cond_signal(&hand.cv);
    pthread_mutex_unlock(&hand.mu);
}

/* One round on one loop: make the vows, hand them out, run until every settlement
 * and every token has been seen, then close while producers still post noise. */
static void *loop_main(void *arg)
{
    struct loop_side *sd = arg;
    sd->l = vow_loop_new();
    if (!sd->l) {
        sd->failed = 1;
        pthread_barrier_wait(&all_ready);
        pthread_barrier_wait(&posters_made);
        return NULL;
    }
    atomic_store(&sd->ready, 1);
    pthread_barrier_wait(&all_ready);
    sd->next = vow_poster_new(sides[(sd->idx + 1) % LOOPS].l);
    pthread_barrier_wait(&posters_made);
    /* Held until this loop has every token; released by the loop itself. */
    vow_loop_keepalive(sd->l, 1);
    for (long i = 0; i < sd->per_round; i++) {
        vow *p = vow_pending(sd->l);
        vow_remote *r = p ? vow_remote_new(p) : NULL;
        vow *h = p ? vow_then(p, on_value, on_error, sd) : NULL;
        if (!r || !h) {
            sd->failed = 1;
            break;
        }
        vow_unref(h);
        hand_push(r, (int64_t)(sd->idx * 1000003 + i));
    }
    while (sd->settled < sd->per_round ||
           atomic_load(&sd->tokens) < sides[(sd->idx + LOOPS - 1) % LOOPS].per_round) {
        if (vow_loop_run(sd->l, VOW_RUN_ONCE) < 0 || sd->failed)
            break;
    }
    vow_poster_close(sd->next);
    vow_loop_keepalive(sd->l, -1);
    /* Noise keeps coming: close wins once nothing is queued at that instant. */
    long tries = 0;
    for (;;) {
        if (vow_loop_run(sd->l, VOW_RUN_NOWAIT) < 0)
            sd->failed = 1;
        if (vow_loop_close(sd->l) == 0)
            break;
        if (++tries > 100000000L) {
            sd->failed = 1;
            break;
        }
    }
    return NULL;
}

struct producer {
    vow_poster *to[LOOPS]; /* noise posters, one per loop */
    long settled;          /* remotes this producer settled */
    int failed;            /* a call failed */
};

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    pthread_barrier_wait(&all_ready);
    for (int i = 0; i < LOOPS; i++)
        pr->to[i] = vow_poster_new(sides[i].l);
    pthread_barrier_wait(&posters_made);
    uint64_t rnd = (uint64_t)(uintptr_t)pr | 1;
    for (;;) {
        pthread_mutex_lock(&hand.mu);
        while (hand.n == 0 && !hand.over)
            pthread_cond_wait(&hand.cv, &hand.mu);
        if (hand.n == 0) {
            pthread_mutex_unlock(&hand.mu);
            break;
        }
        vow_remote *r = hand.items[hand.head];
        int64_t v = hand.vals[hand.head];
        hand.head = (hand.head + 1) % hand.cap;
        hand.n--;
        pthread_mutex_unlock(&hand.mu);
        int rc;
        /* VOW_ENOMEM leaves r unused: try again. */
        do {
            rc = v % 2 ? vow_remote_reject(r, VOW_EUSER, vow_val_num(v))
                       : vow_remote_resolve(r, vow_val_num(v));
        } while (rc == VOW_ENOMEM);
        if (rc != 0)
            pr->failed = 1;
        atomic_fetch_add(&produced_sum, v);
        pr->settled++;
        /* Some noise to a random loop now and then. */
        if (stress_rand(&rnd) % 4 == 0) {
            int k = (int)(stress_rand(&rnd) % LOOPS);
            int nr = vow_poster_post(pr->to[k], noise, &sides[k]);
            if (nr == 0)
                atomic_fetch_add(&noise_ok, 1);
            else if (nr != VOW_ECLOSED)
                pr->failed = 1;
        }
    }
    /* The round's work is out: post noise until every loop has closed. */
    for (int k = 0; k < LOOPS; k++) {
        for (long i = 0;; i++) {
            int nr = vow_poster_post(pr->to[k], noise, &sides[k]);
            if (nr == VOW_ECLOSED)
                break;
            if (nr != 0) {
                pr->failed = 1;
                break;
            }
            atomic_fetch_add(&noise_ok, 1);
            if (i % 16 == 0)
                sched_yield();
        }
        vow_poster_close(pr->to[k]);
    }
    return NULL;
}

static void test_storm(void **state)
{
    long per_round = stress_n(2000, 20000);
    double seconds = stress_full() ? 60.0 : 0.0;
    double t0 = stress_now();
    long rounds = 0, settled = 0;
    int64_t seen = 0;
    long noise_ran = 0;
    hand.cap = LOOPS * per_round;
    hand.items = malloc((size_t)hand.cap * sizeof(*hand.items));
    hand.vals = malloc((size_t)hand.cap * sizeof(*hand.vals));
    pthread_mutex_init(&hand.mu, NULL);
    pthread_cond_init(&hand.cv, NULL);
    do {
        pthread_barrier_init(&all_ready, NULL, LOOPS + PRODUCERS);
        pthread_barrier_init(&posters_made, NULL, LOOPS + PRODUCERS);
        hand.head = hand.n = 0;
        hand.over = 0;
        pthread_t lt[LOOPS], pt[PRODUCERS];
        struct producer prs[PRODUCERS];
        memset(prs, 0, sizeof(prs));
        for (int i = 0; i < LOOPS; i++) {
            sides[i] = (struct loop_side){.idx = i, .per_round = per_round};
            assert_int_equal(pthread_create(&lt[i], NULL, loop_main, &sides[i]), 0);
        }
        for (int i = 0; i < PRODUCERS; i++)
            assert_int_equal(pthread_create(&pt[i], NULL, producer_main, &prs[i]), 0);
        for (int i = 0; i < LOOPS; i++)
            assert_int_equal(pthread_join(lt[i], NULL), 0);
        pthread_mutex_lock(&hand.mu);
        hand.over = 1;
        pthread_cond_broadcast(&hand.cv);
        pthread_mutex_unlock(&hand.mu);
        for (int i = 0; i < PRODUCERS; i++) {
            assert_int_equal(pthread_join(pt[i], NULL), 0);
            assert_int_equal(prs[i].failed, 0);
        }
        pthread_barrier_destroy(&all_ready);
        pthread_barrier_destroy(&posters_made);
        for (int i = 0; i < LOOPS; i++) {
            assert_int_equal(sides[i].failed, 0);
            assert_int_equal(sides[i].settled, per_round);
            assert_int_equal(atomic_load(&sides[i].tokens), per_round);
            settled += sides[i].settled;
            seen += sides[i].seen_sum;
            noise_ran += atomic_load(&sides[i].noise_ran);
        }
        rounds++;
        assert_int_equal(seen, atomic_load(&produced_sum));
        assert_int_equal(noise_ran, atomic_load(&noise_ok));
        assert_int_equal(tu_live_allocations(), 0);
    } while (stress_now() - t0 < seconds);
    stress_report("xthread",
                  "%d loops, %d producer threads, %ld rounds in %.1f s: %ld vows "
                  "settled across threads (sum %lld checked), %ld tokens loop to loop, %ld "
                  "noise posts run, the rest refused after close",
                  LOOPS, PRODUCERS, rounds, stress_now() - t0, settled, (long long)seen, settled,
                  noise_ran);
    free(hand.items);
    free(hand.vals);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
