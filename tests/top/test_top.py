#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `kiln top`. Usage: CASE (flags, tty, batch, attach, cleanup, pidfilter,
stale).

Shares are checked on the known-answer workload (bench/workload, built with
-fno-omit-frame-pointer, so its user stacks are whole): alpha 70 %, beta 30 % of its
samples, worker_main and run_mix on every stack. Tolerance: 7 points (kernel frames on top
of a user leaf take a few points of Self from alpha and beta), or 4 standard errors of a
share of the frame's samples when that is more: a loaded host gives the workload fewer
samples, and the verdict must not depend on the load.
"""
import fcntl
import math
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "record"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "agent"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from kilntest import KILN, WORKLOAD, bpf_refused, cgroup2_root, fail, require_root, skip  # noqa: E402
from agenttest import remove_ring, ring_counters, ring_path, wait_for  # noqa: E402
from testenv import alive  # noqa: E402

TOL = 7.0
ROW = re.compile(r"^\s*(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+)\s+(\S+)(?: \((.*)\))?\s*$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def parse_frame(text):
    """A frame's text -> {"samples": N, "sort": s, "rows": {name: (self%, total%, n)}}."""
    m = re.search(r"samples in view: (\d+)", text)
    s = re.search(r"sort: (\w+)", text)
    if not m or not s or "kiln top - ring" not in text:
        return None
    rows = {}
    for line in text.splitlines():
        r = ROW.match(line)
        if r:
            rows.setdefault(r.group(4), (float(r.group(1)), float(r.group(2)),
                                         int(r.group(3))))
    return {"samples": int(m.group(1)), "sort": s.group(1), "rows": rows, "text": text}


def check_shares(f, what):
    """The known answer on a frame whose view holds only the workload's samples."""
    rows = f["rows"]
    for name in ("alpha", "beta", "worker_main", "run_mix"):
        if name not in rows:
            fail("%s: no row for %s:\n%s" % (what, name, f["text"]))
    got = {"alpha": rows["alpha"][0], "beta": rows["beta"][0],
           "worker_main": rows["worker_main"][1], "run_mix": rows["run_mix"][1]}
    want = {"alpha": 70.0, "beta": 30.0, "worker_main": 100.0, "run_mix": 100.0}
    n = max(f["samples"], 1)
    tol = {k: max(TOL, 400.0 * math.sqrt(want[k] / 100 * (1 - want[k] / 100) / n))
           for k in want}
    print("%s: %d samples, alpha self %.1f beta self %.1f worker_main total %.1f run_mix "
          "total %.1f" % (what, f["samples"], got["alpha"], got["beta"], got["worker_main"],
                          got["run_mix"]))
    for k in want:
        if abs(got[k] - want[k]) > tol[k]:
            fail("%s: %s is %.1f %%, expected %.0f +- %.1f:\n%s" % (what, k, got[k], want[k],
                                                                   tol[k], f["text"]))
    # The Samples column is Self's numerator.
    n = rows["alpha"][2]
    if abs(100.0 * n / f["samples"] - rows["alpha"][0]) > 0.01:
        fail("%s: alpha has %d of %d samples but Self %.2f" % (what, n, f["samples"],
                                                              rows["alpha"][0]))


class Workload:
    """The known-answer workload, running until stopped."""

    def __init__(self, seconds=40, preexec_fn=None):
        self.proc = subprocess.Popen([WORKLOAD, "--mix", "alpha=70,beta=30", "--seconds",
                                      str(seconds), "--print-pids"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True,
                                     preexec_fn=preexec_fn)
        line = self.proc.stdout.readline()
        m = re.search(r"pid=(\d+)", line)
        if not m:
            fail("workload printed no pid: %r" % line)
        self.pid = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def children(pid):
    """Pids whose parent is PID."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return out


def private_ring(top_pid):
    """The private ring of kiln top TOP_PID (shm/runstate.h)."""
    return "top-private-%d" % top_pid


def check_gone(top_pid, agent_pid):
    """No private ring of TOP_PID and no agent process are left."""
    for suffix in ("", ".cons"):
        if os.path.exists(ring_path(private_ring(top_pid)) + suffix):
            fail("ring %s%s left behind" % (private_ring(top_pid), suffix))
    if agent_pid and alive(agent_pid):
        fail("the private agent %d outlived kiln top" % agent_pid)


def agent_child(p):
    """The private agent (a child of kiln top running `kiln agent`), once it exists."""
    def find():
        if p.poll() is not None:
            return -1
        for c in children(p.pid):
            try:
                with open("/proc/%d/cmdline" % c, "rb") as f:
                    if b"agent" in f.read().split(b"\0"):
                        return c
            except OSError:
                pass
        return None
    pid = wait_for(find, "kiln top's private agent")
    return pid if pid > 0 else None


def stop_all(p, w, *others):
    """A case's cleanup: kills kiln top P (None: not started) if it still runs and each of
    OTHERS (Popen), then stops workload W."""
    for q in (p,) + others:
        if q and q.poll() is None:
            q.kill()
            q.wait()
    w.stop()


def finish(p, what, timeout=30):
    """Waits for P; skips when the kernel refused BPF; fails on any other non-zero exit."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail("%s did not exit:\n%s" % (what, err))
    if p.returncode != 0:
        if bpf_refused(err or ""):
            skip("the kernel refused the BPF sampler: " + err.strip())
        fail("%s exited with %d:\n%s" % (what, p.returncode, err))
    return out, err


def case_flags():
    """Each bad flag: a message naming it and what is expected, exit 2."""
    bad = [(["-n", "0"], "--rows '0': expected a number of rows from 1 to 10000"),
           (["--rows", "x"], "--rows 'x': expected"),
           (["--sort", "foo"], "--sort 'foo': expected self or total"),
           (["--horizon", "-1"], "--horizon '-1': expected whole seconds from 1 to 86400"),
           (["--horizon", "0"], "--horizon '0': expected whole seconds from 1 to 86400"),
           (["--iterations", "0"], "--iterations '0': expected a number of frames from 1"),
           (["-d", "soon"], "--duration 'soon': expected whole seconds from 1"),
           (["-F", "0"], "--freq '0': expected a frequency from 1 to"),
           (["-p", "0"], "--pid '0': expected a process id from 1"),
           (["-p", "2147483646"], "--pid 2147483646: no such process"),
           (["--cgroup", "/no/such/cgroup/here"], "--cgroup '/no/such/cgroup/here'"),
           (["--ring", "a/b"], "--ring 'a/b': expected a name"),
           (["-w", ""], "--workload '': expected a workload key or name"),
           (["--frobnicate"], "unrecognized option '--frobnicate'"),
           (["surplus"], "unexpected argument 'surplus'")]
    for args, msg in bad:
        p = subprocess.run([KILN, "top"] + args, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 2 or msg not in p.stderr:
            fail("kiln top %s: exit %d, stderr %r; expected 2 and %r" % (
                " ".join(args), p.returncode, p.stderr, msg))
    p = subprocess.run([KILN, "top", "--help"], capture_output=True, text=True, timeout=20)
    if p.returncode != 0 or "--horizon" not in p.stdout or "Self%" not in p.stdout:
        fail("kiln top --help: exit %d\n%s" % (p.returncode, p.stdout))
    print("%d bad flags refused with exit 2" % len(bad))
    # Without privileges and without a ring to read: both ways out are named, exit 1.
    if os.geteuid() == 0 and not os.path.exists(ring_path("default")):
        def nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.run([KILN, "top", "-b"], capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL, preexec_fn=nobody)
        if p.returncode != 1 or "CAP_BPF and CAP_PERFMON" not in p.stderr or \
                "--ring NAME" not in p.stderr or "kiln agent" not in p.stderr:
            fail("unprivileged kiln top without a ring: exit %d, %r" % (p.returncode,
                                                                       p.stderr))
        print("unprivileged, no ring: " + p.stderr.strip())


def read_pty(fd, buf, timeout):
    r, _, _ = select.select([fd], [], [], timeout)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the last holder of the pty's slave side closed it
            return False
        if not data:
            return False
        buf.extend(data)
    return True


def pty_frames(buf):
    """Complete frames drawn so far: each starts at cursor-home and ends with erase-below."""
    out = []
    for chunk in bytes(buf).split(b"\x1b[H")[1:]:
        if b"\x1b[J" not in chunk:
            continue
        text = ANSI.sub("", chunk.split(b"\x1b[J")[0].decode(errors="replace"))
        f = parse_frame(text.replace("\r", ""))
        if f:
            out.append(f)
    return out


def case_tty():
    """In a real pty: shares after a few refreshes, 't' re-sorts, 'q' restores the terminal."""
    require_root()
    w = Workload()
    master, slave = os.openpty()
    p = None
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        before = termios.tcgetattr(slave)
        def ctty():
            # As under ssh: the pty is kiln top's controlling terminal, so a resize sends
            # SIGWINCH to it.
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        p = subprocess.Popen([KILN, "top", "-p", str(w.pid), "-F", "499"], stdin=slave,
                             stdout=slave, stderr=subprocess.PIPE, text=True,
                             preexec_fn=ctty)
        agent = agent_child(p)
        buf = bytearray()
        end = time.monotonic() + 40
        frames = []
        # Several refreshes, and enough samples for the shares to mean something.
        while time.monotonic() < end and p.poll() is None:
            read_pty(master, buf, 0.2)
            frames = [f for f in pty_frames(buf) if f["samples"] > 0]
            if len(frames) >= 3 and frames[-1]["samples"] >= 400:
                break
        if p.poll() is not None:
            finish(p, "kiln top")
            fail("kiln top exited before drawing:\n" + buf.decode(errors="replace"))
        if len(frames) < 3 or frames[-1]["samples"] < 400:
            fail("after 40 s, %d frames, last %s" % (len(frames),
                                                   frames[-1]["text"] if frames else buf))
        if b"\x1b[?1049h" not in buf:
            fail("kiln top did not switch to the alternate screen")
        if frames[-1]["sort"] != "self":
            fail("default sort is %s" % frames[-1]["sort"])
        check_shares(frames[-1], "tty frame %d" % len(frames))
        if len(frames[-1]["text"].rstrip("\n").split("\n")) > 39:
            fail("a frame taller than the 40-row terminal:\n" + frames[-1]["text"])
        # Resize: the next frame fits 12 rows x 70 columns, drawn without waiting a window.
        n = len(buf)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 12, 70, 0, 0))
        t0 = time.monotonic()
        wait_for(lambda: read_pty(master, buf, 0.05) and pty_frames(buf[n:]), "a resized frame")
        fr = pty_frames(buf[n:])[0]
        lines = fr["text"].rstrip("\n").split("\n")
        # 5 header lines and 6 rows (the workload has more functions than that), the 12th
        # line left empty so that no line feed scrolls the header away; long lines are cut.
        if len(lines) != 11 or max(len(ln) for ln in lines) > 70:
            fail("after resizing to 12x70, a frame of %d lines, widest %d:\n%s" % (
                len(lines), max(len(ln) for ln in lines), fr["text"]))
        print("resized to 12x70: %d lines, drawn after %.2f s" % (len(lines),
                                                                 time.monotonic() - t0))
        # 't': sorted by Total, the callers of every sample (100 %) lead: worker_main and
        # run_mix, and, with whole stacks, the thread's outer frames (_start ... main, or
        # clone3, start_thread), which tie with them in any order.
        os.write(master, b"t")
        n = len(buf)
        wait_for(lambda: read_pty(master, buf, 0.2) and
                 any(f["sort"] == "total" for f in pty_frames(buf[n:])), "a frame sorted by total")
        ft = [f for f in pty_frames(buf[n:]) if f["sort"] == "total"][-1]
        first = [ln for ln in ft["text"].splitlines() if ROW.match(ln)][:2]
        if len(first) < 2 or not all(float(ln.split()[1]) >= 99.0 for ln in first):
            fail("sorted by total, the first rows are not the callers:\n" + ft["text"])
        os.write(master, b"q")
        n = len(buf)
        end = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < end:
            read_pty(master, buf, 0.2)
        _, err = finish(p, "kiln top after q")
        while read_pty(master, buf, 0):
            if not select.select([master], [], [], 0)[0]:
                break
        tail = bytes(buf[n:])
        if b"\x1b[?1049l" not in tail or b"\x1b[?25h" not in tail:
            fail("after q, the alternate screen was not left: %r" % tail[-200:])
        after = termios.tcgetattr(slave)
        if after[3] != before[3] or after[0] != before[0]:
            fail("terminal modes not restored: lflag %#x -> %#x, iflag %#x -> %#x" % (
                before[3], after[3], before[0], after[0]))
        if not re.search(r"kiln top: \d+ windows, \d+ samples in scope", err):
            fail("no exit summary on stderr: %r" % err)
        print(err.strip())
        check_gone(p.pid, agent)
    finally:
        stop_all(p, w)
        os.close(master)
        os.close(slave)


def batch_frames(out):
    frames = [parse_frame(t) for t in out.split("\n\n") if t.strip()]
    if any(f is None for f in frames):
        fail("unparsable batch output:\n" + out)
    return frames


def case_batch():
    """Batch mode, --iterations 3: exactly three frames, each with the known shares."""
    require_root()
    w = Workload()
    p = None
    try:
        p = subprocess.Popen([KILN, "top", "-b", "-p", str(w.pid), "-F", "499",
                              "--iterations", "3", "-n", "200"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        agent = agent_child(p)
        out, err = finish(p, "kiln top -b", timeout=60)
        frames = batch_frames(out)
        if len(frames) != 3:
            fail("%d frames, expected 3:\n%s" % (len(frames), out))
        # Frames add up over the horizon; the first window may be cut short by the agent's
        # start. How many samples the workload gets depends on the host's load: the share
        # tolerance follows the count (check_shares), a frame of a few samples says little.
        if frames[-1]["samples"] == 0:
            fail("three windows hold no sample:\n%s" % out)
        for i, f in enumerate(frames):
            if i and f["samples"] < frames[i - 1]["samples"]:
                fail("frame %d holds fewer samples than the one before:\n%s" % (i + 1, out))
            if f["samples"] >= 20:
                check_shares(f, "batch frame %d" % (i + 1))
            else:
                print("batch frame %d: %d samples, shares not checked" % (i + 1,
                                                                         f["samples"]))
        if "\x1b" in out:
            fail("escape sequences in batch output")
        m = re.search(r"kiln top: (\d+) windows, (\d+) samples in scope.*lost (\d+)", err)
        if not m or int(m.group(1)) < 3 or int(m.group(2)) != frames[-1]["samples"]:
            fail("exit summary %r does not match the frames (last: %d samples)" % (
                err, frames[-1]["samples"]))
        print(err.strip())
        check_gone(p.pid, agent)
    finally:
        stop_all(p, w)


def case_attach():
    """A running agent's ring: no private agent; -w NAME and --cgroup select the workload."""
    require_root()
    root = cgroup2_root()
    if not root:
        skip("cgroup2 is not mounted")
    name = "kiln-top-test-%d" % os.getpid()
    cg = os.path.join(root, name)
    ring = "test-top-attach-%d" % os.getpid()
    agent = w = None
    os.mkdir(cg)
    try:
        agent = subprocess.Popen([KILN, "agent", "--ring", ring, "-F", "499"],
                                 stderr=subprocess.PIPE, text=True)
        wait_for(lambda: os.path.exists(ring_path(ring)) or agent.poll() is not None,
                 "the agent's ring")
        if agent.poll() is not None:
            err = agent.stderr.read()
            if bpf_refused(err):
                skip("the kernel refused the BPF sampler: " + err.strip())
            fail("kiln agent exited: " + err)

        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        w = Workload(preexec_fn=enter)
        for scope in (["-w", name], ["--cgroup", "/" + name]):
            p = subprocess.Popen([KILN, "top", "--ring", ring, "-b", "--iterations", "3",
                                  "-n", "200"] +
                                 scope, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, text=True)
            # Attached, not started: kiln top has no child and makes no ring of its own.
            wait_for(lambda: p.poll() is not None or
                     ring_counters_consumers(ring) >= 1, "kiln top to attach")
            if children(p.pid):
                fail("kiln top started a child although ring %s has an agent" % ring)
            out, err = finish(p, "kiln top " + " ".join(scope), timeout=60)
            frames = batch_frames(out)
            if len(frames) != 3:
                fail("%d frames, expected 3:\n%s" % (len(frames), out))
            if "private agent" in out or "ring " + ring not in frames[0]["text"]:
                fail("header does not name ring %s:\n%s" % (ring, frames[0]["text"]))
            # The scope holds the workload's cgroup only: its samples are the whole view.
            check_shares(frames[-1], "attached, " + " ".join(scope))
            check_gone(p.pid, None)
    finally:
        if w:
            w.stop()
        if agent and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        remove_ring(ring)
        try:
            os.rmdir(cg)
        except OSError:
            pass


def ring_counters_consumers(ring):
    """Consumer slots claimed in ring RING's .cons file (shm/FORMAT.md)."""
    try:
        with open(ring_path(ring) + ".cons", "rb") as f:
            cons = f.read(8192)
    except OSError:
        return 0
    return sum(1 for i in range(16) if struct.unpack_from("<Q", cons, 64 + 256 * i)[0])


def case_cleanup():
    """SIGTERM and SIGINT: agent stopped, ring removed, exit 0; SIGKILL: the agent dies too."""
    require_root()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        p = subprocess.Popen([KILN, "top", "-b"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        agent = agent_child(p)
        if agent is None:
            finish(p, "kiln top")
            fail("kiln top exited before starting its agent")
        ring = private_ring(p.pid)
        wait_for(lambda: ring_counters_consumers(ring) >= 1 or p.poll() is not None,
                 "kiln top to attach to its ring")
        p.send_signal(sig)
        if sig == signal.SIGKILL:
            p.wait(timeout=30)
            # PR_SET_PDEATHSIG: the agent does not outlive kiln top even then.
            wait_for(lambda: not alive(agent), "the orphaned agent to exit")
            # Nobody is left to remove the ring after SIGKILL: the test does.
            remove_ring(ring)
            print("SIGKILL: agent %d exited with kiln top" % agent)
            continue
        _, err = finish(p, "kiln top after %s" % signal.Signals(sig).name)
        check_gone(p.pid, agent)
        if not re.search(r"kiln top: \d+ windows", err):
            fail("no exit summary after %s: %r" % (signal.Signals(sig).name, err))
        print("%s: exit 0, agent %d stopped, ring %s removed" % (signal.Signals(sig).name,
                                                                agent, ring))


def agent_cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def case_pidfilter():
    """-p W: the private agent runs with --pid W; a busy second process is filtered in the
    kernel (samples_filtered grows) and never aggregated (every record is W's, so records
    equal records in scope); W's frames carry the known shares."""
    require_root()
    w = Workload()
    # The same binary with another mix: only the pid tells them apart.
    noise = subprocess.Popen([WORKLOAD, "--mix", "gamma=100", "--seconds", "40"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = None
    try:
        p = subprocess.Popen([KILN, "top", "-b", "-p", str(w.pid), "-F", "499",
                              "--iterations", "4", "-n", "200"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        agent = agent_child(p)
        if agent is None:
            finish(p, "kiln top -p")
            fail("kiln top exited before starting its agent")
        argv = agent_cmdline(agent)
        if "--pid" not in argv or argv[argv.index("--pid") + 1] != str(w.pid):
            fail("the private agent runs without --pid %d: %s" % (w.pid, argv))
        ring = private_ring(p.pid)
        # Read while it runs: kiln top removes the ring at exit.
        seen = {}

        def counted():
            c = ring_counters(ring)
            if c:
                seen.update(c)
            return c.get("samples_filtered", 0) >= 50 and c.get("samples_aggregated", 0) >= 50
        wait_for(counted, "the private agent to filter and aggregate samples")
        out, err = finish(p, "kiln top -b -p", timeout=60)
        frames = batch_frames(out)
        last = frames[-1]
        if "gamma" in last["rows"]:
            fail("the filtered process's gamma shows up:\n" + last["text"])
        if not last["samples"]:
            fail("no sample in view after 4 windows at 499 Hz")
        check_shares(last, "kiln top -p with a private agent")
        m = re.search(r"(\d+) records \((\d+) in scope\)", err)
        if not m or int(m.group(1)) == 0 or m.group(1) != m.group(2):
            fail("records outside the selected process were aggregated: %r" % err)
        print("private agent counters: samples_filtered %d, samples_aggregated %d; %s" % (
            seen.get("samples_filtered", 0), seen.get("samples_aggregated", 0), err.strip()))
        check_gone(p.pid, agent)
        bad = subprocess.run([KILN, "agent", "-p", "1,x"], capture_output=True, text=True)
        if bad.returncode != 2 or "--pid '1,x': expected process ids" not in bad.stderr:
            fail("kiln agent -p 1,x: %d %r" % (bad.returncode, bad.stderr))
    finally:
        stop_all(p, w, noise)


def start_top():
    """kiln top -b with a private agent; returns (process, agent pid) once it is attached."""
    p = subprocess.Popen([KILN, "top", "-b", "-F", "49"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    agent = agent_child(p)
    if agent is None:
        finish(p, "kiln top")
        fail("kiln top exited before starting its agent")
    wait_for(lambda: ring_counters_consumers(private_ring(p.pid)) >= 1 or p.poll() is not None,
             "kiln top to attach to its ring")
    return p, agent


def case_stale():
    """A SIGKILLed kiln top leaves its private ring; the next kiln top removes it, says so
    once, and keeps the ring of a live kiln top and a ring that is not private."""
    require_root()
    live = dead = other = None
    other_ring = "cli-top-other-%d" % os.getpid()
    try:
        live, live_agent = start_top()
        dead, dead_agent = start_top()
        dead_ring = private_ring(dead.pid)
        dead.kill()
        dead.wait()
        wait_for(lambda: not alive(dead_agent), "the SIGKILLed top's agent to exit")
        if not os.path.exists(ring_path(dead_ring)):
            fail("ring %s is already gone: nothing left to test" % dead_ring)
        # Not a private ring (its producer is gone too): never removed.
        subprocess.run([KILN, "agent", "--ring", other_ring, "-d", "1", "-F", "19"],
                       capture_output=True, check=True, timeout=60)
        if not os.path.exists(ring_path(other_ring)):
            fail("kiln agent -d 1 did not leave ring %s" % other_ring)
        p = subprocess.Popen([KILN, "top", "-b", "--iterations", "1", "-F", "49"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        _, err = finish(p, "the next kiln top", timeout=60)
        if os.path.exists(ring_path(dead_ring)) or os.path.exists(ring_path(dead_ring) + ".cons"):
            fail("the stale ring %s was not removed:\n%s" % (dead_ring, err))
        said = [line for line in err.splitlines() if "stale private ring" in line]
        if len(said) != 1 or dead_ring not in said[0]:
            fail("expected one line naming the removed ring %s:\n%s" % (dead_ring, err))
        for ring in (private_ring(live.pid), other_ring):
            if not os.path.exists(ring_path(ring)):
                fail("ring %s was removed:\n%s" % (ring, err))
            if ring in said[0]:
                fail("the message names %s, which was kept: %s" % (ring, said[0]))
        print(said[0])
        live.send_signal(signal.SIGTERM)
        finish(live, "the live kiln top")
        check_gone(live.pid, live_agent)
    finally:
        for q in (live, dead):
            if q and q.poll() is None:
                q.kill()
                q.wait()
        for ring in [other_ring] + ([private_ring(dead.pid)] if dead else []):
            remove_ring(ring)


CASES = {"flags": case_flags, "tty": case_tty, "batch": case_batch, "attach": case_attach,
         "cleanup": case_cleanup, "pidfilter": case_pidfilter, "stale": case_stale}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_top.py %s" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    CASES[sys.argv[1]]()
    print("PASS")
