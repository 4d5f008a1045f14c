/* SPDX-License-Identifier: MIT */
/*
 * Coroutines on a vow_loop, built only on the public vow.h: a coroutine is resumed
 * from microtasks (its start, the handler its vow_await attached, a cancellation
 * wake-up) and suspends back into whoever resumed it. Per-loop state lives in a
 * thread-local registry keyed by the loop, since a loop belongs to one thread; it
 * is freed when the loop's last coroutine finishes.
 */
#include "arena.h"
#include "check.h"
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

/*
 * A coroutine. One with a stack of its own lives at the top of that stack, so
 * spawning it allocates nothing but its vow. A copy-stack one lives in its loop's
 * arena, as does the buffer its stack is kept in while it is evicted. What a parked
 * copy-stack coroutine costs is this struct and that buffer, so the struct stays
 * small: the resumer's context is the registry's (resumes of one loop never nest).
 */
struct co {
    vow_waiter wait;             /* its start, each vow_await, a cancellation wake-up */
    vow_abort abort;             /* on result while it is pending: cancellation reaches us */
    struct vow__co_ctx ctx;      /* the coroutine's context while it is not running */
    struct co_reg *reg;          /* its loop's registry */
    vow *result;                 /* its vow: one reference until it finishes */
    union {
        struct {                 /* until it starts: */
            vow_co_fn fn;        /* the body */
            void *arg;           /* for fn */
        };
        struct {                 /* copy mode, once started: */
            uint32_t save_cap;   /* bytes save holds (an arena size) */
            uint32_t save_len;   /* bytes of stack in save while evicted */
        };
    };
    union {
        struct vow__co_stack *stack; /* separate: where it runs (and this struct is) */
        unsigned char *save;         /* copy mode: its stack while evicted, or NULL */
    };
    struct co *prev, *next;      /* reg->live */
    int wake;                    /* what the pending vow_await returns */
    uint8_t state;               /* enum co_state */
    uint8_t canceled;            /* result was cancelled: every vow_await fails at once */
    uint8_t copy;                /* runs on the loop's shared stack (VOW_CO_COPY_STACK) */
    uint8_t interrupted;         /* vow__co_interrupt set wake: the wait's outcome is that */
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
};

/* The adapter's state for one loop. */
struct co_reg {
    struct co_reg *next;      /* the thread's registries */
    vow_loop *loop;           /* key */
    struct vow__co_pool pool; /* stacks */
    struct co *live;          /* coroutines not finished, newest first */
    size_t n_live;            /* length of live */
    vow *ready;               /* a fulfilled vow: starts, wake-ups and vow_co_yield wait on it */
    struct vow__co_ctx back;  /* the resumer's context while one of ours runs */
    struct vow__co_stack *shared; /* copy-stack coroutines' stack, from pool, or NULL */
    struct co *occupant;      /* the copy-stack coroutine whose frames are on shared */
    struct vow__co_arena arena; /* copy-stack coroutines and their save buffers */
#ifdef VOW_DEBUG
    int hidden;               /* shared is hidden (check.h): its check slot, or -1 */
#endif
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
#ifdef VOW_DEBUG
    r->hidden = -1;
#endif
    r->ready = vow_resolved(l, vow_val_none());
    if (!r->ready) {
        vow_free(r);
        return NULL;
    }
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
    if (r->shared) {
#ifdef VOW_DEBUG
        vow__co_check_show(r->shared->lo, r->shared->size, &r->hidden);
#endif
        vow__co_stack_put(&r->pool, r->shared);
    }
    vow__co_pool_fini(&r->pool);
    vow__co_arena_fini(&r->arena);
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
#ifdef VOW_DEBUG
    vow__co_check_show(st->lo, st->size, &r->hidden);
#endif
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
 * The stack pointer of the caller at its call: this function is a leaf that never
 * inlines, so its own stack pointer sits one return address below the caller's.
 * (Were it given a frame, by instrumentation, the answer would only be lower: a
 * larger bound.)
 */
static __attribute__((noinline)) unsigned char *co_stack_mark(void)
{
    return (unsigned char *)vow__co_sp() + sizeof(void *);
}

/*
 * Room for co_park's frame beyond vow_await's: vow_await reaches co_park by a tail
 * call (its own frame is gone by then), and co_park's frame is a return address and
 * alignment; without optimisation, or instrumented, it is a call and a few words.
 * Generous, since co_fit gives back what was not used.
 */
#define CO_PARK_SLACK ((size_t)128)

/*
 * Makes co's save buffer hold the stack it leaves when it suspends: everything above
 * mark (vow_await's stack pointer) plus co_park's frame and the switch's own. An
 * upper bound without guessing at the compiler's frames but co_park's, which is
 * tiny; co_fit trims the buffer to what the suspension really left. The buffer holds
 * nothing while co runs, so a new one copies nothing; it comes from the loop's arena
 * in 16-byte classes and is kept for later suspensions until co finishes.
 */
static __attribute__((noinline)) int co_reserve(struct co *co, unsigned char *mark)
{
    struct vow__co_stack *st = co->reg->shared;
    unsigned char *top = (unsigned char *)st->lo + st->size;
    size_t need = (size_t)(top - mark) + CO_PARK_SLACK + VOW_CO_JUMP_FRAME;
    if (need <= co->save_cap)
        return 0;
    unsigned char *buf = vow__co_arena_get(&co->reg->arena, need);
    if (!buf)
        return VOW_ENOMEM;
    if (co->save)
        vow__co_arena_put(&co->reg->arena, co->save, co->save_cap);
    co->save = buf;
    co->save_cap = (uint32_t)vow__co_arena_round(need);
    return 0;
}

/*
 * co just suspended and still occupies the shared stack, so its buffer holds nothing:
 * swap it for one of the exact size class of what the suspension left, if the arena
 * has one without growing. What a parked coroutine costs is then the stack it uses,
 * not the bound it reserved.
 */
static void co_fit(struct co *co)
{
    struct vow__co_stack *st = co->reg->shared;
    size_t n = (size_t)((unsigned char *)st->lo + st->size -
                        (unsigned char *)vow__co_ctx_sp(&co->ctx));
    assert(n <= co->save_cap);
    if (vow__co_arena_round(n) >= co->save_cap)
        return;
    unsigned char *buf = vow__co_arena_take(&co->reg->arena, n);
    if (!buf)
        return;
    vow__co_arena_put(&co->reg->arena, co->save, co->save_cap);
    co->save = buf;
    co->save_cap = (uint32_t)vow__co_arena_round(n);
}

#ifdef VOW_DEBUG
/*
 * The debug check (check.h): co just suspended, so no copy-stack coroutine of its loop
 * runs. It is evicted at once rather than lazily, and the shared stack is hidden
 * until a copy-stack coroutine occupies it again, so a pointer into co's stack used
 * meanwhile faults at the use, with a message, instead of reading another
 * coroutine's frames later.
 */
static void co_hide(struct co_reg *r)
{
    struct vow__co_stack *st = r->shared;
    struct co *old = r->occupant;
    if (old) {
        unsigned char *top = (unsigned char *)st->lo + st->size;
        unsigned char *sp = vow__co_ctx_sp(&old->ctx);
        size_t n = (size_t)(top - sp);
        assert(n <= old->save_cap);
#ifdef VOW_CO_ASAN
        ASAN_UNPOISON_MEMORY_REGION(st->lo, st->size);
#endif
        memcpy(old->save, sp, n);
        old->save_len = n;
        r->occupant = NULL;
    }
    if (r->hidden < 0)
        vow__co_check_hide(st->lo, st->size, &r->hidden);
}
#endif
#endif

/* The stack co runs on. */
static inline struct vow__co_stack *co_stack(const struct co *co)
{
    return co->copy ? co->reg->shared : co->stack;
}

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
    __sanitizer_start_switch_fiber(&fake, co_stack(co)->lo, co_stack(co)->size);
#endif
#ifdef VOW_CO_TSAN
    co->tsan_back = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->tsan_fiber, 0);
#endif
    vow__co_jump(&co->reg->back, &co->ctx, co);
#ifdef VOW_CO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    cur = prev;
    if (co->state == CO_DONE) {
#if defined(VOW_CO_HAVE_COPY) && defined(VOW_DEBUG)
        /* co and, with the last coroutine, the registry are gone after this. */
        struct co_reg *r = co->reg;
        int hide = co->copy && r->n_live > 1;
        co_finish(co);
        if (hide)
            co_hide(r);
#else
        co_finish(co);
#endif
        return;
    }
#ifdef VOW_CO_HAVE_COPY
    if (co->copy) {
        co_fit(co);
#ifdef VOW_DEBUG
        co_hide(co->reg);
#endif
    }
#endif
}

/*
 * Switches from co back to its resumer and returns what vow_await returns once co is
 * resumed. vow_await reaches it by a tail call, and it keeps nothing across the
 * switch (the resumer hands co back as the switch's result), so its frame is only a
 * return address and alignment: a copy-stack coroutine saves that much less.
 */
static __attribute__((noinline)) int co_park(struct co *co)
{
    co->state = CO_SUSPENDED;
#ifdef VOW_CO_ASAN
    __sanitizer_start_switch_fiber(&co->fake, co->back_lo, co->back_size);
#endif
#ifdef VOW_CO_TSAN
    __tsan_switch_to_fiber(co->tsan_back, 0);
#endif
    struct co *self = vow__co_jump(&co->ctx, &co->reg->back, NULL);
#ifdef VOW_CO_ASAN
    /* Runs on co's stack again: ASan learns where the new resumer's stack is. */
    __sanitizer_finish_switch_fiber(self->fake, &self->back_lo, &self->back_size);
#endif
    return self->wake;
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
    /* fn and arg share their place with the save buffer's sizes. */
    vow_co_fn fn = co->fn;
    void *arg = co->arg;
    co->fn = NULL;
    co->arg = NULL;
    vow_ret r = fn(arg);
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
    vow__co_jump(&co->ctx, &co->reg->back, NULL);
}

/* Gives a copy-stack coroutine's memory back to the arena. */
static void co_free(struct co *co)
{
    struct vow__co_arena *a = &co->reg->arena;
    if (co->save)
        vow__co_arena_put(a, co->save, co->save_cap);
    vow__co_arena_put(a, co, sizeof(*co));
}

/* co finished or never started: unlink it and give its stack back. A coroutine with
 * a stack of its own lives on that stack, so everything is read before the stack is
 * released. */
static void co_finish(struct co *co)
{
    struct co_reg *r = co->reg;
    vow *result = co->result;
    struct vow__co_scope *scope = co->scope;
    /* A vow that adopts what the body returned stays pending after we are gone. */
    vow_abort_stop(&co->abort);
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

/* ------------------------------------------------------------ wake-ups */

/*
 * Everything that runs a coroutine comes through its waiter, from the microtask
 * queue: its start and every wake-up wait on the registry's fulfilled vow, each
 * vow_await on the vow awaited. Once the coroutine's vow is cancelled, the vow_await
 * it is in returns VOW_ECANCELED, whatever the awaited vow did. A vow collected
 * under the wait (its holder let it go while the coroutine waited: vow_await only
 * borrows it) never settles: that wait fails with VOW_ECANCELED too.
 */
static void co_waited(vow_waiter *w, vow *p)
{
    struct co *co = (struct co *)(void *)((char *)w - offsetof(struct co, wait));
    if (co->state == CO_SUSPENDED) {
        if (co->interrupted) {
            co->interrupted = 0; /* wake was set with the interruption */
        } else {
            int st = vow_state(p);
            if (st == VOW_PENDING)
                co->wake = VOW_ECANCELED;
            else
                co->wake = st == VOW_FULFILLED ? 0 : vow_code(p);
        }
    }
    co_resume(co);
}

/*
 * Abort hook of a coroutine's vow. A coroutine that is running or not started yet
 * only learns it through the flag, at its next vow_await. One that waits has its
 * wait withdrawn (the awaited vow loses this consumer and is cancelled if it has no
 * other) and is woken from a microtask, never from inside the vow_cancel call: its
 * waiter moves to the registry's fulfilled vow. If the awaited vow had already
 * settled, the wake-up is queued anyway and sees the flag.
 */
static void co_on_cancel(vow_abort *a, vow *p)
{
    struct co *co = (struct co *)(void *)((char *)a - offsetof(struct co, abort));
    (void)p;
    co->canceled = 1;
    /* With scopes, a shield may cover the wait: scope.c decides. */
    if (co->scope)
        vow__scope_on_cancel(co->scope);
    else
        vow__co_interrupt(co, VOW_ECANCELED);
}

/*
 * The wait is withdrawn (the awaited vow loses this consumer and is cancelled if it
 * has no other) and the waiter moves to the registry's fulfilled vow, which wakes the
 * coroutine from a microtask with code. If the awaited vow had already settled, the
 * waiter's call is queued anyway and returns code too.
 */
void vow__co_interrupt(struct co *co, int code)
{
    if (co->state != CO_SUSPENDED || co->interrupted)
        return;
    co->interrupted = 1;
    co->wake = code;
    if (vow_waiter_stop(&co->wait) == 0)
        vow_waiter_start(&co->wait, co->reg->ready);
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
    struct co *co = vow__co_arena_get(&r->arena, sizeof(*co));
    if (!co)
        return NULL;
    memset(co, 0, sizeof(*co));
    co->reg = r;
    co->copy = 1;
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
    co->result = p;
    co->fn = fn;
    co->arg = arg;
    co->state = CO_NEW;
    vow_waiter_init(&co->wait, co_waited);
    vow_abort_init(&co->abort, co_on_cancel);

#ifdef VOW_CO_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    vow_abort_start(&co->abort, p);
    /* Its start: a wait on a fulfilled vow, which allocates nothing and cannot fail. */
    vow_waiter_start(&co->wait, r->ready);
    co->next = r->live;
    if (r->live)
        r->live->prev = co;
    r->live = co;
    r->n_live++;
    /* The coroutine's reference is lent out borrowed by vow_co_self(): debug builds
     * catch an unref of it by code that holds none of its own. */
    vow_debug_hold(p, 1);
    return vow_ref(p);

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
    if (vow_loop_of(p) != co->reg->loop)
        return VOW_EINVAL;
#ifdef VOW_CO_HAVE_COPY
    if (co->copy && co_reserve(co, co_stack_mark()) < 0)
        return VOW_ENOMEM;
#endif
    /* Idle while the coroutine runs, so this cannot fail. */
    vow_waiter_start(&co->wait, p);
    return co_park(co);
}

int vow_co_yield(void)
{
    struct co *co = cur;
    if (!co)
        return VOW_ENOTCORO;
    int rc = co_blocked(co, NULL);
    if (rc)
        return rc;
    return vow_await(co->reg->ready);
}

int vow_co_sleep(uint64_t ms)
{
    struct co *co = cur;
    if (!co)
        return VOW_ENOTCORO;
    int rc = co_blocked(co, NULL);
    if (rc)
        return rc;
    vow *t = vow_delay(co->reg->loop, ms, vow_val_none());
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
    return co->reg->loop;
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
    return co->state == CO_SUSPENDED ? vow_waiter_vow(&co->wait) : NULL;
}

const char *vow__co_state_name(const struct co *co)
{
    static const char *const names[] = { "new", "running", "suspended", "done" };
    return names[co->state];
}
