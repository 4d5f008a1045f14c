#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# examples/echo_server under `ulimit -n 64` (issue 12 item 3), printing TAP:
#   echo_emfile.py ECHO_SERVER [--chains]
# 120 clients connect at once, more than the server has fds for; each sends a
# message, waits for its echo and keeps the connection open for a moment so that the
# server runs out of fds and must back off on EMFILE and come back to accept the rest.
# Checked: every client gets its echo, the server keeps its CPU use and resident
# memory bounded while at the limit, and it exits by itself at its --seconds deadline
# with status 0.
import os
import resource
import socket
import subprocess
import sys
import threading
import time

CLIENTS = 120
DEADLINE = 8
results = []


def check(ok, name):
    results.append((bool(ok), name))


def limit_fds():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    server = sys.argv[1]
    extra = sys.argv[2:]
    p = subprocess.Popen([server, "--seconds", str(DEADLINE)] + extra + ["0"],
                         stdout=subprocess.PIPE, text=True, preexec_fn=limit_fds)
    line = p.stdout.readline().strip()
    assert line.startswith("port="), line
    port = int(line[5:])
    ok = [False] * CLIENTS
    hold = threading.Event()

    def client(i):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
            msg = (b"client %d " % i) * 50
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(65536)
                if not b:
                    break
                got += b
            ok[i] = got == msg
            hold.wait(1.0)
            s.close()
        except OSError:
            ok[i] = False

    t0 = time.monotonic()
    cpu0 = proc_stat(p.pid)
    ts = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in ts:
        t.start()
    peak = 0
    while any(t.is_alive() for t in ts) and time.monotonic() - t0 < DEADLINE:
        peak = max(peak, rss_kb(p.pid))
        time.sleep(0.1)
    cpu = proc_stat(p.pid) - cpu0
    wall = time.monotonic() - t0
    hold.set()
    for t in ts:
        t.join(DEADLINE)
    check(all(ok), "all %d clients echoed (%d ok) with 64 fds" % (CLIENTS, sum(ok)))
    check(cpu < 0.5 * wall, "server CPU %.2f s in %.2f s at the fd limit" % (cpu, wall))
    check(peak < 64 * 1024, "server resident peak %d KiB" % peak)
    try:
        rc = p.wait(DEADLINE + 10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    check(rc == 0, "server exits at its deadline with 0 (got %r)" % (rc,))
    print("1..%d" % len(results))
    for i, (good, name) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", i, name))
    print("# stress echo_emfile (%s): %d clients, %d echoed, CPU %.2f s / %.2f s, RSS peak %d KiB"
          % (" ".join(extra) or "coroutines", CLIENTS, sum(ok), cpu, wall, peak))
    return 0 if all(g for g, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
