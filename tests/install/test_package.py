"""The Debian package on the distribution's own Postfix (issue 9; esmtp-inspect-milter(8)
and esmtp-inspect-policyd(8), POSTFIX and FILES).

As an administrator would, on this machine as root:

1. build the package from the tree (`DEB_BUILD_OPTIONS=nocheck
   dpkg-buildpackage -b -us -uc` in a copy of the tree), check it with
   lintian (no errors) and install it with dpkg;
2. check what it installed: programs in /usr/bin and /usr/sbin, the four man
   pages, the conffile, units (`systemd-analyze verify` clean), logrotate,
   sysusers/tmpfiles, the user (no shell, no home) and the socket folder
   esmtp-inspect:postfix 0750 in the queue directory; `postfix check` and
   `postfix set-permissions` stay quiet;
3. configure Debian's Postfix in /etc/postfix: the packaged master.cf (smtpd
   chrooted: asserted, in master.cf and on the running smtpd), a main.cf from
   Debian's template plus the test's surroundings (loopback, XCLIENT, relay
   to an smtp-sink next hop) and exactly the `postconf -e` lines of the
   README; point the package's configuration at a private unbound (never the
   machine's resolver) and a file log;
4. start both daemons with the units' ExecStartPre/ExecStart lines (no
   systemd runs here: ExecStart runs under setpriv with the unit's
   CapabilityBoundingSet and NoNewPrivileges, and READY=1 is awaited on a
   NOTIFY_SOCKET, as systemd would) and Postfix with Debian's
   postfix@-.service lines;
5. send a clean message (delivered, with the policy service's tag) and one
   with a 999-octet header line (550 5.6.0);
6. run selfcheck (no wiring finding worse than ok), break the socket path
   (selfcheck names the problem and its fix; a real message gets 451), apply
   the fix it printed (mail flows again); kill the milter and start it again
   by the unit's lines over the socket it left behind;
7. wire the same installed milter into a private Sendmail with the package's
   .mc line (absolute path): the same 550;
8. stop everything, purge the package (folders gone, user kept) and put the
   machine back: /etc/postfix, /var/spool/postfix and /var/lib/postfix as
   they were, the user removed again if this test created it.

Run: python3 -m unittest -v tests/install/test_package.py (root; the
packages of tools/install-deps.sh test). Prints the lintian summary and the
package's file list.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import dns  # noqa: E402
import harness  # noqa: E402
import sendmail  # noqa: E402

CONF = Path("/etc/esmtp-inspect/esmtp-inspect.yaml")
SPOOL = Path("/var/spool/postfix/esmtp-inspect")
LOG = Path("/var/log/esmtp-inspect/esmtp-inspect.log")
MAILLOG = Path("/var/log/esmtp-inspect-install-test.maillog")
STATE = ("etc/postfix", "var/spool/postfix", "var/lib/postfix")
TAGGED = ("203.0.113.7", "elsewhere.example.org")  # PTR points elsewhere: tagged
CLEAN = ("203.0.113.5", "mx.example.org")


def sh(*argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {r.returncode}:\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def package_installed(name):
    r = sh("dpkg-query", "-W", "-f=${Status}", name, check=False)
    return r.returncode == 0 and "install ok installed" in r.stdout


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def readme_postconf_lines():
    """The `postconf -e` lines of README's "Setting it up", as an
    administrator would copy them."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Setting it up"):text.index("## Rules")]
    return [line for line in section.splitlines() if line.startswith("postconf -e ")]


def unit_lines(unit, key):
    text = Path(f"/lib/systemd/system/{unit}").read_text()
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def manifest():
    """What "as it was" means: every path under the Postfix state folders with
    its type, mode, owner, group, size and, for files and links, content."""
    entries = {}
    for top in STATE:
        for dirpath, dirnames, filenames in os.walk(Path("/", top)):
            for name in dirnames + filenames:
                p = Path(dirpath, name)
                st = p.lstat()
                if p.is_symlink():
                    content = os.readlink(p)
                elif p.is_file():
                    content = p.read_bytes()
                else:
                    content = None
                entries[str(p)] = (st.st_mode, st.st_uid, st.st_gid, content)
    return entries


def smtp_port_free():
    with socket.socket() as s:
        # As Postfix binds: connections of an earlier run in TIME_WAIT are fine.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 25))
            return True
        except OSError:
            return False


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: installs a package and configures /etc/postfix")
        for tool in ("dpkg-buildpackage", "lintian", "postconf", "swaks", "systemd-analyze"):
            if not shutil.which(tool):
                raise AssertionError(f"{tool} missing: run tools/install-deps.sh test")
        if package_installed("esmtp-inspect"):
            raise AssertionError("esmtp-inspect is installed already; this test would purge it")
        if not smtp_port_free():
            raise AssertionError("127.0.0.1:25 is in use; the distribution's Postfix needs it")
        cls.env = harness.Env("install")
        cls.procs = []
        cls.user_was_there = user_exists("esmtp-inspect")
        # The machine as it was: restored in tearDownClass whatever happens.
        cls.before = manifest()
        cls.snapshot = Path(tempfile.mkdtemp(prefix="install-state-")) / "postfix-state.tar"
        with tarfile.open(cls.snapshot, "w") as tar:
            for p in STATE:
                if Path("/", p).exists():
                    tar.add(Path("/", p), arcname=p)
        try:
            cls.deb = cls.build_package()
            sh("dpkg", "-i", str(cls.deb))
        except BaseException:
            cls.tearDownClass()  # unittest does not when setUpClass fails
            raise

    @classmethod
    def build_package(cls):
        version = re.search(r"project\(esmtp-inspect VERSION ([0-9.]+)",
                            (ROOT / "CMakeLists.txt").read_text()).group(1)
        src = cls.env.path("pkg", f"esmtp-inspect-{version}")
        src.mkdir(parents=True)
        # The tree as committed plus uncommitted work, without build output.
        files = sh("git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z").stdout
        for name in filter(None, files.split("\0")):
            source = ROOT / name
            if not source.exists() and not source.is_symlink():
                continue
            target = src / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                shutil.copy2(source, target)
        env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count() or 2}")
        t = time.monotonic()
        out = sh("dpkg-buildpackage", "-b", "-us", "-uc", cwd=src, env=env, check=False)
        if out.returncode != 0:
            raise AssertionError(f"dpkg-buildpackage failed:\n{out.stdout[-4000:]}\n"
                                 f"{out.stderr[-4000:]}")
        print(f"\npackage built in {time.monotonic() - t:.0f} s")
        debs = [p for p in src.parent.glob("esmtp-inspect_*.deb")]
        assert len(debs) == 1, debs
        cls.changes = next(src.parent.glob("esmtp-inspect_*.changes"))
        return debs[0]

    @classmethod
    def tearDownClass(cls):
        for proc in reversed(cls.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        sh("postmulti", "-i", "-", "-p", "stop", check=False)
        try:
            if package_installed("esmtp-inspect") or Path("/etc/esmtp-inspect").exists():
                sh("dpkg", "--purge", "esmtp-inspect", check=False)
            for p in STATE:
                shutil.rmtree(Path("/", p), ignore_errors=True)
            with tarfile.open(cls.snapshot) as tar:
                tar.extractall("/", numeric_owner=True)
            shutil.rmtree(cls.snapshot.parent)
            MAILLOG.unlink(missing_ok=True)
            if not cls.user_was_there and user_exists("esmtp-inspect"):
                sh("userdel", "esmtp-inspect", check=False)
                sh("groupdel", "esmtp-inspect", check=False)
        finally:
            cls.env.close()
        after = manifest()
        changed = sorted(k for k in set(cls.before) | set(after)
                         if cls.before.get(k) != after.get(k))
        if changed:
            raise AssertionError(f"the machine was not put back: {changed[:20]}")
        print(f"machine put back: {len(after)} paths under /etc/postfix, /var/spool/postfix "
              "and /var/lib/postfix as they were")

    # 1-2: the package and what it installed --------------------------------

    def test_1_package(self):
        out = sh("lintian", "--no-tag-display-limit", str(self.changes), check=False)
        tags = [line for line in out.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
        print("\nlintian:", f"{len(tags)} tag(s)" if tags else "no tags", *tags, sep="\n  ")
        self.assertEqual([t for t in tags if t.startswith("E: ")], [])
        listing = sh("dpkg-deb", "-c", str(self.deb)).stdout
        files = sorted(line.split()[-1].lstrip(".") for line in listing.splitlines()
                       if not line.startswith("d"))
        print("package files:", *files, sep="\n  ")
        for path in ("/usr/bin/esmtp-inspect", "/usr/sbin/esmtp-inspect-milter",
                     "/usr/sbin/esmtp-inspect-policyd", "/etc/esmtp-inspect/esmtp-inspect.yaml",
                     "/etc/logrotate.d/esmtp-inspect", "/usr/lib/sysusers.d/esmtp-inspect.conf",
                     "/usr/lib/tmpfiles.d/esmtp-inspect.conf",
                     "/lib/systemd/system/esmtp-inspect-milter.service",
                     "/lib/systemd/system/esmtp-inspect-policyd.service"):
            self.assertIn(path, files)
            self.assertTrue(Path(path).exists(), path)
        for page in ("esmtp-inspect", "esmtp-inspect-milter", "esmtp-inspect-policyd",
                     "esmtp-inspect.yaml"):
            self.assertRegex(sh("man", "-w", page).stdout, r"^/usr/share/man/man[158]/")
        conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", "esmtp-inspect").stdout
        self.assertIn("/etc/esmtp-inspect/esmtp-inspect.yaml", conffiles)
        user = pwd.getpwnam("esmtp-inspect")
        self.assertEqual(user.pw_shell, "/usr/sbin/nologin")
        self.assertFalse(Path(user.pw_dir).exists(), f"home {user.pw_dir} must not exist")
        st = SPOOL.stat()
        self.assertEqual((pwd.getpwuid(st.st_uid).pw_name, oct(st.st_mode & 0o7777)),
                         ("esmtp-inspect", "0o750"))
        import grp
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, "postfix")
        for unit in ("esmtp-inspect-milter.service", "esmtp-inspect-policyd.service"):
            out = sh("systemd-analyze", "verify", f"/lib/systemd/system/{unit}", check=False)
            self.assertEqual((out.returncode, out.stdout + out.stderr), (0, ""), unit)
            self.assertEqual(unit_lines(unit, "Type"), ["notify"])
            self.assertIn("postfix@-.service", unit_lines(unit, "Before")[0])

    # 3-5: Debian's Postfix with the README's lines ---------------------------

    def test_2_postfix_with_both_daemons(self):
        master = Path("/etc/postfix/master.cf").read_text()
        self.assertEqual(master, Path("/usr/share/postfix/master.cf.dist").read_text(),
                         "the packaged master.cf")
        smtp = next(line.split() for line in master.splitlines() if line.startswith("smtp "))
        self.assertEqual((smtp[1], smtp[4], smtp[7]), ("inet", "y", "smtpd"),
                         "Debian runs smtpd chrooted")
        cls = type(self)
        cls.dns = dns.Unbound(self.env)
        cls.sink = harness.Sink(self.env)
        shutil.copy("/usr/share/postfix/main.cf.debian", "/etc/postfix/main.cf")
        # The test's surroundings: loopback only, clients presented through
        # XCLIENT, accepted mail relayed to smtp-sink, logs in a file.
        sh("postconf", "-e", "myhostname=mx.test.example", "inet_interfaces=loopback-only",
           "inet_protocols=ipv4", "mydestination=", "relay_domains=example.net",
           f"relayhost=[127.0.0.1]:{self.sink.port}", "smtp_dns_support_level=disabled",
           "smtpd_peername_lookup=no", "smtpd_authorized_xclient_hosts=127.0.0.0/8",
           f"maillog_file={MAILLOG}", "alias_maps=", "alias_database=")
        lines = readme_postconf_lines()
        self.assertEqual(len(lines), 3, lines)
        for line in lines:
            sh("sh", "-c", line)
        check = sh("postfix", "check")
        self.assertEqual(check.stdout + check.stderr, "")
        # The package's configuration, as the README says for both daemons,
        # pointed at the test's DNS server and a file log.
        text = CONF.read_text()
        for old, new in ((r"(?m)^  servers: \[\]$", f"  servers: {self.dns.servers}"),
                         (r"(?m)^  to: syslog$", f'  to: "file:{LOG}"'),
                         (r"(?m)^both_daemons: false$", "both_daemons: true")):
            text, n = re.subn(old, new, text)
            self.assertEqual(n, 1, old)
        CONF.write_text(text)
        for unit in ("esmtp-inspect-milter.service", "esmtp-inspect-policyd.service"):
            for pre in unit_lines(unit, "ExecStartPre"):
                sh(*pre.split())
            self.start_unit(unit)
        for name in ("milter.sock", "policy.sock"):
            st = (SPOOL / name).stat()
            self.assertEqual((pwd.getpwuid(st.st_uid).pw_name, oct(st.st_mode & 0o777)),
                             ("esmtp-inspect", "0o660"))
        # Debian's postfix@-.service lines.
        sh("/usr/lib/postfix/configure-instance.sh", "-")
        sh("postmulti", "-i", "-", "-p", "start")
        harness.wait_until(lambda: harness.port_open(25), what="postfix on 127.0.0.1:25")
        self.assertEqual(sh("postfix", "set-permissions").stdout.strip(), "")
        self.assertEqual(oct(SPOOL.stat().st_mode & 0o7777), "0o750")

        r = self.send(TAGGED)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = harness.wait_until(lambda: [m for m in self.sink.messages()
                                          if m.mail_from == "<pkg@example.org>"], timeout=30)[0]
        self.assertIn("rule=fcrdns; result=fail", msg.header("X-ESMTP-Inspect")[0])
        r = self.send(CLEAN, headers=["Subject: " + "x" * 990])
        self.assertTrue(r.has("550 5.6.0 Header line too long"), r.replies)
        self.assertRegex(LOG.read_text(), r"esmtp-inspect-milter\[\d+\]: [0-9A-F]+: action=reject "
                                          r"rule=header_line_length actual=999 limit=998")
        self.assertRegex(MAILLOG.read_text(), r"milter-reject: END-OF-MESSAGE .*5\.6\.0 Header "
                                              r"line too long")
        # The smtpd that served them is chrooted in the queue directory.
        pids = sh("pgrep", "-x", "smtpd").stdout.split()
        self.assertTrue(pids)
        for pid in pids:
            self.assertEqual(os.readlink(f"/proc/{pid}/root"), "/var/spool/postfix")

    def start_unit(self, unit):
        """ExecStart as systemd runs this Type=notify unit: in the foreground,
        with the unit's CapabilityBoundingSet and NoNewPrivileges (root
        without CAP_DAC_OVERRIDE cannot look into the socket folder), ready
        when READY=1 arrives on $NOTIFY_SOCKET."""
        notify = self.env.path(unit + ".notify")
        notify.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify))
        os.chmod(notify, 0o777)
        listener.settimeout(20)
        (argv,) = unit_lines(unit, "ExecStart")
        (caps,) = unit_lines(unit, "CapabilityBoundingSet")
        self.assertEqual(unit_lines(unit, "NoNewPrivileges"), ["yes"])
        bounding = ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in caps.split()])
        proc = subprocess.Popen(["setpriv", f"--bounding-set={bounding}", "--no-new-privs",
                                 *argv.split()],
                                env=dict(os.environ, NOTIFY_SOCKET=str(notify)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        type(self).procs.append(proc)
        try:
            self.assertIn("READY=1", listener.recv(4096).decode())
        finally:
            listener.close()
        return proc

    def send(self, client, headers=()):
        return harness.swaks(25, sender="pkg@example.org", to=("b@example.net",),
                             client=client, helo=client[1], headers=headers)

    def selfcheck(self):
        out = sh("esmtp-inspect", "selfcheck", "--json", "--dns", self.dns.servers[0], check=False)
        report = json.loads(out.stdout)
        return [f for f in report["findings"] if f["check"] == "wiring"]

    # 6: selfcheck, a broken path, its fix -------------------------------------

    def test_3_selfcheck(self):
        wiring = self.selfcheck()
        self.assertEqual([f for f in wiring if f["severity"] not in ("ok", "info")], [], wiring)
        self.assertTrue(any("milter.sock answers the milter negotiation" in f["message"]
                            for f in wiring), wiring)
        # What a new user does: the socket's real path, outside the chroot.
        sh("postconf", "-e", f"smtpd_milters = unix:{SPOOL}/milter.sock")
        sh("postfix", "reload")
        time.sleep(1)
        broken = [f for f in self.selfcheck() if f["severity"] == "problem"]
        self.assertEqual(len(broken), 1, broken)
        self.assertIn(f"the chrooted smtpd opens /var/spool/postfix{SPOOL}/milter.sock, which "
                      "does not exist", broken[0]["message"])
        self.assertEqual(broken[0]["fix"], "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'")
        r = self.send(CLEAN)
        self.assertTrue(r.has("451 4.7.1 Service unavailable - try again later"), r.replies)
        sh("sh", "-c", broken[0]["fix"])
        sh("postfix", "reload")
        time.sleep(1)
        self.assertEqual([f for f in self.selfcheck() if f["severity"] == "problem"], [])
        r = self.send(CLEAN, headers=["Subject: " + "x" * 990])
        self.assertTrue(r.has("550 5.6.0 Header line too long"), r.replies)

    def test_3b_restart_after_a_crash(self):
        """A killed milter leaves its socket behind; systemd's restart (the
        unit's lines again) replaces it and mail flows."""
        milter = next(p for p in type(self).procs
                      if any(a.endswith("/esmtp-inspect-milter") for a in p.args))
        milter.kill()
        milter.wait()
        type(self).procs.remove(milter)
        self.assertTrue((SPOOL / "milter.sock").is_socket(), "a crash leaves the socket")
        r = self.send(CLEAN)  # Postfix: connection refused, milter_default_action
        self.assertTrue(r.has("451 4.7.1 Service unavailable - try again later"), r.replies)
        for pre in unit_lines("esmtp-inspect-milter.service", "ExecStartPre"):
            sh(*pre.split())
        self.start_unit("esmtp-inspect-milter.service")
        r = self.send(CLEAN, headers=["Subject: " + "x" * 990])
        self.assertTrue(r.has("550 5.6.0 Header line too long"), r.replies)

    # 7: the package's Sendmail line ----------------------------------------

    def test_4_sendmail(self):
        mc = Path("/usr/share/doc/esmtp-inspect/examples/sendmail/esmtp-inspect.mc").read_text()
        (line,) = [l for l in mc.splitlines() if l.startswith("INPUT_MAIL_FILTER(")]
        self.assertIn(f"S=local:{SPOOL}/milter.sock", line)
        sm = sendmail.Sendmail(self.env, self.sink, milter_line=line + "\n")
        r = harness.swaks(sm.port, sender="sm@example.org", to=("b@example.net",),
                          headers=["Subject: " + "x" * 990])
        self.assertTrue(r.has("550 5.6.0 Header line too long"), r.replies)
        r = harness.swaks(sm.port, sender="sm@example.org", to=("b@example.net",))
        self.assertTrue(r.has("250 2.0.0"), r.replies)
        harness.wait_until(lambda: [m for m in self.sink.messages()
                                    if m.mail_from == "<sm@example.org>"], timeout=30)

    # 8: stop and purge ------------------------------------------------------

    def test_5_stop_and_purge(self):
        for proc in type(self).procs:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0, proc.stderr.read().decode())
        self.assertEqual(sorted(p.name for p in SPOOL.iterdir()), [], "sockets removed on exit")
        sh("postmulti", "-i", "-", "-p", "stop")
        sh("dpkg", "--purge", "esmtp-inspect")
        for gone in (SPOOL, Path("/etc/esmtp-inspect"), Path("/var/log/esmtp-inspect"),
                     Path("/usr/sbin/esmtp-inspect-milter")):
            self.assertFalse(gone.exists(), gone)
        self.assertTrue(user_exists("esmtp-inspect"), "purge keeps the system user")
        wants = Path("/etc/systemd/system/multi-user.target.wants")
        self.assertEqual(sorted(wants.glob("esmtp-inspect*")) if wants.exists() else [], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
