#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Whole-stack checks shared by tests/unwind_e2e and `kiln-bench unwind`.

One definition of "whole stack" for every profiler's output, so that kiln and the perf oracle
are judged alike:

  * a user stack is WHOLE when its outermost frame is a known root: `_start`,
    `__libc_start_main` / `__libc_start_call_main` (main thread; a frame-pointer walk ends
    there because libc has no frame pointers), `start_thread`, `clone` / `clone3` (threads);
  * a workload stack carries the WHOLE CHAIN when, in addition, it is exactly the chain the
    workload's code calls (bench/workload.c): root frames, then start_thread (threads) or
    main -> run_threads (thread 0), then worker_main -> run_mix -> [recurse...] -> leaf.

Stacks are lists of frame names, outermost first, user frames only. Sources: kiln's folded
output (`kiln record -f folded`), ringdump's JSON lines (kiln agent's ring), `perf script`.

As a command (used by kiln-bench unwind), prints key=value lines:

  unwindcheck.py folded FILE [--workload] [--leaf NAME...]
  unwindcheck.py perf PERF.DATA [--workload] [--leaf NAME...]
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from folded import read_folded  # noqa: E402

# Roots, as normalized by norm().
ROOTS = {"start", "libc_start_main", "libc_start_call_main", "start_thread", "clone", "clone3"}
MAIN_ROOTS = {"start", "libc_start_main", "libc_start_call_main"}
THREAD_ROOTS = {"clone", "clone3"}
# A signal frame, as unwinders name it: glibc's trampoline, or a marker frame of the unwinder.
SIGNAL_MARKERS = {"restore_rt", "[signal]", "[signal frame]"}
TRUNCATED = "[truncated]"


def norm(name):
    """Frame name without the decorations that differ between symbolizers: "+0x.." offsets,
    "@plt", glibc's "__GI_" aliases and leading underscores, the "_impl" of
    __libc_start_main_impl."""
    name = re.sub(r"\+0x[0-9a-f]+$", "", name)
    name = name.split("@")[0]
    if name.startswith("[") or not name:
        return name
    if name.startswith("__GI_"):
        name = name[5:]
    name = name.lstrip("_")
    if name == "libc_start_main_impl":
        name = "libc_start_main"
    return name


def is_whole(user):
    """The outermost user frame is a known root."""
    return bool(user) and norm(user[0]) in ROOTS


def root_prefix_ok(prefix):
    """PREFIX (normalized frames before worker_main) is how a workload thread is entered.
    A sanitizer runtime's thread trampoline (TSan: __tsan_thread_start_func) may sit between
    start_thread and worker_main in sanitized builds."""
    if prefix and prefix[-1].startswith(("tsan_", "asan_", "interceptor_")):
        prefix = prefix[:-1]
    if prefix[-1:] == ["start_thread"]:
        return all(p in THREAD_ROOTS for p in prefix[:-1])
    if prefix[-2:] == ["main", "run_threads"]:
        return len(prefix) >= 3 and all(p in MAIN_ROOTS for p in prefix[:-2])
    return False


def split_chain(user):
    """(prefix ok, frames after run_mix) when USER runs root -> ... -> worker_main -> run_mix,
    else (False, None)."""
    n = [norm(f) for f in user]
    if "worker_main" not in n:
        return False, None
    i = n.index("worker_main")
    if not root_prefix_ok(n[:i]) or n[i + 1:i + 2] != ["run_mix"]:
        return False, None
    return True, n[i + 2:]


def whole_chain(user, tails, recurse=0):
    """USER is exactly root -> entry -> worker_main -> run_mix -> RECURSE x recurse -> one of
    TAILS (lists of frame names, e.g. [["alpha"], ["beta"]])."""
    ok, rest = split_chain(user)
    if not ok or rest[:recurse] != ["recurse"] * recurse:
        return False
    return rest[recurse:] in [list(t) for t in tails]


def signal_chain(user):
    """USER is a sample inside the --signal handler with the whole interrupted stack behind it:
    root -> ... -> worker_main -> run_mix -> (interrupted frames) -> signal frame ->
    on_sigprof -> sig_burn."""
    n = [norm(f) for f in user]
    if n[-2:] != ["on_sigprof", "sig_burn"] or len(n) < 3 or not is_signal_marker(user[-3]):
        return False
    ok, _ = split_chain(user[:-3])
    return ok


# glibc's signal return trampoline (__restore_rt): mov $15,%rax; syscall. Debian's libc has no
# symbol table, so profilers show it unnamed, as "[libc.so.6+0x3c04f]" (the return address
# minus one: the nop glibc puts before the trampoline) or perf's "[unknown]".
SIGRETURN_CODE = bytes.fromhex("48c7c00f0000000f05")
LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")
_trampolines = {}


def sigreturn_addrs(base):
    """ELF virtual addresses of the sigreturn trampolines in library BASE (a file name such as
    libc.so.6, looked up in the system's library directories); empty when none or not found."""
    if base in _trampolines:
        return _trampolines[base]
    found = set()
    for d in LIB_DIRS:
        try:
            with open(os.path.join(d, base), "rb") as f:
                data = f.read()
        except OSError:
            continue
        if data[:4] != b"\x7fELF" or data[4] != 2:
            break
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        loads = []
        for i in range(phnum):
            ptype, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data,
                                                                 phoff + i * phentsize)
            if ptype == 1:
                loads.append((off, vaddr, filesz))
        at = data.find(SIGRETURN_CODE)
        while at >= 0:
            for off, vaddr, filesz in loads:
                if off <= at < off + filesz:
                    found.add(at - off + vaddr)
            at = data.find(SIGRETURN_CODE, at + 1)
        break
    _trampolines[base] = found
    return found


def is_signal_marker(frame):
    """FRAME is a signal frame: named __restore_rt, an unwinder's marker, or an unnamed frame
    at (or one byte before) a sigreturn trampoline of libc."""
    if norm(frame) in SIGNAL_MARKERS:
        return True
    m = re.match(r"^\[\[?([^]\[+]+?)\]?\+0x([0-9a-f]+)\]$", frame)
    if not m or not m.group(1).startswith("libc.so"):
        return False
    addr = int(m.group(2), 16)
    return any(t - 1 <= addr < t + len(SIGRETURN_CODE) for t in sigreturn_addrs(m.group(1)))


def interrupted(user):
    """The frame the signal interrupted (just outside the signal frame), or None."""
    if len(user) >= 4 and is_signal_marker(user[-3]):
        return norm(user[-4])
    return None


def folded_samples(path):
    """kiln's folded output as [(comm, user frames, kernel frames, count)]: the first frame of
    a line is the thread's comm, kernel frames end in "_[k]"."""
    out = []
    for frames, count in read_folded(path):
        user = [f for f in frames[1:] if not f.endswith("_[k]")]
        kern = [f[:-4] for f in frames[1:] if f.endswith("_[k]")]
        out.append((frames[0], user, kern, count))
    return out


def ring_samples(records, tgids=None):
    """ringdump's JSON records as [(comm, user frames, kernel frames, count)], only samples of
    the processes in TGIDS when given. Kernel frames are kind 1 (WREC_FRAME_KERNEL)."""
    out = []
    for r in records:
        for s in r["samples"]:
            if tgids is not None and s["tgid"] not in tgids:
                continue
            user = [f["name"] for f in s["frames"] if f["kind"] != 1]
            kern = [f["name"] for f in s["frames"] if f["kind"] == 1]
            out.append((s["comm"], user, kern, s["count"]))
    return out


def perf_samples(text):
    """`perf script -F comm,pid,tid,ip,sym,dso` output as [(comm, user frames, kernel frames,
    1)]. perf prints frames innermost first; they are turned outermost first. Frames perf
    marks "(inlined)" are dropped: they come from debug info, not from a frame on the stack,
    and no other profiler here shows them."""
    out = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        comm = lines[0].split()[0]
        user, kern = [], []
        for ln in lines[1:]:
            m = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$", ln)
            if not m:
                continue
            addr, sym, dso = m.groups()
            if dso == "inlined":
                continue
            if sym == "[unknown]" and not dso.startswith("["):
                # as kiln names an unsymbolized frame: module base name and address
                sym = "[%s+0x%x]" % (os.path.basename(dso), int(addr, 16))
            if dso.startswith("[kernel") or int(addr, 16) >= 0xffff800000000000:
                kern.append(sym)
            else:
                user.append(sym)
        out.append((comm, user[::-1], kern[::-1], 1))
    return out


PERF_RECORD_MMAP2 = 10
PERF_RECORD_MISC_MMAP_BUILD_ID = 1 << 14
BUILD_ID_MAX = 20


def fix_perf_data(path):
    """Clears the build-id flag of MMAP2 events in the perf.data file PATH whose build-id size
    is impossible (> 20 bytes). Returns how many it cleared.

    This machine's kernel (6.18) now and then writes MMAP2 events of executable mappings with
    PERF_RECORD_MISC_MMAP_BUILD_ID set and a build-id size of 254, though perf did not ask
    for build-ids; Debian's perf 6.1 then aborts in perf script ("assertion failed at
    util/build-id.c:1010", stack smashing). Measured: 3 of 6 `perf record --call-graph dwarf
    -- workload-nofp --signal` runs. Without the flag perf reads the union as device and
    inode numbers, which it only uses to tell files apart."""
    fixed = 0
    with open(path, "r+b") as f:
        head = f.read(56)
        if len(head) < 56 or head[:8] != b"PERFILE2":
            return 0
        data_off, data_size = struct.unpack_from("<QQ", head, 40)
        off, end = data_off, data_off + data_size
        while off + 8 <= end:
            f.seek(off)
            typ, misc, size = struct.unpack("<IHH", f.read(8))
            if size < 8:
                break
            if typ == PERF_RECORD_MMAP2 and misc & PERF_RECORD_MISC_MMAP_BUILD_ID:
                # header 8, pid/tid 8, addr/len/pgoff 24: then u8 build_id_size
                f.seek(off + 40)
                if f.read(1)[0] > BUILD_ID_MAX:
                    f.seek(off + 4)
                    f.write(struct.pack("<H", misc & ~PERF_RECORD_MISC_MMAP_BUILD_ID))
                    fixed += 1
            off += size
    return fixed


def perf_script(data):
    """Runs perf script on DATA (after fix_perf_data). Returns its text."""
    fixed = fix_perf_data(data)
    if fixed:
        print("unwindcheck: %s: cleared the build-id flag of %d MMAP2 event(s) with an "
              "impossible build-id size" % (data, fixed), file=sys.stderr)
    # A build-id cache of its own: nothing shared with other perf runs on the machine.
    with tempfile.TemporaryDirectory(prefix="kiln-perf-buildid-") as cache:
        p = subprocess.run(["perf", "--buildid-dir", cache, "script", "-i", data, "-F",
                            "comm,pid,tid,ip,sym,dso"],
                           capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("perf script -i %s: %s" % (data, p.stderr.strip()[-2000:]))
    return p.stdout


def stats(samples, workload=False, leaves=("alpha", "beta")):
    """Counts over SAMPLES (user stack non-empty only: samples entirely in the kernel, e.g.
    kernel threads, have no user stack to judge): samples, whole, and for the workload
    leaf_samples (samples in one of LEAVES), whole_chain (of those, the ones that are exactly
    the expected chain ending in the leaf) and leaf_NAME (samples in each leaf)."""
    st = {"samples": 0, "whole": 0, "kernel_only": 0}
    if workload:
        st["leaf_samples"] = st["whole_chain"] = 0
        for leaf in leaves:
            st["leaf_" + leaf] = 0
    for _, user, _, count in samples:
        if not user:
            st["kernel_only"] += count
            continue
        st["samples"] += count
        if is_whole(user):
            st["whole"] += count
        if workload:
            names = {norm(f) for f in user}
            if not names.isdisjoint(leaves):
                st["leaf_samples"] += count
            if whole_chain(user, [[leaf] for leaf in leaves]):
                st["whole_chain"] += count
            for leaf in leaves:
                if leaf in names:
                    st["leaf_" + leaf] += count
    return st


def main():
    ap = argparse.ArgumentParser(description="whole-stack counts of a profile")
    ap.add_argument("kind", choices=("folded", "perf"))
    ap.add_argument("file")
    ap.add_argument("--workload", action="store_true",
                    help="also count the workload's exact chain and its leaves")
    ap.add_argument("--leaf", action="append", help="workload leaf names (alpha, beta)")
    ap.add_argument("--comm", help="count only the samples of threads named COMM (a profile "
                    "of a shell script and the processes it runs)")
    a = ap.parse_args()
    try:
        samples = (folded_samples(a.file) if a.kind == "folded"
                   else perf_samples(perf_script(a.file)))
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as e:
        print("unwindcheck: %s" % e, file=sys.stderr)
        return 1
    if a.comm:
        samples = [s for s in samples if s[0] == a.comm[:15]]
    st = stats(samples, a.workload, tuple(a.leaf or ("alpha", "beta")))
    for k, v in st.items():
        print("%s=%d" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
