#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The investigation API of `kiln ui` over HTTP, fed by tests/ui/ui_feed through a real ring.

Cases: ranges (timeline, from/to, diff, sandwich and downloads agree with each other and
with the windows held; bad operands are 400 naming them), evictions (a slot over its byte
cap drops its oldest windows and counts them).
"""
import gzip
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import uitest as t  # noqa: E402

WID = "unit/alpha-beta.service"


def ring_name(case):
    return "uiinv-%s-%d" % (case, os.getpid())


def timeline(ui):
    return t.api(ui, "GET", t.slot_path(WID) + "/timeline")


def frozen_slot(ring, ui, feed, n):
    """Enables the slot, waits for N windows, stops the feed: the slot stops changing."""
    t.enable(ui, WID)
    t.wait_for("%d windows" % n, lambda: len(timeline(ui)["windows"]) >= n)
    t.stop_proc(feed)
    # The UI may still copy what the feed published last: wait until two reads agree.
    t.wait_for("a stable slot", lambda: timeline(ui) == timeline(ui))
    return timeline(ui)


def check_downloads(ui, total):
    base = t.slot_path(WID) + "/profile?format="
    st, _, _ = t.request(ui, "GET", base + "xml")
    if st != 400:
        t.fail("format=xml: %d, want 400" % st)
    st, h, body = t.request(ui, "GET", base + "folded")
    if st != 200 or "attachment" not in h.get("Content-Disposition", ""):
        t.fail("folded download: %d %s" % (st, h))
    lines = body.decode().splitlines()
    got = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
    if got != total or not any(line.endswith("__x64_sys_read_[k] " + line.rsplit(" ", 1)[1]) for line in lines):
        t.fail("folded: %d samples, want %d: %s" % (got, total, lines[:6]))
    st, _, body = t.request(ui, "GET", base + "pprof")
    if st != 200 or body[:2] != b"\x1f\x8b" or len(gzip.decompress(body)) < 100:
        t.fail("pprof download: %d, %d bytes" % (st, len(body)))
    # The OTLP download, posted back to the UI's own receiver, holds every sample.
    st, _, body = t.request(ui, "GET", base + "otlp")
    if st != 200 or not body:
        t.fail("otlp download: %d" % st)
    st, _, _ = t.request(ui, "POST", "/v1development/profiles", body,
                         {"Content-Type": "application/x-protobuf"})
    if st != 200:
        t.fail("the OTLP download refused by the receiver: %d" % st)
    st, _, m = t.request(ui, "GET", "/metrics")
    got = int(re.search(rb"^kiln_ui_otlp_samples_total (\d+)$", m, re.M).group(1))
    if got != total:
        t.fail("OTLP download: %d samples decoded, want %d" % (got, total))
    return len(lines)


def case_ranges():
    ring = ring_name("ranges")
    # --shared: `shared`, called from two places, with a kernel leaf.
    feed = t.start_feed(ring, [WID], mix="alpha=70,beta=30", interval_ms=50, extra=["--shared"])
    ui = t.start_ui(ring)
    try:
        t.wait_workload(ui, WID)
        tl = frozen_slot(ring, ui, feed, 12)
        w = tl["windows"]
        ts = [x["t"] for x in w]
        if ts != sorted(ts) or any(x["samples"] != 1300 or x["d"] != 50 for x in w):
            t.fail("timeline: %s" % w)
        if tl["max_bytes"] != 8388608 or tl["dropped"] != 0:
            t.fail("timeline bounds: %s" % {k: v for k, v in tl.items() if k != "windows"})
        all_ = sum(x["samples"] for x in w)
        fg = t.flamegraph(ui, WID)
        if fg["total"] != all_ or fg["windows"] != len(w):
            t.fail("flame graph %d samples in %d windows, timeline %d in %d" % (fg["total"], fg["windows"], all_, len(w)))
        mid = ts[len(ts) // 2]
        first = sum(x["samples"] for x in w if x["t"] < mid)
        sy = t.api(ui, "GET", t.slot_path(WID) + "/symbols?from=%d&to=%d" % (ts[0], mid))
        if sy["total"] != first or sy["windows"] != len(ts) // 2:
            t.fail("symbols of [%d, %d): %d samples in %d windows, want %d" % (ts[0], mid, sy["total"], sy["windows"], first))
        fr = t.api(ui, "GET", t.slot_path(WID) + "/flamegraph?from=%d&symbols=3" % mid)
        if fr["total"] != all_ - first or len(fr["symbols"]) != 3 or fr["to"] is not None:
            t.fail("flamegraph from %d with symbols: %s" % (mid, {k: v for k, v in fr.items() if k != "tree"}))
        for q in ("from=5&to=3", "from=abc", "to=-1"):
            st, _, b = t.request(ui, "GET", t.slot_path(WID) + "/flamegraph?" + q)
            if st != 400 or b"from/to" not in b:
                t.fail("flamegraph?%s: %d %s" % (q, st, b))

        # A diff of the two halves: the samples of both add up, shares of the same mix agree.
        enc = t.urllib.parse.quote(WID, safe="")
        d = t.api(ui, "GET", "/api/diff?a=%s%%40..%d&b=%s%%40%d..&limit=0" % (enc, mid, enc, mid))
        if d["a"]["total"] + d["b"]["total"] != all_ or d["a"]["windows"] + d["b"]["windows"] != len(w):
            t.fail("diff halves: %s %s" % (d["a"], d["b"]))
        rows = {r["name"]: r for r in d["symbols"]}
        if abs(rows["alpha"]["self_diff"]) > 0.001 or abs(rows["alpha"]["self_percent_a"] - 100 * 700 / 1300) > 0.01:
            t.fail("diff of one mix: %s" % rows["alpha"])
        for q, want in (("a=&b=x", 400), ("a=%40..5&b=x", 400), ("b=" + enc, 400),
                        ("a=%s&b=nope" % enc, 404), ("a=nope&b=%s" % enc, 404)):
            st, _, b = t.request(ui, "GET", "/api/diff?" + q)
            if st != want:
                t.fail("diff?%s: %d %s, want %d" % (q, st, b, want))

        # The sandwich of `shared`: in 300 of every 1300 samples, from left (200) and from
        # app.py:handler (100, under right).
        st, _, _ = t.request(ui, "GET", t.slot_path(WID) + "/sandwich")
        if st != 400:
            t.fail("sandwich without a name: %d" % st)
        s = t.api(ui, "GET", t.slot_path(WID) + "/sandwich?name=shared")
        callers = {c["name"]: c["total"] for c in s["callers"]["children"][0]["children"]}
        if s["total"] * 1300 != all_ * 300 or s["all"] != all_ or callers.get("left", 0) != 2 * callers.get("app.py:handler", -1):
            t.fail("sandwich: total %d of %d, callers %s" % (s["total"], s["all"], callers))
        st, _, body = t.request(ui, "GET", t.slot_path(WID) + "/profile?format=folded&from=%d" % mid)
        got = sum(int(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines())
        if st != 200 or got != all_ - first:
            t.fail("folded download from %d: %d samples, want %d" % (mid, got, all_ - first))
        nr = check_downloads(ui, all_)
        print("ranges ok: %d windows, %d samples, first half %d; diff, sandwich (%d of %d), "
              "folded (%d lines), pprof, OTLP round trip" % (len(w), all_, first, s["total"], all_, nr))
    finally:
        t.stop_proc(feed)
        if ui.stop() != 0:
            t.fail("kiln ui exit status on SIGTERM")


def case_evictions():
    ring = ring_name("evict")
    feed = t.start_feed(ring, [WID], mix="alpha=70,beta=30", interval_ms=20)
    ui = t.start_ui(ring, env={"PROFILES_SLOT_MAX_BYTES": "16384"})
    try:
        t.wait_workload(ui, WID)
        t.enable(ui, WID)
        tl = t.wait_for("dropped windows", lambda: (lambda x: x if x["dropped"] >= 5 else None)(timeline(ui)))
        if tl["bytes"] > 16384 or tl["max_bytes"] != 16384 or not tl["windows"]:
            t.fail("over the cap: %s" % {k: v for k, v in tl.items() if k != "windows"})
        st, _, m = t.request(ui, "GET", "/metrics")
        got = int(re.search(rb"^kiln_ui_chunks_dropped_total (\d+)$", m, re.M).group(1))
        if got < tl["dropped"]:
            t.fail("kiln_ui_chunks_dropped_total %d < the slot's %d" % (got, tl["dropped"]))
        print("evictions ok: %d windows held in %d bytes, %d dropped" % (len(tl["windows"]), tl["bytes"], tl["dropped"]))
    finally:
        t.stop_proc(feed)
        if ui.stop() != 0:
            t.fail("kiln ui exit status on SIGTERM")


def case_two_slots():
    """A diff of two slots: same mix, so no function changes share; each side its own id."""
    ring = ring_name("two")
    other = "unit/other.service"
    feed = t.start_feed(ring, [WID, other], mix="alpha=70,beta=30", interval_ms=50)
    ui = t.start_ui(ring)
    try:
        t.wait_workload(ui, WID)
        t.wait_workload(ui, other)
        t.enable(ui, other)
        frozen_slot(ring, ui, feed, 10)
        enc = [t.urllib.parse.quote(x, safe="") for x in (WID, other)]
        d = t.api(ui, "GET", "/api/diff?a=%s&b=%s" % tuple(enc))
        if d["a"]["id"] != WID or d["b"]["id"] != other or not d["a"]["total"] or not d["b"]["total"]:
            t.fail("two slots: %s %s" % (d["a"], d["b"]))
        rows = {r["name"]: r for r in d["symbols"]}
        for name, want in (("alpha", 70.0), ("beta", 30.0)):
            r = rows[name]
            if abs(r["self_percent_a"] - want) > 0.01 or abs(r["self_percent_b"] - want) > 0.01 or abs(r["self_diff"]) > 0.01:
                t.fail("two slots, %s: %s" % (name, r))
        print("two slots ok: %d vs %d samples, alpha %.2f %% on both sides" % (d["a"]["total"], d["b"]["total"], rows["alpha"]["self_percent_a"]))
    finally:
        t.stop_proc(feed)
        if ui.stop() != 0:
            t.fail("kiln ui exit status on SIGTERM")


CASES = {"ranges": case_ranges, "evictions": case_evictions, "two-slots": case_two_slots}

if __name__ == "__main__":
    CASES[sys.argv[1]]()
