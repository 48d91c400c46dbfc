#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docs/ against the code: every key the config loader accepts (the key tables in
common/config.c) appears in docs/configuration.md with a default, and so does every
environment variable it reads; the documented defaults of the PROFILES_* variables are the
ones `kiln config check --env` applies; every document the brief names exists; relative
links between documents resolve; destinations.md names the receiver versions."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checklist import check, verdict  # noqa: E402

SRC = os.environ.get("KILN_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
KILN = os.environ.get("KILN", os.path.join(SRC, "build", "kiln"))
DOCS = os.path.join(SRC, "docs")


def read(path):
    with open(path) as f:
        return f.read()


def config_keys(src):
    """Every key of every mapping the loader accepts: its `keys[] = { ... }` tables."""
    keys = set()
    for m in re.finditer(r"keys\[\]\s*=\s*\{(.*?)\}", src, re.S):
        keys.update(re.findall(r'"([A-Za-z]+)"', m.group(1)))
    return keys


def config_env(src):
    return set(re.findall(r'getenv\("([A-Z_]+)"\)', src)) | set(
        re.findall(r'"(PROFILES_[A-Z_]+)"', src))


def doc_rows(doc):
    """Table rows of the doc as lists of cells."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in doc.splitlines() if line.startswith("|") and "---" not in line]


def main():
    # The config code is split by concern (config.c, config_defaults.c, ...): read them all.
    cdir = os.path.join(SRC, "common")
    src = "\n".join(read(os.path.join(cdir, f)) for f in sorted(os.listdir(cdir))
                    if f.startswith("config") and f.endswith(".c"))
    doc = read(os.path.join(DOCS, "configuration.md"))
    keys = config_keys(src)
    check(len(keys) >= 40, "common/config*.c: only %d keys found; did the tables change shape?"
          % len(keys))
    # A key is documented when it appears in backticks, alone or as a component of a dotted
    # path or a selector (`profiling.exporter.timeout`, `{unit: nginx.service}`).
    for k in sorted(keys):
        pat = r"`[^`\n]*(?<![A-Za-z])%s(?![A-Za-z])[^`\n]*`" % re.escape(k)
        check(re.search(pat, doc) is not None, "configuration.md: key '%s' is not documented" % k)
    # Rows that document a key must say its default (third column of the key tables).
    for row in doc_rows(doc):
        if len(row) >= 4 and re.fullmatch(r"`[A-Za-z.]+`( / `[A-Za-z.]+`)?", row[0]) and \
                row[0].strip("`").split(".")[-1] in keys:
            check(row[2] != "", "configuration.md: no default for %s" % row[0])
    env = config_env(src)
    check({"PROFILES_MAX_SLOTS", "PROFILES_SLOT_TTL_SECONDS", "PROFILES_SLOT_MAX_BYTES",
           "PROFILES_CLEANUP_INTERVAL_SECONDS"} <= env, "common/config*.c: PROFILES_* not found")
    for v in sorted(env):
        check(re.search(r"(?<![A-Za-z_])\$?%s\b" % v, doc) is not None,
              "configuration.md: environment variable %s is not documented" % v)
    print("configuration.md: %d keys and %d environment variables documented"
          % (len(keys), len(env)))

    # The documented PROFILES_* defaults are what kiln applies.
    defaults = {r[0].strip("`"): r[1].strip("`") for r in doc_rows(doc)
                if r and r[0].startswith("`PROFILES_")}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write("destinations: []\n")
        f.flush()
        env_vars = {k: v for k, v in os.environ.items() if not k.startswith("PROFILES_")}
        out = subprocess.run([KILN, "config", "check", "--env", f.name], capture_output=True,
                             text=True, env=env_vars).stdout
    m = re.search(r"ui: \S+ \((\d+) slots, (\d+)s TTL", out)
    check(m and defaults.get("PROFILES_MAX_SLOTS") == m.group(1) and
          defaults.get("PROFILES_SLOT_TTL_SECONDS") == m.group(2),
          "configuration.md: PROFILES_* defaults %s differ from kiln's: %s" % (defaults, out))

    for name in ("getting-started.md", "concepts.md", "configuration.md", "destinations.md",
                 "troubleshooting.md", "deployment.md", "ui.md"):
        p = os.path.join(DOCS, name)
        if check(os.path.exists(p), "docs/%s is missing" % name):
            check(read(p).startswith("<!-- SPDX-License-Identifier:"),
                  "docs/%s: no SPDX line" % name)
    # Relative links resolve, anchors included (GitHub's heading slugs).
    for name in sorted(os.listdir(DOCS)):
        if not name.endswith(".md"):
            continue
        for target in re.findall(r"\]\(([^)#:]+\.md)?(#[^)]+)?\)", read(os.path.join(DOCS, name))):
            path = os.path.join(DOCS, target[0]) if target[0] else os.path.join(DOCS, name)
            if not check(os.path.exists(path), "docs/%s: link to missing %s" % (name, target[0])):
                continue
            if target[1]:
                slugs = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
                         for h in re.findall(r"^#+ (.*)$", read(path), re.M)}
                check(target[1][1:] in slugs, "docs/%s: no heading for %s%s"
                      % (name, target[0], target[1]))
    dest = read(os.path.join(DOCS, "destinations.md"))
    for want in ("v1.20.0", "v0.148.0", "service.profilesSupport", "/v1development/profiles"):
        check(want in dest, "destinations.md does not mention %s" % want)

    return verdict("docs agree with the code")


if __name__ == "__main__":
    sys.exit(main())
