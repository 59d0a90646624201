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
import socket
import subprocess
import sys
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
        self.assertIn("0 problems, 0 warnings, 1 info, 4 ok (exit 0)", p.stdout)

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
        self.assertEqual(j.json["counts"], {"ok": 4, "info": 1, "warning": 0, "problem": 0})

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


if __name__ == "__main__":
    unittest.main()
