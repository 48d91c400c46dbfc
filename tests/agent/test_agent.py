#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `kiln agent`: records read back from a real ring. Usage: CASE."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "record"))
from agenttest import Agent, frames, wait_for  # noqa: E402
from kilntest import KILN, WORKLOAD, cgroup2_root, fail, require_root, run, skip  # noqa: E402

TOL = 0.03


def cpu_samples(w, hz):
    """Samples the finished workload W's CPU time (its stderr report) makes at HZ."""
    return int(w.stderr.split("cpu_ns total=")[1].split()[0]) * hz / 1e9


def ring_name(case):
    return "test-agent-%s-%d" % (case, os.getpid())


def case_shares(tmp):
    """The known-answer workload (frame pointers) read back from the ring: 70/30 +- 3 %.
    It runs for 3 s of CPU time, not of wall time: ~3000 samples however loaded the host
    is (a share of 3000 samples is within 3 points of its answer by 3.6 standard errors)."""
    a = Agent(ring_name("shares"), ["-F", "999"])
    w = run([WORKLOAD, "--mix", "alpha=70,beta=30", "--cpu-seconds", "3", "--print-pids"])
    pid = int(w.stdout.split("pid=")[1].split()[0])
    expect = cpu_samples(w, 999)
    recs = a.stop()
    mine = [s for r in recs for s in r["samples"] if s["tgid"] == pid]
    total = sum(s["count"] for s in mine)
    if total < 0.9 * expect:
        fail("only %d samples of the workload in the ring, its CPU time makes ~%d" %
             (total, expect))
    keys = {r["key"] for r in recs for s in r["samples"] if s["tgid"] == pid}
    if len(keys) != 1:
        fail("workload samples spread over workloads %s" % keys)
    share = {n: sum(s["count"] for s in mine if n in frames(s)) / total for n in ("alpha",
                                                                                   "beta")}
    print("workload %s: %d samples, alpha %.3f beta %.3f" % (keys, total, share["alpha"],
                                                             share["beta"]))
    if abs(share["alpha"] - 0.7) > TOL or abs(share["beta"] - 0.3) > TOL:
        fail("shares %s, expected alpha 0.70 beta 0.30 +- %.2f" % (share, TOL))
    c = a.counters()
    if c["samples_taken"] != c["samples_aggregated"] + c["samples_overflowed"] + \
            c["samples_dropped"]:
        fail("agent counters do not add up: %s" % c)
    written = sum(r["total"] for r in recs)
    if written != c["samples_written"]:
        fail("records hold %d samples, counter samples_written says %d" %
             (written, c["samples_written"]))
    if written != c["samples_aggregated"] + c["samples_overflowed"]:
        fail("records hold %d samples, aggregated + overflowed = %d" %
             (written, c["samples_aggregated"] + c["samples_overflowed"]))
    for r in recs:
        if r["period_ns"] != 1000000000 // 999 or r["duration_ns"] <= 0:
            fail("bad window header %s" % {k: r[k] for k in ("period_ns", "duration_ns")})


def case_cgroups(tmp):
    """Two workloads in two cgroups made here come out as two records with their identity."""
    root = cgroup2_root()
    if not root:
        print("SKIP: cgroup2 is not mounted", file=sys.stderr)
        sys.exit(77)
    names = ["kiln-test-a-%d" % os.getpid(), "kiln-test-b-%d" % os.getpid()]
    paths = [os.path.join(root, n) for n in names]
    procs = []
    a = None
    try:
        for p in paths:
            os.mkdir(p)
        a = Agent(ring_name("cgroups"), ["-F", "199"])
        for mix, p in zip(("alpha=100", "beta=100"), paths):
            def enter(p=p):
                with open(os.path.join(p, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
            procs.append(subprocess.Popen([WORKLOAD, "--mix", mix, "--seconds", "2"],
                                          preexec_fn=enter, stderr=subprocess.DEVNULL))
        for p in procs:
            p.wait()
        recs = a.stop()
        a = None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if a:
            a.proc.kill()
            a.dump.kill()
        for p in paths:
            try:
                os.rmdir(p)
            except OSError:
                pass
    by_pid = {}
    for r in recs:
        for s in r["samples"]:
            by_pid.setdefault(s["tgid"], set()).add((r["key"], r["name"], r["cgroup"]))
    for proc, name in zip(procs, names):
        ids = by_pid.get(proc.pid)
        if not ids:
            fail("no samples of the workload in cgroup %s" % name)
        if len(ids) != 1:
            fail("the workload in %s has several identities: %s" % (name, ids))
        key, wname, cg = ids.pop()
        print("cgroup %s -> key %s name %s cgroup %s" % (name, key, wname, cg))
        if cg != "/" + name:
            fail("cgroup field %r, expected /%s" % (cg, name))
        if name not in key or wname != name:
            fail("identity %r / %r does not name cgroup %s" % (key, wname, name))


def short_lived(a, durations, freeze=False, cgroup=None, keys=None):
    """Runs the frame-pointer workload once per duration (one after another), stops agent A
    and returns (samples, samples with a named leaf, samples in gamma) of those processes.
    FREEZE: the agent is stopped (SIGSTOP) while they run, so all of them have exited
    before it could look at any: the slowest agent there can be. CGROUP: the directory of a
    cgroup they run in. KEYS: a dict filled with the workload keys of their samples."""
    pids = []
    kw = {}
    if cgroup:
        def enter():
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        kw["preexec_fn"] = enter
    if freeze:
        a.proc.send_signal(signal.SIGSTOP)
    try:
        for d in durations:
            w = run([WORKLOAD, "--mix", "gamma=100", "--cpu-seconds", "%.3f" % d,
                     "--print-pids"], **kw)
            pids.append(int(w.stdout.split("pid=")[1].split()[0]))
    except BaseException:
        # A failed run must not leave the agent behind (frozen, or holding a cgroup).
        a.kill()
        raise
    finally:
        if freeze and a.proc.poll() is None:
            a.proc.send_signal(signal.SIGCONT)
    recs = a.stop()
    samples = [s for r in recs for s in r["samples"] if s["tgid"] in pids]
    total = sum(s["count"] for s in samples)
    if keys is not None:
        for r in recs:
            for s in r["samples"]:
                if s["tgid"] in pids:
                    keys[r["key"]] = keys.get(r["key"], 0) + s["count"]
    # Symbolized: the leaf frame has a name (not "[module+0x...]" / "[unknown]").
    named = sum(s["count"] for s in samples if s["frames"] and
                not s["frames"][-1]["name"].startswith("["))
    in_gamma = sum(s["count"] for s in samples if "gamma" in frames(s))
    c = a.counters()
    print("%d short-lived processes: %d samples, %d with a named leaf, %d in gamma; "
          "mapping events %d (lost %d, malformed %d), mappings added %d" %
          (len(pids), total, named, in_gamma, c.get("mmap_records_read", 0),
           c.get("mmap_records_lost", 0), c.get("mmap_records_bad", 0),
           c.get("mappings_added", 0)))
    if named < total:
        from collections import Counter
        bad = Counter((s["tgid"], ";".join(f["name"] + "@" + f["module"].split("/")[-1]
                                           for f in s["frames"][-3:]))
                      for s in samples if not s["frames"] or
                      s["frames"][-1]["name"].startswith("["))
        for k, v in bad.most_common(10):
            print("  unsymbolized %4d %s" % (v, k))
    if not c.get("mappings_added"):
        if "mapping events unavailable" in a.stderr:
            skip("the kernel refused the mapping events: " + a.stderr)
        fail("no mapping was added from mapping events:\n" + a.stderr)
    return total, named, in_gamma


def case_short_lived(tmp):
    """Processes that run 50 ms and exit are symbolized: their mappings come from the
    kernel's mapping events, so how fast the agent is does not matter. The agent is frozen
    while they run: none of them is alive when it looks."""
    # KILN_DEBUG=1 keeps the agent's debug log.
    a = Agent(ring_name("short"), ["-F", "999"] + (["-vv"] if os.environ.get("KILN_DEBUG")
                                                   else []))
    total, named, in_gamma = short_lived(a, [0.05] * 5, freeze=True)
    # 250 ms of CPU at 999 Hz, less what exec and the loader take before the burn starts.
    if total < 150:
        fail("only %d samples of five 50 ms processes at 999 Hz" % total)
    if named < 0.95 * total:
        fail("only %d of %d samples of short-lived processes are symbolized" % (named, total))
    # The rest of a 50 ms life is exec, the loader and exit.
    if in_gamma < 0.5 * total:
        fail("only %d of %d samples of short-lived processes are in gamma" % (in_gamma, total))


def case_short_lived_cgroup(tmp):
    """Processes of a cgroup of their own that ran 50 ms and exited before the agent looked
    (frozen) are filed under that cgroup's workload, not under their command name: the
    cgroup id BPF recorded with their samples names it after they are gone."""
    root = cgroup2_root()
    if not root:
        skip("cgroup2 is not mounted")
    name = "kiln-test-short-%d" % os.getpid()
    path = os.path.join(root, name)
    os.mkdir(path)
    keys = {}
    try:
        a = Agent(ring_name("shortcg"), ["-F", "999"])
        total, named, _ = short_lived(a, [0.05] * 5, freeze=True, cgroup=path, keys=keys)
        c = a.counters()
    finally:
        try:
            os.rmdir(path)
        except OSError:
            pass
    print("workload keys of their samples: %s; identities from cgroup %d, from comm %d" %
          (keys, c.get("identities_from_cgroup", 0), c.get("identities_from_comm", 0)))
    if total < 150:
        fail("only %d samples of five 50 ms processes at 999 Hz" % total)
    if keys != {"cgroup/" + name: total}:
        fail("samples of the gone processes filed under %s, expected all under cgroup/%s" %
             (keys, name))
    if c.get("identities_from_cgroup", 0) < 1:
        fail("identities_from_cgroup did not count the processes named by their cgroup")


def cpu_cgroup(name, percent):
    """A new cgroup limited to PERCENT % of one CPU: cpu.max where the cpu controller is on
    cgroup v2, cpu.cfs_quota_us where it sits on a v1 hierarchy (hybrid hosts). Returns its
    directory (the caller removes it); exits 77 when there is no cpu controller."""
    root = cgroup2_root()
    if root:
        with open(os.path.join(root, "cgroup.controllers")) as f:
            if "cpu" in f.read().split():
                with open(os.path.join(root, "cgroup.subtree_control"), "w") as f:
                    f.write("+cpu")
                path = os.path.join(root, name)
                os.mkdir(path)
                with open(os.path.join(path, "cpu.max"), "w") as f:
                    f.write("%d 100000" % (percent * 1000))
                return path
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup" and "cpu" in opts.split(","):
                path = os.path.join(mnt, name)
                os.mkdir(path)
                with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                    f.write("100000")
                with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                    f.write("%d" % (percent * 1000))
                return path
    skip("no cpu cgroup controller (v1 or v2) to limit the agent with")


def case_short_lived_throttled(tmp):
    """The agent limited to 20 % of one CPU by its cgroup: 20 processes of 20-50 ms each
    still have at least 95 % of their samples with a named leaf."""
    cg = cpu_cgroup("kiln-test-throttle-%d" % os.getpid(), 20)

    def enter():
        # Only the agent's process: the workloads and the ring reader run unlimited.
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    a = None
    try:
        a = Agent(ring_name("throttled"), ["-F", "999"], preexec_fn=enter)
        total, named, _ = short_lived(a, [0.02 + 0.03 * i / 19 for i in range(20)])
        with open(os.path.join(cg, "cpu.stat")) as f:
            print("agent cgroup %s: %s" % (cg, " ".join(f.read().split())))
    finally:
        if a:
            a.kill()
        try:
            os.rmdir(cg)
        except OSError:
            pass
    # 700 ms of CPU at 999 Hz, less exec and the loader.
    if total < 400:
        fail("only %d samples of twenty 20-50 ms processes at 999 Hz" % total)
    if named < 0.95 * total:
        fail("only %d of %d samples of short-lived processes have a named leaf" %
             (named, total))


def case_reload(tmp):
    """A bad config is refused at start; a bad reload keeps the agent on its old config."""
    cfg = os.path.join(tmp, "kiln.yaml")
    with open(cfg, "w") as f:
        f.write("profiling:\n  samplingFrequencyy: 19\n")
    p = run([KILN, "agent", "--config", cfg, "--ring", ring_name("bad")], check=False)
    if p.returncode == 0 or "samplingFrequencyy" not in p.stderr:
        fail("unknown key not reported: %d %r" % (p.returncode, p.stderr))
    print("bad config at start: " + p.stderr.strip().splitlines()[-1])
    with open(cfg, "w") as f:
        f.write("profiling:\n  samplingFrequency: 49\n")
    a = Agent(ring_name("reload"), ["--config", cfg])
    with open(cfg, "w") as f:
        f.write("profiling:\n  samplingFrequency: [not, a, number]\n")
    before = a.counters()["windows"]
    a.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: a.counters().get("config_reload_errors", 0) == 1, "the reload error")
    wait_for(lambda: a.counters()["windows"] >= before + 2, "windows after the failed reload")
    a.stop()
    if "keeping the running config" not in a.stderr:
        fail("reload error not explained:\n" + a.stderr)
    print("a failed reload kept the agent running past window %d" % (before + 2))


def case_sources(tmp):
    """Sources select in the kernel: only the selected executable is sampled; a selector
    that matches nothing is warned about."""
    # The workload under a name of its own: a selector for "workload" would also select the
    # workloads other tests and benches run on the same host, rightly, and their records.
    exe = os.path.join(tmp, "kiln-src-%d" % os.getpid())
    shutil.copy2(WORKLOAD, exe)
    name = os.path.basename(exe)
    cfg = os.path.join(tmp, "kiln.yaml")
    with open(cfg, "w") as f:
        f.write("sources:\n  - executable: %s\n  - unit: kiln-no-such.service\n" % name)
    a = Agent(ring_name("sources"), ["--config", cfg, "-F", "199"])
    # Both by CPU time, so a loaded host stretches them rather than shrinking the counts.
    busy = subprocess.Popen([sys.executable, "-c", "import time\n"
                             "while time.process_time() < 2: pass"])
    w = run([exe, "--mix", "alpha=100", "--cpu-seconds", "2", "--print-pids"])
    busy.wait()
    pid = int(w.stdout.split("pid=")[1].split()[0])
    recs = a.stop()
    c = a.counters()
    keys = {r["key"] for r in recs}
    mine = sum(s["count"] for r in recs for s in r["samples"] if s["tgid"] == pid)
    print("keys %s, workload samples %d, filtered in kernel %d" %
          (keys, mine, c["samples_filtered"]))
    if keys != {"exe/" + name}:
        fail("records for unselected workloads: %s" % keys)
    cpu_ns = int(w.stderr.split("cpu_ns total=")[1].split()[0])
    expect = cpu_ns * 199 / 1e9
    print("the workload used %.2f s of CPU: ~%d samples expected" % (cpu_ns / 1e9, expect))
    # Selected at its exec, a few milliseconds late at most.
    if mine < 0.8 * expect:
        fail("only %d samples of the selected workload, expected ~%d" % (mine, expect))
    if any(s["tgid"] == busy.pid for r in recs for s in r["samples"]):
        fail("the unselected busy process was sampled")
    if c["samples_filtered"] < 100:
        fail("the kernel filtered only %d samples" % c["samples_filtered"])
    if "source #2 {unit: kiln-no-such.service} matches no running process" not in a.stderr:
        fail("no warning for the selector that matches nothing:\n" + a.stderr)


CASES = {"sources": case_sources, "shares": case_shares, "cgroups": case_cgroups,
         "short-lived": case_short_lived, "short-lived-throttled": case_short_lived_throttled,
         "short-lived-cgroup": case_short_lived_cgroup,
         "reload": case_reload}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_agent.py {%s}" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    require_root()
    with tempfile.TemporaryDirectory() as d:
        CASES[sys.argv[1]](d)
    print("PASS")
