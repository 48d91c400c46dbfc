#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kiln record's picture formats and its help, on the known-answer workload (alpha=70,
beta=30). Usage: test_formats.py CASE.

  speedscope  the file validates against speedscope's schema (tests/record/
              speedscope-schema.json, written down from its published docs) and the rules the
              schema cannot say; its sample weights give alpha 70 % +- 3
  svg         well-formed XML (xmllint when present, Python's parser always); every frame a
              <g> with a <title>; alpha's frames hold 70 % +- 3 of the width
  help        --help names the formats and the 99 Hz default
  hostile     names that try to break the outputs (markup, specials, bytes that are not
              UTF-8; tests/record/render_feed.c): every output parses and carries them
"""
import json
import os
import re
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KILN, WORKLOAD, fail, record, require_root, run, summary  # noqa: E402

# As tests/record/test_record.py: a fixed CPU time at 999 Hz gives ~3000 samples, so 3 points
# are 3.6 standard errors of a share.
TOL = 0.03
HZ = "999"
CPU_SECONDS = "3"
SCHEMA = os.path.join(os.path.dirname(__file__), "speedscope-schema.json")
SVG_NS = "{http://www.w3.org/2000/svg}"


def record_workload(fmt, out):
    p = record(["-F", HZ, "-f", fmt, "-o", out, "--",
                WORKLOAD, "--mix", "alpha=70,beta=30", "--cpu-seconds", CPU_SECONDS])
    return summary(p.stderr)


def check_share(name, got, want):
    print("%s share %.3f (expected %.2f +- %.2f)" % (name, got, want, TOL))
    if abs(got - want) > TOL:
        fail("%s's share is %.3f, expected %.2f +- %.2f" % (name, got, want, TOL))


def validator():
    try:
        import jsonschema
    except ImportError:
        fail("python3-jsonschema is missing (./dev.sh deps installs it)")
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def speedscope_errors(v, doc):
    """The schema's errors, then the rules of file-format-spec.ts it cannot express."""
    errs = [e.message for e in v.iter_errors(doc)]
    if errs:
        return errs
    nframes = len(doc["shared"]["frames"])
    for i, prof in enumerate(doc["profiles"]):
        if prof["endValue"] < prof["startValue"]:
            errs.append("profile %d: endValue below startValue" % i)
        if prof["type"] != "sampled":
            continue
        if len(prof["weights"]) != len(prof["samples"]):
            errs.append("profile %d: %d weights for %d samples" %
                        (i, len(prof["weights"]), len(prof["samples"])))
        for s in prof["samples"]:
            if any(not float(x).is_integer() or x < 0 or x >= nframes for x in s):
                errs.append("profile %d: a frame index outside shared.frames: %r" % (i, s))
                break
    return errs


def case_speedscope(tmp):
    out = os.path.join(tmp, "out.speedscope.json")
    s = record_workload("speedscope", out)
    with open(out, encoding="utf-8") as f:
        doc = json.load(f)
    v = validator()
    errs = speedscope_errors(v, doc)
    if errs:
        fail("the speedscope file does not follow the format:\n  " + "\n  ".join(errs[:10]))
    # The validator can fail: the same file without its weights, or with a frame index past
    # the frames, is refused.
    broken = json.loads(json.dumps(doc))
    del broken["profiles"][0]["weights"]
    if not speedscope_errors(v, broken):
        fail("the schema accepted a sampled profile without weights")
    broken = json.loads(json.dumps(doc))
    broken["profiles"][0]["samples"][0].append(len(doc["shared"]["frames"]))
    if not speedscope_errors(v, broken):
        fail("a frame index past shared.frames was accepted")

    prof = doc["profiles"][0]
    names = [fr["name"] for fr in doc["shared"]["frames"]]
    total = sum(prof["weights"])
    period = 1e9 / int(HZ)
    if abs(total / period - s["written"]) > 0.01 * s["written"] + 1:
        fail("weights sum to %.0f samples' worth, the summary says %d written" %
             (total / period, s["written"]))
    if prof["endValue"] - prof["startValue"] != total:
        fail("endValue - startValue %d != the weights' sum %d" %
             (prof["endValue"] - prof["startValue"], total))
    for leaf, want in (("alpha", 0.70), ("beta", 0.30)):
        w = sum(wt for st, wt in zip(prof["samples"], prof["weights"])
                if any(names[i] == leaf for i in st))
        check_share(leaf, w / total, want)
    # Outermost frame first: the process name, and the leaf last.
    alpha = [st for st in prof["samples"] if names[st[-1]] == "alpha"]
    if not alpha or any(names[st[0]] != "workload" for st in alpha):
        fail("alpha's stacks do not run from the process name (outermost) to alpha (leaf)")


def svg_frames(root):
    """(title text, rect x, rect width) of every frame group."""
    out = []
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") != "f":
            continue
        title, rect = g.find(SVG_NS + "title"), g.find(SVG_NS + "rect")
        if title is None or rect is None:
            fail("a frame without <title> or <rect>: %s" % ET.tostring(g)[:200])
        out.append((title.text, float(rect.get("x")), float(rect.get("width"))))
    return out


def case_svg(tmp):
    out = os.path.join(tmp, "out.svg")
    s = record_workload("svg", out)
    if shutil.which("xmllint"):
        run(["xmllint", "--noout", out])
        print("xmllint: well-formed")
    root = ET.parse(out).getroot()
    if root.tag != SVG_NS + "svg":
        fail("root element is %s, not svg" % root.tag)
    frames = svg_frames(root)
    if len(frames) < 5:
        fail("only %d frames in the SVG" % len(frames))
    all_w = [w for t, _, w in frames if t.startswith("all\n")]
    if len(all_w) != 1:
        fail("expected one root frame 'all', found %d" % len(all_w))
    m = re.search(r"(\d+) samples", [t for t, _, _ in frames if t.startswith("all\n")][0])
    if not m or int(m.group(1)) != s["written"]:
        fail("the root's title does not say the %d samples written" % s["written"])
    kinds = {g.get("data-kind") for g in root.iter(SVG_NS + "g") if g.get("class") == "f"}
    print("%d frames, kinds %s" % (len(frames), sorted(kinds)))
    if not {"process", "native"} <= kinds:
        fail("frames of kinds process and native expected, found %s" % sorted(kinds))
    for leaf, want in (("alpha", 0.70), ("beta", 0.30)):
        w = sum(w for t, _, w in frames if t.split(" (")[0].split("\n")[0] == leaf)
        check_share(leaf, w / all_w[0], want)


def case_help(tmp):
    p = run([KILN, "record", "--help"])
    for word in ("html", "svg", "speedscope", "folded", "pprof"):
        if not re.search(r"\b%s\b" % word, p.stdout):
            fail("--help does not name the format %s:\n%s" % (word, p.stdout))
    if not re.search(r"--freq HZ .*default 99\b", p.stdout):
        fail("--help does not give 99 Hz as the default:\n" + p.stdout)
    if "too few samples" not in p.stdout.replace("\n", " ").replace("  ", " "):
        fail("--help does not say why (too few samples at the agent's rate):\n" + p.stdout)
    print("help names the formats and the 99 Hz default")


# render_feed.c's names as every output must carry them: bytes that are not UTF-8 become
# U+FFFD, control characters '?'.
HOSTILE = ["</script><script>window.pwned=1</script>", "a&b<c>\"d\" 'e' \\f",
           "bad\ufffd\ufffd utf8 \ufffd", "ctl???", "\u6f22\u5b57_\U0001f525", "leaf"]


def case_hostile(tmp):
    run([os.path.join(os.environ.get("KILN_BUILD", "build"), "tests", "record", "render_feed"),
         tmp])
    with open(os.path.join(tmp, "out.speedscope.json"), encoding="utf-8") as f:
        doc = json.load(f)
    errs = speedscope_errors(validator(), doc)
    if errs:
        fail("speedscope: " + "; ".join(errs))
    names = [fr["name"] for fr in doc["shared"]["frames"]]
    if not set(HOSTILE) <= set(names):
        fail("speedscope frames %r lack some of %r" % (names, HOSTILE))
    if doc["profiles"][0]["weights"] != [3000000, 1000000]:
        fail("speedscope weights %r, expected 3 and 1 ms" % doc["profiles"][0]["weights"])

    with open(os.path.join(tmp, "out.html"), encoding="utf-8") as f:  # strict UTF-8
        page = f.read()
    tag = '<script id="kiln-data" type="application/json">'
    start = page.index(tag) + len(tag)
    end = page.index("</script>", start)
    data = json.loads(page[start:end])  # the element holds all of the JSON, and only it
    names = [fr[0] for fr in data["frames"]]
    if not set(HOSTILE) <= set(names):
        fail("html frames %r lack some of %r" % (names, HOSTILE))
    syms = {r[0]: (r[2], r[3]) for r in data["symbols"]}
    if syms.get("leaf") != (3, 3) or syms.get("do_syscall_64") != (1, 1):
        fail("html symbols Self/Total: %r" % syms)
    if data["total"] != 4 or data["nodes"]["t"][0] != 4:
        fail("html totals %d / %d, expected 4" % (data["total"], data["nodes"]["t"][0]))

    if shutil.which("xmllint"):
        run(["xmllint", "--noout", os.path.join(tmp, "out.svg")])
    root = ET.parse(os.path.join(tmp, "out.svg")).getroot()
    titles = [t.split(" (")[0] if not t.startswith("<") else t.split("\n")[0]
              for t, _, _ in svg_frames(root)]
    for name in HOSTILE:
        if not any(t.startswith(name) for t in titles):
            fail("svg titles %r lack %r" % (titles, name))
    print("hostile names survive speedscope, html and svg: %d frames" % len(names))


CASES = {"speedscope": case_speedscope, "svg": case_svg, "help": case_help,
         "hostile": case_hostile}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_formats.py {%s}" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] not in ("help", "hostile"):
        require_root()
    with tempfile.TemporaryDirectory() as d:
        CASES[sys.argv[1]](d)
