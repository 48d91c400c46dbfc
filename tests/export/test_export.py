#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kiln export end to end, against a loopback OTLP receiver scripted to fail.

Every body the receiver accepts is decoded (exp_check: decompress + kiln's validator) and,
when ../shared exists, by protoc with the upstream v1.11.0 schema. The sum of the sample
counts accepted must equal the sum written into the ring, through: 503 with Retry-After,
connection refused, SIGKILL + restart during an outage, a receiver slower than the timeout.
400/413/415 are not retried; 429 waits for its Retry-After; retry times stay inside the
backoff bounds. KILN_EXPORT_OUTAGE_S sets the outage length (default 3 s; the issue's full
run: 60 for 503 and 120 for connection refused, KILN_EXPORT_REFUSED_S).
usage: test_export.py EXP_PRODUCER EXP_CHECK
"""
import os, re, signal, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import expcheck  # noqa: E402
import httprecv  # noqa: E402
from testenv import remove_ring  # noqa: E402
from expcheck import check, wait_for  # noqa: E402

KILN = os.environ.get("KILN", "build/kiln")
SRC = os.environ.get("KILN_SRC", ".")
SHARED = os.path.join(SRC, "..", "shared")
PRODUCER, CHECK = sys.argv[1], sys.argv[2]
OUT = float(os.environ.get("KILN_EXPORT_OUTAGE_S", "3"))
REFUSED = float(os.environ.get("KILN_EXPORT_REFUSED_S", str(OUT)))
TMP = tempfile.mkdtemp(prefix="kiln-export-test-")
class Receiver:
    """Records every request; `mode` scripts the answer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reqs = []  # (monotonic time, status, headers)
        self.samples = 0
        self.mode = ("ok", 0)
        self.port = 0
        self.srv = None
        self.n = 0
        self.start()

    def start(self):
        self.srv = httprecv.PostServer(self.post, self.port)
        self.port = self.srv.port

    def post(self, req, body):
        with self.lock:
            mode, arg = self.mode
            self.n += 1
            n = self.n
        t = time.monotonic()
        if mode == "slow":
            # Slower than the client's timeout: the answer is never seen, not counted.
            time.sleep(arg)
            mode = "ok" if self.mode[0] == "ok_after_slow" else "ok_uncounted"
        status, extra, text = 200, {}, b""
        if mode in ("ok", "ok_after_slow"):
            enc = req.headers.get("Content-Encoding", "")
            r = httprecv.exp_check(CHECK, TMP, body, enc)
            if r.returncode != 0:
                status, text = 400, r.stderr.encode()
                check(False, "body %d valid: %s" % (n, r.stderr.strip()))
            else:
                with self.lock:
                    self.samples += int(r.stdout)
                self.protoc(body, n, enc)
        elif mode == "ok_uncounted":
            status = 200
        elif mode.isdigit():
            status = int(mode)
            text = b"scripted %d\nsecond line\n" % status
            if arg:
                extra["Retry-After"] = str(arg)
        with self.lock:
            self.reqs.append((t, status, dict(req.headers)))
        return status, extra, text

    def stop(self):
        """Connection refused from now on (the port stays ours to reopen)."""
        self.srv.stop()

    def protoc(self, body, n, enc):
        if not os.path.isdir(SHARED) or enc:
            return
        r = subprocess.run(["protoc", "--decode=opentelemetry.proto.collector.profiles."
                            "v1development.ExportProfilesServiceRequest", "-I",
                            os.path.join(SHARED, "otlp-proto"),
                            "opentelemetry/proto/collector/profiles/v1development/"
                            "profiles_service.proto"], input=body, capture_output=True)
        check(r.returncode == 0 and b"resource_profiles" in r.stdout,
              "protoc decodes req-%d.bin" % n)

    def got(self):
        with self.lock:
            return self.samples


def config(name, initial="200ms", max_interval="1s", elapsed="3s", timeout="1s"):
    path = os.path.join(TMP, name + ".yaml")
    with open(path, "w") as f:
        f.write("""profiling:
  exporter:
    timeout: %s
    batchTimeout: 300ms
    retryOnFailure:
      enabled: true
      initialInterval: %s
      maxInterval: %s
      maxElapsedTime: %s
    spool:
      enabled: true
      directory: %s
      maxBytes: 64MiB
""" % (timeout, initial, max_interval, elapsed, os.path.join(TMP, "spool-" + name)))
    return path


def produce(ring, n, w=3):
    return int(subprocess.check_output([PRODUCER, ring, str(n), str(w)]).decode())


def export(ring, port, cfg, once=False, extra=(), env=None):
    args = [KILN, "export", "--ring", ring, "--config", cfg, "--destination",
            "otlp=http://127.0.0.1:%d" % port, "-v"] + list(extra)
    if once:
        args.append("--once")
    return subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def finish(p, what):
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    check(p.returncode == 0, what + ": exit 0 after SIGTERM")
    return err


def run(name, fn):
    ring = "kt-%d-%s" % (os.getpid(), name)
    try:
        fn(ring)
    finally:
        subprocess.run([KILN, "status", "--help"], capture_output=True)
        remove_ring(ring)


def t_basic(ring):
    r = Receiver()
    want = produce(ring, 24)
    for comp in ("none", "gzip", "zstd"):
        # Each pass starts from scratch: a new spool dir means no cursor.
        p = export(ring, r.port, config("basic-" + comp), once=True,
                   extra=["--compression", comp, "--spool-dir", os.path.join(TMP, "sb-" + comp)],
                   env={"KILN_TOKEN": "s3cr3t-t0ken"})
        _, err = p.communicate(timeout=60)
        check(p.returncode == 0, "basic %s: exit 0" % comp)
    check(r.got() == 3 * want, "basic: %d samples received, %d written x3" % (r.got(), want))
    h = r.reqs[0][2]
    check(h.get("Content-Type") == "application/x-protobuf", "Content-Type exact")
    check(h.get("User-Agent", "").startswith("kiln/"), "User-Agent kiln/VERSION")
    r.stop()


def t_503(ring):
    r = Receiver()
    want = produce(ring, 12)
    r.mode = ("503", 1)
    p = export(ring, r.port, config("503", elapsed="600s", max_interval="2s"))
    wait_for(lambda: len(r.reqs) >= 1, 30, "the first 503")
    time.sleep(0) if False else None
    end = time.monotonic() + OUT
    wait_for(lambda: time.monotonic() >= end, OUT + 5, "the 503 outage")
    r.mode = ("ok", 0)
    wait_for(lambda: r.got() == want, 60, "delivery after 503")
    finish(p, "503")
    check(r.got() == want, "503 Retry-After for %gs: %d of %d samples" % (OUT, r.got(), want))
    gaps = [b[0] - a[0] for a, b in zip(r.reqs, r.reqs[1:]) if a[1] == 503]
    check(all(g >= 0.95 for g in gaps), "503: every retry waited the 1 s Retry-After")
    r.stop()


def t_refused(ring):
    r = Receiver()
    r.stop()
    want = produce(ring, 12)
    p = export(ring, r.port, config("refused", elapsed="600s", max_interval="2s"))
    end = time.monotonic() + REFUSED
    wait_for(lambda: time.monotonic() >= end, REFUSED + 5, "the refused outage")
    r.start()
    wait_for(lambda: r.got() == want, 60, "delivery after connection refused")
    finish(p, "refused")
    check(r.got() == want, "refused for %gs: %d of %d samples" % (REFUSED, r.got(), want))
    r.stop()


def t_kill(ring):
    r = Receiver()
    want = produce(ring, 12)
    r.mode = ("503", 0)
    cfg = config("kill", elapsed="1s", max_interval="500ms", initial="100ms")
    spool = os.path.join(TMP, "spool-kill")
    p = export(ring, r.port, cfg)
    wait_for(lambda: any(f.endswith(".spool") for d, _, fs in os.walk(spool) for f in fs), 60,
             "batches in the spool")
    p.kill()
    p.wait()
    more = produce(ring, 6)  # the agent keeps writing while the exporter is down
    p = export(ring, r.port, cfg)
    wait_for(lambda: len(r.reqs) >= 4, 30, "retries after the restart")
    r.mode = ("ok", 0)
    wait_for(lambda: r.got() == want + more, 60, "delivery after SIGKILL")
    time.sleep(0) if False else None
    finish(p, "kill")
    check(r.got() == want + more, "SIGKILL during outage: %d of %d samples, no duplicates"
          % (r.got(), want + more))
    r.stop()


def t_slow(ring):
    r = Receiver()
    want = produce(ring, 6)
    r.mode = ("slow", 1.5)
    p = export(ring, r.port, config("slow", elapsed="600s", timeout="1s"))
    wait_for(lambda: len(r.reqs) >= 2, 30, "two slow answers")
    r.mode = ("ok", 0)
    wait_for(lambda: r.got() == want, 60, "delivery after a slow receiver")
    finish(p, "slow")
    check(r.got() == want, "slower than the timeout: %d of %d samples" % (r.got(), want))
    r.stop()


def t_final(ring):
    r = Receiver()
    produce(ring, 3, 1)
    for st in (400, 413, 415):
        r.reqs.clear()
        r.mode = (str(st), 0)
        p = export(ring, r.port, config("final-%d" % st), once=True,
                   extra=["--spool-dir", os.path.join(TMP, "sf-%d" % st),
                          "--batch-timeout", "60s"])
        _, err = p.communicate(timeout=60)
        check(len(r.reqs) == 1, "%d: sent once, not retried (%d requests)" % (st, len(r.reqs)))
        check(("HTTP %d" % st) in err and "scripted %d" % st in err and "second line" not in err,
              "%d: logged with the first body line" % st)
    r.stop()


def t_429_backoff(ring):
    r = Receiver()
    produce(ring, 3, 1)
    r.mode = ("429", 1)
    p = export(ring, r.port, config("429", elapsed="600s"), once=True,
               extra=["--batch-timeout", "60s"])
    wait_for(lambda: len(r.reqs) >= 3, 30, "429 retries")
    r.mode = ("ok", 0)
    p.communicate(timeout=60)
    t = [q[0] for q in r.reqs]
    check(all(b - a >= 0.95 for a, b in zip(t[:2], t[1:3])), "429 retried after Retry-After 1 s")
    # Backoff without Retry-After: initial 200ms x1.5^n, +-50%, capped at 1s, stop after 3s.
    r.reqs.clear()
    r.mode = ("503", 0)
    p = export(ring, r.port, config("bo", initial="200ms", max_interval="1s", elapsed="3s"),
               once=True, extra=["--spool-dir", os.path.join(TMP, "sbo"), "--batch-timeout", "60s"])
    p.communicate(timeout=60)
    t = [q[0] for q in r.reqs]
    ok = len(t) >= 4
    cur = 0.2
    for a, b in zip(t, t[1:]):
        g = b - a
        ok = ok and cur * 0.5 - 0.02 <= g <= cur * 1.5 + 0.25
        cur = min(cur * 1.5, 1.0)
    check(ok, "backoff gaps within initial x 1.5^n +-50%%, capped: %s" %
          ["%.2f" % (b - a) for a, b in zip(t, t[1:])])
    check(t[-1] - t[0] <= 3.0 + 0.3, "retries stop after maxElapsedTime (%.2f s)" % (t[-1] - t[0]))
    r.stop()


def t_secret(ring):
    r = Receiver()
    produce(ring, 2, 1)
    cfg = os.path.join(TMP, "secret.yaml")
    with open(cfg, "w") as f:
        f.write("""profiling:
  exporter:
    spool: {enabled: false}
destinations:
  - name: sec
    type: otlp
    url: http://127.0.0.1:%d
    auth: {bearerTokenEnv: KILN_TEST_TOKEN}
""" % r.port)
    p = subprocess.run([KILN, "export", "--ring", ring, "--config", cfg, "--once", "-v", "-v"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, KILN_TEST_TOKEN="tok-9f8e7d6c"))
    check(p.returncode == 0, "bearer: exit 0")
    check(any(q[2].get("Authorization") == "Bearer tok-9f8e7d6c" for q in r.reqs),
          "bearer token sent")
    check("tok-9f8e7d6c" not in p.stderr + p.stdout, "bearer token never logged")
    r.stop()


def t_defaults(ring):
    """No --config, no --destination: kiln export starts from the same defaults as every
    other command (common/config.c), so it writes gzip'd OTLP files into ./profiles."""
    want = produce(ring, 5, 2)
    cwd = os.path.join(TMP, "defaults-cwd")
    os.mkdir(cwd)
    # --spool-dir only so that a root test run does not create /var/lib/kiln/spool.
    p = subprocess.run([KILN, "export", "--ring", ring, "--once", "--spool-dir",
                        os.path.join(TMP, "spool-defaults")], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    out = os.path.join(cwd, "profiles")
    files = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check(p.returncode == 0 and files and all(f.endswith(".pb.gz") for f in files),
          "defaults: exit %d, files in ./profiles %s: %s" % (p.returncode, files, p.stderr))
    got = 0
    for f in files:
        c = subprocess.run([CHECK, os.path.join(out, f), "gzip"], capture_output=True, text=True)
        check(c.returncode == 0, "defaults: %s decodes: %s" % (f, c.stderr))
        got += int(c.stdout or 0)
    check(got == want, "defaults: %d of %d samples in ./profiles" % (got, want))


def t_rotate(ring):
    """A file destination keeps at most maxFiles files, oldest removed first, and every
    removal is counted in the exit summary (never silent)."""
    produce(ring, 24)
    out = os.path.join(TMP, "rotate-out")
    cfg = os.path.join(TMP, "rotate.yaml")
    with open(cfg, "w") as f:
        f.write("profiling:\n  exporter:\n    batchMaxBytes: 4KiB\n"
                "destinations:\n  - name: local\n    type: file\n    url: %s\n"
                "    maxFiles: 2\n" % out)
    p = subprocess.run([KILN, "export", "--ring", ring, "--once", "--config", cfg,
                        "--spool-dir", os.path.join(TMP, "spool-rotate")],
                       capture_output=True, text=True, timeout=60)
    files = sorted(os.listdir(out)) if os.path.isdir(out) else []
    m = re.search(r"local: (\d+) batches.*; (\d+) old files rotated out", p.stderr)
    check(p.returncode == 0 and m is not None,
          "rotate: exit %d, summary names rotated files: %s" % (p.returncode, p.stderr))
    if m:
        batches, rotated = int(m.group(1)), int(m.group(2))
        check(batches > 2 and len(files) == 2 and rotated == batches - 2,
              "rotate: %d batches written, %d files kept, %d rotated out"
              % (batches, len(files), rotated))


if not os.path.isdir(SHARED):
    print("note: %s absent, bodies checked by kiln's validator only" % SHARED)
for name, fn in [("basic", t_basic), ("final", t_final), ("b429", t_429_backoff),
                 ("secret", t_secret), ("e503", t_503), ("refused", t_refused),
                 ("kill", t_kill), ("slow", t_slow), ("defaults", t_defaults),
                 ("rotate", t_rotate)]:
    print("== " + name, flush=True)
    run(name, fn)
print("FAILED: %d" % expcheck.fails if expcheck.fails else "all passed")
sys.exit(1 if expcheck.fails else 0)
