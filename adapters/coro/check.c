/* SPDX-License-Identifier: MIT */
/*
 * The copy-stack mode's debug check (check.h). Hidden ranges sit in a small table the
 * signal handler reads without locks; a range that finds no free entry is still
 * hidden, it only faults without the message.
 */
#include "check.h"

#ifdef VOW_DEBUG

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 64

static _Atomic uintptr_t hidden_lo[SLOTS], hidden_hi[SLOTS];
static struct sigaction previous;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

/* Appends s to buf at *n (no allocation, no stdio: this runs in a signal handler). */
static void put(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n + 1 < cap)
        buf[(*n)++] = *s++;
}

static void put_hex(char *buf, size_t *n, size_t cap, uintptr_t v)
{
    char tmp[2 + 2 * sizeof(v) + 1];
    size_t k = sizeof(tmp) - 1;
    tmp[k] = '\0';
    do {
        tmp[--k] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v && k > 2);
    tmp[--k] = 'x';
    tmp[--k] = '0';
    put(buf, n, cap, tmp + k);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t lo = atomic_load_explicit(&hidden_lo[i], memory_order_relaxed);
        uintptr_t hi = atomic_load_explicit(&hidden_hi[i], memory_order_relaxed);
        if (lo && a >= lo && a < hi) {
            char msg[512];
            size_t n = 0;
            put(msg, &n, sizeof(msg), "libvow: SIGSEGV at ");
            put_hex(msg, &n, sizeof(msg), a);
            put(msg, &n, sizeof(msg),
                ", in the shared stack of suspended copy-stack coroutines "
                "(VOW_CO_COPY_STACK): a pointer to a local of a copy-stack coroutine was "
                "used while it was suspended, when its locals are not at their addresses; "
                "pass heap memory instead (docs/reference/co.md, Copy-stack mode)\n");
            ssize_t w = write(2, msg, n);
            (void)w;
            break;
        }
    }
    /* The process goes on as without us: the previous handler takes the signal, or
     * the default action does when the fault repeats on return. */
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uc);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    signal(SIGSEGV, SIG_DFL);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous);
}

int vow__co_check_hide(void *lo, size_t size, int *slot)
{
    pthread_once(&installed, install);
    if (mprotect(lo, size, PROT_NONE) != 0)
        return -errno;
    *slot = SLOTS;
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t expect = 0;
        if (atomic_compare_exchange_strong_explicit(&hidden_lo[i], &expect, (uintptr_t)lo,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&hidden_hi[i], (uintptr_t)lo + size, memory_order_relaxed);
            *slot = i;
            break;
        }
    }
    return 0;
}

void vow__co_check_show(void *lo, size_t size, int *slot)
{
    if (*slot < 0)
        return;
    if (*slot < SLOTS) {
        atomic_store_explicit(&hidden_hi[*slot], 0, memory_order_relaxed);
        atomic_store_explicit(&hidden_lo[*slot], 0, memory_order_relaxed);
    }
    mprotect(lo, size, PROT_READ | PROT_WRITE);
    *slot = -1;
}

#else
/* ISO C wants something in a translation unit. */
typedef int vow__co_check_unused;
#endif
