#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kiln status end to end.

usage: test_status.py pipeline|runstate|errors EXP_PRODUCER EXP_CHECK

pipeline  the real agent (-F 99, ring group nogroup) with the known-answer workload, `kiln
          export` to a closed loopback port, then to a loopback OTLP receiver, and `kiln ui`:
          export failures and retries grow, the spool fills; samples_taken grows at the
          workload's rate; an ordinary user in the ring's group reads it all; the UI's slot
          counters; after the receiver comes up the spool drains to 0 and, once the agent
          stops, the samples_sent published in the ring equal what the receiver decoded.
runstate  a fake `kiln run` state file: dead and alive children, restarts, last exit,
          malformed file (exp_producer stands in for the agent: no BPF needed).
errors    missing ring, bad flags, EACCES as uid 65534 on a ring of a group it lacks, and
          the same user reading a ring of its own group.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "record"))
sys.path.insert(0, os.path.join(HERE, "..", "ui"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from kilntest import KILN, WORKLOAD, bpf_refused, fail, skip  # noqa: E402
import uitest  # noqa: E402
import httprecv  # noqa: E402
from testenv import free_port  # noqa: E402

CASE, PRODUCER, CHECK = sys.argv[1], sys.argv[2], sys.argv[3]
RING = "status-%d-%s" % (os.getpid(), CASE)
SHM = "/dev/shm/kiln-" + RING
TMP = tempfile.mkdtemp(prefix="kiln-status-test-")
NOBODY = 65534
procs = []


def log(msg):
    print(msg, flush=True)


def status(*args, user=None, check=True):
    """Runs `kiln status --ring RING ARGS` (as uid/gid USER if given). Returns the process."""
    kw = {}
    if user is not None:
        kw = dict(user=user, group=user, extra_groups=[])
    p = subprocess.run([KILN, "status", "--ring", RING] + list(args), capture_output=True,
                       text=True, timeout=30, **kw)
    if check and p.returncode != 0:
        fail("kiln status %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def js(user=None):
    p = status("--json", user=user)
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        fail("kiln status --json is not JSON (%s): %r" % (e, p.stdout[:500]))


def consumer(s, kind):
    c = [c for c in s["consumers"] if c["kind"] == kind]
    return c[0] if c else None


def stat(kind, name):
    """A counter of the first consumer of KIND, or None when it is not attached."""
    c = consumer(js(), kind)
    return c["stats"][name] if c else None


def wait_for(what, fn, timeout=30):
    """Polls an observable condition until it holds; fails at the deadline."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    fail("timed out (%ds) waiting for %s; last status:\n%s" % (timeout, what, status().stdout))


def check(cond, what):
    if not cond:
        fail(what)
    log("ok   " + what)


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def stop(p, what, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("%s did not exit within %ds of SIGTERM" % (what, timeout))
    check(p.returncode == 0, "%s exits 0 after SIGTERM (got %s)" % (what, p.returncode))


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for suffix in ("", ".cons", ".run"):
        try:
            os.unlink(SHM + suffix)
        except OSError:
            pass


class Receiver:
    """Loopback OTLP/HTTP receiver: answers 200, decodes every body with exp_check."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.samples = self.requests = 0
        self.bodies = []
        self.srv = httprecv.PostServer(self.post, port)

    def post(self, req, body):
        r = httprecv.exp_check(CHECK, TMP, body, req.headers.get("Content-Encoding", ""))
        status = 200 if r.returncode == 0 else 400
        with self.lock:
            self.requests += 1
            if status == 200:
                self.samples += int(r.stdout)
                self.bodies.append(body)
        return status, {}, b""

    def got(self):
        with self.lock:
            return self.samples, self.requests

    def stop(self):
        self.srv.stop()


def start_agent(args):
    """`kiln agent` on RING; skips only when the kernel refuses the BPF sampler."""
    err = open(os.path.join(TMP, "agent.err"), "w+")
    p = start([KILN, "agent", "--ring", RING] + args, stderr=err)
    end = time.monotonic() + 60
    while time.monotonic() < end and p.poll() is None:
        s = status("--json", check=False)
        if s.returncode == 0 and json.loads(s.stdout)["counters"].get("windows", 0) >= 1:
            return p
        time.sleep(0.1)
    err.seek(0)
    text = err.read()
    if p.poll() is not None and bpf_refused(text):
        skip("the kernel refused the BPF sampler: " + text.strip())
    fail("kiln agent did not write its first window: " + text)


def t_pipeline():
    if os.geteuid() != 0:
        skip("not root: the agent needs CAP_BPF and CAP_PERFMON")
    hz = 99
    work = start([WORKLOAD, "--mix", "alpha=70,beta=30", "--seconds", "120"],
                 stdout=subprocess.DEVNULL)
    agent = start_agent(["-F", str(hz), "--group", "nogroup"])
    port = free_port()
    spool = os.path.join(TMP, "spool")
    cfg = os.path.join(TMP, "export.yaml")
    with open(cfg, "w") as f:
        f.write("""profiling:
  exporter:
    retryOnFailure:
      enabled: true
      initialInterval: 100ms
      maxInterval: 500ms
      maxElapsedTime: 1s
""")
    exp_err = open(os.path.join(TMP, "export.err"), "w")
    exp = start([KILN, "export", "--ring", RING, "--config", cfg, "--destination",
                 "otlp=http://127.0.0.1:%d" % port, "--compression", "none", "--batch-timeout",
                 "300ms", "--timeout", "1s", "--spool-dir", spool], stderr=exp_err)

    # (a) closed port: failures and retries grow, batches wait in the spool.
    wait_for("the exporter's first failure and retry",
             lambda: (stat("export", "failures") or 0) >= 1 and stat("export", "retries") >= 1)
    s = consumer(js(), "export")["stats"]
    f1, r1 = s["failures"], s["retries"]
    wait_for("failures and retries to grow past %d / %d" % (f1, r1),
             lambda: (lambda c: c["failures"] > f1 and c["retries"] > r1)(
                 consumer(js(), "export")["stats"]))
    check(True, "closed port: failures grew past %d and retries past %d" % (f1, r1))
    wait_for("batches in the spool",
             lambda: (stat("export", "spool_bytes") or 0) > 0 and stat("export", "spool_files") > 0)
    s = js()
    e = consumer(s, "export")
    on_disk = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(spool)
                  for n in ns if n.endswith(".spool"))
    check(e["stats"]["spool_bytes"] > 0 and on_disk > 0,
          "spool: %d bytes in %d files published (%d bytes of .spool files on disk)"
          % (e["stats"]["spool_bytes"], e["stats"]["spool_files"], on_disk))
    check(e["stats"]["sent"] == 0 and e["alive"] and e["pid"] == exp.pid,
          "export consumer: pid %d alive, nothing sent" % exp.pid)
    check(any("failures=" in p for p in s["problems"]),
          "failures are listed as a problem: %s" % s["problems"])
    text = status().stdout
    line = next((ln for ln in text.splitlines() if ln.split()[:1] == ["failures"]), "")
    check(line.endswith("<-- !"), "text: non-zero failures marked: %r" % line)
    check(s["producer"]["alive"] and s["producer"]["pid"] == agent.pid and
          0 <= s["producer"]["heartbeat_age_s"] < 5,
          "producer pid %d alive, heartbeat %.2f s ago" % (agent.pid,
                                                          s["producer"]["heartbeat_age_s"]))

    # (c) samples taken grow at the workload's rate: one busy thread at HZ, plus the rest of
    # the host (at most every CPU busy).
    a = js()
    wa = a["counters"]["windows"]
    b = wait_for("two more windows", lambda: (lambda s: s if s["counters"]["windows"] >= wa + 2
                                              else None)(js()))
    dw = b["counters"]["windows"] - wa
    dt = b["counters"]["samples_taken"] - a["counters"]["samples_taken"]
    lo, hi = 0.3 * hz * (dw - 1), 1.5 * hz * (dw + 1) * os.cpu_count()
    check(lo <= dt <= hi, "samples_taken grew by %d over %d windows (expected %d..%d)"
          % (dt, dw, lo, hi))
    check(b["counters"]["samples_aggregated"] >= a["counters"]["samples_aggregated"],
          "samples_aggregated does not go back")

    # An ordinary user in the ring's group (nogroup) sees the same, without privileges.
    n = js(user=NOBODY)
    check(n["ring"]["group"] == "nogroup" and n["producer"]["alive"] and
          consumer(n, "export")["alive"] and n["counters"]["samples_taken"] > 0,
          "uid %d in group nogroup: producer and exporter alive, %d samples taken"
          % (NOBODY, n["counters"]["samples_taken"]))

    # kiln ui publishes its own counters.
    ui = uitest.start_ui(RING)
    procs.append(ui.proc)
    w = uitest.wait_workload(ui, lambda w: w.get("name", "").startswith("workload") or
                             w.get("executable", "") == "workload", timeout=30)
    uitest.enable(ui, w["id"])
    u = wait_for("the UI's slot to hold data", lambda: (lambda c: c if c and c["stats"]["slots"]
                                                       == 1 and c["stats"]["bytes_held"] > 0
                                                       else None)(consumer(js(), "ui")))
    check(u["stats"]["records"] >= u["stats"]["records_kept"] > 0 and u["pid"] == ui.proc.pid,
          "ui: %d records, %d kept, 1 slot holding %d bytes" % (
              u["stats"]["records"], u["stats"]["records_kept"], u["stats"]["bytes_held"]))

    # (b) the receiver comes up on that port: successes grow, the spool drains to 0.
    rcv = Receiver(port)
    wait_for("deliveries and an empty spool",
             lambda: (lambda c: c["sent"] > 0 and c["spool_bytes"] == 0 and
                      c["spool_files"] == 0)(consumer(js(), "export")["stats"]), timeout=40)
    sent1 = stat("export", "sent")
    wait_for("more deliveries", lambda: stat("export", "sent") > sent1)
    check(True, "receiver up: sent grew past %d, spool drained to 0" % sent1)

    # Once the agent stops, everything in the ring reaches the receiver: the exporter's
    # published totals must equal what the receiver decoded.
    stop(agent, "kiln agent")

    def settled():
        s = js()
        c = consumer(s, "export")
        got, reqs = rcv.got()
        if c["lag_bytes"] or c["stats"]["spool_files"] or c["stats"]["samples_sent"] != got:
            return None
        return s, c, got, reqs

    s, c, got, reqs = wait_for("the exporter to deliver the rest", settled, timeout=40)
    check(got > 0 and c["stats"]["samples_sent"] == got and c["stats"]["sent"] == reqs,
          "samples_sent %d == %d samples decoded by the receiver; sent %d == %d requests"
          % (c["stats"]["samples_sent"], got, c["stats"]["sent"], reqs))
    check(c["stats"]["bytes_sent"] == sum(len(b) for b in rcv.bodies),
          "bytes_sent %d == bytes received" % c["stats"]["bytes_sent"])
    check(c["stats"]["records_dropped"] == 0 and c["lost"] == 0, "no record dropped or lost")
    check(any(b"alpha" in b for b in rcv.bodies) and any(b"beta" in b for b in rcv.bodies),
          "the workload's alpha and beta frames reached the receiver")
    check(not s["producer"]["alive"] and s["producer"]["pid"] == 0 and
          any("no producer" in p for p in s["problems"]),
          "stopped agent: producer detached, listed as a problem")
    stop(exp, "kiln export")
    check(ui.stop() == 0, "kiln ui exits 0")
    rcv.stop()
    work.kill()
    work.wait()


def produce(gid=None):
    args = [PRODUCER, RING, "2", "1"] + ([str(gid)] if gid is not None else [])
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def t_runstate():
    produce()
    now = time.time_ns()
    live = start(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process
    with open(SHM + ".run", "w") as f:
        f.write("kiln-run 1\nsupervisor %d %d\n" % (os.getpid(), now - 5 * 10**9))
        f.write("child agent %d running 0 %d -\n" % (live.pid, now - 4 * 10**9))
        f.write("child export %d running 3 %d exit=1\n" % (dead.pid, now - 2 * 10**9))
        f.write("child ui 0 backoff 2 %d signal=9\n" % (now - 10**9))
    s = js()
    sup = s["supervisor"]
    check(sup and sup["pid"] == os.getpid() and sup["alive"] and 4.5 <= sup["uptime_s"] < 60,
          "supervisor pid %d alive, up %.1f s" % (os.getpid(), sup["uptime_s"]))
    ch = {c["name"]: c for c in sup["children"]}
    check(ch["agent"]["alive"] and ch["agent"]["pid"] == live.pid and
          ch["agent"]["restarts"] == 0 and 3.5 <= ch["agent"]["uptime_s"] < 60,
          "agent child alive, up %.1f s, no restart" % ch["agent"]["uptime_s"])
    check(not ch["export"]["alive"] and ch["export"]["restarts"] == 3 and
          ch["export"]["last_exit"] == "exit=1" and ch["export"]["uptime_s"] is None,
          "export child (pid %d) dead, 3 restarts, last exit=1" % dead.pid)
    check(not ch["ui"]["alive"] and ch["ui"]["state"] == "backoff" and
          ch["ui"]["restarts"] == 2 and ch["ui"]["last_exit"] == "signal=9",
          "ui child down in backoff, 2 restarts, last signal=9")
    check(any(p.startswith("export is down") for p in s["problems"]) and
          "export restarts=3" in s["problems"], "problems list the dead child and its restarts")
    text = status().stdout
    row = next((ln.split() for ln in text.splitlines() if ln.split()[:1] == ["export"]), [])
    check(row[:5] == ["export", str(dead.pid), "dead", "running", "3"] and "exit=1" in row,
          "text row: %s" % " ".join(row))
    check("supervisor  kiln run, pid %d, alive" % os.getpid() in text, "text: supervisor line")

    with open(SHM + ".run", "w") as f:
        f.write("kiln-run 1\nsupervisor x\n")
    s = js()
    check(s["supervisor"] is None and s["supervisor_error"] == "malformed state file" and
          "malformed" in status().stdout, "a malformed state file is reported, not trusted")
    os.unlink(SHM + ".run")
    s = js()
    check(s["supervisor"] is None and "supervisor_error" not in s and
          "supervisor  none" in status().stdout, "no state file: no supervisor")
    # exp_producer detached: the ring is still readable, the missing producer stands out.
    check(s["producer"]["pid"] == 0 and s["producer"]["ring"]["records"] == 2 and
          any("no producer" in p for p in s["problems"]), "detached producer reported")


def t_errors():
    missing = "status-missing-%d" % os.getpid()
    for args in ([], ["--json"]):
        p = subprocess.run([KILN, "status", "--ring", missing] + args, capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 1 and not p.stdout and
              "no ring at /dev/shm/kiln-%s" % missing in p.stderr,
              "missing ring %s: exit 1, %r" % (" ".join(args), p.stderr.strip()))
    p = subprocess.run([KILN, "status", "--ring", "rel/ative"], capture_output=True, text=True)
    check(p.returncode == 1 and "invalid ring name 'rel/ative'" in p.stderr,
          "bad ring name: exit 1, %r" % p.stderr.strip())
    for bad in (["--bogus"], ["extra"]):
        p = subprocess.run([KILN, "status"] + bad, capture_output=True, text=True)
        check(p.returncode == 2 and "usage: kiln status" in p.stderr,
              "%s: exit 2 with usage" % bad[0])
    if os.geteuid() != 0:
        skip("not root: cannot run kiln status as uid %d" % NOBODY)
    produce(gid=0)
    p = status(user=NOBODY, check=False)
    want = ("permission denied on %s (mode 0640, group 'root' (gid 0)): run as a member of "
            "group 'root' (gid 0)" % SHM)
    check(p.returncode == 1 and want in p.stderr and not p.stdout,
          "uid %d outside the ring's group: exit 1, %r" % (NOBODY, p.stderr.strip()))
    cleanup()
    produce(gid=NOBODY)
    s = js(user=NOBODY)
    check(s["ring"]["gid"] == NOBODY and s["producer"]["ring"]["records"] == 2,
          "uid %d in the ring's group reads it" % NOBODY)


try:
    cleanup()
    {"pipeline": t_pipeline, "runstate": t_runstate, "errors": t_errors}[CASE]()
    log("all passed")
finally:
    cleanup()
