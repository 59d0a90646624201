#!/usr/bin/env python3
"""Benchmark `esmtp-inspect report` against pflogsumm on one generated mail log.

Generates a realistic syslog-style mail log (default 1 GB) in /tmp: per
session Postfix's connect/client/cleanup/qmgr/smtp status=sent/removed/
disconnect lines, and for a share of sessions rejections at every stage:
Postfix's own NOQUEUE rejects (relay access denied), milter-reject at
CONNECT, HELO, MAIL, RCPT (452, several per transaction), DATA and
END-OF-MESSAGE (cleanup, no 3-digit code), policy-service rejects, a
milter-hold, each with the esmtp-inspect-milter/-policyd line beside it as
the daemons log them. Then runs `esmtp-inspect report --json` and
`pflogsumm` on the same file in the same run (file read once before, so
both read from the page cache), and prints MB/s, peak RSS (wait4 rusage)
and the ratio. It also checks that our `rejected` total equals what the
generator wrote and shows how many rejections pflogsumm misses.

  bench/report_bench.py                 # 1 GB
  bench/report_bench.py --size 200M     # smaller
  ESMTP_BUILD_DIR=build-report bench/report_bench.py --keep
  bench/report_bench.py --huge-replies  # memory bound: 20,000 rejections with 65 KB replies

--huge-replies checks the memory bound (esmtp-inspect(1), report): 20,000
unpaired rejection lines (10,000 of Postfix's, 10,000 of ours) whose reply
texts are 65,000 octets each (1.3 GB), as a plain file and as a gzip file
of a few MB. All 20,000 wait in the pairing window at once; stored strings
are cut, so peak RSS must stay below 256 MiB (it was 1.29 GB before).

Needs pflogsumm (tools/install-deps.sh all). Traffic: none (files only).
"""

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("ESMTP_BUILD_DIR", ROOT / "build"))
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def parse_size(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)B?", s.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s}")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])


class Generator:
    """Writes sessions until the file reaches `size` octets; counts what it wrote."""

    def __init__(self, size, seed=1):
        self.size = size
        self.rng = random.Random(seed)
        self.t = 0  # seconds since Nov 20 00:00:00
        self.qid = 0x1A2B3C000
        self.pid = 1000
        self.rejected = 0          # rejections (each once)
        self.smtpd_milter = 0      # milter-reject lines logged by smtpd (pflogsumm misses them)
        self.held = 0
        self.sessions = 0

    def stamp(self):
        day, rest = divmod(self.t, 86400)
        h, rest = divmod(rest, 3600)
        m, s = divmod(rest, 60)
        return f"Nov {20 + day % 9:2d} {h:02d}:{m:02d}:{s:02d}"

    def next_qid(self):
        self.qid += self.rng.randint(1, 4099)
        return f"{self.qid:X}"

    def session(self, out):
        r = self.rng
        self.sessions += 1
        if self.sessions % 3 == 0:
            self.t += 1
        ts = self.stamp()
        pid = 1000 + self.sessions % 5000
        a, b, c = r.randint(1, 223), r.randint(0, 255), r.randint(0, 255)
        ip = f"{a}.{b}.{c}.{r.randint(1, 254)}"
        name = f"mail{r.randint(1, 999)}.sender{r.randint(1, 5000)}.example" if r.random() < 0.7 else "unknown"
        client = f"{name}[{ip}]"
        dom = f"dom{r.randint(1, 20000)}.example"
        sender = f"user{r.randint(1, 99999)}@{dom}"
        rcpt = f"rcpt{r.randint(1, 500)}@ours.example"
        helo = name if name != "unknown" else f"host{r.randint(1, 999)}.example"
        smtpd = f"{ts} mx postfix/smtpd[{pid}]:"
        milter = f"{ts} mx esmtp-inspect-milter[812]:"
        policyd = f"{ts} mx esmtp-inspect-policyd[813]:"
        ctx = f"client={client} helo={helo} from=<{sender}>"
        env = f"from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{helo}>"
        lines = [f"{smtpd} connect from {client}"]
        kind = r.random()
        qid = self.next_qid()

        def deliver(qid):
            lines.extend([
                f"{smtpd} {qid}: client={client}",
                f"{ts} mx postfix/cleanup[{pid + 1}]: {qid}: message-id=<{qid}.{r.randint(1, 1 << 30)}@{dom}>",
                f"{ts} mx postfix/qmgr[500]: {qid}: from=<{sender}>, size={r.randint(900, 90000)}, nrcpt=1 (queue active)",
                f"{ts} mx postfix/smtp[{pid + 2}]: {qid}: to=<{rcpt}>, relay=backend.ours.example[10.0.0.2]:25, "
                f"delay=0.{r.randint(10, 99)}, delays=0.01/0/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {self.next_qid()})",
                f"{ts} mx postfix/qmgr[500]: {qid}: removed",
            ])

        if kind < 0.80:
            deliver(qid)
        elif kind < 0.83:  # Postfix alone: relay access denied
            lines.append(f"{smtpd} NOQUEUE: reject: RCPT from {client}: 554 5.7.1 <x@elsewhere.example>: "
                         f"Relay access denied; from=<{sender}> to=<x@elsewhere.example> proto=ESMTP helo=<{helo}>")
            self.rejected += 1
        elif kind < 0.86:  # MAIL: sender too long
            lines.append(f"{smtpd} NOQUEUE: milter-reject: MAIL from {client}: 501 5.1.7 Sender address too long; "
                         f"from=<{sender}> proto=ESMTP helo=<{helo}>")
            lines.append(f"{milter} NOQUEUE: action=reject rule=sender_address_length actual=400 limit=320 "
                         f'where=mail {ctx} reply="501 5.1.7 Sender address too long" profile=default')
            self.rejected += 1
            self.smtpd_milter += 1
        elif kind < 0.89:  # RCPT: too many recipients, several per transaction
            n = r.randint(1, 5)
            for i in range(n):
                lines.append(f"{smtpd} {qid}: milter-reject: RCPT from {client}: 452 4.5.3 Too many recipients; "
                             f"from=<{sender}> to=<r{i}@ours.example> proto=ESMTP helo=<{helo}>")
                lines.append(f"{milter} {qid}: action=tempfail rule=recipient_count actual={101 + i} limit=100 "
                             f'where=rcpt {ctx} to=<r{i}@ours.example> reply="452 4.5.3 Too many recipients" profile=default')
            deliver(qid)
            self.rejected += n
            self.smtpd_milter += n
        elif kind < 0.93:  # END-OF-MESSAGE: header line too long (cleanup, no 3-digit code)
            lines.append(f"{smtpd} {qid}: client={client}")
            lines.append(f"{milter} {qid}: action=reject rule=header_line_length actual={r.randint(999, 9000)} "
                         f'limit=998 where=header:Subject {ctx} reply="550 5.6.0 Header line too long" profile=default')
            lines.append(f"{ts} mx postfix/cleanup[{pid + 1}]: {qid}: milter-reject: END-OF-MESSAGE from {client}: "
                         f"5.6.0 Header line too long; {env}")
            self.rejected += 1
        elif kind < 0.95:  # END-OF-MESSAGE: attachment filename
            lines.append(f"{smtpd} {qid}: client={client}")
            lines.append(f"{milter} {qid}: action=reject rule=mime_filename_length actual=300 limit=255 where=mime:2 "
                         f'detail=filename=nnnn.pdf {ctx} reply="550 5.6.0 Attachment filename too long" profile=default')
            lines.append(f"{ts} mx postfix/cleanup[{pid + 1}]: {qid}: milter-reject: END-OF-MESSAGE from {client}: "
                         f"5.6.0 Attachment filename too long; {env}")
            self.rejected += 1
        elif kind < 0.97:  # policy service at RCPT
            lines.append(f"{policyd} NOQUEUE: action=reject rule=helo_syntax actual={helo} limit=fqdn where=helo "
                         f'{ctx} reply="504 5.5.2 Helo command rejected: need fully-qualified hostname" profile=default')
            lines.append(f"{smtpd} NOQUEUE: reject: RCPT from {client}: 504 5.5.2 <{helo}>: Helo command rejected: "
                         f"need fully-qualified hostname; {env}")
            self.rejected += 1
        elif kind < 0.98:  # CONNECT / HELO / DATA milter rejects
            stage = r.choice(["CONNECT", "HELO", "DATA"])
            where = {"CONNECT": "connect", "HELO": "helo", "DATA": "data"}[stage]
            lines.append(f"{milter} NOQUEUE: action=reject rule=invalid_recipients actual=21 limit=20 where={where} "
                         f'{ctx} reply="550 5.7.1 Go away" profile=default')
            lines.append(f"{smtpd} NOQUEUE: milter-reject: {stage} from {client}: 550 5.7.1 Go away; "
                         f"proto=ESMTP helo=<{helo}>")
            self.rejected += 1
            self.smtpd_milter += 1
        elif kind < 0.985:  # quarantine
            lines.append(f"{smtpd} {qid}: client={client}")
            lines.append(f"{milter} {qid}: action=quarantine rule=mime_filename actual=x.exe limit=*.exe where=mime:2 "
                         f"{ctx} profile=default")
            lines.append(f"{ts} mx postfix/cleanup[{pid + 1}]: {qid}: milter-hold: END-OF-MESSAGE from {client}: "
                         f"milter triggers HOLD action; {env}")
            self.held += 1
        else:  # monitor mode: logged only
            lines.append(f"{milter} {qid}: action=log would=reject rule=body_line_length actual=1200 limit=998 "
                         f"where=body {ctx} profile=default")
            deliver(qid)
        lines.append(f"{smtpd} disconnect from {client} ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")
        out.append("\n".join(lines) + "\n")

    def write(self, path):
        written = 0
        with open(path, "w", buffering=1 << 22) as f:
            while written < self.size:
                buf = []
                for _ in range(2000):
                    self.session(buf)
                chunk = "".join(buf)
                f.write(chunk)
                written += len(chunk)
        return written


def write_huge_replies(path, n=20000, reply=65000):
    """n unpaired rejections with `reply`-octet reply texts; returns octets."""
    text = "Message rejected " + "x" * (reply - 17)
    written = 0
    with open(path, "w", buffering=1 << 22) as f:
        for i in range(n):
            ts = f"Nov 21 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
            ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            if i % 2:
                line = (f"{ts} mx postfix/smtpd[100]: NOQUEUE: reject: RCPT from c{i}.example[{ip}]: "
                        f"554 5.7.1 {text}; from=<s{i}@example.org> to=<r@ours.example> proto=ESMTP "
                        f"helo=<c{i}.example>\n")
            else:
                line = (f"{ts} mx esmtp-inspect-milter[812]: Q{i:X}: action=reject rule=header_line_length "
                        f"actual=1200 limit=998 where=header:Subject client=c{i}.example[{ip}] "
                        f'helo=c{i}.example from=<s{i}@example.org> reply="550 5.6.0 {text}" '
                        f"profile=default\n")
            f.write(line)
            written += len(line)
    return written


def huge_replies(cli, work, limit_mib=256):
    log = work / "huge.log"
    size = write_huge_replies(log)
    gz = work / "huge.log.gz"
    with open(log, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    ok = True
    for name, path in (("plain", log), ("gzip", gz)):
        secs, cpu, rss = run_measured([str(cli), "report", "--json", str(path)], work / "huge.json")
        ours = json.loads((work / "huge.json").read_text())
        good = ours["rejected"] == 20000 and rss / 1024 < limit_mib
        ok = ok and good
        print(f"huge replies ({name}, {path.stat().st_size / 1e6:.1f} MB on disk, {size / 1e6:.0f} MB of "
              f"lines): {secs:6.2f} s  peak RSS {rss / 1024:6.1f} MiB (limit {limit_mib} MiB: "
              f"{'ok' if good else 'OVER'})  rejected={ours['rejected']} (expected 20000)")
    return ok


def run_measured(argv, stdout_path):
    """Runs argv under /usr/bin/time (a small parent, so the peak RSS is the
    program's own, not a forked copy of this Python). Returns (wall seconds,
    CPU seconds user+sys, peak RSS in KiB)."""
    stats = Path(str(stdout_path) + ".time")
    with open(stdout_path, "wb") as out:
        p = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%e %U %S %M", *argv],
                           stdout=out, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"{argv[0]} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    wall, user, sys_, rss = stats.read_text().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("1G"), help="log size (default 1G)")
    ap.add_argument("--keep", action="store_true", help="keep the generated log")
    ap.add_argument("--no-pflogsumm", action="store_true", help="skip pflogsumm")
    ap.add_argument("--huge-replies", action="store_true",
                    help="only the memory bound: 20,000 rejections with 65 KB replies, plain and gzip")
    args = ap.parse_args()

    cli = BUILD / "bin" / "esmtp-inspect"
    if not cli.exists():
        sys.exit(f"report_bench: {cli} not built (set ESMTP_BUILD_DIR)")
    if args.huge_replies:
        work = Path(tempfile.mkdtemp(prefix="report-bench-", dir="/tmp"))
        try:
            if not huge_replies(cli, work):
                sys.exit("report_bench: report over the huge-reply log used too much memory")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    pflogsumm = shutil.which("pflogsumm")
    if not pflogsumm and not args.no_pflogsumm:
        sys.exit("report_bench: pflogsumm not installed (tools/install-deps.sh all, or --no-pflogsumm)")
    need = int(args.size * 1.05) + (64 << 20)
    free = shutil.disk_usage("/tmp").free
    if free < need:
        sys.exit(f"report_bench: /tmp has {free >> 20} MiB free, the {args.size >> 20} MiB log "
                 f"needs {need >> 20} MiB: free space or pass a smaller --size")

    work = Path(tempfile.mkdtemp(prefix="report-bench-", dir="/tmp"))
    try:
        log = work / "mail.log"
        gen = Generator(args.size)
        t0 = time.monotonic()
        size = gen.write(log)
        print(f"generated {size / 1e6:.0f} MB ({gen.sessions} sessions, {gen.rejected} rejections, "
              f"{gen.smtpd_milter} of them smtpd milter-reject lines) in {time.monotonic() - t0:.0f} s")
        with open(log, "rb") as f:  # into the page cache for both readers
            while f.read(1 << 24):
                pass

        secs, cpu, rss = run_measured([str(cli), "report", "--json", str(log)], work / "ours.json")
        ours = json.loads((work / "ours.json").read_text())
        ok = ours["rejected"] == gen.rejected and ours["totals"]["held"] == gen.held
        mbs = size / 1e6 / secs
        print(f"esmtp-inspect report: {secs:6.2f} s  {mbs:7.1f} MB/s  (CPU {cpu:6.2f} s: "
              f"{size / 1e6 / max(cpu, 0.01):7.1f} MB/s)  peak RSS {rss / 1024:6.1f} MiB  "
              f"rejected={ours['rejected']} (expected {gen.rejected}: {'ok' if ok else 'WRONG'}) "
              f"held={ours['totals']['held']}")
        result = {"size_mb": size / 1e6, "ours_s": secs, "ours_cpu_s": cpu, "ours_mbs": mbs, "ours_rss_mib": rss / 1024,
                  "ours_rejected": ours["rejected"], "expected_rejected": gen.rejected}
        if not args.no_pflogsumm:
            psecs, pcpu, prss = run_measured([pflogsumm, str(log)], work / "pflogsumm.txt")
            text = (work / "pflogsumm.txt").read_text(errors="replace")
            m = re.search(r"^\s*(\d+)([km]?)\s+rejected", text, re.M)
            prej = int(m.group(1)) * {"": 1, "k": 1000, "m": 1000000}[m.group(2)] if m else -1
            pmbs = size / 1e6 / psecs
            print(f"pflogsumm:            {psecs:6.2f} s  {pmbs:7.1f} MB/s  (CPU {pcpu:6.2f} s: "
                  f"{size / 1e6 / max(pcpu, 0.01):7.1f} MB/s)  peak RSS {prss / 1024:6.1f} MiB  "
                  f"rejected={prej} (misses the {gen.smtpd_milter} smtpd milter-reject lines: "
                  f"{gen.rejected - gen.smtpd_milter} expected)")
            print(f"ratio: esmtp-inspect is {psecs / secs:.1f}x faster, uses {prss / max(rss, 1):.1f}x less memory")
            result.update({"pflogsumm_s": psecs, "pflogsumm_cpu_s": pcpu, "pflogsumm_mbs": pmbs, "pflogsumm_rss_mib": prss / 1024,
                           "pflogsumm_rejected": prej})
        result["load_average"] = os.getloadavg()
        print(f"load average during the run: {os.getloadavg()[0]:.2f} (wall-clock MB/s suffer on a busy machine; CPU MB/s less)")
        print("result:", json.dumps(result))
        if not ok:
            sys.exit("report_bench: our rejected total does not match the generated log")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
