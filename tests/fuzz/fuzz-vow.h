/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer entry points of fuzz-vow.c, shared with the replay test that runs the
 * saved inputs in builds without libFuzzer.
 */
#ifndef VOW_FUZZ_VOW_H
#define VOW_FUZZ_VOW_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* VOW_FUZZ_VOW_H */
