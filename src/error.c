/* SPDX-License-Identifier: MIT */
/*
 * Names and messages for every code: VOW_ERRNO_MAP for the library's own, glibc's
 * thread-safe strerrordesc_np/strerrorname_np for -errno values.
 */
#include "internal.h"

#include <string.h>

const char *vow_strerror(int code)
{
    if (code == 0)
        return "success";
    switch (code) {
#define XX(name, val, msg)                                                                 \
    case val:                                                                              \
        if (val <= -4096)                                                                  \
            return msg;                                                                    \
        break;
        VOW_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        const char *s = strerrordesc_np(-code);
        if (s)
            return s;
    }
    return "unknown error";
}

const char *vow_err_name(int code)
{
    if (code == 0)
        return "OK";
    switch (code) {
#define XX(name, val, msg)                                                                 \
    case val:                                                                              \
        if (val <= -4096)                                                                  \
            return "VOW_" #name;                                                           \
        break;
        VOW_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        const char *s = strerrorname_np(-code);
        if (s)
            return s;
    }
    return "unknown";
}
