# SPDX-License-Identifier: Apache-2.0
"""Known-answer Python workload for kiln's CPython support.

The main thread spends 60 % of its leaf time in leaf_a and 40 % in leaf_b (plus a few % in
функция, a non-ASCII name), through fixed call chains (leaf first):

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

The 60/40 split is of the main thread's CPU time, as the kernel accounts it, not of
iteration counts: each round measures both leaves (thread CPU time) and sizes the next
round's calls so that the time spent so far stays at 60/40, whatever makes one leaf's
iterations dearer than the other's (big integers, caches, a busy sibling CPU). Each round's
length also varies at random by +-20 %, so that the round is never a fixed period that a
fixed sampling rate could see at the same phases again and again. At the end the main thread
prints what it measured, "kat split leaf_a S leaf_b S" (seconds of CPU time), the reference a
test compares a profiler's share with.
"""
import hashlib
import os
import random
import sys
import threading
import time

UNIT = 20000
DEPTH = 3
SPLIT = 0.6  # leaf_a's share of the leaf time
JITTER = 0.2
# Thread CPU time; 3.6 (run as an interpreter kiln refuses) has only the process's
clock = getattr(time, "thread_time", time.process_time)


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
    n = yield
    while True:
        n = yield runner.method(n)  # KAT gen_call


def recurse(depth, n):
    if depth == 0:
        return leaf_b(n)  # KAT recurse_base
    return recurse(depth - 1, n)  # KAT recurse_call


def hash_loop(stop, buf):
    while not stop.is_set():
        hashlib.sha256(buf).digest()  # KAT hash_call


def sizes(ta, tb, na, nb):
    """The next round's iteration counts (leaf_a, leaf_b) given the CPU time (ta, tb) and
    iterations (na, nb) of each leaf so far: a round of the nominal length (10 UNIT
    iterations at the mean cost per iteration), +-JITTER at random, whose leaf_a part brings
    the time so far back to SPLIT."""
    if not ta or not tb:
        return 6 * UNIT, 4 * UNIT
    ca, cb = ta / na, tb / nb  # seconds per iteration
    t = 10 * UNIT * (ta + tb) / (na + nb) * random.uniform(1 - JITTER, 1 + JITTER)
    want_a = SPLIT * (ta + tb + t) - ta
    want_a = min(max(want_a, 0.5 * SPLIT * t), 1.5 * SPLIT * t)
    return max(int(want_a / ca), 1), max(int((t - want_a) / cb), 1)


def main(stop, cpu=None):
    runner = Runner()
    g = gen(runner)
    next(g)
    ta = tb = 0.0
    na = nb = 0
    while not stop.is_set():
        a, b = sizes(ta, tb, na, nb)
        t0 = clock()
        g.send(a)  # KAT main_gen
        t1 = clock()
        recurse(DEPTH, b)  # KAT main_recurse
        t2 = clock()
        функция(UNIT // 5)  # KAT main_uni
        ta, tb, na, nb = ta + t1 - t0, tb + t2 - t1, na + a, nb + b
        if cpu is not None and clock() >= cpu:
            stop.set()
    print("kat split leaf_a %.6f leaf_b %.6f" % (ta, tb), flush=True)


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
