# SPDX-License-Identifier: Apache-2.0
"""Helper run under each interpreter by kiln's Python tests (keep it valid for 3.6+).

  pyhelper.py lines    dumps the location tables of many code objects with the line of
                       every code unit as CPython's co_positions() and co_lines() give it.
                       Text, not JSON, so that the C test reads it without a JSON parser:
                         C <firstlineno> <units> <linetable hex>
                         P <line of unit 0> <line of unit 1> ...   (co_positions, -1 = None)
                         L <line of unit 0> ...                    (co_lines, -1 = None)
  pyhelper.py target   prints "ready", then known code objects (one per line:
                         K <hex address> <first line> <unit> <line or -1> <qualname>\t<file>)
                       then "end", and waits until stdin closes.
"""
import os
import sys


def walk_codes(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            for sub in walk_codes(c):
                yield sub


MODULES = [
    "argparse", "ast", "asyncio/base_events", "asyncio/tasks", "collections/__init__",
    "dataclasses", "_pydecimal", "email/_header_value_parser", "enum", "functools",
    "http/client", "inspect", "json/decoder", "logging/__init__", "pathlib", "pickle",
    "pydoc", "re/_parser", "sre_parse", "shutil", "subprocess", "tarfile", "textwrap",
    "threading", "traceback", "typing", "unittest/case", "urllib/parse",
    "xml/etree/ElementTree", "zipfile", "configparser", "difflib", "statistics",
]


def dump_lines():
    stdlib = os.path.dirname(os.__file__)
    sources = []
    for m in MODULES:
        path = os.path.join(stdlib, m + ".py")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                sources.append((f.read(), path))
    # edge cases: non-ASCII names, far line jumps, code without locations
    sources.append(("def функция(x):\n    return x\n" + "\n" * 5000 +
                    "def far():\n    return [i for i in range(3)]\n", "<edge>"))
    out = sys.stdout
    for src, path in sources:
        for code in walk_codes(compile(src, path, "exec")):
            units = len(code.co_code) // 2
            out.write("C %d %d %s\n" % (code.co_firstlineno, units, code.co_linetable.hex()))
            pos = [(-1 if p[0] is None else p[0]) for p in code.co_positions()]
            out.write("P " + " ".join(map(str, pos)) + "\n")
            per_unit = [-1] * units
            for start, end, line in code.co_lines():
                for u in range(start // 2, end // 2):
                    per_unit[u] = -1 if line is None else line
            out.write("L " + " ".join(map(str, per_unit)) + "\n")


class Klass:
    def method(self):
        return 1


def функция():
    return 2


def 函数():
    return 3


def café():  # Latin-1: a compact non-ASCII string of 1-byte characters
    return 4


UCS4_SRC = "def plain():\n    x = 1\n    return x\n"


def target():
    ns = {}
    exec(compile(UCS4_SRC, "unicode\U0001F4A9.py", "exec"), ns)
    codes = [Klass.method.__code__, функция.__code__, 函数.__code__, café.__code__,
             ns["plain"].__code__, target.__code__]
    print("ready")
    for code in codes:
        qual = getattr(code, "co_qualname", code.co_name)
        line, unit = -1, 0
        if hasattr(code, "co_positions"):
            # the last unit: a RETURN with a location in every version
            positions = list(code.co_positions())
            unit = len(positions) - 1
            line = -1 if positions[unit][0] is None else positions[unit][0]
        print("K %x %d %d %d %s\t%s" % (id(code), code.co_firstlineno, unit, line, qual,
                                        code.co_filename))
    print("end")
    sys.stdout.flush()
    sys.stdin.read()
    return codes


if __name__ == "__main__":
    if sys.argv[1] == "lines":
        dump_lines()
    else:
        target()
