#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/ as a cluster or a node would take it: every manifest and values file parses as
YAML; the Helm chart renders (tests/deploy/helmlite.py) into objects that parse; the
DaemonSets (plain and rendered) keep the agent the only privileged container (hostPID, not
privileged, capabilities exactly docs/deployment.md's list) and the exporter and UI
non-root without capabilities; every kiln.yaml shipped or rendered passes `kiln config
check`; the systemd units give the agent exactly the documented capabilities, the others
none, and pass `systemd-analyze verify` where it runs."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import helmlite  # noqa: E402
from checklist import check, verdict  # noqa: E402

SRC = os.environ.get("KILN_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
KILN = os.environ.get("KILN", os.path.join(SRC, "build", "kiln"))
DEPLOY = os.path.join(SRC, "deploy")
CHART = os.path.join(DEPLOY, "helm", "kiln")


def documented_caps():
    """The capability names of the table under "## Capabilities of the agent"."""
    with open(os.path.join(SRC, "docs", "deployment.md")) as f:
        text = f.read()
    m = re.search(r"^## Capabilities of the agent\n(.*?)(?=^##)", text, re.S | re.M)
    if not m:
        sys.exit("docs/deployment.md: no '## Capabilities of the agent' section")
    caps = re.findall(r"^\| `CAP_([A-Z_]+)` \|", m.group(1), re.M)
    if not caps:
        sys.exit("docs/deployment.md: no capability rows in its table")
    return set(caps)


def supervisor_caps():
    """The capabilities docs/deployment.md lists for `kiln run` on top of the agent's."""
    with open(os.path.join(SRC, "docs", "deployment.md")) as f:
        text = f.read()
    m = re.search(r"^### What `kiln run` adds\n(.*?)(?=^##)", text, re.S | re.M)
    caps = set(re.findall(r"^\| `CAP_([A-Z_]+)` \|", m.group(1), re.M)) if m else set()
    if not caps:
        sys.exit("docs/deployment.md: no capability table under '### What `kiln run` adds'")
    return caps


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def config_check(text, what):
    """`kiln config check` on TEXT must exit 0 and say ok."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="kiln-deploy-") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([KILN, "config", "check", f.name], capture_output=True, text=True)
    ok = r.returncode == 0 and r.stdout.startswith(f.name + ": ok")
    check(ok, "%s: kiln config check exit %d: %s%s" % (what, r.returncode, r.stdout, r.stderr))
    return r.stdout


def kiln_yaml_of(docs, what):
    cms = [d for d in docs if d.get("kind") == "ConfigMap" and "kiln.yaml" in d.get("data", {})]
    check(len(cms) == 1, "%s: want one ConfigMap with kiln.yaml, got %d" % (what, len(cms)))
    return cms[0]["data"]["kiln.yaml"] if cms else ""


def containers_by_name(pod_spec):
    return {c["name"]: c for c in pod_spec.get("containers", [])}


def added_caps(c):
    return set(((c.get("securityContext") or {}).get("capabilities") or {}).get("add") or [])


def check_unprivileged(c, pod_sc, what):
    sc = c.get("securityContext") or {}
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    check(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True,
          "%s: runAsNonRoot is not true" % what)
    check(uid not in (None, 0), "%s: runAsUser %r is not a non-root uid" % (what, uid))
    check(not sc.get("privileged"), "%s: privileged" % what)
    check(sc.get("allowPrivilegeEscalation") is False, "%s: allowPrivilegeEscalation" % what)
    check(not added_caps(c), "%s: adds capabilities %s" % (what, added_caps(c)))
    caps = sc.get("capabilities") or {}
    check(caps.get("drop") == ["ALL"], "%s: does not drop ALL capabilities" % what)


def mounts(c):
    return {m["mountPath"]: m for m in c.get("volumeMounts", [])}


# What deploy/image/build.sh tags by default: kiln:VERSION of the CMake project.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "CMakeLists.txt")) as _f:
    IMAGE = "kiln:" + re.search(r"project\(kiln VERSION ([0-9.]+)", _f.read()).group(1)


def check_daemonset(docs, caps, what, want_exporter=True, want_ui=True, image=IMAGE):
    dss = [d for d in docs if d.get("kind") == "DaemonSet"]
    if not check(len(dss) == 1, "%s: want one DaemonSet, got %d" % (what, len(dss))):
        return
    spec = dss[0]["spec"]["template"]["spec"]
    pod_sc = spec.get("securityContext") or {}
    check(spec.get("hostPID") is True, "%s: hostPID is not true" % what)
    check(not spec.get("hostNetwork"), "%s: hostNetwork" % what)
    cs = containers_by_name(spec)
    want = {"agent"} | ({"exporter"} if want_exporter else set()) | ({"ui"} if want_ui else set())
    check(set(cs) == want, "%s: containers %s, want %s" % (what, sorted(cs), sorted(want)))
    for name, c in cs.items():
        check(c.get("image") == image, "%s: container %s runs image %r, want %r (the one "
              "deploy/image/build.sh builds)" % (what, name, c.get("image"), image))
    if "agent" in cs:
        prof = (cs["agent"].get("securityContext") or {}).get("seccompProfile") or {}
        check(prof.get("type") == "Unconfined", "%s: agent seccompProfile %r, want Unconfined "
              "(runtimes' defaults forbid io_uring: docs/deployment.md)" % (what, prof))
    vols = {v["name"]: v for v in spec.get("volumes", [])}

    agent = cs.get("agent")
    if agent:
        sc = agent.get("securityContext") or {}
        check(sc.get("privileged") is False, "%s: agent privileged is not false" % what)
        check((sc.get("capabilities") or {}).get("drop") == ["ALL"],
              "%s: agent does not drop ALL" % what)
        check(added_caps(agent) == caps, "%s: agent adds %s, docs/deployment.md lists %s"
              % (what, sorted(added_caps(agent)), sorted(caps)))
        m = mounts(agent)
        for path in ("/sys/kernel/btf", "/sys/fs/cgroup", "/var/log/pods"):
            check(path in m and m[path].get("readOnly") is True,
                  "%s: agent lacks a read-only mount of %s" % (what, path))
            if path in m:
                hp = vols.get(m[path]["name"], {}).get("hostPath", {})
                check(hp.get("path") == path, "%s: %s is not the host's %s" % (what, path, path))
    for name in ("exporter", "ui"):
        if name in cs:
            check_unprivileged(cs[name], pod_sc, "%s: %s" % (what, name))
    # One memory-backed volume at /dev/shm, shared by every container.
    shm = {mounts(c).get("/dev/shm", {}).get("name") for c in cs.values()}
    check(len(shm) == 1 and None not in shm, "%s: /dev/shm not shared by all: %s" % (what, shm))
    if len(shm) == 1 and None not in shm:
        ed = vols.get(shm.pop(), {}).get("emptyDir")
        check(ed is not None and ed.get("medium") == "Memory",
              "%s: /dev/shm is not an emptyDir with medium Memory" % what)
    for c in cs.values():
        check(not (c.get("securityContext") or {}).get("privileged"),
              "%s: %s is privileged" % (what, c["name"]))
    # The ring's group is the pod's fsGroup: every container is in it.
    cfg = yaml.safe_load(kiln_yaml_of(docs, what)) or {}
    group = str((cfg.get("ring") or {}).get("group", ""))
    check(group == str(pod_sc.get("fsGroup")),
          "%s: ring.group %r is not the pod's fsGroup %r" % (what, group, pod_sc.get("fsGroup")))
    if want_ui:
        svcs = [d for d in docs if d.get("kind") == "Service"]
        check(len(svcs) == 1 and svcs[0]["spec"].get("type") == "ClusterIP",
              "%s: want one ClusterIP Service for the UI" % what)
        if svcs:
            ports = {p["name"]: p for p in cs["ui"].get("ports", [])}
            tp = svcs[0]["spec"]["ports"][0]["targetPort"]
            check(tp in ports, "%s: Service targetPort %r is no UI port" % (what, tp))
            listen = ((cfg.get("profiling") or {}).get("ui") or {}).get("listen", "")
            check(tp in ports and listen.endswith(":%d" % ports[tp]["containerPort"]),
                  "%s: UI listens on %r, the container port is %r" % (what, listen, ports))
        env = {e["name"]: e.get("value") for e in cs["ui"].get("env", [])}
        for var, default in (("PROFILES_MAX_SLOTS", "24"), ("PROFILES_SLOT_TTL_SECONDS", "120"),
                             ("PROFILES_SLOT_MAX_BYTES", "8388608"),
                             ("PROFILES_CLEANUP_INTERVAL_SECONDS", "15")):
            check(env.get(var) == default, "%s: ui env %s=%r, want %r"
                  % (what, var, env.get(var), default))


def unit_settings(path):
    """{key: [values]} of a unit file's [Service] section."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                k, _, v = line.partition("=")
                out.setdefault(k, []).append(v)
    return out


def cap_set(values):
    return {c[4:] for v in values or [] for c in v.split() if c.startswith("CAP_")}


def check_systemd(caps):
    sd = os.path.join(DEPLOY, "systemd")
    agent = unit_settings(os.path.join(sd, "kiln-agent.service"))
    check(cap_set(agent.get("CapabilityBoundingSet")) == caps,
          "kiln-agent.service: CapabilityBoundingSet %s, docs list %s"
          % (sorted(cap_set(agent.get("CapabilityBoundingSet"))), sorted(caps)))
    check(cap_set(agent.get("AmbientCapabilities")) == caps,
          "kiln-agent.service: AmbientCapabilities differ from the docs")
    check(agent.get("User", ["root"])[0] != "root", "kiln-agent.service: runs as root")
    run = unit_settings(os.path.join(sd, "kiln.service"))
    check(cap_set(run.get("CapabilityBoundingSet")) == caps | supervisor_caps(),
          "kiln.service: bounding set %s is not the agent's plus kiln run's %s"
          % (sorted(cap_set(run.get("CapabilityBoundingSet"))), sorted(supervisor_caps())))
    check("run" in run.get("ExecStart", [""])[0].split() and
          "/etc/kiln/kiln.yaml" in run.get("ExecStart", [""])[0],
          "kiln.service: does not run `kiln run --config /etc/kiln/kiln.yaml`")
    # Settings that would break the agent: kallsyms hidden, CAP_SYSLOG dropped, processes
    # hidden, the ring hidden or removed.
    for name, u in (("kiln-agent.service", agent), ("kiln.service", run)):
        for bad in ("ProtectKernelTunables", "ProtectKernelLogs", "ProtectProc",
                    "PrivateDevices", "RemoveIPC"):
            check(u.get(bad, ["no"])[0] in ("no", "false", "default"),
                  "%s: sets %s, which breaks the agent" % (name, bad))
        check(u.get("NoNewPrivileges") == ["yes"], "%s: no NoNewPrivileges" % name)
    for name in ("kiln-export.service", "kiln-ui.service"):
        u = unit_settings(os.path.join(sd, name))
        check(u.get("CapabilityBoundingSet") == [""] and u.get("AmbientCapabilities") == [""],
              "%s: must have empty capability sets" % name)
        check(u.get("User") == ["kiln"], "%s: not User=kiln" % name)
        for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                     ("PrivateTmp", "yes")):
            check(u.get(k) == [v], "%s: %s is not %s" % (name, k, v))
    exp = unit_settings(os.path.join(sd, "kiln-export.service"))
    rw = " ".join(exp.get("ReadWritePaths", []))
    check("/var/lib/kiln/spool" in rw and "/var/lib/kiln/profiles" in rw,
          "kiln-export.service: spool and profiles are not ReadWritePaths")
    for name in os.listdir(sd):
        if name.endswith(".service"):
            with open(os.path.join(sd, name)) as f:
                for i, line in enumerate(f, 1):
                    check(len(line.rstrip("\n")) <= 100 or line.startswith(("Capability",
                          "ExecStartPre")), "%s:%d: longer than 100 columns" % (name, i))

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("skip: systemd-analyze is not installed: units not verified")
        return
    # verify wants the binary to exist: point ExecStart at the built one.
    with tempfile.TemporaryDirectory(prefix="kiln-units-") as tmp:
        paths = []
        for name in sorted(os.listdir(sd)):
            if name.endswith(".service"):
                with open(os.path.join(sd, name)) as f:
                    text = f.read().replace("/usr/local/bin/kiln", os.path.abspath(KILN))
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
                paths.append(os.path.join(tmp, name))
        r = subprocess.run([analyze, "verify"] + paths, capture_output=True, text=True)
        # It exits 0 on unknown keys but says so: any output is a finding.
        msg = (r.stdout + r.stderr).strip()
        if r.returncode != 0 and "Failed to" in msg and "bus" in msg.lower():
            print("skip: systemd-analyze verify cannot run here: " + msg.splitlines()[0])
            return
        check(r.returncode == 0 and not msg, "systemd-analyze verify: exit %d: %s"
              % (r.returncode, msg))
        print("systemd-analyze verify: %d units clean" % len(paths))


def main():
    if not os.access(KILN, os.X_OK):
        sys.exit("no kiln binary at %s (set KILN)" % KILN)
    caps = documented_caps()
    print("documented agent capabilities: " + ", ".join(sorted(caps)))

    # 1. Every manifest and values file parses.
    parsed = {}
    for root, dirs, files in os.walk(DEPLOY):
        if os.path.basename(root) == "templates":
            continue  # Helm templates are not YAML until rendered
        for fn in files:
            if fn.endswith((".yaml", ".yml")):
                p = os.path.join(root, fn)
                try:
                    parsed[os.path.relpath(p, DEPLOY)] = load_all(p)
                except yaml.YAMLError as e:
                    check(False, "%s: not YAML: %s" % (p, e))
    for want in ("kubernetes/daemonset.yaml", "helm/kiln/values.yaml", "helm/kiln/Chart.yaml",
                 "examples/exporter-only.yaml", "systemd/kiln.yaml"):
        check(want in parsed, "deploy/%s is missing" % want)
    print("parsed %d YAML files" % len(parsed))

    # 2. The plain manifests.
    ds = parsed.get("kubernetes/daemonset.yaml", [])
    check_daemonset(ds, caps, "kubernetes/daemonset.yaml")
    config_check(kiln_yaml_of(ds, "kubernetes/daemonset.yaml"), "kubernetes/daemonset.yaml")

    # 3. The chart: defaults, and with the optional containers off and sources set.
    values = parsed.get("helm/kiln/values.yaml", [{}])[0]
    for key in ("enabled", "samplingFrequency", "exporter"):
        check(key in values.get("profiling", {}), "values.yaml: no profiling.%s" % key)
    exp = values.get("profiling", {}).get("exporter", {})
    for key in ("enableDataCompression", "timeout", "retryOnFailure"):
        check(key in exp, "values.yaml: no profiling.exporter.%s" % key)
    check(set(exp.get("retryOnFailure", {})) ==
          {"enabled", "initialInterval", "maxInterval", "maxElapsedTime"},
          "values.yaml: retryOnFailure keys")
    for d in values.get("destinations", []):
        check({"type", "url", "signals"} <= set(d), "values.yaml: destination %r" % d)
    check(set(values.get("ui", {}).get("buffer", {})) ==
          {"PROFILES_MAX_SLOTS", "PROFILES_SLOT_TTL_SECONDS", "PROFILES_SLOT_MAX_BYTES",
           "PROFILES_CLEANUP_INTERVAL_SECONDS"}, "values.yaml: ui.buffer variables")
    variants = [
        ("chart defaults", {}, True, True),
        ("chart without exporter and ui",
         {"exporter": {"enabled": False}, "ui": {"enabled": False},
          "sources": [{"namespace": "shop", "kind": "deployment", "name": "api"},
                      {"unit": "nginx.service"}],
          "destinations": [{"name": "gw", "type": "otlp", "url": "http://gw:4318",
                            "signals": ["PROFILES"]},
                           {"name": "p", "type": "pyroscope", "url": "pyro:4040",
                            "signals": ["PROFILES"]}],
          "profiling": {"samplingFrequency": 99,
                        "exporter": {"enableDataCompression": False}},
          "image": {"registry": "registry.example:5000/team"}}, False, False),
    ]
    for what, over, want_exp, want_ui in variants:
        try:
            out = helmlite.render_chart(CHART, over)
        except helmlite.TemplateError as e:
            check(False, "%s: %s" % (what, e))
            continue
        docs = []
        for fn, text in out.items():
            try:
                docs += [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as e:
                check(False, "%s: templates/%s renders to invalid YAML: %s\n%s"
                      % (what, fn, e, text))
        kinds = sorted(d.get("kind") for d in docs)
        want_kinds = sorted(["ConfigMap", "DaemonSet", "ServiceAccount"] +
                            (["Service"] if want_ui else []))
        check(kinds == want_kinds, "%s: kinds %s, want %s" % (what, kinds, want_kinds))
        check_daemonset(docs, caps, what, want_exp, want_ui,
                        image=("registry.example:5000/team/" if over else "") + IMAGE)
        explained = config_check(kiln_yaml_of(docs, what), what)
        if over:
            for want in ("sampling: 99 Hz", "export: none compression",
                         "source #1: Kubernetes deployment api in namespace shop",
                         "source #2: systemd unit nginx.service",
                         "destination p (pyroscope): POST http://pyro:4040/v1development/"
                         "profiles"):
                check(want in explained, "%s: 'kiln config check' lacks %r in:\n%s"
                      % (what, want, explained))
        print("%s: %s rendered and checked" % (what, ", ".join(kinds)))

    # The renderer refuses what it cannot render faithfully.
    for bad, why in (("{{ .Values.n }}", "exponent"), ("{{ include \"x\" . }}", "unsupported"),
                     ("{{ if .Values.n }}", "without")):
        try:
            helmlite.render(bad, {"Values": {"n": 8388608}})
            check(False, "helmlite rendered %r" % bad)
        except helmlite.TemplateError as e:
            check(why in str(e), "helmlite: %r: %s" % (bad, e))

    # 4. Exporter-only: non-root, no capabilities, no host PID, on the host's /dev/shm.
    eo = parsed.get("examples/exporter-only.yaml", [])
    pods = [d for d in eo if d.get("kind") == "Pod"]
    if check(len(pods) == 1, "exporter-only.yaml: want one Pod"):
        spec = pods[0]["spec"]
        cs = containers_by_name(spec)
        check(list(cs) == ["exporter"], "exporter-only.yaml: containers %s" % list(cs))
        check(not spec.get("hostPID"), "exporter-only.yaml: hostPID")
        if "exporter" in cs:
            check_unprivileged(cs["exporter"], spec.get("securityContext") or {},
                               "exporter-only.yaml: exporter")
            check(cs["exporter"]["command"][:2] == ["kiln", "export"],
                  "exporter-only.yaml: does not run kiln export")
            check("/dev/shm" in mounts(cs["exporter"]), "exporter-only.yaml: no /dev/shm")
    config_check(kiln_yaml_of(eo, "exporter-only.yaml"), "exporter-only.yaml")

    # 5. The example /etc/kiln/kiln.yaml and the units.
    with open(os.path.join(DEPLOY, "systemd", "kiln.yaml")) as f:
        config_check(f.read(), "systemd/kiln.yaml")
    check_systemd(caps)

    return verdict("all deploy checks passed")


if __name__ == "__main__":
    sys.exit(main())
