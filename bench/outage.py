#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kiln-bench outage: full-length delivery outages against a loopback receiver.

Scenarios (each on its own ring, the exporter with the production retry defaults: initial
5 s, x1.5, max interval 30 s, max elapsed 300 s, spool on):
  503      the receiver answers 503 with Retry-After: 5 for OUT_503 seconds (60)
  refused  nothing listens on the port for OUT_REFUSED seconds (120)
  kill     503 for OUT_KILL seconds (60); the exporter is SIGKILLed a third of the way in
           and restarted at two thirds
The producer writes a batch of window records at the start and every 10 s of the outage.
Each profile is stored by its profile id as it arrives, so a resend shows as a duplicate.
Prints one line per scenario: "ROW name written delivered duplicates drain_s" where
drain_s is the time from recovery until every sample written was delivered (-1: never,
within DRAIN_MAX s).
usage: outage.py KILN EXP_PRODUCER EXP_CHECK [--short]
"""
import os, signal, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import httprecv  # noqa: E402
from testenv import remove_ring  # noqa: E402

KILN, PRODUCER, CHECK = sys.argv[1:4]
SHORT = "--short" in sys.argv
OUT_503, OUT_REFUSED, OUT_KILL = (4, 8, 4) if SHORT else (60, 120, 60)
DRAIN_MAX = 60 if SHORT else 400
TMP = tempfile.mkdtemp(prefix="kiln-bench-outage-")


class Receiver:
    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.mode = "ok"
        self.stored = {}
        self.samples = 0
        self.srv = httprecv.PostServer(self.post, port)
        self.port = self.srv.port

    def post(self, req, body):
        if self.mode == "503":
            return 503, {"Retry-After": "5"}, b""
        r = httprecv.exp_check(CHECK, TMP, body, req.headers.get("Content-Encoding", ""),
                               "--profiles")
        with self.lock:
            for line in r.stdout.split("\n"):
                f = line.split()
                if len(f) == 3:
                    self.stored[f[0]] = self.stored.get(f[0], 0) + 1
                    self.samples += int(f[2])
        return 200, {}, b""

    def stop(self):
        self.srv.stop()

    def got(self):
        with self.lock:
            return self.samples, sum(v - 1 for v in self.stored.values())


def produce(ring, n=10, w=4):
    return int(subprocess.check_output([PRODUCER, ring, str(n), str(w)]).decode())


def exporter(ring, port, name):
    cfg = os.path.join(TMP, name + ".yaml")
    with open(cfg, "w") as f:
        f.write("""profiling:
  exporter:
    compression: gzip
    spool: {enabled: true, directory: %s}
destinations:
  - {name: p, type: pyroscope, url: "127.0.0.1:%d"}
""" % (os.path.join(TMP, "spool-" + name), port))
    return subprocess.Popen([KILN, "export", "--ring", ring, "--config", cfg],
                            stderr=subprocess.DEVNULL)


def outage(name, length, mode, kill=False):
    ring = "kb-out-%d-%s" % (os.getpid(), name)
    r = Receiver()
    port = r.port
    if mode == "refused":
        r.stop()
    else:
        r.mode = "503"
    written = produce(ring)
    p = exporter(ring, port, name)
    t0 = time.monotonic()
    next_batch = t0 + 10
    killed = restarted = False
    while time.monotonic() < t0 + length:
        now = time.monotonic()
        if now >= next_batch:
            written += produce(ring)
            next_batch += 10
        if kill and not killed and now >= t0 + length / 3:
            p.kill()
            p.wait()
            killed = True
        if kill and killed and not restarted and now >= t0 + 2 * length / 3:
            p = exporter(ring, port, name)
            restarted = True
        time.sleep(0.1)
    if mode == "refused":
        r = Receiver(port)
    else:
        r.mode = "ok"
    t1 = time.monotonic()
    drain = -1.0
    while time.monotonic() < t1 + DRAIN_MAX:
        got, _ = r.got()
        if got >= written:
            drain = time.monotonic() - t1
            break
        time.sleep(0.1)
    # A little longer: a late duplicate would show here.
    time.sleep(2)
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    got, dups = r.got()
    r.stop()
    remove_ring(ring)
    print("ROW %s_%ds %d %d %d %.1f" % (name, length, written, got, dups, drain), flush=True)


outage("503", OUT_503, "503")
outage("refused", OUT_REFUSED, "refused")
outage("kill", OUT_KILL, "503", kill=True)
