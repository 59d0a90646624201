"""`esmtp-inspect selfcheck` against real Postfix settings and a real DNS server
(issue 5, third part).

A private unbound serves tests/dns, where 127.0.0.30-33 and selfcheck-*.example.org
model the cases (tests/dns/README.md, "Loopback"). Postfix settings come from
real `postconf -c DIR` over main.cf files written here, and once from a private
Postfix that is running with them (its 220 banner must carry the name selfcheck
reports). Certificates are made with `openssl req -x509`. Each test asserts the
finding text a user reads, the JSON fields and the exit code.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402

CLI = harness.BIN / "esmtp-inspect"
GOOD = "selfcheck-good.example.org"


class Selfcheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("esmtp-selfcheck")
        try:
            cls.dns = dns.Unbound(cls.env)
            certs = cls.env.path("certs")
            certs.mkdir()
            cls.good_cert, cls.good_key = harness.self_signed_cert(certs, "good", [GOOD])
            cls.other_cert, _ = harness.self_signed_cert(certs, "other", ["other.example.net", "www.example.net"])
        except Exception:
            cls.env.close()
            raise
        cls.count = 0

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def config(self, **params):
        """A Postfix config directory with these main.cf settings."""
        type(self).count += 1
        d = self.env.path(f"conf{self.count}")
        d.mkdir()
        # Postfix (and postconf) insist that inet_interfaces are local addresses,
        # and only 127.0.0.1 is one here: the addresses under test are published
        # as proxy_interfaces (a NAT or proxy in front), which selfcheck checks too.
        base = {"compatibility_level": "3.6", "myhostname": GOOD, "inet_protocols": "ipv4",
                "inet_interfaces": "127.0.0.1"}
        base.update(params)
        (d / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in base.items()))
        (d / "master.cf").write_text("")
        return d

    def selfcheck(self, *args, json_out=False, config=None):
        argv = [str(CLI), "selfcheck", "--dns", self.dns.servers[0], "--dns-timeout", "1000"]
        if config:
            argv += ["-c", str(config)]
        if json_out:
            argv.append("--json")
        start = time.monotonic()
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
        p.elapsed = time.monotonic() - start
        if json_out and p.stdout.strip():
            p.json = json.loads(p.stdout)
        return p

    @staticmethod
    def findings(report, check, subject=None):
        return [f for f in report["findings"]
                if f["check"] == check and (subject is None or f["subject"] == subject)]

    def test_consistent_running_postfix(self):
        """Everything agrees: a running Postfix whose banner, HELO, PTR, A and
        certificate name are one name, published on 127.0.0.30 (smtp_bind_address, proxy_interfaces)."""
        sink = harness.Sink(self.env)
        pf = harness.Postfix(self.env, sink, extra={
            "myhostname": GOOD,
            "smtpd_tls_cert_file": str(self.good_cert),
            "smtpd_tls_key_file": str(self.good_key),
            "smtpd_tls_security_level": "may",
            "smtp_bind_address": "127.0.0.30",
            "proxy_interfaces": "127.0.0.30",
        })
        # What a client sees is the name selfcheck reports as the banner name.
        with socket.create_connection(("127.0.0.1", pf.port), timeout=10) as s:
            banner = s.recv(512).decode()
        self.assertTrue(banner.startswith(f"220 {GOOD} ESMTP"), banner)

        p = self.selfcheck(config=pf.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"banner name   {GOOD}  (smtpd_banner = {GOOD} ESMTP Postfix", p.stdout)
        self.assertIn("sends from    127.0.0.30 (smtp_bind_address)", p.stdout)
        self.assertIn("receives on   127.0.0.30 (proxy_interfaces)", p.stdout)
        self.assertIn(f"OK       names: banner name, HELO name and myhostname agree: {GOOD}",
                      p.stdout)
        self.assertIn(f"OK       helo_ptr: HELO name {GOOD} and sending address 127.0.0.30 agree",
                      p.stdout)
        self.assertIn(f"OK       banner_dns: banner name {GOOD} resolves to receiving address "
                      "127.0.0.30 and its PTR names it", p.stdout)
        self.assertIn(f"OK       certificate: the certificate covers the banner name {GOOD}",
                      p.stdout)
        self.assertIn("INFO     certificate: the certificate is self-signed", p.stdout)
        # The second info: nothing in this Postfix uses esmtp-inspect (Wiring
        # below has the cases where something does).
        self.assertIn("INFO     wiring: no smtpd service uses esmtp-inspect", p.stdout)
        self.assertIn("0 problems, 0 warnings, 2 info, 4 ok (exit 0)", p.stdout)

        j = self.selfcheck(config=pf.dir, json_out=True)
        self.assertEqual(j.returncode, 0)
        self.assertEqual(j.json["status"], "info")
        self.assertEqual(j.json["exit_code"], 0)
        self.assertEqual(j.json["banner_name"], GOOD)
        self.assertEqual(j.json["helo_name"], GOOD)
        self.assertEqual(j.json["settings"]["mail_version"][:2], "3.")
        self.assertEqual(j.json["certificates"][0]["names"], [GOOD])
        self.assertTrue(j.json["certificates"][0]["self_signed"])
        self.assertIn(j.json["certificates"][0]["days_left"], (29, 30))
        self.assertEqual(j.json["counts"], {"ok": 4, "info": 2, "warning": 0, "problem": 0})
        self.assertEqual(j.json["smtpd"], [{"service": f"127.0.0.1:{pf.port}/inet",
                                            "chrooted": False,
                                            "queue_directory": str(pf.dir / "queue"),
                                            "user": "postfix", "milters": [],
                                            "policy_services": []}])

    def test_helo_name_without_matching_ptr(self):
        """The sending address's PTR names another host: receivers check this."""
        conf = self.config(smtp_bind_address="127.0.0.31", proxy_interfaces="127.0.0.30")
        p = self.selfcheck(config=conf)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("PROBLEM  helo_ptr: the PTR of 127.0.0.31 is selfcheck-other.example.org, "
                      f"not the HELO name {GOOD} (sending, smtp_bind_address)", p.stdout)
        self.assertIn(f"fix: add PTR 127.0.0.31 -> {GOOD} (31.0.0.127.in-addr.arpa. PTR {GOOD}.",
                      p.stdout)
        self.assertIn("postconf -e 'smtp_helo_name = selfcheck-other.example.org'", p.stdout)
        # The receiving side, 127.0.0.30, is fine.
        self.assertIn(f"OK       banner_dns: banner name {GOOD} resolves to receiving address "
                      "127.0.0.30", p.stdout)

        j = self.selfcheck(config=conf, json_out=True)
        self.assertEqual(j.returncode, 2)
        self.assertEqual(j.json["status"], "problem")
        [f] = self.findings(j.json, "helo_ptr", "127.0.0.31")
        self.assertEqual(f["severity"], "problem")
        self.assertIn("Receiving servers look up the PTR", f["meaning"])
        self.assertEqual(len(f["fixes"]), 3)
        self.assertEqual(f["fixes"][1], f"add A {GOOD} -> 127.0.0.31 ({GOOD}. A 127.0.0.31)")
        self.assertEqual(f["fixes"][2], "or instead use the name the PTR gives: postconf -e "
                                        "'smtp_helo_name = selfcheck-other.example.org'")
        self.assertEqual(j.json["sending"], [{"address": "127.0.0.31",
                                              "source": "smtp_bind_address"}])

    def test_sending_address_without_ptr(self):
        p = self.selfcheck("--address", "127.0.0.32",
                           config=self.config(proxy_interfaces="127.0.0.30"), json_out=True)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        [f] = self.findings(p.json, "helo_ptr", "127.0.0.32")
        self.assertEqual(f["severity"], "problem")
        self.assertEqual(f["message"], f"127.0.0.32 has no PTR record, not the HELO name {GOOD} "
                                       "(sending, --address)")
        self.assertIn(f"add A {GOOD} -> 127.0.0.32", f["fix"])

    def test_banner_name_not_resolving_to_receiving_address(self):
        """Informational only (RFC 5321 4.2) while the sending side is right."""
        conf = self.config(smtp_bind_address="127.0.0.30", proxy_interfaces="127.0.0.33")
        p = self.selfcheck(config=conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"INFO     banner_dns: {GOOD} resolves to 127.0.0.30, not to receiving "
                      "address 127.0.0.33 (proxy_interfaces)", p.stdout)
        self.assertIn("why: The text after 220 is informational (RFC 5321 section 4.2)", p.stdout)
        self.assertIn(f"fix: add A {GOOD} -> 127.0.0.33", p.stdout)
        self.assertIn(f"OK       helo_ptr: HELO name {GOOD} and sending address 127.0.0.30 agree",
                      p.stdout)

        # A banner name that does not exist at all is worth a warning.
        conf = self.config(myhostname="selfcheck-nx.example.org", smtp_helo_name=GOOD,
                           smtp_bind_address="127.0.0.30", proxy_interfaces="127.0.0.33")
        j = self.selfcheck(config=conf, json_out=True)
        self.assertEqual(j.returncode, 1, j.stdout + j.stderr)
        [f] = self.findings(j.json, "banner_dns", "127.0.0.33")
        self.assertEqual(f["severity"], "warning")
        self.assertIn("banner name selfcheck-nx.example.org does not exist in the DNS", f["message"])
        [n] = self.findings(j.json, "names", "smtp_helo_name")
        self.assertEqual(n["severity"], "warning")
        self.assertEqual(self.findings(j.json, "helo_ptr", "127.0.0.30")[0]["severity"], "ok")

    def test_certificate_not_covering_the_name(self):
        conf = self.config(smtp_bind_address="127.0.0.30", proxy_interfaces="127.0.0.30",
                           smtpd_tls_security_level="may",
                           smtpd_tls_cert_file=str(self.other_cert))
        p = self.selfcheck(config=conf)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("WARNING  certificate: the certificate names (other.example.net, "
                      f"www.example.net) do not cover the banner name {GOOD}", p.stdout)
        self.assertIn(f"fix: get a certificate with subjectAltName DNS:{GOOD}", p.stdout)

    def test_unreadable_certificate(self):
        garbage = self.env.path("garbage.pem")
        garbage.write_bytes(b"\xff\xfe not a certificate\n" * 100)
        for path, why in (("/nonexistent/cert.pem", "No such file or directory"),
                          (str(garbage), "no start line"),
                          (str(self.env.dir), "not a regular file")):
            conf = self.config(proxy_interfaces="127.0.0.30", smtpd_tls_security_level="may",
                               smtpd_tls_chain_files=path)
            j = self.selfcheck(config=conf, json_out=True)
            self.assertEqual(j.returncode, 2, j.stdout + j.stderr)
            [f] = self.findings(j.json, "certificate", path)
            self.assertEqual(f["severity"], "problem")
            self.assertIn("cannot read the certificate", f["message"])
            self.assertIn(why, f["message"])
            self.assertIn("454 4.7.0 TLS not available", f["meaning"])

    def test_postconf_failing(self):
        missing = self.env.path("no-such-config")
        p = self.selfcheck(config=missing)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stdout, "")
        self.assertIn(f"esmtp-inspect selfcheck: postconf -c {missing} failed (exit 1): "
                      f"postconf: fatal: open {missing}/main.cf: No such file or directory",
                      p.stderr)
        j = self.selfcheck(config=missing, json_out=True)
        self.assertEqual(j.returncode, 3)
        self.assertEqual(j.json["status"], "error")
        self.assertIn("postconf: fatal", j.json["error"])

        # Postfix's own refusal: an inet_interfaces address this host does not have.
        p = self.selfcheck(config=self.config(inet_interfaces="127.0.0.30"))
        self.assertEqual(p.returncode, 3)
        self.assertIn("failed (exit 1): postconf: fatal: parameter inet_interfaces: no local "
                      "interface found for 127.0.0.30", p.stderr)

        p = self.selfcheck("--postconf", "/bin/false", config=self.config())
        self.assertEqual(p.returncode, 3)
        self.assertIn("/bin/false -c", p.stderr)
        p = self.selfcheck("--postconf", "/nonexistent/postconf")
        self.assertEqual(p.returncode, 3)
        self.assertIn("cannot run /nonexistent/postconf: No such file or directory", p.stderr)
        # Usage errors too: 2 would read as "problems found" to monitoring.
        p = self.selfcheck("--no-such-option")
        self.assertEqual(p.returncode, 3)
        self.assertIn("The following argument was not expected: --no-such-option", p.stderr)
        p = self.selfcheck("--address", "mail.example.org", config=self.config())
        self.assertEqual(p.returncode, 3)
        self.assertIn("--address mail.example.org: not an IP address", p.stderr)
        # An esmtp-inspect.yaml given with --config must be readable.
        missing_yaml = self.env.path("no-such.yaml")
        p = self.selfcheck("--config", str(missing_yaml), config=self.config())
        self.assertEqual(p.returncode, 3)
        self.assertIn(f"{missing_yaml}: cannot open: No such file or directory", p.stderr)

    def test_dns_down_is_a_warning_within_the_budget(self):
        # A UDP port that is bound and never answers.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
            hole.bind(("127.0.0.1", 0))
            port = hole.getsockname()[1]
            conf = self.config(smtp_bind_address="127.0.0.30", proxy_interfaces="127.0.0.30")
            argv = [str(CLI), "selfcheck", "-c", str(conf), "--dns", f"127.0.0.1:{port}",
                    "--dns-timeout", "300", "--json"]
            start = time.monotonic()
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            elapsed = time.monotonic() - start
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        j = json.loads(p.stdout)
        [f] = self.findings(j, "helo_ptr", "127.0.0.30")
        self.assertEqual(f["severity"], "warning")
        self.assertIn("(timeout)", f["message"])
        # Bounded by --dns-timeout: each check waits at most 2 tries x 300 ms twice
        # (plus 0.2 s), and the checks run in parallel; the default 2 s timeout
        # would need 8 s. The margin is for a loaded machine and sanitizer builds.
        self.assertLess(elapsed, 6.0)



class Wiring(unittest.TestCase):
    """esmtp-inspect's own wiring as a chrooted smtpd sees it (esmtp-inspect(1),
    selfcheck; esmtp-inspect-milter(8), POSTFIX): a private Postfix whose master.cf runs smtpd chrooted (column 5 =
    y, as Debian's packaged master.cf does) in its queue directory, the real
    esmtp-inspect-milter and esmtp-inspect-policyd on sockets in
    QUEUE/esmtp-inspect/ (nobody:postfix 0750), named relative to the queue
    directory in main.cf. selfcheck reads it through `postconf -c`; each
    broken case asserts the finding, that its fix line repairs it when run,
    and for the chroot case that Postfix really answers 451 4.7.1."""

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("esmtp-wiring")
        try:
            cls.dns = dns.Unbound(cls.env)
            cls.sink = harness.Sink(cls.env)
            # Names that selfcheck's DNS checks find right, so that the exit
            # code is the wiring's.
            cls.pf = harness.Postfix(cls.env, cls.sink, smtpd_chroot=True, extra={
                "myhostname": GOOD,
                "smtp_bind_address": "127.0.0.30",
                "proxy_interfaces": "127.0.0.30",
                "smtpd_milters": "unix:esmtp-inspect/milter.sock",
                "smtpd_recipient_restrictions":
                    "reject_unauth_destination, check_policy_service unix:esmtp-inspect/policy.sock",
            })
            cls.service = f"127.0.0.1:{cls.pf.port}/inet"
            cls.queue = cls.pf.dir / "queue"
            cls.sockets = cls.queue / "esmtp-inspect"
            cls.sockets.mkdir()
            shutil.chown(cls.sockets, "nobody", "postfix")
            os.chmod(cls.sockets, 0o750)
            cls.log = cls.env.path("esmtp-inspect.log")
            cls.config = cls.daemon_config("esmtp-inspect.yaml", cls.sockets, cls.log)
            cls.milter = cls.daemon("esmtp-inspect-milter", cls.config, cls.log,
                                    cls.sockets / "milter.sock")
            cls.policyd = cls.daemon("esmtp-inspect-policyd", cls.config, cls.log,
                                     cls.sockets / "policy.sock")
        except Exception:
            cls.env.close()
            raise
        cls.main_cf = (cls.pf.dir / "main.cf").read_text()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    @classmethod
    def daemon_config(cls, name, folder, log):
        """One esmtp-inspect.yaml for both daemons, their sockets in `folder`."""
        config = cls.env.path(name)
        Path(log).touch()
        os.chmod(log, 0o666)
        config.write_text(
            f'log: {{ to: "file:{log}" }}\n'
            f'milter: {{ socket: "unix:{folder}/milter.sock", user: nobody, group: postfix, '
            f'identity: false }}\n'
            f'policy: {{ listen: ["unix:{folder}/policy.sock"], user: nobody, group: postfix }}\n'
            f'dns: {{ servers: ["{cls.dns.servers[0]}"] }}\n')
        os.chmod(config, 0o644)
        return config

    @classmethod
    def daemon(cls, program, config, log, sock):
        return harness.Daemon(cls.env, [str(harness.BIN / program), "-f", "-c", str(config)], log,
                              lambda: harness.unix_socket_open(sock)).start()

    def tearDown(self):
        (self.pf.dir / "main.cf").write_text(self.main_cf)
        self.pf.postfix("reload")

    def postconf(self, *assignments):
        subprocess.run(["postconf", "-c", str(self.pf.dir), "-e", *assignments], check=True)

    def apply(self, fix):
        """Runs a fix line as an operator would, against this Postfix."""
        self.assertTrue(fix.startswith("postconf -"), fix)
        subprocess.run(fix.replace("postconf ", f"postconf -c {self.pf.dir} ", 1), shell=True,
                       check=True)

    def selfcheck(self, *args, json_out=True):
        argv = [str(CLI), "selfcheck", "-c", str(self.pf.dir), "--config", str(self.config),
                "--dns", self.dns.servers[0], "--dns-timeout", "1000"]
        if json_out:
            argv.append("--json")
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60)
        if json_out:
            p.json = json.loads(p.stdout)
            p.wiring = [f for f in p.json["findings"] if f["check"] == "wiring"]
            p.bad = [f for f in p.json["findings"] if f["severity"] in ("warning", "problem")]
        return p

    def send(self):
        # A HELO name the policy service takes (helo_syntax rejects "vm").
        return harness.swaks(self.pf.port, to=("b@example.net",), helo=GOOD)

    def smtpd_roots(self):
        """The root directory of each smtpd process of this Postfix."""
        master = int((self.queue / "pid" / "master.pid").read_text().strip())
        roots = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)
                comm = fields[0].split("(", 1)[1]
                ppid = int(fields[1].split()[1])
                if comm == "smtpd" and ppid == master:
                    roots.append(os.readlink(stat.parent / "root"))
            except (OSError, IndexError, ValueError):
                continue
        return roots

    def test_relative_names_work_in_a_chrooted_smtpd(self):
        # Mail flows through both daemons from a chrooted smtpd.
        r = self.send()
        self.assertTrue(r.has("250 2.0.0 Ok: queued"), r.transcript)
        roots = self.smtpd_roots()
        self.assertTrue(roots, "no smtpd process found")
        self.assertEqual(set(roots), {os.path.realpath(self.queue)})

        lines_before = len(self.milter.log_lines())
        p = self.selfcheck(json_out=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"  smtpd         {self.service} (chrooted in {self.queue}, user postfix; "
                      "milters unix:esmtp-inspect/milter.sock; policy "
                      "unix:esmtp-inspect/policy.sock)", p.stdout)
        self.assertIn(f"OK       wiring: smtpd_milters unix:esmtp-inspect/milter.sock "
                      f"({self.service} chrooted): {self.sockets}/milter.sock answers the milter "
                      "negotiation as postfix (version 6)", p.stdout)
        self.assertIn(f"OK       wiring: smtpd_recipient_restrictions check_policy_service "
                      f"unix:esmtp-inspect/policy.sock ({self.service} chrooted): "
                      f"{self.sockets}/policy.sock answers as postfix (action=DUNNO)", p.stdout)
        self.assertIn("OK       wiring: milter_default_action is tempfail", p.stdout)
        self.assertNotIn("WARNING", p.stdout)
        self.assertNotIn("PROBLEM", p.stdout)
        # The probes left no trace in the daemons' log (no verdict, no warning).
        self.assertEqual(len(self.milter.log_lines()), lines_before, self.milter.log())

        j = self.selfcheck()
        self.assertEqual(j.returncode, 0)
        self.assertEqual(j.bad, [])
        self.assertEqual(j.json["smtpd"], [{"service": self.service, "chrooted": True,
                                            "queue_directory": str(self.queue),
                                            "user": "postfix",
                                            "milters": ["unix:esmtp-inspect/milter.sock"],
                                            "policy_services": ["unix:esmtp-inspect/policy.sock"]}])

    def test_absolute_path_outside_the_queue_directory(self):
        """The classic: the milter listens on /run/..., main.cf names that path,
        and the chrooted smtpd looks for it inside the queue directory."""
        run = Path(tempfile.mkdtemp(prefix="esmtp-inspect-selfcheck-", dir="/run"))
        self.addCleanup(shutil.rmtree, run, ignore_errors=True)
        shutil.chown(run, "nobody", "postfix")
        os.chmod(run, 0o750)
        log = self.env.path("run-milter.log")
        config = self.daemon_config("run-milter.yaml", run, log)
        outside = self.daemon("esmtp-inspect-milter", config, log, run / "milter.sock")
        self.addCleanup(outside.stop)
        self.postconf(f"smtpd_milters = unix:{run}/milter.sock")
        self.pf.postfix("reload")

        # Postfix itself: the socket answers (outside), yet every message
        # gets the milter-unavailable tempfail.
        r = self.send()
        self.assertTrue(r.has("451 4.7.1 Service unavailable - try again later"), r.transcript)
        self.pf.wait_log(rf"connect to Milter service unix:{re.escape(str(run))}/milter.sock: "
                         "No such file or directory")

        p = self.selfcheck()
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        [f] = p.bad
        self.assertEqual(f["severity"], "problem")
        self.assertEqual(f["check"], "wiring")
        self.assertEqual(f["subject"], f"unix:{run}/milter.sock")
        self.assertEqual(f["message"],
                         f"smtpd_milters unix:{run}/milter.sock ({self.service} chrooted): the "
                         f"chrooted smtpd opens {self.queue}{run}/milter.sock, which does not "
                         f"exist; {run}/milter.sock exists, but outside the chroot")
        self.assertIn("451 4.7.1 Service unavailable", f["meaning"])
        self.assertEqual(f["fix"], "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'")
        text = self.selfcheck(json_out=False).stdout
        self.assertIn("         fix: postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'\n",
                      text)

        self.apply(f["fix"])
        self.pf.postfix("reload")
        self.assertEqual(self.selfcheck().bad, [])
        r = self.send()
        self.assertTrue(r.has("250 2.0.0 Ok: queued"), r.transcript)

    def test_socket_without_a_daemon(self):
        stale = self.sockets / "old-milter.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(str(stale))
        self.addCleanup(stale.unlink)
        shutil.chown(stale, "nobody", "postfix")
        os.chmod(stale, 0o660)
        self.postconf("smtpd_milters = unix:esmtp-inspect/old-milter.sock")
        self.pf.postfix("reload")
        r = self.send()
        self.assertTrue(r.has("451 4.7.1 Service unavailable - try again later"), r.transcript)

        p = self.selfcheck()
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        [f] = p.bad
        self.assertEqual(f["message"],
                         f"smtpd_milters unix:esmtp-inspect/old-milter.sock ({self.service} "
                         f"chrooted): postfix cannot connect to {stale} (Connection refused: the "
                         "socket is there, but no process listens on it)")
        self.assertIn(f"esmtp-inspect-milter listens on {self.sockets}/milter.sock", f["meaning"])
        self.assertEqual(f["fix"], "postconf -e 'smtpd_milters = unix:esmtp-inspect/milter.sock'")
        self.apply(f["fix"])
        self.assertEqual(self.selfcheck().bad, [])

    def test_socket_folder_the_postfix_user_cannot_enter(self):
        os.chmod(self.sockets, 0o700)
        self.addCleanup(os.chmod, self.sockets, 0o750)
        p = self.selfcheck()
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(len(p.bad), 2, p.bad)
        self.assertEqual(p.bad[0]["message"],
                         f"smtpd_milters unix:esmtp-inspect/milter.sock ({self.service} chrooted): "
                         f"postfix cannot connect to {self.sockets}/milter.sock (Permission "
                         "denied)")
        self.assertIn("only its primary group", p.bad[0]["meaning"])
        self.assertTrue(p.bad[1]["message"].endswith(
            f"postfix cannot connect to {self.sockets}/policy.sock (Permission denied)"))

    def test_policy_check_before_the_relay_check(self):
        self.postconf("smtpd_relay_restrictions =",
                      "smtpd_recipient_restrictions = permit_mynetworks, check_policy_service "
                      "unix:esmtp-inspect/policy.sock, reject_unauth_destination")
        p = self.selfcheck()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        [f] = p.bad
        self.assertEqual(f["severity"], "warning")
        self.assertEqual(f["subject"], self.service)
        self.assertEqual(f["message"],
                         "check_policy_service unix:esmtp-inspect/policy.sock in "
                         "smtpd_recipient_restrictions (main.cf) is evaluated before "
                         "reject_unauth_destination at RCPT time")
        self.assertEqual(f["fix"],
                         "postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, "
                         "reject_unauth_destination, check_policy_service "
                         "unix:esmtp-inspect/policy.sock'")
        self.apply(f["fix"])
        self.assertEqual(self.selfcheck().bad, [])

    def test_milter_default_action_accept(self):
        self.postconf("milter_default_action = accept")
        p = self.selfcheck()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        [f] = p.bad
        self.assertEqual(f["severity"], "warning")
        self.assertEqual(f["message"],
                         "milter_default_action = accept (main.cf): while esmtp-inspect-milter is "
                         "down or slow, mail is accepted uninspected")
        self.assertEqual(f["fix"], "postconf -e milter_default_action=tempfail")
        self.apply(f["fix"])
        self.assertEqual(self.selfcheck().bad, [])

if __name__ == "__main__":
    unittest.main()
