# SPDX-License-Identifier: Apache-2.0
"""A Python stack of fixed depth: <module> -> down x (DEPTH + 1) -> spin, spinning at the leaf
until stdin reaches end of file. For the walk's cost per frame and its truncation.
Usage: deep.py DEPTH
"""
import os
import sys
import threading


def spin():
    x = 0  # KAT spin
    while True:  # KAT spin
        x += 1  # KAT spin


def down(n):
    if n == 0:
        return spin()  # KAT down_base
    return down(n - 1)  # KAT down_call


def stopper():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    threading.Thread(target=stopper, daemon=True).start()
    print("ready", flush=True)
    down(int(sys.argv[1]))  # KAT module_main
