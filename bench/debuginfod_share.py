#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How many samples of a stripped Debian program get a named leaf, without and with its debug
file fetched from a debuginfod server (Debian's debuginfod on loopback, serving the debug
file you give it).

  debuginfod_share.py python --debug FILE [--prog PATH] [--seconds S]
  debuginfod_share.py redis  [--debug FILE] [--prog PATH] [--seconds S]

The program runs under bench/services.py's load (python: a CPU-bound script; redis:
redis-benchmark). Three `kiln record -p` runs: without debuginfod ("before"), with it and an
empty cache (the file lands during that run: "first"), and again from the cache ("after").
A leaf is unnamed when it reads [FILE+0xOFFSET]; the "user leaf" is the innermost frame
outside the kernel (the figure compared: "before -> after"). The debug file must carry the program's build
id (Debian's -dbg/-dbgsym package of the same version as the binary).

Debian 12: python3.11-dbg holds /usr/lib/debug/.build-id/XX/YYY.debug for the python3.11 of
the same version (apt-get download python3.11-dbg python3.11-minimal, dpkg -x both, then
--prog X/usr/bin/python3.11 --debug D/usr/lib/debug/.build-id/XX/YYY.debug when the
installed python3.11 is another version). redis-server's debug file is only in the
debian-debug archive (redis-server-dbgsym).
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "debuginfod"))
import services  # noqa: E402
import dbgsrv  # noqa: E402

UNNAMED = re.compile(r"^\[(.*)\+0x[0-9a-f]+\]$")


def leaf_share(path, user=False):
    """(named samples, all samples, Counter of unnamed leaves' modules) of a folded file.
    USER: the leaf is the innermost user-space frame (kernel frames, _[k], skipped)."""
    named = total = 0
    unnamed = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(n)
            frames = stack.split(";")
            if user:
                frames = [x for x in frames if not x.endswith("_[k]")]
                if len(frames) < 2:  # the comm alone: a kernel-only stack
                    continue
            leaf = frames[-1]
            total += n
            m = UNNAMED.match(leaf)
            if m:
                unnamed[m.group(1)] += n
            else:
                named += n
    return named, total, unnamed


def record(kiln, pids, seconds, out, env):
    p = subprocess.run([kiln, "record", "-p", ",".join(map(str, pids)), "-F", "199", "-d",
                        str(seconds), "-o", out], capture_output=True, text=True, env=env)
    if p.returncode:
        sys.exit("kiln record failed: " + p.stderr)


def row(label, path):
    for user in (False, True):
        named, total, unnamed = leaf_share(path, user)
        pct = 100.0 * named / total if total else 0.0
        top = ", ".join("%s %d" % kv for kv in unnamed.most_common(3))
        print("  %-6s %s named %5.1f %% (%d of %d samples)%s" %
              (label, "user leaf" if user else "leaf     ", pct, named, total,
               "; unnamed in: " + top if top else ""))
    return pct


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("service", choices=("python", "redis"))
    ap.add_argument("--debug", help="the program's separate debug file (none: the "
                    "'before' figure only)")
    ap.add_argument("--prog", help="the program (default: Debian's own)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--kiln", default=os.environ.get("KILN") or
                    os.path.join(HERE, "..", "build", "kiln"))
    a = ap.parse_args()
    if os.geteuid():
        sys.exit("needs root (kiln record)")
    prog = a.prog or ("/usr/bin/python3.11" if a.service == "python" else
                      shutil.which("redis-server"))
    bid = dbgsrv.build_id(prog)
    dbid = dbgsrv.build_id(a.debug) if a.debug else bid
    if bid != dbid:
        sys.exit("%s has build id %s, the debug file %s: not the same build" % (prog, bid, dbid))
    if a.service == "python":
        services.PYTHON = prog
    else:
        services.need = (lambda orig: lambda n: prog if n == "redis-server" else orig(n))(
            services.need)
    tmp = tempfile.mkdtemp(prefix="kiln-bench-dbgi-")
    srv = os.path.join(tmp, "srv")
    os.makedirs(srv)
    if not a.debug:
        with services.Load(a.service) as load:
            out = os.path.join(tmp, "before.folded")
            record(a.kiln, load.pids, a.seconds, out,
                   {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")})
            print("debuginfod %s: %s (build id %s), no debug file" % (a.service, prog, bid))
            row("before", out)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    shutil.copy(a.debug, os.path.join(srv, os.path.basename(prog) + ".debug"))
    server = dbgsrv.Debuginfod(srv, tmp)
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
    env1 = dict(env0, DEBUGINFOD_URLS=server.url,
                DEBUGINFOD_CACHE_PATH=os.path.join(tmp, "cache"))
    try:
        with services.Load(a.service) as load:
            print("debuginfod %s: %s (build id %s), %d s per run at 199 Hz" %
                  (a.service, prog, bid, a.seconds))
            out = {k: os.path.join(tmp, k + ".folded") for k in ("before", "first", "after")}
            record(a.kiln, load.pids, a.seconds, out["before"], env0)
            record(a.kiln, load.pids, a.seconds, out["first"], env1)
            r1 = server.requests()
            record(a.kiln, load.pids, a.seconds, out["after"], env1)
            r2 = server.requests()
            before = row("before", out["before"])
            row("first", out["first"])
            after = row("after", out["after"])
            # Requests of the other stripped files without debug info (404s) are
            # remembered too: the third run asks for nothing.
            print("  server requests: %d in the first run, %d in the third; before %.1f %% -> "
                  "after %.1f %%" % (r1, r2 - r1, before, after))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
