# SPDX-License-Identifier: Apache-2.0
"""Reading kiln's outputs for the Python end-to-end tests and the Python bench: a minimal
protobuf wire-format reader (Debian 12's python3 has no protobuf module by default) for
kiln's gzipped pprof files, and the known-answer chains of bench/python/kat.py."""
import gzip
import os


def _varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value) of one message: ints or bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("wire type %d at %d" % (wt, i))
        yield num, wt, v


def _ints(wt, v):
    """A repeated integer field: packed (bytes) or one value."""
    if wt != 2:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def read_pprof(path):
    """kiln's pprof file as [(frames outermost first, count, labels)], each frame a tuple
    (function, file, line); labels {key: str or int} (pid, tid, comm)."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    strs, locs, funcs, raw = [], {}, {}, []
    for num, wt, v in fields(data):
        if num == 6:
            strs.append(v.decode("utf-8"))
        elif num == 5:
            fn = {}
            for n2, _, v2 in fields(v):
                fn[n2] = v2
            funcs[fn.get(1, 0)] = (fn.get(2, 0), fn.get(4, 0))
        elif num == 4:
            lid, lines = 0, []
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    lid = v2
                elif n2 == 4:
                    ln = dict((n3, v3) for n3, _, v3 in fields(v2))
                    lines.append((ln.get(1, 0), ln.get(2, 0)))
            locs[lid] = lines
        elif num == 2:
            ids, vals, labels = [], [], []
            for n2, wt2, v2 in fields(v):
                if n2 == 1:
                    ids += _ints(wt2, v2)
                elif n2 == 2:
                    vals += _ints(wt2, v2)
                elif n2 == 3:
                    labels.append(dict((n3, v3) for n3, _, v3 in fields(v2)))
            raw.append((ids, vals, labels))
    out = []
    for ids, vals, labels in raw:
        frames = []
        for lid in ids:  # leaf first; inlined lines innermost first
            for fid, line in locs.get(lid, []):
                name, file = funcs.get(fid, (0, 0))
                frames.append((strs[name], strs[file], line))
            if not locs.get(lid):
                frames.append(("?", "", 0))
        lab = {}
        for la in labels:
            key = strs[la.get(1, 0)]
            lab[key] = strs[la[2]] if la.get(2) else la.get(3, 0)
        out.append((frames[::-1], vals[0] if vals else 0, lab))
    return out


def kat_lines(path):
    """{tag: [line numbers]} of a script's "# KAT tag" comments."""
    tags = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if "# KAT " in line:
                tags.setdefault(line.split("# KAT ")[1].split()[0], []).append(n)
    return tags


def kat_chains(path, depth=3):
    """The main thread's expected Python chains of kat.py, outermost first, as lists of
    (qualified name, file base name, allowed lines): the leaf may be on any line of its body,
    every caller on its calling line."""
    t = kat_lines(path)
    f = os.path.basename(path)

    def one(tag, name):
        return (name, f, set(t[tag]))

    head = [one("module_main", "<module>")]
    a = head + [one("main_gen", "main"), one("gen_call", "gen"),
                one("method_call", "Runner.method"), one("leaf_a", "leaf_a")]
    b = head + [one("main_recurse", "main")] + [one("recurse_call", "recurse")] * depth + \
        [one("recurse_base", "recurse"), one("leaf_b", "leaf_b")]
    u = head + [one("main_uni", "main"), one("функция", "функция")]
    return {"leaf_a": a, "leaf_b": b, "функция": u}


def python_frames(frames):
    """The Python frames of a pprof stack (file name ending in .py), outermost first."""
    return [fr for fr in frames if fr[1].endswith(".py")]


def matches(pyframes, chain):
    """True when PYFRAMES (function, file, line) are exactly CHAIN (see kat_chains)."""
    if len(pyframes) != len(chain):
        return False
    for (name, file, line), (want, wfile, lines) in zip(pyframes, chain):
        if name != want or os.path.basename(file) != wfile or line not in lines:
            return False
    return True


def _msg(buf):
    """One message as {field number: [values]} (packed repeated ints stay bytes)."""
    out = {}
    for num, wt, v in fields(buf):
        out.setdefault(num, []).append((wt, v))
    return out


def _one(m, num, default=0):
    return m[num][-1][1] if num in m else default


def _repeated_ints(m, num):
    out = []
    for wt, v in m.get(num, []):
        out += _ints(wt, v)
    return out


def read_otlp(body):
    """An ExportProfilesServiceRequest (v1development) as [(frames outermost first, count,
    resource)], each frame (function, file, line, frame type): the location's
    profile.frame.type attribute, "" when it has none; resource: the string values of the
    resource's attributes."""
    req = _msg(body)
    d = _msg(_one(req, 2, b""))
    strs = [v.decode("utf-8") for _, v in d.get(5, [])]
    attrs = []
    for _, a in d.get(6, []):
        am = _msg(a)
        val = _msg(_one(am, 2, b""))
        attrs.append((strs[_one(am, 1)], val[1][-1][1].decode("utf-8") if 1 in val else None))
    funcs = []
    for _, f in d.get(3, []):
        fm = _msg(f)
        funcs.append((strs[_one(fm, 1)], strs[_one(fm, 3)]))
    locs = []
    for _, lb in d.get(2, []):
        lm = _msg(lb)
        kind = ""
        for ai in _repeated_ints(lm, 4):
            if attrs[ai][0] == "profile.frame.type":
                kind = attrs[ai][1]
        lines = []
        for _, ln in lm.get(3, []):
            lnm = _msg(ln)
            name, file = funcs[_one(lnm, 1)]
            lines.append((name, file, _one(lnm, 2), kind))
        locs.append(lines or [("?", "", 0, kind)])
    stacks = [_repeated_ints(_msg(s), 1) for _, s in d.get(7, [])]
    out = []
    for _, rp in req.get(1, []):
        rpm = _msg(rp)
        res = []
        for _, kv in _msg(_one(rpm, 1, b"")).get(1, []):
            val = _msg(_one(_msg(kv), 2, b""))
            if 1 in val:
                res.append(val[1][-1][1].decode("utf-8"))
        for _, sp in rpm.get(2, []):
            for _, prof in _msg(sp).get(2, []):
                for _, sb in _msg(prof).get(2, []):
                    sm = _msg(sb)
                    vals = _repeated_ints(sm, 4)
                    frames = []
                    for li in stacks[_one(sm, 1)]:
                        frames += locs[li]
                    out.append((frames[::-1], vals[0] if vals else 1, res))
    return out
