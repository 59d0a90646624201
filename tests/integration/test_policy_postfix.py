"""esmtp-inspect-policyd behind a real Postfix, with a real DNS server (issue 4).

A private unbound serves the test zones (tests/dns/README.md); Postfix asks
the policy service at RCPT (check_policy_service), and swaks presents each
client address and HELO name through XCLIENT. For every identity check and
every outcome (pass, fail, none, temperror) the test asserts the SMTP reply,
the X-ESMTP-Inspect header PREPENDed at the sink, and the log line.
"""

import re
import selectors
import socket
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402

SELF = "identity:\n  self: { names: [mx.test.example], addresses: [198.51.100.30] }\n"


def restrictions(spec):
    # As the shipped snippet (conf/postfix/main.cf.policy): at RCPT, DATA and
    # END-OF-MESSAGE.
    return {
        **harness.policy_restrictions(spec),
        "inet_protocols": "all",  # XCLIENT may then present IPv6 clients
    }


class PolicyPostfix(unittest.TestCase):
    config = SELF
    policy = ""  # more policy.* settings, YAML flow entries
    spawn = False
    postfix_extra = {}  # more main.cf settings

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("policy-pf")
        cls.dns = dns.Unbound(cls.env)
        cls.sink = harness.Sink(cls.env)
        config = f"dns: {{ servers: {cls.dns.servers}, timeout: 1s, tries: 2 }}\n" + cls.config
        if "tag_secret" not in config:
            # The policy service alone, PREPENDing X-ESMTP-Inspect itself (the
            # default, auto, names the field for a milter to rename).
            config += "tag_secret: none\n"
        if cls.spawn:
            cls.policyd = harness.Policyd(cls.env, config)  # config and log only
            master = (f"esmtp-inspect-policy unix - n n - 0 spawn\n"
                      f"  user=nobody argv={harness.BIN}/esmtp-inspect-policyd --spawn "
                      f"-c {cls.policyd.config_path}\n")
            cls.postfix = harness.Postfix(cls.env, cls.sink,
                                          extra=restrictions("unix:private/esmtp-inspect-policy"),
                                          master_extra=master)
        else:
            cls.policyd = harness.Policyd(cls.env, config, policy=cls.policy).start()
            cls.postfix = harness.Postfix(cls.env, cls.sink,
                                          extra={**restrictions(cls.policyd.postfix_spec),
                                                 **cls.postfix_extra})

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def sender(self):
        return f"{self._testMethodName}@example.org"

    def send(self, client, helo, **kw):
        kw.setdefault("sender", self.sender())
        return harness.swaks(self.postfix.port, client=client, helo=helo, **kw)

    def delivered(self):
        return harness.wait_until(
            lambda: [m for m in self.sink.messages() if m.mail_from == f"<{self.sender()}>"],
            timeout=20, what="delivery at the sink")

    def our_lines(self, rule=None):
        out = []
        for line in self.policyd.log().splitlines():
            rest = line.partition("]: ")[2]
            if f"from=<{self.sender()}>" in rest and (rule is None or f" rule={rule} " in rest):
                out.append(rest)
        return out

    def accepted_with_tags(self, client, helo, tags):
        r = self.send(client, helo)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.queue_id = harness.queue_id_of(r)
        msg = self.delivered()[0]
        expected = [", ".join(tags)] if tags else []
        self.assertEqual(msg.header("X-ESMTP-Inspect"), expected)
        return msg


class IdentityOutcomes(PolicyPostfix):
    def test_good_fcrdns_everything_passes(self):
        self.accepted_with_tags(("203.0.113.5", "mx.example.org"), "mx.example.org", [])
        self.assertEqual(self.our_lines(), [])

    def test_helo_in_the_same_registered_domain_passes(self):
        self.accepted_with_tags(("203.0.113.5", "mx.example.org"), "mail.example.org", [])

    def test_no_ptr(self):
        self.accepted_with_tags(("203.0.113.8", "unknown"), "mx.example.org", [
            "rule=ptr_present; result=none", "rule=fcrdns; result=none",
            "rule=helo_matches_client; result=fail", "rule=helo_matches_ptr; result=none"])
        line = harness.wait_until(lambda: self.our_lines("fcrdns"))[0]
        # Decided at the first RCPT, logged with the queue ID of the DATA request.
        self.assertEqual(line, f"{self.queue_id}: action=tag rule=fcrdns actual=none limit=pass "
                         "where=rcpt "
                         'detail="no PTR" client=unknown[203.0.113.8] helo=mx.example.org '
                         f"from=<{self.sender()}> profile=default")

    def test_ptr_without_forward(self):
        self.accepted_with_tags(("203.0.113.6", "noforward.example.org"), "noforward.example.org", [
            "rule=fcrdns; result=fail", "rule=helo_resolves; result=none",
            "rule=helo_matches_client; result=none", "rule=helo_matches_ptr; result=none"])

    def test_ptr_pointing_elsewhere(self):
        self.accepted_with_tags(("203.0.113.7", "elsewhere.example.org"), "mx.example.org", [
            "rule=fcrdns; result=fail", "rule=helo_matches_client; result=fail",
            "rule=helo_matches_ptr; result=none"])
        line = harness.wait_until(lambda: self.our_lines("fcrdns"))[0]
        self.assertIn("actual=fail limit=pass where=rcpt detail=ptr=elsewhere.example.org", line)

    def test_multiple_ptrs_one_confirms(self):
        self.accepted_with_tags(("203.0.113.9", "b.example.net"), "b.example.net", [])

    def test_helo_matches_ptr_fails_across_domains(self):
        self.accepted_with_tags(("203.0.113.5", "mx.example.org"), "mx.example.co.uk", [
            "rule=helo_matches_client; result=fail", "rule=helo_matches_ptr; result=fail"])

    def test_servfail_is_temperror_and_tagged(self):
        self.accepted_with_tags(("203.0.113.10", "unknown"), "mx.example.org", [
            "rule=ptr_present; result=temperror", "rule=fcrdns; result=temperror",
            "rule=helo_matches_client; result=fail", "rule=helo_matches_ptr; result=temperror"])
        line = harness.wait_until(lambda: self.our_lines("ptr_present"))[0]
        self.assertIn("action=tag rule=ptr_present actual=temperror limit=pass where=rcpt "
                      "detail=SERVFAIL", line)

    def test_helo_does_not_resolve(self):
        # helo_matches_ptr passes: nxhelo.example.org shares example.org with
        # the client's confirmed PTR name (mode: domain, the default).
        self.accepted_with_tags(("203.0.113.5", "mx.example.org"), "nxhelo.example.org", [
            "rule=helo_resolves; result=none", "rule=helo_matches_client; result=none"])

    def test_ipv6_client(self):
        self.accepted_with_tags(("IPV6:2001:db8::5", "mx6.example.org"), "mx6.example.org", [])

    def test_address_literal(self):
        self.accepted_with_tags(("203.0.113.5", "mx.example.org"), "[203.0.113.5]", [])

    def test_address_literal_mismatch(self):
        self.accepted_with_tags(("203.0.113.5", "mx.example.org"), "[192.0.2.99]", [
            "rule=helo_literal_match; result=fail"])

    def test_helo_syntax_rejects(self):
        r = self.send(("203.0.113.5", "mx.example.org"), "localhost")
        self.assertTrue(r.has("504 5.5.2 <b@example.net>: Recipient address rejected: Helo "
                              "command rejected: need fully-qualified hostname") or
                        r.has("504 5.5.2 Helo command rejected: need fully-qualified hostname"),
                        r.replies)
        line = harness.wait_until(lambda: self.our_lines("helo_syntax"))[0]
        self.assertEqual(line, "NOQUEUE: action=reject rule=helo_syntax actual=fail limit=pass "
                         "where=rcpt client=mx.example.org[203.0.113.5] helo=localhost "
                         f'from=<{self.sender()}> reply="504 5.5.2 Helo command rejected: need '
                         'fully-qualified hostname" profile=default')
        self.postfix.wait_log(r"reject: RCPT from .*504 5\.5\.2 .*Helo command rejected: need "
                              r"fully-qualified hostname")

    def test_helo_not_self_rejects(self):
        r = self.send(("203.0.113.5", "mx.example.org"), "mx.test.example")
        self.assertTrue(any("550 5.7.1" in x and "Helo command rejected: you are not me" in x
                            for x in r.replies), r.replies)


class EnvelopeRules(PolicyPostfix):
    config = SELF + "rules: { recipient_count: { max: 3 } }\n"

    def test_recipient_count_per_message(self):
        rcpts = [f"r{i}@example.net" for i in range(5)]
        r = self.send(("203.0.113.5", "mx.example.org"), "mx.example.org", to=rcpts)
        self.assertEqual(sum("452 4.5.3" in x and "Too many recipients" in x for x in r.replies), 2,
                         r.replies)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.assertEqual(sorted(self.delivered()[0].rcpts), [f"<{x}>" for x in rcpts[:3]])

    def test_sender_too_long_refuses_every_recipient(self):
        sender = "s" * 309 + "@example.org"
        r = harness.swaks(self.postfix.port, sender=sender, to=["a@example.net", "b@example.net"],
                          client=("203.0.113.5", "mx.example.org"), helo="mx.example.org")
        # At RCPT, Postfix words the reply for the recipient (and maps the
        # sender DSN code 5.1.7 to the recipient one, 5.1.3); our log keeps ours.
        refused = [x for x in r.replies if x.startswith("501 5.1.3 <") and
                   x.endswith(": Recipient address rejected: Sender address too long")]
        self.assertEqual(len(refused), 2, r.replies)
        self.assertIn('reply="501 5.1.7 Sender address too long"', self.policyd.log())


class HeldLinesCarryTheQueueId(PolicyPostfix):
    """SPEC 8, issue 12 item 4: a verdict that lets the message through (here
    action: log on the sender, decided when Postfix first asks, at RCPT, where
    it has no queue ID yet) is logged with the queue ID the DATA request
    brings (the shipped snippet), so grep QUEUEID shows it beside Postfix's
    lines; a transaction that never gets one is logged as NOQUEUE when the
    policy connection closes (smtpd_policy_service_max_idle, short here)."""
    config = SELF + 'rules: { sender_address: { patterns: ["*@example.org"], action: log } }\n'
    postfix_extra = {"smtpd_policy_service_max_idle": "2s"}
    client = ("203.0.113.5", "mx.example.org")  # passes every identity check

    def test_line_starts_with_the_queue_id_postfix_logged(self):
        r = self.send(self.client, self.client[1])
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        qid = harness.queue_id_of(r)
        line = harness.wait_until(lambda: harness.our_line(self.policyd.log(), qid,
                                                           "sender_address"),
                                  what="the policy service's line with the queue ID")
        self.assertEqual(line, f"{qid}: action=log rule=sender_address actual={self.sender()} "
                         "limit=*@example.org where=mail client=mx.example.org[203.0.113.5] helo=mx.example.org "
                         f"from=<{self.sender()}> profile=default")
        # grep QUEUEID: Postfix's own lines and ours.
        self.postfix.wait_log(rf"postfix/smtpd\[\d+\]: {qid}: client=mx\.example\.org")
        self.assertEqual(self.our_lines(), [line])

    def test_quit_after_rcpt_is_noqueue(self):
        r = self.send(self.client, self.client[1], extra=["--quit-after", "RCPT"])
        self.assertFalse(r.has("queued as"), r.replies)
        self.assertTrue(r.last().startswith("221"), r.replies)
        lines = harness.wait_until(self.our_lines, timeout=20,
                                   what="the NOQUEUE line when the policy connection closes")
        self.assertEqual(lines, [f"NOQUEUE: action=log rule=sender_address "
                                 f"actual={self.sender()} limit=*@example.org where=mail "
                                 "client=mx.example.org[203.0.113.5] helo=mx.example.org "
                                 f"from=<{self.sender()}> profile=default"])


class StalledClients(PolicyPostfix):
    """Clients that never read their answers hold connections; they must not
    keep Postfix from its policy service (security issue, finding 5: with the
    same settings, 30 stalled connections were still open after 40 s and
    Postfix answered every recipient with 451 4.3.5)."""
    policy = "max_connections: 30, idle_timeout: 2s"

    def stall(self, n):
        """n connections to the policy socket, each sending requests until
        policyd's answers fill the kernel's buffers; none reads a byte."""
        one = (b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
               b"client_address=192.0.2.7\nclient_port=7\nsender=a@example.org\n"
               b"recipient=b@example.net\n\n") * 500
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(self.policyd.sock))
            s.setblocking(False)
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            sel.register(s, selectors.EVENT_WRITE, i)
        end = time.monotonic() + 20
        while sel.get_map() and time.monotonic() < end:
            ready = sel.select(1.0)
            if not ready:
                break  # nobody took a byte for a second: all stalled
            for key, _ in ready:
                try:
                    key.fileobj.send(one)
                except BlockingIOError:
                    pass
                except OSError:
                    sel.unregister(key.fileobj)
        sel.close()
        return socks

    def test_stalled_connections_do_not_lock_postfix_out(self):
        self.stall(30)
        stalled = r"connection from unix: answer not read for 2s \(policy\.idle_timeout\); closed"
        try:
            harness.wait_until(lambda: len(re.findall(stalled, self.policyd.log())) >= 30,
                               timeout=15, what="the write deadline")
        except TimeoutError:
            pass  # the SMTP reply below says what the user sees
        r = self.send(("203.0.113.5", "mx.example.org"), "localhost")
        self.assertFalse(any("451 4.3.5" in x for x in r.replies), r.replies)
        self.assertTrue(any("504 5.5.2" in x and "Helo command rejected: need fully-qualified "
                            "hostname" in x for x in r.replies), r.replies)
        self.assertEqual(len(re.findall(stalled, self.policyd.log())), 30)


class UnixPeersNotCounted(PolicyPostfix):
    """policy.max_connections_per_client counts TCP client addresses only:
    Postfix's smtpd processes over the unix socket (one policy connection
    each) are never refused, however low it is set."""
    policy = "max_connections_per_client: 1"

    def test_concurrent_sessions_over_the_unix_socket(self):
        # Five SMTP sessions open at once: five smtpd processes, each with
        # its own policy connection when RCPT is asked.
        sessions = [socket.create_connection(("127.0.0.1", self.postfix.port), timeout=30)
                    for _ in range(5)]
        self.addCleanup(lambda: [s.close() for s in sessions])
        bufs = [b""] * 5

        def reply(i):
            while True:
                while b"\r\n" not in bufs[i]:
                    data = sessions[i].recv(4096)
                    if not data:
                        raise ConnectionError(f"session {i} closed")
                    bufs[i] += data
                line, bufs[i] = bufs[i].split(b"\r\n", 1)
                if line[3:4] != b"-":
                    return line.decode()

        def step(command):
            for i, s in enumerate(sessions):
                s.sendall(command.format(i=i).encode() + b"\r\n")
            return [reply(i) for i in range(5)]

        self.assertTrue(all(r.startswith("220 ") for r in [reply(i) for i in range(5)]))
        self.assertTrue(all(r.startswith("220 ") for r in step(
            "XCLIENT ADDR=203.0.113.5 NAME=mx.example.org")))
        self.assertTrue(all(r.startswith("250 ") for r in step("HELO localhost")))
        self.assertTrue(all(r.startswith("250 ") for r in step("MAIL FROM:<unix{i}@example.org>")))
        for r in step("RCPT TO:<b@example.net>"):
            self.assertTrue(r.startswith("504 5.5.2") and
                            "Helo command rejected: need fully-qualified hostname" in r, r)
        step("QUIT")
        self.assertNotIn("refused", self.policyd.log())


class Spawn(PolicyPostfix):
    """The same service started by Postfix's spawn(8), one process per
    connection, speaking on stdin/stdout."""
    spawn = True

    def test_spawn_mode_tags_and_rejects(self):
        self.accepted_with_tags(("203.0.113.7", "elsewhere.example.org"), "mx.example.org", [
            "rule=fcrdns; result=fail", "rule=helo_matches_client; result=fail",
            "rule=helo_matches_ptr; result=none"])
        r = self.send(("203.0.113.5", "mx.example.org"), "localhost", sender="spawn2@example.org")
        self.assertTrue(any("504 5.5.2" in x for x in r.replies), r.replies)


if __name__ == "__main__":
    unittest.main(verbosity=2)


SECRET = "k3X9wq0Lr7Vb2Nc5"


class ForgedTagHeaderChecks(PolicyPostfix):
    """The policy service alone cannot see the message, so it cannot remove a
    sender's X-ESMTP-Inspect field: the two header_checks lines documented in
    esmtp-inspect-policyd(8) do. Postfix applies header_checks to the fields
    a policy service PREPENDs too (found with this Postfix: a plain IGNORE
    line removed ours as well), so the policy service PREPENDs under the
    secret name (tag_secret) and a REPLACE line renames it; Postfix does not
    run header_checks again on the replaced field."""

    config = SELF + f"tag_secret: {SECRET}\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        checks = cls.env.path("header_checks")
        checks.write_text(f"/^X-ESMTP-Inspect-{SECRET}:(.*)/ REPLACE X-ESMTP-Inspect:${{1}}\n"
                          "/^X-ESMTP-Inspect:/ IGNORE\n")
        cls.postfix.set(header_checks=f"regexp:{checks}")

    def test_forged_removed_ours_kept(self):
        path = self.env.path("forged.eml")
        harness.write_message(path, [f"From: {self.sender()}", "To: b@example.net",
                                     "X-ESMTP-Inspect: rule=fcrdns; result=pass",
                                     "x-esmtp-inspect: rule=helo_matches_ptr; result=pass"])
        r = self.send(("203.0.113.7", "elsewhere.example.org"), "mx.example.org", data=path)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = self.delivered()[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"), [
            "rule=fcrdns; result=fail, rule=helo_matches_client; result=fail, "
            "rule=helo_matches_ptr; result=none"])
        self.assertEqual(msg.header(f"X-ESMTP-Inspect-{SECRET}"), [])
