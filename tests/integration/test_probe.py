"""`esmtp-inspect probe` against a real Postfix, an inspecting-firewall proxy
(firewall_proxy.py) and a few misbehaving servers, with names from the test
DNS server (tests/dns: 127.0.0.10-16 and probe-*.example.org).

One private Postfix with STARTTLS (a self-signed certificate made here with
`openssl req -x509`) listens on four loopback addresses, each smtpd with its
own myhostname (so its own banner):

  127.0.0.10  probe-mx.example.org      PTR, A and banner agree
  127.0.0.11  probe-banner.example.org  A matches, PTR is probe-ptr.example.org
  127.0.0.12  probe-noptr.example.org   the address has no PTR
  127.0.0.13  probe-noforward.example.org  PTR name without an A record

Proxies in front of 127.0.0.10 listen on 127.0.0.14 (masks the banner and
STARTTLS), 127.0.0.15 (delays the banner) and 127.0.0.16 (resets on a long
line). Every assertion is on what the user sees: exit code, JSON fields,
finding ids and severities, and the text output.
"""

import json
import socket
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402
from firewall_proxy import FirewallProxy  # noqa: E402

CLI = harness.BIN / "esmtp-inspect"
ADDRS = {"good": "127.0.0.10", "mismatch": "127.0.0.11", "noptr": "127.0.0.12",
         "noforward": "127.0.0.13"}
NAMES = {"good": "probe-mx.example.org", "mismatch": "probe-banner.example.org",
         "noptr": "probe-noptr.example.org", "noforward": "probe-noforward.example.org"}


class FakeServer:
    """A scripted TCP server on loopback: sends `greeting` bytes after `delay`
    and then reads until the client goes (or closes at once with close=True)."""

    def __init__(self, greeting=b"", host="127.0.0.1", close=False, family=socket.AF_INET,
                 starttls=None, trickle=False):
        self.trickle = trickle  # after the greeting, one more octet every 0.1 s, no line end
        self.starttls = starttls  # None, "stall" (220, then no handshake) or "refuse"
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.close = close
        self.received = b""
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.sendall(self.greeting)
                while self.trickle:
                    time.sleep(0.1)
                    c.sendall(b"a")
                if not self.close:
                    c.settimeout(5)
                    while True:
                        d = c.recv(4096)
                        if not d:
                            break
                        self.received += d
                        if b"EHLO" in d:
                            c.sendall(b"250-fake.example.org\r\n250-PIPELINING\r\n" +
                                      (b"250 STARTTLS\r\n" if self.starttls else
                                       b"250 8BITMIME\r\n"))
                        if b"STARTTLS" in d:
                            c.sendall(b"220 2.0.0 go ahead\r\n" if self.starttls == "stall"
                                      else b"454 4.7.0 TLS not available\r\n")
                        if b"QUIT" in d:
                            c.sendall(b"221 bye\r\n")
                            break
            except OSError:
                pass
            finally:
                c.close()

    def stop(self):
        self.sock.close()


class ProbeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("esmtp-probe")
        try:
            cls.dns = dns.Unbound(cls.env)
            cls.sink = harness.Sink(cls.env)
            cert, key = harness.self_signed_cert(
                cls.env.path(), "cert", ["probe-mx.example.org", "probe-banner.example.org"])
            port = harness.free_port()
            cls.port = port
            extra_services = "".join(
                f"{ADDRS[k]}:{port} inet n - n - - smtpd -o myhostname={NAMES[k]}\n"
                for k in ("good", "mismatch", "noptr", "noforward"))
            extra_services += f"[::1]:{port} inet n - n - - smtpd -o myhostname={NAMES['good']}\n"
            cls.postfix = harness.Postfix(
                cls.env, cls.sink,
                extra={"inet_interfaces": "all", "inet_protocols": "all",
                       "smtpd_tls_security_level": "may",
                       "smtpd_tls_cert_file": str(cert),
                       "smtpd_tls_key_file": str(key),
                       "smtpd_tls_loglevel": "1"},
                master_extra=extra_services +
                "tlsmgr unix - - n 1000? 1 tlsmgr\n")
            for addr in [*ADDRS.values(), "::1"]:
                harness.wait_until(lambda addr=addr: harness.port_open(port, addr),
                                   what=f"smtpd on {addr}")
            upstream = (ADDRS["good"], port)
            cls.fw = FirewallProxy("127.0.0.14", upstream, mask_banner=True, mask_starttls=True)
            cls.slow = FirewallProxy("127.0.0.15", upstream, banner_delay=1.5)
            cls.reset = FirewallProxy("127.0.0.16", upstream, reset_line=998)
            for p in (cls.fw, cls.slow, cls.reset):
                cls.env.on_close(p.stop)
        except Exception:
            cls.env.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def probe(self, target, *args, json_out=True, timeout=60, ehlo="client.example.org"):
        argv = [str(CLI), "probe", target, "--dns", self.dns.servers[0], *args]
        if ehlo:
            argv += ["--ehlo", ehlo]
        if json_out:
            argv.append("--json")
        start = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        self.elapsed = time.monotonic() - start
        if json_out:
            self.assertEqual(p.stderr, "")
            return p.returncode, json.loads(p.stdout)
        return p.returncode, p.stdout

    def finding(self, out, fid):
        found = [f for f in out["findings"] if f["id"] == fid]
        self.assertTrue(found, f"no finding {fid} in {[f['id'] for f in out['findings']]}")
        return found[0]

    def ids(self, out):
        return [f["id"] for f in out["findings"]]

    # -- real Postfix ------------------------------------------------------

    def test_good_server_with_self_signed_starttls(self):
        code, out = self.probe(f"{ADDRS['good']}:{self.port}")
        self.assertEqual(code, 0, out["findings"])
        self.assertEqual(out["status"], "info")
        self.assertEqual(out["banner"]["code"], 220)
        self.assertEqual(out["banner"]["hostname"], "probe-mx.example.org")
        self.assertFalse(out["banner"]["masked"])
        self.assertTrue(out["banner"]["text"].startswith("220 probe-mx.example.org ESMTP"))
        self.assertIn("PIPELINING", out["ehlo"]["extensions"])
        self.assertIn("STARTTLS", out["ehlo"]["extensions"])
        self.assertEqual(out["starttls"], "offered")
        tls = out["tls"]
        self.assertIn(tls["protocol"], ("TLSv1.2", "TLSv1.3"))
        self.assertTrue(tls["cipher"])
        self.assertTrue(tls["self_signed"])
        self.assertIn("self-signed", tls["verify"])
        self.assertEqual(tls["names"], ["probe-mx.example.org", "probe-banner.example.org"])
        self.assertTrue(tls["matches_banner_name"])
        self.assertIn(tls["days_left"], (29, 30))
        # After STARTTLS the server no longer offers it.
        self.assertNotIn("STARTTLS", tls["extensions"])
        self.assertEqual(out["dns"]["ptr"]["names"], ["probe-mx.example.org"])
        self.assertEqual(out["dns"]["fcrdns_names"], ["probe-mx.example.org"])
        self.assertEqual(self.finding(out, "cert_self_signed")["severity"], "info")
        self.assertEqual(self.finding(out, "banner_name_ok")["severity"], "ok")
        self.assertEqual(self.finding(out, "tls_ok")["severity"], "ok")
        for f in out["findings"]:
            self.assertIn(f["severity"], ("ok", "info"), f)

    def test_text_output_is_aligned_with_findings_and_result(self):
        code, text = self.probe(f"{ADDRS['good']}:{self.port}", json_out=False)
        self.assertEqual(code, 0, text)
        lines = text.splitlines()
        self.assertRegex(text, r"(?m)^banner        \d+\.\d ms  220 probe-mx\.example\.org ESMTP")
        self.assertRegex(text, r"(?m)^banner name   probe-mx\.example\.org$")
        self.assertRegex(text, r"(?m)^PTR           probe-mx\.example\.org \(forward-confirmed")
        self.assertRegex(text, r"(?m)^STARTTLS      offered$")
        self.assertRegex(text, r"(?m)^TLS           TLSv1\.[23] ")
        self.assertRegex(text, r"(?m)^certificate   probe-mx\.example\.org, probe-banner\.example"
                               r"\.org \(self-signed\), expires ")
        self.assertIn("  [info] certificate is self-signed", lines)
        self.assertEqual(lines[-1], "result: info (exit 0)")

    def test_ipv6_literal_against_postfix(self):
        code, out = self.probe(f"[::1]:{self.port}")
        self.assertEqual(out["address"], "::1")
        self.assertEqual(out["banner"]["hostname"], "probe-mx.example.org")
        self.assertEqual(out["starttls"], "offered")
        self.assertIn(out["tls"]["protocol"], ("TLSv1.2", "TLSv1.3"))
        # probe-mx.example.org has no AAAA: the name resolves elsewhere (info).
        self.assertEqual(self.finding(out, "banner_name_elsewhere")["severity"], "info")
        self.assertEqual(code, 0, out["findings"])

    def test_hostname_target_resolved_through_the_test_dns(self):
        code, out = self.probe(f"probe-mx.example.org:{self.port}", "--no-tls")
        self.assertEqual(code, 0, out["findings"])
        self.assertEqual(out["address"], "127.0.0.10")
        self.assertEqual(out["tls"], None)
        self.assertEqual(self.finding(out, "starttls_offered")["severity"], "ok")

    def test_port_option_and_unresolvable_name(self):
        code, out = self.probe(ADDRS["good"], "--port", str(self.port), "--no-tls")
        self.assertEqual(code, 0)
        self.assertEqual(out["port"], self.port)
        code, out = self.probe("nx-probe.example.org", "--port", str(self.port))
        self.assertEqual(code, 3)
        self.assertEqual(out["status"], "unreachable")
        self.assertEqual(self.finding(out, "resolve_failed")["severity"], "problem")
        self.assertIn("no A/AAAA record", self.finding(out, "resolve_failed")["title"])

    def test_banner_ptr_mismatch_does_not_matter_for_a_receiving_server(self):
        code, out = self.probe(f"{ADDRS['mismatch']}:{self.port}", "--no-tls")
        self.assertEqual(code, 0, out["findings"])
        f = self.finding(out, "banner_ptr_mismatch")
        self.assertEqual(f["severity"], "info")
        self.assertIn("probe-banner.example.org is not the PTR of 127.0.0.11", f["title"])
        self.assertIn("probe-ptr.example.org", f["title"])
        self.assertIn("informational (RFC 5321 section 4.2)", f["meaning"])
        self.assertIn("Reverse DNS does not match SMTP banner", f["meaning"])
        self.assertTrue(out["dns"]["forward_matches"])
        self.assertFalse(out["dns"]["ptr_matches"])

    def test_banner_ptr_mismatch_matters_when_the_host_sends_under_that_name(self):
        code, out = self.probe(f"{ADDRS['mismatch']}:{self.port}", "--no-tls", "--sends-mail")
        self.assertEqual(code, 1, out["findings"])
        f = self.finding(out, "banner_ptr_mismatch")
        self.assertEqual(f["severity"], "warning")
        self.assertIn("smtp_helo_name", f["action"])
        self.assertIn("probe-ptr.example.org", f["action"])

    def test_address_without_ptr(self):
        code, out = self.probe(f"{ADDRS['noptr']}:{self.port}", "--no-tls")
        self.assertEqual(code, 0, out["findings"])
        self.assertEqual(out["dns"]["ptr"]["status"], "none")
        self.assertEqual(self.finding(out, "ptr_missing")["severity"], "info")
        code, out = self.probe(f"{ADDRS['noptr']}:{self.port}", "--no-tls", "--sends-mail")
        self.assertEqual(code, 2)
        self.assertEqual(self.finding(out, "ptr_missing")["severity"], "problem")

    def test_ptr_name_without_address(self):
        code, out = self.probe(f"{ADDRS['noforward']}:{self.port}", "--no-tls", "--sends-mail")
        self.assertEqual(code, 1, out["findings"])
        self.assertEqual(self.finding(out, "ptr_not_confirmed")["severity"], "warning")
        f = self.finding(out, "banner_name_unresolvable")
        self.assertEqual(f["severity"], "warning")
        self.assertIn("probe-noforward.example.org has no A/AAAA record", f["title"])

    def test_long_header_line_passes_a_plain_postfix_and_nothing_is_delivered(self):
        code, out = self.probe(f"{ADDRS['good']}:{self.port}", "--no-tls",
                               "--long-line-test", "someone@example.org")
        self.assertEqual(code, 0, out["findings"])
        self.assertEqual(out["long_line"]["outcome"], "passed")
        self.assertEqual(self.finding(out, "long_line_ok")["severity"], "ok")
        self.postfix.wait_log(r"lost connection after DATA")
        time.sleep(0.5)
        self.assertEqual(self.sink.count(), 0)

    # -- the inspecting firewall -------------------------------------------

    def test_firewall_masks_banner_and_starttls(self):
        code, out = self.probe(self.fw.target)
        self.assertEqual(code, 2, out["findings"])
        self.assertEqual(out["status"], "problem")
        self.assertTrue(out["banner"]["masked"])
        self.assertRegex(out["banner"]["text"], r"^220 \*{20,}$")
        self.assertEqual(out["banner"]["hostname"], "")
        f = self.finding(out, "banner_masked")
        self.assertEqual(f["severity"], "problem")
        self.assertIn("inspecting firewall", f["meaning"])
        self.assertIn("no mask-banner", f["action"])
        # The EHLO reply, which this firewall leaves alone, still names the server.
        self.assertEqual(out["ehlo"]["greeting_name"], "probe-mx.example.org")
        self.assertIn("The EHLO reply still names the server: probe-mx.example.org.",
                      f["meaning"])
        self.assertEqual(out["starttls"], "masked")
        self.assertIn("XXXXXXXA", out["ehlo"]["masked"])
        self.assertNotIn("STARTTLS", out["ehlo"]["extensions"])
        f = self.finding(out, "starttls_masked")
        self.assertEqual(f["severity"], "problem")
        self.assertIn("plaintext", f["meaning"])
        self.assertIn("allow-tls", f["action"])
        self.assertEqual(out["tls"], None)
        # The PTR of the firewall's address is still reported.
        self.assertEqual(out["dns"]["ptr"]["names"], ["probe-fw.example.org"])
        code, text = self.probe(self.fw.target, json_out=False)
        self.assertIn("  [problem] banner masked: \"220 ****", text)
        self.assertIn("  [problem] STARTTLS masked (the EHLO reply shows it as X's)", text)
        self.assertRegex(text, r"(?m)^banner name   \(masked\)$")
        self.assertEqual(text.splitlines()[-1], "result: problem (exit 2)")

    def test_slow_banner(self):
        code, out = self.probe(self.slow.target, "--slow-banner", "1", "--no-tls")
        self.assertEqual(code, 1, out["findings"])
        self.assertGreaterEqual(out["banner"]["ms"], 1400)
        f = self.finding(out, "banner_slow")
        self.assertEqual(f["severity"], "warning")
        for cause in ("reverse DNS", "load", "tarpitting", "inspecting firewall"):
            self.assertIn(cause, f["meaning"])
        # Behind the proxy the banner names the real server: informational only.
        self.assertEqual(self.finding(out, "banner_name_elsewhere")["severity"], "info")

    def test_banner_timeout_never_hangs(self):
        code, out = self.probe(self.slow.target, "--timeout", "0.5")
        self.assertEqual(code, 2, out["findings"])
        self.assertLess(self.elapsed, 5)
        f = self.finding(out, "banner_missing")
        self.assertEqual(f["title"], "no banner: timeout")
        self.assertIn("tarpitting", f["meaning"])

    def test_firewall_resets_on_long_header_line(self):
        code, out = self.probe(self.reset.target, "--no-tls", "--long-line-test",
                               "someone@example.org")
        self.assertEqual(code, 2, out["findings"])
        self.assertEqual(out["long_line"]["outcome"], "reset")
        self.assertEqual(out["long_line"]["octets"], 1100)
        f = self.finding(out, "long_line_reset")
        self.assertEqual(f["severity"], "problem")
        self.assertIn("header_line_length", f["action"])
        self.assertGreaterEqual(self.reset.resets, 1)

    # -- misbehaving servers -----------------------------------------------

    def fake(self, greeting, **kw):
        s = FakeServer(greeting, **kw)
        self.addCleanup(s.stop)
        return s

    def test_garbage_banner(self):
        s = self.fake(b"HELLO THERE\r\n")
        code, out = self.probe(f"127.0.0.1:{s.port}")
        self.assertEqual(code, 2)
        self.assertIn('not an SMTP reply line: "HELLO THERE"',
                      self.finding(out, "banner_missing")["title"])

    def test_over_long_banner_line_is_cut_off(self):
        s = self.fake(b"220 " + b"a" * 100000)
        code, out = self.probe(f"127.0.0.1:{s.port}", "--timeout", "5")
        self.assertEqual(code, 2)
        self.assertEqual(self.finding(out, "banner_missing")["title"],
                         "no banner: reply line longer than 2048 octets")
        self.assertLess(self.elapsed, 4)

    def test_server_closes_before_banner_ends(self):
        s = self.fake(b"220-first line\r\n220-sec", close=True)
        code, out = self.probe(f"127.0.0.1:{s.port}")
        self.assertEqual(code, 2)
        self.assertEqual(self.finding(out, "banner_missing")["title"],
                         'no banner: connection closed (after "220-sec")')

    def test_trickling_server_is_cut_off_at_the_deadline(self):
        s = self.fake(b"220-", trickle=True)
        code, out = self.probe(f"127.0.0.1:{s.port}", "--timeout", "1")
        self.assertEqual(code, 2)
        self.assertLess(self.elapsed, 4)
        self.assertRegex(self.finding(out, "banner_missing")["title"],
                         r'^no banner: timeout \(after "220-a+"\)$')

    def test_server_closing_after_the_banner(self):
        s = self.fake(b"220 fake.example.org ESMTP\r\n", close=True)
        code, out = self.probe(f"127.0.0.1:{s.port}")
        self.assertEqual(code, 2)
        self.assertRegex(self.finding(out, "ehlo_failed")["title"],
                         r"^EHLO failed: connection (closed|reset)$")

    def test_refusing_greeting(self):
        s = self.fake(b"554 5.7.1 go away\r\n")
        code, out = self.probe(f"127.0.0.1:{s.port}")
        self.assertEqual(code, 2)
        self.assertEqual(self.finding(out, "banner_refused")["title"],
                         "the server refuses service: 554 5.7.1 go away")

    def test_ipv6_literal_without_starttls(self):
        s = self.fake(b"220 fake.example.org ESMTP\r\n", host="::1", family=socket.AF_INET6)
        code, out = self.probe(f"[::1]:{s.port}")
        self.assertEqual(code, 1, out["findings"])
        self.assertEqual(out["address"], "::1")
        self.assertEqual(out["starttls"], "absent")
        self.assertEqual(self.finding(out, "starttls_absent")["severity"], "warning")
        self.assertIn(b"EHLO client.example.org\r\n", s.received)

    def test_default_ehlo_name(self):
        s = self.fake(b"220 fake.example.org ESMTP\r\n", host="::1", family=socket.AF_INET6)
        code, out = self.probe(f"[::1]:{s.port}", ehlo=None)
        host = socket.gethostname()
        expected = host if "." in host and not host.endswith(".") else "[IPv6:::1]"
        self.assertEqual(out["ehlo"]["sent"], expected)
        self.assertIn(f"EHLO {expected}\r\n".encode(), s.received)

    def test_tls_handshake_that_never_completes_times_out(self):
        s = self.fake(b"220 fake.example.org ESMTP\r\n", starttls="stall")
        code, out = self.probe(f"127.0.0.1:{s.port}", "--timeout", "1")
        self.assertEqual(code, 2, out["findings"])
        self.assertLess(self.elapsed, 5)
        self.assertEqual(out["starttls"], "offered")
        self.assertEqual(out["tls"], None)
        self.assertEqual(self.finding(out, "tls_failed")["title"], "TLS handshake failed: timeout")

    def test_starttls_refused(self):
        s = self.fake(b"220 fake.example.org ESMTP\r\n", starttls="refuse")
        code, out = self.probe(f"127.0.0.1:{s.port}")
        self.assertEqual(code, 2, out["findings"])
        self.assertEqual(self.finding(out, "tls_failed")["title"],
                         "TLS handshake failed: STARTTLS refused: 454 4.7.0 TLS not available")

    def test_connection_refused_and_bad_target(self):
        port = harness.free_port()
        code, out = self.probe(f"127.0.0.1:{port}")
        self.assertEqual(code, 3)
        self.assertIn("Connection refused", self.finding(out, "connect_failed")["title"])
        p = subprocess.run([str(CLI), "probe", "[::1"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("bad target", p.stderr)
        # A usage error is "could not probe" too: 2 would read as "problems found".
        p = subprocess.run([str(CLI), "probe", "--timeout", "x", "127.0.0.1"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("--timeout", p.stderr)
        # Nothing can be smuggled into the SMTP dialogue through --ehlo.
        p = subprocess.run([str(CLI), "probe", "--ehlo", "x\r\nRSET", "127.0.0.1"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("--ehlo and --long-line-test take one word", p.stderr)


if __name__ == "__main__":
    unittest.main()
