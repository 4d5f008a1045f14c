/* SPDX-License-Identifier: MIT */
/*
 * The copy-stack mode's debug check (builds with VOW_DEBUG, -Dvow_debug=true). While
 * no copy-stack coroutine of a loop runs, its shared stack is made inaccessible, so a
 * pointer into a suspended one's stack, used from anywhere else (a handler, a
 * callback, a coroutine with its own stack, another thread), faults at that use; a
 * SIGSEGV handler installed with the first hidden stack names the mistake on stderr
 * before the process dies as it would have (the previous handler, or the default
 * action, takes the signal).
 */
#ifndef VOW_CO_CHECK_H
#define VOW_CO_CHECK_H

#include <stddef.h>

#ifdef VOW_DEBUG
/* Makes [lo, lo + size) inaccessible and known to the handler; *slot keeps its place
 * (-1: not hidden). Returns 0, or -errno (then nothing changed). */
int vow__co_check_hide(void *lo, size_t size, int *slot);
/* Makes it accessible again; a no-op if *slot is -1. */
void vow__co_check_show(void *lo, size_t size, int *slot);
#endif

#endif /* VOW_CO_CHECK_H */
