/* SPDX-License-Identifier: MIT */
/*
 * Coroutines on a vow_loop, built only on the public vow.h: a coroutine is resumed
 * from microtasks (its start, the handler its vow_await attached, a cancellation
 * wake-up) and suspends back into whoever resumed it. Per-loop state lives in a
 * thread-local registry keyed by the loop, since a loop belongs to one thread; it
 * is freed when the loop's last coroutine finishes.
 */
#include "scope_int.h"
#include "stack.h"
#include "switch.h"

#include "vow.h"
#include "vow/co.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

enum co_state {
    CO_NEW,       /* spawned, its start microtask not run yet */
    CO_RUNNING,   /* on the CPU (a resume is on the resumer's stack) */
    CO_SUSPENDED, /* inside vow_await */
    CO_DONE       /* fn returned, or the spawn failed */
};

struct co_reg;

/* A coroutine. One with a stack of its own lives at the top of that stack, so
 * spawning it allocates no heap memory beyond the vow and its cancel hook. A
 * copy-stack one lives on the heap, followed by its first save buffer. */
struct co {
    struct vow__co_ctx ctx;      /* the coroutine's context while it is not running */
    struct vow__co_ctx back;     /* the resumer's context while the coroutine runs */
    struct co_reg *reg;          /* its loop's registry */
    vow_loop *loop;              /* the loop it runs on */
    vow *result;                 /* its vow: one reference until it finishes */
    vow_co_fn fn;                /* the body */
    void *arg;                   /* for fn */
    struct vow__co_stack *stack; /* where it runs (and where this struct is) */
    struct co *prev, *next;      /* reg->live */
    vow *await_d;                /* while waiting in vow_await: the wait's reaction vow */
    int wake;                    /* what the pending vow_await returns */
    uint8_t state;               /* enum co_state */
    uint8_t canceled;            /* result was cancelled: every vow_await fails at once */
    uint8_t copy;                /* runs on the loop's shared stack (VOW_CO_COPY_STACK) */
    unsigned char *save;         /* copy mode: its stack while evicted (inline or heap) */
    uint32_t save_cap;           /* bytes save can hold (at most the shared stack's size) */
    uint32_t save_len;           /* bytes of stack in save while evicted */
    struct vow__co_scope *scope; /* scope.c's record (scopes it opened, the scope it
                                    was spawned into, joiners), or NULL */
#ifdef VOW_CO_TSAN
    void *tsan_fiber;            /* TSan's fiber for this coroutine */
    void *tsan_back;             /* TSan's fiber of the resumer */
#endif
#ifdef VOW_CO_ASAN
    void *fake;                  /* ASan's fake stack of the coroutine while suspended */
    const void *back_lo;         /* the resumer's stack, for switching back to it */
    size_t back_size;            /* its size */
#endif
    _Alignas(16) unsigned char save_inline[]; /* copy mode: the first save buffer */
};

#if defined(__x86_64__) && !defined(VOW_CO_UCONTEXT) && !defined(VOW_CO_ASAN) &&          \
    !defined(VOW_CO_TSAN)
/* With the inline save buffer, a copy-stack coroutine is one 384-byte allocation. */
_Static_assert(sizeof(struct co) == 128, "struct co grew out of its size class");
#endif

/*
 * A copy-stack coroutine's save buffer starts inside its own allocation (384 bytes
 * in all with the assembly switches, a jemalloc size class), enough for a coroutine
 * that suspends a call or two below its body (about 200 bytes of stack) never to
 * allocate again; vow_await grows it before a deeper suspension. Memory per
 * suspended coroutine is what a million of them cost, so this stays small. Once
 * coroutines of a loop had to grow theirs, later ones start with the grown size (up
 * to CO_SAVE_HINT_MAX): the coroutines of one loop tend to be alike, and one
 * allocation of the right size beats two.
 */
#define CO_SAVE_INLINE ((size_t)256)
#define CO_SAVE_HINT_MAX ((size_t)4096)

/* The adapter's state for one loop. */
struct co_reg {
    struct co_reg *next;      /* the thread's registries */
    vow_loop *loop;           /* key */
    struct vow__co_pool pool; /* stacks */
    struct co *live;          /* coroutines not finished, newest first */
    size_t n_live;            /* length of live */
    vow *ready;               /* a fulfilled vow that vow_co_yield awaits, or NULL */
    struct vow__co_stack *shared; /* copy-stack coroutines' stack, from pool, or NULL */
    struct co *occupant;      /* the copy-stack coroutine whose frames are on shared */
    size_t save_hint;         /* first save buffer for new copy-stack coroutines */
};

/* initial-exec: these are read on every await; the general TLS model would cost a
 * __tls_get_addr call each time in the shared library (3-5% more CPU in bench-coro's
 * batches; TLS descriptors did no better). These 16 bytes fit the static TLS that
 * glibc reserves for libraries loaded later, so libvow-co.so still loads with
 * dlopen() (tests/install/test-dlopen). */
#if defined(__GNUC__)
#define CO_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define CO_TLS _Thread_local
#endif
static CO_TLS struct co_reg *regs;
static CO_TLS struct co *cur;

/* ---------------------------------------------------------------- registry */

static struct co_reg *reg_find(const vow_loop *l)
{
    for (struct co_reg **pp = &regs; *pp; pp = &(*pp)->next) {
        struct co_reg *r = *pp;
        if (r->loop == l) {
            /* Move to front: a thread usually works one loop at a time. */
            *pp = r->next;
            r->next = regs;
            regs = r;
            return r;
        }
    }
    return NULL;
}

static struct co_reg *reg_get(vow_loop *l)
{
    struct co_reg *r = reg_find(l);
    if (r)
        return r;
    r = vow_malloc(sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->loop = l;
    r->next = regs;
    regs = r;
    /* Coroutines in vow_loop_walk (inspect.c); without a free slot they are left out. */
    (void)vow_loop_add_inspector(l, vow__co_inspect, NULL);
    return r;
}

/* Frees the registry once nothing runs on the loop any more. */
static void reg_maybe_release(struct co_reg *r)
{
    if (r->n_live != 0)
        return;
    for (struct co_reg **pp = &regs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    (void)vow_loop_remove_inspector(r->loop, vow__co_inspect, NULL);
    if (r->shared)
        vow__co_stack_put(&r->pool, r->shared);
    vow__co_pool_fini(&r->pool);
    vow_unref(r->ready);
    vow_free(r);
}

/* ------------------------------------------------------------------ switch */

static void co_finish(struct co *co);
static void co_main(void *data);

#ifdef VOW_CO_HAVE_COPY
/*
 * Puts copy-stack coroutine co on its loop's shared stack, on the resumer's stack.
 * The previous occupant is evicted lazily, only now: a coroutine resumed with
 * nothing else run on the shared stack meanwhile costs no copy. The occupant is
 * suspended (a running one would be resuming us: resumes of one loop never nest,
 * since microtasks do not run inside microtasks) or gone (co_finish let go), and
 * vow_await made its buffer large enough before it suspended.
 */
static void co_occupy(struct co *co)
{
    struct co_reg *r = co->reg;
    struct vow__co_stack *st = r->shared;
    unsigned char *top = (unsigned char *)st->lo + st->size;
    struct co *old = r->occupant;
#ifdef VOW_CO_ASAN
    /* Redzones of frames abandoned or evicted would fire on the copies and on the
     * restored frames: the shared stack's frames are not ASan-checked across an
     * eviction. */
    ASAN_UNPOISON_MEMORY_REGION(st->lo, st->size);
#endif
    if (old) {
        assert(old->state == CO_SUSPENDED);
        unsigned char *sp = vow__co_ctx_sp(&old->ctx);
        size_t n = (size_t)(top - sp);
        assert(sp >= (unsigned char *)st->lo && n <= old->save_cap);
        memcpy(old->save, sp, n);
        old->save_len = (uint32_t)n;
    }
    if (co->state == CO_NEW) {
#ifdef VOW_CO_VALGRIND
        /* The previous occupant's return left this range inaccessible to memcheck. */
        VALGRIND_MAKE_MEM_UNDEFINED(top - 1024, 1024);
#endif
        vow__co_make(&co->ctx, st->lo, st->size, co_main);
    } else {
#ifdef VOW_CO_VALGRIND
        /* Also a little below: swapcontext pushes its return address there. */
        size_t below = co->save_len + 256 <= st->size ? co->save_len + 256 : st->size;
        VALGRIND_MAKE_MEM_UNDEFINED(top - below, below);
#endif
        memcpy(top - co->save_len, co->save, co->save_len);
        co->save_len = 0;
    }
    r->occupant = co;
}

/*
 * The stack pointer of a function called from the caller's body: at or below the
 * caller's own, whatever the compiler did with the caller's frame. A leaf, so
 * barely below.
 */
static __attribute__((noinline)) void *co_stack_mark(void)
{
    return vow__co_sp();
}

/*
 * Makes co's save buffer hold the stack it will leave when it suspends from the
 * calling vow_await. vow_await calls the switch from its own body (co_suspend is
 * always inlined), so the stack the switch leaves is bounded by co_stack_mark
 * called from that body (or from this function's, lower still) plus the switch's
 * own frame: an upper bound without guessing at slack. The buffer holds nothing
 * while co runs, so growing it copies nothing. The loop's hint remembers the need
 * itself, not the rounded capacity, so alike coroutines spawned later fit exactly.
 */
static int co_reserve(struct co *co)
{
    unsigned char *top = (unsigned char *)co->stack->lo + co->stack->size;
    size_t need = (size_t)(top - (unsigned char *)co_stack_mark()) + VOW_CO_JUMP_FRAME;
    if (need <= co->save_cap)
        return 0;
    size_t cap = (need + 511) & ~(size_t)511;
    unsigned char *buf = vow_malloc(cap);
    if (!buf)
        return VOW_ENOMEM;
    struct co_reg *r = co->reg;
    size_t hint = (need + 63) & ~(size_t)63;
    if (hint <= CO_SAVE_HINT_MAX && hint > r->save_hint)
        r->save_hint = hint;
    if (co->save != co->save_inline)
        vow_free(co->save);
    co->save = buf;
    co->save_cap = (uint32_t)cap;
    return 0;
}
#endif

/* Runs co until it suspends or finishes. Called on the resumer's stack. */
static void co_resume(struct co *co)
{
#ifdef VOW_CO_HAVE_COPY
    if (co->copy && co->reg->occupant != co)
        co_occupy(co);
#endif
    struct co *prev = cur;
    cur = co;
    co->state = CO_RUNNING;
#ifdef VOW_CO_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, co->stack->lo, co->stack->size);
#endif
#ifdef VOW_CO_TSAN
    co->tsan_back = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->tsan_fiber, 0);
#endif
    vow__co_jump(&co->back, &co->ctx, co);
#ifdef VOW_CO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    cur = prev;
    if (co->state == CO_DONE)
        co_finish(co);
}

/* Switches from co back to its resumer; returns when co is resumed again. Inlined,
 * so that co_reserve measured the stack this leaves. */
static inline __attribute__((always_inline)) void co_suspend(struct co *co)
{
    co->state = CO_SUSPENDED;
#ifdef VOW_CO_ASAN
    __sanitizer_start_switch_fiber(&co->fake, co->back_lo, co->back_size);
#endif
#ifdef VOW_CO_TSAN
    __tsan_switch_to_fiber(co->tsan_back, 0);
#endif
    vow__co_jump(&co->ctx, &co->back, NULL);
#ifdef VOW_CO_ASAN
    /* Runs on co's stack again: ASan learns where the new resumer's stack is. */
    __sanitizer_finish_switch_fiber(co->fake, &co->back_lo, &co->back_size);
#endif
}

/*
 * The first frame of every coroutine. The result is settled here, on the coroutine's
 * stack; the stack itself is released by the resumer (co_finish) once we are off it.
 */
static void co_main(void *data)
{
    struct co *co = data;
#ifdef VOW_CO_ASAN
    __sanitizer_finish_switch_fiber(NULL, &co->back_lo, &co->back_size);
#endif
    vow_ret r = co->fn(co->arg);
    int rc = vow_settle(co->result, r);
    /* vow_pass(), a NULL or foreign vow to follow, or no memory to adopt: the vow
     * must still settle, or its holders would wait forever. */
    if (rc < 0 && rc != VOW_ESETTLED)
        vow_reject(co->result, rc, vow_val_none());
    co->state = CO_DONE;
#ifdef VOW_CO_ASAN
    /* NULL: this fiber ends, so ASan may drop its fake stack. */
    __sanitizer_start_switch_fiber(NULL, co->back_lo, co->back_size);
#endif
#ifdef VOW_CO_TSAN
    __tsan_switch_to_fiber(co->tsan_back, 0);
#endif
    vow__co_jump(&co->ctx, &co->back, NULL);
}

/* Frees a copy-stack coroutine's memory. */
static void co_free(struct co *co)
{
    if (co->save != co->save_inline)
        vow_free(co->save);
    vow_free(co);
}

/* co finished or never started: unlink it and give its stack back. A coroutine with
 * a stack of its own lives on that stack, so everything is read before the stack is
 * released. */
static void co_finish(struct co *co)
{
    struct co_reg *r = co->reg;
    vow *result = co->result;
    struct vow__co_scope *scope = co->scope;
#ifdef VOW_CO_TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    if (co->prev)
        co->prev->next = co->next;
    else
        r->live = co->next;
    if (co->next)
        co->next->prev = co->prev;
    r->n_live--;
    if (co->copy) {
        if (r->occupant == co)
            r->occupant = NULL;
        co_free(co);
    } else {
        vow__co_stack_put(&r->pool, co->stack);
    }
    vow_debug_hold(result, -1);
    /* Only now has the coroutine finished, as scope joins count it. */
    if (scope)
        vow__scope_returned(scope, result);
    vow_unref(result);
    reg_maybe_release(r);
}

/* ------------------------------------------------------------ microtasks */

static void co_start(vow_loop *l, void *arg)
{
    (void)l;
    co_resume(arg);
}

/* The coroutine's wait was withdrawn (vow__co_interrupt, which set what the
 * vow_await returns): this wakes it with the news. */
static void co_wake(vow_loop *l, void *arg)
{
    (void)l;
    co_resume(arg);
}

static vow_ret await_ok(void *ctx, const vow_val *v)
{
    struct co *co = ctx;
    (void)v;
    co->wake = 0;
    co_resume(co);
    /* Fulfil the wait's own vow: it must not look like an unhandled rejection. */
    return vow_ok(vow_val_none());
}

static vow_ret await_err(void *ctx, int code, const vow_val *detail)
{
    struct co *co = ctx;
    (void)detail;
    co->wake = code;
    co_resume(co);
    return vow_ok(vow_val_none());
}

/*
 * Abort hook of a coroutine's vow. A coroutine that is running or not started yet
 * only learns it through the flag, at its next vow_await. One that waits has its
 * wait withdrawn (the reaction is discarded, the awaited vow is left alone: it may
 * have other consumers) and is woken from a microtask, never from inside the
 * vow_cancel call. If even that microtask cannot be queued, the wait stays and the
 * coroutine learns of the cancellation when the awaited vow settles.
 */
static void co_on_cancel(void *ctx, vow *p)
{
    struct co *co = ctx;
    (void)p;
    co->canceled = 1;
    /* With scopes, a shield may cover the wait: scope.c decides. */
    if (co->scope)
        vow__scope_on_cancel(co->scope);
    else
        vow__co_interrupt(co, VOW_ECANCELED);
}

void vow__co_interrupt(struct co *co, int code)
{
    if (co->state != CO_SUSPENDED || !co->await_d)
        return;
    if (vow_loop_queue_microtask(co->loop, co_wake, co) < 0)
        return;
    vow *d = co->await_d;
    co->await_d = NULL;
    co->wake = code;
    vow_cancel(d);
}

/*
 * What a vow_await of p (NULL for a sleep or yield) must return at once instead of
 * suspending: VOW_ECANCELED once the coroutine's vow was cancelled or, for a
 * coroutine with scopes, what scope.c finds (a scope around the call cancelled or
 * past its deadline, unless a shield is in between). 0: go ahead.
 */
static inline int co_blocked(struct co *co, const vow *p)
{
    if (co->scope)
        return vow__scope_before_await(co->scope, p);
    return co->canceled ? VOW_ECANCELED : 0;
}

/* ------------------------------------------------------------------- API */

/* A coroutine of r on a stack of its own: it lives at the stack's top. */
static struct co *co_new_separate(struct co_reg *r, size_t size)
{
    struct vow__co_stack *st;
    if (vow__co_stack_get(&r->pool, size, &st) < 0)
        return NULL;
    uintptr_t top = (uintptr_t)st->lo + st->size - st->color;
    struct co *co = (struct co *)((top - sizeof(struct co)) & ~(uintptr_t)63);
    memset(co, 0, sizeof(*co));
    co->stack = st;
    vow__co_make(&co->ctx, st->lo, (size_t)((uintptr_t)co - (uintptr_t)st->lo), co_main);
    return co;
}

#ifdef VOW_CO_HAVE_COPY
/* A copy-stack coroutine of r: on the heap, its context made when it first occupies
 * the shared stack. The shared stack is taken from the pool with the first one. */
static struct co *co_new_copy(struct co_reg *r)
{
    if (!r->shared && vow__co_stack_get(&r->pool, VOW_CO_COPY_STACK_SIZE, &r->shared) < 0)
        return NULL;
    size_t first = r->save_hint > CO_SAVE_INLINE ? r->save_hint : CO_SAVE_INLINE;
    struct co *co = vow_malloc(sizeof(*co) + first);
    if (!co)
        return NULL;
    memset(co, 0, sizeof(*co));
    co->copy = 1;
    co->stack = r->shared;
    co->save = co->save_inline;
    co->save_cap = (uint32_t)first;
    return co;
}
#endif

vow *vow_co_spawn(vow_loop *l, vow_co_fn fn, void *arg, const vow_co_opts *opts)
{
    if (!l)
        return NULL;
    size_t want = opts ? opts->stack_size : 0;
    unsigned flags = opts ? opts->flags : 0;
    size_t size = vow__co_stack_round(want);
    if (!fn || size == 0 || (flags & ~VOW_CO_COPY_STACK) != 0 ||
        ((flags & VOW_CO_COPY_STACK) && want > VOW_CO_COPY_STACK_SIZE))
        return vow_rejected(l, VOW_EINVAL, vow_val_none());
    struct co_reg *r = reg_get(l);
    if (!r)
        return NULL;
    struct co *co;
#ifdef VOW_CO_HAVE_COPY
    if (flags & VOW_CO_COPY_STACK)
        co = co_new_copy(r);
    else
#endif
        co = co_new_separate(r, size);
    if (!co)
        goto fail_co;
    vow *p = vow_pending(l);
    if (!p)
        goto fail_vow;
    co->reg = r;
    co->loop = l;
    co->result = p;
    co->fn = fn;
    co->arg = arg;
    co->state = CO_NEW;

#ifdef VOW_CO_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    if (vow_on_cancel(p, co_on_cancel, co) < 0)
        goto fail_hook;
    if (vow_loop_queue_microtask(l, co_start, co) < 0)
        goto fail_task;
    co->next = r->live;
    if (r->live)
        r->live->prev = co;
    r->live = co;
    r->n_live++;
    /* The coroutine's reference is lent out borrowed by vow_co_self(): debug builds
     * catch an unref of it by code that holds none of its own. */
    vow_debug_hold(p, 1);
    return vow_ref(p);

fail_task:
    /* Dropping the pending vow runs the hook: it must find a coroutine that will
     * never run. */
    co->state = CO_DONE;
fail_hook:
#ifdef VOW_CO_TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    vow_unref(p);
fail_vow:
    if (co->copy)
        co_free(co);
    else
        vow__co_stack_put(&r->pool, co->stack);
fail_co:
    reg_maybe_release(r);
    return NULL;
}

int vow_await(vow *p)
{
    struct co *co = cur;
    if (!co)
        return VOW_ENOTCORO;
    if (!p)
        return VOW_EINVAL;
    int rc = co_blocked(co, p);
    if (rc)
        return rc;
    if (p == co->result)
        return VOW_ECYCLE;
    if (vow_loop_of(p) != co->loop)
        return VOW_EINVAL;
#ifdef VOW_CO_HAVE_COPY
    if (co->copy && co_reserve(co) < 0)
        return VOW_ENOMEM;
#endif
    vow *d = vow_then_full(vow_ref(p), await_ok, await_err, co, NULL);
    if (!d)
        return VOW_ENOMEM;
    co->await_d = d;
    co_suspend(co);
    co->await_d = NULL;
    vow_unref(d);
    return co->wake;
}

int vow_co_yield(void)
{
    struct co *co = cur;
    if (!co)
        return VOW_ENOTCORO;
    int rc = co_blocked(co, NULL);
    if (rc)
        return rc;
    struct co_reg *r = co->reg;
    if (!r->ready) {
        r->ready = vow_resolved(co->loop, vow_val_none());
        if (!r->ready)
            return VOW_ENOMEM;
    }
    return vow_await(r->ready);
}

int vow_co_sleep(uint64_t ms)
{
    struct co *co = cur;
    if (!co)
        return VOW_ENOTCORO;
    int rc = co_blocked(co, NULL);
    if (rc)
        return rc;
    vow *t = vow_delay(co->loop, ms, vow_val_none());
    if (!t)
        return VOW_ENOMEM;
    rc = vow_await(t);
    if (vow_state(t) == VOW_PENDING)
        vow_cancel(t);
    vow_unref(t);
    return rc;
}

vow *vow_co_self(void)
{
    return cur ? cur->result : NULL;
}

int vow_co_cancel_all(vow_loop *l)
{
    if (!l)
        return VOW_EINVAL;
    struct co_reg *r = reg_find(l);
    if (!r)
        return 0;
    /* Cancelling only flags a coroutine or queues its wake-up, so none finishes (and
     * the list cannot change) during this walk. */
    int n = 0;
    for (struct co *co = r->live; co; co = co->next) {
        if (vow_cancel(co->result) == 0)
            n++;
    }
    return n;
}

size_t vow_co_live(const vow_loop *l)
{
    struct co_reg *r = l ? reg_find(l) : NULL;
    return r ? r->n_live : 0;
}

size_t vow_co_pooled(const vow_loop *l)
{
    struct co_reg *r = l ? reg_find(l) : NULL;
    return r ? r->pool.cached : 0;
}

const char *vow_co_switch_name(void)
{
    return vow__co_switch_kind();
}

/* ------------------------------------------------- the seam for scope.c */

struct co *vow__co_current(void)
{
    return cur;
}

/* vow_co_spawn puts a new coroutine at the head of its loop's live list. */
struct co *vow__co_newest(const vow_loop *l)
{
    struct co_reg *r = reg_find(l);
    return r ? r->live : NULL;
}

struct co *vow__co_find(const vow_loop *l, const vow *result)
{
    struct co_reg *r = reg_find(l);
    for (struct co *co = r ? r->live : NULL; co; co = co->next)
        if (co->result == result)
            return co;
    return NULL;
}

vow *vow__co_result(const struct co *co)
{
    return co->result;
}

vow_loop *vow__co_loop(const struct co *co)
{
    return co->loop;
}

int vow__co_canceled(const struct co *co)
{
    return co->canceled;
}

struct vow__co_scope *vow__co_scope(const struct co *co)
{
    return co->scope;
}

void vow__co_scope_set(struct co *co, struct vow__co_scope *s)
{
    co->scope = s;
}

/* ----------------------------------------------- the seam for inspect.c */

struct co *vow__co_next(const struct co *co)
{
    return co->next;
}

struct co *vow__co_prev(const struct co *co)
{
    return co->prev;
}

vow *vow__co_wait(const struct co *co)
{
    return co->state == CO_SUSPENDED ? co->await_d : NULL;
}

const char *vow__co_state_name(const struct co *co)
{
    static const char *const names[] = { "new", "running", "suspended", "done" };
    return names[co->state];
}
