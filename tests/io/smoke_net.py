#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Smoke tests for examples/echo_server and examples/proxy, printing TAP.
#   smoke_net.py echo ECHO_SERVER [--chains]
#   smoke_net.py emfile ECHO_SERVER [--chains]
#   smoke_net.py sigterm ECHO_SERVER [--chains]
#   smoke_net.py proxy ECHO_SERVER PROXY
#   smoke_net.py sigint RANDOM_LINES STYLE
# echo: three clients at once (one of them resets mid-transfer), then the server must
# exit by itself (--max-conns 3) with status 0. emfile: the server runs with
# RLIMIT_NOFILE 64 and serves more clients at once than it has fds, then exits on its
# deadline with a bounded RSS. sigterm: SIGTERM with idle connections open ends them
# and the server (status 0). proxy: 4 MiB through the proxy to the echo server and
# back, then both exit cleanly.
import os
import resource
import signal
import time
import socket
import struct
import subprocess
import sys
import threading

results = []


def check(ok, name):
    results.append((bool(ok), name))


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("port="), line
    return p, int(line[5:])


def echo_roundtrip(port, size, s=None):
    data = bytes((i * 7) % 251 for i in range(size))
    if s is None:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
    got = bytearray()

    def reader():
        while len(got) < size:
            b = s.recv(65536)
            if not b:
                break
            got.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(30)
    rest = s.recv(1)
    s.close()
    return bytes(got) == data and rest == b""


def reset_midway(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"x" * (2 << 20))  # the server echoes it back into a reader that never reads
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return True


def echo(server, extra):
    p, port = start([server, "--max-conns", "3", "--seconds", "60"] + extra + ["0"])
    outs = {}

    def run(name, fn):
        try:
            outs[name] = fn()
        except Exception as e:  # a failure is a "not ok", not a crash of the harness
            outs[name] = e

    ts = [threading.Thread(target=run, args=("a", lambda: echo_roundtrip(port, 1 << 20))),
          threading.Thread(target=run, args=("b", lambda: reset_midway(port))),
          threading.Thread(target=run, args=("c", lambda: echo_roundtrip(port, 3000)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    check(outs.get("a") is True, "1 MiB echoed intact")
    check(outs.get("b") is True, "client reset mid-transfer")
    check(outs.get("c") is True, "small echo alongside")
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "timeout"
    check(rc == 0, "server exits 0 after --max-conns (got %s)" % rc)


EMFILE_CLIENTS = 120
EMFILE_DEADLINE = 4


def emfile(server, extra):
    """More clients at once than the server has fds: the accept loop backs off on
    EMFILE instead of spinning, so every client is served, the --seconds deadline
    fires and memory stays flat."""

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    t0 = time.monotonic()
    p = subprocess.Popen([server, "--seconds", str(EMFILE_DEADLINE), "--idle-ms", "3000"] +
                         extra + ["0"], stdout=subprocess.PIPE, text=True, preexec_fn=limit)
    line = p.stdout.readline().strip()
    assert line.startswith("port="), line
    port = int(line[5:])
    served = []
    lock = threading.Lock()
    # Every client connects (the kernel's backlog completes the handshakes) before any
    # sends, so the server faces them all at once with fewer fds than clients.
    ready = threading.Barrier(EMFILE_CLIENTS, timeout=20)

    def client(i):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            ready.wait()
            if echo_roundtrip(port, 1000 + i, s):
                with lock:
                    served.append(i)
        except Exception:
            pass

    ts = [threading.Thread(target=client, args=(i,)) for i in range(EMFILE_CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(EMFILE_DEADLINE + 20)
    check(len(served) == EMFILE_CLIENTS,
          "served %d of %d clients with 64 fds" % (len(served), EMFILE_CLIENTS))
    try:
        rc = p.wait(EMFILE_DEADLINE + 10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = "timeout"
    took = time.monotonic() - t0
    check(rc == 0, "exits 0 on its deadline (got %s)" % rc)
    check(took < EMFILE_DEADLINE + 5, "exits in time (%.1f s, deadline %d s)" % (took, EMFILE_DEADLINE))
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_mib = use.ru_maxrss / 1024.0
    cpu = use.ru_utime + use.ru_stime
    check(rss_mib < 64, "peak RSS %.1f MiB (bound 64)" % rss_mib)
    # A loop retrying accept at once would burn the whole run on one core.
    check(cpu < took / 2, "CPU %.2f s of %.1f s wall: no spinning" % (cpu, took))


def sigterm(server, extra):
    """SIGTERM with idle connections open: the server scope is cancelled, each
    connection ends (the clients read EOF) and the server exits 0, soon."""
    p, port = start([server, "--seconds", "60"] + extra + ["0"])
    socks = []
    for i in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"ping")
        got = b""
        while len(got) < 4:
            b = s.recv(4)
            if not b:
                break
            got += b
        check(got == b"ping", "connection %d echoes" % i)
        socks.append(s)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    for i, s in enumerate(socks):
        try:
            check(s.recv(1) == b"", "connection %d ended by the shutdown" % i)
        except OSError as e:
            check(False, "connection %d: %s" % (i, e))
        s.close()
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "timeout"
    check(rc == 0, "exits 0 on SIGTERM (got %s)" % rc)
    check(time.monotonic() - t0 < 5, "exits soon after SIGTERM")


def proxy(server, prox):
    es, eport = start([server, "--max-conns", "1", "--seconds", "60", "0"])
    pp, pport = start([prox, "--max-conns", "1", "127.0.0.1", str(eport)])
    check(echo_roundtrip(pport, 4 << 20), "4 MiB through the proxy and back")
    try:
        check(pp.wait(30) == 0, "proxy exits 0")
        check(es.wait(30) == 0, "echo server exits 0")
    except subprocess.TimeoutExpired:
        pp.kill()
        es.kill()
        check(False, "exit in time")


def sigint(prog, style):
    """Ctrl-C stops random_lines early: it signals and reaps its children, exits 0."""
    p = subprocess.Popen([prog, "--style", style, "--seconds", "60", "--clock-ms", "100"],
                         stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline()  # the loop is running once it rendered
    check(first != "", "renders before the signal")
    p.send_signal(signal.SIGINT)
    try:
        rest = p.communicate(timeout=20)[0]
        check(p.returncode == 0, "exits 0 on SIGINT (got %s)" % p.returncode)
    except subprocess.TimeoutExpired:
        p.kill()
        rest = ""
        check(False, "exits in time on SIGINT")
    check(len(rest.splitlines()) < 100, "stopped early")


if __name__ == "__main__":
    if sys.argv[1] == "sigint":
        sigint(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "echo":
        echo(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "emfile":
        emfile(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "sigterm":
        sigterm(sys.argv[2], sys.argv[3:])
    else:
        proxy(sys.argv[2], sys.argv[3])
    print("1..%d" % len(results))
    for i, (ok, name) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    sys.exit(0 if all(ok for ok, _ in results) else 1)
