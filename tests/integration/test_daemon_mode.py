"""Both daemons started the way an init script does: detached into the
background (no -f), with a pidfile. The DNS resolver's thread must live in the
detached process (fork keeps only the calling thread), so identity checks
must give real answers, not timeouts; SIGTERM to the pid in the pidfile stops
the daemon and removes nothing it should keep.
"""

import os
import signal
import socket
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402


def pid_from(path):
    return int(harness.wait_until(lambda: path.exists() and path.read_text().strip(),
                                  what=f"pidfile {path}"))


def stop(pid):
    os.kill(pid, signal.SIGTERM)
    def gone():
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True
    harness.wait_until(gone, what=f"pid {pid} to exit")


class DaemonMode(unittest.TestCase):
    def setUp(self):
        self.env = harness.Env("daemon-mode")
        self.addCleanup(self.env.close)
        self.dns = dns.Unbound(self.env)

    def test_policyd_detached_resolves(self):
        port = harness.free_port()
        log = self.env.run_dir() / "policyd.log"
        conf = self.env.path("policyd.yaml")
        pidfile = self.env.run_dir() / "policyd.pid"
        conf.write_text(f'log: {{ to: "file:{log}" }}\npolicy: {{ user: nobody, group: postfix }}\n'
                        f"dns: {{ servers: {self.dns.servers}, timeout: 1s, tries: 1 }}\n"
                        "tag_secret: none\n")
        harness.subprocess.run([str(harness.BIN / "esmtp-inspect-policyd"), "-c", str(conf),
                                "-l", f"inet:127.0.0.1:{port}", "--pidfile", str(pidfile)],
                               check=True, timeout=10)
        pid = pid_from(pidfile)
        self.addCleanup(lambda: os.path.exists(f"/proc/{pid}") and stop(pid))
        harness.wait_until(lambda: harness.port_open(port), what="policyd listening")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                      b"client_address=203.0.113.7\nclient_port=1\n"
                      b"helo_name=elsewhere.example.org\nsender=a@example.org\n"
                      b"recipient=b@example.net\ninstance=1\n\n")
            reply = s.recv(4096).decode()
        # Real DNS answers (a timeout would say temperror): the PTR points
        # elsewhere, and the HELO name resolves to another address.
        self.assertEqual(reply, "action=PREPEND X-ESMTP-Inspect: rule=fcrdns; result=fail, "
                                "rule=helo_matches_client; result=fail, "
                                "rule=helo_matches_ptr; result=none\n\n")
        stop(pid)
        self.assertIn("stopped", log.read_text())
        self.assertFalse(pidfile.exists(), "pidfile removed on exit")

    def test_milter_detached_resolves(self):
        sink = harness.Sink(self.env)
        log = self.env.run_dir() / "milter.log"
        conf = self.env.path("milter.yaml")
        pidfile = self.env.run_dir() / "milter.pid"
        port = harness.free_port()
        conf.write_text(f'log: {{ to: "file:{log}" }}\n'
                        "milter: { user: nobody, group: postfix, identity: true }\n"
                        f"dns: {{ servers: {self.dns.servers}, timeout: 1s, tries: 1 }}\n")
        harness.subprocess.run([str(harness.BIN / "esmtp-inspect-milter"), "-c", str(conf),
                                "-s", f"inet:{port}@127.0.0.1", "--pidfile", str(pidfile)],
                               check=True, timeout=10)
        pid = pid_from(pidfile)
        self.addCleanup(lambda: os.path.exists(f"/proc/{pid}") and stop(pid))
        harness.wait_until(lambda: harness.port_open(port), what="milter listening")
        postfix = harness.Postfix(self.env, sink, milters=[f"inet:127.0.0.1:{port}"])
        r = harness.swaks(postfix.port, sender="detached@example.org",
                          client=("203.0.113.7", "elsewhere.example.org"), helo="mx.example.org")
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = harness.wait_until(lambda: [m for m in sink.messages()
                                          if m.mail_from == "<detached@example.org>"], timeout=20)[0]
        self.assertIn("rule=fcrdns; result=fail", msg.header("X-ESMTP-Inspect"))
        t = time.monotonic()
        stop(pid)
        self.assertLess(time.monotonic() - t, 3.0)
        self.assertIn("stopped", log.read_text())
        self.assertFalse(pidfile.exists(), "pidfile removed on exit")


if __name__ == "__main__":
    unittest.main(verbosity=2)
