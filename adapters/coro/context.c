/* SPDX-License-Identifier: MIT */
/*
 * Fresh contexts for the assembly switches (the initial frame vow__co_jump pops),
 * and the whole ucontext fallback. The fallback costs a signal-mask system call per
 * switch, which is why it is only the fallback.
 */
#include "switch.h"

#include <stdint.h>
#include <string.h>

#ifdef VOW_CO_UCONTEXT

/* swapcontext carries no data, so the jump leaves it (and the target, whose entry a
 * fresh context needs) here for the other side; a thread switches one pair at a time. */
static _Thread_local void *xfer_data;
static _Thread_local struct vow__co_ctx *xfer_to;

static void trampoline(void)
{
    struct vow__co_ctx *c = xfer_to;
    c->entry(xfer_data);
}

void vow__co_make(struct vow__co_ctx *c, void *lo, size_t size, void (*entry)(void *data))
{
    memset(c, 0, sizeof(*c));
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    c->entry = entry;
    makecontext(&c->uc, trampoline, 0);
}

void *vow__co_jump(struct vow__co_ctx *from, struct vow__co_ctx *to, void *data)
{
    xfer_data = data;
    xfer_to = to;
    swapcontext(&from->uc, &to->uc);
    return xfer_data;
}

const char *vow__co_switch_kind(void)
{
    return "ucontext";
}

#ifdef VOW_CO_HAVE_COPY
/* swapcontext saved the stack pointer as it will be after its return: nothing below
 * it is live while the context is suspended. */
void *vow__co_ctx_sp(const struct vow__co_ctx *c)
{
#if defined(__x86_64__)
    return (void *)(uintptr_t)c->uc.uc_mcontext.gregs[REG_RSP];
#else
    return (void *)(uintptr_t)c->uc.uc_mcontext.sp;
#endif
}
#endif

#elif defined(__x86_64__)

/*
 * The frame vow__co_jump pops: MXCSR and x87 control word, r12-r15, rbx, rbp, then
 * the address it jumps to. entry starts with rsp = 8 mod 16, as after a call, above
 * a zero return address that ends backtraces. The control words are the creator's,
 * so a coroutine computes with the rounding mode of the code that spawned it.
 */
void vow__co_make(struct vow__co_ctx *c, void *lo, size_t size, void (*entry)(void *data))
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *ret = (uint64_t *)(top - 8);
    *ret = 0;
    unsigned char *frame = (unsigned char *)ret - 0x40;
    memset(frame, 0, 0x40);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    memcpy(frame, &mxcsr, sizeof(mxcsr));
    memcpy(frame + 4, &fpucw, sizeof(fpucw));
    uint64_t pc = (uint64_t)(uintptr_t)entry;
    memcpy(frame + 0x38, &pc, sizeof(pc));
    c->sp = frame;
}

const char *vow__co_switch_kind(void)
{
    return "asm-x86_64";
}

void *vow__co_ctx_sp(const struct vow__co_ctx *c)
{
    return c->sp;
}

#elif defined(__aarch64__)

/* The frame vow__co_jump pops: d8-d15, x19-x28, x29 (0: ends backtraces), x30 (where
 * the switch branches: entry), FPCR (the creator's). sp stays 16-byte aligned. */
void vow__co_make(struct vow__co_ctx *c, void *lo, size_t size, void (*entry)(void *data))
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    unsigned char *frame = (unsigned char *)(top - 0xb0);
    memset(frame, 0, 0xb0);
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    uint64_t pc = (uint64_t)(uintptr_t)entry;
    memcpy(frame + 0x98, &pc, sizeof(pc));
    memcpy(frame + 0xa0, &fpcr, sizeof(fpcr));
    c->sp = frame;
}

const char *vow__co_switch_kind(void)
{
    return "asm-aarch64";
}

void *vow__co_ctx_sp(const struct vow__co_ctx *c)
{
    return c->sp;
}

#endif
