/* SPDX-License-Identifier: MIT */
/*
 * A vow's memory: a then's derived vow and its reaction are one slab object, and
 * either half may end first in the user's eyes (the vow held after its handler ran;
 * the reaction discarded or cancelled while the vow is held); the pending-only and
 * settled-only fields of a vow share words, so a then whose vow the user settled
 * first and reported unhandled still runs cleanly; the warm reserve keeps a burst's
 * slab chunks for the next one (bounded), and vow_loop_trim gives it back.
 * White-box: reads the reserve's size and drives a slab directly.
 */
#include "testutil.h"
#include "vow_int.h"

size_t vow__live_vows(vow_loop *l);
size_t vow__reserve_bytes(vow_loop *l);
int vow__slab_quarantined(void);

/* What the handlers and ctx_drops of a test did. */
struct count {
    int runs;  /* handlers run */
    int drops; /* ctx_drops run */
};

static vow_ret add1(void *ctx, const vow_val *v)
{
    struct count *c = ctx;
    if (c)
        c->runs++;
    return vow_ok(vow_val_num(v->num + 1));
}

static vow_ret never_err(void *ctx, int code, const vow_val *d)
{
    (void)ctx;
    (void)d;
    return vow_fail(code, vow_val_none());
}

static void count_drop(void *ctx)
{
    ((struct count *)ctx)->drops++;
}

/* The user holds a then's vow long after its handler ran; nothing else does. */
static void vow_outlives_its_reaction(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    struct count n = {0, 0};
    vow *d1 = vow_then(vow_resolved(l, vow_val_num(1)), add1, NULL, &n);
    vow *d2 = vow_then_full(vow_resolved(l, vow_val_num(10)), add1, never_err, &n, count_drop);
    vow *d3 = vow_catch(vow_rejected(l, VOW_EUSER, vow_val_none()), never_err, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(n.runs, 2);
    assert_int_equal(n.drops, 1);
    /* Only the three vows are left: the sources and the reactions are gone. */
    assert_int_equal(vow__live_vows(l), 3);
    /* Thens made and run meanwhile leave the held vows intact. */
    vow *more[64];
    for (int i = 0; i < 64; i++)
        more[i] = vow_then(vow_resolved(l, vow_val_num(i)), add1, NULL, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(vow_value(more[i])->num, i + 1);
        vow_unref(more[i]);
    }
    assert_int_equal(vow_state(d1), VOW_FULFILLED);
    assert_int_equal(vow_value(d1)->num, 2);
    assert_int_equal(vow_value(d2)->num, 11);
    assert_int_equal(vow_code(d3), VOW_EUSER);
    /* Still usable as a source. */
    vow *e = vow_then(d1, add1, NULL, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(e)->num, 3);
    vow_unref(e);
    vow_unref(d2);
    vow_unref(d3);
    assert_int_equal(vow__live_vows(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
}

/*
 * The reaction ends while its vow stays: discarded unrun (its source became garbage:
 * nothing can settle it) or withdrawn by cancelling the vow. ctx_drop runs once, the
 * vow stays a valid vow, and is freed with its last reference.
 */
static void reaction_ends_first(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    vow_loop_set_unhandled(l, tu_quiet, NULL);
    struct count n = {0, 0};
    /* Discarded: the source's last reference goes, nobody can settle it. */
    vow *d = vow_then_full(vow_pending(l), add1, never_err, &n, count_drop);
    assert_int_equal(n.drops, 1);
    assert_int_equal(vow_state(d), VOW_PENDING);
    assert_int_equal(vow__live_vows(l), 1);
    /* The vow takes part like any other: here it loses a race to a value. */
    vow *in[2] = {d, vow_resolved(l, vow_val_num(7))};
    vow *r = vow_race(l, in, 2);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(r)->num, 7);
    vow_unref(r);
    /* Withdrawn: the user cancels the vow while its source is pending (the small
     * form, then the large one); the source, left with no consumer, is cancelled. */
    vow *src = vow_pending(l);
    vow *c1 = vow_then(vow_ref(src), add1, NULL, &n);
    vow *c2 = vow_then_full(vow_ref(src), add1, NULL, &n, count_drop);
    assert_int_equal(vow_cancel(c1), 0);
    assert_int_equal(vow_state(src), VOW_PENDING); /* c2 still consumes it */
    assert_int_equal(vow_cancel(c2), 0);
    assert_int_equal(n.drops, 2);
    assert_int_equal(vow_code(src), VOW_ECANCELED);
    assert_int_equal(vow_code(c1), VOW_ECANCELED);
    /* Withdrawn after it was queued: it dies in the queue, the vow stays. */
    vow *q = vow_then_full(vow_resolved(l, vow_val_num(1)), add1, NULL, &n, count_drop);
    assert_int_equal(vow_cancel(q), 0);
    assert_int_equal(n.drops, 3);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_code(q), VOW_ECANCELED);
    assert_int_equal(n.runs, 0);
    vow_unref(src);
    vow_unref(c1);
    vow_unref(c2);
    vow_unref(q);
    assert_int_equal(vow__live_vows(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
}

struct seen {
    vow *unhandled[4]; /* what the hook reported, in order */
    int n;             /* how many */
};

static void note(void *ctx, vow *p, int event)
{
    struct seen *s = ctx;
    if (event == VOW_UNHANDLED && s->n < 4)
        s->unhandled[s->n++] = p;
}

/*
 * The user rejects a then's vow before its handler runs (allowed: it is pending and
 * not locked), nobody handles it: it is reported while other rejections are listed
 * with it (its list link is the word its producers use while pending). The handler
 * runs later and its result is dropped; nothing reads the list link as a producer.
 */
static void settled_first_then_listed(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    struct seen s = {{NULL}, 0};
    vow_loop_set_unhandled(l, note, &s);
    struct count n = {0, 0};
    vow *src = vow_pending(l);
    vow *d = vow_then(vow_ref(src), add1, NULL, &n);
    vow *d2 = vow_then_full(vow_ref(src), add1, never_err, &n, NULL);
    vow *other = vow_rejected(l, VOW_EINVAL, vow_val_none());
    assert_int_equal(vow_reject(d, VOW_EUSER, vow_val_none()), 0);
    assert_int_equal(vow_reject(d2, VOW_EEXIST, vow_val_none()), 0);
    assert_int_equal(vow_resolve(src, vow_val_num(1)), 0);
    /* One turn: the handlers run in the same checkpoint as the report. */
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(n.runs, 2);
    assert_int_equal(s.n, 3);
    assert_ptr_equal(s.unhandled[0], other);
    assert_ptr_equal(s.unhandled[1], d);
    assert_ptr_equal(s.unhandled[2], d2);
    assert_int_equal(vow_code(d), VOW_EUSER);
    assert_int_equal(vow_code(d2), VOW_EEXIST);
    /* A late handler on a reported vow, and a cancel of a settled one, still work. */
    vow *h = vow_catch(vow_ref(d), never_err, NULL);
    assert_int_equal(vow_cancel(d2), VOW_ESETTLED);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_code(h), VOW_EUSER);
    vow_unref(h);
    vow_unref(d);
    vow_unref(d2);
    vow_unref(other);
    vow_unref(src);
    assert_int_equal(vow_loop_close(l), 0);
}

/* A chain of n thens from a resolved vow, run and checked, then dropped. */
static void burst(vow_loop *l, long n)
{
    vow *p = vow_resolved(l, vow_val_num(0));
    for (long i = 0; i < n; i++)
        p = vow_then(p, add1, NULL, NULL);
    assert_non_null(p);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(p)->num, n);
    vow_unref(p);
}

/*
 * A second burst like the first allocates nothing: the first one's chunks waited in
 * the reserve (or, in builds that quarantine freed objects, in the slabs). Trimming
 * gives the reserve back, and the next burst allocates its chunks again.
 */
static void reserve_serves_the_next_burst(void **state)
{
    (void)state;
    enum { N = 60000 }; /* about 5 MiB of fused thens: several chunks */
    vow_loop *l = vow_loop_new();
    long live0 = tu_live_allocations();
    burst(l, N);
    assert_int_equal(vow__live_vows(l), 0);
    long kept = tu_live_allocations() - live0;
    assert_true(kept > 2);
    size_t bytes = vow__reserve_bytes(l);
    /* Builds that quarantine freed objects keep the chunks in the slabs instead. */
    int quarantined = vow__slab_quarantined();
    if (quarantined) {
        assert_int_equal(bytes, 0);
    } else {
        assert_true(bytes >= (size_t)N * vow__then_size[0]);
        assert_true(bytes <= VOW__SLAB_RESERVE_MAX);
    }
    long count0 = tu_alloc_count();
    burst(l, N);
    if (quarantined) {
        /* Quarantined objects are not reusable yet: a chunk more may be needed. */
        assert_true(tu_alloc_count() - count0 <= 1);
    } else {
        assert_int_equal(tu_alloc_count() - count0, 0);
        assert_int_equal(tu_live_allocations() - live0, kept);
    }

    assert_int_equal(vow_loop_trim(l), 0);
    assert_int_equal(vow__reserve_bytes(l), 0);
    if (!quarantined) {
        /* Every chunk was idle: all of them went back. */
        assert_true(tu_live_allocations() - live0 <= 1); /* the per-loop state */
        count0 = tu_alloc_count();
        burst(l, N);
        assert_true(tu_alloc_count() - count0 > 2);
    }
    assert_int_equal(vow_loop_trim(l), 0);
    assert_int_equal(vow_loop_close(l), 0);
}

/* Chunks in use stay; trim on a loop that never made a vow, or on NULL. */
static void trim_keeps_what_is_in_use(void **state)
{
    (void)state;
    assert_int_equal(vow_loop_trim(NULL), VOW_EINVAL);
    vow_loop *l = vow_loop_new();
    assert_int_equal(vow_loop_trim(l), 0);
    vow *keep = vow_resolved(l, vow_val_num(5));
    burst(l, 20000);
    assert_int_equal(vow_loop_trim(l), 0);
    assert_int_equal(vow__reserve_bytes(l), 0);
    vow *d = vow_then(keep, add1, NULL, NULL);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(vow_value(d)->num, 6);
    vow_unref(d);
    assert_int_equal(vow_loop_close(l), 0);
}

/*
 * The bound, on a slab driven directly (8 KiB objects: 64 MiB of chunks is only 8,192
 * objects, and untouched): at a reset the reserve takes chunks up to
 * VOW__SLAB_RESERVE_MAX and the rest go back; the slab then takes its chunks from the
 * reserve, the most recently used first.
 */
static void reserve_is_bounded(void **state)
{
    (void)state;
    struct vow__slab_reserve r = {0};
    struct vow__slab s;
    vow__slab_init(&s, 8192, &r);
    long live0 = tu_live_allocations();
    size_t n = (VOW__SLAB_RESERVE_MAX + VOW__SLAB_RESERVE_MAX / 4) / 8192;
    for (size_t i = 0; i < n; i++)
        assert_non_null(vow__slab_get(&s));
    long chunks = tu_live_allocations() - live0;
    vow__slab_reset(&s);
    assert_true(r.bytes > VOW__SLAB_RESERVE_MAX - 2u * 1024 * 1024);
    assert_true(r.bytes <= VOW__SLAB_RESERVE_MAX);
    long kept = tu_live_allocations() - live0;
    assert_true(kept < chunks);
    /* The newest chunks, all of the largest size, kept by the slab. */
    assert_int_equal((size_t)kept * 2u * 1024 * 1024, r.bytes);
    assert_non_null(s.idle);
    assert_null(s.chunks);
    /* Taken back: no allocation until the reserve is used up. */
    long count0 = tu_alloc_count();
    char *p = vow__slab_get(&s);
    assert_non_null(p);
    assert_int_equal(tu_alloc_count(), count0);
    assert_true(r.bytes <= VOW__SLAB_RESERVE_MAX - 2u * 1024 * 1024);
    size_t idle = r.bytes;
    assert_int_equal(vow__slab_trim(&s), idle);
    assert_int_equal(r.bytes, 0);
    assert_null(s.idle);
    assert_int_equal(tu_live_allocations() - live0, 1); /* the chunk in use */
    vow__slab_fini(&s);
    assert_int_equal(tu_live_allocations(), live0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vow_outlives_its_reaction),
        cmocka_unit_test(reaction_ends_first),
        cmocka_unit_test(settled_first_then_listed),
        cmocka_unit_test(reserve_serves_the_next_burst),
        cmocka_unit_test(trim_keeps_what_is_in_use),
        cmocka_unit_test(reserve_is_bounded),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    assert_int_equal(tu_live_allocations(), 0);
    return rc;
}
