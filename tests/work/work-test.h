/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the work-tier tests: a gate that holds pool jobs until the test
 * opens it (so a test controls when a job runs, and never sleeps), loop waiting,
 * and a temporary directory for real files.
 */
#ifndef VOW_WORK_TEST_H
#define VOW_WORK_TEST_H

#include "testutil.h"

#include "vow/fs.h"
#include "vow/io.h"
#include "vow/work.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ gate */

/* Jobs that wait until the gate opens (or their vow is cancelled and the test pokes
 * the gate). Counters tell the test how far the jobs got. */
struct gate {
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* broadcast on every change */
    int open;           /* jobs may leave */
    int started;        /* jobs that entered */
    int left;           /* jobs that left */
    int saw_cancel;     /* jobs that left because vow_work_cancelled said so */
};

static inline void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = g->started = g->left = g->saw_cancel = 0;
}

static inline void gate_destroy(struct gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static inline void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Wakes waiting jobs so they look at their cancellation flag again. */
static inline void gate_poke(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Blocks the calling (test) thread until n jobs entered the gate. */
static inline void gate_wait_started(struct gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->started < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Blocks the calling (test) thread until n jobs left the gate. */
static inline void gate_wait_left(struct gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->left < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static inline int gate_count(struct gate *g, int *field)
{
    pthread_mutex_lock(&g->mu);
    int n = *field;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* A pool job: waits at the gate given as arg; fulfils with 42, or rejects with
 * VOW_ECANCELED if it left because its vow was cancelled. */
static inline int gate_job(vow_work_job *job, void *arg, vow_val *ret)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->started++;
    pthread_cond_broadcast(&g->cv);
    int cancelled = 0;
    while (!g->open && !(cancelled = vow_work_cancelled(job)))
        pthread_cond_wait(&g->cv, &g->mu);
    g->saw_cancel += cancelled;
    g->left++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (cancelled)
        return VOW_ECANCELED;
    *ret = vow_val_num(42);
    return 0;
}

/* ------------------------------------------------------------------ loop */

static void wt_quiet(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)p;
    (void)event;
}

static inline vow_loop *wt_loop_new(void)
{
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    assert_int_equal(vow_loop_set_unhandled(l, wt_quiet, NULL), 0);
    return l;
}

/* Runs l until p settles; the number or the code of p, dropping it (testutil.h). */
#define wt_wait tu_wait
#define wt_num tu_num
#define wt_code tu_code

/* Runs the loop until nothing is left, closes it and checks for leaks. */
static inline void wt_finish(vow_loop *l)
{
    while (vow_loop_run(l, VOW_RUN_DEFAULT) > 0)
        ;
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ------------------------------------------------------------- temp dir */

/* A fresh directory under /tmp; path is filled in (at least 64 bytes). */
static inline void wt_tmpdir(char *path, size_t size)
{
    snprintf(path, size, "/tmp/vow-work-XXXXXX");
    assert_non_null(mkdtemp(path));
}

/* Removes the files of a flat directory, then the directory. */
static inline void wt_rmdir(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    char buf[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(buf, sizeof(buf), "%s/%s", path, e->d_name);
        if (unlink(buf) < 0)
            rmdir(buf);
    }
    closedir(d);
    assert_int_equal(rmdir(path), 0);
}

#endif /* VOW_WORK_TEST_H */
