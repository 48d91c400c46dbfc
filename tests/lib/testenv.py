# SPDX-License-Identifier: Apache-2.0
"""What a test (or a kiln-bench script: bench/ reaches tests/lib from the source tree) takes
from the machine and gives back: a loopback port nobody holds, a ring's files in /dev/shm;
and whether a process it started still runs."""
import os
import socket


def free_port():
    """A loopback TCP port free right now (the kernel's choice: no fixed ports), bound once
    and closed again, so nothing listens on it until someone binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    """PID exists and is not a zombie (its /proc stat state is not Z)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ring_path(name):
    """The file of ring NAME: /dev/shm/kiln-NAME, or NAME itself when it is a path."""
    return name if name.startswith("/") else "/dev/shm/kiln-" + name


def remove_ring(name):
    """Removes ring NAME's file and its consumers' file (NAME.cons) where they exist."""
    for suffix in ("", ".cons"):
        try:
            os.unlink(ring_path(name) + suffix)
        except FileNotFoundError:
            pass
