#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every test of the tree carries exactly one of the labels unit, bpf, e2e, bench (see
tests/CMakeLists.txt), so that `ctest -L unit` and the other selections miss nothing."""
import json
import subprocess
import sys

KINDS = {"unit", "bpf", "e2e", "bench"}


def main():
    ctest, build = sys.argv[1], sys.argv[2]
    out = subprocess.run([ctest, "--test-dir", build, "--show-only=json-v1"],
                         capture_output=True, text=True, check=True).stdout
    bad = []
    tests = json.loads(out)["tests"]
    for t in tests:
        labels = set()
        for p in t.get("properties", []):
            if p["name"] == "LABELS":
                labels = set(p["value"])
        kinds = labels & KINDS
        if len(kinds) != 1:
            bad.append("%s: labels %s, want exactly one of %s"
                       % (t["name"], sorted(labels) or "none", sorted(KINDS)))
    for b in bad:
        print("FAIL:", b)
    print("%d tests, %d without exactly one kind" % (len(tests), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
