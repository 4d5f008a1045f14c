/* SPDX-License-Identifier: MIT */
/*
 * x86-64 SysV context switch: void *vow__co_jump(from, to, data).
 * Saves what the ABI says a callee preserves (rbx, rbp, r12-r15, MXCSR control bits,
 * x87 control word) on the current stack, stores rsp in from->sp, loads to->sp and
 * restores the same set from there (the control words only when they differ). It returns with an indirect jmp rather than
 * ret: after the stack swap a ret would mispredict on every switch. The object has
 * no CET property note on purpose: shadow stacks cannot follow a stack swap.
 */
#if defined(__x86_64__) && defined(__ELF__)
    .text
    .globl vow__co_jump
    .hidden vow__co_jump
    .type vow__co_jump, @function
    .p2align 4
vow__co_jump:
    /* rdi = from, rsi = to, rdx = data; our return address is at (%rsp). */
    leaq -0x38(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw 0x4(%rsp)
    movq %r12, 0x8(%rsp)
    movq %r13, 0x10(%rsp)
    movq %r14, 0x18(%rsp)
    movq %r15, 0x20(%rsp)
    movq %rbx, 0x28(%rsp)
    movq %rbp, 0x30(%rsp)
    movq %rsp, (%rdi)
    movq %rsp, %r9

    movq (%rsi), %rsp
    movq 0x38(%rsp), %r8
    /* Loading MXCSR and the x87 control word stalls the pipeline; they almost never
     * differ between contexts, so load them only when they do. (%r9) holds the
     * values current right now. */
    movl (%rsp), %eax
    cmpl (%r9), %eax
    je 1f
    ldmxcsr (%rsp)
1:
    movzwl 0x4(%rsp), %eax
    cmpw 0x4(%r9), %ax
    je 2f
    fldcw 0x4(%rsp)
2:
    movq 0x8(%rsp), %r12
    movq 0x10(%rsp), %r13
    movq 0x18(%rsp), %r14
    movq 0x20(%rsp), %r15
    movq 0x28(%rsp), %rbx
    movq 0x30(%rsp), %rbp
    leaq 0x40(%rsp), %rsp
    /* data is the return value of the resumed jump and the argument of a fresh entry. */
    movq %rdx, %rax
    movq %rdx, %rdi
    jmp *%r8
    .size vow__co_jump, .-vow__co_jump
#endif
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
