#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Flags override the config file, for kiln agent, kiln export and kiln ui: each command is
run once with the file alone (so the file's values are seen to be used at all) and once
with flags that contradict it, and what the process actually does is compared with both."""
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checklist import check, verdict  # noqa: E402
from testenv import free_port, remove_ring  # noqa: E402

BUILD = os.environ.get("KILN_BUILD", "build")
KILN = os.environ.get("KILN", os.path.join(BUILD, "kiln"))
PRODUCER = os.path.join(BUILD, "tests", "export", "exp_producer")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def case_agent(tmp, tag):
    """-F, --window-ms and --ring against samplingFrequency, windowSeconds and ring.name."""
    cfg = write(os.path.join(tmp, "agent.yaml"), "profiling:\n  samplingFrequency: 37\n"
                "  windowSeconds: 0.5\nring:\n  name: %s-file\n" % tag)
    runs = (([], 37, 500, tag + "-file"),
            (["-F", "53", "--window-ms", "200", "--ring", tag + "-flag"], 53, 200, tag + "-flag"))
    for flags, hz, ms, ring in runs:
        remove_ring(ring)
        p = subprocess.run([KILN, "agent", "--config", cfg, "-d", "1", "-v"] + flags,
                           capture_output=True, text=True, timeout=60)
        remove_ring(ring)
        if p.returncode != 0 and re.search(r"refused \((Operation not permitted|Permission "
                                           r"denied)\)", p.stderr):
            print("SKIP: the kernel refuses BPF here: " + p.stderr.strip().splitlines()[-1])
            return 77
        m = re.search(r"sampling at (\d+) Hz, (\d+) ms windows, writing to ring '([^']*)'",
                      p.stderr)
        if not check(p.returncode == 0 and m, "agent %s: exit %d, no 'sampling at' line: %s"
                     % (flags, p.returncode, p.stderr[-2000:])):
            continue
        got = (int(m.group(1)), int(m.group(2)), m.group(3))
        check(got == (hz, ms, ring), "agent %s: ran with %s, want %s" % (flags, got, (hz, ms, ring)))
        print("agent %s: %d Hz, %d ms windows, ring %s" % (flags or "(file only)", *got))
    return 0


def delivered(d):
    return sorted(f for f in os.listdir(d) if f.startswith("kiln-")) if os.path.isdir(d) else []


def case_export(tmp, tag):
    """--ring, --destination, --compression and --spool-dir against the file's ring.name,
    destinations, compression and spool."""
    ring = tag + "-exp"
    remove_ring(ring)
    try:
        subprocess.run([PRODUCER, ring, "6", "2"], check=True, capture_output=True, timeout=30)
        file_dir, flag_dir = os.path.join(tmp, "file-dest"), os.path.join(tmp, "flag-dest")
        spool = os.path.join(tmp, "spool")
        cfg = write(os.path.join(tmp, "export.yaml"),
                    "profiling:\n  exporter:\n    compression: zstd\n"
                    "    spool: {enabled: true, directory: %s}\n"
                    "ring:\n  name: %s\n"
                    "destinations:\n  - {name: f, type: file, url: %s}\n"
                    % (spool, ring, file_dir))
        p = subprocess.run([KILN, "export", "--config", cfg, "--once"], capture_output=True,
                           text=True, timeout=60)
        files = delivered(file_dir)
        check(p.returncode == 0 and files and all(f.endswith(".pb.zst") for f in files),
              "export (file only): exit %d, files %s: %s" % (p.returncode, files, p.stderr))
        check(os.path.isdir(spool), "export (file only): spool %s not created" % spool)
        print("export (file only): %s in %s" % (files, file_dir))

        before = delivered(file_dir)
        # The file names another ring that does not exist: only --ring makes this work.
        cfg2 = write(os.path.join(tmp, "export2.yaml"), open(cfg).read().replace(
            "name: %s\n" % ring, "name: %s-none\n" % tag).replace(spool, spool + "2"))
        p = subprocess.run([KILN, "export", "--config", cfg2, "--once", "--ring", ring,
                            "--destination", "file=" + flag_dir, "--compression", "none",
                            "--spool-dir", ""], capture_output=True, text=True, timeout=60)
        files = delivered(flag_dir)
        check(p.returncode == 0 and files and all(f.endswith(".pb") for f in files),
              "export (flags): exit %d, files %s: %s" % (p.returncode, files, p.stderr))
        check(delivered(file_dir) == before, "export (flags): the file's destination got files")
        check(not os.path.exists(spool + "2"), "export (flags): --spool-dir '' still spooled")
        print("export (flags): %s in %s" % (files, flag_dir))
    finally:
        remove_ring(ring)
    return 0


def ui_start_line(args, env=None):
    """Starts kiln ui, returns its 'listening on' line, then stops it."""
    p = subprocess.Popen([KILN, "ui"] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env=env)
    line, end = "", time.monotonic() + 20
    try:
        while time.monotonic() < end and "listening on" not in line:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                line = p.stdout.readline()
                if not line:
                    break
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return line.strip()


def case_ui(tmp, tag):
    """--listen and --ring against profiling.ui.listen and ring.name."""
    port = free_port()  # the UI binds it when run with the file alone
    cfg = write(os.path.join(tmp, "ui.yaml"), "profiling:\n  ui:\n    listen: 127.0.0.1:%d\n"
                "ring:\n  name: %s-uifile\n" % (port, tag))
    line = ui_start_line(["--config", cfg])
    check("http://127.0.0.1:%d/" % port in line and "ring %s-uifile" % tag in line,
          "ui (file only): %r" % line)
    print("ui (file only): " + line)
    line = ui_start_line(["--config", cfg, "--listen", "127.0.0.1:0", "--ring", tag + "-uiflag"])
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    check(m and int(m.group(1)) != port and "ring %s-uiflag" % tag in line,
          "ui (flags): %r" % line)
    print("ui (flags): " + line)
    return 0


def main():
    if not os.access(KILN, os.X_OK):
        sys.exit("no kiln binary at %s (set KILN)" % KILN)
    tag = "cfgovr-%d" % os.getpid()
    rc = 0
    with tempfile.TemporaryDirectory(prefix="kiln-override-") as tmp:
        case_export(tmp, tag)
        case_ui(tmp, tag)
        rc = case_agent(tmp, tag)
    if verdict("flags override the file for agent, export and ui" if rc == 0 else
               "flags override the file for export and ui; agent skipped"):
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
