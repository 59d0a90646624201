"""GET /metrics of both daemons behind a real Postfix (issue 12, SPEC 13).

One Postfix with esmtp-inspect-policyd (identity checks against the test DNS
server, envelope rules) and esmtp-inspect-milter (content rules), both with
`metrics: 127.0.0.1:PORT` and both_daemons: true. Known traffic goes through
Postfix with swaks; each scrape is read with a real Prometheus parser
(python3-prometheus-client's, run by Debian's /usr/bin/python3) and the
counters are compared with what the traffic must have produced.

Run: python3 -m unittest -v tests/integration/test_metrics.py
"""

import json
import re
import signal
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402

GOOD = ("203.0.113.5", "mx.example.org")  # PTR, A and HELO agree (tests/dns/README.md)

# The exposition through prometheus_client's parser: [family, type, sample,
# labels, value] per sample; a line the parser refuses fails the test.
PARSER = r"""
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append([f.name, f.type, s.name, s.labels, s.value])
print(json.dumps(out))
"""


def parse(text):
    r = subprocess.run(["/usr/bin/python3", "-c", PARSER], input=text, capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        raise AssertionError(f"the Prometheus parser refused the exposition: {r.stderr}\n{text}")
    return json.loads(r.stdout)


class Scrape:
    """One parsed scrape."""

    def __init__(self, daemon):
        self.text = daemon.scrape()
        self.samples = parse(self.text)

    def families(self):
        return {f: t for f, t, _, _, _ in self.samples} | {
            ln.split()[2]: ln.split()[3] for ln in self.text.splitlines()
            if ln.startswith("# TYPE ")}

    def value(self, sample, **labels):
        """The value of the sample with exactly these labels; None if absent."""
        found = [v for _, _, name, lab, v in self.samples if name == sample and lab == labels]
        if len(found) > 1:
            raise AssertionError(f"{sample}{labels} appears {len(found)} times")
        return found[0] if found else None

    def series(self, sample):
        return [(lab, v) for _, _, name, lab, v in self.samples if name == sample]


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("metrics-pf")
        cls.dns = dns.Unbound(cls.env)
        cls.sink = harness.Sink(cls.env)
        common = "both_daemons: true\n"
        cls.policyd = harness.Policyd(
            cls.env, f"{common}dns: {{ servers: {cls.dns.servers}, timeout: 1s, tries: 2 }}\n",
            metrics=True).start()
        cls.milter = harness.Milter(cls.env, common, metrics=True).start()
        policy = f"check_policy_service {cls.policyd.postfix_spec}"
        # The shipped snippet (conf/postfix/main.cf.policy): the policy
        # service also hears DATA and END-OF-MESSAGE.
        cls.postfix = harness.Postfix(
            cls.env, cls.sink, milters=[cls.milter.postfix_spec],
            extra={"smtpd_recipient_restrictions": policy,
                   "smtpd_data_restrictions": policy,
                   "smtpd_end_of_data_restrictions": policy})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def send(self, sender, subject="hello"):
        path = self.env.path(f"{self._testMethodName}-{sender.split('@')[0]}.eml")
        harness.write_message(path, [f"From: {sender}", "To: a@example.net", f"Subject: {subject}"])
        return harness.swaks(self.postfix.port, sender=sender, client=GOOD, helo=GOOD[1],
                             data=path)

    def test_counters_after_known_traffic(self):
        # Before any mail: the families a dashboard needs are there, at zero.
        for daemon, name in ((self.milter, "milter"), (self.policyd, "policyd")):
            s = Scrape(daemon)
            self.assertEqual(s.value("esmtp_inspect_sessions_total", daemon=name), 0)
            self.assertEqual(s.value("esmtp_inspect_sessions_active", daemon=name), 0)
            self.assertEqual(
                s.value("esmtp_inspect_messages_total", daemon=name, outcome="accept"), 0)
            self.assertEqual(s.value("esmtp_inspect_build_info", version="0.1.0"), 1)

        # Two good messages, one with a Subject line over 998 octets (the
        # milter refuses it), one whose sender has a '|' (the policy service
        # refuses it at RCPT: an envelope rule, decided there with
        # both_daemons).
        r = self.send("good0@example.org")
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        # Each swaks run is two SMTP sessions to Postfix and so to the milter:
        # its own from 127.0.0.1, and the one XCLIENT starts. Counted from
        # here, as Postfix's start-up probe may reach the milter late.
        sessions = Scrape(self.milter).value("esmtp_inspect_sessions_total", daemon="milter")
        r = self.send("good1@example.org")
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        r = self.send("long@example.org", subject="x" * 1200)
        self.assertTrue(r.has("550 5.6.0 Header line too long"), r.replies)
        r = self.send("a|b@example.org")
        self.assertTrue(r.has("501 5.1.3 <b@example.net>: Recipient address rejected: Invalid character"),
                        r.replies)
        harness.wait_until(lambda: len(self.sink.messages()) >= 2, what="two deliveries")

        m = harness.wait_until(
            lambda: (s := Scrape(self.milter)).value(
                "esmtp_inspect_sessions_active", daemon="milter") == 0 and s,
            what="the milter's sessions closed")
        self.assertEqual(m.value("esmtp_inspect_sessions_total", daemon="milter"), sessions + 6)
        self.assertEqual(m.value("esmtp_inspect_messages_total", daemon="milter",
                                 outcome="accept"), 2)
        self.assertEqual(m.value("esmtp_inspect_messages_total", daemon="milter",
                                 outcome="reject"), 1)
        self.assertEqual(m.series("esmtp_inspect_verdicts_total"), [
            ({"daemon": "milter", "rule": "header_line_length", "action": "reject"}, 1)])
        # The milter makes no identity checks here (milter.identity false).
        self.assertEqual(m.series("esmtp_inspect_dns_queries_total"), [])
        self.assertIsNone(m.value("esmtp_inspect_policy_requests_total", state="RCPT"))

        p = Scrape(self.policyd)
        # The policy service hears only of sessions that reach RCPT.
        self.assertEqual(p.value("esmtp_inspect_sessions_total", daemon="policyd"), 4)
        self.assertEqual(p.series("esmtp_inspect_verdicts_total"), [
            ({"daemon": "policyd", "rule": "special_characters", "action": "reject"}, 1)])
        self.assertEqual(p.value("esmtp_inspect_messages_total", daemon="policyd",
                                 outcome="reject"), 1)
        # One request per RCPT (4), per DATA (the 3 with a recipient) and per
        # END-OF-MESSAGE (Postfix asks before it hands the message to the
        # milter, so the refused one is asked about too).
        requests = {lab["state"]: v for lab, v in p.series("esmtp_inspect_policy_requests_total")}
        self.assertEqual(requests, {"RCPT": 4, "DATA": 3, "END-OF-MESSAGE": 3})
        self.assertEqual(p.value("esmtp_inspect_messages_total", daemon="policyd",
                                 outcome="accept"), 3)
        # Identity checks of one client in four sessions, five lookups each:
        # PTR of 203.0.113.5, A and AAAA of its name mx.example.org (FCrDNS),
        # and A and AAAA of the HELO name, the same. Three went to the server
        # (mx.example.org has no AAAA), the other 17 came from the cache.
        queries = {(lab["type"], lab["result"]): v
                   for lab, v in p.series("esmtp_inspect_dns_queries_total")}
        self.assertEqual(queries, {("PTR", "ok"): 1, ("A", "ok"): 1, ("AAAA", "none"): 1})
        self.assertEqual(p.value("esmtp_inspect_dns_cache_hits_total"), 17)
        for (t, res), n in queries.items():
            self.assertEqual(p.value("esmtp_inspect_dns_query_seconds_count", type=t, result=res), n)
            self.assertEqual(p.value("esmtp_inspect_dns_query_seconds_bucket", type=t, result=res,
                                     le="+Inf"), n)
            self.assertGreater(p.value("esmtp_inspect_dns_query_seconds_sum", type=t, result=res), 0)

        # Postfix stopped: its smtpd processes close their policy
        # connections, and with them the sessions the policy service held.
        self.postfix.stop()
        harness.wait_until(lambda: Scrape(self.policyd).value(
            "esmtp_inspect_sessions_active", daemon="policyd") == 0,
            what="the policy service's sessions closed")

    def test_reloads_counted(self):
        before = Scrape(self.milter)
        ok = before.value("esmtp_inspect_config_reloads_total", result="ok")
        error = before.value("esmtp_inspect_config_reloads_total", result="error")
        self.milter.reload()
        self.milter.wait_log(r"reloaded configuration")
        harness.wait_until(lambda: Scrape(self.milter).value(
            "esmtp_inspect_config_reloads_total", result="ok") == ok + 1, what="reload ok")
        good = self.milter.config_path.read_text()
        try:
            self.milter.config_path.write_text(good + "rules: { no_such_rule: {} }\n")
            self.milter.signal(signal.SIGHUP)
            after = harness.wait_until(
                lambda: (s := Scrape(self.milter)).value(
                    "esmtp_inspect_config_reloads_total", result="error") == error + 1 and s,
                what="reload error")
            self.assertEqual(after.value("esmtp_inspect_config_reloads_total", result="ok"),
                             ok + 1)
        finally:
            self.milter.config_path.write_text(good)

    def test_types_and_labels_are_bounded(self):
        for daemon in (self.milter, self.policyd):
            s = Scrape(daemon)
            types = s.families()
            self.assertEqual(types["esmtp_inspect_verdicts_total"], "counter")
            self.assertEqual(types["esmtp_inspect_sessions_active"], "gauge")
            self.assertEqual(types["esmtp_inspect_dns_query_seconds"], "histogram")
            self.assertEqual(types["esmtp_inspect_build_info"], "gauge")
            # No label carries an address, a sender or a host name.
            for _, _, name, labels, _ in s.samples:
                if not name.startswith("esmtp_inspect_"):
                    continue
                for value in labels.values():
                    self.assertNotRegex(value, r"@|\d+\.\d+\.\d+\.\d+|example\.", (name, labels))

    def test_dashboard_queries_only_metrics_the_daemons_expose(self):
        # conf/grafana/esmtp-inspect.json: valid JSON, a panel per concern,
        # and every esmtp_inspect_* metric its queries name is a family of a
        # real scrape of one of the two daemons.
        path = Path(__file__).resolve().parents[2] / "conf/grafana/esmtp-inspect.json"
        board = json.loads(path.read_text())
        exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(board["panels"]), 10)
        exposed = set(Scrape(self.milter).families()) | set(Scrape(self.policyd).families())
        queried = set()
        for e in exprs:
            for name in re.findall(r"\b(esmtp_inspect_\w+)", e):
                queried.add(re.sub(r"_(bucket|count|sum)$", "", name))
        self.assertEqual(queried - exposed, set())
        # What the issue asks the dashboard to show.
        for family in ("esmtp_inspect_verdicts_total", "esmtp_inspect_messages_total",
                       "esmtp_inspect_dns_query_seconds", "esmtp_inspect_sessions_active",
                       "esmtp_inspect_config_reloads_total"):
            self.assertIn(family, queried)
        for p in board["panels"]:
            self.assertTrue(p["title"] and p["description"], p)

    def test_metrics_address_in_use_fails_start(self):
        m = harness.Milter(self.env, "", name="busy", metrics=True)
        m.metrics_port = self.milter.metrics_port
        m.write_config("")
        with self.assertRaisesRegex(RuntimeError, r"exited with 1: .*metrics: cannot listen on "
                                                  rf"127\.0\.0\.1:{m.metrics_port}"):
            m.start()


if __name__ == "__main__":
    unittest.main()
