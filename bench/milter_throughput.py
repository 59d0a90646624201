#!/usr/bin/env python3
"""End-to-end milter throughput: smtp-source -> Postfix -> smtp-sink.

Setups (identical Postfix main.cf except smtpd_milters):
  postfix      (1) Postfix without a milter
  esmtp        (2) esmtp-inspect-milter with the default configuration
  mimedefang   (3) MIMEDefang (mimedefang + mimedefang-multiplexor) running
                   bench/mimedefang/mimedefang-filter: attachment filename
                   length > 255 and a bad-extension list, nothing else
  esmtp-ext    (2x, optional) esmtp-inspect-milter, default configuration plus
                   mime_filename with the same bad-extension list as (3)
  null         (0, optional) bench/null_milter.c: receives every stage of every
                   message and does nothing; the floor any content milter pays
                   in Postfix and libmilter
  null-env     (0env, optional) the same with --envelope: answers connect,
                   HELO, MAIL, RCPT and the end of message and asks for the
                   macros esmtp-inspect-milter asks for: the least a milter
                   that decides at the envelope stages can cost
  null-nr      (0nr, optional) the same with --no-reply: no macros, only the
                   end of message answered (SMFIP_NR_*): the least any
                   libmilter milter that sees the whole message can cost
  esmtp-alt    (2', optional) as (2) with the binary given by --alt-milter
                   (A/B of a milter change in one invocation)
  esmtp-metrics (2m, optional) as (2), metrics on and scraped every second
  esmtp-harvest-local (2hl, optional) as (2) plus the harvest rule (max
                   never reached) counting in the milter's local store
  esmtp-harvest-redis (2hr, optional) the same counting in a private
                   redis-server on 127.0.0.1 (its CPU is in "filter")

With a harvest setup in the run (or --unknown-rcpt), every setup's traffic
has two recipients per message, one of which Postfix rejects as unknown
(relay_recipient_maps): the rejected one reaches the milter through
SMFIP_RCPT_REJ, which only the harvest setups negotiate.

One run of a setup sends, with 20 parallel smtp-source sessions, COUNT messages
of 4 KiB (plain text) and then COUNT messages of 100 KiB (multipart/mixed with
a base64 PDF attachment), each timed from the start of smtp-source until
smtp-sink has counted every message (smtp-sink -c, no dump files). Every
setup is checked first (one message that must be rejected), warmed up, then
run REPS times; setups are interleaved per repetition and the medians are
reported. A benchmark, not a test: exits 0 when the measurements ran, whether
or not the targets are met (PASS/MISS is printed); 1 only when a run failed.

usage: bench/milter_throughput.py [--count 5000] [--reps 3] [--sessions 20]
           [--setups postfix,esmtp,mimedefang|all] [--json OUT]
Needs root, Postfix (smtp-source, smtp-sink), mimedefang, swaks and a built
build/bin/esmtp-inspect-milter (ESMTP_BUILD_DIR overrides build/).
"""

import argparse
import base64
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

SETUPS = {
    "postfix": "(1) Postfix, no milter",
    "esmtp": "(2) esmtp-inspect-milter, default config",
    "mimedefang": "(3) MIMEDefang filename filter",
    "esmtp-ext": "(2x) esmtp-inspect + bad-extension list",
    "null": "(0) null milter (libmilter, no work)",
    "null-nr": "(0nr) null milter, no macros, NR_* all",
    "null-env": "(0env) null milter answering the envelope",
    "esmtp-alt": "(2') esmtp-inspect, --alt-milter binary",
    "esmtp-metrics": "(2m) esmtp-inspect, metrics on, scraped every 1 s",
    "esmtp-harvest-local": "(2hl) esmtp-inspect, harvest on, local store",
    "esmtp-harvest-redis": "(2hr) esmtp-inspect, harvest on, Redis store",
}
DEFAULT_SETUPS = "postfix,esmtp,mimedefang"
HARVEST_SETUPS = ("esmtp-harvest-local", "esmtp-harvest-redis")
ESMTP_SETUPS = ("esmtp", "esmtp-ext", "esmtp-alt", "esmtp-metrics") + HARVEST_SETUPS


class Scraper:
    """GET /metrics of a milter every `every` seconds, as Prometheus would,
    while the setup is timed (esmtp-metrics): the scrapes' cost is in the
    milter's CPU and in the throughput."""

    def __init__(self, daemon, every=1.0):
        self.daemon, self.every = daemon, every
        self.count, self.errors, self.last = 0, 0, ""
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(self.every):
            try:
                self.last = self.daemon.scrape()
                self.count += 1
            except OSError:
                self.errors += 1

    def stop(self):
        self.stopping.set()
        self.thread.join()
SIZES = (("4k", "4 KiB"), ("100k", "100 KiB + attachment"))

# A bad-extension list (.exe, .scr, .js, .vbs), as the mime_filename rule spells
# it (esmtp-inspect.yaml(5), RULES).
# bench/mimedefang/mimedefang-filter has the same list as a Perl regex.
EXT_CONFIG = 'rules:\n  mime_filename: {action: reject, patterns: ["*.exe", "*.scr", "re:(?i)\\\\.(js|vbs)$"]}\n'

SENDER = "sender@example.org"
RCPT = "rcpt@example.net"
# With --unknown-rcpt, smtp-source -r 2 sends RCPT TO:<2rcpt@example.net> and
# RCPT TO:<rcpt@example.net> (it prefixes a number to all but the last);
# relay_recipient_maps lists RCPT alone, so Postfix rejects the first
# (550 5.1.1 User unknown in relay recipient table) and smtp-source -A goes on.
UNKNOWN_RCPT_TUNING = {"relay_recipient_maps": f"inline:{{ {RCPT}=ok }}"}

# harvest on, with a limit no bench run reaches (every message comes from
# 127.0.0.1), and a profile with max 2 for 192.0.2.0/24, which the check
# before timing uses (through XCLIENT) to see the rule count and act.
HARVEST_CONFIG = """rules:
  harvest: { max: 4294967295, window: 10m }
profiles:
  - name: harvest-check
    match: { clients: [192.0.2.0/24] }
    rules: { harvest: { max: 2 } }
"""
HELO = "client.bench.example.org"

# Postfix settings on top of harness.Postfix's, the same for every setup.
POSTFIX_TUNING = {
    # 20 smtpd + 20 cleanup + 20 smtp (default_destination_concurrency_limit)
    # and the single-process daemons fit with room to spare.
    "default_process_limit": "200",
    # Never sleep an smtpd because the queue manager is behind: the run ends
    # when the sink has every message anyway, and a 1 s in_flow_delay pause
    # would idle the CPU the measurement is about.
    "in_flow_delay": "0s",
    "smtpd_timeout": "60s",
    "milter_connect_timeout": "10s",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=5000, help="messages per size per run")
    p.add_argument("--sessions", type=int, default=20, help="parallel smtp-source sessions")
    p.add_argument("--reps", type=int, default=3, help="timed runs per setup (medians)")
    p.add_argument("--warmup", type=int, default=200, help="untimed messages per size first")
    p.add_argument("--setups", default=DEFAULT_SETUPS,
                   help="comma-separated subset of " + ",".join(SETUPS) + ", or all")
    p.add_argument("--md-workers", type=int, default=20,
                   help="mimedefang-multiplexor worker pool (-m and -x)")
    p.add_argument("--md-embedded", action=argparse.BooleanOptionalAction, default=True,
                   help="mimedefang-multiplexor -E (embedded Perl; faster worker start)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per timed phase")
    p.add_argument("--alt-milter", help="another esmtp-inspect-milter binary: adds setup esmtp-alt")
    p.add_argument("--esmtp-yaml", default="",
                   help="YAML appended to the esmtp setups' configuration (e.g. dns.servers "
                        "once the milter makes identity lookups)")
    p.add_argument("--unknown-rcpt", action=argparse.BooleanOptionalAction, default=None,
                   help="two recipients per message, one rejected by Postfix as unknown "
                        "(default: on when a harvest setup is in the run)")
    p.add_argument("--json", help="write all measurements to this file")
    p.add_argument("--from-json", metavar="FILE",
                   help="print the report of a run saved with --json, run nothing")
    p.add_argument("--keep", action="store_true", help="keep the /tmp directories")
    a = p.parse_args()
    if a.setups == "all":
        a.setups = "postfix,null,null-nr,esmtp,esmtp-ext,mimedefang"
    a.setups = [s for s in a.setups.split(",") if s]
    if a.alt_milter and "esmtp-alt" not in a.setups:
        a.setups.append("esmtp-alt")
    if "esmtp-alt" in a.setups and not a.alt_milter:
        p.error("setup esmtp-alt needs --alt-milter PATH")
    for s in a.setups:
        if s not in SETUPS:
            p.error(f"unknown setup {s!r}")
    if a.unknown_rcpt is None:
        a.unknown_rcpt = any(s in HARVEST_SETUPS for s in a.setups)
    if not a.unknown_rcpt and any(s in HARVEST_SETUPS for s in a.setups):
        p.error("the harvest setups need --unknown-rcpt (nothing would be counted)")
    return a


ARGS = parse_args()
_build = Path(os.environ.get("ESMTP_BUILD_DIR", ROOT / "build"))
_snap = None
harness = None


def prepare():
    """Copies the binaries into a private directory (a rebuild of build/
    during the benchmark cannot change what is measured halfway), builds the
    null milter when asked for, and imports the test harness pointed at it."""
    global _snap, harness
    if ARGS.keep:
        os.environ["ESMTP_KEEP_TEST_DIRS"] = "1"
    if not (_build / "bin" / "esmtp-inspect-milter").is_file():
        sys.exit(f"{_build / 'bin' / 'esmtp-inspect-milter'} not found: build it first "
                 "(or set ESMTP_BUILD_DIR)")
    _snap = Path(tempfile.mkdtemp(prefix="milter-bench-bin-", dir="/tmp"))
    os.chmod(_snap, 0o755)
    (_snap / "bin").mkdir()
    shutil.copy2(_build / "bin" / "esmtp-inspect-milter", _snap / "bin" / "esmtp-inspect-milter")
    if ARGS.alt_milter:
        shutil.copy2(ARGS.alt_milter, _snap / "bin" / "esmtp-inspect-milter-alt")
    if any(s.startswith("null") for s in ARGS.setups):
        subprocess.run(["cc", "-O2", "-I", str(ROOT), "-o", str(_snap / "bin" / "null_milter"),
                        str(HERE / "null_milter.c"), "-lmilter"], check=True)
    os.environ["ESMTP_BUILD_DIR"] = str(_snap)
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    import harness as h  # after ESMTP_BUILD_DIR is set: harness reads it at import
    harness = h


# ---------------------------------------------------------------- messages

def _wrap(text, width=76):
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def _headers(subject, extra=()):
    return [
        f"From: Bench Sender <{SENDER}>",
        f"To: Bench Recipient <{RCPT}>",
        f"Subject: {subject}",
        "Date: Mon, 23 Nov 2026 12:00:00 +0000",
        "Message-ID: <bench.%s@client.bench.example.org>" % subject.replace(" ", "-"),
        "MIME-Version: 1.0",
        *extra,
    ]


def _prose(n, rng):
    words = ("the quarterly figures attached below show a steady increase in "
             "throughput across all regions while latency remained within the "
             "agreed service levels please review before the meeting").split()
    out, line = [], []
    while sum(len(x) + 1 for x in out) < n:
        line.append(rng.choice(words))
        if len(" ".join(line)) > 66:
            out.append(" ".join(line))
            line = []
    return "\n".join(out)


def make_plain(size, subject="bench 4k"):
    """A text/plain message of `size` octets (LF line ends; CRLF on the wire)."""
    rng = random.Random(1)
    head = "\n".join(_headers(subject, ["Content-Type: text/plain; charset=us-ascii"])) + "\n\n"
    body = _prose(size, rng)
    text = head + body
    # Count on-the-wire octets (CRLF) and trim to the target.
    while len(text) + text.count("\n") > size:
        text = text[:-1]
    return text.rstrip(" ") + "\n"


def make_attachment_msg(size, filename="quarterly-report-2026.pdf",
                        ctype="application/pdf", subject="bench 100k"):
    """multipart/mixed: a short text part and a base64 attachment; `size`
    octets on the wire."""
    rng = random.Random(2)
    boundary = "=_bench_boundary_6f1c2a"
    head = "\n".join(_headers(subject, [
        f'Content-Type: multipart/mixed; boundary="{boundary}"'])) + "\n\n"
    text_part = (f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n"
                 "Content-Transfer-Encoding: 7bit\n\n" + _prose(1200, rng) + "\n\n")
    att_head = (f"--{boundary}\nContent-Type: {ctype}; name=\"{filename}\"\n"
                "Content-Transfer-Encoding: base64\n"
                f"Content-Disposition: attachment; filename=\"{filename}\"\n\n")
    tail = f"\n--{boundary}--\n"
    fixed = head + text_part + att_head + tail
    fixed_octets = len(fixed) + fixed.count("\n")
    # base64 lines are 76 chars + CRLF = 78 octets per 57 raw bytes.
    raw_len = max(0, (size - fixed_octets) * 57 // 78)
    payload = b"%PDF-1.4\n" + rng.randbytes(raw_len)
    att = _wrap(base64.b64encode(payload[:raw_len]).decode())
    return head + text_part + att_head + att + tail


def write_lf(path, text):
    Path(path).write_text(text)
    return Path(path)


def write_crlf(path, text):
    Path(path).write_bytes(text.replace("\n", "\r\n").encode())
    return Path(path)


# ---------------------------------------------------------------- peers

class CountingSink:
    """smtp-sink with a message counter (-c) instead of dump files."""

    def __init__(self, env, backlog=256):
        self.port = harness.free_port()
        self.count = 0
        self._cv = threading.Condition()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "-c", f"127.0.0.1:{self.port}", str(backlog)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        env.on_close(self.stop)
        harness.wait_until(lambda: harness.port_open(self.port), what="smtp-sink")

    def _read(self):
        buf = b""
        rx = re.compile(rb"mesg=(\d+)")
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            buf = (buf + chunk)[-256:]
            found = rx.findall(buf)
            if found:
                with self._cv:
                    self.count = int(found[-1])
                    self._cv.notify_all()

    def wait_for(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.count < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class MimeDefang:
    """mimedefang-multiplexor + mimedefang in the foreground, as user defang,
    with a private spool directory; the milter socket is group postfix."""

    def __init__(self, env, workers, embedded):
        self.env = env
        self.spool = env.path("mimedefang-spool")
        self.spool.mkdir()
        shutil.chown(self.spool, "defang", "postfix")
        os.chmod(self.spool, 0o2770)  # setgid: the milter socket gets group postfix
        self.filter = env.path("mimedefang-filter")
        self.filter.write_text((HERE / "mimedefang" / "mimedefang-filter").read_text()
                               .replace("@SPOOLDIR@", str(self.spool)))
        os.chmod(self.filter, 0o644)
        mx_sock = self.spool / "mimedefang-multiplexor.sock"
        md_sock = self.spool / "mimedefang.sock"
        self.postfix_spec = f"unix:{md_sock}"
        self.mx_argv = ["mimedefang-multiplexor", "-D", "-U", "defang", "-z", str(self.spool),
                        "-s", str(mx_sock), "-F", str(self.filter),
                        "-m", str(workers), "-x", str(workers), "-w", "1"]
        if embedded:
            self.mx_argv.append("-E")
        self.md_argv = ["mimedefang", "-D", "-U", "defang", "-z", str(self.spool),
                        "-p", f"unix:{md_sock}", "-m", str(mx_sock), "-G", "-X"]
        self.out = open(env.path("mimedefang.out"), "ab")
        self.mx = subprocess.Popen(self.mx_argv, stdout=self.out, stderr=self.out)
        env.on_close(self.stop)
        harness.wait_until(lambda: self.mx.poll() is not None or harness.unix_socket_open(mx_sock),
                           what="mimedefang-multiplexor")
        if self.mx.poll() is not None:
            raise RuntimeError(f"mimedefang-multiplexor exited {self.mx.returncode}")
        self.md = subprocess.Popen(self.md_argv, stdout=self.out, stderr=self.out)
        harness.wait_until(lambda: self.md.poll() is not None or harness.unix_socket_open(md_sock),
                           what="mimedefang")
        if self.md.poll() is not None:
            raise RuntimeError(f"mimedefang exited {self.md.returncode}")

    def pids(self):
        return [self.mx.pid, self.md.pid]

    def stop(self):
        for p in (getattr(self, "md", None), getattr(self, "mx", None)):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.out.close()


class NullMilter:
    """bench/null_milter.c on a unix socket in the test directory."""

    def __init__(self, env, option=None):
        sock = env.path("null-milter.sock")
        self.postfix_spec = f"unix:{sock}"
        self.proc = subprocess.Popen([str(_snap / "bin" / "null_milter")]
                                     + ([option] if option else []) + [f"unix:{sock}"])
        env.on_close(self.stop)
        harness.wait_until(lambda: self.proc.poll() is not None or harness.unix_socket_open(sock),
                           what="null_milter")
        if self.proc.poll() is not None:
            raise RuntimeError(f"null_milter exited {self.proc.returncode}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Redis:
    """A private redis-server on a free port of 127.0.0.1 (no persistence),
    for esmtp-harvest-redis."""

    PREFIX = "esmtp-inspect:"  # store.prefix, the default

    def __init__(self, env):
        self.port = harness.free_port()
        self.dir = env.path("redis")
        self.dir.mkdir()
        self.out = open(env.path("redis.out"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=self.out, stderr=self.out)
        env.on_close(self.stop)
        harness.wait_until(lambda: self.proc.poll() is not None or harness.port_open(self.port),
                           what="redis-server")
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited {self.proc.returncode}")

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                              capture_output=True, text=True, check=True).stdout.split()

    def count(self, name):
        """The sum of every slot of counter NAME (all windows): what the
        milter has added to it, as long as no slot has expired."""
        keys = self.cli("--scan", "--pattern", f"{self.PREFIX}{name}:*")
        return sum(int(v) for v in self.cli("MGET", *keys)) if keys else 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


# ---------------------------------------------------------------- CPU accounting

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is state (field 3); utime=14, stime=15, cutime=16, cstime=17, ppid=4
    return {"ppid": int(fields[1]), "self": int(fields[11]) + int(fields[12]),
            "children": int(fields[13]) + int(fields[14])}


def tree_cpu(root_pids):
    """CPU seconds of the processes, their reaped children and their live
    descendants."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(d)
            if st:
                procs[int(d)] = st
    total, todo, seen = 0, list(root_pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        total += procs[pid]["self"] + procs[pid]["children"]
        todo.extend(c for c, st in procs.items() if st["ppid"] == pid)
    return total / _TICK


def postfix_cpu(pf):
    try:
        pid = int((pf.dir / "queue" / "pid" / "master.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return tree_cpu([pid])


# ---------------------------------------------------------------- one setup

def build_setup(name, env):
    """The sink, Postfix and the filter of a setup; the filter has .redis
    (a Redis or None) when it is an esmtp setup."""
    sink = CountingSink(env)
    milters, filt = (), None
    if name in ESMTP_SETUPS:
        config = EXT_CONFIG if name == "esmtp-ext" else ""
        redis = Redis(env) if name == "esmtp-harvest-redis" else None
        if name in HARVEST_SETUPS:
            config += HARVEST_CONFIG
        if redis:
            config += f'store: {{ type: redis, servers: ["127.0.0.1:{redis.port}"] }}\n'
        filt = harness.Milter(env, config + ARGS.esmtp_yaml, metrics=name == "esmtp-metrics")
        filt.redis = redis
        if name == "esmtp-alt":
            filt.argv[0] = str(_snap / "bin" / "esmtp-inspect-milter-alt")
        filt.start()
        milters = (filt.postfix_spec,)
    elif name == "mimedefang":
        filt = MimeDefang(env, ARGS.md_workers, ARGS.md_embedded)
        milters = (filt.postfix_spec,)
    elif name in ("null", "null-nr", "null-env"):
        filt = NullMilter(env, {"null-nr": "--no-reply", "null-env": "--envelope"}.get(name))
        milters = (filt.postfix_spec,)
    extra = dict(POSTFIX_TUNING, **(UNKNOWN_RCPT_TUNING if ARGS.unknown_rcpt else {}))
    pf = harness.Postfix(env, sink, milters=milters, extra=extra)
    return sink, pf, filt


def filter_pids(filt):
    if filt is None:
        return []
    if isinstance(filt, MimeDefang):
        return filt.pids()
    if getattr(filt, "redis", None):
        return [filt.proc.pid, filt.redis.proc.pid]
    return [filt.proc.pid]


def send_one(pf, data, expect):
    r = harness.swaks(pf.port, sender=SENDER, to=(RCPT,), helo=HELO, data=data)
    return final_reply(r, expect)


def final_reply(r, expect):
    last = [x for x in r.replies if x[:1] in "2345"]
    # The reply to DATA's end is the last before QUIT's 221.
    final = [x for x in last if not x.startswith("221") and not x.startswith("354")]
    got = final[-1] if final else ""
    ok = got.startswith(expect)
    return ok, got


def verify_harvest(name, pf, filt, msgs):
    """The harvest setups count what Postfix rejected, across sessions: from
    192.0.2.10 (XCLIENT; profile harvest-check, max 2), sessions with one
    unknown recipient each; the third crosses the limit, so the fourth is
    refused at CONNECT, and the milter logs rule=harvest. A 2rcpt@ from
    127.0.0.1 (the bench's own traffic) is rejected by Postfix and counted."""
    results = []
    unknown = "2" + RCPT
    for i in range(4):
        r = harness.swaks(pf.port, sender=SENDER, to=(unknown, RCPT), helo=HELO,
                          client=("192.0.2.10", "harvester.example"), data=msgs["4k_crlf"])
        if r.has("421 4.7.0 Too many invalid recipients"):
            results.append((f"harvest check: session {i + 1} from 192.0.2.10",
                            "421 4.7.0", "421 4.7.0 Too many invalid recipients", True))
            break
        if not r.has("550 5.1.1"):
            raise RuntimeError(f"{name}: Postfix did not reject {unknown}: {r.replies}")
    else:
        raise RuntimeError(f"{name}: harvest never acted: {filt.log()[-1500:]}")
    if i != 2 and i != 3:
        raise RuntimeError(f"{name}: harvest acted at session {i + 1}, not at the 3rd or 4th")
    filt.wait_log(r"rule=harvest actual=3 limit=2")
    if filt.redis:
        got = filt.redis.count("harvest:192.0.2.10")
        results.append(("harvest check: redis counter harvest:192.0.2.10", "3", str(got),
                        got == 3))
        if got != 3:
            raise RuntimeError(f"{name}: redis has harvest:192.0.2.10 = {got}, expected 3")
    return results


def verify(name, pf, msgs, filt=None):
    """Each filter must visibly inspect before it is timed; bench messages pass."""
    checks = [("4 KiB bench message", msgs["4k_crlf"], "250"),
              ("100 KiB bench message", msgs["100k_crlf"], "250")]
    if name in ESMTP_SETUPS:
        checks += [("over-long header line", msgs["longheader"], "550 5.6.0"),
                   ("over-long attachment filename", msgs["longname"], "550 5.6.0")]
    if name == "mimedefang":
        checks += [("over-long attachment filename", msgs["longname"], "550 5.6.0")]
    if name in ("mimedefang", "esmtp-ext"):
        checks += [("report.exe attachment", msgs["exe"], "550 5.7.1")]
    if name in ("postfix", "null", "null-nr", "null-env"):
        checks += [("report.exe attachment (no filter: accepted)", msgs["exe"], "250")]
    results = []
    for what, data, expect in checks:
        ok, got = send_one(pf, data, expect)
        results.append((what, expect, got, ok))
        if not ok:
            raise RuntimeError(f"{name}: check '{what}' expected {expect}, got {got!r}")
    if name in HARVEST_SETUPS:
        results += verify_harvest(name, pf, filt, msgs)
    return results


def smtp_source(pf, msg_file, count, sessions):
    # -r 2 -A: two recipients, one rejected by Postfix, and go on (--unknown-rcpt)
    extra = ["-r", "2", "-A"] if ARGS.unknown_rcpt else []
    # Its output goes to a file, read when it is done: with -A it warns once
    # per rejected recipient, which would fill a pipe nobody reads during the
    # run and block it.
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        ["smtp-source", "-s", str(sessions), "-m", str(count), "-F", str(msg_file),
         "-M", HELO, "-f", SENDER, "-t", RCPT, *extra, f"127.0.0.1:{pf.port}"],
        stdout=out, stderr=subprocess.STDOUT)
    proc.out = out
    return proc


def source_output(src):
    """The last 800 octets smtp-source wrote."""
    src.out.seek(0, os.SEEK_END)
    src.out.seek(max(0, src.out.tell() - 800))
    text = src.out.read().decode(errors="replace")
    src.out.close()
    return text


def drained(pf, timeout=60):
    try:
        harness.wait_until(lambda: not pf.queue(), timeout=timeout, interval=0.2,
                           what="empty queue")
        return True
    except TimeoutError:
        return False


def phase(pf, sink, msg_file, count, sessions, pids, timeout, redis=None):
    """Sends `count` messages; returns seconds from start to the last one at
    the sink, and CPU seconds used meanwhile by the filter, by Postfix and by
    the whole pipeline (filter + Postfix + smtp-source + smtp-sink). With
    `redis`, the harvest counter of 127.0.0.1 must have grown by `count`
    (one rejected recipient per message)."""
    start_count = sink.count
    counted0 = redis.count("harvest:127.0.0.1") if redis else None
    cpu0 = tree_cpu(pids) if pids else 0.0
    pcpu0 = postfix_cpu(pf)
    scpu0 = tree_cpu([sink.proc.pid])
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    src = smtp_source(pf, msg_file, count, sessions)
    ok = sink.wait_for(start_count + count, timeout)
    t1 = time.monotonic()
    try:
        src.wait(timeout=30)
    except subprocess.TimeoutExpired:
        src.kill()
        src.wait()
    out = source_output(src)
    cpu1 = tree_cpu(pids) if pids else 0.0
    pcpu1 = postfix_cpu(pf)
    scpu1 = tree_cpu([sink.proc.pid])
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # smtp-source, reaped above
    source_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    if not ok or src.returncode != 0:
        raise RuntimeError(
            f"phase failed: sink {sink.count - start_count}/{count} messages, smtp-source "
            f"rc={src.returncode}: {out}\n"
            + "\n".join(l for l in pf.log().splitlines()
                        if re.search(r"reject|warning|error|fatal|defer", l))[-2000:])
    if not drained(pf):
        raise RuntimeError("queue not empty after the sink counted every message")
    postfix = (pcpu1 - pcpu0) if pcpu0 is not None and pcpu1 is not None else None
    if redis:
        counted = redis.count("harvest:127.0.0.1") - counted0
        if counted != count:
            raise RuntimeError(f"redis counted {counted} rejected recipients, expected {count}")
    return {"seconds": t1 - t0, "rate": count / (t1 - t0),
            "filter_cpu": cpu1 - cpu0,
            "postfix_cpu": postfix,
            "pipeline_cpu": (cpu1 - cpu0) + (postfix or 0) + (scpu1 - scpu0) + source_cpu,
            "load1_before": load0, "load1_after": os.getloadavg()[0]}


def run_setup(name, msgs, rep, verify_only=False):
    env = harness.Env("milter-bench")
    try:
        sink, pf, filt = build_setup(name, env)
        checks = verify(name, pf, msgs, filt)
        if verify_only:
            return {"checks": checks}
        pids = filter_pids(filt)
        redis = getattr(filt, "redis", None)
        scraper = Scraper(filt) if name == "esmtp-metrics" else None
        # Warm-up: untimed, both sizes (starts smtpd/cleanup/smtp processes,
        # MIMEDefang's Perl workers, the milter's threads).
        if ARGS.warmup:
            for key in ("4k", "100k"):
                phase(pf, sink, msgs[key], ARGS.warmup, ARGS.sessions, pids, ARGS.timeout, redis)
        res = {}
        for key, _ in SIZES:
            res[key] = phase(pf, sink, msgs[key], ARGS.count, ARGS.sessions, pids, ARGS.timeout,
                             redis)
            r = res[key]
            extra = f" filter CPU {1000 * r['filter_cpu'] / ARGS.count:.2f} ms/msg" if pids else ""
            pcpu = (f" postfix CPU {1000 * r['postfix_cpu'] / ARGS.count:.2f} ms/msg"
                    if r["postfix_cpu"] is not None else "")
            pcpu += f" pipeline CPU {1000 * r['pipeline_cpu'] / ARGS.count:.2f} ms/msg"
            print(f"  rep {rep + 1} {name:<10} {key:>4}: {r['rate']:7.1f} msgs/s "
                  f"({r['seconds']:.1f} s;{extra}{pcpu}; load {r['load1_before']:.2f})",
                  flush=True)
        if scraper:
            scraper.stop()
            m = re.search(r'esmtp_inspect_messages_total\{daemon="milter",outcome="accept"\} (\d+)',
                          scraper.last)
            print(f"  rep {rep + 1} {name:<10} {scraper.count} scrapes ({scraper.errors} failed); "
                  f"last: {m.group(1) if m else '?'} messages accepted", flush=True)
            if not m or int(m.group(1)) < ARGS.count:
                raise RuntimeError(f"{name}: the scrapes did not count the messages")
        return res
    finally:
        env.close()


# ---------------------------------------------------------------- report

def median(xs):
    return statistics.median(xs) if xs else None


def main():
    if ARGS.from_json:
        doc = json.loads(Path(ARGS.from_json).read_text())
        a = doc["args"]
        print(f"{ARGS.from_json}: {a['count']} msgs x 2 sizes per run, {a['sessions']} sessions, "
              f"{a['reps']} run(s) per setup")
        report(a["setups"], doc["results"], a["count"], a["reps"])
        return 0
    prepare()
    print(f"milter throughput: {ARGS.count} msgs x 2 sizes per run, {ARGS.sessions} sessions, "
          f"{ARGS.reps} run(s) per setup, warm-up {ARGS.warmup} per size")
    print(f"machine: {os.cpu_count()} CPUs; load before: {Path('/proc/loadavg').read_text().strip()}")
    print(f"milter binary: {_build / 'bin' / 'esmtp-inspect-milter'} (copied to {_snap})")
    if ARGS.unknown_rcpt:
        print(f"recipients: 2{RCPT} (rejected by Postfix: unknown) and {RCPT} per message")

    work = Path(tempfile.mkdtemp(prefix="milter-bench-msgs-", dir="/tmp"))
    os.chmod(work, 0o755)
    plain = make_plain(4096)
    attach = make_attachment_msg(100 * 1024)
    msgs = {
        "4k": write_lf(work / "4k.eml", plain),
        "100k": write_lf(work / "100k.eml", attach),
        "4k_crlf": write_crlf(work / "4k-crlf.eml", plain),
        "100k_crlf": write_crlf(work / "100k-crlf.eml", attach),
        "exe": write_crlf(work / "exe.eml", make_attachment_msg(
            8192, filename="report.exe", ctype="application/octet-stream", subject="exe")),
        "longname": write_crlf(work / "longname.eml", make_attachment_msg(
            8192, filename="a" * 300 + ".pdf", subject="longname")),
        "longheader": write_crlf(work / "longheader.eml", "X-Long: " + "x" * 1200 + "\n"
                                 + plain),
    }
    for key in ("4k", "100k"):
        p = msgs[key]
        print(f"message {key}: {p.stat().st_size + p.read_text().count(chr(10))} octets on the wire")

    results = {s: [] for s in ARGS.setups}
    failures = []
    try:
        for s in ARGS.setups:
            checks = run_setup(s, msgs, 0, verify_only=True)["checks"]
            print(f"check {s}: " + "; ".join(f"{w} -> {g}" for w, e, g, ok in checks))
        for rep in range(ARGS.reps):
            k = rep % len(ARGS.setups)
            order = ARGS.setups[k:] + ARGS.setups[:k]  # rotate: no setup always first
            for s in order:
                try:
                    results[s].append(run_setup(s, msgs, rep))
                except Exception as e:  # a failed run is reported, the others go on
                    print(f"  rep {rep + 1} {s}: FAILED: {e}", flush=True)
                    failures.append((s, rep, str(e)))
    finally:
        if not ARGS.keep:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(_snap, ignore_errors=True)

    print(f"\nload after: {Path('/proc/loadavg').read_text().strip()}")
    med, verdicts = report(ARGS.setups, results, ARGS.count, ARGS.reps)
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps({
            "args": {k: v for k, v in vars(ARGS).items()},
            "results": results, "failures": failures,
            "medians": {f"{s}/{k}": v for (s, k), v in med.items()},
            "verdicts": verdicts, "loadavg_end": os.getloadavg()}, indent=1))
    return 1 if failures else 0


def report(setups, results, count, reps):
    """Prints the table, the ratios with PASS/MISS and the CPU view; returns
    the medians and the verdicts."""
    setups = [s for s in setups if results.get(s)]
    med = {}
    for s in setups:
        for key, _ in SIZES:
            med[(s, key)] = median([r[key]["rate"] for r in results[s]])
        # Both sizes together: messages over the summed time.
        tot = [2 * count / (r["4k"]["seconds"] + r["100k"]["seconds"]) for r in results[s]]
        med[(s, "all")] = median(tot)
        med[(s, "cpu4k")] = median([1000 * r["4k"]["filter_cpu"] / count for r in results[s]])
        med[(s, "cpu100k")] = median([1000 * r["100k"]["filter_cpu"] / count
                                      for r in results[s]])
        for key, _ in SIZES:
            med[(s, "pipe" + key)] = median([1000 * r[key]["pipeline_cpu"] / count
                                             for r in results[s]])

    def f(v, spec=".1f"):
        return "-" if v is None else format(v, spec)

    print(f"\nmessages/s, median of {reps} run(s) (individual runs in brackets); "
          "CPU columns: CPU ms per message of the milter process(es) (filter) and of "
          "everything: filter + Postfix + smtp-source + smtp-sink (pipeline)")
    hdr = ["setup", "4 KiB msgs/s", "100 KiB msgs/s", "both", "filter CPU 4k", "filter CPU 100k",
           "pipeline CPU 4k", "pipeline CPU 100k"]
    rows = []
    for s in setups:
        runs4 = " ".join(f"{r['4k']['rate']:.0f}" for r in results[s])
        runs100 = " ".join(f"{r['100k']['rate']:.0f}" for r in results[s])
        rows.append([SETUPS[s], f"{f(med[(s, '4k')])} [{runs4}]",
                     f"{f(med[(s, '100k')])} [{runs100}]", f(med[(s, 'all')]),
                     f(med[(s, 'cpu4k')], ".2f") if s != "postfix" else "-",
                     f(med[(s, 'cpu100k')], ".2f") if s != "postfix" else "-",
                     f(med[(s, 'pipe4k')], ".2f"), f(med[(s, 'pipe100k')], ".2f")])
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + rows:
        print("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i])
                        for i, c in enumerate(r)))

    print()
    verdicts = []

    def ratio(a, b, key):
        x, y = med.get((a, key)), med.get((b, key))
        return x / y if x and y else None

    targets = [("null", "postfix", 0.90, "(0)/(1) >= 0.90 (info)"),
               ("null-nr", "postfix", 0.90, "(0nr)/(1) >= 0.90 (info)"),
               ("esmtp", "null", 0.90, "(2)/(0) >= 0.90 (info)"),
               ("esmtp", "postfix", 0.90, "(2)/(1) >= 0.90"),
               ("esmtp", "mimedefang", 3.0, "(2)/(3) >= 3.0")]
    if "esmtp-ext" in setups:
        targets += [("esmtp-ext", "postfix", 0.90, "(2x)/(1) >= 0.90 (info)"),
                    ("esmtp-ext", "mimedefang", 3.0, "(2x)/(3) >= 3.0 (info)")]
    for a, b, goal, label in targets:
        if a not in setups or b not in setups:
            continue
        parts = []
        for key, title in SIZES + (("all", "both"),):
            r = ratio(a, b, key)
            verdict = "-" if r is None else ("PASS" if r >= goal else "MISS")
            parts.append(f"{title}: {f(r, '.2f')} {verdict}")
            if not label.endswith("(info)") and key != "all":
                verdicts.append((label, key, r, verdict))
        print(f"{label:<26} " + " | ".join(parts))

    # On a shared machine wall time is at the mercy of the other load; CPU
    # per message is not (much). On a CPU-bound box the throughput ratio
    # tends to the inverse ratio of pipeline CPU per message.
    print("\nCPU-bound estimate (pipeline CPU per message of the baseline / of the setup):")
    for a, b in (("esmtp", "postfix"), ("esmtp", "mimedefang"), ("esmtp-alt", "postfix"),
                 ("esmtp-alt", "esmtp"), ("null", "postfix"), ("null-nr", "postfix"),
                 ("esmtp-ext", "postfix")):
        if a in setups and b in setups:
            parts = []
            for key, title in SIZES:
                x, y = med.get((a, "pipe" + key)), med.get((b, "pipe" + key))
                parts.append(f"{title}: {f(y / x if x and y else None, '.2f')}")
            print(f"  {a + '/' + b:<20} " + " | ".join(parts))

    # The milter's own CPU against the libmilter floors measured in this run.
    if "esmtp" in setups and "esmtp-metrics" in setups:
        # Issue 12: metrics on and scraped every second cost <= 2 %.
        for key, title in SIZES:
            rate = ratio("esmtp-metrics", "esmtp", key)
            x, y = med.get(("esmtp-metrics", "cpu" + key)), med.get(("esmtp", "cpu" + key))
            cost = 1 - rate if rate else None
            print(f"metrics on/off, {title}: throughput {f(rate, '.3f')} "
                  f"(cost {f(None if cost is None else 100 * cost, '.1f')} %, goal <= 2 %: "
                  f"{'-' if cost is None else ('PASS' if cost <= 0.02 else 'MISS')}); "
                  f"filter CPU {f(x / y if x and y else None, '.3f')}x")
    for setup in HARVEST_SETUPS:
        if "esmtp" not in setups or setup not in setups:
            continue
        # Issue 13: harvest on costs <= 5 % with Redis on loopback.
        for key, title in SIZES:
            rate = ratio(setup, "esmtp", key)
            x, y = med.get((setup, "cpu" + key)), med.get(("esmtp", "cpu" + key))
            px, py = med.get((setup, "pipe" + key)), med.get(("esmtp", "pipe" + key))
            cost = 1 - rate if rate else None
            print(f"{setup} vs esmtp, {title}: throughput {f(rate, '.3f')} "
                  f"(cost {f(None if cost is None else 100 * cost, '.1f')} %, goal <= 5 %: "
                  f"{'-' if cost is None else ('PASS' if cost <= 0.05 else 'MISS')}); "
                  f"filter CPU {f(x / y if x and y else None, '.3f')}x, "
                  f"pipeline CPU {f(px / py if px and py else None, '.3f')}x; "
                  # The steadiest view on a shared machine: what the filter
                  # (with redis-server) adds per message, against everything
                  # the baseline's pipeline spends on one.
                  f"filter CPU {f(1000 * (x - y) if x and y else None, '+.0f')} us/msg = "
                  f"{f(100 * (x - y) / py if x and y and py else None, '.1f')} % of (2)'s "
                  "pipeline CPU")
            if cost is not None:
                verdicts.append((f"{setup}/esmtp cost <= 5 %", key, rate,
                                 "PASS" if cost <= 0.05 else "MISS"))
    floors = [("esmtp", "null-nr"), ("esmtp-alt", "null-nr"), ("esmtp", "null-env"),
              ("esmtp-alt", "null-env"), ("null-env", "null-nr"), ("esmtp", "esmtp-alt")]
    for a, b in floors:
        if a in setups and b in setups:
            parts = []
            for key, title in SIZES:
                x, y = med.get((a, "cpu" + key)), med.get((b, "cpu" + key))
                parts.append(f"{title}: {f(x / y if x and y else None, '.2f')}x")
            print(f"  filter CPU per message, {a}/{b}: ".ljust(48) + " | ".join(parts))
    if "esmtp" in setups and "mimedefang" in setups:
        parts = []
        for key, title in SIZES:
            x, y = med.get(("esmtp", "cpu" + key)), med.get(("mimedefang", "cpu" + key))
            parts.append(f"{title}: {f(y / x if x and y else None, '.1f')}x")
        print("  filter CPU per message, (3)/(2):   " + " | ".join(parts))
    if "postfix" in setups and "mimedefang" in setups:
        # Everything but the filter is shared: even a milter costing nothing
        # cannot be faster than (1), so (2)/(3) cannot exceed this.
        parts = []
        for key, title in SIZES:
            x, y = med.get(("postfix", "pipe" + key)), med.get(("mimedefang", "pipe" + key))
            parts.append(f"{title}: {f(y / x if x and y else None, '.2f')}")
        print("  ceiling of (2)/(3), (3)/(1) pipeline CPU: " + " | ".join(parts))

    loads = [r[k][w] for s in setups for r in results[s] for k, _ in SIZES
             for w in ("load1_before", "load1_after")]
    if loads:
        print(f"\n1-minute load average during the timed phases: {min(loads):.1f} to "
              f"{max(loads):.1f} ({os.cpu_count()} CPUs here). Noisy when the CPUs are shared: "
              "compare setups of one invocation, not across invocations.")
    return med, verdicts


if __name__ == "__main__":
    sys.exit(main())
