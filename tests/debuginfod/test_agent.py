#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`kiln agent` with debuginfod, end to end (real kernel, real debuginfod server on loopback).
Usage: CASE.

  fetch   A stripped, no-frame-pointer program (spin) whose debug file a debuginfod server
          serves, which is down when the agent starts: the leaf shows as [spin+0x...] and the
          failure is counted; the server comes up and within a few windows the same stack is
          named; the cache holds the file; the server stopped mid-run is counted while windows
          go on; a second agent names spin from its first window out of the cache, and the
          server receives no request.
  stall   Servers that answer too slowly (past the timeout) or with garbage: the agent's
          windows keep coming while a fetch hangs, the failures are counted, the frames stay
          [spin+0x...].
"""
import json
import os
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "agent"))
sys.path.insert(0, os.path.join(HERE, "..", "record"))
import dbgsrv  # noqa: E402
from agenttest import RINGDUMP, remove_ring, ring_counters, ring_path  # noqa: E402
from kilntest import KILN, fail, require_root, skip  # noqa: E402

WINDOW_MS = 500


class LiveAgent:
    """`kiln agent` on its own ring; its records are read as they come (ringdump)."""

    def __init__(self, name, args):
        self.ring = "test-dbgi-%s-%d" % (name, os.getpid())
        self.cleanup()
        self.recs = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([KILN, "agent", "--ring", self.ring] + args,
                                     stderr=subprocess.PIPE, text=True)
        dbgsrv.wait_for("the ring to appear",
                        lambda: os.path.exists(ring_path(self.ring)) or
                        self.proc.poll() is not None)
        if self.proc.poll() is not None:
            err = self.proc.stderr.read()
            if "loading the BPF sampler" in err and ("not permitted" in err or
                                                     "not supported" in err.lower()):
                skip("the kernel refused BPF: " + err.strip().splitlines()[-1])
            fail("kiln agent exited early: " + err)
        self.dump = subprocess.Popen([RINGDUMP, self.ring, "300"], stdout=subprocess.PIPE,
                                     text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.dump.stdout:
            if line.strip():
                r = json.loads(line)
                with self.lock:
                    self.recs.append(r)

    def records(self):
        with self.lock:
            return list(self.recs)

    def counters(self):
        return ring_counters(self.ring)

    def leaves(self, tgid):
        """[(window seq, leaf name, frame names)] of TGID's samples so far."""
        out = []
        for r in self.records():
            for s in r["samples"]:
                if s["tgid"] == tgid and s["frames"]:
                    names = [f["name"] for f in s["frames"]]
                    out.append((r["seq"], names[-1], names))
        return out

    def stop(self):
        self.proc.terminate()
        err = self.proc.communicate(timeout=60)[1]
        self.dump.wait(timeout=60)
        self.reader.join(timeout=60)
        self.cleanup()
        if self.proc.returncode != 0:
            fail("kiln agent exited with %d:\n%s" % (self.proc.returncode, err))
        return err

    def cleanup(self):
        remove_ring(self.ring)


def config(tmp, name, urls, **extra):
    path = os.path.join(tmp, name + ".yaml")
    keys = {"urls": urls, "cacheDir": os.path.join(tmp, "cache"), "timeout": "2s",
            "retryInterval": "1s"}
    keys.update(extra)
    with open(path, "w") as f:
        f.write("symbols:\n  debuginfod:\n")
        for k, v in keys.items():
            f.write("    %s: %s\n" % (k, json.dumps(v)))
    return path


def agent_args(cfg, *pids):
    return ["--config", cfg, "-F", "99", "--window-ms", str(WINDOW_MS),
            "-p", ",".join(str(p) for p in pids)]


def case_fetch(tmp):
    prog, srv, bid = dbgsrv.build_prog(tmp)
    # spin2's debug file is not served: the server answers 404, then is stopped.
    prog2, _, bid2 = dbgsrv.build_prog(tmp, "spin2", spin_n=300000, serve=False)
    port = dbgsrv.free_port()
    cfg = config(tmp, "a", ["http://127.0.0.1:%d" % port])
    spin = subprocess.Popen([prog, "300"])
    spin2 = subprocess.Popen([prog2, "300"])
    server = None
    try:
        a = LiveAgent("fetch", agent_args(cfg, spin.pid, spin2.pid))
        try:
            # 1. No server yet: unnamed leaf, the failure counted.
            dbgsrv.wait_for("a window with spin's leaf unnamed",
                            lambda: any(leaf.startswith("[spin+0x")
                                        for _, leaf, _ in a.leaves(spin.pid)))
            dbgsrv.wait_for("debuginfod_conn_errors",
                            lambda: a.counters().get("debuginfod_conn_errors", 0) >= 1)
            print("before: leaf", [x[1] for x in a.leaves(spin.pid)][:3])
            # 2. The server comes up: named within a few windows (retry 1 s + a window).
            server = dbgsrv.Debuginfod(srv, tmp, port=port)
            named = dbgsrv.wait_for(
                "spin's leaf named spin_leaf",
                lambda: [x for x in a.leaves(spin.pid) if x[1] == "spin_leaf"], timeout=30)
            seq, _, names = named[0]
            if "spin_middle" not in names or "main" not in names:
                fail("named stack lacks its callers: %s" % names)
            first_unnamed = min(s for s, leaf, _ in a.leaves(spin.pid)
                                if leaf.startswith("[spin+0x"))
            print("after: window %d named %s (first unnamed window %d)" %
                  (seq, ";".join(names), first_unnamed))
            cached = os.path.join(tmp, "cache", bid, "debuginfo")
            if os.path.getsize(cached) != os.path.getsize(os.path.join(srv, "spin.debug")):
                fail("the cache does not hold spin's debug file")
            dbgsrv.wait_for("the 404 of spin2 counted",
                            lambda: a.counters().get("debuginfod_not_found", 0) >= 1)
            c = a.counters()
            for k in ("debuginfod_fetched", "debuginfod_reloads", "debuginfod_bytes"):
                if c.get(k, 0) < 1:
                    fail("%s is %d" % (k, c.get(k, 0)))
            # 3. The server stops: spin2's next retry is counted; sampling goes on.
            server.stop()
            c0 = a.counters()["debuginfod_conn_errors"]
            w0 = a.counters()["windows"]
            dbgsrv.wait_for("a connection error after the server stopped",
                            lambda: a.counters()["debuginfod_conn_errors"] > c0, timeout=30)
            last = max(s for s, _, _ in a.leaves(spin.pid))
            dbgsrv.wait_for("windows with spin's samples after the stop",
                            lambda: a.counters()["windows"] >= w0 + 3 and
                            max(s for s, _, _ in a.leaves(spin.pid)) > last)
            print("server stopped: conn errors %d -> %d, windows %d -> %d" %
                  (c0, a.counters()["debuginfod_conn_errors"], w0, a.counters()["windows"]))
        finally:
            a.stop()
        spin2.kill()
        # 4. A second agent: spin named from its first window, out of the cache.
        server = dbgsrv.Debuginfod(srv, tmp)
        cfg2 = config(tmp, "b", server.url)
        b = LiveAgent("cache", agent_args(cfg2, spin.pid))
        try:
            dbgsrv.wait_for("spin's samples in the second agent",
                            lambda: b.leaves(spin.pid))
            first = min(b.leaves(spin.pid))
            leaves = {leaf for s, leaf, _ in b.leaves(spin.pid) if s == first[0]}
            if "spin_leaf" not in leaves:
                fail("the second agent's first window is not named: %s" % leaves)
            dbgsrv.wait_for("debuginfod_cache_hits",
                            lambda: b.counters().get("debuginfod_cache_hits", 0) >= 1)
            if server.requests():
                fail("the server received %d requests: the cache was not used" %
                     server.requests())
            print("second agent: first window leaves %s, %d requests to the server" %
                  (sorted(leaves), server.requests()))
        finally:
            b.stop()
    finally:
        for p in (spin, spin2):
            p.kill()
            p.wait()
        if server:
            server.stop()


def case_stall(tmp):
    prog, _, bid = dbgsrv.build_prog(tmp)
    spin = subprocess.Popen([prog, "300"])
    try:
        for mode, counter in (("slow", "debuginfod_timeouts"), ("garbage", "debuginfod_invalid")):
            fake = dbgsrv.FakeServer(mode)
            # slow: a timeout long enough that windows are seen to pass while the fetch
            # hangs (debuginfod_pending), short enough to see it counted.
            cfg = config(tmp, mode, fake.url, cacheDir=os.path.join(tmp, "cache-" + mode),
                         timeout="8s" if mode == "slow" else "1s")
            a = LiveAgent(mode, agent_args(cfg, spin.pid))
            try:
                dbgsrv.wait_for("the server's first request", lambda: fake.hits >= 1)
                if mode == "slow":
                    # The request hangs (the server never answers it): windows go on.
                    w0 = a.counters()["windows"]
                    dbgsrv.wait_for("3 windows while a fetch hangs",
                                    lambda: a.counters()["windows"] >= w0 + 3 and
                                    a.counters().get("debuginfod_pending", 0) >= 1)
                    print("slow: %d windows while the fetch was pending" %
                          (a.counters()["windows"] - w0))
                dbgsrv.wait_for(counter, lambda: a.counters().get(counter, 0) >= 1)
                w0 = a.counters()["windows"]
                dbgsrv.wait_for("3 more windows", lambda: a.counters()["windows"] >= w0 + 3)
                leaves = {leaf for _, leaf, _ in a.leaves(spin.pid)}
                if "spin_leaf" in leaves or not any(x.startswith("[spin+0x") for x in leaves):
                    fail("spin named without its debug file? leaves %s" % leaves)
                recs = a.records()
                gaps = [(r2["start_ns"] - r1["start_ns"]) / 1e6
                        for r1, r2 in zip(recs, recs[1:]) if r2["seq"] == r1["seq"] + 1]
                print("%s: %s=%d, %d windows, largest gap between windows %.0f ms" %
                      (mode, counter, a.counters()[counter], a.counters()["windows"],
                       max(gaps) if gaps else 0))
            finally:
                a.stop()
                fake.stop()
    finally:
        spin.kill()
        spin.wait()


def main():
    require_root()
    case = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="kiln-dbgi-agent-")
    {"fetch": case_fetch, "stall": case_stall}[case](tmp)
    print("PASS")


if __name__ == "__main__":
    main()
