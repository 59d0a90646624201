"""What a local user can prepare against a daemon started as root
(esmtp-inspect-milter(8) and esmtp-inspect-policyd(8), SECURITY).

Against the real daemons, started as root with run-as user nobody:
- a real attacker process running as nobody, who owns the socket folder,
  swaps each new socket for a symbolic link to a root-owned 0600 file (and
  plants links at the pidfile path) while the daemons start again and again:
  the root file keeps its owner, mode and contents;
- a configuration file, or a folder above it, that someone other than root
  and the run-as user can write is refused at start-up (exit 78, the reason
  and the fixing command on stderr), by --check-config, and at a reload
  (SIGHUP), which keeps the previous configuration.
"""

import grp
import os
import pwd
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

MILTER = str(harness.BIN / "esmtp-inspect-milter")
POLICYD = str(harness.BIN / "esmtp-inspect-policyd")

# The attacker: as nobody, in the folder nobody owns, replace whatever socket
# appears at SOCK (and whatever is at PID) by a symbolic link to TARGET, as
# fast as it can, until the file STOP exists; while the file PLANT exists it
# also plants a link at PID beforehand.
ATTACKER = r"""
import os, stat, sys
sock, pid, target, stop, plant = sys.argv[1:6]
swaps = 0
while not os.path.exists(stop):
    for path in (sock, pid):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if path == pid and os.path.exists(plant):
                try:
                    os.symlink(target, path)
                except OSError:
                    pass
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        try:
            os.rename(path, path + ".moved-%d" % swaps)
            os.symlink(target, path)
            swaps += 1
        except OSError:
            pass
"""


def as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def run(argv, timeout=20, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class SocketRace(unittest.TestCase):
    # The race the old code lost (chown by path after bind) took 12 to 19
    # starts to win on this machine.
    ROUNDS = 40

    def setUp(self):
        self.env = harness.Env("attack")
        self.addCleanup(self.env.close)
        self.run_dir = self.env.run_dir()
        self.target = self.env.path("root-secret")
        self.target.write_text("secret\n")
        os.chmod(self.target, 0o600)

    def assert_target_intact(self, where):
        st = os.stat(self.target)
        self.assertEqual((st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)), (0, 0, "0o600"), where)
        self.assertEqual(self.target.read_text(), "secret\n", where)

    def race(self, program, flag):
        conf = self.env.path("c.yaml")
        conf.write_text(self.env.with_dns(f'log: {{ to: "file:{self.run_dir / "d.log"}" }}\n'
                                          "milter: { user: nobody, group: postfix }\n"
                                          "policy: { user: nobody, group: postfix }\n"))
        sock = self.run_dir / "d.sock"
        pidfile = self.run_dir / "d.pid"
        stop = self.env.path("stop")
        plant = self.env.path("plant")
        attacker = subprocess.Popen(
            ["/usr/bin/python3", "-c", ATTACKER, str(sock), str(pidfile), str(self.target),
             str(stop), str(plant)],
            preexec_fn=as_nobody, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: attacker.poll() is None and attacker.kill())
        started = 0
        for i in range(self.ROUNDS):
            # What the last round left: the attacker's link (the daemon rightly
            # refuses to replace it) and our pidfile; every fourth round starts
            # with a link planted at the pidfile path as well.
            for leftover in (sock, pidfile):
                if leftover.is_symlink() or leftover.exists():
                    leftover.unlink()
            if i % 4 == 3:
                plant.touch()
            elif plant.exists():
                plant.unlink()
            time.sleep(0.05)
            daemon = subprocess.Popen(
                [program, "-f", "-c", str(conf), flag, f"unix:{sock}", "--pidfile", str(pidfile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            # Until it has bound, been attacked and either failed or runs.
            deadline = time.monotonic() + 5
            while daemon.poll() is None and time.monotonic() < deadline:
                if any(self.run_dir.glob("d.sock.moved-*")):
                    break
                time.sleep(0.01)
            time.sleep(0.2)
            if daemon.poll() is None:
                started += 1
                daemon.send_signal(signal.SIGTERM)
            try:
                daemon.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.communicate()
                self.fail(f"{program} did not stop on SIGTERM in round {i}")
            self.assert_target_intact(f"{Path(program).name}, round {i}")
        stop.touch()
        attacker.communicate(timeout=10)
        swaps = len(list(self.run_dir.glob("d.sock.moved-*")))
        # The attack really ran: it swapped the daemons' sockets for links.
        self.assertGreaterEqual(swaps, self.ROUNDS // 2, "the attacker hardly ever got a socket")
        self.assert_target_intact(f"{Path(program).name}, after {swaps} swaps")
        print(f"{Path(program).name}: {self.ROUNDS} starts ({started} got as far as running), "
              f"{swaps} sockets swapped for links: the root file is untouched")

    def test_milter_socket_race(self):
        self.race(MILTER, "-s")

    def test_policyd_socket_race(self):
        self.race(POLICYD, "-l")


class ConfigTrust(unittest.TestCase):
    """A configuration others can change is refused (it names the log file
    the daemon opens, the sockets it replaces, the user it runs as)."""

    def setUp(self):
        self.env = harness.Env("trust")
        self.addCleanup(self.env.close)
        self.run_dir = self.env.run_dir()
        self.sock = f"unix:{self.run_dir}/t.sock"

    def conf(self, where, mode=0o644, owner="root", group="root"):
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(self.env.with_dns(f'log: {{ to: "file:{self.run_dir}/t.log" }}\n'
                                           "milter: { user: nobody, group: postfix }\n"
                                           "policy: { user: nobody, group: postfix }\n"))
        shutil_chown(where, owner, group)
        os.chmod(where, mode)
        return where

    def refused(self, path, text):
        for program, flag in ((MILTER, "-s"), (POLICYD, "-l")):
            for argv in (["-f", "-c", str(path), flag, self.sock],
                         ["-c", str(path), flag, self.sock],
                         ["--check-config", "-c", str(path)]):
                with self.subTest(program=Path(program).name, argv=argv[0]):
                    out = run([program] + argv)
                    self.assertEqual(out.returncode, 78, out.stderr)
                    self.assertIn(f"{path}: refusing a configuration file that users other "
                                  "than root and nobody can change: " + text, out.stderr)
                    self.assertFalse(Path(self.sock[5:]).exists())

    def accepted(self, path):
        for program in (MILTER, POLICYD):
            out = run([program, "--check-config", "-c", str(path)])
            self.assertEqual(out.returncode, 0, out.stderr)

    def test_world_writable_file(self):
        c = self.conf(self.env.path("ww.yaml"), 0o666)
        self.refused(c, f"{c} is writable by every user (mode 0666); run: chmod o-w {c}")

    def test_group_writable_file(self):
        c = self.conf(self.env.path("gw.yaml"), 0o664, group="adm")
        self.refused(c, f"{c} is writable by group adm (mode 0664); run: chmod g-w {c}")
        # Group root may write it: only root is in it.
        self.accepted(self.conf(self.env.path("gw-root.yaml"), 0o664, group="root"))

    def test_file_of_another_user(self):
        c = self.conf(self.env.path("daemon.yaml"), 0o644, owner="daemon")
        self.refused(c, f"{c} is owned by user daemon; run: chown root {c}")
        # The run-as user's own file is trusted: it could change it anyway.
        self.accepted(self.conf(self.env.path("nobody.yaml"), 0o644, owner="nobody"))

    def test_writable_folder(self):
        d = self.env.path("open")
        c = self.conf(d / "c.yaml")
        os.chmod(d, 0o777)
        self.refused(c, f"{d} is writable by every user (mode 0777); run: chmod o-w {d}")
        # A sticky folder like /tmp: others cannot rename or remove root's file.
        os.chmod(d, 0o1777)
        self.accepted(c)

    def test_link_in_a_writable_folder(self):
        c = self.conf(self.env.path("real.yaml"))
        d = self.env.path("links")
        d.mkdir()
        (d / "c.yaml").symlink_to(c)
        os.chmod(d, 0o777)
        self.refused(d / "c.yaml", f"{d} is writable by every user (mode 0777); run: chmod o-w {d}")
        os.chmod(d, 0o755)
        self.accepted(d / "c.yaml")

    def test_reload_keeps_the_old_configuration(self):
        c = self.conf(self.env.path("r.yaml"))
        log = self.run_dir / "t.log"
        pidfile = self.run_dir / "t.pid"
        out = run([MILTER, "-c", str(c), "-s", self.sock, "--pidfile", str(pidfile)])
        self.assertEqual(out.returncode, 0, out.stderr)
        pid = int(pidfile.read_text())
        self.addCleanup(lambda: os.path.exists(f"/proc/{pid}") and os.kill(pid, signal.SIGKILL))
        os.chmod(c, 0o666)
        os.kill(pid, signal.SIGHUP)
        harness.wait_until(lambda: "still running the previous configuration" in log.read_text(),
                           what="reload refused")
        self.assertIn(f"reload: {c}: refusing a configuration file that users other than root "
                      f"and nobody can change: {c} is writable by every user (mode 0666); "
                      f"run: chmod o-w {c}; still running the previous configuration",
                      log.read_text())
        os.chmod(c, 0o644)
        os.kill(pid, signal.SIGHUP)
        harness.wait_until(lambda: f"reloaded configuration from {c}" in log.read_text(),
                           what="reload")
        os.kill(pid, signal.SIGTERM)
        harness.wait_until(lambda: not pidfile.exists(), what="pidfile removed")


def shutil_chown(path, user, group):
    os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)


if __name__ == "__main__":
    unittest.main()
