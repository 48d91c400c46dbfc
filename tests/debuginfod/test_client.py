#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The debuginfod client (symbolize/debuginfod.c) alone, through dbgfetch_probe: a real
debuginfod server serving a split debug file, a second run served from the cache with no
request, an unknown build id, a stopped server, a server that never answers (past the timeout)
and one that answers garbage. No call of the client waits for a server."""
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbgsrv  # noqa: E402

PROBE = sys.argv[1]
# The client's lookups are a stat() and a mutex: far below any server's answer.
REQUEST_MAX_US = 200_000


def probe(urls, cache, timeout_ms, deadline_ms, *bids):
    import subprocess
    r = subprocess.run([PROBE, urls, cache, str(timeout_ms), str(deadline_ms), *bids],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"probe failed: {r.stderr}"
    res, st = {}, {}
    for line in r.stdout.splitlines():
        w = line.split()
        if len(w[0]) >= 32 and w[0] in bids:
            res[w[0]] = w[1:]
        else:
            st[w[0]] = int(w[1])
    print(r.stdout.strip().replace("\n", " | "))
    assert st["request_max_us"] < REQUEST_MAX_US, f"a request waited {st['request_max_us']} us"
    return res, st


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-dbgi-")
    prog, srv, bid = dbgsrv.build_prog(tmp)
    server = dbgsrv.Debuginfod(srv, tmp)
    cache = os.path.join(tmp, "cache")
    try:
        # 1. Fetched from the real server, validated, kept in the cache.
        res, st = probe(server.url, cache, 10000, 30000, bid)
        assert res[bid][0] == "landed", res
        path = res[bid][1]
        assert os.path.getsize(path) == os.path.getsize(os.path.join(srv, "spin.debug"))
        assert st["fetched"] == 1 and st["bytes"] == os.path.getsize(path), st
        assert server.requests() == 1, server.requests()

        # 2. A second start finds it in the cache: no request reaches the server.
        res, st = probe(server.url, cache, 10000, 30000, bid)
        assert res[bid][0] == "cached" and st["cache_hits"] == 1 and st["fetched"] == 0, st
        assert server.requests() == 1, f"{server.requests()} requests: the cache was not used"

        # 3. A build id the server does not have: a miss, remembered (retry interval).
        unknown = "%040x" % random.getrandbits(160)
        res, st = probe(server.url, cache, 10000, 30000, unknown)
        assert res[unknown][0] == "failed" and st["not_found"] == 1, st

        # 4. The server stopped: counted as a connection failure, nothing waits.
        server.stop()
        res, st = probe(server.url, os.path.join(tmp, "cache2"), 10000, 30000, bid)
        assert res[bid][0] == "failed" and st["conn_errors"] == 1, st
    finally:
        server.stop()

    # 5. A server that never answers: the fetch gives up at the timeout (1 s), counted.
    slow = dbgsrv.FakeServer("slow")
    try:
        res, st = probe(slow.url, os.path.join(tmp, "cache3"), 1000, 30000, bid)
        assert res[bid][0] == "failed" and st["timeouts"] == 1, st
        # Stopping the client with a fetch in flight abandons it promptly.
        res, st = probe(slow.url, os.path.join(tmp, "cache4"), 60000, 300, bid)
        assert res[bid][0] == "pending", res
        assert st["free_us"] < 5_000_000, f"free took {st['free_us']} us"
    finally:
        slow.stop()

    # 6. Garbage (HTTP 200, no ELF file): refused, counted, not kept.
    junk = dbgsrv.FakeServer("garbage")
    try:
        c5 = os.path.join(tmp, "cache5")
        res, st = probe(junk.url, c5, 5000, 30000, bid)
        assert res[bid][0] == "failed" and st["invalid"] == 1, st
        assert not os.path.exists(os.path.join(c5, bid, "debuginfo")) or \
            os.path.getsize(os.path.join(c5, bid, "debuginfo")) == 0
    finally:
        junk.stop()
    print("PASS")


if __name__ == "__main__":
    main()
