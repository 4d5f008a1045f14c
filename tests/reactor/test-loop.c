/* SPDX-License-Identifier: MIT */
/*
 * The run loop: run modes, stop, close while busy, re-entrancy, keepalive, the
 * embedding pair (backend fd and timeout), argument errors, and the microtask queue
 * drained after every callback with the ext hooks called around it.
 */
#include "rt.h"

#include "reactor.h"

#include <poll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

static void count_post(vow_loop *l, void *arg)
{
    (*(int *)arg)++;
}

static void nop_timer(vow_timer *t)
{
}

static void test_empty_modes(void **state)
{
    vow_loop *l = rt_new();
    assert_int_equal(vow_loop_alive(l), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    rt_end(l);
}

static void test_errors(void **state)
{
    vow_loop *l = rt_new();
    vow_timer t;
    vow_io w;
    vow_immediate im;
    assert_int_equal(vow_loop_run(NULL, VOW_RUN_DEFAULT), VOW_EINVAL);
    assert_int_equal(vow_loop_run(l, -1), VOW_EINVAL);
    assert_int_equal(vow_loop_run(l, _VOW_RUN_MAX), VOW_EINVAL);
    assert_int_equal(vow_loop_close(NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_keepalive(l, 2), VOW_EINVAL);
    assert_int_equal(vow_loop_keepalive(l, -1), VOW_EINVAL);
    assert_int_equal(vow_loop_keepalive(NULL, 1), VOW_EINVAL);
    assert_int_equal(vow_loop_backend_fd(NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_backend_timeout(NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_post(NULL, count_post, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_post(l, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_queue_microtask(l, NULL, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_queue_microtask(NULL, count_post, NULL), VOW_EINVAL);
    assert_int_equal(vow_timer_init(NULL, &t, nop_timer), VOW_EINVAL);
    assert_int_equal(vow_timer_init(l, &t, NULL), VOW_EINVAL);
    assert_int_equal(vow_timer_start(NULL, 1, 0), VOW_EINVAL);
    assert_int_equal(vow_io_init(l, &w, -1, NULL), VOW_EINVAL);
    assert_int_equal(vow_immediate_init(l, &im, NULL), VOW_EINVAL);
    assert_int_equal(vow_loop_alive(NULL), 0);
    vow_loop_stop(NULL);
    rt_end(l);
}

struct stopper {
    vow_loop *l; /* loop to stop */
    int count;   /* callbacks so far */
};

static void stop_at_three(vow_timer *t)
{
    struct stopper *s = t->data;
    if (++s->count == 3)
        vow_loop_stop(s->l);
}

/* stop returns after the running callback; the timer stays active (work remains). */
static void test_stop(void **state)
{
    vow_loop *l = rt_new();
    struct stopper s = { l, 0 };
    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, stop_at_three), 0);
    t.data = &s;
    assert_int_equal(vow_timer_start(&t, 0, 1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 1);
    assert_int_equal(s.count, 3);
    /* A stop before run makes the next run return at once, then it is cleared. */
    vow_loop_stop(l);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 1);
    assert_int_equal(s.count, 3);
    assert_int_equal(vow_timer_stop(&t), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    rt_end(l);
}

static void test_close_busy(void **state)
{
    vow_loop *l = rt_new();
    vow_timer t;
    int n = 0;
    assert_int_equal(vow_timer_init(l, &t, nop_timer), 0);
    assert_int_equal(vow_timer_start(&t, 100000, 0), 0);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(vow_timer_stop(&t), 0);
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
    assert_int_equal(vow_loop_post(l, count_post, &n), 0);
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vow_loop_queue_microtask(l, count_post, &n), 0);
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    /* Queued microtasks run at the start of any run, even with nothing else to do. */
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(n, 2);
    rt_end(l);
}

struct reenter {
    vow_loop *l; /* the loop */
    int run_rc;  /* vow_loop_run from inside */
    int close_rc;/* vow_loop_close from inside */
    int in_cb;   /* vow__loop_in_callback seen inside */
    int calls;   /* callbacks */
};

static void reenter_task(vow_loop *l, void *arg)
{
    struct reenter *r = arg;
    assert_int_equal(vow_loop_run(l, VOW_RUN_NOWAIT), VOW_EBUSY);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    r->calls++;
}

static void reenter_timer(vow_timer *t)
{
    struct reenter *r = t->data;
    r->run_rc = vow_loop_run(r->l, VOW_RUN_NOWAIT);
    r->close_rc = vow_loop_close(r->l);
    r->in_cb = vow__loop_in_callback(r->l);
    r->calls++;
    assert_int_equal(vow_loop_queue_microtask(r->l, reenter_task, r), 0);
}

static void test_reentrant(void **state)
{
    vow_loop *l = rt_new();
    struct reenter r = { l, 0, 0, 0, 0 };
    vow_timer t;
    assert_false(vow__loop_in_callback(l));
    assert_int_equal(vow_timer_init(l, &t, reenter_timer), 0);
    t.data = &r;
    assert_int_equal(vow_timer_start(&t, 0, 0), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_int_equal(r.run_rc, VOW_EBUSY);
    assert_int_equal(r.close_rc, VOW_EBUSY);
    assert_true(r.in_cb);
    assert_int_equal(r.calls, 2);
    rt_end(l);
}

static void test_keepalive(void **state)
{
    vow_loop *l = rt_new();
    assert_int_equal(vow_loop_keepalive(l, 1), 1);
    assert_int_equal(vow_loop_keepalive(l, 1), 2);
    assert_int_equal(vow_loop_alive(l), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(vow_loop_keepalive(l, -1), 1);
    assert_int_equal(vow_loop_keepalive(l, -1), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    rt_end(l);
}

static void io_count(vow_io *w, int fd, unsigned events)
{
    char c;
    assert_true(events & VOW_READABLE);
    assert_int_equal(read(fd, &c, 1), 1);
    (*(int *)w->data)++;
}

/*
 * A host loop's view: it sleeps on backend_fd for at most backend_timeout ms, then
 * runs the loop without blocking. Each kind of ready work must wake it.
 */
static void host_wait(vow_loop *l)
{
    int t = vow_loop_backend_timeout(l);
    struct pollfd p = { .fd = vow_loop_backend_fd(l), .events = POLLIN };
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, t), 1);
}

static void test_embedding(void **state)
{
    vow_loop *l = rt_new();
    int n = 0;
    assert_true(vow_loop_backend_fd(l) >= 0);
    assert_int_equal(vow_loop_backend_timeout(l), -1);

    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, nop_timer), 0);
    assert_int_equal(vow_timer_start(&t, 100000, 0), 0);
    int tmo = vow_loop_backend_timeout(l);
    assert_true(tmo > 0 && tmo <= 100000);
    assert_int_equal(vow_timer_stop(&t), 0);

    assert_int_equal(vow_loop_queue_microtask(l, count_post, &n), 0);
    assert_int_equal(vow_loop_backend_timeout(l), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(n, 1);

    /* A post wakes the host through the fd. */
    assert_int_equal(vow_loop_post(l, count_post, &n), 0);
    assert_int_equal(vow_loop_backend_timeout(l), 0);
    host_wait(l);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 0);
    assert_int_equal(n, 2);

    /* A readable watched fd wakes the host. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, sv[0], io_count), 0);
    w.data = &n;
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    host_wait(l);
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(n, 3);
    assert_int_equal(vow_io_stop(&w), 0);
    close(sv[0]);
    close(sv[1]);
    rt_end(l);
}

struct order {
    vow_loop *l;          /* the loop */
    struct rt_trace tr;   /* what ran */
};

static struct order *order_of(void *arg)
{
    return arg;
}

static void mt_second(vow_loop *l, void *arg)
{
    rt_mark(&order_of(arg)->tr, "m2");
}

static void mt_first(vow_loop *l, void *arg)
{
    rt_mark(&order_of(arg)->tr, "m1");
    assert_int_equal(vow_loop_queue_microtask(l, mt_second, arg), 0);
}

static void order_timer(vow_timer *t)
{
    struct order *o = t->data;
    rt_mark(&o->tr, "t");
    assert_int_equal(vow_loop_queue_microtask(o->l, mt_first, o), 0);
}

static void order_imm(vow_immediate *im)
{
    struct order *o = im->data;
    rt_mark(&o->tr, "i");
    assert_int_equal(vow_loop_queue_microtask(o->l, mt_first, o), 0);
}

static void order_post(vow_loop *l, void *arg)
{
    rt_mark(&order_of(arg)->tr, "p");
    assert_int_equal(vow_loop_queue_microtask(l, mt_first, arg), 0);
}

/* Every callback's microtasks, and the ones they queue, run before the next callback. */
static void test_microtask_drain(void **state)
{
    vow_loop *l = rt_new();
    struct order o = { .l = l };
    vow_timer t1, t2;
    vow_immediate i1, i2;
    assert_int_equal(vow_timer_init(l, &t1, order_timer), 0);
    assert_int_equal(vow_timer_init(l, &t2, order_timer), 0);
    t1.data = t2.data = &o;
    assert_int_equal(vow_timer_start(&t1, 0, 0), 0);
    assert_int_equal(vow_timer_start(&t2, 0, 0), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_string_equal(o.tr.buf, "t,m1,m2,t,m1,m2");

    memset(&o.tr, 0, sizeof(o.tr));
    assert_int_equal(vow_immediate_init(l, &i1, order_imm), 0);
    assert_int_equal(vow_immediate_init(l, &i2, order_imm), 0);
    i1.data = i2.data = &o;
    assert_int_equal(vow_immediate_start(&i1), 0);
    assert_int_equal(vow_immediate_start(&i2), 0);
    assert_int_equal(vow_loop_post(l, order_post, &o), 0);
    assert_int_equal(vow_loop_post(l, order_post, &o), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    assert_string_equal(o.tr.buf, "p,m1,m2,p,m1,m2,i,m1,m2,i,m1,m2");
    rt_end(l);
}

/* A fake upper layer on the ext seam: hooks are called as microtask.h promises. */
struct fake_ext {
    int checkpoints; /* checkpoint calls */
    int busy;        /* what busy() answers */
    int finis;       /* fini calls */
    int post_rc;     /* vow_loop_post from inside fini */
    int queue_more;  /* checkpoint queues one more task this many times */
};

static void fake_task(vow_loop *l, void *arg)
{
}

static void fake_checkpoint(vow_loop *l)
{
    struct fake_ext *x = vow__head(l)->ext;
    x->checkpoints++;
    if (x->queue_more > 0) {
        x->queue_more--;
        assert_int_equal(vow_loop_queue_microtask(l, fake_task, NULL), 0);
    }
}

static int fake_busy(vow_loop *l)
{
    return ((struct fake_ext *)vow__head(l)->ext)->busy;
}

static void fake_fini(vow_loop *l)
{
    struct fake_ext *x = vow__head(l)->ext;
    x->finis++;
    x->post_rc = vow_loop_post(l, fake_task, NULL);
}

static const struct vow__ext_ops fake_ops = { fake_checkpoint, fake_busy, fake_fini, NULL,
                                               NULL };

static void test_ext_hooks(void **state)
{
    vow_loop *l = rt_new();
    struct fake_ext x = { 0, 1, 0, 0, 2 };
    vow__head(l)->ext = &x;
    vow__head(l)->ext_ops = &fake_ops;
    vow_timer t;
    assert_int_equal(vow_timer_init(l, &t, nop_timer), 0);
    assert_int_equal(vow_timer_start(&t, 0, 0), 0);
    assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
    /* Run start and the timer callback each end in a checkpoint; the first one
     * queued a task twice, so it repeated twice. */
    assert_int_equal(x.checkpoints, 4);
    assert_int_equal(vow_loop_close(l), VOW_EBUSY);
    assert_int_equal(x.finis, 0);
    x.busy = 0;
    assert_int_equal(vow_loop_close(l), 0);
    assert_int_equal(x.finis, 1);
    assert_int_equal(x.post_rc, VOW_ECLOSED);
    assert_int_equal(tu_live_allocations(), 0);
}

/*
 * A forked child re-creates the loop's kernel state: it sees the work queued before
 * the fork and its own fd readiness, and its changes do not reach the parent's loop.
 */
static void test_after_fork(void **state)
{
    vow_loop *l = rt_new();
    int sv[2], n = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    vow_io w;
    assert_int_equal(vow_io_init(l, &w, sv[0], io_count), 0);
    w.data = &n;
    assert_int_equal(vow_io_start(&w, VOW_READABLE), 0);
    assert_int_equal(vow_loop_post(l, count_post, &n), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = vow__loop_after_fork(l) == 0 && write(sv[1], "x", 1) == 1;
        for (int i = 0; ok && i < 100 && n < 2; i++)
            ok = vow_loop_run(l, VOW_RUN_ONCE) >= 0;
        ok = ok && n == 2 && vow__loop_verify(l) == 0;
        /* Stopping here must not unregister the fd from the parent's backend. */
        vow_io_stop(&w);
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The child ran its copy of the post; the parent's is still queued. */
    assert_int_equal(rt_turn(l, VOW_RUN_NOWAIT), 1);
    assert_int_equal(n, 1);
    assert_int_equal(write(sv[1], "y", 1), 1);
    assert_int_equal(rt_turn(l, VOW_RUN_ONCE), 1);
    assert_int_equal(n, 2);
    assert_int_equal(vow_io_stop(&w), 0);
    close(sv[0]);
    close(sv[1]);
    rt_end(l);
}

static void test_oom(void **state)
{
    for (long k = 1;; k++) {
        tu_fail_nth(k);
        vow_loop *l = vow_loop_new();
        if (!l) {
            assert_int_equal(tu_live_allocations(), 0);
            continue;
        }
        int n = 0;
        int r = vow_loop_post(l, count_post, &n);
        int q = vow_loop_queue_microtask(l, count_post, &n);
        tu_fail_nth(0);
        assert_true(r == 0 || r == VOW_ENOMEM);
        assert_true(q == 0 || q == VOW_ENOMEM);
        assert_int_equal(rt_turn(l, VOW_RUN_DEFAULT), 0);
        assert_int_equal(n, (r == 0) + (q == 0));
        rt_end(l);
        if (r == 0 && q == 0)
            break;
    }
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_modes),   cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stop),          cmocka_unit_test(test_close_busy),
        cmocka_unit_test(test_reentrant),     cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_embedding),     cmocka_unit_test(test_microtask_drain),
        cmocka_unit_test(test_ext_hooks),     cmocka_unit_test(test_after_fork),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
