#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Debian's own programs under real load on loopback, for `kiln-bench unwind` and tests.

Each load runs Debian's binary (no frame pointers except postgres) in a cgroup of the caller's
choosing, on a random free loopback port, with its own load generator outside that cgroup, so
a profiler selecting the cgroup sees only the service:

  python   /usr/bin/python3.11 running a CPU-bound script
  nginx    nginx (config in a temporary directory), loaded by wrk
  redis    redis-server (no persistence), loaded by redis-benchmark
  postgres initdb in a temporary directory as user postgres, pgbench -i, then pgbench -T

As a library: `with Load(name, cgroup=PATH) as l:` starts the service and its load, waits until
it serves, and stops everything it started on exit (also on errors). As a command:

  services.py run NAME [--cgroup PATH] [--seconds S]

starts NAME, prints "ready pids=P1,P2,... port=N" on stdout once loaded, runs until S
seconds pass (default: until SIGTERM/SIGINT, or its parent's death) and stops everything;
exit 0, or 1 with the reason on stderr; 77 when a program is not installed. Processes it
starts get SIGKILL should this script die (PR_SET_PDEATHSIG).
"""
import argparse
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from testenv import free_port  # noqa: E402

PR_SET_PDEATHSIG = 1
NAMES = ("python", "nginx", "redis", "postgres")
PG_BIN = "/usr/lib/postgresql/15/bin"
PYTHON = "/usr/bin/python3.11"
# CPU-bound and pure Python: the interpreter's own C stack (eval loop, object code) is sampled.
PY_SCRIPT = """
import sys
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def main():
    d = {}
    while True:
        for i in range(2000):
            d[str(i)] = fib(12) + len(sorted(d))
        d.clear()
main()
"""


class NotInstalled(Exception):
    pass


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def wait_port(port, proc, timeout=30):
    """Polls until 127.0.0.1:PORT accepts a connection, or fails when PROC ends first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d before listening" % (proc.args[0],
                                                                        proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %d s" % (port, timeout))


def need(path):
    p = path if os.path.isabs(path) else shutil.which(path, path=os.environ.get("PATH", "") +
                                                       ":/usr/sbin:/sbin")
    if not p or not os.access(p, os.X_OK):
        raise NotInstalled("%s is not installed (dev.sh installs it)" % path)
    return p


class Load:
    """One service and its load generator. Context manager; .pids are the service's
    processes (the ones in the cgroup), .port its port."""

    def __init__(self, name, cgroup=None, log=None):
        if name not in NAMES:
            raise ValueError("unknown load %r (expected one of %s)" % (name, ", ".join(NAMES)))
        self.name, self.cgroup = name, cgroup
        self.log = log if log is not None else subprocess.DEVNULL
        self.procs = []  # (Popen, stop signal), stopped in reverse order
        self.tmp = None
        self.port = 0
        self.pids = []

    def _spawn(self, argv, in_cgroup, user=None, sig=signal.SIGTERM, **kw):
        """Starts ARGV, in the cgroup when IN_CGROUP, as USER when given; registers it."""
        cg, ids = self.cgroup if in_cgroup else None, None
        if user:
            pw = pwd.getpwnam(user)
            ids = (pw.pw_uid, pw.pw_gid)

        def child():
            if cg:
                with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                    f.write("0")
            if ids:
                os.setgroups([])
                os.setgid(ids[1])
                os.setuid(ids[0])
            # After setuid: a change of credentials clears the parent-death signal.
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                             preexec_fn=child, **kw)
        self.procs.append((p, sig))
        return p

    def __enter__(self):
        try:
            self.tmp = tempfile.mkdtemp(prefix="kiln-svc-%s-" % self.name)
            os.chmod(self.tmp, 0o755)
            self.port = free_port()
            getattr(self, "_start_" + self.name)()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _start_python(self):
        p = self._spawn([need(PYTHON), "-c", PY_SCRIPT], True)
        self.pids = [p.pid]

    def _start_nginx(self):
        nginx, wrk = need("nginx"), need("wrk")
        t = self.tmp
        with open(os.path.join(t, "index.html"), "w") as f:
            f.write("<html><body>" + "kiln " * 200 + "</body></html>\n")
        conf = os.path.join(t, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon off;
master_process on;
worker_processes 1;
pid %(t)s/nginx.pid;
error_log %(t)s/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(t)s/body;
    proxy_temp_path %(t)s/proxy;
    fastcgi_temp_path %(t)s/fastcgi;
    uwsgi_temp_path %(t)s/uwsgi;
    scgi_temp_path %(t)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        root %(t)s;
    }
}
""" % {"t": t, "port": self.port})
        p = self._spawn([nginx, "-p", t, "-c", conf, "-e", os.path.join(t, "error.log")], True,
                        sig=signal.SIGQUIT)
        wait_port(self.port, p)
        self.pids = [p.pid]
        self._spawn([wrk, "-t1", "-c8", "-d3600s", "http://127.0.0.1:%d/" % self.port], False)

    def _start_redis(self):
        server, bench = need("redis-server"), need("redis-benchmark")
        p = self._spawn([server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--dir", self.tmp, "--daemonize", "no"], True)
        wait_port(self.port, p)
        self.pids = [p.pid]
        self._spawn([bench, "-p", str(self.port), "-q", "-l", "-c", "8", "-t", "set,get,lpush",
                     "-r", "100000"], False)

    def _start_postgres(self):
        initdb, postgres, pgbench = (need(os.path.join(PG_BIN, n))
                                     for n in ("initdb", "postgres", "pgbench"))
        pw = pwd.getpwnam("postgres")
        data = os.path.join(self.tmp, "data")
        os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        p = self._spawn([initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                        False, user="postgres")
        if p.wait(timeout=120) != 0:
            raise RuntimeError("initdb failed with %d" % p.returncode)
        self.procs.remove((p, signal.SIGTERM))
        # Fast shutdown on SIGINT. fsync off: the load is CPU, not the disk.
        p = self._spawn([postgres, "-D", data, "-p", str(self.port), "-k", self.tmp,
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                         "-c", "synchronous_commit=off"], True, user="postgres",
                        sig=signal.SIGINT)
        wait_port(self.port, p)
        self.pids = [p.pid]
        conn = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        # Listening is not accepting: the postmaster refuses sessions while it starts up.
        end = time.monotonic() + 60
        while subprocess.run([need(os.path.join(PG_BIN, "pg_isready"))] + conn[:4],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
            if p.poll() is not None or time.monotonic() > end:
                raise RuntimeError("postgres did not accept sessions within 60 s")
            time.sleep(0.05)
        i = self._spawn([pgbench, "-i", "-s", "2", "-q"] + conn + ["postgres"], False)
        if i.wait(timeout=300) != 0:
            raise RuntimeError("pgbench -i failed with %d" % i.returncode)
        self.procs.remove((i, signal.SIGTERM))
        self._spawn([pgbench, "-T", "3600", "-c", "4", "-j", "1"] + conn + ["postgres"], False)
        # Ready once pgbench's 4 sessions exist: a profiler attaching to the cgroup's
        # processes by pid (perf -p) then finds the backends serving them.
        psql = need(os.path.join(PG_BIN, "psql"))
        query = "select count(*) from pg_stat_activity where application_name = 'pgbench'"
        end = time.monotonic() + 60
        while True:
            q = subprocess.run([psql, "-At", "-c", query] + conn + ["postgres"],
                               capture_output=True, text=True)
            if q.returncode == 0 and q.stdout.strip() == "4":
                break
            if time.monotonic() > end:
                raise RuntimeError("pgbench's sessions did not show up within 60 s")
            time.sleep(0.05)

    def stop(self):
        """Stops every process started, newest first (load generators before services), with
        its own stop signal, SIGKILL after 20 s; removes the temporary directory."""
        for p, sig in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(sig)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


class _Stop(Exception):
    pass


def _on_signal(sig, frame):
    raise _Stop()


def main():
    ap = argparse.ArgumentParser(description="a Debian service under loopback load")
    ap.add_argument("cmd", choices=("run",))
    ap.add_argument("name", choices=NAMES)
    ap.add_argument("--cgroup", help="cgroup2 directory the service runs in")
    ap.add_argument("--seconds", type=float, default=0, help="stop after S seconds")
    a = ap.parse_args()
    # Our own parent's death stops us, and so (finally:) everything we started.
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        with Load(a.name, a.cgroup, log=sys.stderr) as load:
            print("ready pids=%s port=%d" % (",".join(map(str, load.pids)), load.port),
                  flush=True)
            end = time.monotonic() + a.seconds if a.seconds else None
            while end is None or time.monotonic() < end:
                for p, _ in load.procs:
                    if p.poll() is not None:
                        raise RuntimeError("%s exited with %d under load" % (p.args[0],
                                                                            p.returncode))
                time.sleep(0.2)  # watching the processes, not synchronizing with them
    except _Stop:
        pass
    except NotInstalled as e:
        print("services.py: %s" % e, file=sys.stderr)
        return 77
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        print("services.py: %s: %s" % (a.name, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
