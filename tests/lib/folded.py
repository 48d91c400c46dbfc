# SPDX-License-Identifier: Apache-2.0
"""Reading kiln's folded output, for the tests (tests/record/kilntest.py) and for kiln-bench
unwind (bench/unwindcheck.py, which reaches tests/lib from the source tree as it must for
the loopback receiver too): one parser, so both read a line the same way."""


def read_folded(path):
    """The lines of folded file PATH as [(frames outermost-first, count)]; blank lines are
    skipped. Raises ValueError naming the file and line when a line is not 'stack COUNT',
    OSError when the file cannot be read."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                raise ValueError("%s:%d: not 'stack COUNT': %r" % (path, n, line))
            rows.append((stack.split(";"), int(count)))
    return rows
