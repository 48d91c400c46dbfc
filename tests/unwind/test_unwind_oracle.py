#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Oracle test of kiln's unwind tables against binutils' readelf.

For each Debian binary and the vDSO: every row that `readelf --debug-dump=frames-interp`
prints (LOC, CFA, rbp, ra columns), converted by hand here to what the BPF walker should
apply, must equal uw_table__lookup(LOC) as uw_dump answers it, for 100 % of rows of every
FDE. Also: the FDE count equals .eh_frame_hdr's fde_count, the row count equals readelf's,
the per-command counters equal those of the expected rows, and every end of covered code
(next FDE more than 15 bytes later) looks up as INVALID while padding (<= 15) does not.
Prints the counts and each table's build time (not asserted).

readelf quirks handled here: it exits 1 even with complete output (the exit status is
ignored; a cut-short dump shows as an FDE count below .eh_frame_hdr's); `u` means "no rule"
(unchanged) in every column but ra, where it means "undefined"; a register rule prints as
two tokens, `r10 (r10)`; a CFA expression prints as `exp` (its opcodes come from the raw
dump, --debug-dump=frames); an FDE without instructions prints no rows (its CIE's row
applies); two advances to the same LOC print two rows (the last one is in force).

Usage: test_unwind_oracle.py UW_DUMP [MORE_FILES...]
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

BINARIES = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/bin/python3.11",
    "/usr/sbin/nginx",
    "/usr/bin/redis-server",
    "/usr/lib/postgresql/15/bin/postgres",
]
MAX_PAD = 15
RSP, RBP = 7, 6
RBP_SAME, RBP_AT_CFA, RBP_UNDEFINED = 0, 1, 2
UNS_CFA_REG, UNS_CFA_EXPR, UNS_RA, UNS_RBP = 1, 2, 3, 4
S32 = (-(1 << 31), (1 << 31) - 1)

TOKEN = re.compile(r"r\d+ \([^)]*\)|\S+")
HDR = re.compile(r"^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ (CIE|FDE)(.*)$")
ROW = re.compile(r"^[0-9a-f]{16} ")
PLT = re.compile(r"^DW_OP_breg7 \(rsp\): 8; DW_OP_breg16 \(rip\): 0; DW_OP_lit15; DW_OP_and; "
                 r"DW_OP_lit(\d+); DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus$")
DEREF = re.compile(r"^DW_OP_breg([67]) \(r[sb]p\): (-?\d+); DW_OP_deref$")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def readelf(args, path):
    # Exit status 1 is readelf's habit even for complete output: judge the output instead.
    r = subprocess.run(["readelf", "-W"] + args + [path], capture_output=True, text=True)
    if "Contents of the .eh_frame section" not in r.stdout:
        fail("readelf %s %s printed no .eh_frame (exit %d): %s" %
             (" ".join(args), path, r.returncode, r.stderr.strip()[:300]))
    return r.stdout


def parse_interp(text):
    """CIEs {off: (aug, row)} and FDEs [(off, cie, lo, hi, [(loc, {col: val})])]."""
    cies, fdes = {}, []
    cur, cols = None, None
    for line in text.splitlines():
        m = HDR.match(line)
        if m:
            off = int(m.group(1), 16)
            if m.group(2) == "CIE":
                aug = re.search(r'"([^"]*)"', m.group(3)).group(1)
                cur = {"kind": "CIE", "aug": aug, "rows": []}
                cies[off] = cur
            else:
                fm = re.search(r"cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)", m.group(3))
                cur = {"kind": "FDE", "off": off, "cie": int(fm.group(1), 16),
                       "lo": int(fm.group(2), 16), "hi": int(fm.group(3), 16), "rows": []}
                fdes.append(cur)
            cols = None
            continue
        if line.startswith("   LOC"):
            cols = line.split()
            continue
        if cur is not None and cols and ROW.match(line):
            toks = TOKEN.findall(line)
            if len(toks) != len(cols):
                fail("cannot split readelf row %r under %r" % (line, cols))
            cur["rows"].append((int(toks[0], 16), dict(zip(cols[1:], toks[1:]))))
    return cies, fdes


def parse_raw(text):
    """Each CIE/FDE offset -> the def_cfa_expression texts in its instructions."""
    exprs, cur = {}, None
    for line in text.splitlines():
        m = HDR.match(line)
        if m:
            cur = exprs.setdefault(int(m.group(1), 16), [])
            continue
        m = re.match(r"^\s+DW_CFA_def_cfa_expression \((.*)\)$", line)
        if m and cur is not None:
            cur.append(m.group(1))
        if cur is not None and re.match(r"^\s+DW_CFA_undefined: r6 ", line):
            # rbp explicitly undefined prints as `u` like "no rule": the oracle can't tell
            fail("an FDE makes rbp undefined; readelf's `u` is ambiguous there")
    return exprs


def expected(fde, cie, row, exprs):
    """(kind, arg, cfa_reg, rbp_how, flags, cfa_off, rbp_off) the walker should apply."""
    cfa, ra, rbp = row.get("CFA"), row.get("ra"), row.get("rbp", "u")
    uns = lambda why: ("unsupported", why, 0, 0, 0, 0, 0)
    expr = None
    if cfa == "exp":
        cand = set(exprs.get(fde["off"], [])) or set(exprs.get(fde["cie"], []))
        if len(cand) != 1:
            fail("FDE %x: CFA expression not found uniquely in the raw dump: %r" %
                 (fde["off"], cand))
        expr = cand.pop()
    if "S" in cie["aug"] and expr == "DW_OP_breg7 (rsp): 160; DW_OP_deref":
        return ("signal", 0, 0, 0, 0, 0, 0)
    if ra == "u":
        return ("stop", 0, 0, 0, 0, 0, 0)
    plt, flags = None, 0
    if expr is not None:
        m, d = PLT.match(expr), DEREF.match(expr)
        if m:
            plt = int(m.group(1))
        elif d:
            reg, off, flags = int(d.group(1)), int(d.group(2)), 1
        else:
            return uns(UNS_CFA_EXPR)
    else:
        m = re.match(r"^(r\w+)([-+]\d+)$", cfa or "")
        if not m:
            fail("FDE %x: unexpected CFA column %r" % (fde["off"], cfa))
        if m.group(1) not in ("rsp", "rbp"):
            return uns(UNS_CFA_REG)
        reg, off = (RSP if m.group(1) == "rsp" else RBP), int(m.group(2))
    if plt is None and not S32[0] <= off <= S32[1]:
        return uns(UNS_CFA_EXPR)
    if ra != "c-8":
        return uns(UNS_RA)
    if rbp in ("u", "s"):
        how, roff = RBP_SAME, 0
    elif re.match(r"^c[-+]\d+$", rbp) and S32[0] <= int(rbp[1:]) <= S32[1]:
        how, roff = RBP_AT_CFA, int(rbp[1:])
    else:
        return uns(UNS_RBP)
    if plt is not None:
        return ("plt", plt, 0, 0, 0, 0, 0) if how == RBP_SAME else uns(UNS_RBP)
    return ("rule", 0, reg, how, flags, off, roff)


def eh_frame_hdr_count(path):
    """fde_count from .eh_frame_hdr, found through PT_GNU_EH_FRAME."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    m = re.search(r"GNU_EH_FRAME\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+"
                  r"\s+0x([0-9a-f]+)", out)
    if not m:
        fail("%s: no PT_GNU_EH_FRAME" % path)
    with open(path, "rb") as f:
        f.seek(int(m.group(1), 16))
        hdr = f.read(int(m.group(3), 16))
    version, ptr_enc, cnt_enc, _ = hdr[:4]
    sizes = {0x03: 4, 0x0b: 4, 0x04: 8, 0x0c: 8, 0x02: 2, 0x0a: 2}
    if version != 1 or (ptr_enc & 0x0f) not in sizes or cnt_enc not in (0x03, 0x04):
        fail("%s: unexpected .eh_frame_hdr encodings %x %x" % (path, ptr_enc, cnt_enc))
    pos = 4 + sizes[ptr_enc & 0x0f]
    return struct.unpack_from("<I" if cnt_enc == 0x03 else "<Q", hdr, pos)[0]


def check(uw_dump, name, path=None):
    with tempfile.TemporaryDirectory(prefix="kiln-uw-") as tmp:
        if path is None:
            path = os.path.join(tmp, "vdso.so")
            cmd = [uw_dump, "--vdso", path]
        else:
            if not os.path.exists(path):
                fail("%s is not on this machine (dev.sh deps installs it)" % path)
            cmd = [uw_dump, path]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        stats_line = p.stdout.readline()
        if not stats_line.startswith("stats "):
            p.kill()
            fail("%s: uw_dump failed (exit %s)" % (name, p.wait()))
        stats = {k: int(v) for k, v in (kv.split("=") for kv in stats_line.split()[1:])}
        cies, fdes = parse_interp(readelf(["--debug-dump=frames-interp"], path))
        exprs = parse_raw(readelf(["--debug-dump=frames"], path))
        hdr_count = eh_frame_hdr_count(path)

        # expected rule of every row, FDE by FDE (the last row printed at a LOC wins)
        queries, want = [], []
        outside = 0
        counts = {"unsupported": 0, "plt": 0, "signal": 0, "stop": 0}
        for fde in fdes:
            if fde["lo"] == fde["hi"]:
                continue
            cie = cies.get(fde["cie"])
            if cie is None:
                fail("FDE %x: CIE %x not printed" % (fde["off"], fde["cie"]))
            rows = fde["rows"] or [(fde["lo"], cie["rows"][0][1])]
            by_loc = {}
            for loc, cols in rows:
                if loc >= fde["hi"]:
                    outside += 1  # an advance to or past the end: no code has that row
                    continue
                by_loc[loc] = cols
            for loc, cols in sorted(by_loc.items()):
                e = expected(fde, cie, cols, exprs)
                if e[0] in counts:
                    counts[e[0]] += 1
                queries.append(loc)
                want.append((fde, loc, e))

        # ends of covered code: INVALID after a gap > 15 bytes, the last rule within padding
        spans = sorted((f["lo"], f["hi"]) for f in fdes if f["lo"] != f["hi"])
        ends, cover = [], 0
        for i, (lo, hi) in enumerate(spans):
            cover = max(cover, hi)
            nxt = spans[i + 1][0] if i + 1 < len(spans) else None
            if nxt is None or nxt > cover + MAX_PAD:
                ends.append((cover, True))
            elif nxt > cover:
                ends.append((nxt - 1, False))  # last padding byte still has a rule
        before_first = spans[0][0] - 2  # -1 may be an early SIGNAL row

        qs = queries + [e for e, _ in ends] + [before_first]
        out, _ = p.communicate("".join("%x\n" % q for q in qs))
        if p.returncode != 0:
            fail("%s: uw_dump exit %d" % (name, p.returncode))
    got = [tuple(l.split()[1:]) for l in out.splitlines()]
    if len(got) != len(qs):
        fail("%s: %d answers for %d lookups" % (name, len(got), len(qs)))

    bad = 0
    for (fde, loc, e), g in zip(want, got):
        ge = (g[0],) + tuple(int(x) for x in g[1:]) if g[0] != "none" else ("none",)
        if ge != e:
            bad += 1
            if bad <= 10:
                print("  %s FDE %x row %x: want %s got %s" % (name, fde["off"], loc, e, ge))
    for (addr, is_end), g in zip(ends, got[len(want):]):
        if (g[0] == "invalid") != is_end:
            bad += 1
            if bad <= 20:
                print("  %s %x: want %s got %s" % (name, addr, "invalid" if is_end else
                                                   "a rule", g))
    if got[-1][0] != "none":
        bad += 1
        print("  %s %x (before the first FDE): want none got %s" % (name, before_first, got[-1]))

    nfde = len(fdes)
    print("%-40s FDEs %6d (hdr %6d) rows %6d (readelf %6d, %d past FDE ends) table rows %6d "
          "ends %5d | unsupported %d plt %d signal %d stop %d skipped %d | build %.2f ms | "
          "%d/%d rows match" %
          (name, stats["fdes"], hdr_count, stats["cfa_rows"], len(want), outside, stats["rows"],
           sum(1 for _, e in ends if e), stats["unsupported"], stats["plt"], stats["signal"],
           stats["stop"], stats["skipped_fdes"], stats["build_ns"] / 1e6, len(want) - min(
               bad, len(want)), len(want)))
    errs = []
    if bad:
        errs.append("%d mismatches" % bad)
    if stats["fdes"] != nfde or nfde != hdr_count:
        errs.append("FDE count %d, readelf %d, .eh_frame_hdr %d" % (stats["fdes"], nfde,
                                                                    hdr_count))
    if stats["cfa_rows"] != len(want):
        errs.append("row count %d, readelf %d" % (stats["cfa_rows"], len(want)))
    if stats["skipped_fdes"]:
        errs.append("%d FDEs skipped" % stats["skipped_fdes"])
    for k, v in counts.items():
        if stats[k] != v:
            errs.append("%s rows %d, expected %d" % (k, stats[k], v))
    if errs:
        fail("%s: %s" % (name, "; ".join(errs)))
    return len(want)


def main():
    if len(sys.argv) < 2:
        fail("usage: test_unwind_oracle.py UW_DUMP [MORE_FILES...]")
    total = 0
    for path in BINARIES + sys.argv[2:]:
        total += check(sys.argv[1], path, path)
    total += check(sys.argv[1], "vDSO")
    print("PASS: %d rows of %d files equal readelf's" % (total, len(BINARIES) + len(sys.argv) - 1))


if __name__ == "__main__":
    main()
