#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kiln export over HTTPS to a real TLS server on loopback (Python's ssl), with a CA the
test makes with openssl. Verified by default: the right CA in tls.caFile delivers every
sample; the system store (no caFile), a wrong CA, a certificate for another host name, an
expired certificate and an unreadable caFile are each refused with an error naming the
destination and the reason, counted by cause in the exit summary, and nothing reaches the
server; the batches stay in the spool and go out once the CA is right.
usage: test_tls.py EXP_PRODUCER EXP_CHECK
"""
import os, re, shutil, signal, ssl, subprocess, sys, tempfile, threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import expcheck  # noqa: E402
import httprecv  # noqa: E402
from testenv import remove_ring  # noqa: E402
from expcheck import check  # noqa: E402

KILN = os.environ.get("KILN", "build/kiln")
PRODUCER, CHECK = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="kiln-tls-test-")
def openssl(*args):
    subprocess.run(["openssl"] + list(args), cwd=TMP, check=True, capture_output=True)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".pem", "-days", "2", "-subj", "/CN=kiln test " + name)


def make_cert(name, ca, san, days):
    """A server certificate signed by CA; DAYS -1 makes one that expired a day ago."""
    with open(os.path.join(TMP, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + san.split(":", 1)[1].split(",")[0])
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", str(days), "-extfile", name + ".ext")


class Server:
    """An HTTPS OTLP receiver with certificate CERT; counts requests and decoded samples."""

    def __init__(self, cert):
        self.requests = 0
        self.samples = 0
        self.lock = threading.Lock()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(TMP, cert + ".pem"), os.path.join(TMP, cert + ".key"))
        # quiet: handshakes the client refuses are expected here.
        self.httpd = httprecv.PostServer(self.post, ssl_context=ctx, quiet=True)
        self.port = self.httpd.port

    def post(self, req, body):
        r = httprecv.exp_check(CHECK, TMP, body, req.headers.get("Content-Encoding", ""))
        with self.lock:
            self.requests += 1
            if r.returncode == 0:
                self.samples += int(r.stdout)
        return 200 if r.returncode == 0 else 400, {}, b""

    def stop(self):
        self.httpd.stop()


def config(name, url, ca_file, spool):
    path = os.path.join(TMP, name + ".yaml")
    tls = "    tls: {caFile: %s}\n" % ca_file if ca_file else ""
    with open(path, "w") as f:
        f.write("""profiling:
  exporter:
    timeout: 3s
    batchTimeout: 200ms
    retryOnFailure: {enabled: true, initialInterval: 100ms, maxInterval: 200ms, maxElapsedTime: 600ms}
    spool: {enabled: true, directory: %s}
destinations:
  - name: tls-%s
    type: otlp
    url: %s
%s""" % (spool, name, url, tls))
    return path


def export(ring, cfg):
    p = subprocess.run([KILN, "export", "--ring", ring, "--config", cfg, "--once"],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr


def produce(ring, n):
    return int(subprocess.check_output([PRODUCER, ring, str(n), "2"]).decode())


def spooled(spool, name):
    d = os.path.join(spool, "tls-" + name)
    return len([f for f in os.listdir(d) if f.endswith(".batch") or f[0].isdigit()]) if os.path.isdir(d) else 0


def main():
    ring = "ktls-%d" % os.getpid()
    make_ca("ca")
    make_ca("other-ca")
    make_cert("good", "ca", "DNS:localhost,IP:127.0.0.1", 2)
    make_cert("wronghost", "ca", "DNS:elsewhere.test", 2)
    make_cert("expired", "ca", "DNS:localhost,IP:127.0.0.1", -1)
    ca = os.path.join(TMP, "ca.pem")
    servers = {n: Server(n) for n in ("good", "wronghost", "expired")}
    try:
        want = produce(ring, 12)
        # The right CA: every sample arrives, verified (https, no option to skip it exists).
        rc, err = export(ring, config("ok", "https://localhost:%d" % servers["good"].port, ca,
                                      os.path.join(TMP, "spool-ok")))
        check(rc == 0 and servers["good"].samples == want,
              "right CA: exit %d, %d of %d samples delivered over TLS: %s"
              % (rc, servers["good"].samples, want, err.strip()[-300:]))
        check("TLS refused" not in err, "right CA: no TLS refusal")

        cases = [
            ("system", "good", None, "untrusted", "not signed by a trusted CA"),
            ("wrongca", "good", os.path.join(TMP, "other-ca.pem"), "untrusted", "not signed by a trusted CA"),
            ("wronghost", "wronghost", ca, "hostname", "does not name the URL's host"),
            ("expired", "expired", ca, "expired", "has expired"),
            ("cafile", "good", os.path.join(TMP, "no-such-ca.pem"), "ca_file", "tls.caFile cannot be read"),
        ]
        for name, srv, ca_file, cause, why in cases:
            s = servers[srv]
            before = s.requests
            spool = os.path.join(TMP, "spool-" + name)
            url = "https://localhost:%d" % s.port
            rc, err = export(ring, config(name, url, ca_file, spool))
            line = [l for l in err.splitlines() if "TLS refused for" in l]
            check(len(line) == 1 and ("tls-%s: TLS refused for %s" % (name, url)) in line[0]
                  and why in line[0],
                  "%s: one error naming the destination and the reason: %s" % (name, line or err[-400:]))
            m = re.search(r"tls-%s: TLS refused (\d+) times: .*cause=\"%s\"" % (name, cause), err)
            check(m is not None and int(m.group(1)) >= 1,
                  "%s: counted as cause %s in the summary: %s" % (name, cause, m and m.group(0)))
            check(s.requests == before, "%s: no request reached the server" % name)
            check(spooled(spool, name) > 0, "%s: the batches are kept in the spool" % name)
        # Fixed: the spooled batches of the wrong-CA run go out with the right CA.
        before = servers["good"].samples
        rc, err = export(ring, config("wrongca", "https://localhost:%d" % servers["good"].port, ca,
                                      os.path.join(TMP, "spool-wrongca")))
        check(rc == 0 and servers["good"].samples - before == want,
              "wrong CA fixed: %d of %d samples delivered from the spool"
              % (servers["good"].samples - before, want))
    finally:
        for s in servers.values():
            s.stop()
        remove_ring(ring)
        shutil.rmtree(TMP, ignore_errors=True)


main()
print("FAILED: %d" % expcheck.fails if expcheck.fails else "all passed")
sys.exit(1 if expcheck.fails else 0)
