#!/usr/bin/env python3
"""Read-ahead memory of esmtp-inspect-policyd under 1,000 hostile connections
(bench/README.md, "Policy service: read-ahead memory").

    python3 bench/policy_readahead.py [--connections 1000] [--requests 63]

Run as root on Debian 12 from a built tree (ESMTP_BUILD_DIR picks the build,
default build/). Each connection sends one request whose identity checks
wait on a DNS server that never answers (a bound UDP socket on 127.0.0.1
that swallows the queries; dns.timeout 30 s, one try), then pipelines
--requests requests of four distinct 65,000-octet attributes each (260 kB,
under the 256 KiB request limit), without blocking, until the daemon stops
taking bytes: the pattern of the security review's finding 4, which grew
the daemon by 16 MiB per connection. The script prints policyd's RSS before,
its peak (VmHWM from /proc) while the 1,000 connections are open, and its
RSS once it has closed them (after the DNS budget) and 2 s more. Clients use a 256 KiB send buffer (SO_SNDBUF) so
that the kernel's own socket memory stays modest; what policyd reads is its
own choice either way. Traffic stays on 127.0.0.1. Exit status 0 whatever
the figures (1 only when something could not run).
"""

import argparse
import os
import resource
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402
from harness import policy_request as request, proc_status as status  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=63,
                    help="large requests pipelined behind the first (default 63)")
    ap.add_argument("--policyd", help="another esmtp-inspect-policyd binary (A/B)")
    ap.add_argument("--legacy", action="store_true",
                    help="the binary predates policy.max_connections_per_client: leave it out")
    args = ap.parse_args()
    if not (harness.BIN / "esmtp-inspect-policyd").exists():
        sys.exit(f"no {harness.BIN}/esmtp-inspect-policyd: build the project first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * args.connections + 1024), hard))

    env = harness.Env("policy-readahead")
    try:
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", 0))  # bound, never answers
        policyd = harness.Policyd(
            env, f'dns: {{ servers: ["127.0.0.1:{hole.getsockname()[1]}"], timeout: 30s, '
                 "tries: 1 }\n", inet=True,
            policy=f"max_connections: {args.connections}" +
                   ("" if args.legacy else f", max_connections_per_client: {args.connections}"))
        if args.policyd:
            policyd.argv[0] = args.policyd
        policyd.start()
        pid = policyd.proc.pid
        before = status(pid, "VmRSS")
        fds_before = len(os.listdir(f"/proc/{pid}/fd"))
        big = request(client_address="192.0.2.1", client_port="1",
                      **{f"x{k}": chr(ord("a") + k) * 65000 for k in range(4)})
        socks, chunks = [], []
        t0 = time.monotonic()
        for i in range(args.connections):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
            s.connect(("127.0.0.1", policyd.port))
            socks.append(s)
            first = request(client_address=f"198.51.100.{i % 250 + 1}", client_port=str(i),
                            helo_name=f"h{i}.example.org", instance=f"first{i}")
            chunks.append([first + big] + [big] * (args.requests - 1))
        # Push until no socket has taken a byte for 2 s (all blocked) or
        # 25 s passed (inside the 30 s DNS budget).
        sent = harness.push_until_blocked(socks, lambda i: chunks[i].pop(0) if chunks[i] else None,
                                          quiet=2.0, limit=25.0 - (time.monotonic() - t0))
        pushed = time.monotonic() - t0
        peak = status(pid, "VmHWM")
        rss_open = status(pid, "VmRSS")
        alive = policyd.proc.poll() is None
        for s in socks:
            s.close()
        # policyd sees a client's EOF once it has answered the request it is
        # working on: after the DNS budget at the latest. Then it has closed
        # them all (its descriptors are back to what they were), plus 2 s.
        closed = None
        if alive:
            try:
                harness.wait_until(lambda: len(os.listdir(f"/proc/{pid}/fd")) <= fds_before,
                                   timeout=60, interval=0.2, what="connections closed")
                closed = time.monotonic() - t0
            except TimeoutError:
                pass
            time.sleep(2)
        after = status(pid, "VmRSS") if policyd.proc.poll() is None else 0
        print(f"policyd {policyd.argv[0]}")
        print(f"connections {args.connections}, each 1 request waiting on DNS + up to "
              f"{args.requests} x 260 kB pipelined; clients sent {sum(sent) / 1e6:.0f} MB in "
              f"{pushed:.1f} s (min {min(sent) / 1e3:.0f} kB, max {max(sent) / 1e3:.0f} kB "
              "per connection)")
        print(f"policyd RSS before {before / 1024:.1f} MiB, peak (VmHWM) {peak / 1024:.1f} MiB, "
              f"with all open {rss_open / 1024:.1f} MiB; alive: {alive}")
        when = f"{closed:.0f} s after the start" if closed else "not all closed after 60 s"
        print(f"policyd closed them {when}; RSS 2 s later {after / 1024:.1f} MiB")
        return 0
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
