"""Real peers for esmtp-inspect integration tests, started on loopback.

Everything here starts real programs on loopback: private
Postfix instances (postfix -c DIR), smtp-sink as the next hop, the daemons
under test, a private redis-server for the shared counter store, and swaks
as the SMTP client. Nothing survives a test run: each
Env owns a temporary directory under /tmp and every process it started is
stopped when it closes.

Traffic stays on 127.0.0.1 (ports are picked free by binding port 0).
"""

import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ESMTP_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "bin"


def _sanitized():
    try:
        return "ESMTP_SANITIZE:BOOL=ON" in (BUILD / "CMakeCache.txt").read_text()
    except OSError:
        return False


# An AddressSanitizer build (ESMTP_SANITIZE): freed memory sits in ASan's
# quarantine, so process size says nothing about leaks there (LeakSanitizer
# does, at exit).
SANITIZED = _sanitized()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def unix_socket_open(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            s.connect(str(path))
            return True
    except OSError:
        return False


class Env:
    """A temporary directory and the processes started in it."""

    def __init__(self, name="esmtp-it"):
        # Postfix writes maillog only under maillog_file_prefixes (/tmp here).
        self.dir = Path(tempfile.mkdtemp(prefix=name + "-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self._cleanups = []

    def on_close(self, fn):
        self._cleanups.append(fn)

    def silent_dns(self):
        """ADDRESS:PORT of a DNS server this test started that never answers
        (a bound UDP socket), for daemons whose test sends no query: they
        must still never be pointed at /etc/resolv.conf's resolver."""
        if not hasattr(self, "_silent_dns"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            self.on_close(sock.close)
            self._silent_dns = f"127.0.0.1:{sock.getsockname()[1]}"
        return self._silent_dns

    def with_dns(self, config):
        """`config` (YAML text) with dns.servers set to silent_dns() unless it
        names DNS servers itself."""
        if "dns:" in config:
            return config
        return config + f'dns: {{ servers: ["{self.silent_dns()}"] }}\n'

    def close(self):
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # cleanup must go on
                print(f"cleanup failed: {e}")
        if not os.environ.get("ESMTP_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *parts):
        return self.dir.joinpath(*parts)

    def run_dir(self, user="nobody"):
        """The daemons' folder, as the package makes /var/spool/postfix/esmtp-inspect:
        owned by the run-as user (who creates the sockets, log files and pidfiles
        in it), group postfix (so Postfix can reach the sockets), mode 0750."""
        d = self.path("run")
        if not d.exists():
            d.mkdir()
            shutil.chown(d, user, "postfix")
            os.chmod(d, 0o750)
        return d


class Sink:
    """smtp-sink on 127.0.0.1, dumping each accepted message to a file."""

    def __init__(self, env, backlog=100):
        self.env = env
        self.port = free_port()
        self.dump = env.path("sink")
        self.dump.mkdir()
        os.chmod(self.dump, 0o777)  # smtp-sink runs as postfix
        # As root smtp-sink refuses to start without -u; its fatal errors go
        # to /dev/log only, so readiness is checked by connecting.
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "-d", str(self.dump) + "/%H%M%S.",
             "-c", f"127.0.0.1:{self.port}", str(backlog)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env.on_close(self.stop)
        wait_until(lambda: port_open(self.port), what="smtp-sink")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    def _complete_files(self):
        # smtp-sink keeps a dump file open until the transaction ends: a file
        # it still holds may lack recipients or the end of the message.
        open_paths = set()
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else ():
            try:
                open_paths.add(os.readlink(fd))
            except OSError:
                pass
        return [f for f in sorted(self.dump.iterdir()) if f.is_file() and str(f) not in open_paths]

    def messages(self):
        return [SinkMessage.parse(f.read_bytes()) for f in self._complete_files()]

    def wait_count(self, n, timeout=20):
        return wait_until(lambda: len(self.messages()) >= n and self.messages(), timeout,
                          what=f"{n} message(s) at the sink")

    def count(self):
        return len(self._complete_files())


@dataclass
class SinkMessage:
    rcpts: list
    mail_from: str
    headers: list  # (name, value) of the message as delivered
    raw: bytes

    @staticmethod
    def parse(raw):
        text = raw.decode("utf-8", "replace")
        head = text.split("\n\n", 1)[0]
        lines = []
        for line in head.split("\n"):
            if line[:1] in (" ", "\t") and lines:
                lines[-1] += "\n" + line
            elif line:
                lines.append(line)
        rcpts, mail_from, headers = [], "", []
        for line in lines:
            name, _, value = line.partition(":")
            value = value.strip()
            if name == "X-Rcpt-Args":
                rcpts.append(value.split()[0])
            elif name == "X-Mail-Args":
                mail_from = value.split()[0] if value else ""
            elif name.startswith("X-Client-") or name == "X-Helo-Args":
                continue
            else:
                headers.append((name, value))
        return SinkMessage(rcpts, mail_from, headers, raw)

    def header(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


MASTER_CF = """\
{listen} inet n - {chroot} - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix on 127.0.0.1 relaying everything to a Sink."""

    def __init__(self, env, sink, milters=(), extra=None, master_extra="", smtpd_chroot=False,
                 name="postfix"):
        """smtpd_chroot: run smtpd chrooted in the queue directory, as
        Debian's packaged master.cf does (column 5 = y); master starts as
        root, so the private queue directory works as the chroot. `name`:
        the instance's folder in the Env, so that several (MX hosts of one
        domain) can run side by side."""
        self.env = env
        self.name = name
        self.dir = env.path(name)
        self.dir.mkdir()
        (self.dir / "queue").mkdir()
        (self.dir / "data").mkdir()
        shutil.chown(self.dir / "data", "postfix")
        self.port = free_port()
        self.maillog = self.dir / "maillog"
        params = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.dir / "queue"),
            "data_directory": str(self.dir / "data"),
            "mail_owner": "postfix",
            "myhostname": "mx.test.example",
            "mydomain": "test.example",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": "/tmp",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "relayhost": f"[127.0.0.1]:{sink.port}",
            "relay_domains": "example.net example.org test.example",
            "mynetworks": "127.0.0.0/8",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            # Let the tests, not Postfix's own error counter, decide when a
            # client is cut off.
            "smtpd_hard_error_limit": "1000",
            "smtpd_soft_error_limit": "1000",
            "smtpd_error_sleep_time": "0",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "milter_default_action": "tempfail",
            "smtpd_milters": " ".join(milters),
            "delay_warning_time": "0",
            "maximal_queue_lifetime": "1h",
        }
        params.update(extra or {})
        self.params = params
        (self.dir / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in params.items()))
        (self.dir / "master.cf").write_text(
            MASTER_CF.format(listen=f"127.0.0.1:{self.port}", chroot="y" if smtpd_chroot else "n")
            + master_extra)
        env.on_close(self.stop)
        self.start()

    def postfix(self, *args, check=True):
        return subprocess.run(["postfix", "-c", str(self.dir), *args], capture_output=True,
                              text=True, check=check)

    def start(self):
        self.postfix("start")
        wait_until(lambda: port_open(self.port), what="postfix smtpd")

    def stop(self):
        self.postfix("stop", check=False)
        # master exits asynchronously; wait so that the next test's port is free.
        pid_file = self.dir / "queue" / "pid" / "master.pid"
        def master_gone():
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, 0)
                return False
            except (OSError, ValueError):
                return True
        try:
            wait_until(master_gone, timeout=10, what="postfix master to exit")
        except TimeoutError:
            pass

    def set(self, **params):
        args = [f"{k}={v}" for k, v in params.items()]
        subprocess.run(["postconf", "-c", str(self.dir), "-e", *args], check=True)
        self.postfix("reload")

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout, what=f"maillog /{pattern}/")

    def queue(self):
        out = subprocess.run(["postqueue", "-c", str(self.dir), "-j"], capture_output=True,
                             text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def flush(self):
        subprocess.run(["postqueue", "-c", str(self.dir), "-f"], check=False)


class RedisServer:
    """A private redis-server on 127.0.0.1:port, no persistence, run as this
    test's own process (the distribution's service stays off).

    stop() ends it (SIGKILL: connections are reset, the port closes) and
    start() runs it again on the same port, empty; pause() stops it with
    SIGSTOP (the kernel still accepts connections, nothing answers: a black
    hole) and resume() continues it."""

    def __init__(self, env, name="redis"):
        self.env = env
        self.dir = env.path(name)
        self.dir.mkdir()
        self.port = free_port()
        self.proc = None
        self.paused = False
        env.on_close(self.stop)
        self.start()

    @property
    def server(self):
        """The store.servers entry: "127.0.0.1:PORT"."""
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.log_file = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is not None or self.ping(), what="redis-server")
        except TimeoutError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}: "
                               + (self.dir / "redis.log").read_text(errors="replace"))
        return self

    def command(self, *args, timeout=2.0):
        """One command through redis-cli (redis-tools, which redis-server
        needs); its output lines (--raw). Raises when the server does not
        answer within `timeout` or answers with an error."""
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw",
                            *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0 or p.stdout.startswith("ERR") or "Could not connect" in p.stderr:
            raise RuntimeError(f"redis-cli {' '.join(map(str, args))}: {p.stdout}{p.stderr}")
        return p.stdout.splitlines()

    def ping(self):
        try:
            return self.command("PING", timeout=1) == ["PONG"]
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            return False

    def keys(self, pattern="*"):
        """The names of the keys matching `pattern` (KEYS: a test's store is small)."""
        return [k for k in self.command("KEYS", pattern) if k]

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.kill()
            self.proc.wait(5)
        if getattr(self, "log_file", None):
            self.log_file.close()
            self.log_file = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Daemon:
    """One of our daemons, run in the foreground with its log in a file."""

    def __init__(self, env, argv, log_path, ready):
        self.env = env
        self.argv = argv
        self.log_path = log_path
        self.ready = ready
        self.proc = None
        env.on_close(self.stop)

    def start(self):
        self.stderr = open(self.env.path(Path(self.argv[0]).name + ".stderr"), "ab")
        # Ready: the socket answers and the daemon has logged "starting:",
        # which both do after dropping privileges (the socket listens before).
        started = len(re.findall(r"\bstarting: ", self.log()))  # text or JSON lines
        self.proc = subprocess.Popen(self.argv, stdout=self.stderr, stderr=self.stderr)
        wait_until(lambda: self.proc.poll() is not None or
                   (self.ready() and len(re.findall(r"\bstarting: ", self.log())) > started),
                   what=self.argv[0])
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode}: "
                               f"{self.stderr_text()}")
        return self

    def stderr_text(self):
        try:
            return self.env.path(Path(self.argv[0]).name + ".stderr").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def scrape(self):
        """GET /metrics of a daemon started with metrics=True: the text."""
        # No proxy from the environment: the request stays on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "stderr", None):
            self.stderr.close()
            self.stderr = None

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.log().splitlines()

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout, what=f"log /{pattern}/")


class Milter(Daemon):
    """esmtp-inspect-milter with a config written from YAML text.

    The socket is a unix socket in the test directory (group postfix, mode
    0660, as in production) unless inet=True. `postfix_spec` is what goes
    into smtpd_milters.
    """

    def __init__(self, env, config="", inet=False, name="milter", identity=False, metrics=False):
        # Identity checks need the test DNS server: tests that want them pass
        # identity=True and set dns.servers in `config`. metrics=True serves
        # GET /metrics on 127.0.0.1:self.metrics_port (milter.metrics).
        self.identity = identity
        self.metrics_port = free_port() if metrics else None
        self.env = env
        self.config_path = env.path(f"{name}.yaml")
        log_path = env.run_dir() / f"{name}.log"
        if inet:
            port = free_port()
            self.socket = f"inet:{port}@127.0.0.1"
            self.postfix_spec = f"inet:127.0.0.1:{port}"
            ready = lambda: port_open(port)
        else:
            sock = env.run_dir() / f"{name}.sock"
            self.socket = f"unix:{sock}"
            self.postfix_spec = f"unix:{sock}"
            ready = lambda: unix_socket_open(sock)
        self.write_config(config, log_path)
        super().__init__(env, [str(BIN / "esmtp-inspect-milter"), "-f", "-c",
                               str(self.config_path), "-s", self.socket], log_path, ready)

    def write_config(self, config, log_path=None):
        log_path = log_path or self.log_path
        identity = "true" if self.identity else "false"
        metrics = f", metrics: 127.0.0.1:{self.metrics_port}" if self.metrics_port else ""
        base = (f'log: {{ to: "file:{log_path}" }}\n'
                f"milter: {{ user: nobody, group: postfix, identity: {identity}{metrics} }}\n")
        self.config_path.write_text(self.env.with_dns(base + config))

    def reload(self, config=None):
        if config is not None:
            self.write_config(config)
        self.signal(signal.SIGHUP)


class Policyd(Daemon):
    """esmtp-inspect-policyd with a config written from YAML text, listening
    on a unix socket in the test directory (or TCP with inet=True).
    `postfix_spec` goes into check_policy_service."""

    def __init__(self, env, config="", inet=False, name="policyd", policy="", metrics=False):
        """policy: more settings of the policy group, as YAML flow mapping
        entries ("max_connections: 30, idle_timeout: 2s"). metrics=True serves
        GET /metrics on 127.0.0.1:self.metrics_port (policy.metrics)."""
        self.metrics_port = free_port() if metrics else None
        if metrics:
            policy = ", ".join(x for x in (policy, f"metrics: 127.0.0.1:{self.metrics_port}") if x)
        self.policy = policy
        self.env = env
        self.config_path = env.path(f"{name}.yaml")
        log_path = env.run_dir() / f"{name}.log"
        if inet:
            self.port = free_port()
            self.listen = f"inet:127.0.0.1:{self.port}"
            self.postfix_spec = f"inet:127.0.0.1:{self.port}"
            ready = lambda: port_open(self.port)
        else:
            self.sock = env.run_dir() / f"{name}.sock"
            self.listen = f"unix:{self.sock}"
            self.postfix_spec = f"unix:{self.sock}"
            ready = lambda: unix_socket_open(self.sock)
        self.write_config(config, log_path)
        super().__init__(env, [str(BIN / "esmtp-inspect-policyd"), "-f", "-c",
                               str(self.config_path), "-l", self.listen], log_path, ready)

    def write_config(self, config, log_path=None):
        log_path = log_path or self.log_path
        # The log file may be written by an unprivileged process (spawn).
        Path(log_path).touch()
        os.chmod(log_path, 0o666)
        extra = f", {self.policy}" if self.policy else ""
        base = (f'log: {{ to: "file:{log_path}" }}\n'
                f"policy: {{ user: nobody, group: postfix{extra} }}\n")
        self.config_path.write_text(self.env.with_dns(base + config))
        os.chmod(self.config_path, 0o644)

    def reload(self, config=None):
        if config is not None:
            self.write_config(config)
        self.signal(signal.SIGHUP)


def policy_restrictions(spec):
    """check_policy_service as conf/postfix/main.cf.policy sets it: at RCPT,
    and at DATA and END-OF-MESSAGE, whose requests bring the queue ID that
    the lines held since MAIL are written with."""
    check = f"check_policy_service {spec}"
    return {"smtpd_recipient_restrictions": check, "smtpd_data_restrictions": check,
            "smtpd_end_of_data_restrictions": check}


@dataclass
class SmtpResult:
    rc: int
    transcript: str
    replies: list = field(default_factory=list)  # server reply lines ("550 5.6.0 ...")

    def has(self, text):
        return any(text in r for r in self.replies)

    def last(self):
        return self.replies[-1] if self.replies else ""


def swaks(port, sender="a@example.org", to=("b@example.net",), client=None, helo=None,
          headers=(), body=None, data=None, extra=(), timeout=60):
    """Runs swaks against 127.0.0.1:port. `client` is (address, name) presented
    with XCLIENT so that Postfix, the milter and the policy service see it."""
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--from", sender,
            "--to", ",".join(to), "--timeout", "30"]
    if client:
        addr, name = client
        argv += ["--xclient", f"ADDR={addr} NAME={name} HELO={helo or name}"]
    if helo:
        argv += ["--helo", helo]
    for h in headers:
        argv += ["--header", h]
    if body is not None:
        argv += ["--body", body]
    if data is not None:
        argv += ["--data", str(data)]
    argv += list(extra)
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    transcript = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    replies = []
    for line in transcript.splitlines():
        m = re.match(r"^<[~*-]* +(\d{3}[ -].*)$", line)
        if m:
            replies.append(m.group(1))
    return SmtpResult(p.returncode, transcript, replies)


def write_message(path, headers, body="Body.\r\n"):
    """Writes a message file with CRLF line endings; headers are "Name: value"
    strings used as given (duplicates allowed), body is text or bytes."""
    if isinstance(body, str):
        body = body.encode()
    data = "".join(h + "\r\n" for h in headers).encode() + b"\r\n" + body
    Path(path).write_bytes(data)
    return Path(path)


def self_signed_cert(directory, name, names, days=30):
    """NAME.pem and NAME.key in `directory`: a self-signed P-256 certificate
    for `names` (subjectAltName DNS entries; the first is also the CN), made
    with `openssl req -x509`. Returns (cert path, key path)."""
    key, cert = Path(directory) / f"{name}.key", Path(directory) / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", str(days), "-subj", f"/CN={names[0]}", "-addext",
                    "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)],
                   check=True, capture_output=True)
    return cert, key


def our_line(log, queue_id_or_noqueue, rule):
    """The esmtp-inspect log line (without the syslog prefix) of `rule` for a
    queue ID or NOQUEUE, or None."""
    for line in log.splitlines():
        _, sep, rest = line.partition("]: ")
        if sep and rest.startswith(queue_id_or_noqueue + ": ") and f" rule={rule} " in rest:
            return rest
    return None


def mime_message(sender, parts, subject="mime test"):
    """A multipart message (CRLF) from `sender` to b@example.net with a text
    part and one application/octet-stream attachment per (filename, payload)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "b@example.net"
    msg["Subject"] = subject
    msg.set_content("Body text.\n")
    for filename, payload in parts:
        msg.add_attachment(payload, maintype="application", subtype="octet-stream",
                           filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def queue_id_of(result):
    """The queue ID Postfix gave an accepted message ("250 2.0.0 Ok: queued as X")."""
    for r in result.replies:
        m = re.search(r"queued as ([0-9A-F]+)", r)
        if m:
            return m.group(1)
    return None


def push_until_blocked(socks, data, quiet=1.0, limit=30.0):
    """Sends `data` (bytes, or a function of the socket's index giving the
    next chunk, None when done) on each socket without blocking, until none
    of them has taken a byte for `quiet` seconds (the peer stopped reading
    and the kernel buffers are full) or `limit` seconds passed. Returns the
    octets sent per socket."""
    sel = selectors.DefaultSelector()
    pending, sent = {}, [0] * len(socks)
    for i, s in enumerate(socks):
        s.setblocking(False)
        chunk = data(i) if callable(data) else data
        if chunk:
            pending[i] = memoryview(chunk)
            sel.register(s, selectors.EVENT_WRITE, i)
    end = time.monotonic() + limit
    while pending and time.monotonic() < end:
        ready = sel.select(quiet)
        if not ready:
            break
        for key, _ in ready:
            i = key.data
            try:
                n = socks[i].send(pending[i])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                sel.unregister(socks[i])
                del pending[i]
                continue
            sent[i] += n
            pending[i] = pending[i][n:]
            if not pending[i]:
                chunk = data(i) if callable(data) else None
                if chunk:
                    pending[i] = memoryview(chunk)
                else:
                    sel.unregister(socks[i])
                    del pending[i]
    sel.close()
    for s in socks:
        s.setblocking(True)
    return sent


def proc_status(pid, field):
    """A /proc/PID/status figure in KiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def policy_request(**attrs):
    """One Postfix policy request (SMTPD_POLICY_README): RCPT stage, a sender
    and a recipient unless `attrs` say otherwise, then the empty line."""
    attrs = {"request": "smtpd_access_policy", "protocol_state": "RCPT",
             "sender": "a@example.org", "recipient": "b@example.net", **attrs}
    return ("".join(f"{k}={v}\n" for k, v in attrs.items()) + "\n").encode()
