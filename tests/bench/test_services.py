#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_services: bench/services.py starts each Debian service under load, the service
answers on its loopback port, and everything it started is gone after it stops.
Usage: test_services.py [NAME...] (default: every load)."""
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "record"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import kilntest  # noqa: E402
from testenv import alive  # noqa: E402
import services  # noqa: E402


def wait_for(pred, what, timeout=30):
    """Polls an observable condition until it holds or the deadline passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    kilntest.fail("timed out waiting for " + what)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def tree(pids):
    """PIDS and all their descendants (nginx's worker, postgres's backends)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(c for c, pp in parent.items() if pp == p)
    return out


def busy(pids):
    total = 0
    for p in tree(pids):
        try:
            total += cpu_ticks(p)
        except OSError:
            pass  # ended meanwhile
    return total


def ask(port, payload, expect):
    """Sends PAYLOAD to 127.0.0.1:PORT and reads until EXPECT shows up in the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        got = b""
        while expect not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    if expect not in got:
        kilntest.fail("127.0.0.1:%d answered %r, expected %r" % (port, got[:200], expect))


def check_load(name):
    t0 = time.monotonic()
    with services.Load(name) as load:
        pids = list(tree([p.pid for p, _ in load.procs]))
        tmp = load.tmp
        if not load.pids or not all(alive(p) for p in load.pids):
            kilntest.fail("%s: service processes %s not running" % (name, load.pids))
        if name == "nginx":
            ask(load.port, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", b"200 OK")
        elif name == "redis":
            ask(load.port, b"PING\r\n", b"+PONG")
        elif name == "postgres":
            p = subprocess.run([os.path.join(services.PG_BIN, "pg_isready"), "-h",
                                "127.0.0.1", "-p", str(load.port)], capture_output=True)
            if p.returncode != 0:
                kilntest.fail("postgres: pg_isready: %s" % p.stdout)
        # Under load: the service burns CPU (its load generator keeps it busy).
        first = busy(load.pids)
        wait_for(lambda: busy(load.pids) >= first + 10, "%s to use 100 ms of CPU" % name)
        ready = time.monotonic() - t0
    # Stopped: every process it started is gone (reaped), its directory removed.
    # (grandchildren, nginx's worker or postgres's backends, may take a moment longer)
    wait_for(lambda: not any(alive(p) for p in pids),
             "%s's processes %s to end after stop" % (name, sorted(pids)), timeout=20)
    if os.path.exists(tmp):
        kilntest.fail("%s: %s not removed" % (name, tmp))
    print("ok   %s: serving and busy %.1f s after start; stopped cleanly" % (name, ready))


def main():
    kilntest.require_root()  # postgres runs as user postgres; cgroups, ports
    names = sys.argv[1:] or list(services.NAMES)
    for name in names:
        try:
            check_load(name)
        except services.NotInstalled as e:
            kilntest.skip(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
