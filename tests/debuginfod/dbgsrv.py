# SPDX-License-Identifier: Apache-2.0
"""Helpers of tests/debuginfod: a stripped program with its split debug file, a real
debuginfod server over it on a random loopback port, and a fake server that answers slowly or
with garbage."""
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
# free_port: also called as dbgsrv.free_port by the debuginfod tests.
from testenv import free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, f"{path} has no GNU build id"
    return m.group(1)


def build_prog(tmp, name="spin", spin_n=None, serve=True):
    """Builds spin.c as TMP/NAME (stripped, no frame pointers) and TMP/srv/NAME.debug (its
    debug file alone; SERVE False: TMP/NAME.debug, not served). SPIN_N: another workload size,
    another build id. Returns (program path, served directory, build id)."""
    full = os.path.join(tmp, name + ".full")
    prog = os.path.join(tmp, name)
    srv = os.path.join(tmp, "srv")
    os.makedirs(srv, exist_ok=True)
    defs = [f"-DSPIN_N={spin_n}"] if spin_n else []
    subprocess.run(["gcc", "-O2", "-g", "-fomit-frame-pointer", "-Wl,--build-id", *defs, "-o",
                    full, os.path.join(HERE, "spin.c")], check=True)
    subprocess.run(["objcopy", "--only-keep-debug", full,
                    os.path.join(srv if serve else tmp, name + ".debug")], check=True)
    subprocess.run(["objcopy", "--strip-all", full, prog], check=True)
    syms = subprocess.run(["readelf", "-S", prog], capture_output=True, text=True).stdout
    assert ".symtab" not in syms, "the program is not stripped"
    return prog, srv, build_id(prog)


def wait_for(what, cond, timeout=30.0, step=0.05):
    """Polls COND until it returns a true value or TIMEOUT passes (then fails naming WHAT)."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


class Debuginfod:
    """Debian's debuginfod serving the ELF/debug files under DIRECTORY on 127.0.0.1."""

    instances = 0

    def __init__(self, directory, tmp, port=None):
        if not shutil.which("debuginfod"):
            skip("debuginfod (the server, Debian package debuginfod) is not installed")
        self.dir = directory
        # A database of its own: one that already knows the files would not scan them again
        # (and the readiness check waits for that scan).
        Debuginfod.instances += 1
        self.db = os.path.join(tmp, f"debuginfod-{os.getpid()}-{Debuginfod.instances}.sqlite")
        self.log = open(os.path.join(tmp, "debuginfod.log"), "w")
        self.proc = None
        self.start(port)

    def start(self, port=None):
        for _ in range(5):
            self.port = port or free_port()
            self.proc = subprocess.Popen(
                ["debuginfod", "-F", self.dir, "-p", str(self.port), "-d", self.db, "-t", "0",
                 "-g", "0", "-v"], stdout=self.log, stderr=subprocess.STDOUT)
            try:
                wait_for("debuginfod to scan its directory",
                         lambda: self.proc.poll() is not None or
                         self.metric('scanned_files_total{source="file"}') >= 1)
            except AssertionError:
                self.stop()
                raise
            if self.proc.poll() is None:
                return
        raise AssertionError("debuginfod would not start (port taken 5 times?)")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def metrics(self):
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return ""

    def metric(self, name):
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0

    def requests(self):
        """debuginfo requests the server received."""
        return int(self.metric('http_requests_total{type="debuginfo"}'))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FakeServer:
    """A debuginfod look-alike: MODE "slow" holds every request open until stop(); "garbage"
    answers 200 with bytes that are no ELF file. Counts the requests it received."""

    def __init__(self, mode):
        self.mode = mode
        self.release = threading.Event()
        self.hits = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                if outer.mode == "slow":
                    outer.release.wait(120)
                    return
                body = os.urandom(4096)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
