#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kiln export under faults, each with its counter checked.

backend   a loopback backend that answers garbage, hangs up in the middle of the request or
          of its answer, or never answers, for the first attempts, then accepts: each
          attempt is a counted transport failure, bounded by the timeout, retried, and every
          sample arrives exactly once; a redirect is not followed: refused, counted, said
          once, and nothing reaches the address it points at.
spoolfull the spool on a small tmpfs (mounted by the test) that fills up: no crash, the
          batches that do not fit are counted exactly (their samples in the exit summary),
          spooling resumes once space returns, and everything spooled before and after is
          delivered exactly once when the backend comes back.
usage: test_faults.py EXP_PRODUCER EXP_CHECK {backend|spoolfull}
"""
import os, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import expcheck  # noqa: E402
from testenv import free_port, remove_ring  # noqa: E402
from expcheck import check, wait_for  # noqa: E402

KILN = os.environ.get("KILN", "build/kiln")
PRODUCER, CHECK, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
TMP = tempfile.mkdtemp(prefix="kiln-faults-test-")


class Backend:
    """A raw HTTP/1.1 backend. script: modes for the first requests, then `after`."""

    def __init__(self, script=(), after="ok"):
        self.script = list(script)
        self.after = after
        self.lock = threading.Lock()
        self.samples = 0
        self.requests = 0
        self.seen = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def read_request(self, c, half=False):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return None, None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            k, v = line.split(b":", 1)
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        n = int(hdrs.get("content-length", "0"))
        want = n // 2 if half else n
        while len(body) < want:
            chunk = c.recv(65536)
            if not chunk:
                return None, None
            body += chunk
        return hdrs, body[:want]

    def serve(self, c):
        try:
            while True:
                with self.lock:
                    mode = self.script.pop(0) if self.script else self.after
                hdrs, body = self.read_request(c, half=(mode == "hangup-request"))
                if hdrs is None:
                    return
                with self.lock:
                    self.requests += 1
                    self.seen.append(mode)
                if mode == "ok":
                    path = os.path.join(TMP, "body-%d-%d.bin" % (self.port, self.requests))
                    with open(path, "wb") as f:
                        f.write(body)
                    r = subprocess.run([CHECK, path, hdrs.get("content-encoding", "")],
                                       capture_output=True, text=True)
                    check(r.returncode == 0, "body decodes: %s" % r.stderr.strip())
                    with self.lock:
                        self.samples += int(r.stdout or 0)
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                              b"Content-Length: 0\r\n\r\n")
                    continue
                if mode == "503":
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n")
                    continue
                if mode == "garbage":
                    c.sendall(b"\x16\x03\x01\x00garbage, not HTTP at all\r\n\r\n\xff\xfe")
                elif mode == "hangup-response":
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                elif mode == "silent":
                    # Never answers: the client's timeout must end it; we wait for its close.
                    while c.recv(65536):
                        pass
                elif mode.startswith("redirect:"):
                    loc = mode.split(":", 1)[1]
                    c.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\n"
                              b"Content-Length: 0\r\n\r\n" % loc.encode())
                    continue
                # garbage, hangup-*, silent: the connection ends here.
                return
        except OSError:
            return
        finally:
            c.close()

    def stop(self):
        self.sock.close()


def produce(ring, n):
    return int(subprocess.check_output([PRODUCER, ring, str(n), "2"]).decode())


def config(name, spool=None, elapsed="20s"):
    path = os.path.join(TMP, name + ".yaml")
    with open(path, "w") as f:
        f.write("""profiling:
  exporter:
    timeout: 1s
    batchTimeout: 200ms
    batchMaxBytes: 16KiB
    retryOnFailure: {enabled: true, initialInterval: 50ms, maxInterval: 100ms, maxElapsedTime: %s}
    spool: %s
""" % (elapsed, "{enabled: true, directory: %s, maxBytes: 64MiB}" % spool if spool
              else "{enabled: false}"))
    return path


def summary_line(err, what):
    m = re.search(what, err)
    return m


def case_backend():
    ring = "kflt-%d" % os.getpid()
    try:
        for i, faults in enumerate( (["garbage", "garbage"], ["hangup-request", "hangup-request"],
                       ["hangup-response", "hangup-response"], ["silent"])):
            name = faults[0]
            # A ring of its own: the exporter reads a ring from its oldest record.
            remove_ring(ring)
            ring = "kflt-%d-%d" % (os.getpid(), i)
            b = Backend(faults)
            want = produce(ring, 3)
            t0 = time.monotonic()
            p = subprocess.run([KILN, "export", "--ring", ring, "--config", config(name), "--once",
                                "--destination", "otlp=http://127.0.0.1:%d" % b.port],
                               capture_output=True, text=True, timeout=120)
            took = time.monotonic() - t0
            b.stop()
            err = p.stderr
            check(p.returncode == 0, "%s: exit 0: %s" % (name, err[-300:]))
            check(b.samples == want, "%s: %d of %d samples delivered once, after %s"
                  % (name, b.samples, want, b.seen))
            m = re.search(r"failed attempts: transport (\d+)", err)
            check(m is not None and int(m.group(1)) == len(faults),
                  "%s: %d transport failures counted (%s)" % (name, len(faults), m and m.group(0)))
            m = re.search(r"(\d+) retries", err)
            check(m is not None and int(m.group(1)) >= len(faults),
                  "%s: retried (%s)" % (name, m and m.group(0)))
            # Bounded: each failed attempt costs at most the 1 s timeout plus backoff.
            check(took < 30, "%s: done in %.1f s" % (name, took))
        # A redirect: never followed, refused once, counted.
        remove_ring(ring)
        ring = "kflt-%d-redirect" % os.getpid()
        target = Backend()
        b = Backend(after="redirect:http://127.0.0.1:%d/v1development/profiles" % target.port)
        produce(ring, 3)
        p = subprocess.run([KILN, "export", "--ring", ring, "--config", config("redirect"), "--once",
                            "--destination", "otlp=http://127.0.0.1:%d" % b.port],
                           capture_output=True, text=True, timeout=120)
        err = p.stderr
        check(p.returncode == 0, "redirect: exit 0")
        check(target.requests == 0, "redirect: not followed (%d requests at its target)" % target.requests)
        check(b.requests >= 1 and err.count("not followed") == 1
              and ("127.0.0.1:%d" % target.port) in err,
              "redirect: said once, naming where it pointed: %s" % err[-500:])
        m = re.search(r"(\d+) retries; (\d+) batches refused", err)
        check(m is not None and int(m.group(1)) == 0 and int(m.group(2)) == b.requests,
              "redirect: not retried, each batch refused and counted (%s)" % (m and m.group(0)))
        m = re.search(r"failed attempts: other (\d+)", err)
        check(m is not None and int(m.group(1)) == b.requests, "redirect: counted as a failed attempt")
        b.stop()
        target.stop()
    finally:
        remove_ring(ring)


def metric(port, name):
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2).read().decode()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += int(line.split()[-1])
    return total


def run_phase(ring, cfg, port, records):
    """Exporter until it has read RECORDS records, then SIGTERM: what cannot go out is spooled."""
    mport = free_port()
    p = subprocess.Popen([KILN, "export", "--ring", ring, "--config", cfg, "--metrics-listen",
                          "127.0.0.1:%d" % mport, "--destination", "otlp=http://127.0.0.1:%d" % port],
                         stderr=subprocess.PIPE, text=True)
    wait_for(lambda: p.poll() is not None or (metric(mport, "kiln_export_records_total") or 0) >= records,
             30, "the exporter to read %d records" % records)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    return p.returncode, err


def case_spoolfull():
    if os.geteuid() != 0:
        print("SKIP: mounting a tmpfs needs root")
        sys.exit(77)
    mnt = os.path.join(TMP, "mnt")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "kiln-spool-test", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("SKIP: mount tmpfs refused: " + r.stderr.strip())
        sys.exit(77)
    ring = "kspf-%d" % os.getpid()
    spool = os.path.join(mnt, "spool")
    b = Backend(after="503")
    try:
        cfg = config("spoolfull", spool=spool, elapsed="200ms")
        # 1. Backend down, room: everything is spooled.
        s1 = produce(ring, 12)
        rc, err = run_phase(ring, cfg, b.port, 12)
        m = re.search(r"(\d+) spooled \((\d+) bytes in spool\)", err)
        check(rc == 0 and m and int(m.group(1)) > 0 and "could not be written" not in err,
              "room: exit %d, batches spooled: %s" % (rc, m and m.group(0)))
        # 2. The filesystem fills up (another writer): batches that do not fit are lost, counted.
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        os.close(fd)
        s2 = produce(ring, 12)
        rc, err = run_phase(ring, cfg, b.port, 24)
        m = re.search(r"(\d+) batches \((\d+) samples\) not spooled: the spool could not be written", err)
        check(rc == 0, "full: no crash, exit %d: %s" % (rc, err[-400:]))
        check(m is not None and int(m.group(2)) == s2,
              "full: every lost sample counted: %s of %d" % (m and m.group(2), s2))
        check(err.count("cannot spool batch") == 1 and "No space left" in err,
              "full: said once, with the reason")
        # 3. Space returns: spooling resumes.
        os.unlink(filler)
        s3 = produce(ring, 12)
        rc, err = run_phase(ring, cfg, b.port, 36)
        check(rc == 0 and "could not be written" not in err and re.search(r"[1-9]\d* spooled", err),
              "space back: spooling resumes: %s" % err[-300:])
        # 4. The backend is back: everything spooled before and after the full disk arrives.
        b.after = "ok"
        empty = produce(ring, 0)
        mport = free_port()
        p = subprocess.Popen([KILN, "export", "--ring", ring, "--config", cfg, "--metrics-listen",
                              "127.0.0.1:%d" % mport, "--destination", "otlp=http://127.0.0.1:%d" % b.port],
                             stderr=subprocess.PIPE, text=True)
        wait_for(lambda: b.samples >= s1 + s3, 60, "the spooled samples to arrive")
        wait_for(lambda: metric(mport, "kiln_export_spool_bytes") == 0, 20, "the spool to empty")
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        # The cursor could not be written on the full disk either, so the exporter of step 3
        # re-read the batches of step 2 from the ring (which still held them) and spooled
        # them with its own: each sample arrives exactly once.
        check(p.returncode == 0 and b.samples == s1 + s2 + s3 and empty == 0,
              "back: %d samples delivered once = %d spooled before the full disk + %d not "
              "spooled then, re-read from the ring + %d after" % (b.samples, s1, s2, s3))
    finally:
        b.stop()
        remove_ring(ring)
        subprocess.run(["umount", mnt], capture_output=True)


try:
    {"backend": case_backend, "spoolfull": case_spoolfull}[CASE]()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
print("FAILED: %d" % expcheck.fails if expcheck.fails else "all passed")
sys.exit(1 if expcheck.fails else 0)
