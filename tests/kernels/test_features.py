#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Kernel features kiln probes at start (aggregator/features.c), provoked on this kernel by
hiding them with KILN_HIDE_FEATURES, the probe's test hook:

bpf_loop      kiln record of the no-frame-pointer workload starts with one warning naming
              bpf_loop and Linux 5.17; its stacks are still whole (main in >= 90 %) with
              the known shares; a CPython process gets no Python frames, and no error
task_pt_regs  a required feature: kiln record stops with one message naming the helper and
              Linux 5.15
several       one message lists them all, with the newest kernel among them
unknown name  an error naming the input and listing the valid names
"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "record"))
from kilntest import BUILD, KILN, fail, folded, record, require_root, run, share  # noqa: E402

NOFP = os.path.join(BUILD, "bench", "workload-nofp")
KAT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "python",
                   "kat.py")
TMP = tempfile.mkdtemp(prefix="kiln-features-")


def hidden_record(hide, cmd, out):
    os.environ["KILN_HIDE_FEATURES"] = hide
    try:
        return record(["-F", "499", "-f", "folded", "-o", out, "--"] + cmd)
    finally:
        del os.environ["KILN_HIDE_FEATURES"]


def messages(stderr, word):
    return [line for line in stderr.splitlines() if word in line]


def case_bpf_loop():
    out = os.path.join(TMP, "noloop.folded")
    p = hidden_record("bpf_loop", [NOFP, "--mix", "alpha=70,beta=30", "--cpu-seconds", "2"],
                      out)
    msgs = messages(p.stderr, "bpf_loop")
    if len(msgs) != 1 or "Linux 5.17" not in msgs[0] or "native stacks are whole" not in msgs[0]:
        fail("want one message naming bpf_loop and Linux 5.17, got %s" % msgs)
    rows = folded(out)
    total = sum(c for _, c in rows)
    whole, alpha, beta = share(rows, "main"), share(rows, "alpha"), share(rows, "beta")
    print("bpf_loop hidden: %r; %d samples, main in %.1f %%, alpha %.1f %% beta %.1f %%"
          % (msgs[0], total, 100 * whole, 100 * alpha, 100 * beta))
    if total < 200 or whole < 0.9:
        fail("native stacks without bpf_loop: %d samples, %.1f %% with main (want >= 90)"
             % (total, 100 * whole))
    if alpha + beta < 0.8 or abs(alpha / (alpha + beta) - 0.7) > 0.07:
        fail("shares without bpf_loop: alpha %.3f beta %.3f, want 70:30 (+-7)" % (alpha, beta))
    py = shutil.which("python3.11") or shutil.which("python3")
    if py:
        out = os.path.join(TMP, "noloop-py.folded")
        hidden_record("bpf_loop", [py, KAT, "--cpu", "1"], out)
        rows = folded(out)
        pyframes = sum(c for frames, c in rows if any(f.startswith("leaf_") or
                                                      f.endswith(".py") for f in frames))
        print("bpf_loop hidden, %s kat.py: %d samples, %d with Python frames"
              % (os.path.basename(py), sum(c for _, c in rows), pyframes))
        if pyframes:
            fail("Python frames without the Python walk: %d samples" % pyframes)


def refused(hide, want):
    env = dict(os.environ, KILN_HIDE_FEATURES=hide)
    p = run([KILN, "record", "-F", "99", "-o", os.path.join(TMP, "x.folded"), "--", "true"],
            check=False, env=env)
    msgs = messages(p.stderr, "cannot start on kernel")
    print("%s hidden: exit %d, %s" % (hide, p.returncode, msgs))
    if p.returncode == 0 or len(msgs) != 1:
        fail("%s hidden: want a failed start with one message, got exit %d:\n%s"
             % (hide, p.returncode, p.stderr))
    errors = messages(p.stderr, "error:")
    if errors != msgs:
        fail("%s hidden: want that one error line only, got %s" % (hide, errors))
    for w in want:
        if w not in msgs[0]:
            fail("%s hidden: the message lacks %r: %s" % (hide, w, msgs[0]))


def case_unknown():
    env = dict(os.environ, KILN_HIDE_FEATURES="bpf_loop,warp_drive")
    p = run([KILN, "record", "-F", "99", "-o", os.path.join(TMP, "x.folded"), "--", "true"],
            check=False, env=env)
    if p.returncode == 0 or not re.search(r"KILN_HIDE_FEATURES: unknown feature 'warp_drive' "
                                          r"\(expected .*bpf_loop.*\)", p.stderr):
        fail("an unknown feature name: want an error naming it, got exit %d:\n%s"
             % (p.returncode, p.stderr))


def main():
    require_root()
    try:
        case_bpf_loop()
        refused("task_pt_regs", ["the bpf_task_pt_regs helper (Linux 5.15)",
                                 "kiln needs Linux 5.15 or later"])
        refused("ringbuf,task_btf,io_uring", ["BPF ring buffer map (Linux 5.8)",
                                              "bpf_get_current_task_btf helper (Linux 5.11)",
                                              "io_uring (Linux 5.6)",
                                              "kiln needs Linux 5.11 or later"])
        case_unknown()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
