#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docs/counters.md lists every counter of common/counters.def, with its source, type, group
and problem flag as defined there, and no counter that is not defined."""
import os
import re
import sys

SRC = os.environ.get("KILN_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
GROUPS = {"SAMPLES": "samples", "KERNEL": "kernel (BPF program)", "RECORDS": "window records",
          "SYMBOLS": "symbolization", "CONFIG": "configuration", "UNWIND": "native unwinding",
          "PYTHON": "python frames"}
ENTRY = re.compile(r'^KILN_COUNTER\((BPF|AGENT), (\w+), "([^"]+)", (COUNTER|GAUGE), (\w+), ([01]),',
                   re.M)


def main():
    with open(os.path.join(SRC, "common", "counters.def")) as f:
        defs = {m.group(3): m.groups() for m in ENTRY.finditer(f.read())}
    with open(os.path.join(SRC, "docs", "counters.md")) as f:
        rows = {}
        for line in f:
            m = re.match(r"^\| `([a-z0-9_]+)` \| (\w+) \| (\w+) \| ([^|]+?) \| (\w*) \|", line)
            if m:
                rows[m.group(1)] = m.groups()[1:]
    bad = []
    if len(defs) < 30:
        bad.append("common/counters.def: only %d entries parsed" % len(defs))
    for name, (src, _, _, typ, group, problem) in defs.items():
        want = ("BPF" if src == "BPF" else "agent", typ.lower(), GROUPS.get(group, "?"),
                "problem" if problem == "1" else "")
        if name not in rows:
            bad.append("docs/counters.md does not list %s" % name)
        elif rows[name] != want:
            bad.append("docs/counters.md row %s says %s, counters.def %s" % (name, rows[name], want))
    for name in rows:
        if name not in defs:
            bad.append("docs/counters.md lists %s, which counters.def does not define" % name)
    for b in bad:
        print("FAIL:", b)
    print("%d counters defined, %d documented" % (len(defs), len(rows)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
