#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`kiln ui` through its HTTP API, fed by tests/ui/ui_feed through a real shm ring.

Cases: shares (known 70/30 mix, ±3 %), recursion (Total <= 100 %), slots (enable/clear/
disable, LRU eviction by PROFILES_MAX_SLOTS), bad-input (4xx with JSON, never a crash),
config (invalid PROFILES_* and a taken port refuse to start), metrics, signal (exit 0).
"""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import uitest as t  # noqa: E402


def ring_name(case):
    return "uitest-%s-%d" % (case, os.getpid())


def case_shares():
    ring = ring_name("shares")
    feed = t.start_feed(ring, ["unit/alpha-beta.service"], mix="alpha=70,beta=30")
    ui = t.start_ui(ring)
    try:
        w = t.wait_workload(ui, "unit/alpha-beta.service")
        if w["slot"] or w["rate"] <= 0:
            t.fail("workload before enabling: %s" % w)
        if t.api(ui, "GET", t.slot_path(w["id"]) + "/flamegraph", want=(404,)) is None:
            t.fail("no JSON error for a workload without slot")
        t.enable(ui, w["id"])
        fg = t.wait_samples(ui, w["id"], 20000)
        t.check_tree(fg["tree"])
        sh = t.self_shares(fg)
        for name, want in (("alpha", 0.70), ("beta", 0.30)):
            if abs(sh.get(name, 0) - want) > 0.03:
                t.fail("flame graph share of %s: %.3f, want %.2f ± 0.03" % (name, sh.get(name, 0), want))
        rows = t.symbol_rows(t.symbols(ui, w["id"], "self"))
        for name, want in (("alpha", 70.0), ("beta", 30.0)):
            if abs(rows[name]["self_percent"] - want) > 3:
                t.fail("symbols self %% of %s: %s" % (name, rows[name]))
        if abs(rows["work"]["total_percent"] - 100) > 0.01 or rows["work"]["self"] != 0:
            t.fail("symbols work: %s" % rows["work"])
        sy = t.symbols(ui, w["id"], "total", limit=2)
        if [r["name"] for r in sy["symbols"]] != ["main", "work"] or sy["nr_symbols"] != 4:
            t.fail("symbols sorted by total, limit 2: %s" % sy)
        w = t.wait_workload(ui, lambda x: x["id"] == "unit/alpha-beta.service" and x["slot"])
        print("shares ok: alpha %.3f beta %.3f, %d samples, rate %.0f/s"
              % (sh["alpha"], sh["beta"], fg["total"], w["rate"]))
    finally:
        t.stop_proc(feed)
        if ui.stop() != 0:
            t.fail("kiln ui exit status on SIGTERM")


def case_recursion():
    ring = ring_name("rec")
    feed = t.start_feed(ring, ["rec/x"], recursive=True)
    ui = t.start_ui(ring)
    try:
        t.wait_workload(ui, "rec/x")
        t.enable(ui, "rec/x")
        t.wait_samples(ui, "rec/x", 5000)
        rows = t.symbol_rows(t.symbols(ui, "rec/x", "total"))
        for r in rows.values():
            if r["total_percent"] > 100.0:
                t.fail("Total above 100 %%: %s" % r)
        for name in ("a", "b", "leaf", "main"):
            if abs(rows[name]["total_percent"] - 100.0) > 1e-6:
                t.fail("recursive %s: Total %s, want exactly 100 %%" % (name, rows[name]))
        print("recursion ok: %s" % {k: v["total_percent"] for k, v in rows.items()})
    finally:
        t.stop_proc(feed)
        ui.stop()


def case_slots():
    ring = ring_name("slots")
    keys = ["k8s/shop/deployment/w%d" % i for i in range(3)]
    feed = t.start_feed(ring, keys, mix="f=100", samples=10)
    ui = t.start_ui(ring, env={"PROFILES_MAX_SLOTS": "2"})
    try:
        for k in keys:
            t.wait_workload(ui, k)
        t.enable(ui, keys[0])
        t.enable(ui, keys[1])
        # A read of w0 makes w1 the least recently requested: enabling w2 evicts w1.
        t.flamegraph(ui, keys[0])
        t.enable(ui, keys[2])
        open_ids = {s["id"] for s in t.api(ui, "GET", "/api/slots")["slots"]}
        if open_ids != {keys[0], keys[2]}:
            t.fail("after LRU eviction: %s" % open_ids)
        t.wait_samples(ui, keys[2], 10)
        t.api(ui, "POST", t.slot_path(keys[2]) + "/clear")
        if t.flamegraph(ui, keys[2])["chunks"] > 2:
            t.fail("clear left chunks")
        t.api(ui, "DELETE", t.slot_path(keys[2]))
        t.api(ui, "GET", t.slot_path(keys[2]) + "/symbols", want=(404,))
        # Raw slashes in the id work too.
        t.api(ui, "GET", "/api/slots/" + keys[0] + "/flamegraph")
        m = t.request(ui, "GET", "/metrics")[2].decode()
        for want in ("kiln_ui_slots 1\n", "kiln_ui_slot_evictions_total 1\n",
                     "kiln_ui_slot_closed_total 1\n", 'kiln_ui_http_requests_total{code="404"} 1\n',
                     "kiln_ui_ring_attached 1\n"):
            if want not in m:
                t.fail("metrics lack %r:\n%s" % (want, m))
        print("slots ok")
    finally:
        t.stop_proc(feed)
        ui.stop()


def case_bad_input():
    ring = ring_name("bad")
    feed = t.start_feed(ring, ["unit/a.service"], mix="f=100", samples=10)
    ui = t.start_ui(ring)
    try:
        t.wait_workload(ui, "unit/a.service")
        t.enable(ui, "unit/a.service")
        sp = t.slot_path("unit/a.service")
        cases = [
            ("POST", "/api/slots/unknown%2Fworkload", None, {}, 404),
            ("GET", "/api/slots/nope/flamegraph", None, {}, 404),
            ("GET", "/api/nothing", None, {}, 404),
            ("GET", "/../../etc/passwd", None, {}, 404),
            ("PUT", sp, None, {}, 405),
            ("POST", "/api/workloads", b"{}", {}, 405),
            ("GET", "/api/slots/a%zz", None, {}, 400),
            ("POST", "/api/slots/a%00b", None, {}, 400),
            ("GET", "/api/slots/" + "x" * 2000, None, {}, 400),
            ("GET", sp + "/flamegraph?max_nodes=1", None, {}, 400),
            ("GET", sp + "/flamegraph?max_nodes=abc", None, {}, 400),
            ("GET", sp + "/symbols?sort=name", None, {}, 400),
            ("GET", sp + "/symbols?limit=-1", None, {}, 400),
            ("POST", sp, b"x" * 100000, {"Content-Type": "application/json"}, 413),
            ("GET", "/v1development/profiles", None, {}, 405),
            ("POST", "/v1development/profiles", b"{}", {"Content-Type": "application/json"}, 415),
            ("POST", "/v1development/profiles", b"\x00", {"Content-Type": "application/x-protobuf",
                                                         "Content-Encoding": "br"}, 415),
            ("POST", "/v1development/profiles", b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 400),
            ("POST", "/v1development/profiles", b"not gzip", {"Content-Type": "application/x-protobuf",
                                                             "Content-Encoding": "gzip"}, 400),
            ("POST", "/v1development/profiles", b"\x00" * (17 << 20), {"Content-Type": "application/x-protobuf"}, 413),
            ("POST", "/v1development/profiles", t.gzip_bytes(b"\x00" * (65 << 20)),
             {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 413),
        ]
        for method, path, body, hdrs, want in cases:
            status, h, b = t.request(ui, method, path, body, hdrs)
            if status != want:
                t.fail("%s %s: %d, want %d: %s" % (method, path[:80], status, want, b[:200]))
            if path.startswith("/api") and status >= 400:
                err = json.loads(b)
                if not err.get("error"):
                    t.fail("%s %s: no error message" % (method, path[:80]))
        # Raw, malformed HTTP on the socket: the server answers or closes, and lives on.
        host, port = ui.base[len("http://"):].rsplit(":", 1)
        for junk in (b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                     b"POST /v1development/profiles HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"):
            s = socket.create_connection((host, int(port)), timeout=5)
            # The server may answer and close before all of it is sent: that is fine.
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.recv(4096)
            except OSError:
                pass
            s.close()
        t.api(ui, "GET", sp + "/flamegraph")
        if ui.proc.poll() is not None:
            t.fail("kiln ui died")
        print("bad input ok: %d cases" % len(cases))
    finally:
        t.stop_proc(feed)
        if ui.stop() != 0:
            t.fail("kiln ui exit status")


def case_config():
    for var, val in (("PROFILES_MAX_SLOTS", "0"), ("PROFILES_SLOT_TTL_SECONDS", "soon"),
                     ("PROFILES_SLOT_MAX_BYTES", "-5"), ("PROFILES_CLEANUP_INTERVAL_SECONDS", "")):
        env = dict(os.environ)
        env[var] = val
        p = subprocess.run([t.KILN, "ui", "--listen", "127.0.0.1:0", "--ring", "none"],
                           capture_output=True, text=True, env=env, timeout=10)
        if p.returncode == 0 or var not in p.stderr:
            t.fail("%s=%r: status %d, stderr %r" % (var, val, p.returncode, p.stderr))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    p = subprocess.run([t.KILN, "ui", "--listen", "127.0.0.1:%d" % port, "--ring", "none"],
                       capture_output=True, text=True, timeout=10)
    busy.close()
    if p.returncode == 0 or "in use" not in p.stderr:
        t.fail("taken port: status %d, stderr %r" % (p.returncode, p.stderr))
    for bad in ("7070", "localhost", "::1:7070", "127.0.0.1:99999"):
        p = subprocess.run([t.KILN, "ui", "--listen", bad, "--ring", "none"],
                           capture_output=True, text=True, timeout=10)
        if p.returncode == 0 or "--listen" not in p.stderr:
            t.fail("--listen %s: status %d, stderr %r" % (bad, p.returncode, p.stderr))
    # IPv6 loopback, when the host has it.
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
        have6 = True
    except OSError:
        have6 = False
    if have6:
        ui = t.start_ui("none", listen="[::1]:0")
        if not ui.base.startswith("http://[::1]:"):
            t.fail("IPv6 address: " + ui.base)
        t.api(ui, "GET", "/api/workloads")
        if ui.stop() != 0:
            t.fail("exit status")
    print("config ok (IPv6 %s)" % ("tested" if have6 else "not available"))


def otlp_body(*args):
    return subprocess.run([os.path.join(t.BUILD, "tests", "ui", "otlp_req")] + list(args),
                          capture_output=True, check=True).stdout


def post_otlp(ui, body, gz=True, want=200):
    hdrs = {"Content-Type": "application/x-protobuf"}
    if gz:
        hdrs["Content-Encoding"] = "gzip"
    status, h, b = t.request(ui, "POST", "/v1development/profiles", body, hdrs)
    if status != want:
        t.fail("OTLP POST: %d, want %d: %r" % (status, want, b[:200]))
    if h.get("Content-Type") != "application/x-protobuf":
        t.fail("OTLP answer content type: %s" % h)
    return b


def case_otlp():
    """The receiver: a hand-built ExportProfilesServiceRequest lands in a slot as chunks."""
    ui = t.start_ui(ring_name("otlp-noring"))
    try:
        if post_otlp(ui, otlp_body("--plain"), gz=False) != b"":
            t.fail("a full success answers an empty ExportProfilesServiceResponse")
        w = t.wait_workload(ui, "service/otlp-svc")
        if w["source"] != "otlp" or w["name"] != "otlp-svc":
            t.fail("OTLP workload: %s" % w)
        t.enable(ui, w["id"])
        body = otlp_body("--samples", "1000")
        for _ in range(3):
            post_otlp(ui, body)
        fg = t.flamegraph(ui, w["id"])
        t.check_tree(fg["tree"])
        if fg["total"] != 3000 or fg["chunks"] != 3:
            t.fail("OTLP slot: total %d chunks %d, want 3000 / 3" % (fg["total"], fg["chunks"]))
        sh = t.self_shares(fg)
        if abs(sh["alpha"] - 0.7) > 1e-9 or abs(sh["beta"] - 0.3) > 1e-9:
            t.fail("OTLP shares: %s" % sh)
        rows = t.symbol_rows(t.symbols(ui, w["id"]))
        if rows["alpha"]["self_percent"] != 70.0 or rows["work"]["total_percent"] != 100.0:
            t.fail("OTLP symbols: %s" % rows)
        # Kubernetes identity becomes the seed product's namespace/kind/name key.
        post_otlp(ui, otlp_body("--k8s", "shop/api", "--recursive"))
        w = t.wait_workload(ui, "k8s/shop/deployment/api")
        if w["namespace"] != "shop" or w["workload_kind"] != "deployment":
            t.fail("k8s identity: %s" % w)
        t.enable(ui, w["id"])
        post_otlp(ui, otlp_body("--k8s", "shop/api", "--recursive"))
        for r in t.symbols(ui, w["id"], "total")["symbols"]:
            if r["total_percent"] > 100.0:
                t.fail("Total above 100 %%: %s" % r)
        # Bad bodies: 400 with a google.rpc.Status, and the server lives on.
        good = otlp_body("--plain")
        post_otlp(ui, good[: len(good) // 2], gz=False, want=400)
        post_otlp(ui, t.gzip_bytes(good)[:-9], want=400)
        m = t.request(ui, "GET", "/metrics")[2].decode()
        for want in ("kiln_ui_otlp_requests_total 6\n", "kiln_ui_otlp_rejected_total 2\n",
                     "kiln_ui_otlp_profiles_total 6\n"):
            if want not in m:
                t.fail("metrics lack %r" % want)
        print("otlp ok: %d samples, alpha %.3f" % (fg["total"], sh["alpha"]))
    finally:
        if ui.stop() != 0:
            t.fail("exit status")


def raw(base, method, path, host=None, headers=None, body=None):
    """One request over loopback with an exact Host header. Returns (status, headers, body)."""
    import http.client
    hp = base.split("://")[1]
    addr, port = hp.rsplit(":", 1)
    c = http.client.HTTPConnection(addr.strip("[]"), int(port), timeout=10)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host if host is not None else hp)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(body or b"")))
        c.endheaders(body or b"")
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def expect(what, got, want):
    if got[0] != want:
        t.fail("%s: %d, want %d: %r" % (what, got[0], want, got[2][:200]))
    for k in got[1]:
        if k.startswith("access-control-"):
            t.fail("%s: a CORS header was sent: %s" % (what, k))
    return got


def refused(ui, reason):
    m = t.request(ui, "GET", "/metrics")[2].decode()
    key = 'kiln_ui_requests_refused_total{reason="%s"} ' % reason
    for line in m.splitlines():
        if line.startswith(key):
            return int(line.split()[-1])
    t.fail("metrics lack %s" % key)


def case_guard():
    """Host (DNS rebinding), same-origin proof for state changes, no CORS; each refusal counted."""
    ring = ring_name("guard")
    wid = "unit/guard.service"
    feed = t.start_feed(ring, [wid], mix="f=100", samples=10)
    ui = t.start_ui(ring, args=["--allow-host", "kiln.test", "--allow-host", "proxy.test:8443"])
    try:
        t.wait_workload(ui, wid)
        hp = ui.base.split("://")[1]
        port = hp.rsplit(":", 1)[1]
        sp = t.slot_path(wid)
        # Host: the names this UI serves pass; a rebound name, another port, garbage do not.
        # Any port: a tunnel (ssh -L 8080:127.0.0.1:PORT) changes it, an attacker does not.
        for host in (hp, "localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port, "127.0.0.1",
                     "localhost:8080", "127.0.0.1:1", "kiln.test:" + port, "kiln.test",
                     "proxy.test:8443"):
            expect("GET with Host %s" % host, raw(ui.base, "GET", "/api/workloads", host), 200)
        bad_hosts = ("rebind.test:" + port, "evil.example", "localhost.evil.example:" + port,
                     "localhost:" + port + "x",
                     "proxy.test:" + port, "10.1.2.3:" + port, "[::1", "")
        for host in bad_hosts:
            r = expect("GET with Host %r" % host, raw(ui.base, "GET", "/api/workloads", host), 421)
            if b"--allow-host" not in r[2]:
                t.fail("421 body does not say how to allow a name: %r" % r[2])
        expect("page with a rebound Host", raw(ui.base, "GET", "/", "rebind.test:" + port), 421)
        expect("POST with a rebound Host",
               raw(ui.base, "POST", sp, "rebind.test:" + port, {"X-Kiln-Request": "1"}), 421)
        # Liveness needs no proof of anything.
        expect("healthz with a foreign Host", raw(ui.base, "GET", "/healthz", "evil.example"), 200)

        # State changes: X-Kiln-Request, and an Origin (when sent) equal to ours.
        expect("POST without X-Kiln-Request", raw(ui.base, "POST", sp), 403)
        expect("POST form-like", raw(ui.base, "POST", sp, None,
                                     {"Content-Type": "application/x-www-form-urlencoded",
                                      "Origin": "http://evil.example"}, b"a=1"), 403)
        expect("POST from another origin",
               raw(ui.base, "POST", sp, None, {"X-Kiln-Request": "1", "Origin": "http://evil.example"}), 403)
        expect("POST from another port",
               raw(ui.base, "POST", sp, None, {"X-Kiln-Request": "1", "Origin": "http://127.0.0.1:1"}), 403)
        expect("POST with Origin null",
               raw(ui.base, "POST", sp, None, {"X-Kiln-Request": "1", "Origin": "null"}), 403)
        expect("DELETE without X-Kiln-Request", raw(ui.base, "DELETE", sp), 403)
        expect("clear without X-Kiln-Request", raw(ui.base, "POST", sp + "/clear"), 403)
        expect("preflight", raw(ui.base, "OPTIONS", sp, None,
                                {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "x-kiln-request"}), 403)
        expect("OTLP from another origin",
               raw(ui.base, "POST", "/v1development/profiles", None,
                   {"Content-Type": "application/x-protobuf", "Origin": "http://evil.example"}, b""), 403)
        if t.api(ui, "GET", "/api/slots")["slots"]:
            t.fail("a refused request opened a slot")
        # The same from the UI's own page (its Origin), and from a tool without an Origin.
        expect("POST from our page",
               raw(ui.base, "POST", sp, None, {"X-Kiln-Request": "1", "Origin": "http://" + hp}), 201)
        expect("POST from our page by name",
               raw(ui.base, "POST", sp, "localhost:" + port,
                   {"X-Kiln-Request": "1", "Origin": "http://localhost:" + port}), 200)
        expect("clear from a tool", raw(ui.base, "POST", sp + "/clear", None, {"X-Kiln-Request": "1"}), 200)
        expect("DELETE from a tool", raw(ui.base, "DELETE", sp, None, {"X-Kiln-Request": "1"}), 200)
        want = {"host": len(bad_hosts) + 2, "origin": 6, "header": 3, "token": 0}
        got = {k: refused(ui, k) for k in want}
        if got != want:
            t.fail("refusal counters %s, want %s" % (got, want))
        print("guard ok: %s" % got)
    finally:
        t.stop_proc(feed)
        ui.stop()


def case_token():
    """An access token: required everywhere but /healthz, by header, cookie or /?token= login."""
    import tempfile
    token = "k" * 8 + os.urandom(16).hex()
    with tempfile.NamedTemporaryFile("w", suffix=".token") as f:
        f.write(token + "\n")
        f.flush()
        ring = ring_name("token")
        p = subprocess.Popen([t.KILN, "ui", "--ring", ring, "--listen", "127.0.0.1:0", "--token-file",
                              f.name, "-vv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = p.stdout.readline().decode()
        if "listening on http://" not in line:
            p.kill()
            t.fail("kiln ui with a token did not start: %s %s" % (line, p.stderr.read().decode()))
        ui = t.UI(p, line.split("listening on ")[1].split()[0].rstrip("/"))
        try:
            said = p.stdout.readline().decode()
            if "access token required" not in said:
                t.fail("start does not say a token is required: %r" % said)
            r = expect("no token", raw(ui.base, "GET", "/api/workloads"), 401)
            if "bearer" not in r[1].get("www-authenticate", "").lower():
                t.fail("401 without WWW-Authenticate: %s" % r[1])
            expect("page without token", raw(ui.base, "GET", "/"), 401)
            expect("metrics without token", raw(ui.base, "GET", "/metrics"), 401)
            expect("wrong token", raw(ui.base, "GET", "/api/workloads", None,
                                      {"Authorization": "Bearer " + token[:-1] + "x"}), 401)
            expect("prefix of the token", raw(ui.base, "GET", "/api/workloads", None,
                                              {"Authorization": "Bearer " + token[:-1]}), 401)
            expect("wrong login", raw(ui.base, "GET", "/?token=nope" + token), 401)
            expect("healthz", raw(ui.base, "GET", "/healthz"), 200)
            expect("bearer", raw(ui.base, "GET", "/api/workloads", None,
                                 {"Authorization": "Bearer " + token}), 200)
            r = expect("login", raw(ui.base, "GET", "/?token=" + token), 303)
            cookie = r[1].get("set-cookie", "")
            if r[1].get("location") != "/" or "HttpOnly" not in cookie or "SameSite=Strict" not in cookie:
                t.fail("login answer: %s" % r[1])
            jar = cookie.split(";")[0]
            expect("page with the cookie", raw(ui.base, "GET", "/", None, {"Cookie": jar}), 200)
            expect("API with the cookie", raw(ui.base, "GET", "/api/slots", None, {"Cookie": "a=b; " + jar}), 200)
            # The token does not replace the same-origin proof.
            expect("POST with cookie, no proof", raw(ui.base, "POST", "/api/slots/x", None, {"Cookie": jar}), 403)
            ui.token = token
            got = refused(ui, "token")
            if got != 6:
                t.fail("token refusals counted %d, want 6" % got)
        finally:
            code = ui.stop()
            out, err = p.communicate()
        if token.encode() in out + err:
            t.fail("the token appears in kiln ui's output")
        if code != 0:
            t.fail("exit status %d" % code)
    # From the environment, and a short one refused at start naming its source.
    ui = t.start_ui(ring_name("token-env"), env={"KILN_UI_TOKEN": token})
    try:
        expect("env token", raw(ui.base, "GET", "/api/slots", None, {"Authorization": "Bearer " + token}), 200)
        expect("env token missing", raw(ui.base, "GET", "/api/slots"), 401)
    finally:
        ui.stop()
    r = subprocess.run([t.KILN, "ui", "--ring", ring_name("short"), "--listen", "127.0.0.1:0"],
                       env=dict(os.environ, KILN_UI_TOKEN="short"), capture_output=True, timeout=10)
    if r.returncode == 0 or b"KILN_UI_TOKEN" not in r.stderr or b"short" in r.stderr:
        t.fail("a short token: %d %r" % (r.returncode, r.stderr))
    print("token ok")


def case_listen():
    """A non-loopback address needs a token or --insecure-listen, and says which at start."""
    env = {k: v for k, v in os.environ.items() if k != "KILN_UI_TOKEN"}
    r = subprocess.run([t.KILN, "ui", "--ring", ring_name("listen"), "--listen", "0.0.0.0:0"],
                       env=env, capture_output=True, timeout=10)
    err = r.stderr.decode()
    if r.returncode == 0 or "--token-file" not in err or "KILN_UI_TOKEN" not in err \
            or "--insecure-listen" not in err:
        t.fail("0.0.0.0 without a token: exit %d, %r" % (r.returncode, err))
    p = subprocess.Popen([t.KILN, "ui", "--ring", ring_name("listen"), "--listen", "0.0.0.0:0",
                          "--insecure-listen"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = p.stdout.readline().decode()
    ui = t.UI(p, line.split("listening on ")[1].split()[0].rstrip("/").replace("0.0.0.0", "127.0.0.1"))
    try:
        warn = p.stdout.readline().decode()
        if "WARNING" not in warn or "insecure" not in warn:
            t.fail("--insecure-listen does not say so at start: %r" % warn)
        port = ui.base.rsplit(":", 1)[1]
        # Bound to a wildcard: any address literal of this machine is its own name.
        expect("IP literal on a wildcard", raw(ui.base, "GET", "/api/slots", "192.0.2.7:" + port), 200)
        expect("a name on a wildcard", raw(ui.base, "GET", "/api/slots", "rebind.test:" + port), 421)
    finally:
        ui.stop()
    tok = os.urandom(16).hex()
    ui = t.start_ui(ring_name("listen"), listen="0.0.0.0:0", env={"KILN_UI_TOKEN": tok})
    ui.stop()
    print("listen ok")


CASES = {"guard": case_guard, "token": case_token, "listen": case_listen, "otlp": case_otlp, "shares": case_shares, "recursion": case_recursion, "slots": case_slots,
         "bad-input": case_bad_input, "config": case_config}

if __name__ == "__main__":
    if not os.path.exists(t.KILN) or not os.path.exists(t.FEED):
        t.fail("build kiln and tests/ui/ui_feed first")
    CASES[sys.argv[1]]()
