/* SPDX-License-Identifier: MIT */
/*
 * Reference misuse in a debug build (the library's debug variant, VOW_DEBUG): each
 * misuse runs in a child process, which must abort at the faulty call with a message
 * naming the misuse and the file:line of that call (VOW_TRACK_SITES). The misuses: a
 * vow_unref from code that holds no reference (a double unref, freeing or not, an
 * unref of a borrowed list item or hook argument), every consuming call on a vow
 * already consumed, and any call on a freed vow, even after other vows were made.
 * The correct use of the same calls runs in the parent and must not abort.
 */
#define VOW_TRACK_SITES 1
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vow_ret pass_ok(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return vow_pass();
}

static vow_ret pass_err(void *ctx, int code, const vow_val *detail)
{
    (void)ctx;
    (void)detail;
    return vow_fail(code, vow_val_none());
}

static vow_ret fin(void *ctx)
{
    (void)ctx;
    return vow_pass();
}

/* Marks the faulty call: the child names its line on stderr right before it. */
#define FAULT(call) (fprintf(stderr, "fault at line %d\n", __LINE__), fflush(stderr), call)

/*
 * Runs case fn in a child and requires an abort with the library's message naming
 * call, what, and the file:line of the faulty call (VOW_TRACK_SITES).
 */
static void expect_death(tu_death_fn fn, void *arg, const char *call, const char *what)
{
    const char *want[] = {"libvow: misuse: ", call, what, "fault at line ", NULL};
    const char *out = tu_expect_abort(fn, arg, want);
    int line = atoi(strstr(out, "fault at line ") + strlen("fault at line "));
    char site[64];
    snprintf(site, sizeof(site), "test-death.c:%d: ", line);
    if (!strstr(out, site))
        fail_msg("the message lacks the site \"%s\":\n%s", site, out);
}

/* ---------------------------------------------------------- double unref */

/* The caller gave its only reference back, and unrefs again: the vow is freed. */
static void unref_twice_freed(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow *p = vow_pending(l);
    vow_unref(p);
    FAULT(vow_unref(p));
}

/* The second unref leaves the vow alive (its reaction holds it): still caught. A
 * producer (the delay's timer) keeps it from being garbage once only reacted to. */
static void unref_twice_alive(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow *p = vow_delay(l, 10000, vow_val_none());
    vow *d = vow_then(vow_ref(p), pass_ok, NULL, NULL);
    (void)d;
    vow_unref(p);
    FAULT(vow_unref(p));
}

/* vow_then took the caller's reference: the unref after it is one too many. */
static void unref_after_consume(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow *p = vow_delay(l, 10000, vow_val_none());
    vow *d = vow_then(p, pass_ok, NULL, NULL);
    (void)d;
    FAULT(vow_unref(p));
}

/* A settled vow's forward keeps the owner alive: unrefing the owner twice is caught. */
static void unref_twice_forwarded(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow *p = vow_resolved(l, vow_val_num(1));
    vow *d = vow_then(vow_ref(p), NULL, NULL, NULL);
    vow_loop_run(l, VOW_RUN_DEFAULT); /* d forwards p's outcome: it holds p */
    (void)d;
    vow_unref(p);
    FAULT(vow_unref(p));
}

/* An item of a vow_list is borrowed from the list. */
static void unref_list_item(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow *in[1] = {vow_resolved(l, vow_val_num(1))};
    vow *all = vow_all_settled(l, in, 1);
    vow_loop_run(l, VOW_RUN_DEFAULT);
    const vow_list *list = vow_list_get(vow_value(all));
    FAULT(vow_unref(list->items[0]));
}

/* The unhandled-rejection hook borrows its vow. */
static void unref_in_hook(void *ctx, vow *p, int event)
{
    (void)ctx;
    (void)event;
    FAULT(vow_unref(p));
}

static void unref_hook_argument(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    vow_loop_set_unhandled(l, unref_in_hook, NULL);
    vow_unref(vow_rejected(l, -EIO, vow_val_none()));
    vow_loop_run(l, VOW_RUN_DEFAULT);
}

/* ------------------------------------------------------- consumed twice */

enum consumer {
    C_THEN,
    C_THEN_FULL,
    C_CATCH,
    C_FINALLY,
    C_ALL,
    C_ALL_SETTLED,
    C_RACE,
    C_ANY,
    C_TIMEOUT,
    C_RESOLVE_WITH,
    C_SAME_INPUT_TWICE,
    C_N
};

static const char *const consumer_names[C_N] = {
    "vow_then(",    "vow_then_full(",    "vow_catch(", "vow_finally(",
    "vow_all(",     "vow_all_settled(",  "vow_race(",  "vow_any(",
    "vow_timeout(", "vow_resolve_with(", "vow_all(",
};

/* p was consumed by vow_then; the consumer of case *arg takes it again. */
static void consume_twice(void *arg)
{
    enum consumer c = *(enum consumer *)arg;
    vow_loop *l = vow_loop_new();
    vow *p = vow_delay(l, 10000, vow_val_none());
    vow *target = vow_pending(l);
    vow *first = vow_then(p, pass_ok, NULL, NULL);
    (void)first;
    vow *in[2] = {p, p};
    switch (c) {
    case C_THEN:
        FAULT(vow_then(p, pass_ok, NULL, NULL));
        break;
    case C_THEN_FULL:
        FAULT(vow_then_full(p, pass_ok, pass_err, NULL, NULL));
        break;
    case C_CATCH:
        FAULT(vow_catch(p, pass_err, NULL));
        break;
    case C_FINALLY:
        FAULT(vow_finally(p, fin, NULL));
        break;
    case C_ALL:
        FAULT(vow_all(l, in, 1));
        break;
    case C_ALL_SETTLED:
        FAULT(vow_all_settled(l, in, 1));
        break;
    case C_RACE:
        FAULT(vow_race(l, in, 1));
        break;
    case C_ANY:
        FAULT(vow_any(l, in, 1));
        break;
    case C_TIMEOUT:
        FAULT(vow_timeout(p, 1000));
        break;
    case C_RESOLVE_WITH:
        FAULT(vow_resolve_with(target, p));
        break;
    case C_SAME_INPUT_TWICE: {
        /* One reference, passed twice in one call: the second is not the caller's. */
        vow *q = vow_pending(l);
        vow *twice[2] = {q, q};
        FAULT(vow_all(l, twice, 2));
        break;
    }
    case C_N:
        break;
    }
}

/* A handler returns vow_follow(q) for a q it already gave away. */
static vow *given_away;

static vow_ret follow_given_away(void *ctx, const vow_val *v)
{
    (void)ctx;
    (void)v;
    return FAULT(vow_follow(given_away));
}

static void follow_consumed(void *arg)
{
    (void)arg;
    vow_loop *l = vow_loop_new();
    given_away = vow_delay(l, 10000, vow_val_none());
    vow *first = vow_then(given_away, pass_ok, NULL, NULL);
    (void)first;
    vow *d = vow_then(vow_resolved(l, vow_val_num(1)), follow_given_away, NULL, NULL);
    (void)d;
    vow_loop_run(l, VOW_RUN_DEFAULT);
}

/* ------------------------------------------------------------ freed vows */

enum freed_use { F_STATE, F_REF, F_RESOLVE, F_CANCEL, F_THEN, F_VALUE, F_N };

static const char *const freed_names[F_N] = {
    "vow_state(", "vow_ref(", "vow_resolve(", "vow_cancel(", "vow_then(", "vow_value(",
};

/* p is freed, then other vows come and go (they must not reuse its memory yet). */
static void use_freed(void *arg)
{
    enum freed_use u = *(enum freed_use *)arg;
    vow_loop *l = vow_loop_new();
    vow *p = vow_resolved(l, vow_val_num(1));
    vow *keep = vow_pending(l);
    vow_unref(p);
    for (int i = 0; i < 100; i++)
        vow_unref(vow_then(vow_pending(l), pass_ok, NULL, NULL));
    switch (u) {
    case F_STATE:
        FAULT(vow_state(p));
        break;
    case F_REF:
        FAULT(vow_ref(p));
        break;
    case F_RESOLVE:
        FAULT(vow_resolve(p, vow_val_num(2)));
        break;
    case F_CANCEL:
        FAULT(vow_cancel(p));
        break;
    case F_THEN:
        FAULT(vow_then(p, pass_ok, NULL, NULL));
        break;
    case F_VALUE:
        FAULT(vow_value(p));
        break;
    case F_N:
        break;
    }
    (void)keep;
}

/* ----------------------------------------------------------------- tests */

static void double_unref(void **state)
{
    (void)state;
    expect_death(unref_twice_freed, NULL, "vow_unref(", "use of a freed vow");
    expect_death(unref_twice_alive, NULL, "vow_unref(", "holds no reference");
    expect_death(unref_after_consume, NULL, "vow_unref(", "holds no reference");
    expect_death(unref_twice_forwarded, NULL, "vow_unref(", "holds no reference");
}

static void unref_of_borrowed(void **state)
{
    (void)state;
    expect_death(unref_list_item, NULL, "vow_unref(", "borrowed vow");
    expect_death(unref_hook_argument, NULL, "vow_unref(", "holds no reference");
}

static void consumed_twice(void **state)
{
    (void)state;
    for (enum consumer c = 0; c < C_N; c++)
        expect_death(consume_twice, &c, consumer_names[c], "already consumed");
    expect_death(follow_consumed, NULL, "vow_follow(", "already consumed");
}

static void freed_vow_used(void **state)
{
    (void)state;
    for (enum freed_use u = 0; u < F_N; u++)
        expect_death(use_freed, &u, freed_names[u], "use of a freed vow");
}

int main(void)
{
    tu_install_allocator();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(double_unref),
        cmocka_unit_test(unref_of_borrowed),
        cmocka_unit_test(consumed_twice),
        cmocka_unit_test(freed_vow_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
