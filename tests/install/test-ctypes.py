#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# libvow from Python through ctypes, the way a language binding loads it: dlopen()
# of the shared library, a chain settled from a Python callback that the loop runs,
# a timeout and a combinator over it, and the coroutine adapter loaded next to it.
# TAP output. Usage: test-ctypes.py LIBVOW.so [LIBVOW-CO.so]
import ctypes
import sys

VOW_RUN_DEFAULT = 0
VOW_FULFILLED = 1
VOW_REJECTED = 2
VOW_ETIMEDOUT = -110


class Val(ctypes.Structure):
    """vow_val: a union of pointer, int64 and double, then the drop function."""

    class U(ctypes.Union):
        _fields_ = [("ptr", ctypes.c_void_p), ("num", ctypes.c_int64),
                    ("real", ctypes.c_double)]

    _anonymous_ = ("u",)
    _fields_ = [("u", U), ("drop", ctypes.c_void_p)]


class List(ctypes.Structure):
    """vow_list: n settled vows in input order."""
    _fields_ = [("n", ctypes.c_size_t), ("items", ctypes.POINTER(ctypes.c_void_p))]


def num(n):
    v = Val()
    v.num = n
    return v


POST_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
UNHANDLED_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
VOW_UNHANDLED = 1
results = []


def check(ok, what):
    results.append((bool(ok), what))


def bind(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


def main():
    if len(sys.argv) < 2:
        print("usage: test-ctypes.py LIBVOW.so [LIBVOW-CO.so]", file=sys.stderr)
        return 2
    try:
        lib = ctypes.CDLL(sys.argv[1])
    except OSError as e:
        print("1..1\nnot ok 1 - dlopen of libvow\n# " + str(e))
        return 1
    check(True, "dlopen of libvow")
    P = ctypes.c_void_p
    loop_new = bind(lib, "vow_loop_new", P)
    loop_run = bind(lib, "vow_loop_run", ctypes.c_int, P, ctypes.c_int)
    loop_close = bind(lib, "vow_loop_close", ctypes.c_int, P)
    loop_post = bind(lib, "vow_loop_post", ctypes.c_int, P, POST_FN, P)
    pending = bind(lib, "vow_pending", P, P)
    resolve = bind(lib, "vow_resolve", ctypes.c_int, P, Val)
    then = bind(lib, "vow_then", P, P, P, P, P)
    timeout = bind(lib, "vow_timeout", P, P, ctypes.c_uint64)
    delay = bind(lib, "vow_delay", P, P, ctypes.c_uint64, Val)
    vow_all = bind(lib, "vow_all", P, P, ctypes.POINTER(P), ctypes.c_size_t)
    list_get = bind(lib, "vow_list_get", ctypes.POINTER(List), ctypes.POINTER(Val))
    ref = bind(lib, "vow_ref", P, P)
    unref = bind(lib, "vow_unref", None, P)
    state = bind(lib, "vow_state", ctypes.c_int, P)
    code = bind(lib, "vow_code", ctypes.c_int, P)
    value = bind(lib, "vow_value", ctypes.POINTER(Val), P)
    strerror = bind(lib, "vow_strerror", ctypes.c_char_p, ctypes.c_int)
    set_unhandled = bind(lib, "vow_loop_set_unhandled", ctypes.c_int, P, UNHANDLED_FN, P)

    check(b"timed out" in strerror(VOW_ETIMEDOUT), "vow_strerror through ctypes")

    l = loop_new()
    check(l, "vow_loop_new")
    # p -> then -> then (pass-through) under a timeout; a Python callback posted to
    # the loop resolves p with 41 on the loop's thread.
    p = pending(l)
    q = then(then(ref(p), None, None, None), None, None, None)
    t = timeout(q, 10000)

    @POST_FN
    def settle(loop, arg):
        check(loop == l, "the posted callback gets its loop")
        check(resolve(arg, num(41)) == 0, "vow_resolve from a Python callback")

    check(loop_post(l, settle, p) == 0, "vow_loop_post with a Python callback")
    # A 1 ms delay and the chain under one vow_all.
    inputs = (P * 2)(t, delay(l, 1, num(1)))
    a = vow_all(l, inputs, 2)
    check(loop_run(l, VOW_RUN_DEFAULT) == 0, "the loop runs dry")
    check(state(a) == VOW_FULFILLED, "vow_all fulfilled")
    lst = list_get(value(a)).contents
    got = [value(lst.items[i]).contents.num for i in range(lst.n)]
    check(got == [41, 1], "the chain's and the delay's values, in input order (%s)" % got)
    unref(a)
    unref(p)

    # A timeout that fires: a pending vow nobody settles, cancelled by the timeout;
    # its rejection has no handler, so the Python hook hears of it.
    unhandled = []

    @UNHANDLED_FN
    def hook(ctx, v, event):
        unhandled.append((v, event))

    check(set_unhandled(l, hook, None) == 0, "vow_loop_set_unhandled with a Python hook")
    lone = timeout(pending(l), 1)
    check(loop_run(l, VOW_RUN_DEFAULT) == 0 and state(lone) == VOW_REJECTED and
          code(lone) == VOW_ETIMEDOUT, "vow_timeout rejects with VOW_ETIMEDOUT")
    check(unhandled == [(lone, VOW_UNHANDLED)], "the hook saw the unhandled rejection")
    unref(lone)

    if len(sys.argv) > 2:
        try:
            co = ctypes.CDLL(sys.argv[2])
            check(True, "dlopen of libvow-co")
            switch_name = bind(co, "vow_co_switch_name", ctypes.c_char_p)
            live = bind(co, "vow_co_live", ctypes.c_size_t, P)
            check(switch_name() in (b"asm-x86_64", b"asm-aarch64", b"ucontext"),
                  "vow_co_switch_name (%s)" % switch_name())
            check(live(l) == 0, "vow_co_live of a loop without coroutines")
        except OSError as e:
            check(False, "dlopen of libvow-co: %s" % e)
    check(loop_close(l) == 0, "vow_loop_close: nothing left alive")

    print("1..%d" % len(results))
    for i, (ok, what) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
