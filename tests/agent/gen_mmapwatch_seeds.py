#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed inputs of fuzz_mmapwatch: perf records as a ring holds them (header,
body, pid/tid/time trailer), of every type the parser knows. Usage: DIR."""
import os
import struct
import sys

MMAP2, COMM, EXIT, FORK, LOST = 10, 3, 4, 7, 2
COMM_EXEC, BUILD_ID = 1 << 13, 1 << 14


def rec(rtype, misc, body, pid, t):
    body += b"\0" * (-len(body) % 8)
    return struct.pack("<IHH", rtype, misc, 8 + len(body) + 16) + body + \
        struct.pack("<IIQ", pid, pid, t)


def mmap2(pid, t, addr, size, off, path, bid=None):
    head = struct.pack("<IIQQQ", pid, pid, addr, size, off)
    ident = (struct.pack("<BBH", 20, 0, 0) + bid) if bid else struct.pack("<IIQQ", 8, 1, 99, 0)
    return rec(MMAP2, BUILD_ID if bid else 0,
               head + ident + struct.pack("<II", 5, 2) + path + b"\0", pid, t)


def comm(pid, t, name, exec_=True):
    return rec(COMM, COMM_EXEC if exec_ else 0, struct.pack("<II", pid, pid) + name + b"\0",
               pid, t)


def task(rtype, pid, ppid, t):
    return rec(rtype, 0, struct.pack("<IIIIQ", pid, ppid, pid, ppid, t), pid, t)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "exec-mmap-exit": comm(1, 1, b"a") + mmap2(1, 2, 0x1000, 0x4000, 0, b"/a") +
        mmap2(1, 3, 0x2000, 0x1000, 0x9000, b"//anon") + task(EXIT, 1, 0, 4),
        "fork-exec": task(FORK, 2, 1, 1) + comm(2, 3, b"b") + comm(2, 4, b"c", False) +
        mmap2(2, 2, 0x7000, 0x1000, 0, b"/b", bytes(range(20))),
        "lost": rec(LOST, 0, struct.pack("<QQ", 1, 12), 0, 1) + comm(3, 2, b"d"),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
