/* SPDX-License-Identifier: MIT */
/*
 * Replays every saved fuzz input (the regression inputs and the seed corpus, the
 * directories given as arguments) through the harness, so builds without libFuzzer
 * (gcc, Valgrind) check them too. A harness invariant failure aborts the program.
 */
#include "fuzz-vow.h"

#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int n_dirs;
static char **dirs;

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint8_t *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    int r =
        buf && fseek(f, 0, SEEK_SET) == 0 && fread(buf, 1, (size_t)len, f) == (size_t)len ? 0 : -1;
    fclose(f);
    if (r < 0) {
        free(buf);
        return -1;
    }
    *ret = buf;
    *ret_len = (size_t)len;
    return 0;
}

static void replay_saved_inputs(void **state)
{
    (void)state;
    int total = 0;
    for (int d = 0; d < n_dirs; d++) {
        DIR *dir = opendir(dirs[d]);
        assert_non_null(dir);
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dirs[d], e->d_name);
            uint8_t *data = NULL;
            size_t len = 0;
            assert_int_equal(read_file(path, &data, &len), 0);
            /* A hang (an endless loop in the library) must fail, not stall the suite. */
            alarm(20);
            LLVMFuzzerTestOneInput(data, len);
            alarm(0);
            free(data);
            assert_int_equal(tu_live_allocations(), 0);
            total++;
        }
        closedir(dir);
    }
    print_message("# replayed %d saved inputs\n", total);
    /* An empty corpus would make this test pass without checking anything. */
    assert_true(total > 0);
}

int main(int argc, char **argv)
{
    n_dirs = argc - 1;
    dirs = argv + 1;
    LLVMFuzzerInitialize(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_saved_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
