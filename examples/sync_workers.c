/* SPDX-License-Identifier: MIT */
/*
 * A pool of N worker coroutines draining one channel of jobs. A producer coroutine
 * sends the jobs (numbers whose primes below them are to be counted) and closes the
 * channel; each worker receives until the channel ends, "does I/O" between jobs (a
 * short sleep) and sends its results on a second channel, which main's collector
 * reads until every worker has finished. A semaphore caps how many workers may be in
 * their I/O step at once, a lock guards the report. Prints the per-worker job counts
 * and "ok jobs=J total=T" (or "FAILED").
 *   usage: sync_workers [--workers N] [--jobs J] [--io 2]
 */
#include <vow.h>
#include <vow/co.h>
#include <vow/sync.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 64

struct pool {
    vow_loop *l;
    vow_chan *jobs;    /* numbers to work on (capacity: the number of workers) */
    vow_chan *results; /* counts of primes, one per job */
    vow_sem *io;       /* at most this many workers in their I/O step */
    vow_lock *report;  /* guards per_worker and the running line */
    long njobs;        /* jobs to send */
    int nworkers;      /* workers */
    int live;          /* workers not finished yet */
    long per_worker[MAX_WORKERS]; /* jobs each worker did */
};

struct worker {
    struct pool *p; /* the pool */
    int id;         /* its index */
};

static int64_t primes_below(int64_t n)
{
    int64_t count = 0;
    for (int64_t k = 2; k < n; k++) {
        int prime = 1;
        for (int64_t d = 2; d * d <= k && prime; d++)
            prime = k % d != 0;
        count += prime;
    }
    return count;
}

static vow_ret producer(void *arg)
{
    struct pool *p = arg;
    for (long j = 0; j < p->njobs; j++) {
        /* Waits while every worker is busy and the channel is full. */
        vow *s = vow_chan_send(p->jobs, vow_val_num(100 + j % 400));
        int rc = vow_await(s);
        vow_unref(s);
        if (rc < 0)
            break;
    }
    vow_chan_close(p->jobs);
    return vow_ok(vow_val_none());
}

static vow_ret work(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->p;
    for (;;) {
        vow *r = vow_chan_recv(p->jobs);
        int rc = vow_await(r);
        int64_t n = rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (rc < 0)
            break; /* VOW_EOF: no more jobs */
        /* The I/O step, bounded by the semaphore. */
        vow *u = vow_sem_acquire(p->io);
        if (vow_await(u) == 0) {
            vow_co_sleep(0);
            vow_sem_release(p->io);
        }
        vow_unref(u);
        vow *s = vow_chan_send(p->results, vow_val_num(primes_below(n)));
        rc = vow_await(s);
        vow_unref(s);
        vow *k = vow_lock_acquire(p->report);
        if (vow_await(k) == 0) {
            p->per_worker[w->id]++;
            vow_lock_release(p->report, vow_value(k)->num);
        }
        vow_unref(k);
    }
    if (--p->live == 0)
        vow_chan_close(p->results);
    return vow_ok(vow_val_none());
}

static vow_ret collector(void *arg)
{
    struct pool *p = arg;
    int64_t total = 0;
    for (;;) {
        vow *r = vow_chan_recv(p->results);
        int rc = vow_await(r);
        total += rc == 0 ? vow_value(r)->num : 0;
        vow_unref(r);
        if (rc < 0)
            break;
    }
    return vow_ok(vow_val_num(total));
}

int main(int argc, char **argv)
{
    struct pool p;
    memset(&p, 0, sizeof(p));
    p.nworkers = 4;
    p.njobs = 2000;
    long io = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--workers") == 0)
            p.nworkers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--jobs") == 0)
            p.njobs = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--io") == 0)
            io = atol(argv[i + 1]);
    }
    if (p.nworkers < 1 || p.nworkers > MAX_WORKERS || io < 1) {
        fprintf(stderr, "usage: sync_workers [--workers 1..%d] [--jobs J] [--io N]\n",
                MAX_WORKERS);
        return 2;
    }
    p.l = vow_loop_new();
    if (!p.l)
        return 1;
    p.jobs = vow_chan_new(p.l, (size_t)p.nworkers);
    p.results = vow_chan_new(p.l, 16);
    p.io = vow_sem_new(p.l, (size_t)io);
    p.report = vow_lock_new(p.l);
    if (!p.jobs || !p.results || !p.io || !p.report)
        return 1;
    struct worker w[MAX_WORKERS];
    vow *co[MAX_WORKERS];
    p.live = p.nworkers;
    for (int i = 0; i < p.nworkers; i++) {
        w[i] = (struct worker){ &p, i };
        co[i] = vow_co_spawn(p.l, work, &w[i], NULL);
    }
    vow *prod = vow_co_spawn(p.l, producer, &p, NULL);
    vow *coll = vow_co_spawn(p.l, collector, &p, NULL);
    vow_loop_run(p.l, VOW_RUN_DEFAULT);

    int64_t want = 0;
    for (long j = 0; j < p.njobs; j++)
        want += primes_below(100 + j % 400);
    long done = 0;
    int ok = vow_state(coll) == VOW_FULFILLED && vow_value(coll)->num == want;
    for (int i = 0; i < p.nworkers; i++) {
        printf("worker %d: %ld jobs\n", i, p.per_worker[i]);
        done += p.per_worker[i];
        ok = ok && vow_state(co[i]) == VOW_FULFILLED;
        vow_unref(co[i]);
    }
    int64_t total = vow_state(coll) == VOW_FULFILLED ? vow_value(coll)->num : -1;
    vow_unref(prod);
    vow_unref(coll);
    vow_chan_unref(p.jobs);
    vow_chan_unref(p.results);
    vow_sem_close(p.io);
    ok = ok && vow_lock_close(p.report) == 0 && done == p.njobs && vow_loop_close(p.l) == 0;
    printf("%s jobs=%ld total=%lld\n", ok ? "ok" : "FAILED", done, (long long)total);
    return ok ? 0 : 1;
}
