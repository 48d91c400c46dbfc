#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""agent_map_refused: the kernel refusing a BPF map size gives a clear error.

`kiln agent --stack-map-entries 4194304` (4 GiB per stack map) runs in a memory cgroup of
its own limited to 256 MiB: kernels since 5.11 charge BPF maps to the memory cgroup, so the
kernel refuses a stack map. kiln must exit 1 (not be OOM-killed, not hang), and its error
must name the map ('stacks...' / 'ustacks...'), its size, the limit (256.0 MiB and the
cgroup file it comes from) and the option to lower. The cgroup's own counter of refusals
(v1 memory.failcnt, v2 memory.events "max") must have moved: the kernel really refused.

Skips (77) without root, on kernels before 5.11 (maps charged to RLIMIT_MEMLOCK, which
libbpf raises by itself), or when no memory cgroup can be made here.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "record"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from kilntest import KILN, bpf_refused, fail, require_root, skip  # noqa: E402
from testenv import remove_ring  # noqa: E402

LIMIT = 256 << 20
ENTRIES = 4194304


def own_memcg():
    """(directory to create the test's cgroup under, limit file name, refusal counter)."""
    v1 = v2 = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctl, path = line.rstrip("\n").split(":", 2)
            if "memory" in ctl.split(","):
                v1 = path
            elif hid == "0" and ctl == "":
                v2 = path
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup" and "memory" in opts.split(","):
                mounts["v1"] = mnt
            elif fstype == "cgroup2":
                mounts["v2"] = mnt
    if v1 is not None and "v1" in mounts:
        return (os.path.join(mounts["v1"], v1.lstrip("/")), "memory.limit_in_bytes",
                "memory.failcnt")
    if v2 is not None and "v2" in mounts:
        base = os.path.join(mounts["v2"], v2.lstrip("/"))
        try:
            with open(os.path.join(base, "cgroup.subtree_control")) as f:
                if "memory" not in f.read().split():
                    skip("the memory controller is not enabled below %s" % base)
        except OSError as e:
            skip("cannot read %s/cgroup.subtree_control: %s" % (base, e))
        return base, "memory.max", "memory.events"
    skip("no memory cgroup (v1 or v2) on this machine")


def refusals(cg, counter):
    with open(os.path.join(cg, counter)) as f:
        text = f.read()
    if counter == "memory.events":
        m = re.search(r"^max (\d+)$", text, re.M)
        return int(m.group(1)) if m else 0
    return int(text)


def main():
    require_root()
    rel = os.uname().release
    m = re.match(r"(\d+)\.(\d+)", rel)
    if not m or (int(m.group(1)), int(m.group(2))) < (5, 11):
        skip("kernel %s charges BPF maps to RLIMIT_MEMLOCK, which libbpf raises" % rel)
    base, limit_file, counter = own_memcg()
    cg = os.path.join(base, "kiln-map-refused-%d" % os.getpid())
    ring = "map-refused-%d" % os.getpid()
    try:
        os.mkdir(cg)
    except OSError as e:
        skip("cannot make a memory cgroup under %s: %s" % (base, e))
    try:
        with open(os.path.join(cg, limit_file), "w") as f:
            f.write(str(LIMIT))
        before = refusals(cg, counter)

        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

        p = subprocess.run([KILN, "agent", "--ring", ring, "--stack-map-entries",
                            str(ENTRIES), "-d", "5"], capture_output=True, text=True,
                           timeout=120, preexec_fn=enter)
        err = p.stderr
        print(err.strip())
        after = refusals(cg, counter)
        if bpf_refused(err):
            skip("the kernel refuses BPF here: " + err.strip()[-300:])
        if p.returncode != 1:
            fail("kiln agent exited with %d, expected 1 (a clear error, not a kill or a "
                 "start):\n%s" % (p.returncode, err))
        want = [
            (r"the kernel refused to create BPF map 'u?stacks[01]' \(%d entries of \d+ \+ "
             r"\d+ bytes, [\d.]+ MiB\)" % ENTRIES, "the map and its size"),
            (r"Cannot allocate memory", "the kernel's reason"),
            (r"whose limit is 256\.0 MiB \(%s\)" % re.escape(os.path.join(cg, limit_file)),
             "the limit and where it comes from"),
            (r"lower --stack-map-entries", "the option to lower"),
        ]
        for pat, what in want:
            if not re.search(pat, err):
                fail("the error does not give %s (/%s/):\n%s" % (what, pat, err))
        if after <= before:
            fail("%s did not move (%d -> %d): the kernel did not refuse memory" %
                 (counter, before, after))
        print("%s %d -> %d" % (counter, before, after))
    finally:
        remove_ring(ring)
        try:
            os.rmdir(cg)
        except OSError as e:
            print("cannot remove %s: %s" % (cg, e), file=sys.stderr)
    print("ok")


if __name__ == "__main__":
    main()
