"""A private unbound on loopback for esmtp-inspect integration tests: the
identity checks of esmtp-inspect.yaml(5), IDENTITY CHECKS, against a real DNS
server.

Unbound serves the zones of tests/dns (README.md there has the table: good
FCrDNS, PTR without forward, PTR to another address, no PTR, SERVFAIL,
REFUSED, several PTRs, HELO names, names under co.uk) on 127.0.0.1 on a free
port, UDP and TCP, from a config written from tests/dns/unbound.conf.in into
the Env's directory. Point the daemon under test at it with

    dns:
      servers: ["127.0.0.1:PORT"]      # Unbound.servers

Everything it starts is stopped through Env.on_close. Run this file alone to
get a server for manual work: `python3 tests/integration/dns.py`.
"""

import os
import random
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

ZONES = harness.ROOT / "tests" / "dns"


def _unbound_binary():
    # /usr/sbin is not always on a test runner's PATH.
    return shutil.which("unbound") or "/usr/sbin/unbound"


def query(port, name, qtype=1, timeout=0.5):
    """One UDP query to 127.0.0.1:port; the reply's RCODE and answer count, or
    None when nothing came back in time."""
    qid = random.randrange(1 << 16)
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        packet += bytes([len(label)]) + label.encode("ascii")
    packet += b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            reply = s.recv(4096)
        except socket.timeout:
            return None
    if len(reply) < 12 or struct.unpack("!H", reply[:2])[0] != qid:
        return None
    flags, _, ancount = struct.unpack("!HHH", reply[2:8])
    return flags & 0x0F, ancount


class Unbound:
    """unbound -d on 127.0.0.1:port with the test zones."""

    def __init__(self, env, attempts=3, port=None):
        self.env = env
        self.dir = env.path("unbound")
        self.dir.mkdir(exist_ok=True)
        self.conf = self.dir / "unbound.conf"
        self.log_path = self.dir / "unbound.log"
        self.proc = None
        env.on_close(self.stop)
        # Someone may take the port between free_port() and unbound's bind.
        for attempt in range(1 if port else attempts):
            self.port = port or harness.free_port()
            if self._start():
                return
        raise RuntimeError(f"unbound did not start: {self.log()}")

    @property
    def servers(self):
        """For dns.servers in the config."""
        return [f"127.0.0.1:{self.port}"]

    def _start(self):
        text = (ZONES / "unbound.conf.in").read_text()
        text = (text.replace("@PORT@", str(self.port))
                    .replace("@RUNDIR@", str(self.dir))
                    .replace("@ZONEDIR@", str(ZONES)))
        self.conf.write_text(self._config(text))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([_unbound_binary(), "-d", "-c", str(self.conf)],
                                         stdout=log, stderr=log)
        try:
            harness.wait_until(lambda: self.proc.poll() is not None or self.answers(),
                               what="unbound")
        except TimeoutError:
            self.stop()
            return False
        return self.proc.poll() is None

    def _config(self, text):
        """The unbound.conf to run: a subclass may change the zones."""
        return text

    def answers(self):
        return query(self.port, "mx.example.org", timeout=0.2) is not None

    def query(self, name, qtype=1):
        return query(self.port, name, qtype)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


if __name__ == "__main__":
    env = harness.Env("esmtp-dns")
    try:
        server = Unbound(env)
        print(f"unbound on 127.0.0.1:{server.port} (dig -p {server.port} @127.0.0.1 ...), "
              f"config {server.conf}; Ctrl-C stops it", flush=True)
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        env.close()
