/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the coordination tier: the input picks every choice of the
 * channel state machine in tests/sync/machine.h (sends, receives, selects, timeouts,
 * cancels, drops, closes, loop turns, injected allocation failures); the machine
 * checks that no item is lost or duplicated, FIFO order, capacity bounds and a clean
 * loop close, and aborts on a violation. FUZZ_SYNC_TRACE=1 names the failing check.
 */
#include "fuzz-vow.h"

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define M_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz-sync: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#include "../sync/machine.h"

static const uint8_t *in;
static size_t in_len;

/* The next choice from the input; an exhausted input reads as zeros. */
static uint32_t from_input(uint32_t n)
{
    uint32_t v = 0;
    if (in_len) {
        v = *in++;
        in_len--;
    }
    return n > 256 ? v : v % n;
}

static void fail_soon(long k)
{
    tu_fail_nth(k);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tu_install_allocator();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    in = data;
    in_len = size;
    m_next = from_input;
    m_fail_soon = fail_soon;
    m_ms = 1;
    tu_fail_nth(0);
    /* About three bytes per step; the input's length sets how many. */
    int r = m_run((int)(size / 3) + 1);
    tu_fail_nth(0);
    if (r == 0)
        M_CHECK(tu_live_allocations() == 0);
    return 0;
}
