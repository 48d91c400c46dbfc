#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The DaemonSet's promises, in real containers (podman, or docker with a running dockerd).

The image deploy/image/build.sh builds (from Debian's packages, no registry) runs three
containers whose security settings are read from deploy/kubernetes/daemonset.yaml itself:
host PID namespace for the agent, its listed capabilities only (drop ALL, add the list), not
privileged, no privilege escalation, read-only root, the listed read-only host mounts, the
ring's /dev/shm a volume shared by the three; the exporter and the UI as uid 65532 with no
capabilities, in the pod's fsGroup. The known-answer workload (`workload --mix
alpha=70,beta=30`) runs on the host, as root, from a directory only another user may read:

baseline   every container up; the UI lists the workload with alpha:beta 70:30 (+-3 points);
           the exporter delivers OTLP to a loopback receiver; the agent says nothing about a
           missing capability (nothing outside the list is needed)
caps       the agent again with each listed capability dropped in turn: what fails and how
           it is reported (exit and message, or what the UI shows), one row per capability

A pod shares one network namespace; here the three containers use the host's (--network
host), so the receiver and this test reach them on loopback. Skips (77) when no container
runtime can start a container.
usage: test_containers.py [--build DIR] [--no-caps | --caps CAP,...]
"""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "record"))
sys.path.insert(0, os.path.join(SRC, "tests", "ui"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
if "--build" in sys.argv:
    os.environ["KILN_BUILD"] = os.path.abspath(sys.argv[sys.argv.index("--build") + 1])
from kilntest import BUILD, WORKLOAD, fail, skip  # noqa: E402
import uitest  # noqa: E402
import httprecv  # noqa: E402
from testenv import free_port  # noqa: E402
from poll import poll  # noqa: E402

MANIFEST = os.path.join(SRC, "deploy", "kubernetes", "daemonset.yaml")
IMAGE = os.environ.get("KILN_IMAGE", "kiln:0.1.0")
TAG = "kiln-ct-%d" % os.getpid()
EXP_CHECK = os.path.join(BUILD, "tests", "export", "exp_check")
# Shares: the design's 70 % for alpha within +-3 points; samples enough that chance alone
# (sd 0.84 points at 3000) stays well inside.
BASE_SAMPLES = 3000
FREQ = 499


def log(msg):
    print(msg, flush=True)


def wait_for(what, fn, timeout, step=0.1):
    """FN's first true value within TIMEOUT seconds, or None (WHAT: for the reader)."""
    return poll(fn, timeout, step)


class Runtime:
    """The container CLI: podman (runc where crun refuses hybrid cgroups) or docker."""

    def __init__(self):
        self.argv = None
        self.why = []
        if shutil.which("podman"):
            argv = ["podman"]
            try:
                with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
                    hybrid = bool(f.read().strip())
            except OSError:
                hybrid = False
            if hybrid:
                if not shutil.which("runc"):
                    self.why.append("podman: crun refuses hybrid cgroups and runc is missing")
                    argv = None
                else:
                    argv += ["--runtime", shutil.which("runc")]
            if argv:
                self.argv = argv
        if not self.argv and shutil.which("docker"):
            r = subprocess.run(["docker", "info"], capture_output=True, text=True)
            if r.returncode == 0:
                self.argv = ["docker"]
            else:
                self.why.append("docker: no engine (%s)" % r.stderr.strip()[:200])
        if not self.argv and not self.why:
            self.why.append("neither podman nor docker is installed")
        self.podman = bool(self.argv) and self.argv[0] == "podman"

    def __call__(self, *args, check=True, timeout=120):
        r = subprocess.run(self.argv + list(args), capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            fail("%s %s: exit %d: %s" % (self.argv[0], " ".join(args[:3]), r.returncode,
                                         r.stderr.strip()))
        return r

    def seccomp(self, tmp):
        """A profile for the agent standing for RuntimeDefault, or None for the runtime's
        own. Debian 12's podman default (containers-common 0.50) predates CAP_BPF and
        CAP_PERFMON: it allows bpf() and perf_event_open() only with CAP_SYS_ADMIN, as did
        docker's before 23.0. Current defaults (moby, containerd) allow them with CAP_BPF /
        CAP_PERFMON; that is this runtime's profile plus those two rules."""
        path = "/usr/share/containers/seccomp.json"
        if not self.podman or not os.path.exists(path):
            return None
        with open(path) as f:
            prof = json.load(f)
        for sc in prof["syscalls"]:
            if "bpf" in sc["names"] and "CAP_BPF" in sc.get("includes", {}).get("caps", []):
                return None
        # Out of the rules that tie them to CAP_SYS_ADMIN (an ERRNO rule for the others
        # would win), then allowed with either capability; anything else still errors.
        for sc in prof["syscalls"]:
            sc["names"] = [n for n in sc["names"] if n not in ("bpf", "perf_event_open")]
        prof["syscalls"] = [sc for sc in prof["syscalls"] if sc["names"]]
        for name, cap in (("bpf", "CAP_BPF"), ("perf_event_open", "CAP_PERFMON")):
            for c in ("CAP_SYS_ADMIN", cap):
                prof["syscalls"].append({"names": [name], "action": "SCMP_ACT_ALLOW",
                                         "includes": {"caps": [c]}})
        out = os.path.join(tmp, "seccomp-current-default.json")
        with open(out, "w") as f:
            json.dump(prof, f)
        return out

    def limits(self):
        """--ulimit options below the hard limits: the runtime's defaults (1048576 open
        files) cannot be set where root lacks CAP_SYS_RESOURCE, as on these machines."""
        out = []
        for name, res in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
            hard = resource.getrlimit(res)[1]
            v = 16384 if hard == resource.RLIM_INFINITY else min(16384, hard // 2)
            out += ["--ulimit", "%s=%d:%d" % (name, v, v)]
        return out


def pod_spec():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    return ds["spec"]["template"]["spec"], yaml.safe_load(cm["data"]["kiln.yaml"])


class Pod:
    """The three containers of the DaemonSet's pod, their volumes as host directories."""

    def __init__(self, rt, name, cfg, tmp):
        self.rt, self.name, self.tmp = rt, name, tmp
        self.spec, _ = pod_spec()
        self.dirs = {"config": os.path.join(tmp, "config"),
                     # emptyDir {medium: Memory}: a directory on the host's tmpfs, of the
                     # pod's fsGroup with setgid as the kubelet makes it.
                     "ring": tempfile.mkdtemp(prefix=name + "-ring-", dir="/dev/shm"),
                     "spool": os.path.join(tmp, name + "-spool")}
        os.makedirs(self.dirs["config"], exist_ok=True)
        os.makedirs(self.dirs["spool"], exist_ok=True)
        fsgroup = self.spec["securityContext"]["fsGroup"]
        for k in ("ring", "spool"):
            os.chown(self.dirs[k], 0, fsgroup)
            os.chmod(self.dirs[k], 0o2777)
        with open(os.path.join(self.dirs["config"], "kiln.yaml"), "w") as f:
            yaml.safe_dump(cfg, f)
        self.started = []

    def volume_args(self, c):
        vols = {v["name"]: v for v in self.spec["volumes"]}
        out = []
        for m in c.get("volumeMounts", []):
            v = vols[m["name"]]
            if "hostPath" in v:
                src = v["hostPath"]["path"]
                if v["hostPath"].get("type") == "DirectoryOrCreate":
                    os.makedirs(src, exist_ok=True)
            else:
                src = self.dirs[m["name"]]
            out += ["-v", "%s:%s%s" % (src, m["mountPath"], ":ro" if m.get("readOnly") else "")]
        return out

    def run(self, cname, drop=(), seccomp=None):
        """Starts container CNAME as the manifest says, minus capabilities DROP; SECCOMP,
        if given, replaces the manifest's profile ("default": the runtime's own)."""
        c = next(x for x in self.spec["containers"] if x["name"] == cname)
        sc = c["securityContext"]
        args = ["run", "-d", "--name", "%s-%s" % (self.name, cname), "--network", "host"]
        args += self.rt.limits()
        prof = sc.get("seccompProfile") or self.spec["securityContext"].get("seccompProfile")
        if seccomp:
            # Instead of the manifest's: "default" the runtime's own, else a profile file.
            if seccomp != "default":
                args += ["--security-opt", "seccomp=" + seccomp]
        elif prof and prof["type"] == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        if self.spec.get("hostPID") and cname == "agent":
            args += ["--pid", "host"]
        if sc.get("privileged"):
            fail("container %s is privileged in the manifest" % cname)
        args += ["--user", "%d:%d" % (sc.get("runAsUser", 0), sc.get("runAsGroup", 0))]
        args += ["--group-add", str(self.spec["securityContext"]["fsGroup"])]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        if sc.get("readOnlyRootFilesystem"):
            args += ["--read-only"]
            if self.rt.podman:
                args += ["--read-only-tmpfs=false"]  # Kubernetes adds no /tmp
        caps = sc.get("capabilities", {})
        for d in caps.get("drop", []):
            args += ["--cap-drop", d.lower()]
        for a in caps.get("add", []):
            if a not in drop:
                args += ["--cap-add", "CAP_" + a]
        for e in c.get("env", []):
            if "value" in e:
                args += ["-e", "%s=%s" % (e["name"], e["value"])]
        args += self.volume_args(c)
        args += ["--entrypoint", json.dumps(c["command"]), IMAGE]
        self.rt(*args)
        self.started.append("%s-%s" % (self.name, cname))

    def running(self, cname):
        r = self.rt("inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}",
                    "%s-%s" % (self.name, cname), check=False)
        f = r.stdout.split()
        return (f[0] == "true", int(f[1])) if len(f) == 2 else (False, -1)

    def nice(self, cname):
        """The nice value of the container's first process, read from the host."""
        r = self.rt("inspect", "--format", "{{.State.Pid}}", "%s-%s" % (self.name, cname),
                    check=False)
        try:
            with open("/proc/%d/stat" % int(r.stdout.strip())) as f:
                return f.read().rsplit(")", 1)[1].split()[16]
        except (OSError, ValueError, IndexError):
            return "?"

    def logs(self, cname):
        r = self.rt("logs", "%s-%s" % (self.name, cname), check=False)
        return r.stdout + r.stderr

    def remove(self):
        for n in self.started:
            self.rt("rm", "-f", "-t", "2", n, check=False) if self.rt.podman else \
                self.rt("rm", "-f", n, check=False)
        self.started = []
        shutil.rmtree(self.dirs["ring"], ignore_errors=True)


class Receiver:
    """An OTLP/HTTP receiver on loopback: counts requests and the samples in them."""

    def __init__(self, tmp):
        self.lock = threading.Lock()
        self.posts, self.samples, self.bad = 0, 0, []
        self.tmp = tmp
        self.srv = httprecv.PostServer(self.post)
        self.port = self.srv.port

    def post(self, req, body):
        n = 0
        if os.path.exists(EXP_CHECK):
            r = httprecv.exp_check(EXP_CHECK, self.tmp, body,
                                   req.headers.get("Content-Encoding", ""))
            if r.returncode:
                self.bad.append(r.stderr.strip())
            else:
                n = int(r.stdout)
        with self.lock:
            self.posts += 1
            self.samples += n
            self.path = req.path
        return 200, {}, b""

    def stop(self):
        self.srv.stop()


class Workload:
    """workload --mix alpha=70,beta=30 as root from a 0700 directory of another user, in a
    cgroup of its own (cgroup v2) so that each run has a fresh workload id in the UI."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "private")
        os.makedirs(self.dir)
        self.bin = os.path.join(self.dir, "workload")
        shutil.copy(WORKLOAD, self.bin)
        os.chown(self.bin, 4321, 4321)
        os.chmod(self.bin, 0o700)
        os.chown(self.dir, 4321, 4321)
        os.chmod(self.dir, 0o700)
        os.chmod(tmp, 0o755)
        self.root = None
        with open("/proc/self/mounts") as f:
            for line in f:
                p = line.split()
                if p[2] == "cgroup2":
                    self.root = p[1]
        if not self.root:
            skip("no cgroup2 mount for the workload's cgroup")
        self.proc = subprocess.Popen([self.bin, "--mix", "alpha=70,beta=30", "--seconds",
                                      "600"])
        self.n = 0
        self.cg = None
        self.move()

    def move(self):
        """Into a new cgroup; returns the workload id the UI lists it under."""
        self.n += 1
        old = self.cg
        self.cg = os.path.join(self.root, "%s-%d" % (TAG, self.n))
        os.makedirs(self.cg, exist_ok=True)
        with open(os.path.join(self.cg, "cgroup.procs"), "w") as f:
            f.write(str(self.proc.pid))
        if old:
            os.rmdir(old)
        return "cgroup/" + os.path.basename(self.cg)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        if self.cg:
            try:
                os.rmdir(self.cg)
            except OSError:
                pass


def config(base, ring, ui_port, rcv_port, metrics_port):
    """The ConfigMap's kiln.yaml, pointed at this test's ring, ports and receiver."""
    cfg = json.loads(json.dumps(base))
    p = cfg["profiling"]
    p["samplingFrequency"] = FREQ
    p["ui"]["listen"] = "127.0.0.1:%d" % ui_port
    p["exporter"]["metricsListen"] = "127.0.0.1:%d" % metrics_port
    p["exporter"]["batchTimeout"] = "1s"
    cfg["ring"]["name"] = ring
    cfg["destinations"] = [{"name": "receiver", "type": "otlp",
                            "url": "http://127.0.0.1:%d" % rcv_port,
                            "signals": ["PROFILES"]}]
    return cfg


def shares(ui, wid, n, timeout):
    """(alpha/(alpha+beta), alpha+beta share, unsymbolized share, total) once WID has N
    samples in the UI, or None."""
    uitest.enable(ui, wid)
    fg = wait_for("%d samples" % n, lambda: (lambda f: f if f["total"] >= n else None)(
        uitest.flamegraph(ui, wid)), timeout)
    if not fg:
        return None
    sh = uitest.self_shares(fg)
    a, b = sh.get("alpha", 0), sh.get("beta", 0)
    raw = sum(v for k, v in sh.items() if k.startswith("[") or "+0x" in k)
    return (a / (a + b) if a + b else 0.0, a + b, raw, fg["total"])


def workloads(ui):
    """The UI's workload list, or None while it does not answer (no FAIL line printed)."""
    try:
        status, _, body = uitest.request(ui, "GET", "/api/workloads", timeout=5)
        return json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None


def listed(ui, wid):
    return any(w["id"] == wid for w in workloads(ui) or [])


def ui_up(ui):
    return workloads(ui) is not None


def start_pod(rt, name, cfg, tmp, drop=(), exporter=False, seccomp=None):
    pod = Pod(rt, name, cfg, tmp)
    pod.run("agent", drop=drop, seccomp=seccomp)
    pod.run("ui")
    if exporter:
        pod.run("exporter")
    return pod


MSG = re.compile(r"(warning|error|cannot)[^\n]*", re.I)


def ring_problems(pod, ring):
    """The agent's counters `kiln status` marks as problems (drops and errors)."""
    r = subprocess.run([os.path.join(BUILD, "kiln"), "status", "--ring",
                        os.path.join(pod.dirs["ring"], "kiln-" + ring)],
                       capture_output=True, text=True)
    out = []
    for line in r.stdout.splitlines():
        if "<-- !" in line:
            name, value = line.split()[:2]
            base = BASE_PROBLEMS.get(name)
            out.append("kiln status: %s %s%s" % (name, value, "" if base is None else
                                                 " (baseline %s)" % base))
    return out


# Problem counters of the baseline run (host-wide: unreadable files of other processes, load)
BASE_PROBLEMS = {}


def agent_messages(pod):
    return [m.group(0).strip() for m in MSG.finditer(pod.logs("agent"))]


def baseline(rt, base_cfg, tmp, work):
    ui_port, rcv = free_port(), Receiver(tmp)
    cfg = config(base_cfg, TAG + "-base", ui_port, rcv.port, free_port())
    wid = work.move()
    t0 = time.monotonic()
    pod = start_pod(rt, TAG + "-base", cfg, tmp, exporter=True)
    try:
        ui = uitest.UI(None, "http://127.0.0.1:%d" % ui_port)
        if not wait_for("the UI", lambda: ui_up(ui), 60):
            fail("UI container not answering; agent:\n%s\nui:\n%s"
                 % (pod.logs("agent"), pod.logs("ui")))
        if not wait_for("the workload in the UI", lambda: listed(ui, wid), 60):
            fail("workload %s not listed by the UI in 60 s; agent log:\n%s"
                 % (wid, pod.logs("agent")[-3000:]))
        up = time.monotonic() - t0
        r = shares(ui, wid, BASE_SAMPLES, 300)
        if not r:
            fail("fewer than %d samples of %s in 300 s" % (BASE_SAMPLES, wid))
        ratio, ab, raw, total = r
        log("baseline: pipeline up in %.1f s; UI: alpha/(alpha+beta) %.1f %% (alpha+beta %.1f "
            "%% of %d samples, unsymbolized %.1f %%)" % (up, 100 * ratio, 100 * ab, total,
                                                         100 * raw))
        if abs(ratio - 0.70) > 0.03 or ab < 0.9:
            fail("shares through the containers: alpha %.1f %% of alpha+beta (want 70 +-3), "
                 "alpha+beta %.1f %% of samples (want >= 90)" % (100 * ratio, 100 * ab))
        if not wait_for("delivery", lambda: rcv.posts > 0 and (rcv.samples > 0 or
                                                               not os.path.exists(EXP_CHECK)),
                        30):
            fail("the exporter delivered nothing to the receiver in 30 s; exporter log:\n%s"
                 % pod.logs("exporter")[-3000:])
        if rcv.bad:
            fail("the receiver got invalid bodies: %s" % rcv.bad[:3])
        log("baseline: exporter delivered %d requests, %d samples to 127.0.0.1:%d%s"
            % (rcv.posts, rcv.samples, rcv.port, rcv.path))
        msgs = agent_messages(pod)
        if msgs:
            fail("the agent, given exactly the listed capabilities, complains:\n  "
                 + "\n  ".join(msgs))
        probs = ring_problems(pod, cfg["ring"]["name"])
        BASE_PROBLEMS.update(m.split()[2:4] for m in probs)
        log("baseline: agent at nice %s" % pod.nice("agent"))
        log("baseline: problem counters (host-wide, not about capabilities): %s"
            % (", ".join(probs) or "none"))
        log("baseline: the agent logged no warning or error with exactly the listed "
            "capabilities")
        for c in ("agent", "exporter", "ui"):
            if not pod.running(c)[0]:
                fail("container %s stopped: %s" % (c, pod.logs(c)[-2000:]))
    finally:
        pod.remove()
        rcv.stop()


def without(rt, base_cfg, tmp, work, cap, seccomp=None, name=None):
    """The agent without CAP (or with all, under SECCOMP instead of the manifest's profile);
    returns (what fails, how it is reported)."""
    ui_port = free_port()
    name = name or cap.lower().replace("_", "")
    cfg = config(base_cfg, "%s-%s" % (TAG, name), ui_port, free_port(), free_port())
    wid = work.move()
    pod = start_pod(rt, "%s-no-%s" % (TAG, name), cfg, tmp, drop=(cap,) if cap else (),
                    seccomp=seccomp)
    try:
        ui = uitest.UI(None, "http://127.0.0.1:%d" % ui_port)
        state = wait_for("the workload or the agent's exit",
                         lambda: ("exit" if not pod.running("agent")[0] else
                                  "listed" if listed(ui, wid) else None), 60)
        msgs = agent_messages(pod)
        if state == "exit":
            code = pod.running("agent")[1]
            if not msgs:
                log("agent log without CAP_%s:\n%s" % (cap, pod.logs("agent")[-2000:]))
            return ("the agent does not start (exit %d)" % code,
                    "; ".join(dict.fromkeys(msgs)) if msgs else "(no message)")
        if not state:
            return ("the workload is not listed in 60 s", "; ".join(msgs) or "(no message)")
        r = shares(ui, wid, 600, 120)
        if not r:
            return ("fewer than 600 samples in 120 s", "; ".join(msgs) or "(no message)")
        ratio, ab, raw, total = r
        what = ("alpha+beta %.0f %% of %d samples, unsymbolized leaves %.0f %%, agent at "
                "nice %s" % (100 * ab, total, 100 * raw, pod.nice("agent")))
        msgs = agent_messages(pod) + ring_problems(pod, cfg["ring"]["name"])
        return what, "; ".join(dict.fromkeys(msgs)) if msgs else "(no message)"
    finally:
        pod.remove()


def main():
    if os.geteuid() != 0:
        skip("needs root (a rootful container runtime, BPF)")
    rt = Runtime()
    if not rt.argv:
        skip("no container runtime can start: " + "; ".join(rt.why))
    if not os.path.exists(os.path.join(BUILD, "kiln")):
        fail("no kiln in %s" % BUILD)
    t0 = time.monotonic()
    # The image of this build tree (cached layers: seconds once the base exists).
    r = subprocess.run([os.path.join(SRC, "deploy", "image", "build.sh"), "--build", BUILD,
                        "--tag", IMAGE], capture_output=True, text=True, timeout=900)
    if r.returncode:
        fail("deploy/image/build.sh failed:\n" + (r.stdout + r.stderr)[-3000:])
    log(r.stdout.strip().splitlines()[-1])
    t1 = time.monotonic()
    probe = rt("run", "--rm", *rt.limits(), IMAGE, "--version", check=False)
    if probe.returncode:
        skip("%s cannot start a container here: %s" % (rt.argv[0], probe.stderr.strip()))
    spec, base_cfg = pod_spec()
    agent = next(c for c in spec["containers"] if c["name"] == "agent")
    listed_caps = agent["securityContext"]["capabilities"]["add"]
    tmp = tempfile.mkdtemp(prefix=TAG + "-")
    work = Workload(tmp)
    try:
        baseline(rt, base_cfg, tmp, work)
        t2 = time.monotonic()
        if "--no-caps" not in sys.argv:
            rows = []
            only = sys.argv[sys.argv.index("--caps") + 1].split(",") \
                if "--caps" in sys.argv else listed_caps
            for cap in only:
                what, how = without(rt, base_cfg, tmp, work, cap)
                rows.append((cap, what, how))
                log("without CAP_%s: %s | %s" % (cap, what, how))
            log("\n| Dropped | What fails | How it is reported |\n|---|---|---|")
            for cap, what, how in rows:
                log("| `CAP_%s` | %s | %s |" % (cap, what, how.replace("|", "/")))
            # Why the manifest's agent is Unconfined: the runtime's default profile, and
            # one allowing bpf/perf_event_open with CAP_BPF/CAP_PERFMON as current ones do.
            profiles = [("default", "%s's default seccomp profile" % rt.argv[0])]
            cur = rt.seccomp(tmp)
            if cur:
                profiles.append((cur, "that profile plus bpf() with CAP_BPF and "
                                      "perf_event_open() with CAP_PERFMON"))
            for prof, what_prof in profiles if "--caps" not in sys.argv else ():
                what, how = without(rt, base_cfg, tmp, work, None, seccomp=prof,
                                    name="seccomp%d" % len(rows))
                rows.append(("seccomp", what, how))
                log("every listed capability, %s: %s | %s" % (what_prof, what, how))
            # The two the sampler cannot do without must stop the agent with a message.
            for cap, what, how in rows:
                if cap in ("BPF", "PERFMON") and "does not start" not in what:
                    fail("without CAP_%s the agent should not start: %s" % (cap, what))
        log("times: image %.0f s, baseline %.0f s, capability runs %.0f s"
            % (t1 - t0, t2 - t1, time.monotonic() - t2))
    finally:
        work.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
