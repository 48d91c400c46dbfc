# SPDX-License-Identifier: Apache-2.0
"""The checks the export tests share: each prints ok/FAIL and goes on, so one run reports
every failed check; `fails` counts them for the script's exit status."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from poll import poll  # noqa: E402

fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        fails += 1


def wait_for(pred, timeout, what):
    """Polls PRED until it returns a true value, which it returns, or TIMEOUT seconds pass
    (then a failed check, and None)."""
    v = poll(pred, timeout)
    if not v:
        check(False, "timed out waiting for " + what)
    return v
