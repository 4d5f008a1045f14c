#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Smoke test of examples/echo_group (and of examples/echo_server --threads), printing TAP.
#   smoke_group.py SERVER [--no-linger]
# --no-linger leaves out the forced exit, which needs the server's --linger-ms.
# Clients at once (1 MiB round trip, a reset mid-transfer, small echoes) and an idle
# connection; SIGINT then stops the server gracefully: the idle client reads EOF and
# the server exits 0. With --linger-ms the stop takes long, and a second SIGINT
# forces the exit (status 130). --seconds stops it by itself.
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

results = []


def check(ok, name):
    results.append((bool(ok), name))


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("port="), line
    return p, int(line[5:])


def roundtrip(port, size):
    data = bytes((i * 7) % 251 for i in range(size))
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
    t.join(30)
    s.close()
    return bytes(got) == data


def reset_midway(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"x" * (2 << 20))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return True


def wait_exit(p, secs):
    try:
        return p.wait(secs)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return "timeout"


def graceful(server, extra):
    p, port = start([server, "--threads", "2"] + extra + ["0"])
    outs = {}

    def run(name, fn):
        try:
            outs[name] = fn()
        except Exception as e:  # a failure is a "not ok", not a crash of the harness
            outs[name] = e

    jobs = [("big", lambda: roundtrip(port, 1 << 20)), ("reset", lambda: reset_midway(port))]
    jobs += [("small%d" % i, lambda: roundtrip(port, 3000)) for i in range(8)]
    ts = [threading.Thread(target=run, args=j) for j in jobs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    tag = " ".join(extra) or "reuseport"
    check(outs.get("big") is True, "%s: 1 MiB echoed intact" % tag)
    check(outs.get("reset") is True, "%s: client reset mid-transfer" % tag)
    check(all(outs.get("small%d" % i) is True for i in range(8)),
          "%s: 8 small echoes alongside" % tag)
    idle = socket.create_connection(("127.0.0.1", port), timeout=20)
    idle.sendall(b"ping")
    check(idle.recv(4) == b"ping", "%s: idle connection answered" % tag)
    p.send_signal(signal.SIGINT)
    try:
        check(idle.recv(1) == b"", "%s: the stop closes the idle connection" % tag)
    except OSError:
        check(False, "%s: the stop closes the idle connection" % tag)
    idle.close()
    rc = wait_exit(p, 20)
    check(rc == 0, "%s: exits 0 on SIGINT (got %s)" % (tag, rc))


def forced(server):
    p, port = start([server, "--threads", "2", "--linger-ms", "60000", "0"])
    check(roundtrip(port, 1000), "linger: echo")
    p.send_signal(signal.SIGINT)
    time.sleep(0.3)
    check(p.poll() is None, "linger: still stopping after the first SIGINT")
    p.send_signal(signal.SIGINT)
    rc = wait_exit(p, 10)
    check(rc == 130, "linger: a second SIGINT forces the exit (got %s)" % rc)


def deadline(server):
    p, port = start([server, "--threads", "2", "--seconds", "1", "0"])
    check(roundtrip(port, 1000), "seconds: echo")
    rc = wait_exit(p, 20)
    check(rc == 0, "seconds: exits 0 by itself (got %s)" % rc)


if __name__ == "__main__":
    server = sys.argv[1]
    graceful(server, [])
    graceful(server, ["--handoff"])
    if "--no-linger" not in sys.argv[2:]:
        forced(server)
    deadline(server)
    print("1..%d" % len(results))
    for i, (ok, name) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    sys.exit(0 if all(ok for ok, _ in results) else 1)
