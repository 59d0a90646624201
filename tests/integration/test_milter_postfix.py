"""esmtp-inspect-milter inside a real Postfix (issue 3).

For every rule: a message just under the limit is accepted and reaches the
sink; one just over gets the rule's exact reply in the SMTP dialog and the log
line carrying Postfix's queue ID (esmtp-inspect.yaml(5), RULES and LOGGING). Plus actions, monitor mode, profiles
and daemon behaviour. Run: python3 -m unittest tests/integration/test_milter_postfix.py
"""

import os
import re
import stat
import sys
import unittest
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns  # noqa: E402
import harness  # noqa: E402

CLIENT = ("203.0.113.5", "mx.example.org")

RULES = """
rules:
  sender_address: { patterns: ["*@spam.example"] }
  to_fields_count: { max: 2 }
  body_length: { max: 200k }
  mime_filename: { patterns: ["*.exe", "re:(?i)\\\\.(js|vbs)$"] }
  mime_encoding: { deny: [x-uuencode] }
profiles:
  - name: gateways
    match: { clients: [192.168.1.1/32] }
    inspect: false
"""


class PostfixMilter(unittest.TestCase):
    """One Postfix, one sink, one milter for the whole class."""

    config = RULES

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("milter-pf")
        cls.sink = harness.Sink(cls.env)
        cls.milter = harness.Milter(cls.env, cls.config).start()
        cls.postfix = harness.Postfix(cls.env, cls.sink, milters=[cls.milter.postfix_spec])

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def sender(self):
        return f"{self._testMethodName}@example.org"

    def send(self, **kw):
        kw.setdefault("sender", self.sender())
        kw.setdefault("client", CLIENT)
        kw.setdefault("helo", CLIENT[1])
        return harness.swaks(self.postfix.port, **kw)

    def delivered(self, sender=None):
        sender = sender or self.sender()
        return [m for m in self.sink.messages() if m.mail_from == f"<{sender}>"]

    def delivered_rcpts(self, sender=None):
        # Postfix delivers at most 50 recipients per copy to the next hop.
        return sorted(r for m in self.delivered(sender) for r in m.rcpts)

    def message(self, headers, body="Body.\r\n", sender=None):
        sender = sender or self.sender()
        path = self.env.path(f"{self._testMethodName}-{len(list(self.env.dir.iterdir()))}.eml")
        return harness.write_message(path, [f"From: {sender}"] + headers, body)

    def wait_delivered(self, sender=None, n=1):
        return harness.wait_until(lambda: len(self.delivered(sender)) >= n and self.delivered(sender),
                                  timeout=20, what="delivery at the sink")

    def rejected_queue_id(self, stage="END-OF-MESSAGE", sender=None):
        sender = sender or self.sender()
        m = self.postfix.wait_log(
            rf"([0-9A-F]+|NOQUEUE): milter-reject: {stage} from .*from=<{re.escape(sender)}>")
        return m.group(1)

    def assert_logged(self, queue_id, expected):
        rule = re.search(r"rule=(\w+)", expected).group(1)
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), queue_id, rule),
                                  what=f"our log line for {rule}")
        self.assertEqual(line, f"{queue_id}: {expected}")

    def ctx(self, sender=None, rcpt=None):
        sender = sender if sender is not None else self.sender()
        s = f"client={CLIENT[1]}[{CLIENT[0]}] helo={CLIENT[1]} from=<{sender}>"
        return s + (f" to=<{rcpt}>" if rcpt else "")


class Rules(PostfixMilter):
    def test_header_line_length_at_and_over_limit(self):
        ok = self.send(headers=["Subject: " + "x" * 989])  # a 998-octet line
        self.assertTrue(ok.has("250 2.0.0 Ok: queued as"), ok.transcript)
        self.wait_delivered()
        bad = self.send(sender="hll-999@example.org", headers=["Subject: " + "x" * 990])
        self.assertEqual(bad.last(), "221 2.0.0 Bye")
        self.assertTrue(bad.has("550 5.6.0 Header line too long"), bad.replies)
        qid = self.rejected_queue_id(sender="hll-999@example.org")
        self.assertRegex(qid, "^[0-9A-F]+$")
        self.assert_logged(qid, "action=reject rule=header_line_length actual=999 limit=998 "
                           "where=header:Subject " + self.ctx("hll-999@example.org") +
                           ' reply="550 5.6.0 Header line too long" profile=default')
        self.assertEqual(self.delivered("hll-999@example.org"), [])

    def test_header_line_past_postfix_line_length_limit(self):
        # 5000 octets: Postfix splits input lines at 2048 (line_length_limit),
        # yet the milter still measures the whole header line.
        bad = self.send(headers=["Subject: " + "y" * 4991])
        self.assertTrue(bad.has("550 5.6.0 Header line too long"), bad.replies)
        qid = self.rejected_queue_id()
        self.assert_logged(qid, "action=reject rule=header_line_length actual=5000 limit=998 "
                           "where=header:Subject " + self.ctx() +
                           ' reply="550 5.6.0 Header line too long" profile=default')

    def test_recipient_count_150(self):
        rcpts = [f"r{i:03d}@example.net" for i in range(150)]
        r = self.send(to=rcpts, data=self.message(["To: list@example.net", "Subject: many"]))
        tempfailed = [x for x in r.replies if x.startswith("452 4.5.3 Too many recipients")]
        self.assertEqual(len(tempfailed), 50, r.replies)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.transcript)
        harness.wait_until(lambda: len(self.delivered_rcpts()) >= 100, what="100 recipients")
        self.assertEqual(self.delivered_rcpts(), sorted(f"<{x}>" for x in rcpts[:100]))
        qid = harness.queue_id_of(r)
        lines = [l for l in self.milter.log().splitlines() if "rule=recipient_count" in l and
                 self.sender() in l]
        self.assertEqual(len(lines), 50)
        self.assertTrue(lines[0].endswith(
            f"{qid}: action=tempfail rule=recipient_count actual=101 limit=100 where=rcpt "
            + self.ctx(rcpt="r100@example.net") +
            ' reply="452 4.5.3 Too many recipients" profile=default'), lines[0])

    def test_invalid_recipients_disconnect(self):
        # Postfix ignores a milter's reply to a recipient it has already
        # rejected; the 421 comes at the next recipient it consults us for.
        rcpts = [f"u{i}@nowhere.invalid" for i in range(21)] + ["real@example.net"]
        r = self.send(to=rcpts)
        self.assertEqual(sum(x.startswith("554 5.7.1") for x in r.replies), 21)
        self.assertEqual(r.last(), "421 4.7.0 Too many invalid recipients")
        self.assertIn("Remote host closed connection", r.transcript)
        self.assert_logged("NOQUEUE", "action=disconnect rule=invalid_recipients actual=21 "
                           "limit=20 where=rcpt " + self.ctx(rcpt="u20@nowhere.invalid") +
                           ' reply="421 4.7.0 Too many invalid recipients" profile=default')

    def test_sender_address_length(self):
        ok_sender = "s" * 308 + "@example.org"  # 320 octets
        shown = "s" * 200 + "..."  # log lines show at most 200 octets of an address
        ok = self.send(sender=ok_sender)
        self.assertTrue(ok.has("250 2.0.0 Ok: queued as"), ok.replies)
        self.wait_delivered(ok_sender)
        bad_sender = "s" * 309 + "@example.org"
        bad = self.send(sender=bad_sender)
        self.assertTrue(bad.has("501 5.1.7 Sender address too long"), bad.replies)
        # MAIL-stage rejections have no queue ID yet, in Postfix's log either.
        self.rejected_queue_id(stage="MAIL", sender=bad_sender)
        self.assert_logged("NOQUEUE", "action=reject rule=sender_address_length actual=321 "
                           "limit=320 where=mail " + self.ctx(shown) +
                           ' reply="501 5.1.7 Sender address too long" profile=default')

    def test_sender_address_pattern(self):
        r = self.send(sender="bulk@spam.example")
        self.assertTrue(r.has("550 5.7.1 Sender address rejected"), r.replies)
        self.assert_logged("NOQUEUE", "action=reject rule=sender_address actual=bulk@spam.example "
                           "limit=*@spam.example where=mail " + self.ctx("bulk@spam.example") +
                           ' reply="550 5.7.1 Sender address rejected" profile=default')

    def test_special_characters(self):
        r = self.send(sender="a|b@example.org")
        self.assertTrue(r.has("501 5.1.3 Invalid character in address"), r.replies)
        # At RCPT only that recipient is refused; the other gets the mail.
        r2 = self.send(to=["`id`@example.net", "ok@example.net"])
        self.assertTrue(r2.has("501 5.1.3 Invalid character in address"), r2.replies)
        self.assertTrue(r2.has("250 2.0.0 Ok: queued as"), r2.replies)
        self.assertEqual(self.wait_delivered()[0].rcpts, ["<ok@example.net>"])

    def test_command_line_length(self):
        # "RCPT TO:<" + address + ">" + CRLF: a 500-octet address makes 512.
        ok_rcpt = "r" * 488 + "@example.net"
        ok = self.send(to=[ok_rcpt])
        self.assertTrue(ok.has("250 2.0.0 Ok: queued as"), ok.replies)
        bad_rcpt = "r" * 489 + "@example.net"
        bad = self.send(sender="cll-513@example.org", to=[bad_rcpt])
        self.assertTrue(bad.has("500 5.5.2 Command line too long"), bad.replies)
        self.assert_logged("NOQUEUE", "action=reject rule=command_line_length actual=513 "
                           "limit=512 where=rcpt " +
                           self.ctx("cll-513@example.org", "r" * 200 + "...") +
                           ' reply="500 5.5.2 Command line too long" profile=default')

    def test_body_line_length_is_logged_and_mail_delivered(self):
        # 3000 octets: longer than Postfix's 2048 line_length_limit.
        r = self.send(data=self.message(["To: b@example.net", "Subject: long body line"],
                                        "short line\r\n" + "b" * 3000 + "\r\nend\r\n"))
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        qid = harness.queue_id_of(r)
        self.wait_delivered()
        self.assert_logged(qid, "action=log rule=body_line_length actual=3000 limit=998 "
                           "where=body:2 " + self.ctx() + " profile=default")

    def test_to_fields_count(self):
        r = self.send(data=self.message(["To: a@example.net", "To: b@example.net",
                                         "To: c@example.net", "Subject: three"]))
        self.assertTrue(r.has("550 5.6.0 Too many To fields"), r.replies)
        qid = self.rejected_queue_id()
        self.assert_logged(qid, "action=reject rule=to_fields_count actual=3 limit=2 "
                           "where=header:To " + self.ctx() +
                           ' reply="550 5.6.0 Too many To fields" profile=default')

    def test_body_length(self):
        r = self.send(data=self.message(["To: b@example.net", "Subject: big"],
                                        ("z" * 998 + "\r\n") * 210))
        self.assertTrue(r.has("552 5.3.4 Message too big"), r.replies)
        qid = self.rejected_queue_id()
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "body_length"))
        self.assertRegex(line, rf"^{qid}: action=reject rule=body_length actual=\d+ limit=204800 "
                         r"where=body ")

    def test_mime_filename_length(self):
        ok = self.env.path("ok.eml")
        ok.write_bytes(harness.mime_message(self.sender(), [("n" * 251 + ".pdf", b"%PDF")]))  # 255
        r = self.send(data=ok)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.wait_delivered()
        bad = self.env.path("bad.eml")
        sender = "mfl-256@example.org"
        bad.write_bytes(harness.mime_message(sender, [("n" * 252 + ".pdf", b"%PDF")]))
        r = self.send(sender=sender, data=bad)
        self.assertTrue(r.has("550 5.6.0 Attachment filename too long"), r.replies)
        qid = self.rejected_queue_id(sender=sender)
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "mime_filename_length"))
        self.assertRegex(line, rf"^{qid}: action=reject rule=mime_filename_length actual=256 "
                         r"limit=255 where=mime:2 detail=\"?filename=n{200}\.\.\.")

    def test_mime_filename_pattern_inside_forwarded_message(self):
        inner = harness.mime_message("x@example.com", [("invoice.pdf.exe", b"MZ")])
        outer = EmailMessage()
        outer["From"] = self.sender()
        outer["To"] = "b@example.net"
        outer["Subject"] = "Fwd"
        outer.set_content("FYI\n")
        outer.add_attachment(inner, maintype="message", subtype="rfc822")
        path = self.env.path("fwd.eml")
        path.write_bytes(outer.as_bytes(policy=outer.policy.clone(linesep="\r\n")))
        r = self.send(data=path)
        self.assertTrue(r.has("550 5.7.1 Attachment type not allowed"), r.replies)
        qid = self.rejected_queue_id()
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "mime_filename"))
        self.assertIn("actual=invoice.pdf.exe limit=*.exe where=mime:2.2", line)

    def test_mime_structure_depth(self):
        body = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n"
                       for i in range(25))
        r = self.send(data=self.message(["To: b@example.net", "MIME-Version: 1.0",
                                         "Content-Type: multipart/mixed; boundary=b0"], body))
        self.assertTrue(r.has("554 5.6.0 MIME structure too complex"), r.replies)
        qid = self.rejected_queue_id()
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "mime_structure"))
        self.assertIn("actual=21 limit=20 where=mime:1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1 "
                      "detail=max_depth", line)

    def test_mime_encoding(self):
        body = ("--b\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n`\r\nend\r\n--b--\r\n")
        r = self.send(data=self.message(["To: b@example.net", "MIME-Version: 1.0",
                                         "Content-Type: multipart/mixed; boundary=b"], body))
        self.assertTrue(r.has("554 5.6.0 Content encoding not allowed"), r.replies)

    def test_rfc2231_boundary_hides_no_attachment(self):
        """Python's email package writes a 70-octet boundary as RFC 2231
        continuations (boundary*0*=us-ascii''...); the .exe in part 2 is
        found and the message rejected with the rule's reply."""
        msg = EmailMessage()
        msg["From"] = self.sender()
        msg["To"] = "b@example.net"
        msg["Subject"] = "invoice"
        msg.set_content("See attachment.\n")
        msg.add_attachment(b"MZ", maintype="application", subtype="octet-stream",
                           filename="invoice.exe")
        msg.set_boundary("=" * 15 + "2231" + "x" * 49 + "==")
        raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        self.assertIn(b"boundary*0*=us-ascii''%3D", raw)
        path = self.env.path("rfc2231.eml")
        path.write_bytes(raw)
        r = self.send(data=path)
        self.assertTrue(r.has("550 5.7.1 Attachment type not allowed"), r.replies)
        qid = self.rejected_queue_id()
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "mime_filename"))
        self.assertIn("action=reject rule=mime_filename actual=invoice.exe limit=*.exe "
                      "where=mime:2 detail=filename=invoice.exe", line)
        self.assertEqual(self.delivered(), [])

    def test_profile_exempts_gateway(self):
        r = self.send(client=("192.168.1.1", "esa.example.org"), helo="esa.example.org",
                      headers=["Subject: " + "g" * 2000])
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.wait_delivered()


class Actions(PostfixMilter):
    config = """
rules:
  header_line_length: { action: quarantine }
  to_fields_count: { max: 1, action: tag }
  sender_address: { patterns: ["*@discard.example"], action: discard }
  body_line_length: { action: disconnect }
"""

    def test_quarantine_puts_message_on_hold(self):
        r = self.send(headers=["Subject: " + "q" * 1000])
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        qid = harness.queue_id_of(r)
        held = harness.wait_until(
            lambda: [q for q in self.postfix.queue() if q["queue_id"] == qid], what="held message")
        self.assertEqual(held[0]["queue_name"], "hold")
        self.postfix.wait_log(rf"{qid}: milter-hold: END-OF-MESSAGE")
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "header_line_length"))
        self.assertEqual(line, f"{qid}: action=quarantine rule=header_line_length actual=1009 "
                         f"limit=998 where=header:Subject {self.ctx()} profile=default")

    def test_tag_adds_header_at_end_of_message(self):
        r = self.send(data=self.message(["To: a@example.net", "To: b@example.net"]))
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = self.wait_delivered()[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"),
                         ["rule=to_fields_count; result=fail; actual=2; limit=1"])

    def test_discard_is_accepted_not_delivered_and_logged_as_warning(self):
        sender = "x@discard.example"
        r = self.send(sender=sender)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.postfix.wait_log(r"milter-discard: .*from=<x@discard.example>")
        self.assertIn(f"action=discard rule=sender_address actual={sender}", self.milter.log())
        self.assertEqual(self.delivered(sender), [])

    def test_disconnect_closes_with_421(self):
        r = self.send(data=self.message(["To: b@example.net"], "x" * 2000 + "\r\n"))
        self.assertEqual(r.last(), "421 4.6.0 Body line too long", r.replies)


class Monitor(PostfixMilter):
    config = "mode: monitor\n" + RULES

    def test_everything_passes_and_would_is_logged(self):
        r = self.send(sender="a|b@example.org", to=[f"m{i}@example.net" for i in range(101)],
                      data=self.message(["To: list@example.net", "Subject: " + "m" * 1200],
                                        sender="a|b@example.org"))
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.assertFalse(any(x[0] in "45" for x in r.replies), r.replies)
        qid = harness.queue_id_of(r)
        harness.wait_until(lambda: len(self.delivered_rcpts("a|b@example.org")) == 101,
                           what="all 101 recipients delivered")
        log = self.milter.log()
        # Decided at MAIL, before Postfix had a queue ID: held until it came
        # (esmtp-inspect.yaml(5), LOGGING), so grep QUEUEID finds every line.
        self.assertIn(f"{qid}: action=log would=reject rule=special_characters", log)
        self.assertEqual([x for x in log.splitlines()
                          if "NOQUEUE" in x and "from=<a|b@example.org>" in x], [])
        self.assertIn(f"{qid}: action=log would=tempfail rule=recipient_count actual=101", log)
        self.assertIn(f"{qid}: action=log would=reject rule=header_line_length actual=1209", log)
        self.assertNotIn("action=reject", log)


    def test_mail_stage_line_carries_the_queue_id_or_noqueue(self):
        # grep QUEUEID: the MAIL-stage line of a queued message has its ID.
        sender = "q|id@example.org"
        r = self.send(sender=sender, data=self.message(["To: b@example.net"], sender=sender))
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        qid = harness.queue_id_of(r)
        line = harness.wait_until(
            lambda: harness.our_line(self.milter.log(), qid, "special_characters"),
            what="the held MAIL-stage line")
        self.assertTrue(line.startswith(
            f"{qid}: action=log would=reject rule=special_characters actual=0x7c "), line)
        self.assertIn(" where=mail " + self.ctx(sender) + " ", line)
        # A transaction that never gets one (its only recipient refused by
        # Postfix): NOQUEUE once it ends.
        sender = "no|queue@example.org"
        r = self.send(sender=sender, to=["nobody@unknown.invalid"])
        self.assertFalse(r.has("queued as"), r.replies)
        line = harness.wait_until(
            lambda: harness.our_line(self.milter.log(), "NOQUEUE", "special_characters"),
            what="the NOQUEUE line")
        self.assertIn("from=<no|queue@example.org>", line)


FORGED = ["X-ESMTP-Inspect: rule=fcrdns; result=pass",
          "x-esmtp-inspect: rule=helo_matches_ptr; result=pass"]


class ForgedTags(PostfixMilter):
    """A sender's own X-ESMTP-Inspect fields never reach the mailbox: the
    milter removes every one (smfi_chgheader) before adding ours."""

    config = "rules:\n  to_fields_count: { max: 1, action: tag }\n"

    def test_forged_removed_ours_delivered(self):
        r = self.send(data=self.message(["To: a@example.net", FORGED[0], "Subject: hi",
                                         FORGED[1], "To: b@example.net"]))
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = self.wait_delivered()[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"),
                         ["rule=to_fields_count; result=fail; actual=2; limit=1"])
        self.assertEqual(msg.header("Subject"), ["hi"])

    def test_forged_removed_when_nothing_is_tagged(self):
        r = self.send(data=self.message(["To: a@example.net", FORGED[0]]))
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = self.wait_delivered()[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"), [])
        self.assertEqual(msg.header("To"), ["a@example.net"])


SECRET = "k3X9wq0Lr7Vb2Nc5"


class BothDaemons(unittest.TestCase):
    """The policy service (identity rules, PREPEND at RCPT) and the milter
    (content rules) on one Postfix: the policy service's header survives, a
    forged one is removed, the milter's tag is added. Postfix shows the milter
    the PREPENDed field first, as if the sender had written it (found with
    this Postfix: its own Received: is hidden, nothing else marks where the
    sender's fields begin); with tag_secret the policy service PREPENDs
    X-ESMTP-Inspect-SECRET and the milter renames it."""

    secret = f"tag_secret: {SECRET}\n"

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("both-pf")
        cls.dns = dns.Unbound(cls.env)
        cls.sink = harness.Sink(cls.env)
        cls.policyd = harness.Policyd(
            cls.env, f"dns: {{ servers: {cls.dns.servers}, timeout: 1s, tries: 2 }}\n"
                     f"identity: {{ self: {{ names: [mx.test.example] }} }}\n{cls.secret}"
        ).start()
        cls.milter = harness.Milter(
            cls.env, f"{cls.secret}rules:\n  to_fields_count: {{ max: 1, action: tag }}\n"
        ).start()
        cls.postfix = harness.Postfix(
            cls.env, cls.sink, milters=[cls.milter.postfix_spec],
            extra=harness.policy_restrictions(cls.policyd.postfix_spec))

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def deliver(self, sender, client, headers):
        path = self.env.path(f"{self._testMethodName}.eml")
        harness.write_message(path, [f"From: {sender}"] + headers)
        r = harness.swaks(self.postfix.port, sender=sender, client=client, helo=client[1],
                          data=path)
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        return harness.wait_until(lambda: [m for m in self.sink.messages()
                                           if m.mail_from == f"<{sender}>"], timeout=20)[0]

    def test_policy_header_survives_forged_removed(self):
        msg = self.deliver("both-forged@example.org", ("203.0.113.7", "elsewhere.example.org"),
                           ["To: a@example.net", FORGED[0], "To: b@example.net", FORGED[1]])
        self.assertEqual(msg.header("X-ESMTP-Inspect"), [
            "rule=fcrdns; result=fail, rule=helo_matches_client; result=fail, "
            "rule=helo_matches_ptr; result=none",
            "rule=to_fields_count; result=fail; actual=2; limit=1"])
        self.assertEqual([n for n, _ in msg.headers if n.lower().startswith("x-esmtp-inspect-")],
                         [])
        # The policy service's field is still the first one.
        self.assertEqual(msg.headers[0][0].lower(), "received")
        self.assertEqual(msg.headers[1][0], "X-ESMTP-Inspect")

    def test_forged_removed_for_a_good_client(self):
        msg = self.deliver("both-good@example.org", ("203.0.113.5", "mx.example.org"),
                           ["To: a@example.net", FORGED[0]])
        self.assertEqual(msg.header("X-ESMTP-Inspect"), [])


class BothDaemonsByDefault(BothDaemons):
    """The same without tag_secret in either file (the package's files):
    both daemons derive the same secret from /etc/machine-id (auto)."""

    secret = ""


class BothDaemonsDecideOnce(unittest.TestCase):
    """both_daemons: true (esmtp-inspect.yaml(5)): with the policy service and
    the milter on one Postfix, each rule is decided by one of them, so a
    verdict is logged once: the envelope rules by the policy service, the
    content rules by the milter. Monitor mode lets the message through so
    that both daemons see every stage; without both_daemons each logs the
    envelope rule (the control)."""

    def run_both(self, both):
        env = harness.Env(f"both-once-{str(both).lower()}")
        try:
            common = (f"mode: monitor\nboth_daemons: {str(both).lower()}\n"
                      "rules: { to_fields_count: { max: 1, action: tag } }\n")
            policyd = harness.Policyd(env, common).start()
            milter = harness.Milter(env, common).start()
            sink = harness.Sink(env)
            postfix = harness.Postfix(
                env, sink, milters=[milter.postfix_spec],
                extra=harness.policy_restrictions(policyd.postfix_spec))
            path = env.path("once.eml")
            harness.write_message(path, ["From: once@example.org", "To: a@example.net",
                                         "To: b@example.net"])
            r = harness.swaks(postfix.port, sender="once@example.org",
                              to=("pipe|user@example.net",), helo="mx.example.org", data=path)
            self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
            milter.wait_log(r"rule=to_fields_count")
            if not both:
                milter.wait_log(r"rule=special_characters")
            policyd.wait_log(r"rule=special_characters")
            return ([ln for ln in policyd.log_lines() if " action=" in ln],
                    [ln for ln in milter.log_lines() if " action=" in ln])
        finally:
            env.close()

    @staticmethod
    def rules(lines):
        """The rules of the lines, but for the identity checks the policy
        service makes (against the silent test DNS server)."""
        rules = (re.search(r" rule=(\S+)", ln).group(1) for ln in lines)
        return sorted(r for r in rules if r in ("special_characters", "to_fields_count"))

    def test_each_rule_logged_by_one_daemon(self):
        policy, milter = self.run_both(True)
        self.assertEqual(self.rules(policy), ["special_characters"], policy)
        self.assertEqual(self.rules(milter), ["to_fields_count"], milter)
        self.assertTrue(any("action=log would=reject rule=special_characters actual=0x7c" in ln
                            for ln in policy), policy)

    def test_control_each_daemon_alone_logs_the_envelope_rule(self):
        policy, milter = self.run_both(False)
        self.assertEqual(self.rules(policy), ["special_characters"], policy)
        self.assertEqual(self.rules(milter), ["special_characters", "to_fields_count"], milter)


class Identity(unittest.TestCase):
    """The milter makes the identity checks itself (Sendmail sites have no
    policy service): at HELO, with a deadline, against the test DNS server."""

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("milter-identity")
        cls.dns = dns.Unbound(cls.env)
        cls.sink = harness.Sink(cls.env)
        cls.milter = harness.Milter(
            cls.env, f"dns: {{ servers: {cls.dns.servers}, timeout: 1s, tries: 2 }}\n"
                     "identity: { self: { names: [mx.test.example] } }\n", identity=True).start()
        cls.postfix = harness.Postfix(cls.env, cls.sink, milters=[cls.milter.postfix_spec])

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_tags_reach_the_message_one_header_each(self):
        sender = "identity-tag@example.org"
        r = harness.swaks(self.postfix.port, sender=sender,
                          client=("203.0.113.7", "elsewhere.example.org"), helo="mx.example.org")
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = harness.wait_until(lambda: [m for m in self.sink.messages()
                                          if m.mail_from == f"<{sender}>"], timeout=20)[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"), [
            "rule=fcrdns; result=fail", "rule=helo_matches_client; result=fail",
            "rule=helo_matches_ptr; result=none"])
        self.assertIn("NOQUEUE: action=tag rule=fcrdns actual=fail limit=pass where=helo "
                      "detail=ptr=elsewhere.example.org client=elsewhere.example.org[203.0.113.7] "
                      "helo=mx.example.org profile=default", self.milter.log())

    def test_good_client_is_not_tagged(self):
        sender = "identity-good@example.org"
        r = harness.swaks(self.postfix.port, sender=sender,
                          client=("203.0.113.5", "mx.example.org"), helo="mx.example.org")
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        msg = harness.wait_until(lambda: [m for m in self.sink.messages()
                                          if m.mail_from == f"<{sender}>"], timeout=20)[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"), [])

    def test_helo_not_self_is_rejected(self):
        # No XCLIENT: Postfix answers a milter-rejected EHLO with a reduced
        # feature list (no XCLIENT) and gives the milter's reply at MAIL.
        r = harness.swaks(self.postfix.port, sender="identity-self@example.org",
                          helo="mx.test.example")
        self.assertTrue(r.has("550 5.7.1 Helo command rejected: you are not me"), r.replies)
        self.postfix.wait_log(r"milter-reject: MAIL from .*550 5\.7\.1 Helo command "
                              r"rejected: you are not me")
        self.assertIn("action=reject rule=helo_not_self actual=fail limit=pass where=helo",
                      self.milter.log())


class IdentityBlackHole(unittest.TestCase):
    def test_helo_waits_at_most_the_dns_budget(self):
        env = harness.Env("milter-blackhole")
        self.addCleanup(env.close)
        import socket
        import time
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", 0))
        self.addCleanup(hole.close)
        sink = harness.Sink(env)
        milter = harness.Milter(env, f'dns: {{ servers: ["127.0.0.1:{hole.getsockname()[1]}"], '
                                     "timeout: 400ms, tries: 2 }\n", identity=True).start()
        postfix = harness.Postfix(env, sink, milters=[milter.postfix_spec])
        t = time.monotonic()
        r = harness.swaks(postfix.port, sender="hole@example.org",
                          client=("203.0.113.5", "mx.example.org"), helo="mx.example.org")
        took = time.monotonic() - t
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        # Budget 0.8 s for the HELO lookups; the rest of the dialog is fast.
        self.assertLess(took, 0.8 + 1.5, f"took {took:.2f}s")
        self.assertIn("action=tag rule=ptr_present actual=temperror", milter.log())


class Daemon(unittest.TestCase):
    def test_socket_mode_group_and_dropped_privileges(self):
        env = harness.Env("milter-daemon")
        self.addCleanup(env.close)
        milter = harness.Milter(env, "").start()
        sock = Path(milter.socket.partition(":")[2])
        st = sock.stat()
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        import grp
        import pwd
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, "postfix")
        status = Path(f"/proc/{milter.proc.pid}/status").read_text()
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        self.assertEqual(pwd.getpwuid(uid).pw_name, "nobody")

    def test_sigterm_stops_cleanly_and_restarts_over_stale_socket(self):
        env = harness.Env("milter-daemon")
        self.addCleanup(env.close)
        milter = harness.Milter(env, "").start()
        milter.stop()
        self.assertEqual(milter.proc.returncode, 0)
        self.assertRegex(milter.log(), r"stopping on signal 15\n.*stopped\n")
        path = Path(milter.socket.partition(":")[2])
        self.assertFalse(path.exists(), "the socket is removed on exit")
        # A socket file left behind by a killed daemon (nobody accepts on it)
        # does not stop the next start.
        import socket as socketlib
        with socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM) as stale:
            stale.bind(str(path))
        again = harness.Milter(env, "").start()
        self.assertTrue(harness.unix_socket_open(path))

    def test_bad_config_refuses_to_start_with_position(self):
        env = harness.Env("milter-daemon")
        self.addCleanup(env.close)
        milter = harness.Milter(env, "rules: { header_line_length: { max: lots } }\n")
        with self.assertRaises(RuntimeError) as e:
            milter.start()
        self.assertIn("milter.yaml:3:37: rules.header_line_length.max: expected a whole number",
                      str(e.exception))

    def test_check_config_and_version(self):
        import subprocess
        self.env = harness.Env("milter-daemon")
        self.addCleanup(self.env.close)
        out = subprocess.run([str(harness.BIN / "esmtp-inspect-milter"), "--version"],
                             capture_output=True, text=True)
        self.assertRegex(out.stdout, r"^esmtp-inspect-milter \d+\.\d+\.\d+")
        conf = self.env.path("nobody.yaml")
        conf.write_text("milter: { user: nobody, group: postfix }\n")
        out = subprocess.run([str(harness.BIN / "esmtp-inspect-milter"), "-c", str(conf),
                              "--check-config"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, "^" + re.escape(f"{conf}: configuration is valid\n") +
                         r"policy service tags are PREPENDed as X-ESMTP-Inspect-[0-9a-f]{32} "
                         r"\(tag_secret: auto\)\n$")
        conf.write_text("milter: { user: nobody, group: postfix }\ntag_secret: none\n")
        out = subprocess.run([str(harness.BIN / "esmtp-inspect-milter"), "-c", str(conf),
                              "--check-config"], capture_output=True, text=True)
        self.assertEqual(out.stdout, f"{conf}: configuration is valid\npolicy service tags are "
                                     "PREPENDed as X-ESMTP-Inspect (tag_secret: none)\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
