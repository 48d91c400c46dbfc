#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A new process's first samples are walked with unwind tables before the agent has read its
mappings: the walk finds the mapping in the kernel's own list (bpf_find_vma) and the table of
its file by inode (uw_files).

Made deterministic by the way kiln selects a cgroup: a process there is read (its mappings,
its tables) only at its first sample, so that sample is always taken before the read. The
load is `dd` between /dev/zero and /dev/null: its user pc is in libc's read()/write(), and
libc's table is built when kiln starts (unwinder__preload), so the first sample of every dd
finds a table. kiln record selects the cgroup; the load starts only once the record's
perf-event links are attached on every online CPU (read from its fdinfo, no sleep).

Checked: the exit summary's "mappings found before they were read" is not 0, and dd's
samples go through libc's read()/write(), named. With KILN_HIDE_FEATURES=find_vma the same
run counts none (the fallback of kernels before 5.17). Whether the stacks so walked are
whole is measured by kiln-bench unwind's 50ms-procs row (it depends on when the file's
table was built, so on load).
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "record"))
import kilntest as kt  # noqa: E402

DD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64k", "count=40000"]
PROCS = 5


def online_cpus():
    n = 0
    with open("/sys/devices/system/cpu/online") as f:
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
    return n


def perf_links(pid):
    """perf-event BPF links PID holds (kiln attaches one per online CPU)."""
    n = 0
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                if re.search(r"^link_type:\s+perf$", f.read(), re.M):
                    n += 1
        except OSError:
            pass  # an fd closed meanwhile
    return n


def run_case(cg, hide):
    env = dict(os.environ)
    if hide:
        env["KILN_HIDE_FEATURES"] = "find_vma"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        rec = subprocess.Popen([kt.KILN, "record", "-F", "999", "--cgroup", cg, "-f",
                                "folded", "-o", out], stderr=subprocess.PIPE, text=True,
                               env=env)
        want = online_cpus()
        deadline = time.monotonic() + 60
        # Polls a condition (the links exist), bounded so a broken start fails, not hangs.
        while perf_links(rec.pid) < want:
            if rec.poll() is not None:
                err = rec.stderr.read()
                if kt.bpf_refused(err):
                    kt.skip("the kernel refused the BPF sampler: " + err.strip())
                kt.fail("kiln record ended before attaching:\n" + err)
            if time.monotonic() > deadline:
                rec.kill()
                kt.fail("kiln record did not attach on %d CPUs within 60 s" % want)
            time.sleep(0.01)

        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write("0")

        for _ in range(PROCS):
            subprocess.run(DD, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=enter, check=True)
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=120)
        if rec.returncode != 0:
            kt.fail("kiln record exited with %d:\n%s" % (rec.returncode, err))
        m = re.search(r"mappings found before they were read (\d+)", err)
        if not m:
            kt.fail("the summary lacks 'mappings found before they were read':\n" + err)
        rows = kt.folded(out)
    found = int(m.group(1))
    dd = [(fr, c) for fr, c in rows if fr and fr[0] == "dd"]
    total = sum(c for _, c in dd)
    # A user frame of libc's syscall wrappers named, under the walk's own marker or whole.
    named = sum(c for fr, c in dd if any(f in ("read", "write", "__libc_read", "__libc_write")
                                         for f in fr))
    print("%s: %d dd samples, %d through libc's read/write; mappings found before they "
          "were read: %d" % ("find_vma hidden" if hide else "find_vma", total, named, found))
    return found, total, named


def main():
    kt.require_root()
    root = kt.cgroup2_root()
    if not root:
        kt.skip("no cgroup v2 mount")
    cg = os.path.join(root, "kiln-test-early-%d" % os.getpid())
    os.mkdir(cg)
    try:
        found, total, named = run_case(cg, False)
        if total < 50:
            kt.fail("too few dd samples to judge: %d" % total)
        if found < 1:
            kt.fail("no mapping was found before the agent read it (bpf_find_vma path)")
        if named * 2 < total:
            kt.fail("libc's read/write named in %d of %d dd samples" % (named, total))
        found, total, _ = run_case(cg, True)
        if found:
            kt.fail("find_vma hidden, yet %d mappings were found through it" % found)
    finally:
        os.rmdir(cg)


if __name__ == "__main__":
    main()
