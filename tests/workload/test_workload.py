#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/workload: CPU shares from its own summary, bad flags, --ready-fd, --work; kiln-bench CLI.

The workload measures shares in thread CPU time, so they hold within +-1 % even on a busy
machine; this test does not need BPF or root.
"""
import os
import re
import subprocess
import sys

BUILD = os.environ.get("KILN_BUILD") or os.path.join(os.path.dirname(__file__), "../../build")
WORKLOAD = os.path.join(BUILD, "bench", "workload")
BENCH = os.path.join(BUILD, "bench", "kiln-bench")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


def shares(stderr):
    """{name: (ns, pct)} from 'workload: cpu_ns total=T alpha=NS (PCT%) ...'."""
    line = [l for l in stderr.splitlines() if l.startswith("workload: cpu_ns ")]
    if len(line) != 1:
        return {}
    return {m[0]: (int(m[1]), float(m[2]))
            for m in re.findall(r"(\w+)=(\d+) \(([\d.]+)%\)", line[0])}


def main():
    # The known answer: 70/30 of CPU time, within +-1 %.
    r = run([WORKLOAD, "--mix", "alpha=70,beta=30", "--cpu-seconds", "1.2"])
    s = shares(r.stderr)
    check(r.returncode == 0, "workload --mix alpha=70,beta=30 exits 0")
    check(set(s) == {"alpha", "beta"}, "summary names alpha and beta: " + r.stderr.strip())
    if set(s) == {"alpha", "beta"}:
        total = s["alpha"][0] + s["beta"][0]
        check(total > 1.0e9, "summary shows at least 1 s of CPU (%d ns)" % total)
        a = 100.0 * s["alpha"][0] / total
        check(abs(a - 70) <= 1, "alpha share %.2f %% is 70 +- 1" % a)
        check(abs(s["beta"][1] - 30) <= 1, "beta share %.2f %% is 30 +- 1" % s["beta"][1])

    # Threads, processes, depth, stacks and the syscall mode keep the shares too.
    r = run([WORKLOAD, "--mix", "gamma=50,delta=25,zeta=25", "--seconds", "0.6", "--threads", "2",
             "--procs", "2", "--depth", "3", "--stacks", "1000", "--syscall"])
    s = shares(r.stderr)
    check(r.returncode == 0 and set(s) == {"gamma", "delta", "zeta"},
          "multi-process syscall run reports its functions: " + r.stderr.strip())
    for name, want in (("gamma", 50), ("delta", 25), ("zeta", 25)):
        if name in s:
            check(abs(s[name][1] - want) <= 1.5, "%s share %.2f %% is %d" % (name, s[name][1], want))

    # --work: a fixed amount of work, elapsed and ops on stdout.
    r = run([WORKLOAD, "--work", "2000000", "--threads", "2", "--mix", "alpha=60,beta=40"])
    m = dict(re.findall(r"^(\w+)=(\d+)$", r.stdout, re.M))
    check(r.returncode == 0 and "elapsed_ns" in m and m.get("ops") == "4000000",
          "--work prints elapsed_ns and ops=4000000: " + r.stdout.strip())

    # --ready-fd: one byte once every thread runs, long before the run ends.
    rfd, wfd = os.pipe()
    p = subprocess.Popen([WORKLOAD, "--seconds", "0.5", "--threads", "3", "--procs", "2",
                          "--ready-fd", str(wfd), "--print-pids"], pass_fds=(wfd,),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(wfd)
    got = os.read(rfd, 16)
    check(len(got) == 1 and p.poll() is None, "--ready-fd gets one byte while still running")
    out, _ = p.communicate(timeout=30)
    os.close(rfd)
    check(p.returncode == 0 and len(re.findall(r"^pid=\d+$", out, re.M)) == 2,
          "--print-pids prints both working processes: " + out.strip())

    # Bad input: exit 2 and a message naming the problem.
    for args, word in ((["--bogus"], "bogus"), (["--mix", "alpha=70,beta=20"], "sum"),
                       (["--mix", "omega=100"], "omega"), (["--mix", "alpha"], "NAME=PCT"),
                       (["--mix", "alpha=50,alpha=50"], "twice"), (["--threads", "0"], "threads"),
                       (["--seconds", "x"], "seconds"), (["--stacks", "0"], "stacks"),
                       (["--depth", "-1"], "depth"), (["--ready-fd", "999"], "ready-fd"),
                       (["--work", "5", "--seconds", "1"], "exclude"), (["stray"], "stray"),
                       (["--recurse", "10001"], "recurse"), (["--dlopen", ""], "dlopen")):
        r = run([WORKLOAD] + args)
        check(r.returncode == 2 and word in r.stderr,
              "workload %s: exit 2 naming '%s' (got %d: %s)" % (" ".join(args), word,
                                                                r.returncode, r.stderr.strip()))
    r = run([WORKLOAD, "--help"])
    check(r.returncode == 0 and "--mix" in r.stdout, "workload --help")

    # The unwinding twins (bench/CMakeLists.txt) take the same flags and keep the same split;
    # --recurse, --signal and --dlopen run; a library that cannot be loaded is exit 1, named.
    lib = os.path.join(os.path.dirname(WORKLOAD), "libkiln-burn.so")
    for twin in ("workload-nofp", "workload-clang"):
        path = os.path.join(os.path.dirname(WORKLOAD), twin)
        for extra in ([], ["--recurse", "200"], ["--signal"], ["--dlopen", lib]):
            # In sanitized trees the library is sanitized too, and workload-clang is not:
            # it cannot load a library that needs a sanitizer runtime.
            if twin == "workload-clang" and extra[:1] == ["--dlopen"] and \
                    os.environ.get("KILN_SANITIZE"):
                continue
            r = run([path, "--mix", "alpha=70,beta=30", "--threads", "2", "--seconds", "0.3"]
                    + extra)
            check(r.returncode == 0 and "alpha=" in r.stderr,
                  "%s %s: runs (got %d: %s)" % (twin, " ".join(extra), r.returncode,
                                                r.stderr.strip()))
    r = run([WORKLOAD, "--dlopen", "/nonexistent/libx.so", "--seconds", "0.1"])
    check(r.returncode == 1 and "/nonexistent/libx.so" in r.stderr,
          "workload --dlopen of a missing library: exit 1 naming it (got %d: %s)" %
          (r.returncode, r.stderr.strip()))

    # kiln-bench: --help, unknown suite.
    r = run([BENCH, "--help"])
    check(r.returncode == 0 and "overhead" in r.stdout and "bpf" in r.stdout,
          "kiln-bench --help lists the suites")
    r = run([BENCH, "nosuch"])
    check(r.returncode == 2 and "nosuch" in r.stderr, "kiln-bench nosuch: exit 2 naming it")
    r = run([BENCH, "bpf", "--runs", "zero"])
    check(r.returncode == 2 and "runs" in r.stderr, "kiln-bench --runs zero: exit 2")
    r = run([BENCH])
    check(r.returncode == 2, "kiln-bench without a suite: exit 2")

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
