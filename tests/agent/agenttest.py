# SPDX-License-Identifier: Apache-2.0
"""Helpers for tests that run the real `kiln agent` and read its ring."""
import json
import os
import signal
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "record"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from kilntest import BUILD, KILN, fail  # noqa: E402
# ring_path is also imported from here by the agent, top and debuginfod tests.
from testenv import remove_ring, ring_path  # noqa: E402,F401
from poll import poll  # noqa: E402

RINGDUMP = os.path.join(BUILD, "tests", "agent", "ringdump")


def ring_counters(name):
    """The producer counters in the ring header: {name: value} (shm/FORMAT.md)."""
    out = {}
    try:
        with open(ring_path(name), "rb") as f:
            hdr = f.read(8192)
    except OSError:
        return out
    for i in range(160):
        off = 320 + 32 * i
        raw, value = hdr[off:off + 24], struct.unpack_from("<Q", hdr, off + 24)[0]
        key = raw.split(b"\0", 1)[0].decode()
        if key:
            out[key] = value
    return out


def wait_for(pred, what, timeout=30):
    """Polls an observable condition until it holds or the deadline passes."""
    v = poll(pred, timeout)
    if not v:
        fail("timed out waiting for " + what)
    return v


class Agent:
    """`kiln agent` on its own ring, with a ringdump consumer attached from the start."""

    def __init__(self, ring, args=(), env=None, preexec_fn=None):
        self.ring = ring
        remove_ring(ring)
        self.proc = subprocess.Popen([KILN, "agent", "--ring", ring] + list(args),
                                     stderr=subprocess.PIPE, text=True, env=env,
                                     preexec_fn=preexec_fn)
        wait_for(lambda: os.path.exists(ring_path(ring)) or self.proc.poll() is not None,
                 "the ring to appear")
        if self.proc.poll() is not None:
            fail("kiln agent exited early: " + self.proc.stderr.read())
        self.dump = subprocess.Popen([RINGDUMP, ring, "120"], stdout=subprocess.PIPE,
                                     text=True)
        # Sampling runs once the first window was drained.
        wait_for(lambda: ring_counters(ring).get("windows", 0) >= 1 or
                 self.proc.poll() is not None, "the agent's first window")
        if self.proc.poll() is not None:
            fail("kiln agent exited early: " + self.proc.stderr.read())

    def counters(self):
        if self.proc.poll() is not None and hasattr(self, "final_counters"):
            return self.final_counters
        return ring_counters(self.ring)

    def kill(self):
        """Ends the agent and the reader at once, if still running (a test that failed)."""
        for p in (self.proc, self.dump):
            if p.poll() is None:
                p.kill()
                p.wait()
        remove_ring(self.ring)

    def stop(self):
        """SIGTERM (flushes the current window), then every record the agent wrote."""
        self.proc.send_signal(signal.SIGTERM)
        err = self.proc.communicate(timeout=60)[1]
        out = self.dump.communicate(timeout=60)[0]
        if self.proc.returncode != 0:
            fail("kiln agent exited with %d:\n%s" % (self.proc.returncode, err))
        if self.dump.returncode != 0:
            fail("ringdump failed (%d)" % self.dump.returncode)
        self.stderr = err
        self.final_counters = ring_counters(self.ring)
        recs = [json.loads(line) for line in out.splitlines() if line.strip()]
        if any(r.get("invalid") for r in recs):
            fail("the ring held an invalid window record")
        remove_ring(self.ring)
        return recs


def frames(sample):
    return [f["name"] for f in sample["frames"]]
