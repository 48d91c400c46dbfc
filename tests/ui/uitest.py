# SPDX-License-Identifier: Apache-2.0
"""Helpers for tests of `kiln ui`: start it, feed it, drive its API, compute shares.

Used by tests/ui/test_ui_api.py with tests/ui/ui_feed as the producer, and meant for the
end-to-end test with the real agent: start `kiln agent` on a ring, `start_ui(ring)`,
`wait_workload(ui, match)`, `enable(ui, id)`, `wait_samples(ui, id, n)`, then compare
`self_shares(flamegraph(ui, id))` with the workload's mix.
"""
import gzip
import json
import os
import select
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "record"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
# The paths and fail/skip of every end-to-end test; also read as uitest.KILN etc.
from kilntest import BUILD, KILN, SKIP, fail, skip  # noqa: E402,F401
from poll import poll  # noqa: E402

FEED = os.path.join(BUILD, "tests", "ui", "ui_feed")


class UI:
    """A running `kiln ui`; base is its http://ADDR:PORT."""

    def __init__(self, proc, base, token=None):
        self.proc = proc
        self.base = base
        self.token = token  # sent as Authorization: Bearer by request()

    def stop(self, timeout=10):
        """SIGTERM, then returns the exit status (it must exit 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("kiln ui did not exit within %ds of SIGTERM" % timeout)


def start_ui(ring, listen="127.0.0.1:0", env=None, args=(), timeout=10):
    """Starts `kiln ui` and waits for its "listening on" line. Returns a UI."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([KILN, "ui", "--ring", ring, "--listen", listen] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    r, _, _ = select.select([p.stdout], [], [], timeout)
    line = p.stdout.readline().decode() if r else ""
    if "listening on http://" not in line:
        p.kill()
        out, err = p.communicate()
        fail("kiln ui did not start: %s%s" % (line, err.decode()))
    return UI(p, line.split("listening on ")[1].split()[0].rstrip("/"))


def start_feed(ring, keys, mix=None, recursive=False, interval_ms=50, samples=1000,
               windows=0, name=None, extra=()):
    """Starts tests/ui/ui_feed writing records for KEYS into RING; wait for its first line."""
    args = [FEED, "--ring", ring, "--interval-ms", str(interval_ms), "--samples", str(samples)]
    for k in keys:
        args += ["--key", k]
    if mix:
        args += ["--mix", mix]
    if recursive:
        args.append("--recursive")
    if windows:
        args += ["--windows", str(windows)]
    if name:
        args += ["--name", name]
    args += list(extra)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith("window"):
        p.kill()
        fail("ui_feed did not start: " + p.stderr.read().decode())
    return p


def stop_proc(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def request(ui, method, path, body=None, headers=None, timeout=10, proof=True):
    """Returns (status, headers, body bytes); 4xx/5xx are returned, not raised.

    A state change carries X-Kiln-Request: 1 as the UI's page sends it (PROOF false: not),
    and every request the UI's token when it has one."""
    h = dict(headers or {})
    if proof and method not in ("GET", "HEAD"):
        h.setdefault("X-Kiln-Request", "1")
    if ui.token:
        h.setdefault("Authorization", "Bearer " + ui.token)
    req = urllib.request.Request(ui.base + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def api(ui, method, path, want=(200,)):
    status, _, body = request(ui, method, path)
    if status not in want:
        fail("%s %s: %d %s" % (method, path, status, body[:300]))
    return json.loads(body) if body else None


def slot_path(wid):
    return "/api/slots/" + urllib.parse.quote(wid, safe="")


def wait_for(what, fn, timeout=20, step=0.05):
    """Polls FN until it returns a true value, which it returns; fails after TIMEOUT seconds."""
    v = poll(fn, timeout, step)
    if not v:
        fail("timed out waiting for " + what)
    return v


def workloads(ui):
    return api(ui, "GET", "/api/workloads")


def wait_workload(ui, match, timeout=20):
    """Waits for a workload whose id equals MATCH (a string) or satisfies MATCH (callable)."""
    pred = match if callable(match) else (lambda w: w["id"] == match)
    return wait_for("workload %s" % match,
                    lambda: next((w for w in workloads(ui) if pred(w)), None), timeout)


def enable(ui, wid):
    return api(ui, "POST", slot_path(wid), want=(200, 201))


def flamegraph(ui, wid, max_nodes=None):
    q = "?max_nodes=%d" % max_nodes if max_nodes else ""
    return api(ui, "GET", slot_path(wid) + "/flamegraph" + q)


def symbols(ui, wid, sort="self", limit=0):
    return api(ui, "GET", slot_path(wid) + "/symbols?sort=%s&limit=%d" % (sort, limit))


def wait_samples(ui, wid, n, timeout=30):
    """Waits until the slot of WID holds at least N samples; returns the flame graph."""
    return wait_for("%d samples in %s" % (n, wid),
                    lambda: (lambda f: f if f["total"] >= n else None)(flamegraph(ui, wid)),
                    timeout)


def check_tree(node):
    """Every node's total is its self plus its children's totals. Returns the node count."""
    n = 1
    s = node["self"]
    for c in node["children"]:
        n += check_tree(c)
        s += c["total"]
    if s != node["total"]:
        fail("node %s: total %d != self + children %d" % (node["name"], node["total"], s))
    return n


def self_shares(fg):
    """Share of all samples (0..1) whose leaf is each function, from a flamegraph answer."""
    out = {}

    def walk(n):
        if n["self"]:
            out[n["name"]] = out.get(n["name"], 0) + n["self"]
        for c in n["children"]:
            walk(c)
    walk(fg["tree"])
    total = fg["tree"]["total"] or 1
    return {k: v / total for k, v in out.items()}


def symbol_rows(sy):
    return {r["name"]: r for r in sy["symbols"]}


def gzip_bytes(b):
    return gzip.compress(b)
