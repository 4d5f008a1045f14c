/* SPDX-License-Identifier: MIT */
/*
 * The guide's structured-concurrency program: a parent coroutine starts 100 children
 * that each sleep 1-50 ms; children 7, 40 and 73 fail. With vow_all the parent learns
 * of the first failure while most children are still running; with a scope it
 * continues only once every child has returned (fail-fast: the first failure cancels
 * the others), and a supervisor scope reports all three failures.
 *   usage: scope_children [--mode all|scope|supervisor] [--check]
 * Prints one line: "MODE: CODE, N of 100 children returned, failed: I ...". With
 * --check it also exits 1 unless the line says what the guide says it does.
 */
#include <vow.h>
#include <vow/scope.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vow_loop *loop;
static const char *mode = "scope";
static int returned; /* children whose body has returned */
static int seen_rc, seen_returned, seen_failed; /* what report() printed, for --check */

/* One line about the outcome: the code, how many children had returned by then, and
 * which failed (a scope's join lists them; vow_all's detail is the first one's). */
static void report(int rc, const vow_val *detail)
{
    printf("%s: %s, %d of 100 children returned, failed:", mode, rc ? vow_err_name(rc) : "0",
           returned);
    const vow_list *list = vow_list_get(detail);
    for (size_t i = 0; list && i < list->n; i++)
        printf(" %d", (int)vow_value(list->items[i])->num);
    if (!list && rc == VOW_EUSER)
        printf(" %d", (int)detail->num);
    printf("\n");
    seen_rc = rc;
    seen_returned = returned;
    seen_failed = list ? (int)list->n : rc == VOW_EUSER;
}

/* guide:scope-begin */
static vow_ret child(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int rc = vow_co_sleep(1 + (uint64_t)(rand() % 50)); /* 1-50 ms */
    returned++;
    if (rc < 0)
        return vow_fail(rc, vow_val_none()); /* cancelled: VOW_ECANCELED */
    if (i == 7 || i == 40 || i == 73)
        return vow_fail(VOW_EUSER, vow_val_num(i));
    return vow_ok(vow_val_num(i));
}

static vow_ret parent(void *arg)
{
    vow_scope *s = vow_scope_new(loop, arg); /* arg: NULL (fail-fast) or options */
    for (intptr_t i = 0; i < 100; i++)
        vow_scope_spawn(s, child, (void *)i, NULL);
    vow *join = vow_scope_join(s);
    int rc = vow_await(join); /* every child has returned */
    report(rc, vow_value(join));
    vow_unref(join);
    vow_scope_close(s);
    return vow_ok(vow_val_none());
}
/* guide:scope-end */

/* guide:all-begin */
static vow_ret parent_all(void *arg)
{
    (void)arg;
    vow *kids[100];
    for (intptr_t i = 0; i < 100; i++)
        kids[i] = vow_co_spawn(loop, child, (void *)i, NULL);
    vow *all = vow_all(loop, kids, 100); /* rejects at the first failure */
    int rc = vow_await(all);
    report(rc, vow_value(all));
    vow_unref(all);
    return vow_ok(vow_val_none());
}
/* guide:all-end */

int main(int argc, char **argv)
{
    int check = argc > 1 && strcmp(argv[argc - 1], "--check") == 0;
    argc -= check;
    if (argc == 3 && strcmp(argv[1], "--mode") == 0)
        mode = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--mode all|scope|supervisor] [--check]\n", argv[0]);
        return 2;
    }
    srand(1);
    loop = vow_loop_new();
    if (!loop)
        return 1;
    static const vow_scope_opts supervisor = { .flags = VOW_SCOPE_SUPERVISOR };
    vow *p;
    if (strcmp(mode, "all") == 0)
        p = vow_co_spawn(loop, parent_all, NULL, NULL);
    else if (strcmp(mode, "supervisor") == 0)
        p = vow_co_spawn(loop, parent, (void *)&supervisor, NULL);
    else
        p = vow_co_spawn(loop, parent, NULL, NULL);
    vow_loop_run(loop, VOW_RUN_DEFAULT);
    int ok = p && vow_state(p) == VOW_FULFILLED && seen_rc == VOW_EUSER;
    vow_unref(p);
    /* vow_all: one failure heard of while children still run; a scope: every child
     * returned first, and a supervisor heard of all three failures. */
    if (check && strcmp(mode, "all") == 0)
        ok = ok && seen_returned < 100 && seen_failed == 1;
    else if (check)
        ok = ok && seen_returned == 100 && seen_failed == (strcmp(mode, "supervisor") ? 1 : 3);
    return vow_loop_close(loop) == 0 && ok ? 0 : 1;
}
