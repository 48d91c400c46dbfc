#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `kiln record` against the known-answer workload (built with frame
pointers, so user stacks are whole). Usage: test_record.py CASE."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import (KILN, WORKLOAD, fail, folded, record, require_root, run, share, skip,  # noqa
                      summary)

# The workload runs for a fixed CPU time (--cpu-seconds), not wall time: the same ~3000
# samples at 999 Hz however loaded the host is, and its shares are exact in thread CPU time,
# so 3 points are 3.6 standard errors of a 3000-sample share, in every tree (sanitized too).
TOL = 0.03
HZ = "999"
CPU_SECONDS = "3"


def check_share(ok, msg):
    if not ok:
        fail(msg)


def cpu_samples(stderr, hz):
    """Samples the workload's CPU time (its exit report on stderr) makes at HZ."""
    m = re.search(r"workload: cpu_ns total=(\d+)", stderr)
    if not m:
        fail("no workload CPU report in:\n" + stderr)
    return int(m.group(1)) * hz / 1e9


def check_whole_stacks(rows, leaf):
    """Every stack ending in LEAF runs worker_main -> run_mix -> ... -> LEAF, in order."""
    bad = 0
    for frames, count in rows:
        if leaf not in frames:
            continue
        user = [f for f in frames if not f.endswith("_[k]")]
        try:
            i, j, k = user.index("worker_main"), user.index("run_mix"), user.index(leaf)
        except ValueError:
            bad += count
            continue
        if not i < j < k:
            bad += count
    return bad


def case_shares_folded(tmp):
    out = os.path.join(tmp, "out.txt")
    p = record(["-F", HZ, "-f", "folded", "-o", out, "--",
                WORKLOAD, "--mix", "alpha=70,beta=30", "--cpu-seconds", CPU_SECONDS])
    s = summary(p.stderr)
    rows = folded(out)
    total = sum(c for _, c in rows)
    if total != s["written"]:
        fail("folded total %d != summary's %d" % (total, s["written"]))
    expect = cpu_samples(p.stderr, int(HZ))
    if total < 0.9 * expect:
        fail("only %d samples, the workload's CPU time makes ~%d" % (total, expect))
    a, b = share(rows, "alpha"), share(rows, "beta")
    print("alpha %.3f beta %.3f of %d samples" % (a, b, total))
    check_share(abs(a - 0.70) <= TOL and abs(b - 0.30) <= TOL,
                "shares alpha %.3f beta %.3f, expected 0.70 / 0.30 +- %.2f" % (a, b, TOL))
    for leaf in ("alpha", "beta"):
        bad = check_whole_stacks(rows, leaf)
        if bad > 0.01 * total:
            fail("%d samples of %s lack worker_main -> run_mix -> %s" % (bad, leaf, leaf))
    if s["taken"] != s["aggregated"] + s["overflowed"] + s["dropped"]:
        fail("taken %(taken)d != aggregated + overflowed + dropped" % s)


def pprof_tool():
    path = os.environ.get("KILN_PPROF") or "/var/tmp/kiln-tools/pprof"
    if not os.access(path, os.X_OK):
        skip("Go pprof tool not found at %s (dev.sh builds it)" % path)
    return path


def case_shares_pprof(tmp):
    tool = pprof_tool()
    out = os.path.join(tmp, "out.pb.gz")
    p = record(["-F", HZ, "-f", "pprof", "-o", out, "--",
                WORKLOAD, "--mix", "alpha=70,beta=30", "--cpu-seconds", CPU_SECONDS])
    s = summary(p.stderr)
    top = run([tool, "-top", "-nodecount=200", "-sample_index=samples", out],
              env=dict(os.environ, HOME=tmp, PPROF_TMPDIR=tmp)).stdout
    m = re.search(r"of (\d+) total", top)
    if not m:
        fail("pprof -top printed no total:\n" + top)
    total = int(m.group(1))
    if total != s["written"]:
        fail("pprof total %d != summary's sample count %d" % (total, s["written"]))
    cum = {}
    for line in top.splitlines():
        f = line.split()
        # flat flat% sum% cum cum% name
        if len(f) >= 6 and f[0].isdigit() and f[3].isdigit():
            cum[f[5]] = int(f[3])
    for name, want in (("alpha", 0.70), ("beta", 0.30)):
        got = cum.get(name, 0) / total
        print("pprof %s cum %.3f" % (name, got))
        check_share(abs(got - want) <= TOL, "pprof share of %s %.3f, expected %.2f +- %.2f\n%s"
                    % (name, got, want, TOL, top))
    # The cpu sample type carries count * period.
    cpu = run([tool, "-top", "-sample_index=cpu", out],
              env=dict(os.environ, HOME=tmp, PPROF_TMPDIR=tmp)).stdout
    if "Total samples" not in cpu and "total" not in cpu:
        fail("pprof -sample_index=cpu failed:\n" + cpu)


def case_syscall(tmp):
    out = os.path.join(tmp, "out.txt")
    record(["-F", "499", "-o", out, "--",
            WORKLOAD, "--syscall", "--mix", "alpha=100", "--cpu-seconds", "2"])
    rows = folded(out)
    total = sum(c for frames, c in rows if "alpha" in frames)
    under = 0
    names = set()
    for frames, c in rows:
        if "alpha" not in frames:
            continue
        i = frames.index("alpha")
        kern = [f for f in frames[i + 1:] if f.endswith("_[k]")]
        if kern and all(f.endswith("_[k]") for f in frames[len(frames) - len(kern):]):
            under += c
            names.update(kern)
    print("alpha samples %d, with kernel frames under them %d" % (total, under))
    if total == 0 or under < 0.5 * total:
        fail("syscall mode: %d of %d alpha samples have kernel frames below them" %
             (under, total))
    if not any(re.search(r"sys_read|ksys_read|vfs_read|entry_SYSCALL|do_syscall", n)
               for n in names):
        fail("no syscall kernel frame among: %s" % sorted(names)[:30])


def start_busy(mix, seconds):
    """Starts a workload and waits (through --ready-fd) until its threads run."""
    r, w = os.pipe()
    p = subprocess.Popen([WORKLOAD, "--mix", mix, "--seconds", str(seconds), "--ready-fd",
                          str(w)], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    if len(os.read(r, 1)) != 1:
        fail("workload did not start")
    os.close(r)
    return p


def case_pid_filter(tmp):
    out = os.path.join(tmp, "out.txt")
    a = start_busy("alpha=100", 60)
    b = start_busy("beta=100", 60)
    try:
        b0 = cpu_ns_of(b.pid)
        p = record(["-F", "499", "-d", "2", "-p", str(a.pid), "-o", out])
        b_ns = cpu_ns_of(b.pid) - b0
    finally:
        a.kill()
        b.kill()
        a.wait()
        b.wait()
    s = summary(p.stderr)
    rows = folded(out)
    if share(rows, "alpha") < 0.9:
        fail("selected process (alpha) has only %.3f of samples" % share(rows, "alpha"))
    if any("beta" in frames for frames, _ in rows):
        fail("the unselected process (beta) was counted")
    # At least the unselected process's samples (whatever CPU it got meanwhile) were
    # filtered; the 2 s include the sampler's start and stop, hence half.
    least = 0.5 * b_ns * 499 / 1e9
    print("filtered in kernel: %d, taken: %d; the unselected process ran %.2f s of CPU" %
          (s["filtered"], s["taken"], b_ns / 1e9))
    if s["filtered"] < least or s["filtered"] < 20:
        fail("kernel filter counted only %d filtered samples (the unselected process makes "
             "~%d)" % (s["filtered"], 2 * least))


def cpu_ns_of(pid):
    """CPU time of process PID so far, in ns (its threads' scheduler run time). A thread
    listed but gone before its schedstat is read is skipped: the workload's --ready-fd
    thread ends right after it wrote the ready byte (a fresh-clone CI run failed on that)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def case_overflow(tmp):
    out = os.path.join(tmp, "out.txt")
    p = record(["-F", "999", "--count-map-entries", "8", "--stack-map-entries",
                "64", "-o", out, "--", WORKLOAD, "--threads", "2", "--stacks", "4096",
                "--depth", "2", "--cpu-seconds", "1.5"])
    s = summary(p.stderr)
    print(s)
    if s["overflowed"] == 0:
        fail("tiny maps and 4096 stacks produced no overflow")
    if s["taken"] != s["aggregated"] + s["overflowed"] + s["dropped"]:
        fail("taken %(taken)d != aggregated %(aggregated)d + overflowed %(overflowed)d + "
             "dropped %(dropped)d" % s)
    total = sum(c for _, c in folded(out))
    if total != s["aggregated"] + s["overflowed"]:
        fail("output holds %d samples, expected aggregated + overflowed = %d" %
             (total, s["aggregated"] + s["overflowed"]))
    if total != s["written"]:
        fail("output %d != summary %d" % (total, s["written"]))


def expect_error(args, pattern, tmp, code=None, **kw):
    p = run([KILN, "record"] + args, check=False, **kw)
    if p.returncode == 0:
        fail("kiln record %s succeeded" % " ".join(args))
    if code is not None and p.returncode != code:
        fail("kiln record %s: exit %d, expected %d" % (" ".join(args), p.returncode, code))
    if not re.search(pattern, p.stderr):
        fail("kiln record %s: message %r lacks /%s/" % (" ".join(args), p.stderr, pattern))
    print("ok: %s -> %s" % (" ".join(args), p.stderr.strip().splitlines()[0]))


def case_bad_input(tmp):
    out = os.path.join(tmp, "x")
    maxhz = int(open("/proc/sys/kernel/perf_event_max_sample_rate").read())
    expect_error(["--bogus", "-o", out], r"unrecognized option|unknown option", tmp, 2)
    expect_error(["-F", "0", "-o", out], r"--freq '0'.*1 to %d" % maxhz, tmp, 2)
    expect_error(["-F", str(maxhz + 1), "-o", out], r"perf_event_max_sample_rate", tmp, 2)
    expect_error(["-F", "abc", "-o", out], r"--freq 'abc'", tmp, 2)
    # A pid beyond pid_max cannot exist.
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    expect_error(["-p", str(pid_max + 1) if pid_max < 4194304 else "4194304", "-o", out],
                 r"no such process|--pid", tmp, 2)
    expect_error(["-d", "0", "-o", out], r"--duration '0'", tmp, 2)
    expect_error(["-f", "png", "-o", out], r"--format 'png'.*html, svg or speedscope", tmp, 2)
    expect_error(["-d", "1"], r"missing -o", tmp, 2)
    expect_error(["--cgroup", "/nonexistent-cgroup", "-o", out], r"--cgroup", tmp, 2)
    expect_error(["-d", "1", "-o", "/nonexistent-dir/out.txt"], r"cannot open", tmp)
    expect_error(["-d", "1", "-o", out, "--", "/nonexistent-command"], r"cannot run", tmp)
    # Without privileges: an ordinary user (nobody) with no capabilities.
    if os.geteuid() == 0:
        expect_error(["-d", "1", "-o", "/tmp/kiln-unpriv-%d.txt" % os.getpid()],
                     r"needs root, or CAP_BPF and CAP_PERFMON", tmp, 1,
                     preexec_fn=drop_to_nobody)


def drop_to_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def case_denied(tmp):
    """Without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, another user's process's files cannot
    be opened: its frames stay unnamed, and kiln says once why and which capabilities name
    them (the warning the container test found missing), instead of nothing."""
    import shutil
    prog = os.path.join(tmp, "workload")
    shutil.copy(WORKLOAD, prog)
    os.chmod(prog, 0o755)
    w = subprocess.Popen(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                          prog, "--mix", "alpha=100", "--seconds", "60"],
                         stderr=subprocess.DEVNULL)
    out = os.path.join(tmp, "out.txt")
    try:
        # Polled with a deadline: setpriv has exec'd the workload when its exe is the copy.
        deadline = time.monotonic() + 30
        while os.path.realpath("/proc/%d/exe" % w.pid) != prog:
            if time.monotonic() > deadline or w.poll() is not None:
                fail("the workload did not start as nobody")
            time.sleep(0.01)
        p = run(["setpriv", "--bounding-set", "-sys_ptrace,-dac_read_search,-sys_admin",
                 "--inh-caps", "-all", KILN, "record", "-F", "499", "-d", "2", "-p",
                 str(w.pid), "-o", out], check=False)
    finally:
        w.kill()
        w.wait()
    if p.returncode != 0:
        fail("kiln record without the two capabilities exited %d:\n%s" % (p.returncode, p.stderr))
    warn = [line for line in p.stderr.splitlines() if "cannot open" in line]
    print("\n".join(warn))
    if len(warn) != 1 or "CAP_SYS_PTRACE" not in warn[0] or "CAP_DAC_READ_SEARCH" not in warn[0]:
        fail("expected one warning naming CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH:\n" + p.stderr)
    rows = folded(out)
    if sum(c for _, c in rows) < 100:
        fail("too few samples of the workload: %s" % rows[:3])
    if any("alpha" in frames for frames, _ in rows):
        fail("alpha was named although its file could not be opened")


CASES = {
    "denied": case_denied,
    "shares-folded": case_shares_folded,
    "shares-pprof": case_shares_pprof,
    "syscall": case_syscall,
    "pid-filter": case_pid_filter,
    "overflow": case_overflow,
    "bad-input": case_bad_input,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_record.py {%s}" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    require_root()
    if not os.access(WORKLOAD, os.X_OK):
        fail("workload not built at " + WORKLOAD)
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        CASES[sys.argv[1]](d)
    print("PASS")
