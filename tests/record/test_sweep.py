#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Stack ids orphaned by overflowed samples are swept at every drain.

A count map of 8 entries sends nearly every sample to the ring buffer, and each of those
samples leaves its stack ids behind in the window's stack map. The drain deletes them. At
399 Hz on at most 2 CPUs a 1 s window takes <= ~800 samples, so a swept stack map of 1025
elements never runs out; one that is not swept does after a few of its uses (12 s of CPU: each of
the two maps is used 6 times), and new stacks then fail with "stack map full" (-ENOMEM).
1025 elements mean 2048 buckets: most new stacks find an empty bucket and need an element,
rather than failing on an occupied bucket (-EEXIST, a collision).
Usage: test_sweep.py."""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import WORKLOAD, fail, folded, record, require_root, summary  # noqa: E402

ENTRIES = 1025


def main():
    require_root()
    with tempfile.TemporaryDirectory(prefix="kiln-sweep-") as tmp:
        out = os.path.join(tmp, "out.txt")
        # 12 s of CPU in all, whatever the load (a loaded host takes longer, with more
        # windows: more uses of each map), so the orphans always outnumber the map.
        p = record(["-F", "399", "--count-map-entries", "8",
                    "--stack-map-entries", str(ENTRIES), "-o", out, "--", WORKLOAD,
                    "--threads", "2", "--stacks", "4096", "--depth", "2", "--cpu-seconds",
                    "6"])
        s = summary(p.stderr)
        m = re.search(r"count map full (\d+), stack map full (\d+)", p.stderr)
        e = re.search(r"enomem (\d+)", p.stderr)
        if not m or not e:
            fail("summary lacks the overflow reasons:\n" + p.stderr)
        count_full, stack_full, enomem = int(m.group(1)), int(m.group(2)), int(e.group(1))
        print("taken %d, overflowed %d (count map full %d, stack map full %d), enomem %d"
              % (s["taken"], s["overflowed"], count_full, stack_full, enomem))
        if count_full == 0:
            fail("a count map of 8 entries overflowed no sample")
        if count_full < 2 * ENTRIES:
            fail("only %d orphaning overflows: an unswept map of %d would not have filled, "
                 "so the sweep was not tested" % (count_full, ENTRIES))
        if stack_full or enomem:
            fail("stack maps filled up (stack map full %d, enomem %d): orphaned stack ids "
                 "were not swept at the drain" % (stack_full, enomem))
        total = sum(c for _, c in folded(out))
        if total != s["aggregated"] + s["overflowed"]:
            fail("output holds %d samples, expected aggregated + overflowed = %d" %
                 (total, s["aggregated"] + s["overflowed"]))


if __name__ == "__main__":
    main()
