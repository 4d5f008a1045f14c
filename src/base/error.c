/* SPDX-License-Identifier: MIT */
/*
 * Names and messages for every code: VOW_ERRNO_MAP for the library's own, glibc's
 * thread-safe strerrordesc_np/strerrorname_np for -errno values.
 */
#include "base.h"

#include <limits.h>
#include <string.h>

struct lib_error {
    int code;         /* a VOW_E* value */
    const char *name; /* "VOW_ECYCLE" */
    const char *msg;  /* its message */
};

static const struct lib_error lib_errors[] = {
#define XX(name, val, msg) { val, "VOW_" #name, msg },
    VOW_ERRNO_MAP(XX)
#undef XX
};

/* The library's own entry for code (those at -4096 and below), or NULL. */
static const struct lib_error *lib_error(int code)
{
    if (code > -4096)
        return NULL;
    for (size_t i = 0; i < sizeof(lib_errors) / sizeof(lib_errors[0]); i++)
        if (lib_errors[i].code == code)
            return &lib_errors[i];
    return NULL;
}

const char *vow_strerror(int code)
{
    if (code == 0)
        return "success";
    const struct lib_error *e = lib_error(code);
    if (e)
        return e->msg;
    /* -INT_MIN does not exist: no errno is that large anyway. */
    const char *s = code < 0 && code != INT_MIN ? strerrordesc_np(-code) : NULL;
    return s ? s : "unknown error";
}

const char *vow_err_name(int code)
{
    if (code == 0)
        return "OK";
    const struct lib_error *e = lib_error(code);
    if (e)
        return e->name;
    const char *s = code < 0 && code != INT_MIN ? strerrorname_np(-code) : NULL;
    return s ? s : "unknown";
}
