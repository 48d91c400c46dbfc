#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Acceptance of kiln's CPython support end to end, with bench/python/kat.py (known answer).

Usage: test_python_e2e.py CASE PYTHON

  record       kiln record -f folded: leaf_a/leaf_b 60/40; -f pprof: the main thread's exact
               Python chains with file and calling lines, the GIL-free hashing thread under
               its Python callers, the non-ASCII name
  agent        the same shares through kiln agent -> ring (ringdump)
  unsupported  PYTHON is a version kiln refuses: its marker frame and the refusal counted,
               never a Python name
  embed        a C program that dlopen()s PYTHON's libpython after 300 ms (uwsgi-style): the
               interpreter mapped after the first sample is still detected
  short-lived  processes of ~1 s that exit before kiln drains their last samples: their Python
               frames are still named

PYTHON missing (a pyenv build absent on this machine) skips the case, saying so.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "record"))
sys.path.insert(0, os.path.join(HERE, "..", "agent"))
from kilntest import (BUILD, KILN, cgroup2_root, fail, folded, record, require_root,  # noqa: E402
                      run, skip)
import pyprof  # noqa: E402

SRC = os.environ.get("KILN_SRC") or os.path.join(HERE, "..", "..")
KAT = os.path.abspath(os.path.join(SRC, "bench", "python", "kat.py"))
TOL = 0.03
CHAIN_MIN = 0.95
HASH_MIN = 0.90
HZ = "499"
SHARE_HZ = "999"  # the share checks': enough samples for TOL in a few seconds (check_ab)
SHARE_CPU = "4.5"


def kat_split(text, label):
    """The split kat.py measured itself ("kat split leaf_a S leaf_b S" on its standard output):
    leaf_a's share of the two leaves' CPU time, the reference a share is compared with."""
    m = re.findall(r"^kat split leaf_a ([0-9.]+) leaf_b ([0-9.]+)$", text, re.M)
    if not m:
        fail("%s: kat.py printed no split (its output: %r)" % (label, text[-500:]))
    ta, tb = float(m[-1][0]), float(m[-1][1])
    if abs(ta / (ta + tb) - 0.60) > 0.02:
        fail("%s: kat.py split its CPU time %.3f s / %.3f s, not 60/40: the known answer "
             "itself is off" % (label, ta, tb))
    print("%s: kat.py measured leaf_a %.3f s, leaf_b %.3f s of CPU time: %.3f" %
          (label, ta, tb, ta / (ta + tb)))
    return ta / (ta + tb)


def check_ab(label, ratio, ref, rows=None):
    """leaf_a/(leaf_a+leaf_b) as sampled against REF, kat.py's own measure, within TOL (the
    60/40 known answer: kat.py keeps its time at 60/40, and says what it measured). With
    SHARE_CPU seconds at SHARE_HZ there are ~4,000 leaf samples: a sampled share's standard
    deviation is then under 0.008, a quarter of TOL."""
    if abs(ratio - ref) <= TOL:
        return
    if rows:
        explain_ab(rows)
    fail("%s: leaf_a/(leaf_a+leaf_b) %.3f, kat.py measured %.3f, tolerance %.2f" %
         (label, ratio, ref, TOL))


def python_summary(stderr):
    """kiln record's "python" summary lines as {"line key": value}, e.g. "python refused",
    "python code objects after exit"."""
    out = {}
    for m in re.finditer(r"^\s*(python[a-z ]*?)\s{2,}(.*)$", stderr, re.M):
        for k, v in re.findall(r"([a-z][a-z -]*?) (\d+)", m.group(2)):
            out["%s %s" % (m.group(1), k)] = int(v)
    if "python refused" not in out:
        fail("no python lines in kiln record's summary:\n" + stderr)
    return out


def ab_share(rows):
    """leaf_a/(leaf_a+leaf_b) over folded rows; also the two counts."""
    a = sum(c for fr, c in rows if "kat.py:leaf_a" in fr)
    b = sum(c for fr, c in rows if "kat.py:leaf_b" in fr)
    return a / max(a + b, 1), a, b


def explain_ab(rows, n=8):
    """For a share outside its tolerance: where the main thread's samples went. The counts by
    innermost Python frame, and the heaviest stacks under kat.py's main() that end in neither
    leaf (a leaf's samples named as its caller would show there)."""
    leaves, other = {}, {}
    for fr, c in rows:
        if "kat.py:main" not in fr:
            continue
        py = [f for f in fr if ".py:" in f]
        leaves[py[-1]] = leaves.get(py[-1], 0) + c
        if "kat.py:leaf_a" not in fr and "kat.py:leaf_b" not in fr:
            other[";".join(fr)] = other.get(";".join(fr), 0) + c
    print("main thread by innermost Python frame: %s" %
          sorted(leaves.items(), key=lambda kv: -kv[1]))
    print("heaviest main-thread stacks in neither leaf:")
    show(other, n)


def show(stacks, n=5):
    top = sorted(stacks.items(), key=lambda kv: -kv[1])[:n]
    for k, v in top:
        print("  (%d) %s" % (v, k[:700]))


def in_workload(frames, py, tags):
    """Whether a main-thread sample belongs to kat.py's known-answer part: under <module> at
    its call of main(), or without any Python frame while the interpreter runs Python code
    (PyEval_EvalCode below it: a walk that failed, which must count against the chains). The
    interpreter's start-up and kat.py's imports come before and are not part of the answer
    (they weigh more when the machine is loaded)."""
    if any(n == "<module>" and os.path.basename(f) == "kat.py" and ln in tags["module_main"]
           for n, f, ln in py):
        return True
    return not py and any(n == "PyEval_EvalCode" for n, _, _ in frames)


def case_record(python, tmp):
    out = os.path.join(tmp, "kat.folded")
    p = record(["-F", SHARE_HZ, "-f", "folded", "-o", out, "--", python, KAT, "--cpu",
                SHARE_CPU])
    rows = folded(out)
    ratio, a, b = ab_share(rows)
    ref = kat_split(p.stdout, python)
    uni = sum(c for fr, c in rows if "kat.py:функция" in fr)
    print("%s folded: leaf_a %d leaf_b %d: leaf_a/(leaf_a+leaf_b) %.3f; kat.py:функция %d" %
          (python, a, b, ratio, uni))
    for line in p.stderr.splitlines():
        if line.strip().startswith("python"):
            print(line)
    if a + b < 2000:
        fail("only %d samples in leaf_a/leaf_b at %s Hz over %s s of CPU time" %
             (a + b, SHARE_HZ, SHARE_CPU))
    check_ab("folded", ratio, ref, rows)
    if uni == 0:
        fail("no sample in kat.py:функция (the non-ASCII name)")

    out = os.path.join(tmp, "kat.pb.gz")
    p = record(["-F", HZ, "-f", "pprof", "-o", out, "--", python, KAT, "--cpu", "3"])
    for line in p.stderr.splitlines():
        if line.strip().startswith("python"):
            print(line)
    samples = pyprof.read_pprof(out)
    chains = pyprof.kat_chains(KAT)
    main_total = main_good = hash_total = hash_good = startup = 0
    uni_named = 0
    bad_main, bad_hash = {}, {}
    tags = pyprof.kat_lines(KAT)
    hash_chain = [("Thread._bootstrap", "threading.py", None),
                  ("Thread._bootstrap_inner", "threading.py", None),
                  ("Thread.run", "threading.py", None),
                  ("hash_loop", "kat.py", set(tags["hash_call"]))]
    for frames, count, lab in samples:
        if not lab.get("pid") or not frames:
            continue
        py = pyprof.python_frames(frames)
        key = ";".join("%s@%s:%d" % (n, os.path.basename(f), ln) for n, f, ln in frames)
        if lab.get("tid") == lab.get("pid"):
            if not in_workload(frames, py, tags):
                startup += count
                continue
            main_total += count
            ok = any(pyprof.matches(py, c) for c in chains.values())
            if ok:
                main_good += count
                uni_named += count if py[-1][0] == "функция" else 0
            else:
                bad_main[key] = bad_main.get(key, 0) + count
        else:
            # the hashing thread; the stopper thread sleeps and is (almost) never sampled.
            # Samples before kiln set the process up (its first window: no unwind tables
            # yet, so no whole native stack, and no Python walk) are left out like the main
            # thread's start-up; a sample with the whole native stack down to start_thread
            # but without its Python callers counts against the check.
            if not py and not any(n == "start_thread" for n, _, _ in frames):
                startup += count
                continue
            hash_total += count
            ok = len(py) == len(hash_chain) and all(
                n == wn and os.path.basename(f) == wf and (wl is None or ln in wl)
                for (n, f, ln), (wn, wf, wl) in zip(py, hash_chain))
            if ok:
                hash_good += count
            else:
                bad_hash[key] = bad_hash.get(key, 0) + count
    print("%s pprof: main thread %d samples, %d (%.4f) with the exact Python chain and lines; "
          "hashing thread %d samples, %d (%.4f) under hash_loop <- Thread.run <- ...; "
          "функция %d; %d start-up samples left out (both threads)" %
          (python, main_total, main_good, main_good / max(main_total, 1), hash_total, hash_good,
           hash_good / max(hash_total, 1), uni_named, startup))
    if main_total < 500 or hash_total < 150:
        fail("too few samples: main thread %d, hashing thread %d" % (main_total, hash_total))
    if main_good < CHAIN_MIN * main_total:
        print("main-thread stacks without the expected chain:")
        show(bad_main)
    if main_good < CHAIN_MIN * main_total:
        fail("exact chains in %d of %d main-thread "
                "samples < %.2f" % (main_good, main_total, CHAIN_MIN))
    if hash_good < HASH_MIN * hash_total:
        print("hashing-thread stacks without the expected callers:")
        show(bad_hash)
    if hash_good < HASH_MIN * hash_total:
        fail("Python callers in %d of %d hashing-thread "
                "samples < %.2f" % (hash_good, hash_total, HASH_MIN))
    if uni_named == 0:
        fail("функция never appears with its exact chain in the pprof output")


def agent_shares(label, rows, ref, min_samples=2000):
    """Checks leaf_a/leaf_b against kat.py's measured split REF and the non-ASCII name over
    ROWS [(frame names, count)]."""
    ratio, na, nb = ab_share(rows)
    print("%s: leaf_a %d leaf_b %d: leaf_a/(leaf_a+leaf_b) %.3f" % (label, na, nb, ratio))
    if na + nb < min_samples:
        fail("%s: only %d samples in leaf_a/leaf_b" % (label, na + nb))
    check_ab(label, ratio, ref, rows)
    if not any("kat.py:функция" in fr for fr, _ in rows):
        fail("%s: no kat.py:функция frame" % label)


def check_otlp(files, cgname, tags):
    """The OTLP files kiln export wrote: valid for the upstream schema (protoc, when
    ../shared holds it), and kat.py's samples (its cgroup in the resource) with function, file,
    line and frame type cpython on their Python locations."""
    shared = os.path.join(SRC, "..", "shared", "otlp-proto")
    if not os.path.isdir(shared):
        shared = "/work/shared/otlp-proto"
    rows, chain_ok, chain_n, bad_kind = [], 0, 0, 0
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        if os.path.isdir(shared):
            r = subprocess.run(["protoc", "--decode=opentelemetry.proto.collector.profiles."
                                "v1development.ExportProfilesServiceRequest", "-I", shared,
                                "opentelemetry/proto/collector/profiles/v1development/"
                                "profiles_service.proto"], input=body, capture_output=True)
            if r.returncode != 0 or b"resource_profiles" not in r.stdout:
                fail("protoc does not decode %s: %s" % (path, r.stderr.decode()[:500]))
        for frames, count, res in pyprof.read_otlp(body):
            if not any(cgname in v for v in res):
                continue
            names = []
            for name, file, line, kind in frames:
                if file.endswith(".py"):
                    names.append("%s:%s" % (os.path.basename(file), name))
                    bad_kind += count if kind != "cpython" else 0
                else:
                    names.append(name)
            rows.append((names, count))
            py = [(n, f, ln) for n, f, ln, k in frames if f.endswith(".py")]
            if py and py[-1][0] in ("leaf_a", "leaf_b"):
                chain_n += count
                chains = pyprof.kat_chains(KAT)
                chain_ok += count if pyprof.matches(py, chains[py[-1][0]]) else 0
    print("OTLP: %d files, %d of %d leaf_a/leaf_b samples with the exact chain, file and "
          "lines; %d samples with a Python location not typed cpython" %
          (len(files), chain_ok, chain_n, bad_kind))
    if not os.path.isdir(shared):
        print("no otlp-proto beside the source: the upstream schema check was skipped")
    if bad_kind:
        fail("Python locations without profile.frame.type cpython")
    if chain_ok < CHAIN_MIN * max(chain_n, 1):
        fail("OTLP: exact chains in %d of %d "
                "leaf samples" % (chain_ok, chain_n))
    return rows


def case_agent(python, tmp):
    """kat.py (in a cgroup of its own: its own workload) through kiln agent and its ring
    (ringdump's JSON), kiln export (OTLP files) and kiln ui's symbols API."""
    from agenttest import Agent, wait_for
    sys.path.insert(0, os.path.join(HERE, "..", "ui"))
    import uitest
    root = cgroup2_root()
    if not root:
        skip("cgroup2 is not mounted: kat.py cannot get a workload of its own")
    cgname = "kiln-py-e2e-%d" % os.getpid()
    cg = os.path.join(root, cgname)
    os.mkdir(cg)
    ring = "test-py-%d" % os.getpid()
    a = ui = w = None
    try:
        a = Agent(ring, ["-F", SHARE_HZ])
        ui = uitest.start_ui(ring)

        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        w = subprocess.Popen([python, KAT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             preexec_fn=enter)
        if w.stdout.readline().strip() != b"ready":
            fail("kat.py did not start")
        wl = uitest.wait_workload(ui, lambda x: cgname in x["id"], timeout=30)
        uitest.enable(ui, wl["id"])
        # both threads' samples: the main thread's leaves get ~4,000 of them (check_ab)
        uitest.wait_samples(ui, wl["id"], 9000, timeout=120)
        w.stdin.close()
        w.wait(30)
        ref = kat_split(w.stdout.read().decode(), python)
        sy = uitest.symbols(ui, wl["id"])
        # every window of kat.py's life is in the ring once two more were written
        done = a.counters().get("windows", 0)
        wait_for(lambda: a.counters().get("windows", 0) >= done + 2, "two more windows")
        outdir = os.path.join(tmp, "otlp")
        e = subprocess.run([KILN, "export", "--ring", ring, "--once", "--compression", "none",
                            "--spool-dir", "", "--destination", "file=" + outdir],
                           capture_output=True, text=True, timeout=120)
        if e.returncode != 0:
            fail("kiln export failed (%d): %s" % (e.returncode, e.stderr))
        ui.stop()
        ui = None
        recs = a.stop()
        counters = a.final_counters
        a = None
    finally:
        if w and w.poll() is None:
            w.kill()
            w.wait()
        if ui:
            ui.stop()
        if a:
            a.proc.kill()
            a.dump.kill()
        try:
            os.rmdir(cg)
        except OSError:
            pass
    rows = []
    for r in recs:
        for s in r["samples"]:
            if s["tgid"] == w.pid:
                rows.append(([f["name"] for f in s["frames"]], s["count"]))
    agent_shares("%s agent ring" % python, rows, ref)
    print("ring counters: " + ", ".join("%s %d" % (k, v) for k, v in sorted(counters.items())
                                        if k.startswith("python_")))
    if counters.get("python_detected", 0) < 1 or counters.get("python_frames_named", 0) < 1:
        fail("the agent's python counters say nothing was detected or named")
    files = sorted(os.path.join(outdir, f) for f in os.listdir(outdir))
    agent_shares("%s OTLP" % python, check_otlp(files, cgname, pyprof.kat_lines(KAT)), ref)
    by = {r["name"]: r for r in sy["symbols"]}
    sa, sb = by.get("kat.py:leaf_a", {}), by.get("kat.py:leaf_b", {})
    ta, tb = sa.get("total", 0), sb.get("total", 0)
    print("%s UI symbols: kat.py:leaf_a total %d, kat.py:leaf_b total %d (%.3f); функция %s" %
          (python, ta, tb, ta / max(ta + tb, 1), by.get("kat.py:функция", {}).get("total")))
    if ta + tb < 2000:
        fail("UI symbols: only %d samples in leaf_a/leaf_b" % (ta + tb))
    check_ab("UI symbols", ta / (ta + tb), ref)
    if "kat.py:функция" not in by:
        fail("UI symbols: no kat.py:функция row")


def case_unsupported(python, tmp):
    ver = run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout
    ver = ver.strip()
    out = os.path.join(tmp, "old.folded")
    p = record(["-F", HZ, "-f", "folded", "-o", out, "--", python, KAT, "--seconds", "2"])
    rows = folded(out)
    marker = "[python: unsupported %s]" % ver
    total = sum(c for _, c in rows)
    marked = sum(c for fr, c in rows if marker in fr)
    named = sum(c for fr, c in rows if any(".py:" in f for f in fr))
    py = python_summary(p.stderr)
    print("%s (%s): %d samples, %d with %s, %d with a Python name; python summary %s" %
          (python, ver, total, marked, marker, named, py))
    if named:
        fail("an unsupported interpreter's stacks carry Python names")
    if marked < 0.5 * total:
        fail("the marker frame %s is in only %d of %d samples" % (marker, marked, total))
    if py["python refused"] < 1 or py["python walk stops refused samples"] < 1:
        fail("the refusal is not counted in the python summary line")


def case_short_lived(python, tmp):
    """Three ~1 s processes one after the other under one kiln record: the first two exit
    long before kiln's last drain, so their frames are named from the code cache after their
    exit. Every sample under kat.py's main or hash_loop must have all its Python frames named, but for a
    rare one (< 0.5 %): a frame caught while CPython sets it up can point at memory that is
    no code object any more when read (counted: code objects bad type). The interpreter's
    start-up and kat.py's imports are not checked: a module's <module> code object is freed as soon as its import
    ran, often before kiln reads it (counted the same way)."""
    script = "; ".join(["%s %s --cpu 0.8" % (python, KAT)] * 3)
    out = os.path.join(tmp, "short.folded")
    p = record(["-F", HZ, "-f", "folded", "-o", out, "--", "/bin/sh", "-c", script])
    rows = folded(out)
    ratio, a, b = ab_share(rows)
    kat = [(fr, c) for fr, c in rows if "kat.py:main" in fr or "kat.py:hash_loop" in fr]
    total = sum(c for _, c in kat)
    unnamed = sum(c for fr, c in kat if any(f.startswith("[python:") for f in fr))
    py = python_summary(p.stderr)
    print("%s short-lived x3: leaf_a %d leaf_b %d (%.3f); %d samples under kat.py, %d with an "
          "unnamed Python frame; frames named after exit %d, unnamed %d in all (start-up "
          "included), code objects bad type %d" %
          (python, a, b, ratio, total, unnamed, py["python code objects after exit"],
           py["python unnamed"], py["python code objects bad type"]))
    if a + b < 300:
        fail("only %d samples in leaf_a/leaf_b of three 1 s processes" % (a + b))
    if unnamed > 0.005 * total:
        for fr, c in kat:
            if any(f.startswith("[python:") for f in fr):
                print("  (%d) %s" % (c, ";".join(fr)[-400:]))
        fail("%d of %d samples under kat.py's main or hash_loop carry unnamed Python frames" % (unnamed, total))
    if py["python code objects after exit"] == 0:
        fail("no frame was named from the cache after its process exited")


def case_embed(python, tmp):
    """An embedder that dlopen()s libpython after 300 ms of C code (as uwsgi loads its Python
    plugin): the first samples see no interpreter, the later ones must be detected and
    named."""
    home = os.path.dirname(os.path.dirname(python))
    ver = os.path.basename(python)[len("python"):]
    lib = os.path.join(home, "lib", "libpython%s.so.1.0" % ver)
    if not os.path.exists(lib):
        skip("%s has no shared libpython (%s)" % (python, lib))
    embed = os.path.join(BUILD, "tests", "python_e2e", "py_embed")
    out = os.path.join(tmp, "embed.folded")
    os.environ["PYTHONHOME"] = home
    p = record(["-F", SHARE_HZ, "-f", "folded", "-o", out, "--", embed, lib, "300", KAT,
                "--cpu", SHARE_CPU])
    rows = folded(out)
    ratio, a, b = ab_share(rows)
    ref = kat_split(p.stdout, lib)
    burn = sum(c for fr, c in rows if "main" in fr and not any(".py:" in f for f in fr))
    py = python_summary(p.stderr)
    print("%s embedded after 300 ms: %d samples before, leaf_a %d leaf_b %d (%.3f); python "
          "detected %d" % (lib, burn, a, b, ratio, py["python detected"]))
    if py["python detected"] < 1 or a + b < 2000:
        fail("the interpreter mapped after the first sample was not detected: %d samples in "
             "leaf_a/leaf_b" % (a + b))
    check_ab("embedded", ratio, ref, rows)


CASES = {"record": case_record, "embed": case_embed, "agent": case_agent, "unsupported": case_unsupported,
         "short-lived": case_short_lived}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        return 2
    python = sys.argv[2]
    if not os.access(python, os.X_OK):
        skip("%s is not installed on this machine" % python)
    require_root()
    with tempfile.TemporaryDirectory(prefix="kiln-py-e2e-") as tmp:
        CASES[sys.argv[1]](python, tmp)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
