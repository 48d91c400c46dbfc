# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by kiln's end-to-end tests: paths, running kiln, parsing its outputs."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from folded import read_folded  # noqa: E402

SKIP = 77

BUILD = os.environ.get("KILN_BUILD") or os.path.join(os.path.dirname(__file__), "../../build")
KILN = os.environ.get("KILN") or os.path.join(BUILD, "kiln")
WORKLOAD = os.path.join(BUILD, "bench", "workload")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def skip(msg):
    print("SKIP: " + msg, file=sys.stderr)
    sys.exit(SKIP)


def require_root():
    """BPF tests need root (CAP_BPF + CAP_PERFMON); anywhere else they cannot run."""
    if os.geteuid() != 0:
        skip("not root: loading BPF programs needs CAP_BPF and CAP_PERFMON")


def run(args, timeout=120, check=True, **kw):
    """Runs ARGS, returns CompletedProcess with text stdout/stderr; prints both on failure."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        print("command: " + " ".join(args), file=sys.stderr)
        print(p.stdout, file=sys.stderr)
        print(p.stderr, file=sys.stderr)
        fail("exit status %d" % p.returncode)
    return p


def bpf_refused(stderr):
    """True when kiln said the kernel refused BPF / perf events (a reason to skip)."""
    return "loading the BPF sampler" in stderr and ("not permitted" in stderr or
                                                    "not supported" in stderr.lower())


def record(args, timeout=120):
    """Runs `kiln record ARGS`; skips when the kernel truly refuses BPF. Returns the process."""
    p = run([KILN, "record"] + args, timeout=timeout, check=False)
    if p.returncode != 0:
        if bpf_refused(p.stderr):
            skip("the kernel refused the BPF sampler: " + p.stderr.strip())
        print(p.stdout, file=sys.stderr)
        print(p.stderr, file=sys.stderr)
        fail("kiln record exited with %d" % p.returncode)
    return p


def summary(stderr):
    """Parses kiln record's exit summary into a dict of counters."""
    out = {}
    m = re.search(r"(\d+) samples in (\d+) distinct stacks", stderr)
    if not m:
        fail("no summary line in kiln record's output:\n" + stderr)
    out["written"] = int(m.group(1))
    out["stacks"] = int(m.group(2))
    for key, pat in [("taken", r"samples taken\s+(\d+)"),
                     ("aggregated", r"aggregated\s+(\d+)"),
                     ("overflowed", r"overflowed\s+(\d+)"),
                     ("dropped", r"dropped\s+(\d+)"),
                     ("filtered", r"filtered in kernel\s+(\d+)"),
                     ("missed", r"missed by kernel\s+(\d+)")]:
        m = re.search(pat, stderr)
        if not m:
            fail("summary lacks '%s':\n%s" % (key, stderr))
        out[key] = int(m.group(1))
    return out


def cgroup2_root():
    """Where cgroup v2 is mounted, or None when it is not."""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    return None


def folded(path):
    """Reads a folded file into a list of (frames list outermost-first, count); a line that
    is not 'stack COUNT' fails the test."""
    try:
        return read_folded(path)
    except ValueError as e:
        fail(str(e))


def share(rows, name):
    """Fraction of samples whose stack contains the frame NAME."""
    total = sum(c for _, c in rows)
    hit = sum(c for frames, c in rows if name in frames)
    return hit / total if total else 0.0
