# SPDX-License-Identifier: Apache-2.0
"""The checks of the scripts that read the tree and kiln's answers and report every failed
check at the end (tests/deploy, tests/config's flag test): check() prints the failures as
they come and keeps them; verdict() ends the run. One script per process, so the list is
this module's."""

failures = []


def check(cond, what):
    """Records WHAT as a failure unless COND holds. Returns COND, so a caller can skip
    the checks that depend on it."""
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    return cond


def verdict(passed):
    """The script's exit status: 1 after printing how many checks failed, else 0 after
    printing PASSED (what the run showed)."""
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print(passed)
    return 0
