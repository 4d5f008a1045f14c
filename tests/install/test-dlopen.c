/* SPDX-License-Identifier: MIT */
/*
 * libvow loaded the way language bindings and plugins load it: with dlopen(), by a
 * program that does not link it. Runs a chain through libvow.so and a coroutine that
 * awaits a chain through libvow-co.so, unloads both while another thread still holds
 * the coroutine adapter's per-thread stack cache, loads them again, and loads every
 * other library named on the command line (the host adapters); runs a job on the
 * thread pool and unloads libvow while the pool's threads live on.
 * Usage: test-dlopen LIBVOW.so LIBVOW-CO.so|- [OTHER.so ...]
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include <vow.h>
#include <vow/co.h>
#include <vow/work.h>

static const char *vow_path;
static const char *co_path; /* NULL when the build has no coroutine adapter */
static char **other_paths;
static int n_other;

/* The functions this program calls, looked up with dlsym in the loaded libraries. */
struct api {
    void *lib, *co;
    __typeof__(vow_replace_allocator) *replace_allocator;
    __typeof__(vow_loop_new) *loop_new;
    __typeof__(vow_loop_run) *loop_run;
    __typeof__(vow_loop_close) *loop_close;
    __typeof__(vow_pending) *pending;
    __typeof__(vow_resolve) *resolve;
    __typeof__(vow_then) *then;
    __typeof__(vow_delay) *delay;
    __typeof__(vow_ok) *ok;
    __typeof__(vow_fail) *fail_;
    __typeof__(vow_state) *state;
    __typeof__(vow_value) *value;
    __typeof__(vow_ref) *ref;
    __typeof__(vow_unref) *unref;
    __typeof__(vow_work) *work;
    __typeof__(vow_co_spawn) *co_spawn;
    __typeof__(vow_await) *await;
    __typeof__(vow_co_live) *co_live;
};

static struct api api; /* the handlers below reach libvow through it */

/* A counting allocator, installed through the loaded library: every test ends with
 * no live allocation. */
static atomic_long live;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void *count_calloc(size_t c, size_t n)
{
    void *p = calloc(c, n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void *count_realloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (p && !old)
        atomic_fetch_add(&live, 1);
    return p;
}

static void count_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}

static void *sym(void *lib, const char *name)
{
    void *f = dlsym(lib, name);
    if (!f)
        fail_msg("dlsym(%s): %s", name, dlerror());
    return f;
}

/* Stores dlsym's object pointer into a function pointer field (POSIX guarantees the
 * conversion; ISO C has no cast for it, hence the copy). */
#define LOOKUP(field, lib, name)                                                                   \
    do {                                                                                           \
        void *f_ = sym(lib, name);                                                                 \
        _Static_assert(sizeof(api.field) == sizeof(f_), "function pointer size");                  \
        memcpy(&api.field, &f_, sizeof(f_));                                                       \
    } while (0)

/* Loads libvow (and libvow-co if with_co and the build has it) into api. */
static void load(int with_co)
{
    memset(&api, 0, sizeof(api));
    api.lib = dlopen(vow_path, RTLD_NOW | RTLD_LOCAL);
    if (!api.lib)
        fail_msg("dlopen(%s): %s", vow_path, dlerror());
    LOOKUP(replace_allocator, api.lib, "vow_replace_allocator");
    LOOKUP(loop_new, api.lib, "vow_loop_new");
    LOOKUP(loop_run, api.lib, "vow_loop_run");
    LOOKUP(loop_close, api.lib, "vow_loop_close");
    LOOKUP(pending, api.lib, "vow_pending");
    LOOKUP(resolve, api.lib, "vow_resolve");
    LOOKUP(then, api.lib, "vow_then");
    LOOKUP(delay, api.lib, "vow_delay");
    LOOKUP(ok, api.lib, "vow_ok");
    LOOKUP(fail_, api.lib, "vow_fail");
    LOOKUP(state, api.lib, "vow_state");
    LOOKUP(value, api.lib, "vow_value");
    LOOKUP(ref, api.lib, "vow_ref");
    LOOKUP(unref, api.lib, "vow_unref");
    LOOKUP(work, api.lib, "vow_work");
    if (with_co && co_path) {
        api.co = dlopen(co_path, RTLD_NOW | RTLD_LOCAL);
        if (!api.co)
            fail_msg("dlopen(%s): %s", co_path, dlerror());
        LOOKUP(co_spawn, api.co, "vow_co_spawn");
        LOOKUP(await, api.co, "vow_await");
        LOOKUP(co_live, api.co, "vow_co_live");
    }
}

static void unload(void)
{
    if (api.co)
        assert_int_equal(dlclose(api.co), 0);
    assert_int_equal(dlclose(api.lib), 0);
    memset(&api, 0, sizeof(api));
}

static vow_ret add1(void *ctx, const vow_val *v)
{
    (void)ctx;
    return api.ok(vow_val_num(v->num + 1));
}

/* vow_pending -> three vow_then steps -> resolve with 1 -> the loop runs: 4. */
static void run_chain(void)
{
    vow_loop *l = api.loop_new();
    assert_non_null(l);
    vow *p = api.pending(l);
    assert_non_null(p);
    vow *q = api.then(api.ref(p), add1, NULL, NULL); /* consumes the second reference */
    q = api.then(q, add1, NULL, NULL);
    q = api.then(q, add1, NULL, NULL);
    assert_non_null(q);
    assert_int_equal(api.resolve(p, vow_val_num(1)), 0);
    assert_int_equal(api.loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(api.state(q), VOW_FULFILLED);
    assert_int_equal(api.value(q)->num, 4);
    api.unref(p);
    api.unref(q);
    assert_int_equal(api.loop_close(l), 0);
}

/* The coroutine awaits vow_delay(1 ms, 5) -> then(add1) and returns that plus one. */
static vow_ret body(void *arg)
{
    vow_loop *l = arg;
    vow *d = api.then(api.delay(l, 1, vow_val_num(5)), add1, NULL, NULL);
    if (!d)
        return api.fail_(VOW_ENOMEM, vow_val_none());
    int rc = api.await(d);
    int64_t n = rc == 0 ? api.value(d)->num : 0;
    api.unref(d);
    if (rc != 0)
        return api.fail_(rc, vow_val_none());
    return api.ok(vow_val_num(n + 1));
}

/* Spawns body on a new loop and runs it; 0 if its vow fulfilled with 7 and the loop
 * closed clean, else -1. No cmocka asserts: the worker thread calls it too. */
static int coroutine_once(void)
{
    vow_loop *l = api.loop_new();
    if (!l)
        return -1;
    vow *c = api.co_spawn(l, body, l, NULL);
    int ok = c && api.loop_run(l, VOW_RUN_DEFAULT) == 0 && api.state(c) == VOW_FULFILLED &&
             api.value(c)->num == 7;
    api.unref(c);
    ok = ok && api.co_live(l) == 0;
    return api.loop_close(l) == 0 && ok ? 0 : -1;
}

static void run_coroutine(void)
{
    assert_int_equal(coroutine_once(), 0);
}

static void test_chain(void **state)
{
    (void)state;
    load(0);
    assert_int_equal(api.replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
    run_chain();
    assert_int_equal(atomic_load(&live), 0);
    unload();
}

static void test_coroutine(void **state)
{
    (void)state;
    load(1);
    assert_int_equal(api.replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
    run_chain();
    run_coroutine();
    assert_int_equal(atomic_load(&live), 0);
    unload();
}

/* A thread that ran coroutines (so the adapter keeps its stacks in the thread's
 * cache, released by a thread-exit destructor) outlives the handles: it exits only
 * after the main thread closed both libraries. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ran, may_exit, worker_rc;

static void *worker(void *arg)
{
    (void)arg;
    int rc = coroutine_once();
    pthread_mutex_lock(&mu);
    worker_rc = rc;
    ran = 1;
    pthread_cond_broadcast(&cv);
    while (!may_exit)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void test_unload_reload(void **state)
{
    (void)state;
    load(1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker, NULL), 0);
    pthread_mutex_lock(&mu);
    while (!ran)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    unload();
    pthread_mutex_lock(&mu);
    may_exit = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(worker_rc, 0);
    /* Loaded again: the libraries work as before. */
    load(1);
    run_chain();
    run_coroutine();
    unload();
}

/* A job for the pool: 6 * 7. */
static int multiply(vow_work_job *job, void *arg, vow_val *ret)
{
    (void)job;
    (void)arg;
    *ret = vow_val_num(6 * 7);
    return 0;
}

/* A job ran on the thread pool, whose threads never exit: they run libvow's code for
 * the rest of the process, so dlclose must leave libvow mapped (and fork() must still
 * find its handlers). */
static void test_work_unload(void **state)
{
    (void)state;
    load(0);
    vow_loop *l = api.loop_new();
    assert_non_null(l);
    vow *w = api.work(l, VOW_WORK_CPU, multiply, NULL, NULL);
    assert_non_null(w);
    assert_int_equal(api.loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(api.state(w), VOW_FULFILLED);
    assert_int_equal(api.value(w)->num, 42);
    api.unref(w);
    assert_int_equal(api.loop_close(l), 0);
    unload();
    void *still = dlopen(vow_path, RTLD_NOW | RTLD_NOLOAD);
    if (!still)
        fail_msg("libvow was unmapped under its running pool threads");
    assert_int_equal(dlclose(still), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Loaded again: the same pool takes the next job. */
    load(0);
    l = api.loop_new();
    assert_non_null(l);
    w = api.work(l, VOW_WORK_CPU, multiply, NULL, NULL);
    assert_int_equal(api.loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(api.value(w)->num, 42);
    api.unref(w);
    assert_int_equal(api.loop_close(l), 0);
    unload();
}

/* Every other library (a host adapter, libvow-HOST.so) loads on its own, libvow with
 * it, and exports vow_HOST_attach. */
static void test_others(void **state)
{
    (void)state;
    for (int i = 0; i < n_other; i++) {
        const char *base = strrchr(other_paths[i], '/');
        base = base ? base + 1 : other_paths[i];
        char name[64];
        size_t host = strcspn(base + 7, ".");
        assert_true(strncmp(base, "libvow-", 7) == 0 && host < 32);
        snprintf(name, sizeof(name), "vow_%.*s_attach", (int)host, base + 7);
        void *h = dlopen(other_paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!h)
            fail_msg("dlopen(%s): %s", other_paths[i], dlerror());
        assert_non_null(sym(h, name));
        assert_non_null(sym(h, "vow_loop_new"));
        assert_int_equal(dlclose(h), 0);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test-dlopen LIBVOW.so LIBVOW-CO.so|- [OTHER.so ...]\n");
        return 2;
    }
    vow_path = argv[1];
    co_path = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
    other_paths = argv + 3;
    n_other = argc - 3;
    /* Only the cases this build has libraries for. */
    struct CMUnitTest tests[5] = {cmocka_unit_test(test_chain), cmocka_unit_test(test_work_unload)};
    size_t n = 2;
    if (co_path) {
        tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_coroutine);
        tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_unload_reload);
    }
    if (n_other > 0)
        tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_others);
    return _cmocka_run_group_tests("dlopen", tests, n, NULL, NULL);
}
