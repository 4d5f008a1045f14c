/* SPDX-License-Identifier: MIT */
/*
 * AArch64 AAPCS64 context switch: void *vow__co_jump(from, to, data).
 * Saves x19-x30, d8-d15 and FPCR on the current stack, stores sp in from->sp, loads
 * to->sp and restores the same set, then branches to the restored x30 with br (an
 * indirect branch, like the x86-64 version, so the return predictor is not used).
 * Written to the ABI but not run on this project's CI, which has no AArch64 host.
 */
#if defined(__aarch64__) && defined(__ELF__)
    .text
    .globl vow__co_jump
    .hidden vow__co_jump
    .type vow__co_jump, %function
    .p2align 4
vow__co_jump:
    /* x0 = from, x1 = to, x2 = data */
    sub sp, sp, #0xb0
    stp d8, d9, [sp, #0x00]
    stp d10, d11, [sp, #0x10]
    stp d12, d13, [sp, #0x20]
    stp d14, d15, [sp, #0x30]
    stp x19, x20, [sp, #0x40]
    stp x21, x22, [sp, #0x50]
    stp x23, x24, [sp, #0x60]
    stp x25, x26, [sp, #0x70]
    stp x27, x28, [sp, #0x80]
    stp x29, x30, [sp, #0x90]
    mrs x9, fpcr
    str x9, [sp, #0xa0]
    mov x9, sp
    str x9, [x0]

    ldr x9, [x1]
    mov sp, x9
    ldp d8, d9, [sp, #0x00]
    ldp d10, d11, [sp, #0x10]
    ldp d12, d13, [sp, #0x20]
    ldp d14, d15, [sp, #0x30]
    ldp x19, x20, [sp, #0x40]
    ldp x21, x22, [sp, #0x50]
    ldp x23, x24, [sp, #0x60]
    ldp x25, x26, [sp, #0x70]
    ldp x27, x28, [sp, #0x80]
    ldp x29, x30, [sp, #0x90]
    ldr x9, [sp, #0xa0]
    msr fpcr, x9
    add sp, sp, #0xb0
    /* data is the return value of the resumed jump and the argument of a fresh entry. */
    mov x0, x2
    br x30
    .size vow__co_jump, .-vow__co_jump
#endif
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
