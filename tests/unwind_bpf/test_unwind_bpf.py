#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The native unwinder's failure paths, each provoked for real and checked by its counter:

jit   a leaf called from an anonymous executable mapping: the walk crosses it by frame
      pointer (unwind frame-pointer frames > 0) and goes on with tables to _start.
noeh  a leaf in a library built without unwind tables: the library's mapping has no table
      (counted as "without .eh_frame"), its frames are crossed by frame pointer, the rest of
      the stack is walked with tables to _start.
deep  200 frames of recursion: the stack is cut (unwind stops truncated > 0) and ends in the
      [truncated] marker, keeping the leaf and the frames above it.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "record"))
import kilntest as kt  # noqa: E402


def counters(stderr):
    out = {}
    for key, pat in [("fp_frames", r"unwind frames\s+frame-pointer (\d+)"),
                     ("truncated", r"unwind stops\s+truncated (\d+)"),
                     ("no_eh", r"(\d+) without \.eh_frame"),
                     ("table_walks", r"table walks (\d+)")]:
        m = re.search(pat, stderr)
        if not m:
            kt.fail("summary lacks '%s':\n%s" % (key, stderr))
        out[key] = int(m.group(1))
    return out


def stacks(path):
    """Folded lines as (frames root first, user frames only, count)."""
    out = []
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            frames = [fr for fr in stack.split(";")[1:] if not fr.endswith("_[k]")]
            out.append((frames, int(n)))
    return out


def main():
    kt.require_root()
    case, prog, lib = sys.argv[1], sys.argv[2], sys.argv[3]
    args = {"jit": ["jit", "2"], "noeh": ["noeh", lib, "2"], "deep": ["deep", "2"]}[case]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.txt")
        p = kt.record(["-F", "499", "-f", "folded", "-o", out, "--", prog] + args)
        c = counters(p.stderr)
        st = stacks(out)
    total = sum(n for _, n in st)
    hot = [(fr, n) for fr, n in st if fr and fr[-1] in ("hot_leaf", "noeh_leaf")]
    nhot = sum(n for _, n in hot)
    print("%s: %d samples, %d in the leaf; counters %s" % (case, total, nhot, c))
    if nhot * 2 < total:
        kt.fail("fewer than half of the samples are in the leaf: %d of %d" % (nhot, total))
    if case == "deep":
        cut = sum(n for fr, n in hot if fr[0] == "[truncated]" and fr.count("recurse") >= 100)
        print("deep: %d of %d leaf samples end in [truncated] under >= 100 recurse frames"
              % (cut, nhot))
        if c["truncated"] == 0:
            kt.fail("no walk was counted as truncated")
        if cut * 10 < nhot * 9:
            kt.fail("cut stacks don't end in [truncated]")
        return
    want = {"jit": ["run_jit"], "noeh": ["run_noeh", "noeh_outer"]}[case]
    whole = sum(n for fr, n in hot if fr[0] == "_start" and all(w in fr for w in want))
    print("%s: %d of %d leaf samples whole from _start through %s" % (case, whole, nhot, want))
    if c["fp_frames"] == 0:
        kt.fail("no frame was walked by frame pointer")
    if case == "noeh" and c["no_eh"] == 0:
        kt.fail("the stripped library was not counted as without .eh_frame")
    if whole * 10 < nhot * 9:
        kt.fail("fewer than 90%% of the leaf samples are whole: %d of %d" % (whole, nhot))


if __name__ == "__main__":
    main()
