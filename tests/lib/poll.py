# SPDX-License-Identifier: Apache-2.0
"""Waiting for an observable condition with a bounded deadline (the tests never sleep as
synchronization). Each area's wait_for says what a timeout means there (fail the test, count
a failed check, or go on) around this one loop."""
import time


def poll(fn, timeout, step=0.05):
    """Calls FN every STEP seconds until it returns a true value, which is returned, or
    TIMEOUT seconds pass: then None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None
