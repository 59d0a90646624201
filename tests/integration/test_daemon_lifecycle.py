"""How both daemons start, run beside another instance and stop (issue 9;
esmtp-inspect-milter(8) and esmtp-inspect-policyd(8), START-UP, SIGNALS and
EXIT STATUS).

Against the real daemons and a real Postfix:
- a second instance on a socket that answers refuses to start, says why on
  stderr, and leaves the first one serving mail (socket file untouched);
- SIGTERM while a message is in flight: the client still gets the verdict
  it earned (550 from the milter, the policy service's reject), not
  Postfix's 451 for a vanished filter;
- a `file:` log renamed by logrotate is reopened on SIGUSR1 and on SIGHUP;
- every fatal start-up error is on stderr with a non-zero status, in the
  foreground and detached (the parent waits for the daemon's verdict), and
  nothing at the socket path is replaced or deleted;
- a relative -c keeps working for reloads after the daemon changed
  directory; systemd hears READY=1, RELOADING=1 and STOPPING=1.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402

MILTER = str(harness.BIN / "esmtp-inspect-milter")
POLICYD = str(harness.BIN / "esmtp-inspect-policyd")
CLIENT = ("203.0.113.5", "mx.example.org")


def run(argv, timeout=20, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class SmtpSession:
    """A raw SMTP client, for a transaction that must pause halfway."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.reply()

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(4096)
                if not data:
                    raise ConnectionError("server closed: " + repr(lines))
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return lines[-1]

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def notify_listener(env):
    """A unix datagram socket standing in for systemd's $NOTIFY_SOCKET."""
    path = env.path("notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    os.chmod(path, 0o777)  # as systemd's: the daemon writes after dropping root
    s.settimeout(10)
    env.on_close(s.close)
    return s, path


class WithSink(unittest.TestCase):
    """A test folder and an smtp-sink next hop for each test's Postfix."""

    def setUp(self):
        self.env = harness.Env("lifecycle")
        self.addCleanup(self.env.close)
        self.sink = harness.Sink(self.env)


class SecondInstance(WithSink):
    def test_milter_second_instance_refuses_and_first_keeps_serving(self):
        first = harness.Milter(self.env, "").start()
        postfix = harness.Postfix(self.env, self.sink, milters=[first.postfix_spec])
        path = Path(first.socket.partition(":")[2])
        inode = path.stat().st_ino
        for argv in ([MILTER, "-f", "-c", str(first.config_path), "-s", first.socket],
                     [MILTER, "-c", str(first.config_path), "-s", first.socket]):
            with self.subTest(detached="-f" not in argv):
                out = run(argv)
                self.assertEqual(out.returncode, 1, out.stderr)
                self.assertIn(f"another instance is already listening on {path}", out.stderr)
                self.assertEqual(path.stat().st_ino, inode, "the live socket was not replaced")
        r = harness.swaks(postfix.port, client=CLIENT, helo=CLIENT[1])
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.assertIsNone(first.proc.poll())

    def test_policyd_second_instance_refuses_and_first_keeps_serving(self):
        first = harness.Policyd(self.env, "rules: { sender_address: { patterns: [\"*@spam.example\"] } }\n")
        tcp = harness.free_port()
        first.argv += ["-l", f"inet:127.0.0.1:{tcp}"]
        first.start()
        postfix = harness.Postfix(self.env, self.sink, extra={
            "smtpd_recipient_restrictions": f"check_policy_service {first.postfix_spec}"})
        inode = first.sock.stat().st_ino
        # The same unix socket: refused before anything is touched.
        out = run([POLICYD, "-f", "-c", str(first.config_path), "-l", first.listen])
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"another instance is already listening on {first.sock}", out.stderr)
        # Only the TCP port in common, and a fresh unix path: the port is
        # bound before any unix socket is made, so nothing is left behind.
        other = self.env.run_dir() / "other.sock"
        out = run([POLICYD, "-f", "-c", str(first.config_path), "-l", f"unix:{other}",
                   "-l", f"inet:127.0.0.1:{tcp}"])
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{tcp}: the port is in use", out.stderr)
        self.assertFalse(other.exists())
        self.assertEqual(first.sock.stat().st_ino, inode)
        r = harness.swaks(postfix.port, sender="x@spam.example", client=CLIENT, helo=CLIENT[1])
        self.assertTrue(r.has("550 5.7.1"), r.replies)
        r = harness.swaks(postfix.port, client=CLIENT, helo=CLIENT[1])
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)


class StopInFlight(WithSink):
    def test_milter_sigterm_lets_the_message_in_flight_get_its_550(self):
        milter = harness.Milter(self.env, "").start()
        postfix = harness.Postfix(self.env, self.sink, milters=[milter.postfix_spec])
        s = SmtpSession(postfix.port)
        self.addCleanup(s.close)
        self.assertTrue(s.cmd(f"XCLIENT ADDR={CLIENT[0]} NAME={CLIENT[1]}").startswith("220"))
        self.assertTrue(s.cmd(f"EHLO {CLIENT[1]}").startswith("250"))
        self.assertTrue(s.cmd("MAIL FROM:<inflight@example.org>").startswith("250"))
        self.assertTrue(s.cmd("RCPT TO:<b@example.net>").startswith("250"))
        self.assertTrue(s.cmd("DATA").startswith("354"))
        s.send(b"From: <inflight@example.org>\r\nSubject: " + b"x" * 990 + b"\r\n")
        milter.signal(signal.SIGTERM)
        milter.wait_log(r"waiting for 1 message\(s\) in progress")
        time.sleep(0.5)  # the milter is stopping while the client takes its time
        self.assertIsNone(milter.proc.poll(), "the milter waits for the message")
        s.send(b"To: <b@example.net>\r\n\r\nBody.\r\n")
        reply = s.cmd(".")
        self.assertEqual(reply, "550 5.6.0 Header line too long")
        milter.proc.wait(15)
        self.assertEqual(milter.proc.returncode, 0)
        self.assertFalse(Path(milter.socket.partition(":")[2]).exists())
        self.assertRegex(milter.log(), r"action=reject rule=header_line_length actual=999 ")
        # No tempfail for a vanished filter (a bare "451" also matched PIDs).
        self.assertNotRegex(postfix.log(), r"\b451 4\.\d")

    def test_policyd_sigterm_answers_the_request_in_flight(self):
        # DNS that never answers: the identity lookup of the request takes the
        # whole budget (3 s); SIGTERM arrives meanwhile.
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", 0))
        self.addCleanup(hole.close)
        config = (f"dns: {{ servers: [\"127.0.0.1:{hole.getsockname()[1]}\"], timeout: 3s, "
                  "tries: 1 }\nrules: { sender_address: { patterns: [\"*@spam.example\"] } }\n")
        policyd = harness.Policyd(self.env, config).start()
        postfix = harness.Postfix(self.env, self.sink, extra={
            "smtpd_recipient_restrictions": f"check_policy_service {policyd.postfix_spec}"})
        s = SmtpSession(postfix.port)
        self.addCleanup(s.close)
        s.cmd(f"XCLIENT ADDR={CLIENT[0]} NAME={CLIENT[1]}")
        s.cmd(f"EHLO {CLIENT[1]}")
        self.assertTrue(s.cmd("MAIL FROM:<x@spam.example>").startswith("250"))
        s.send(b"RCPT TO:<b@example.net>\r\n")
        time.sleep(1.0)
        policyd.signal(signal.SIGTERM)
        reply = s.reply()
        self.assertEqual(reply, "550 5.7.1 <b@example.net>: Recipient address rejected: "
                                "Sender address rejected")
        policyd.proc.wait(15)
        self.assertEqual(policyd.proc.returncode, 0)
        self.assertFalse(policyd.sock.exists())
        self.assertNotIn("Server configuration problem", postfix.log())


class LogReopen(WithSink):
    def test_milter_reopens_renamed_log_on_sigusr1_and_sighup(self):
        milter = harness.Milter(self.env, "").start()
        postfix = harness.Postfix(self.env, self.sink, milters=[milter.postfix_spec])
        log = Path(milter.log_path)
        for n, sig in enumerate((signal.SIGUSR1, signal.SIGHUP)):
            with self.subTest(signal=sig.name):
                rotated = log.with_name(f"milter.log.{n + 1}")
                log.rename(rotated)
                milter.signal(sig)
                sender = f"rotate{n}@example.org"
                # Until the file exists again, the signal has not been handled.
                harness.wait_until(lambda: log.exists(), what="log reopened")
                r = harness.swaks(postfix.port, sender=sender, client=CLIENT, helo=CLIENT[1],
                                  headers=["Subject: " + "y" * 990])
                self.assertTrue(r.has("550 5.6.0 Header line too long"), r.replies)
                milter.wait_log(re.escape(f"from=<{sender}>"))
                self.assertNotIn(sender, rotated.read_text())
                st = log.stat()
                self.assertEqual((st.st_uid, oct(st.st_mode & 0o777)),
                                 (pwd.getpwnam("nobody").pw_uid, "0o640"))

    def test_policyd_reopens_renamed_log_on_sigusr1(self):
        policyd = harness.Policyd(
            self.env, "rules: { sender_address: { patterns: [\"*@spam.example\"] } }\n").start()
        postfix = harness.Postfix(self.env, self.sink, extra={
            "smtpd_recipient_restrictions": f"check_policy_service {policyd.postfix_spec}"})
        log = Path(policyd.log_path)
        rotated = log.with_name("policyd.log.1")
        log.rename(rotated)
        policyd.signal(signal.SIGUSR1)
        harness.wait_until(lambda: log.exists(), what="log reopened")
        r = harness.swaks(postfix.port, sender="rotated@spam.example", client=CLIENT,
                          helo=CLIENT[1])
        self.assertTrue(r.has("550 5.7.1"), r.replies)
        policyd.wait_log(re.escape("from=<rotated@spam.example>"))
        self.assertNotIn("rotated@spam.example", rotated.read_text())


class StartupErrors(unittest.TestCase):
    """Each fatal start-up error: its text on stderr, its exit status, both in
    the foreground (-f) and detached, and nothing changed on disk."""

    def setUp(self):
        self.env = harness.Env("lifecycle")
        self.addCleanup(self.env.close)
        self.run_dir = self.env.run_dir()

    def conf(self, text, name="c.yaml"):
        p = self.env.path(name)
        p.write_text(self.env.with_dns(text))
        return p

    def both_ways(self, program, argv, status, text):
        for detached in (False, True):
            with self.subTest(program=Path(program).name, detached=detached):
                out = run([program] + ([] if detached else ["-f"]) + argv)
                self.assertEqual(out.returncode, status, out.stderr)
                self.assertIn(text, out.stderr)

    def sock_arg(self, program, spec):
        return ["-s", spec] if program == MILTER else ["-l", spec]

    def test_command_line_values(self):
        """Every bad value on the command line: a message naming it and
        EX_USAGE (64), never an abort (security issue, finding 11:
        `-l inet:127.0.0.1:abc` ended in an uncaught std::invalid_argument)."""
        log = self.run_dir / "d.log"
        good = self.conf(f'log: {{ to: "file:{log}" }}\n'
                         "milter: { user: nobody, group: postfix }\n"
                         "policy: { user: nobody, group: postfix }\n")
        port = 'the port must be a number from 1 to 65535'
        cases = [
            (POLICYD, ["-l", "inet:127.0.0.1:abc"], f'"inet:127.0.0.1:abc": {port}'),
            (POLICYD, ["-l", "inet:127.0.0.1:99999"], f'"inet:127.0.0.1:99999": {port}'),
            (POLICYD, ["-l", "inet:127.0.0.1:65536"], f'"inet:127.0.0.1:65536": {port}'),
            (POLICYD, ["-l", "inet:127.0.0.1:0"], f'"inet:127.0.0.1:0": {port}'),
            (POLICYD, ["-l", "inet:127.0.0.1:-1"], f'"inet:127.0.0.1:-1": {port}'),
            (POLICYD, ["-l", "inet:[::1]:1e3"], f'"inet:[::1]:1e3": {port}'),
            (POLICYD, ["-l", "foo"], '"foo" is not a listen address (unix:/path or '
                                     'inet:HOST:PORT)'),
            (POLICYD, ["-l", "inet:127.0.0.1"], '"inet:127.0.0.1" is not a listen address'),
            (POLICYD, ["-l"], "--listen: 1 required TEXT missing"),
            (POLICYD, ["--no-such-option"], "The following argument was not expected: "
                                            "--no-such-option"),
            (MILTER, ["-s", "inet:abc@127.0.0.1"], f'"inet:abc@127.0.0.1": {port}'),
            (MILTER, ["-s", "inet:99999@127.0.0.1"], f'"inet:99999@127.0.0.1": {port}'),
            (MILTER, ["-s", "inet6:0@[::1]"], f'"inet6:0@[::1]": {port}'),
            (MILTER, ["-s", "foo"], '"foo" is not a milter socket'),
            (MILTER, ["--no-such-option"], "--no-such-option"),
        ]
        for program, argv, text in cases:
            with self.subTest(program=Path(program).name, argv=argv):
                out = run([program, "-f", "-c", str(good)] + argv)
                self.assertEqual(out.returncode, 64, out.stderr)
                self.assertIn(text, out.stderr)
                self.assertNotIn("terminate called", out.stderr)
        # The operator CLI: numeric options are CLI11's to check (usage: 2).
        cli = str(harness.BIN / "esmtp-inspect")
        for argv in (["probe", "--port", "abc", "127.0.0.1"],
                     ["probe", "--port", "99999", "127.0.0.1"],
                     ["probe", "--timeout", "x", "127.0.0.1"],
                     ["probe", "127.0.0.1:99999"]):
            with self.subTest(argv=argv):
                out = run([cli] + argv)
                self.assertIn(out.returncode, (2, 3), out.stderr)
                self.assertNotIn("terminate called", out.stderr)
                self.assertTrue(out.stderr.strip(), "a message says why")

    def test_errors(self):
        log = self.run_dir / "d.log"
        good = self.conf(f'log: {{ to: "file:{log}" }}\n'
                         "milter: { user: nobody, group: postfix }\n"
                         "policy: { user: nobody, group: postfix }\n")
        sock = f"unix:{self.run_dir}/d.sock"
        for program in (MILTER, POLICYD):
            s = lambda spec: self.sock_arg(program, spec)  # noqa: E731
            self.both_ways(program, ["-c", str(self.env.path("missing.yaml"))] + s(sock), 78,
                           f"{self.env.path('missing.yaml')}: cannot open: No such file")
            self.both_ways(program, ["-c", str(self.env.dir)] + s(sock), 78,
                           f"{self.env.dir}: is a directory, not a configuration file")
            bad = self.conf("rules: { header_line_length: { max: lots } }\n", "bad.yaml")
            self.both_ways(program, ["-c", str(bad)] + s(sock), 78,
                           "bad.yaml:1:37: rules.header_line_length.max: expected a whole number")
            nouser = self.conf("milter: { user: no-such-user }\npolicy: { user: no-such-user }\n",
                               "nouser.yaml")
            self.both_ways(program, ["-c", str(nouser)] + s(sock), 78,
                           'user "no-such-user" does not exist')
            out = run([program, "--check-config", "-c", str(nouser)])
            self.assertEqual(out.returncode, 78)
            self.assertIn('user "no-such-user" does not exist', out.stderr)
            nogroup = self.conf("milter: { user: nobody, group: no-such-group }\n"
                                "policy: { user: nobody, group: no-such-group }\n", "nogroup.yaml")
            self.both_ways(program, ["-c", str(nogroup)] + s(sock), 78,
                           'group "no-such-group" does not exist')
            self.both_ways(program, ["-c", str(good)] + s("unix:/nonexistent/dir/d.sock"), 1,
                           "socket folder /nonexistent/dir does not exist")
            self.both_ways(program, ["-c", str(good)] + s("unix:relative.sock"), 64,
                           "needs an absolute path")
            # The folder is root's: the run-as user cannot make its socket there.
            self.both_ways(program, ["-c", str(good)] + s(f"unix:{self.env.dir}/d.sock"), 1,
                           f"cannot create sockets in {self.env.dir} as user nobody")
            # A regular file at the socket path is never replaced.
            precious = self.run_dir / "precious.txt"
            precious.write_text("keep me\n")
            self.both_ways(program, ["-c", str(good)] + s(f"unix:{precious}"), 1,
                           f"{precious} exists and is not a socket; refusing to replace it")
            self.assertEqual(precious.read_text(), "keep me\n")
            # A log file the run-as user cannot write.
            nolog = self.conf('log: { to: "file:/nonexistent/x.log" }\n'
                              "milter: { user: nobody, group: postfix }\n"
                              "policy: { user: nobody, group: postfix }\n", "nolog.yaml")
            self.both_ways(program, ["-c", str(nolog)] + s(sock), 78,
                           "cannot open log file /nonexistent/x.log")
            # A symbolic link planted at the pidfile path is not followed.
            target = self.env.path("root-owned.txt")
            target.write_text("secret\n")
            link = self.run_dir / "d.pid"
            link.symlink_to(target)
            self.both_ways(program, ["-c", str(good), "--pidfile", str(link)] + s(sock), 1,
                           f"cannot write pidfile {link}")
            self.assertEqual(target.read_text(), "secret\n")
            link.unlink()
            self.assertFalse(Path(sock[5:]).exists(), "a failed start leaves no socket")

    def test_relative_config_survives_reload(self):
        log = self.run_dir / "rel.log"
        self.conf(f'log: {{ to: "file:{log}" }}\nmilter: {{ user: nobody, group: postfix }}\n',
                  "rel.yaml")
        pidfile = self.run_dir / "rel.pid"
        out = run([MILTER, "-c", "rel.yaml", "-s", f"unix:{self.run_dir}/rel.sock",
                   "--pidfile", str(pidfile)], cwd=self.env.dir)
        self.assertEqual(out.returncode, 0, out.stderr)
        pid = int(pidfile.read_text())
        self.addCleanup(lambda: os.path.exists(f"/proc/{pid}") and os.kill(pid, signal.SIGKILL))
        os.kill(pid, signal.SIGHUP)
        harness.wait_until(lambda: "reloaded configuration from" in log.read_text(),
                           what="reload")
        self.assertIn(f"reloaded configuration from {self.env.path('rel.yaml')}", log.read_text())
        os.kill(pid, signal.SIGTERM)
        harness.wait_until(lambda: not pidfile.exists(), what="pidfile removed")
        self.assertFalse((self.run_dir / "rel.sock").exists())


class RootWithoutUser(unittest.TestCase):
    def test_socket_group_without_run_as_user(self):
        """`user: ""` keeps root (not recommended, but allowed): the socket
        still gets the MTA's group and mode 0660, and is root's."""
        env = harness.Env("lifecycle")
        self.addCleanup(env.close)
        conf = env.path("root.yaml")
        log = env.path("root.log")
        conf.write_text(env.with_dns(f'log: {{ to: "file:{log}" }}\n'
                                     'milter: { user: "", group: postfix }\n'
                                     'policy: { user: "", group: postfix }\n'))
        for program, flag, name in ((MILTER, "-s", "m.sock"), (POLICYD, "-l", "p.sock")):
            with self.subTest(program=Path(program).name):
                sock = env.path(name)
                proc = subprocess.Popen([program, "-f", "-c", str(conf), flag, f"unix:{sock}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    harness.wait_until(lambda: harness.unix_socket_open(sock) or proc.poll(),
                                       what=str(sock))
                    st = sock.stat()
                    import grp
                    self.assertEqual((st.st_uid, grp.getgrgid(st.st_gid).gr_name,
                                      oct(st.st_mode & 0o777)), (0, "postfix", "0o660"))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    self.assertEqual(proc.wait(15), 0, proc.stderr.read().decode())
                self.assertFalse(sock.exists())


class ServiceManager(unittest.TestCase):
    def setUp(self):
        self.env = harness.Env("lifecycle")
        self.addCleanup(self.env.close)

    def states(self, program_args, sock_ready):
        listener, path = notify_listener(self.env)
        env = dict(os.environ, NOTIFY_SOCKET=str(path))
        proc = subprocess.Popen(program_args, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        ready = listener.recv(4096).decode()
        # READY=1 comes once the socket answers and privileges are dropped.
        self.assertIn("READY=1", ready)
        self.assertTrue(sock_ready())
        uid = int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text(),
                            re.M).group(1))
        self.assertEqual(uid, pwd.getpwnam("nobody").pw_uid)
        proc.send_signal(signal.SIGHUP)
        self.assertEqual(listener.recv(4096).decode(), "RELOADING=1")
        self.assertEqual(listener.recv(4096).decode(), "READY=1")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(listener.recv(4096).decode(), "STOPPING=1")
        self.assertEqual(proc.wait(15), 0)

    def test_notify_milter(self):
        m = harness.Milter(self.env, "")
        self.states(m.argv, lambda: harness.unix_socket_open(m.socket[5:]))

    def test_notify_policyd(self):
        p = harness.Policyd(self.env, "")
        self.states(p.argv, lambda: harness.unix_socket_open(p.sock))


if __name__ == "__main__":
    unittest.main(verbosity=2)
