#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every command in cli/main.c's table, as a user first meets it: `kiln CMD --help` exits 0
with a usage line on stdout and nothing on stderr; an unknown flag exits 2 with a message on
stderr naming the flag and nothing on stdout. The command list is read from the table itself,
so a new command is covered the day it is added."""
import os
import re
import subprocess
import sys

SRC = os.environ.get("KILN_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
KILN = os.environ.get("KILN", os.path.join(SRC, "build", "kiln"))
BAD_FLAG = "--no-such-flag-xyz"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def run(args):
    # A command that would start working instead of answering must not hang the test.
    try:
        return subprocess.run([KILN] + args, capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


def commands():
    with open(os.path.join(SRC, "cli", "main.c")) as f:
        text = f.read()
    m = re.search(r"static const struct command commands\[\] = \{(.*?)\n\};", text, re.S)
    if not m:
        sys.exit("cli/main.c: no command table")
    names = re.findall(r'\{\s*"([a-z-]+)",\s*cmd_', m.group(1))
    if len(names) < 5:
        sys.exit("cli/main.c: only %d commands found in the table" % len(names))
    return names


def main():
    if not os.access(KILN, os.X_OK):
        sys.exit("no kiln binary at %s (set KILN)" % KILN)
    names = commands()
    print("commands: " + " ".join(names))
    for name in names:
        for flag in ("--help", "-h"):
            r = run([name, flag])
            if r is None:
                check(False, "kiln %s %s: still running after 20 s" % (name, flag))
                continue
            first = r.stdout.splitlines()[0] if r.stdout else ""
            check(r.returncode == 0, "kiln %s %s: exit %d (stderr: %s)"
                  % (name, flag, r.returncode, r.stderr.strip()))
            check(re.match(r"usage: kiln %s\b" % re.escape(name), first) is not None,
                  "kiln %s %s: first line of stdout is %r, want 'usage: kiln %s ...'"
                  % (name, flag, first, name))
            check(r.stderr == "", "kiln %s %s: wrote to stderr: %r" % (name, flag, r.stderr))
        r = run([name, BAD_FLAG])
        if r is None:
            check(False, "kiln %s %s: still running after 20 s" % (name, BAD_FLAG))
            continue
        check(r.returncode == 2, "kiln %s %s: exit %d, want 2" % (name, BAD_FLAG, r.returncode))
        check(BAD_FLAG in r.stderr, "kiln %s %s: stderr does not name the flag: %r"
              % (name, BAD_FLAG, r.stderr))
        check(r.stdout == "", "kiln %s %s: wrote to stdout: %r" % (name, BAD_FLAG, r.stdout))
        print("kiln %s: --help, -h and %s ok" % (name, BAD_FLAG))

    # The binary itself.
    r = run(["--help"])
    check(r is not None and r.returncode == 0 and r.stdout.startswith("usage: kiln "),
          "kiln --help")
    for n in names:
        check(r is not None and re.search(r"^  %s\s" % n, r.stdout, re.M) is not None,
              "kiln --help does not list %s" % n)
    r = run([])
    check(r is not None and r.returncode == 2 and r.stderr.startswith("usage: kiln ")
          and r.stdout == "", "kiln without a command: want exit 2 and usage on stderr")
    r = run(["no-such-command"])
    check(r is not None and r.returncode == 2 and "unknown command 'no-such-command'" in r.stderr,
          "kiln no-such-command: want exit 2 naming it")

    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all %d commands answer --help and refuse unknown flags" % len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
