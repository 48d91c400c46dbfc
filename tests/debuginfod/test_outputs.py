#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a backend needs to name a stripped binary's frames later, in every output: OTLP
bodies (decoded with protoc against the upstream schema) carry the build id on the mapping
(process.executable.build_id.gnu) and the ELF virtual address on every unnamed location;
Go pprof shows the mapping's build id; folded stacks say [file+0xoffset]."""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "record"))
import dbgsrv  # noqa: E402
from kilntest import KILN, fail, record, require_root, run, skip  # noqa: E402

# The upstream schema when it is around, else kiln's wire-identical copy.
PROTO = os.environ.get("KILN_OTLP_PROTO") or next(
    (d for d in ("/work/shared/otlp-proto", os.path.join(HERE, "..", "..", "proto"))
     if os.path.isdir(d)), "")
REQ = "opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest"
SVC = "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto"


def text_range(prog):
    """[start, end) of PROG's .text, as ELF virtual addresses."""
    out = run(["readelf", "-SW", prog]).stdout
    for line in out.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".text":
            return int(f[3], 16), int(f[3], 16) + int(f[5], 16)
    fail("no .text in " + prog)


def blocks(text, name):
    """The top-level-ish `NAME { ... }` blocks of protoc's text output, as strings."""
    out, i = [], 0
    while True:
        i = text.find(name + " {", i)
        if i < 0:
            return out
        depth, j = 0, i
        while True:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        out.append(text[i:j + 1])
        i = j + 1


def check_otlp(tmp, prog, bid, pid):
    if not os.path.isdir(PROTO) or not subprocess.run(["which", "protoc"],
                                                       capture_output=True).returncode == 0:
        skip("protoc or the upstream schema (%s) is missing" % PROTO)
    ring = "test-dbgi-out-%d" % os.getpid()
    out = os.path.join(tmp, "otlp")
    os.makedirs(out)
    a = subprocess.run([KILN, "agent", "--ring", ring, "-F", "99", "--window-ms", "500", "-p",
                        str(pid), "-d", "3"], capture_output=True, text=True, timeout=120)
    try:
        if a.returncode:
            if "loading the BPF sampler" in a.stderr:
                skip("the kernel refused BPF: " + a.stderr.strip().splitlines()[-1])
            fail("kiln agent failed: " + a.stderr)
        run([KILN, "export", "--ring", ring, "--destination", "file=" + out, "--once"])
    finally:
        for s in ("", ".cons"):
            try:
                os.unlink("/dev/shm/kiln-" + ring + s)
            except FileNotFoundError:
                pass
    lo, hi = text_range(prog)
    files = [f for f in os.listdir(out) if f.endswith(".pb.gz")]
    if not files:
        fail("kiln export wrote no OTLP file")
    unnamed = 0
    for f in files:
        body = subprocess.run(["gzip", "-dc", os.path.join(out, f)], capture_output=True,
                              check=True).stdout
        p = subprocess.run(["protoc", "-I", PROTO, "--decode=" + REQ, SVC], input=body,
                           capture_output=True, cwd=PROTO)
        if p.returncode:
            fail("protoc could not decode %s: %s" % (f, p.stderr.decode()))
        text = p.stdout.decode()
        strs = [bytes(m.group(1), "latin1").decode("unicode_escape")
                for m in re.finditer(r'^  string_table: "(.*)"$', text, re.M)]
        attrs = blocks(text, "attribute_table")
        maps = blocks(text, "mapping_table")
        locs = blocks(text, "location_table")
        mine = None
        for i, m in enumerate(maps):
            fn = re.search(r"filename_strindex: (\d+)", m)
            if fn and strs[int(fn.group(1))] == prog:
                mine = i
                ai = [int(x) for x in re.findall(r"attribute_indices: (\d+)", m)]
                kv = {}
                for k in ai:
                    key = strs[int(re.search(r"key_strindex: (\d+)", attrs[k]).group(1))]
                    kv[key] = re.search(r'string_value: "([^"]*)"', attrs[k]).group(1)
                if kv.get("process.executable.build_id.gnu") != bid:
                    fail("%s's mapping lacks its build id: %s" % (prog, kv))
        if mine is None:
            fail("no mapping of %s in %s" % (prog, f))
        for loc in locs:
            mi = re.search(r"mapping_index: (\d+)", loc)
            if not mi or int(mi.group(1)) != mine or "lines {" in loc:
                continue
            addr = re.search(r"address: (\d+)", loc)
            if not addr:
                fail("an unnamed location of %s has no address:\n%s" % (prog, loc))
            if not lo <= int(addr.group(1)) < hi + 16:
                fail("address %#x is not in %s's .text [%#x, %#x)" %
                     (int(addr.group(1)), prog, lo, hi))
            unnamed += 1
    if not unnamed:
        fail("no unnamed location of %s in the OTLP bodies" % prog)
    print("otlp: %d files, %s mapping carries build id %s, %d unnamed locations with their "
          "ELF address" % (len(files), os.path.basename(prog), bid, unnamed))


def check_pprof(tmp, prog, bid, pid):
    tool = os.environ.get("KILN_PPROF") or "/var/tmp/kiln-tools/pprof"
    out = os.path.join(tmp, "out.pb.gz")
    record(["-F", "99", "-d", "2", "-p", str(pid), "-f", "pprof", "-o", out])
    folded = os.path.join(tmp, "out.folded")
    record(["-F", "99", "-d", "2", "-p", str(pid), "-o", folded])
    with open(folded) as f:
        text = f.read()
    if not re.search(r"\[%s\+0x[0-9a-f]+\]" % re.escape(os.path.basename(prog)), text):
        fail("folded stacks lack [%s+0x...]:\n%s" % (os.path.basename(prog), text[:500]))
    if not os.access(tool, os.X_OK):
        skip("Go pprof tool not found at %s (dev.sh builds it)" % tool)
    raw = run([tool, "-raw", out], env=dict(os.environ, HOME=tmp, PPROF_TMPDIR=tmp)).stdout
    lines = [x for x in raw.splitlines() if prog in x]
    if not any(bid in x for x in lines):
        fail("pprof -raw shows no build id %s for %s:\n%s" % (bid, prog, raw[-1500:]))
    print("pprof -raw:", lines[0].strip())


def main():
    require_root()
    tmp = tempfile.mkdtemp(prefix="kiln-dbgi-out-")
    prog, _, bid = dbgsrv.build_prog(tmp)
    spin = subprocess.Popen([prog, "120"])
    try:
        check_otlp(tmp, prog, bid, spin.pid)
        check_pprof(tmp, prog, bid, spin.pid)
    finally:
        spin.kill()
        spin.wait()
    print("PASS")


if __name__ == "__main__":
    main()
