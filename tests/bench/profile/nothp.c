/* SPDX-License-Identifier: MIT */
/*
 * Runs a command with transparent huge pages disabled for it and its children
 * (prctl PR_SET_THP_DISABLE, kept across execve): the slab chunks' MADV_HUGEPAGE
 * advice then has no effect, without touching the library or the machine's settings.
 *   usage: nothp COMMAND [ARGS...]
 */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
        perror("nothp: prctl(PR_SET_THP_DISABLE)");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("nothp: execvp");
    return 127;
}
