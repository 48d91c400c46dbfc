# SPDX-License-Identifier: Apache-2.0
"""The checks the export tests share: each prints ok/FAIL and goes on, so one run reports
every failed check; `fails` counts them for the script's exit status."""
import time

fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        fails += 1


def wait_for(pred, timeout, what):
    """Polls PRED until it returns a true value, which it returns, or TIMEOUT seconds pass
    (then a failed check, and None)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    check(False, "timed out waiting for " + what)
    return None
