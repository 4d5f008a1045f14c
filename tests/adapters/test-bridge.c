/* SPDX-License-Identifier: MIT */
/*
 * Callback bridges: vow_notify, the wrap-a-callback-API pattern (synchronous failure,
 * completion, cancellation with a late foreign callback) and the embedding registry.
 */
#include "testutil.h"

#include "vow/bridge.h"

/* ------------------------------------------------------------------- vow_notify */

struct seen {
    int calls; /* how often the callback ran */
    int code;  /* its code */
    int64_t n; /* value->num */
};

static void record(void *user_data, int code, const vow_val *value)
{
    struct seen *s = user_data;
    s->calls++;
    s->code = code;
    s->n = value->num;
}

static void test_notify_fulfil_reject(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    struct seen a = { 0 }, b = { 0 }, c = { 0 };
    vow *p = vow_pending(l);
    assert_int_equal(vow_notify(vow_ref(p), record, &a), 0);
    assert_int_equal(vow_notify(vow_rejected(l, -ENOENT, vow_val_num(5)), record, &b), 0);
    assert_int_equal(vow_notify(vow_resolved(l, vow_val_num(9)), record, &c), 0);
    assert_int_equal(vow_resolve(p, vow_val_num(3)), 0);
    /* Never synchronous, even for vows that were settled already. */
    assert_int_equal(a.calls + b.calls + c.calls, 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.code, 0);
    assert_int_equal(a.n, 3);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.code, -ENOENT);
    assert_int_equal(b.n, 5);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.n, 9);
    vow_unref(p);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

static void test_notify_invalid_and_oom(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    struct seen a = { 0 };
    assert_int_equal(vow_notify(NULL, record, &a), VOW_EINVAL);
    assert_int_equal(vow_notify(vow_resolved(l, vow_val_num(1)), NULL, &a), VOW_EINVAL);
    /* Fail each allocation in turn until the call succeeds: the callback never runs
     * after an error, and nothing leaks. */
    for (long k = 1;; k++) {
        vow *p = vow_resolved(l, vow_val_num(2));
        assert_non_null(p);
        tu_fail_nth(k);
        int r = vow_notify(p, record, &a);
        tu_fail_nth(0);
        assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
        if (r == 0) {
            assert_int_equal(a.calls, 1);
            break;
        }
        assert_int_equal(r, VOW_ENOMEM);
        assert_int_equal(a.calls, 0);
    }
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ----------------------------------------- wrapping a callback-style C API into vows */

/*
 * The "foreign" API: fake_op(ms, cb, user_data) completes after ms with a result, or
 * fails synchronously for ms == 0. fake_abort() cannot withdraw a completion: the
 * callback still fires, with -ECANCELED, like uv_cancel'd requests or a remote peer.
 */
typedef void (*fake_cb)(void *user_data, int status, int64_t result);
struct fake_req {
    vow_timer timer; /* drives the completion */
    fake_cb cb;      /* the caller's callback */
    void *user_data; /* its argument */
    int aborted;     /* fake_abort was called */
};

static void fake_fire(vow_timer *t)
{
    struct fake_req *f = t->data;
    f->cb(f->user_data, f->aborted ? -ECANCELED : 0, 77);
    vow_free(f);
}

static int fake_op(vow_loop *l, uint64_t ms, fake_cb cb, void *user_data,
                   struct fake_req **ret)
{
    if (ms == 0)
        return -EINVAL;
    struct fake_req *f = vow_malloc(sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->cb = cb;
    f->user_data = user_data;
    f->aborted = 0;
    vow_timer_init(l, &f->timer, fake_fire);
    f->timer.data = f;
    int r = vow_timer_start(&f->timer, ms, 0);
    if (r < 0) {
        vow_free(f);
        return r;
    }
    *ret = f;
    return 0;
}

static void fake_abort(struct fake_req *f)
{
    f->aborted = 1;
}

/* The pattern (docs/reference/bridge.md): a request owns one reference to the vow and
 * lives until the foreign callback fires, whatever happened to the vow meanwhile. */
struct wrap {
    vow *p;               /* one reference, released by the foreign callback */
    struct fake_req *req; /* the foreign request, for the cancel hook */
};

/* Foreign callbacks that arrived after their vow was already settled. */
static int late_callbacks;

static void wrap_done(void *user_data, int status, int64_t result)
{
    struct wrap *w = user_data;
    int r = status < 0 ? vow_reject(w->p, status, vow_val_none())
                       : vow_resolve(w->p, vow_val_num(result));
    /* After a cancel the vow is already rejected: first settle wins (A+ 2.3.3.3). */
    late_callbacks += r == VOW_ESETTLED;
    assert_true(r == 0 || r == VOW_ESETTLED);
    vow_unref(w->p);
    vow_free(w);
}

static void wrap_cancel(void *ctx, vow *p)
{
    struct wrap *w = ctx;
    (void)p;
    fake_abort(w->req);
}

static vow *op_async(vow_loop *l, uint64_t ms)
{
    vow *p = vow_pending(l);
    if (!p)
        return NULL;
    struct wrap *w = vow_malloc(sizeof(*w));
    if (!w) {
        vow_reject(p, VOW_ENOMEM, vow_val_none());
        return p;
    }
    w->p = vow_ref(p);
    int r = fake_op(l, ms, wrap_done, w, &w->req);
    if (r < 0) {
        /* The call failed, so its callback will never run: the wrapper settles and
         * cleans up here. */
        vow_unref(w->p);
        vow_free(w);
        vow_reject(p, r, vow_val_none());
        return p;
    }
    r = vow_on_cancel(p, wrap_cancel, w);
    assert_int_equal(r, 0);
    return p;
}

static void test_wrap_ok_error_cancel(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new();
    assert_non_null(l);
    struct seen ok = { 0 }, err = { 0 }, can = { 0 };
    assert_int_equal(vow_notify(op_async(l, 2), record, &ok), 0);
    assert_int_equal(vow_notify(op_async(l, 0), record, &err), 0);
    vow *c = op_async(l, 5);
    assert_non_null(c);
    assert_int_equal(vow_cancel(c), 0);
    assert_int_equal(vow_notify(c, record, &can), 0);
    assert_int_equal(vow_loop_run(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.code, 0);
    assert_int_equal(ok.n, 77);
    assert_int_equal(err.calls, 1);
    assert_int_equal(err.code, -EINVAL);
    /* Cancelled at once; the foreign completion came later and changed nothing. */
    assert_int_equal(can.calls, 1);
    assert_int_equal(can.code, VOW_ECANCELED);
    assert_int_equal(late_callbacks, 1);
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

/* ------------------------------------------------------------------- registry */

static void test_embed_registry(void **state)
{
    (void)state;
    vow_loop *l = vow_loop_new(), *m = vow_loop_new();
    assert_non_null(l);
    assert_non_null(m);
    int x = 0, y = 0;
    assert_int_equal(vow_embed_claim(NULL, "a", &x), VOW_EINVAL);
    assert_int_equal(vow_embed_claim(l, NULL, &x), VOW_EINVAL);
    assert_int_equal(vow_embed_claim(l, "a", &x), 0);
    assert_int_equal(vow_embed_claim(l, "a", &y), VOW_EBUSY);
    assert_int_equal(vow_embed_claim(l, "b", &y), VOW_EBUSY);
    assert_int_equal(vow_embed_claim(m, "b", &y), 0);
    assert_ptr_equal(vow_embed_state(l, "a"), &x);
    assert_null(vow_embed_state(l, "b"));
    assert_ptr_equal(vow_embed_state(m, "b"), &y);
    assert_int_equal(vow_embed_release(l, "b"), VOW_EINVAL);
    assert_int_equal(vow_embed_release(l, "a"), 0);
    assert_int_equal(vow_embed_release(l, "a"), VOW_EINVAL);
    assert_null(vow_embed_state(l, "a"));
    assert_int_equal(vow_embed_claim(l, "b", &x), 0);
    assert_int_equal(vow_embed_release(l, "b"), 0);
    assert_int_equal(vow_embed_release(m, "b"), 0);
    tu_fail_nth(1);
    assert_int_equal(vow_embed_claim(l, "a", &x), VOW_ENOMEM);
    tu_fail_nth(0);
    assert_null(vow_embed_state(l, "a"));
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(vow_loop_close(m), 0);
    assert_int_equal(tu_live_allocations(), 0);
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_fulfil_reject),
        cmocka_unit_test(test_notify_invalid_and_oom),
        cmocka_unit_test(test_wrap_ok_error_cancel),
        cmocka_unit_test(test_embed_registry),
    };
    return cmocka_run_group_tests_name("bridge", tests, NULL, NULL);
}
