# SPDX-License-Identifier: Apache-2.0
"""Known-answer Python workload for kiln's CPython support.

The main thread spends about 60 % of its time in leaf_a and 40 % in leaf_b (plus a few %
in функция, a non-ASCII name), through fixed call chains (leaf first):

  leaf_a  <- Runner.method (KAT method_call) <- gen (KAT gen_call)
          <- main (KAT main_gen) <- <module> (KAT module_main)
  leaf_b  <- recurse (KAT recurse_base) <- recurse (KAT recurse_call) x DEPTH
          <- main (KAT main_recurse) <- <module>
  функция <- main (KAT main_uni) <- <module>

A second thread hashes a large buffer in a loop: hashlib releases the GIL while it hashes,
so almost all its samples are in C code without the GIL, under
  hash_loop (KAT hash_call) <- Thread.run <- Thread._bootstrap_inner <- Thread._bootstrap

Lines are found by their "# KAT <tag>" comments (leaf bodies carry the leaf's name), so the
file can be edited without updating the tests. Runs until stdin reaches end of file, for
--seconds S, or until the main thread used --cpu S seconds of CPU time (the same number of
samples however busy the machine is). With --fork, the process forks first and the child (announced as "child PID")
does the work, as a pre-fork server's worker would: same mappings, no exec.
"""
import hashlib
import os
import sys
import threading
import time

UNIT = 20000
DEPTH = 3


def leaf_a(n):
    s = 0  # KAT leaf_a
    for i in range(n):  # KAT leaf_a
        s += i * i  # KAT leaf_a
    return s  # KAT leaf_a


def leaf_b(n):
    s = 0  # KAT leaf_b
    for i in range(n):  # KAT leaf_b
        s += i * i  # KAT leaf_b
    return s  # KAT leaf_b


def функция(n):
    s = 0  # KAT функция
    for i in range(n):  # KAT функция
        s += i * i  # KAT функция
    return s  # KAT функция


class Runner:
    def method(self, n):
        return leaf_a(n)  # KAT method_call


def gen(runner):
    while True:
        yield runner.method(6 * UNIT)  # KAT gen_call


def recurse(depth, n):
    if depth == 0:
        return leaf_b(n)  # KAT recurse_base
    return recurse(depth - 1, n)  # KAT recurse_call


def hash_loop(stop, buf):
    while not stop.is_set():
        hashlib.sha256(buf).digest()  # KAT hash_call


def main(stop, cpu=None):
    runner = Runner()
    g = gen(runner)
    while not stop.is_set():
        next(g)  # KAT main_gen
        recurse(DEPTH, 4 * UNIT)  # KAT main_recurse
        функция(UNIT // 5)  # KAT main_uni
        if cpu is not None and time.thread_time() >= cpu:
            stop.set()


def stopper(stop, seconds):
    if seconds is None:
        sys.stdin.read()
    else:
        stop.wait(seconds)
    stop.set()


if __name__ == "__main__":
    seconds = cpu = None
    if len(sys.argv) > 2 and sys.argv[1] == "--seconds":
        seconds = float(sys.argv[2])
    if len(sys.argv) > 2 and sys.argv[1] == "--cpu":
        cpu = float(sys.argv[2])
    if "--fork" in sys.argv:
        child = os.fork()
        if child:
            sys.stdin.read()
            os.kill(child, 9)
            os.waitpid(child, 0)
            sys.exit(0)
        print("child %d" % os.getpid(), flush=True)
    stop = threading.Event()
    threading.Thread(target=hash_loop, args=(stop, b"k" * (8 << 20)), name="hasher").start()
    if cpu is None:
        threading.Thread(target=stopper, args=(stop, seconds), daemon=True).start()
    print("ready", flush=True)
    main(stop, cpu)  # KAT module_main
