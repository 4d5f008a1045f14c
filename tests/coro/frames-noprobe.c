/* SPDX-License-Identifier: MIT */
/*
 * Built with -fno-stack-clash-protection for test-guard's control case: one frame of
 * n bytes, written from its lowest byte up, with no probe of the pages it takes, as
 * code compiled without the flag makes it.
 */
#include <stddef.h>
#include <string.h>

int guard_frame_noprobe(size_t n);

int __attribute__((noinline)) guard_frame_noprobe(size_t n)
{
    volatile unsigned char buf[n];
    memset((unsigned char *)buf, 0x5a, n);
    return buf[0] + buf[n - 1];
}
