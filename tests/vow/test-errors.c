/* SPDX-License-Identifier: MIT */
/*
 * Every code has a name and a message: the library's own (all of VOW_ERRNO_MAP, at
 * -4096 and below or reusing errno values) and plain -errno values.
 */
#include "testutil.h"

#include <limits.h>
#include <string.h>

static void every_library_code_is_named(void **state)
{
    (void)state;
#define XX(name, val, msg)                                                                 \
    assert_string_equal(vow_strerror(val), (val) <= -4096 ? msg : vow_strerror(val));      \
    assert_string_not_equal(vow_err_name(val), "unknown");                                  \
    if ((val) <= -4096)                                                                    \
        assert_string_equal(vow_err_name(val), "VOW_" #name);                              \
    else                                                                                   \
        assert_string_equal(vow_err_name(val), #name);
    VOW_ERRNO_MAP(XX)
#undef XX
    /* Library codes sit below the errno window. */
    assert_true(VOW_ECYCLE <= -4096);
    assert_true(VOW_ETHREAD <= -4096);
}

static void errno_codes_and_unknowns(void **state)
{
    (void)state;
    assert_string_equal(vow_err_name(-ECONNREFUSED), "ECONNREFUSED");
    assert_non_null(strstr(vow_strerror(-ECONNREFUSED), "refused"));
    assert_string_equal(vow_strerror(0), "success");
    assert_string_equal(vow_err_name(0), "OK");
    assert_string_equal(vow_err_name(-4199), "unknown");
    assert_string_equal(vow_strerror(-4199), "unknown error");
    assert_string_equal(vow_err_name(12345), "unknown");
    assert_string_equal(vow_strerror(-99999), "unknown error");
}

/* The extremes: -INT_MIN would overflow (undefined behaviour, UBSan aborts on it). */
static void extreme_codes(void **state)
{
    (void)state;
    assert_string_equal(vow_strerror(INT_MIN), "unknown error");
    assert_string_equal(vow_err_name(INT_MIN), "unknown");
    assert_string_equal(vow_strerror(INT_MIN + 1), "unknown error");
    assert_string_equal(vow_err_name(INT_MIN + 1), "unknown");
    assert_string_equal(vow_strerror(INT_MAX), "unknown error");
    assert_string_equal(vow_err_name(INT_MAX), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_library_code_is_named),
        cmocka_unit_test(errno_codes_and_unknowns),
        cmocka_unit_test(extreme_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
