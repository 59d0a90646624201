"""A private Sendmail 8.17 on loopback for esmtp-inspect integration tests.

The milter's SENDMAIL section (esmtp-inspect-milter(8)) against a real
Sendmail. Installing sendmail-bin with
apt would remove Postfix, so the Debian packages are downloaded once
(`apt-get download` + `dpkg -x`) into a cache folder and run from there.
Each Sendmail instance:

- gets a .cf built with m4 from a .mc written here (smart host = the
  harness Sink, the milter with F=T, no DNS, no load-average throttling);
- runs in the foreground (`-bD`) inside its own UTS namespace, so that its
  host name is the qualified `mx.test.example`, and its own mount namespace,
  where /dev is a small tmpfs whose `log` points at a datagram socket owned
  by this module: Sendmail only logs to syslog and these machines run no
  syslog daemon, so its log lines are collected here (Sendmail.log());
- listens on 127.0.0.1 on a free port, with a private queue directory.

Everything it starts is stopped through Env.on_close.
"""

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import harness

CACHE = Path(os.environ.get("ESMTP_SENDMAIL_CACHE", "/var/cache/esmtp-inspect-tests/sendmail"))
PACKAGES = ("sendmail-base", "sendmail-cf", "sendmail-bin")
HOSTNAME = "mx.test.example"


def _installed(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                         capture_output=True, text=True)
    return out.returncode == 0 and "install ok installed" in out.stdout


def ensure_sendmail():
    """The root of the private Sendmail tree (usr/libexec/sendmail/sendmail,
    usr/share/sendmail/cf), downloaded and unpacked on first use."""
    root = CACHE / "root"
    marker = CACHE / "root.ok"
    if marker.exists():
        return root
    missing = [p for p in ("m4", "libwrap0") if not _installed(p)]
    if missing:
        raise RuntimeError(f"Sendmail tests need {' '.join(missing)}: "
                           "run tools/install-deps.sh test")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs share the cache
        if marker.exists():
            return root
        debs = Path(tempfile.mkdtemp(prefix="debs-", dir=CACHE))
        os.chmod(debs, 0o777)  # apt-get download drops privileges to _apt
        try:
            get = ["apt-get", "download", "-q", *PACKAGES]
            p = subprocess.run(get, cwd=debs, capture_output=True, text=True)
            if p.returncode != 0:  # a bare machine has no package lists yet
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=True)
                p = subprocess.run(get, cwd=debs, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"apt-get download {' '.join(PACKAGES)} failed: {p.stderr}")
            shutil.rmtree(root, ignore_errors=True)
            tmp_root = CACHE / "root.tmp"
            shutil.rmtree(tmp_root, ignore_errors=True)
            for deb in sorted(debs.glob("*.deb")):
                subprocess.run(["dpkg", "-x", str(deb), str(tmp_root)], check=True)
            for f in ("usr/libexec/sendmail/sendmail", "usr/share/sendmail/cf/m4/cf.m4"):
                if not (tmp_root / f).exists():
                    raise RuntimeError(f"{f} missing from the Sendmail packages")
            tmp_root.rename(root)
            marker.write_text(" ".join(sorted(d.name for d in debs.glob("*.deb"))) + "\n")
        finally:
            shutil.rmtree(debs, ignore_errors=True)
    return root


class SyslogListener:
    """A unix datagram socket that collects syslog(3) messages."""

    def __init__(self, env, path):
        self.path = Path(path)
        self.lines = []
        self.file = env.path("sendmail.log")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)  # delivery agents run as an unprivileged user
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        env.on_close(self.stop)

    def _run(self):
        with open(self.file, "a") as out:
            while not self._stop.is_set():
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                # "<22>Nov 23 13:51:24 sm-mta[123]: text": drop the priority.
                line = re.sub(r"^<\d+>", "", data.decode("utf-8", "replace")).rstrip("\n")
                with self._lock:
                    self.lines.append(line)
                out.write(line + "\n")
                out.flush()

    def text(self):
        with self._lock:
            return "\n".join(self.lines) + "\n" if self.lines else ""

    def stop(self):
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


# m4 quoting: a backquote opens, a quote closes.
MC = """\
divert(-1)
divert(0)dnl
include(`{root}/usr/share/sendmail/cf/m4/cf.m4')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{hostname}')dnl
define(`confSERVICE_SWITCH_FILE', `{dir}/service.switch')dnl
define(`QUEUE_DIR', `{dir}/queue')dnl
define(`STATUS_FILE', `{dir}/sendmail.st')dnl
define(`confPID_FILE', `{dir}/sendmail.pid')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confDEAD_LETTER_DROP', `{dir}/dead.letter')dnl
define(`ALIAS_FILE', `')dnl
define(`confTO_IDENT', `0s')dnl
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confQUEUE_LA', `999')dnl
define(`confREFUSE_LA', `999')dnl
define(`confDELAY_LA', `0')dnl
define(`confMAX_DAEMON_CHILDREN', `0')dnl
define(`confCONNECTION_RATE_THROTTLE', `0')dnl
define(`confBAD_RCPT_THROTTLE', `0')dnl
define(`SMART_HOST', `relay:[127.0.0.1]')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {sink_port}')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`mailertable', `hash -o {dir}/mailertable')dnl
DAEMON_OPTIONS(`Port={port}, Addr=127.0.0.1, Name=MTA')dnl
{milter}{extra}MAILER(`smtp')dnl
"""


class Sendmail:
    """A private Sendmail on 127.0.0.1 relaying everything to a Sink.

    `milter` is a harness.Milter (its libmilter socket spec is also
    Sendmail's S= syntax); `mailertable` maps domains to mailers, e.g.
    {"nowhere.invalid": "error:5.1.1:550 User unknown"} makes Sendmail refuse
    those recipients itself at RCPT (its {rcpt_mailer} is then "error").
    `milter_line` is an INPUT_MAIL_FILTER line to use as given instead.
    """

    def __init__(self, env, sink, milter=None, milter_flags="T",
                 milter_timeouts="C:5s;S:30s;R:30s;E:5m", mailertable=None, mc_extra="",
                 milter_line=None):
        self.env = env
        self.root = ensure_sendmail()
        self.binary = self.root / "usr/libexec/sendmail/sendmail"
        self.dir = env.path("sendmail")
        self.dir.mkdir()
        self.queue_dir = self.dir / "queue"
        self.queue_dir.mkdir(mode=0o700)
        (self.dir / "dev").mkdir()
        self.port = harness.free_port()
        (self.dir / "service.switch").write_text("hosts files\naliases files\npasswd files\n")
        mailertable = mailertable or {}
        (self.dir / "mailertable").write_text(
            "".join(f"{k}\t{v}\n" for k, v in mailertable.items()))
        # milter_line: an INPUT_MAIL_FILTER line used as given (the package's).
        milter_line = milter_line or ""
        if milter is not None:
            milter_line = (f"INPUT_MAIL_FILTER(`esmtp-inspect', `S={milter.socket}, "
                           f"F={milter_flags}, T={milter_timeouts}')dnl\n")
        self.mc = MC.format(root=self.root, hostname=HOSTNAME, dir=self.dir, port=self.port,
                            sink_port=sink.port, milter=milter_line, extra=mc_extra)
        (self.dir / "sendmail.mc").write_text(self.mc)
        m4 = subprocess.run(["m4", str(self.dir / "sendmail.mc")], capture_output=True, text=True)
        if m4.returncode != 0:
            raise RuntimeError(f"m4 failed: {m4.stderr}")
        self.cf = self.dir / "sendmail.cf"
        self.cf.write_text(m4.stdout)
        with open(self.dir / "mailertable") as source:
            subprocess.run([str(self.root / "usr/libexec/sendmail/makemap"), "-C", str(self.cf),
                            "hash", str(self.dir / "mailertable")], stdin=source, check=True,
                           capture_output=True)
        self.syslog = SyslogListener(env, self.dir / "syslog.sock")
        self.proc = None
        env.on_close(self.stop)
        self.start()

    def _namespace_argv(self, *args):
        """argv running Sendmail with `args` in its own UTS and mount
        namespaces: qualified host name, /dev/log = our listener."""
        dev = self.dir / "dev"
        script = f"""set -e
hostname {HOSTNAME}
mount -t tmpfs -o mode=755,size=64k esmtp-sendmail-dev {dev}
mknod -m 666 {dev}/null c 1 3
mknod -m 666 {dev}/zero c 1 5
mknod -m 666 {dev}/full c 1 7
mknod -m 666 {dev}/random c 1 8
mknod -m 666 {dev}/urandom c 1 9
ln -s {self.syslog.path} {dev}/log
mount --bind {dev} /dev
exec "$@"
"""
        return ["unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c", script,
                "sendmail", str(self.binary), "-C", str(self.cf), *args]

    def start(self):
        self.stderr = open(self.dir / "sendmail.stderr", "ab")
        # -bD: daemon in the foreground. Its own process group, so that the
        # daemon and the children it forks (sessions, deliveries) stop together.
        self.proc = subprocess.Popen(self._namespace_argv("-bD"), stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr,
                                     start_new_session=True)
        try:
            harness.wait_until(lambda: self.proc.poll() is not None or harness.port_open(self.port),
                               timeout=20, what="sendmail daemon")
        except TimeoutError:
            raise RuntimeError(f"sendmail did not start: {self.log()}{self.stderr_text()}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"sendmail exited with {self.proc.returncode}: "
                               f"{self.stderr_text()}{self.log()}")
        return self

    def stderr_text(self):
        try:
            return (self.dir / "sendmail.stderr").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group is ours alone
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # Children (a delivery in progress) may outlive the daemon.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if getattr(self, "stderr", None):
            self.stderr.close()
            self.stderr = None

    def run(self, *args):
        """Runs the Sendmail binary with this .cf (mailq: "-bp")."""
        return subprocess.run(self._namespace_argv(*args), capture_output=True, text=True,
                              timeout=60)

    def log(self):
        """Sendmail's syslog lines ("sm-mta[PID]: QUEUEID: ...")."""
        return self.syslog.text()

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return harness.wait_until(lambda: rx.search(self.log()), timeout,
                                  what=f"sendmail log /{pattern}/")

    def quarantine_queue(self):
        """`mailq -qQ`: the quarantined messages, as printed."""
        return self.run("-bp", "-qQ").stdout

    def queue_file(self, queue_id):
        """The control file of a queued message as text, or None: qfID, or
        hfID once Sendmail has quarantined it."""
        for prefix in ("qf", "hf"):
            try:
                return (self.queue_dir / f"{prefix}{queue_id}").read_text(errors="replace")
            except FileNotFoundError:
                continue
        return None

    def quarantine_reason(self, queue_id):
        """The `q` line of a message's qf file: set when it is quarantined."""
        qf = self.queue_file(queue_id) or ""
        m = re.search(r"^q(.*)$", qf, re.M)
        return m.group(1) if m else None


def queue_id_of(result):
    """The queue ID Sendmail gave an accepted message
    ("250 2.0.0 6ANDpLpw014477 Message accepted for delivery")."""
    for r in result.replies:
        m = re.match(r"250 2\.0\.0 (\w+) Message accepted for delivery", r)
        if m:
            return m.group(1)
    return None
