/* SPDX-License-Identifier: MIT */
/*
 * The cancellation and lifetime bugs of issue 11, one scenario each, from the public
 * API only: cancellation that reaches a coroutine through timeout, race, all and then
 * (also when the user keeps a reference to the input only as a handle); a cancelled
 * coroutine that frees the buffer of a read under a timeout it awaited; a dropped
 * vow_timeout that must release its timer at once; and cancelling a coroutine, which
 * cancels the vow it awaits only when nothing else consumes it. Each case runs in a
 * child process of its own (seams.h), so a use-after-free fails only its case.
 */
#include "seams.h"

#define HOUR ((uint64_t)3600 * 1000)

/* State shared by a case and its coroutines. */
struct st {
    vow_loop *l;        /* the case's loop */
    int unhandled;      /* unhandled-rejection reports, except for expect */
    vow *expect;        /* a rejection the case reads itself (no handler), or NULL */
    int started[4];     /* coroutine i started */
    int done[4];        /* coroutine i finished */
    int rc[4];          /* what coroutine i's vow_await returned */
    vow *awaited;       /* what the awaiting coroutine awaits (its own reference) */
    int fd, peer;       /* a socketpair */
    unsigned char *buf; /* the read's buffer (heap) */
    int hook_runs;      /* abort hook calls */
    int ran;            /* handler calls */
};

static struct st S;

static void count_unhandled(void *ctx, vow *p, int event)
{
    (void)ctx;
    if (event == VOW_UNHANDLED && p != S.expect)
        S.unhandled++;
}

static void begin(void)
{
    memset(&S, 0, sizeof(S));
    S.fd = S.peer = -1;
    S.l = vow_loop_new();
    SEAM_CHECK(S.l != NULL, "vow_loop_new");
    SEAM_CHECK(vow_loop_set_unhandled(S.l, count_unhandled, NULL) == 0, "set_unhandled");
}

/* Runs what is ready, then requires that nothing is left: no timer, fd or coroutine,
 * and that the loop closes without leaks. */
static void end(void)
{
    seam_drain(S.l);
    SEAM_CHECK(vow_co_live(S.l) == 0, "a coroutine is still alive");
    SEAM_CHECK(!vow_loop_alive(S.l), "the loop is still alive (a timer or operation is armed)");
    SEAM_CHECK(vow_loop_close(S.l) == 0, "vow_loop_close");
    SEAM_CHECK(tu_live_allocations() == 0, "allocations are live after close");
    SEAM_CHECK(S.unhandled == 0, "an unhandled rejection was reported");
}

static void hook(void *ctx, vow *p)
{
    (void)ctx;
    (void)p;
    S.hook_runs++;
}

/* Coroutine i: awaits a delay of an hour, records what the await returned. */
static vow_ret sleeper(void *arg)
{
    int i = (int)(intptr_t)arg;
    S.started[i] = 1;
    vow *d = vow_delay(S.l, HOUR, vow_val_none());
    S.rc[i] = d ? vow_await(d) : VOW_ENOMEM;
    vow_unref(d);
    S.done[i] = 1;
    return vow_ok(vow_val_num(i));
}

static vow *spawn_sleeper(int i)
{
    vow *co = vow_co_spawn(S.l, sleeper, (void *)(intptr_t)i, NULL);
    SEAM_CHECK(co != NULL, "vow_co_spawn");
    return co;
}

/* Coroutine i was cancelled at its await and ran to its end. */
static void check_cancelled(int i)
{
    SEAM_CHECK(S.done[i], "the coroutine did not finish: cancellation never reached it");
    SEAM_CHECK(S.rc[i] == VOW_ECANCELED, "the coroutine's vow_await did not return VOW_ECANCELED");
}

/* ------------------------------------------------------------ issue 11, item 2 */

/* vow_timeout(vow_co_spawn(...), 5): the timeout rejects and cancels the coroutine. */
static void co_under_timeout(void *arg)
{
    (void)arg;
    begin();
    vow *t = S.expect = vow_timeout(spawn_sleeper(0), 5);
    seam_wait(S.l, t);
    SEAM_CHECK(vow_code(t) == VOW_ETIMEDOUT, "the timeout fired");
    vow_unref(t);
    S.expect = NULL;
    seam_drain(S.l);
    check_cancelled(0);
    end();
}

/* A coroutine that loses a race is cancelled (the race alone consumes it). */
static void co_loses_race(void *arg)
{
    (void)arg;
    begin();
    vow *ps[2] = {spawn_sleeper(0), vow_delay(S.l, 1, vow_val_num(9))};
    vow *r = vow_race(S.l, ps, 2);
    seam_wait(S.l, r);
    SEAM_CHECK(vow_state(r) == VOW_FULFILLED && vow_value(r)->num == 9, "the delay won");
    vow_unref(r);
    seam_drain(S.l);
    check_cancelled(0);
    end();
}

/* A coroutine that is an input of a cancelled vow_all is cancelled. */
static void co_in_cancelled_all(void *arg)
{
    (void)arg;
    begin();
    vow *ps[2] = {spawn_sleeper(0), spawn_sleeper(1)};
    vow *a = vow_all(S.l, ps, 2);
    seam_drain(S.l);
    SEAM_CHECK(S.started[0] && S.started[1], "the coroutines started");
    SEAM_CHECK(vow_cancel(a) == 0, "vow_cancel");
    vow_unref(a);
    seam_drain(S.l);
    check_cancelled(0);
    check_cancelled(1);
    end();
}

/* A coroutine under a cancelled vow_then is cancelled. */
static vow_ret never(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    S.ran++;
    return vow_ok(vow_val_none());
}

static void co_under_cancelled_then(void *arg)
{
    (void)arg;
    begin();
    vow *d = vow_then(spawn_sleeper(0), never, NULL, NULL);
    seam_drain(S.l);
    SEAM_CHECK(vow_cancel(d) == 0, "vow_cancel");
    vow_unref(d);
    seam_drain(S.l);
    check_cancelled(0);
    SEAM_CHECK(S.ran == 0, "the discarded handler ran");
    end();
}

/* The user keeps vow_ref handles to the coroutines only to cancel them later (vow_all
 * consumes its inputs): references are not consumers, so when all rejects it still
 * cancels the other coroutine, and a race still cancels its losers. */
static vow_ret failer(void *arg)
{
    (void)arg;
    S.started[2] = 1;
    return vow_fail(-EIO, vow_val_none());
}

static void co_handles_do_not_protect(void *arg)
{
    (void)arg;
    begin();
    vow *h[3];
    vow *ps[2];
    ps[0] = h[0] = spawn_sleeper(0);
    ps[1] = h[1] = vow_co_spawn(S.l, failer, NULL, NULL);
    SEAM_CHECK(h[1] != NULL, "vow_co_spawn");
    vow_ref(h[0]);
    vow_ref(h[1]);
    vow *a = S.expect = vow_all(S.l, ps, 2);
    seam_set_phase("waiting for vow_all to reject");
    seam_wait(S.l, a);
    SEAM_CHECK(vow_code(a) == -EIO, "vow_all rejected with the failure");
    vow_unref(a);
    S.expect = NULL;
    seam_drain(S.l);
    check_cancelled(0);

    /* The same through a race that a delay wins. */
    vow *qs[2];
    qs[0] = h[2] = spawn_sleeper(1);
    vow_ref(h[2]);
    qs[1] = vow_delay(S.l, 1, vow_val_none());
    vow *r = vow_race(S.l, qs, 2);
    seam_set_phase("waiting for the race");
    seam_wait(S.l, r);
    vow_unref(r);
    seam_drain(S.l);
    check_cancelled(1);
    for (int i = 0; i < 3; i++)
        vow_unref(h[i]);
    end();
}

/* ------------------------------------------------------------ issue 11, item 3 */

/* The coroutine awaits vow_timeout(vow_read(l, fd, buf, 64), 1000); once cancelled it
 * drops its vow and frees buf, as any coroutine would clean up. */
static vow_ret reader(void *arg)
{
    (void)arg;
    S.started[0] = 1;
    vow *t = vow_timeout(vow_read(S.l, S.fd, S.buf, 64), 1000);
    SEAM_CHECK(t != NULL, "vow_timeout(vow_read)");
    S.rc[0] = vow_await(t);
    vow_unref(t);
    free(S.buf);
    S.buf = NULL;
    S.done[0] = 1;
    return vow_ok(vow_val_none());
}

/* how: 0 vow_cancel on the coroutine's vow, 1 vow_co_cancel_all, 2 a timeout over it */
static void read_under_timeout_case(int how)
{
    begin();
    int fds[2];
    seam_socketpair(fds);
    S.fd = fds[0];
    S.peer = fds[1];
    S.buf = malloc(64);
    SEAM_CHECK(S.buf != NULL, "malloc");
    memset(S.buf, 0xA5, 64);
    vow *co = vow_co_spawn(S.l, reader, NULL, NULL);
    SEAM_CHECK(co != NULL, "vow_co_spawn");
    seam_drain(S.l);
    SEAM_CHECK(S.started[0] && !S.done[0], "the coroutine waits for the read");
    if (how == 0) {
        SEAM_CHECK(vow_cancel(co) == 0, "vow_cancel");
        vow_unref(co);
    } else if (how == 1) {
        vow_unref(co);
        SEAM_CHECK(vow_co_cancel_all(S.l) == 1, "vow_co_cancel_all");
    } else {
        vow *t = S.expect = vow_timeout(co, 1);
        seam_wait(S.l, t);
        SEAM_CHECK(vow_code(t) == VOW_ETIMEDOUT, "the timeout fired");
        vow_unref(t);
        S.expect = NULL;
    }
    seam_drain(S.l);
    check_cancelled(0);
    SEAM_CHECK(S.buf == NULL, "the coroutine freed its buffer");
    /* The peer writes: the withdrawn read must not take the bytes into freed memory. */
    SEAM_CHECK(write(S.peer, "0123456789", 10) == 10, "the peer writes");
    seam_drain(S.l);
    SEAM_CHECK(seam_peek(S.fd) == 10, "the read stayed armed and took the bytes (use after free)");
    close(S.fd);
    close(S.peer);
    end();
}

static void read_under_timeout_cancel(void *arg)
{
    (void)arg;
    read_under_timeout_case(0);
}

static void read_under_timeout_cancel_all(void *arg)
{
    (void)arg;
    read_under_timeout_case(1);
}

static void read_under_timeout_timed_out(void *arg)
{
    (void)arg;
    read_under_timeout_case(2);
}

/* ------------------------------------------------------------ issue 11, item 4 */

/* After a vow_timeout was dropped: its timer is gone at once; no "unhandled
 * rejection" is ever reported for it. When the loop's only timer can be the
 * timeout's (show_report), a loop that is still alive is run until it fires, to show
 * the second symptom: a report for a vow nobody holds. */
static void check_timer_released(int show_report)
{
    seam_drain(S.l);
    if (vow_loop_alive(S.l)) {
        if (show_report) {
            vow_loop_run(S.l, VOW_RUN_DEFAULT);
            SEAM_CHECK(S.unhandled == 0,
                       "the dropped timeout kept its timer and reported an unhandled rejection");
        }
        seam_fail(__FILE__, __LINE__, "the dropped timeout kept its timer (loop alive)");
    }
    end();
}

/* Dropping the only reference to vow_timeout(p, ms) withdraws it and p. */
static void dropped_timeout_case(vow *p, int show_report)
{
    vow *t = vow_timeout(p, 50);
    SEAM_CHECK(t != NULL, "vow_timeout");
    vow_unref(t);
    check_timer_released(show_report);
}

static void dropped_timeout_of_pending(void *arg)
{
    (void)arg;
    begin();
    dropped_timeout_case(vow_pending(S.l), 1);
}

static void dropped_timeout_of_delay(void *arg)
{
    (void)arg;
    begin();
    dropped_timeout_case(vow_delay(S.l, HOUR, vow_val_none()), 0);
}

/* The input is a user vow whose producer keeps a reference (to settle it later) and
 * registered an abort hook: dropping the timeout cancels it all the same. */
static void dropped_timeout_of_produced(void *arg)
{
    (void)arg;
    begin();
    vow *p = vow_pending(S.l);
    SEAM_CHECK(p && vow_on_cancel(p, hook, NULL) == 0, "vow_on_cancel");
    vow *t = vow_timeout(vow_ref(p), 50);
    vow_unref(t);
    SEAM_CHECK(S.hook_runs == 1, "the input was not cancelled when the timeout was dropped");
    SEAM_CHECK(vow_state(p) == VOW_REJECTED && vow_code(p) == VOW_ECANCELED,
               "the input is cancelled");
    vow_unref(p);
    check_timer_released(0);
}

/* ------------------------------------------------------------ issue 11, item 5 */

/* The coroutine awaits S.awaited (it holds its own reference to it). */
static vow_ret awaiter(void *arg)
{
    (void)arg;
    S.started[0] = 1;
    S.rc[0] = vow_await(S.awaited);
    vow_unref(S.awaited);
    S.awaited = NULL;
    S.done[0] = 1;
    return vow_ok(vow_val_none());
}

static vow_ret count_ok(void *ctx, const vow_val *v)
{
    (void)ctx;
    SEAM_CHECK(v->num == 3, "the awaited vow's value");
    S.ran++;
    return vow_ok(vow_val_none());
}

/* Nothing else consumes the awaited vow: cancelling the coroutine cancels it, before
 * vow_cancel returns (its abort hook has run), even though the coroutine and the
 * test both hold references to it. */
static void cancel_co_cancels_awaited(void *arg)
{
    (void)arg;
    begin();
    vow *q = vow_pending(S.l);
    SEAM_CHECK(q && vow_on_cancel(q, hook, NULL) == 0, "vow_on_cancel");
    S.awaited = vow_ref(q);
    vow *co = vow_co_spawn(S.l, awaiter, NULL, NULL);
    SEAM_CHECK(co != NULL, "vow_co_spawn");
    seam_drain(S.l);
    SEAM_CHECK(S.started[0] && !S.done[0], "the coroutine awaits");
    SEAM_CHECK(vow_cancel(co) == 0, "vow_cancel");
    SEAM_CHECK(S.hook_runs == 1, "the awaited vow was not cancelled with the coroutine");
    SEAM_CHECK(vow_state(q) == VOW_REJECTED && vow_code(q) == VOW_ECANCELED,
               "the awaited vow is cancelled");
    vow_unref(co);
    seam_drain(S.l);
    check_cancelled(0);
    vow_unref(q);
    end();
}

/* Another consumer (a then the test holds) waits on the awaited vow: cancelling the
 * coroutine leaves it alone, and it settles that consumer later. */
static void cancel_co_leaves_shared_awaited(void *arg)
{
    (void)arg;
    begin();
    vow *q = vow_pending(S.l);
    SEAM_CHECK(q && vow_on_cancel(q, hook, NULL) == 0, "vow_on_cancel");
    S.awaited = vow_ref(q);
    vow *d = vow_then(vow_ref(q), count_ok, NULL, NULL);
    vow *co = vow_co_spawn(S.l, awaiter, NULL, NULL);
    SEAM_CHECK(co != NULL && d != NULL, "vow_co_spawn, vow_then");
    seam_drain(S.l);
    SEAM_CHECK(vow_cancel(co) == 0, "vow_cancel");
    vow_unref(co);
    seam_drain(S.l);
    check_cancelled(0);
    SEAM_CHECK(S.hook_runs == 0, "the awaited vow was cancelled though a then consumes it");
    SEAM_CHECK(vow_state(q) == VOW_PENDING, "the awaited vow is still pending");
    SEAM_CHECK(vow_resolve(q, vow_val_num(3)) == 0, "vow_resolve");
    seam_wait(S.l, d);
    SEAM_CHECK(S.ran == 1 && vow_state(d) == VOW_FULFILLED, "the other consumer got the value");
    vow_unref(d);
    vow_unref(q);
    end();
}

/* ------------------------------------------------------------------- the table */

#define SEAM_TEST(fn)                                                                              \
    static void test_##fn(void **state)                                                            \
    {                                                                                              \
        (void)state;                                                                               \
        seam_run(fn, NULL);                                                                        \
    }
SEAM_TEST(co_under_timeout)
SEAM_TEST(co_loses_race)
SEAM_TEST(co_in_cancelled_all)
SEAM_TEST(co_under_cancelled_then)
SEAM_TEST(co_handles_do_not_protect)
SEAM_TEST(read_under_timeout_cancel)
SEAM_TEST(read_under_timeout_cancel_all)
SEAM_TEST(read_under_timeout_timed_out)
SEAM_TEST(dropped_timeout_of_pending)
SEAM_TEST(dropped_timeout_of_delay)
SEAM_TEST(dropped_timeout_of_produced)
SEAM_TEST(cancel_co_cancels_awaited)
SEAM_TEST(cancel_co_leaves_shared_awaited)

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_co_under_timeout),
        cmocka_unit_test(test_co_loses_race),
        cmocka_unit_test(test_co_in_cancelled_all),
        cmocka_unit_test(test_co_under_cancelled_then),
        cmocka_unit_test(test_co_handles_do_not_protect),
        cmocka_unit_test(test_read_under_timeout_cancel),
        cmocka_unit_test(test_read_under_timeout_cancel_all),
        cmocka_unit_test(test_read_under_timeout_timed_out),
        cmocka_unit_test(test_dropped_timeout_of_pending),
        cmocka_unit_test(test_dropped_timeout_of_delay),
        cmocka_unit_test(test_dropped_timeout_of_produced),
        cmocka_unit_test(test_cancel_co_cancels_awaited),
        cmocka_unit_test(test_cancel_co_leaves_shared_awaited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
