/* SPDX-License-Identifier: MIT */
/*
 * The thread pool: process-wide threads, started one at a time as jobs need them,
 * that take jobs from three lanes in turn under one mutex. A finished job joins its
 * loop's completion list; the job that finds the list empty posts one drain to the
 * loop (vow_loop_post), and that drain settles the whole batch on the loop's thread.
 * A forked child starts over with no threads. vow_work, the public job, is here too.
 */
#include "work_int.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

/*
 * One loop's side of the pool. It exists while the loop has jobs (live > 0), holds
 * one keepalive on the loop meanwhile, and is freed on the loop's thread when the
 * last job is finalised. No drain can be posted for it then: each post is made for
 * a job that only that post's drain takes off the list, and live counts that job.
 */
struct vow__wloop {
    vow_loop *l;              /* the loop */
    struct vow__wloop *next;  /* registry link (pool lock) */
    vow_work_job *done;       /* finished jobs, oldest first (pool lock) */
    vow_work_job **done_tail; /* &last->next, or &done when empty (pool lock) */
    bool posted;              /* a drain is posted and has not taken the list (pool lock) */
    unsigned live;            /* loop thread: jobs not finalised, + 1 while a drain runs */
};

/* A thread waiting for work, on its own stack: woken one at a time, never in a herd. */
struct idler {
    struct idler *next; /* the idle stack (pool lock) */
    pthread_cond_t cv;  /* signalled after woken is set */
    bool woken;         /* set by the waker (pool lock) */
};

struct lane {
    vow_work_job *head; /* oldest queued job */
    vow_work_job *tail; /* newest queued job */
    unsigned running;   /* its jobs on a thread now */
    unsigned cap;       /* most threads it may occupy at once */
};

/* The mutex is adaptive: its holders keep it for a few hundred instructions, so a
 * contender spins briefly instead of sleeping in the kernel at once. */
static struct {
    pthread_mutex_t mu;                    /* guards everything below */
    bool sized;                            /* threads and max_queued are fixed */
    unsigned cfg_threads;                  /* vow_work_configure's, 0 if unset */
    unsigned cfg_queue;                    /* vow_work_configure's, 0 if unset */
    unsigned threads;                      /* the pool's size, once sized */
    unsigned max_queued;                   /* most jobs waiting, once sized */
    unsigned nthreads;                     /* threads created so far */
    unsigned queued;                       /* jobs waiting over all lanes */
    unsigned next_lane;                    /* where the next pick starts */
    struct lane lanes[_VOW_WORK_LANE_MAX]; /* queued jobs per lane */
    struct idler *idle;                    /* threads waiting for work */
    unsigned waking;                       /* threads woken or started, not yet looking */
    struct vow__wloop *loops;              /* loops with jobs */
} pool = { .mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

#ifdef VOW_TESTING
atomic_ulong vow__work_picks;
atomic_ulong vow__work_completions;
atomic_ulong vow__work_drains;
atomic_int vow__work_spawn_fail;
#endif

/* ------------------------------------------------------------------ sizing */

/* The size the pool gets when it starts: configured, environment, or machine. */
static unsigned size_wanted(void)
{
    if (pool.cfg_threads)
        return pool.cfg_threads;
    const char *env = secure_getenv("VOW_THREADPOOL_SIZE");
    if (env && *env) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(env, &end, 10);
        if (errno == 0 && *end == '\0' && n >= 1 && n <= VOW_WORK_MAX_THREADS)
            return (unsigned)n;
    }
    unsigned n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = (unsigned)CPU_COUNT(&set);
    if (n < 4)
        n = 4;
    return n < VOW_WORK_MAX_THREADS ? n : VOW_WORK_MAX_THREADS;
}

static void size_pool(void)
{
    pool.threads = size_wanted();
    pool.max_queued = pool.cfg_queue ? pool.cfg_queue : VOW_WORK_DEFAULT_QUEUE;
    pool.lanes[VOW_WORK_CPU].cap = pool.threads;
    pool.lanes[VOW_WORK_FS].cap = pool.threads;
    pool.lanes[VOW_WORK_NET].cap = pool.threads >= 2 ? pool.threads / 2 : 1;
    pool.sized = true;
}

int vow_work_configure(unsigned threads, unsigned max_queued)
{
    vow__check(threads <= VOW_WORK_MAX_THREADS, VOW_EINVAL);
    pthread_mutex_lock(&pool.mu);
    int r = 0;
    if (pool.sized) {
        r = VOW_EBUSY;
    } else {
        if (threads)
            pool.cfg_threads = threads;
        if (max_queued)
            pool.cfg_queue = max_queued;
    }
    pthread_mutex_unlock(&pool.mu);
    return r;
}

unsigned vow_work_threads(void)
{
    pthread_mutex_lock(&pool.mu);
    unsigned n = pool.sized ? pool.threads : size_wanted();
    pthread_mutex_unlock(&pool.mu);
    return n;
}

/* ------------------------------------------------------------------- fork */

/* The lock is held across fork(), so the child's copy of the pool is consistent. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&pool.mu);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&pool.mu);
}

/* What a forked child inherited, kept reachable (a leak checker in the child sees
 * the parent's jobs as still reachable, not lost). */
static struct vow__wloop *forked_loops;
static vow_work_job *forked_jobs[_VOW_WORK_LANE_MAX];

/*
 * The child has none of the parent's threads. Its pool forgets them, and the jobs
 * they were running or would have run (those never complete here; their memory
 * stays as the parent's copy), so the child's first job starts fresh threads.
 */
static void atfork_child(void)
{
    forked_loops = pool.loops;
    for (int i = 0; i < _VOW_WORK_LANE_MAX; i++)
        forked_jobs[i] = pool.lanes[i].head;
    pool.mu = (pthread_mutex_t)PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
    pool.nthreads = 0;
    pool.queued = 0;
    pool.idle = NULL;
    pool.waking = 0;
    pool.loops = NULL;
    for (int i = 0; i < _VOW_WORK_LANE_MAX; i++) {
        pool.lanes[i].head = pool.lanes[i].tail = NULL;
        pool.lanes[i].running = 0;
    }
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ----------------------------------------------------------------- queues */

static void lane_push(struct lane *ln, vow_work_job *j)
{
    j->next = NULL;
    j->prev = ln->tail;
    if (ln->tail)
        ln->tail->next = j;
    else
        ln->head = j;
    ln->tail = j;
}

static void lane_unlink(struct lane *ln, vow_work_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        ln->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        ln->tail = j->prev;
    j->next = j->prev = NULL;
}

/* A lane whose next job could start now, searching round-robin; -1 if none. */
static int lane_ready(void)
{
    for (unsigned i = 0; i < _VOW_WORK_LANE_MAX; i++) {
        unsigned k = (pool.next_lane + i) % _VOW_WORK_LANE_MAX;
        struct lane *ln = &pool.lanes[k];
        if (ln->head && ln->running < ln->cap)
            return (int)k;
    }
    return -1;
}

/* Takes the next job to run (round-robin over the lanes), or NULL. */
static vow_work_job *pick(void)
{
    int k = lane_ready();
    if (k < 0)
        return NULL;
    struct lane *ln = &pool.lanes[k];
    vow_work_job *j = ln->head;
    lane_unlink(ln, j);
    ln->running++;
    pool.queued--;
    pool.next_lane = ((unsigned)k + 1) % _VOW_WORK_LANE_MAX;
    j->state = VOW__JOB_RUNNING;
#ifdef VOW_TESTING
    atomic_fetch_add(&vow__work_picks, 1);
#endif
    return j;
}

/* ---------------------------------------------------------------- threads */

static void *worker(void *unused);

/* Starts one more thread, with every signal blocked (signals are for the loops'
 * threads). 0 or -errno. */
static int spawn(void)
{
#ifdef VOW_TESTING
    if (atomic_load(&vow__work_spawn_fail))
        return -EAGAIN;
#endif
    pthread_once(&atfork_once, atfork_register);
    pthread_attr_t attr;
    int r = pthread_attr_init(&attr);
    if (r != 0)
        return -r;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    r = pthread_create(&t, &attr, worker, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return -r;
    pool.nthreads++;
    return 0;
}

/*
 * Makes sure a thread will take the runnable work: wakes an idle one, or starts one
 * more while the pool is below its size. A thread already woken and not yet looking
 * will see the work, and wakes the next one itself if more remains after its pick:
 * a burst of submissions costs the loop thread one wake-up, not one per job.
 * Returns -errno only if no thread exists and none could be started. A thread to
 * wake is handed back in *ret_wake: the caller signals it with idler_wake once it
 * has released the lock, so the thread does not wake only to wait for the lock.
 */
static int rouse(struct idler **ret_wake)
{
    if (pool.waking > 0)
        return 0;
    struct idler *w = pool.idle;
    if (w) {
        pool.idle = w->next;
        w->woken = true;
        pool.waking++;
        *ret_wake = w;
        return 0;
    }
    if (pool.nthreads >= pool.threads)
        return 0;
    int r = spawn();
    if (r == 0)
        pool.waking++;
    return r < 0 && pool.nthreads == 0 ? r : 0;
}

/* Signals a thread rouse chose (or nothing), outside the lock. Its idler lives on
 * its stack, and the thread never exits: the signal cannot outlive it. */
static void idler_wake(struct idler *w)
{
    if (w)
        pthread_cond_signal(&w->cv);
}

static void drain(vow_loop *l, void *arg);

/*
 * Posts wl's drain. The only failure possible is out-of-memory (the loop cannot be
 * closing: wl holds a keepalive on it), and the completions must reach the loop, so
 * this pool thread retries after a millisecond until the post goes through.
 */
static void post_drain(vow_loop *l, struct vow__wloop *wl)
{
    for (;;) {
        int r = vow_loop_post(l, drain, wl);
        assert(r == 0 || r == VOW_ENOMEM);
        if (r != VOW_ENOMEM)
            return;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
}

/* Hands a finished job to its loop; called and returns with the lock held. */
static void complete(vow_work_job *j)
{
    pool.lanes[j->lane].running--;
    j->state = VOW__JOB_DONE;
    struct vow__wloop *wl = j->wl;
    j->next = NULL;
    *wl->done_tail = j;
    wl->done_tail = &j->next;
#ifdef VOW_TESTING
    atomic_fetch_add(&vow__work_completions, 1);
#endif
    if (wl->posted)
        return;
    wl->posted = true;
    vow_loop *l = wl->l;
    pthread_mutex_unlock(&pool.mu);
    post_drain(l, wl);
    pthread_mutex_lock(&pool.mu);
}

static void *worker(void *unused)
{
    (void)unused;
    struct idler me = { .next = NULL, .woken = false };
    pthread_cond_init(&me.cv, NULL);
    pthread_mutex_lock(&pool.mu);
    /* Started by rouse: counted as waking until it looks. */
    pool.waking--;
    for (;;) {
        vow_work_job *j = pick();
        if (!j) {
            me.woken = false;
            me.next = pool.idle;
            pool.idle = &me;
            while (!me.woken)
                pthread_cond_wait(&me.cv, &pool.mu);
            pool.waking--;
            continue;
        }
        /* More runnable work than this thread: pass the word on. */
        struct idler *next = NULL;
        if (lane_ready() >= 0)
            rouse(&next);
        pthread_mutex_unlock(&pool.mu);
        idler_wake(next);
        j->ops->run(j);
        j->ran = true;
        pthread_mutex_lock(&pool.mu);
        complete(j);
    }
    return NULL;
}

/* ------------------------------------------------------------ loop side */

/* The loop's side, with one more live job counted; NULL on out-of-memory. */
static struct vow__wloop *wloop_get(vow_loop *l)
{
    struct vow__wloop *wl;
    for (wl = pool.loops; wl; wl = wl->next)
        if (wl->l == l)
            break;
    if (!wl) {
        /* Only l's thread adds l: nobody else can while the lock is dropped. */
        pthread_mutex_unlock(&pool.mu);
        wl = vow__malloc(sizeof(*wl));
        if (wl) {
            *wl = (struct vow__wloop){ .l = l, .live = 0 };
            wl->done_tail = &wl->done;
            vow_loop_keepalive(l, 1);
        }
        pthread_mutex_lock(&pool.mu);
        if (!wl)
            return NULL;
        wl->next = pool.loops;
        pool.loops = wl;
    }
    wl->live++;
    return wl;
}

/* One live job fewer: the last one frees wl and lets the loop go. Loop thread. */
static void wloop_put(struct vow__wloop *wl)
{
    if (--wl->live > 0)
        return;
    pthread_mutex_lock(&pool.mu);
    assert(!wl->done && !wl->posted);
    struct vow__wloop **pp = &pool.loops;
    while (*pp != wl)
        pp = &(*pp)->next;
    *pp = wl->next;
    pthread_mutex_unlock(&pool.mu);
    vow_loop_keepalive(wl->l, -1);
    vow__free(wl);
}

/* Finalises j: its kind releases it, then its loop counts it gone. Loop thread. */
static void finish(vow_work_job *j)
{
    struct vow__wloop *wl = j->wl;
    j->ops->fini(j);
    if (wl)
        wloop_put(wl);
}

void vow__job_drop_result(vow_work_job *j)
{
    if (j->ran && !j->delivered && j->val.drop)
        j->val.drop(j->val.ptr);
}

/* Settles the vow of every job that finished since the last drain, in order. */
static void drain(vow_loop *l, void *arg)
{
    struct vow__wloop *wl = arg;
    (void)l;
#ifdef VOW_TESTING
    atomic_fetch_add(&vow__work_drains, 1);
#endif
    pthread_mutex_lock(&pool.mu);
    vow_work_job *j = wl->done;
    wl->done = NULL;
    wl->done_tail = &wl->done;
    wl->posted = false;
    pthread_mutex_unlock(&pool.mu);
    /* Held while user code (drops, arg drops) may submit or withdraw jobs. */
    wl->live++;
    while (j) {
        vow_work_job *next = j->next;
        vow *p = j->p;
        if (p) {
            j->p = NULL;
            j->delivered = true;
            /* Settling releases the abort hook without running it. */
            if (j->code >= 0)
                vow_resolve(p, j->val);
            else
                vow_reject(p, j->code, j->val);
        }
        finish(j);
        j = next;
    }
    wloop_put(wl);
}

/*
 * The job's vow was cancelled or dropped. A job still queued is withdrawn (unless it
 * must run whatever happens); otherwise it is told, and its result will be released
 * when it reaches the loop.
 */
static void job_abort(void *ctx, vow *p)
{
    vow_work_job *j = ctx;
    (void)p;
    j->p = NULL;
    atomic_store_explicit(&j->cancelled, 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.mu);
    if (j->state == VOW__JOB_QUEUED && !j->keep) {
        lane_unlink(&pool.lanes[j->lane], j);
        pool.queued--;
        pthread_mutex_unlock(&pool.mu);
        finish(j);
        return;
    }
    pthread_mutex_unlock(&pool.mu);
}

vow_work_job *vow__job_new(size_t size, const struct vow__job_ops *ops, int lane)
{
    vow_work_job *j = vow__calloc(1, size);
    if (!j)
        return NULL;
    j->ops = ops;
    j->lane = (uint8_t)lane;
    j->state = VOW__JOB_NEW;
    atomic_init(&j->cancelled, 0);
    return j;
}

/* Queues j and makes sure a thread will run it (*ret_wake: see rouse); 0 or a code.
 * Lock held. */
static int enqueue(vow_work_job *j, struct idler **ret_wake)
{
    if (!pool.sized)
        size_pool();
    if (pool.queued >= pool.max_queued)
        return VOW_EQUEUEFULL;
    struct lane *ln = &pool.lanes[j->lane];
    lane_push(ln, j);
    pool.queued++;
    j->state = VOW__JOB_QUEUED;
    if (ln->running >= ln->cap)
        return 0; /* a thread of the lane takes it when it finishes */
    int r = rouse(ret_wake);
    if (r < 0) {
        lane_unlink(ln, j);
        pool.queued--;
        j->state = VOW__JOB_NEW;
    }
    return r;
}

vow *vow__job_submit(vow_loop *l, vow_work_job *j)
{
    /* The vow first, so a debug build records the caller's site on it. */
    vow *p = vow_pending(l);
    if (!p)
        goto fail;
    if (vow_on_cancel_named(p, job_abort, j, "pool job") < 0) {
        vow_unref(p);
        goto fail;
    }
    j->p = p;
    struct idler *wake = NULL;
    pthread_mutex_lock(&pool.mu);
    j->wl = wloop_get(l);
    int r = j->wl ? enqueue(j, &wake) : VOW_ENOMEM;
    pthread_mutex_unlock(&pool.mu);
    idler_wake(wake);
    if (r == 0)
        return p;
    if (r == VOW_ENOMEM) {
        /* Dropped, the vow runs the hook, which finds the job never queued. */
        vow_unref(p);
        finish(j);
        return NULL;
    }
    /* Settled, the vow releases the hook unrun. */
    j->p = NULL;
    vow_reject(p, r, vow_val_none());
    finish(j);
    return p;
fail:
    j->ops->fini(j);
    return NULL;
}

/* ------------------------------------------------------------- vow_work */

struct user_job {
    vow_work_job j;              /* the common head */
    vow_work_fn fn;              /* what to run */
    void *arg;                   /* its argument */
    void (*arg_drop)(void *arg); /* runs once on the loop thread, or NULL */
};

static void user_run(vow_work_job *j)
{
    struct user_job *u = (struct user_job *)j;
    j->val = vow_val_none();
    j->code = u->fn(j, u->arg, &j->val);
}

static void user_fini(vow_work_job *j)
{
    struct user_job *u = (struct user_job *)j;
    vow__job_drop_result(j);
    if (u->arg_drop)
        u->arg_drop(u->arg);
    vow__free(u);
}

static const struct vow__job_ops user_ops = { user_run, user_fini };

vow *vow_work(vow_loop *l, int lane, vow_work_fn fn, void *arg, void (*arg_drop)(void *arg))
{
    if (!l || !fn || lane < 0 || lane >= _VOW_WORK_LANE_MAX) {
        if (arg_drop)
            arg_drop(arg);
        return l ? vow_rejected(l, VOW_EINVAL, vow_val_none()) : NULL;
    }
    struct user_job *u = (struct user_job *)vow__job_new(sizeof(*u), &user_ops, lane);
    if (!u) {
        if (arg_drop)
            arg_drop(arg);
        return NULL;
    }
    u->fn = fn;
    u->arg = arg;
    u->arg_drop = arg_drop;
    return vow__job_submit(l, &u->j);
}

int vow_work_cancelled(const vow_work_job *job)
{
    return job ? atomic_load_explicit(&job->cancelled, memory_order_relaxed) : 0;
}
