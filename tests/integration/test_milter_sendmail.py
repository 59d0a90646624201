"""esmtp-inspect-milter inside a real Sendmail 8.17 (the Postfix suite's core cases).

A private Sendmail (tests/integration/sendmail.py: Debian's packages unpacked
into a cache, run with `-bD` in its own UTS and mount namespaces) relays to
smtp-sink; the milter is wired with INPUT_MAIL_FILTER(..., F=T). Each test
asserts what a user sees: the SMTP reply in the dialog, our log line carrying
Sendmail's queue ID (macro i), Sendmail's own log line, and delivery at the
sink or not. Run: python3 -m unittest -v tests/integration/test_milter_sendmail.py

Where Sendmail differs from Postfix (each pinned by a test below):

- No XCLIENT: the milter sees the real client, 127.0.0.1, named as Sendmail
  resolves it from /etc/hosts (`localhost`); profiles by client address
  cannot be exercised from loopback the way the Postfix suite does.
- Sendmail has a queue ID from the first MAIL on (macro i is sent with
  MAIL, RCPT, DATA, EOH, EOM), so MAIL- and RCPT-stage log lines carry it
  where Postfix logs NOQUEUE. The ID changes with each transaction.
- A reply to an accepted message is "250 2.0.0 QUEUEID Message accepted for
  delivery"; a rejection at end of message is followed by a normal
  "221 2.0.0 mx.test.example closing connection" after QUIT.
- Sendmail refuses an envelope address of 254 octets or more itself
  ("553 5.1.0 ... too long (255 bytes max)", or "prescan: token too long"
  for a single 256+ octet token), before the milter sees it: the default
  sender_address_length limit (320) can never fire under Sendmail, and
  neither can command_line_length (512) on MAIL/RCPT. The rule itself works
  through Sendmail with a lower limit (SenderLength).
- Sendmail 8.17 (Debian's build) negotiates SMFIP_RCPT_REJ but never calls
  the milter for a recipient it rejected itself (the call needs
  _FFR_MILTER_CHECK_REJECTIONS_TOO at build time): invalid_recipients never
  counts anything, so there is no 421 for directory harvesting.
- Header values arrive with their leading space (SMFIP_HDR_LEADSPC is
  negotiated); lengths are measured as sent, like under Postfix. Header
  lines are passed whole, however long (no 2048 split as in Postfix).
- A 421 from the milter (disconnect) at MAIL, RCPT or end of message is
  sent and the connection closed without 221, as under Postfix; recipients
  accepted before it are not delivered.
- Quarantine is Sendmail's own: the qf file becomes hfQUEUEID with a
  `q` line holding the reason, and `mailq -qQ` lists it as "QUARANTINE:".
- With the milter down and F=T, Sendmail greets and answers EHLO normally,
  then "451 4.3.2 Please try again later" to MAIL (Postfix follows
  milter_default_action instead).
"""

import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import sendmail  # noqa: E402

HELO = "mx.example.org"
BYE = "221 2.0.0 mx.test.example closing connection"

RULES = """
rules:
  sender_address: { patterns: ["*@spam.example"] }
  to_fields_count: { max: 2 }
  body_length: { max: 200k }
  mime_filename: { patterns: ["*.exe", "re:(?i)\\\\.(js|vbs)$"] }
  mime_encoding: { deny: [x-uuencode] }
"""


class SendmailMilter(unittest.TestCase):
    """One Sendmail, one sink, one milter for the whole class."""

    config = RULES
    mailertable = None

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("milter-sm")
        try:
            cls.sink = harness.Sink(cls.env)
            cls.milter = harness.Milter(cls.env, cls.config).start()
            cls.sendmail = sendmail.Sendmail(cls.env, cls.sink, cls.milter,
                                             mailertable=cls.mailertable)
            # How Sendmail names the loopback client ("Hello localhost [127.0.0.1]").
            probe = harness.swaks(cls.sendmail.port, helo=HELO, extra=["--quit-after", "EHLO"])
            m = re.search(r"Hello (\S+) \[127\.0\.0\.1\]", probe.transcript)
            cls.client_name = m.group(1) if m else "unknown"
        except Exception:
            cls.env.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def sender(self):
        return f"{self._testMethodName}@example.org"

    def send(self, **kw):
        kw.setdefault("sender", self.sender())
        kw.setdefault("helo", HELO)
        return harness.swaks(self.sendmail.port, **kw)

    def ctx(self, sender=None, rcpt=None):
        sender = sender if sender is not None else self.sender()
        s = f"client={self.client_name}[127.0.0.1] helo={HELO} from=<{sender}>"
        return s + (f" to=<{rcpt}>" if rcpt else "")

    def message(self, headers, body="Body.\r\n", sender=None):
        sender = sender or self.sender()
        path = self.env.path(f"{self._testMethodName}-{len(list(self.env.dir.iterdir()))}.eml")
        return harness.write_message(path, [f"From: {sender}"] + headers, body)

    def accepted_id(self, result):
        qid = sendmail.queue_id_of(result)
        self.assertIsNotNone(qid, result.replies)
        return qid

    def sendmail_id(self, sender=None):
        """Sendmail's queue ID for the transaction of `sender`, from its log
        ("QUEUEID: from=<sender>, size=..."): a rejected message has no
        queue ID in the dialog."""
        sender = sender or self.sender()
        m = self.sendmail.wait_log(rf": (\w+): from=<{re.escape(sender)}>, size=")
        return m.group(1)

    def delivered(self, sender=None):
        sender = sender or self.sender()
        return [m for m in self.sink.messages() if m.mail_from == f"<{sender}>"]

    def delivered_rcpts(self, sender=None):
        return sorted(r for m in self.delivered(sender) for r in m.rcpts)

    def wait_delivered(self, qid, sender=None, rcpts=1):
        """Waits for Sendmail's "stat=Sent" for qid and the sink's copy."""
        self.sendmail.wait_log(rf"{qid}: to=.*stat=Sent", timeout=20)
        harness.wait_until(lambda: len(self.delivered_rcpts(sender)) >= rcpts, timeout=20,
                           what="delivery at the sink")
        return self.delivered(sender)

    def assert_logged(self, queue_id, expected):
        rule = re.search(r"rule=(\w+)", expected).group(1)
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), queue_id, rule),
                                  what=f"our log line for {rule}")
        self.assertEqual(line, f"{queue_id}: {expected}")


class Rules(SendmailMilter):
    mailertable = {"nowhere.invalid": "error:5.1.1:550 User unknown"}

    def test_header_line_length_at_and_over_limit(self):
        ok = self.send(headers=["Subject: " + "x" * 989])  # a 998-octet line
        qid = self.accepted_id(ok)
        self.wait_delivered(qid)
        sender = "hll-999@example.org"
        bad = self.send(sender=sender, headers=["Subject: " + "x" * 990])
        self.assertIn("550 5.6.0 Header line too long", bad.replies)
        self.assertEqual(bad.last(), BYE)
        qid = self.sendmail_id(sender)
        self.sendmail.wait_log(rf"{qid}: Milter: data, reject=550 5.6.0 Header line too long")
        self.assert_logged(qid, "action=reject rule=header_line_length actual=999 limit=998 "
                           "where=header:Subject " + self.ctx(sender) +
                           ' reply="550 5.6.0 Header line too long" profile=default')
        self.assertEqual(self.delivered(sender), [])

    def test_header_line_of_5000_octets_reaches_the_milter_whole(self):
        bad = self.send(headers=["Subject: " + "y" * 4991])
        self.assertIn("550 5.6.0 Header line too long", bad.replies)
        self.assert_logged(self.sendmail_id(), "action=reject rule=header_line_length "
                           "actual=5000 limit=998 where=header:Subject " + self.ctx() +
                           ' reply="550 5.6.0 Header line too long" profile=default')

    def test_recipient_count_150(self):
        rcpts = [f"r{i:03d}@example.net" for i in range(150)]
        r = self.send(to=rcpts, data=self.message(["To: list@example.net", "Subject: many"]))
        self.assertEqual([x for x in r.replies if x.startswith("250 2.1.5")],
                         [f"250 2.1.5 <{x}>... Recipient ok" for x in rcpts[:100]])
        self.assertEqual([x for x in r.replies if x.startswith("452")],
                         ["452 4.5.3 Too many recipients"] * 50)
        qid = self.accepted_id(r)
        self.wait_delivered(qid, rcpts=100)
        self.assertEqual(self.delivered_rcpts(), sorted(f"<{x}>" for x in rcpts[:100]))
        self.sendmail.wait_log(
            rf"{qid}: Milter: to=<r149@example\.net>, reject=452 4\.5\.3 Too many recipients")
        lines = [l for l in self.milter.log().splitlines()
                 if "rule=recipient_count" in l and self.sender() in l]
        self.assertEqual(len(lines), 50)
        self.assertTrue(lines[0].endswith(
            f"{qid}: action=tempfail rule=recipient_count actual=101 limit=100 where=rcpt "
            + self.ctx(rcpt="r100@example.net") +
            ' reply="452 4.5.3 Too many recipients" profile=default'), lines[0])

    def test_sender_over_320_is_refused_by_sendmail_itself(self):
        # Sendmail's own address limit (255 octets with the brackets) comes
        # first: the milter never sees the sender.
        for sender, why in (("s" * 309 + "@example.org", "prescan: token too long"),
                            (("s" * 63 + ".") * 4 + "s" * 52 + "@example.org",
                             "too long (255 bytes max)")):
            r = self.send(sender=sender, extra=["--quit-after", "MAIL"])
            self.assertTrue(r.replies[-2].startswith("553 5.1.0 <s"), r.replies)
            self.assertTrue(r.replies[-2].endswith(why), r.replies[-2])
        ok_sender = ("s" * 63 + ".") * 3 + "s" * 49 + "@example.org"  # 253 octets
        ok = self.send(sender=ok_sender)
        self.wait_delivered(self.accepted_id(ok), ok_sender)
        self.assertNotIn("rule=sender_address_length", self.milter.log())

    def test_sender_address_pattern(self):
        # Sendmail puts the address into 550 and 553 replies it sends while
        # an address is current ("<addr>... text"), the milter's ones too.
        r = self.send(sender="bulk@spam.example")
        self.assertIn("550 5.7.1 <bulk@spam.example>... Sender address rejected", r.replies)
        qid = self.sendmail_id("bulk@spam.example")
        self.sendmail.wait_log(rf"{qid}: Milter: from=<bulk@spam\.example>, "
                               r"reject=550 5\.7\.1 Sender address rejected")
        self.assert_logged(qid, "action=reject rule=sender_address actual=bulk@spam.example "
                           "limit=*@spam.example where=mail " + self.ctx("bulk@spam.example") +
                           ' reply="550 5.7.1 Sender address rejected" profile=default')

    def test_special_characters(self):
        r = self.send(sender="a|b@example.org")
        self.assertIn("501 5.1.3 Invalid character in address", r.replies)
        # At RCPT only that recipient is refused; the other gets the mail.
        r2 = self.send(to=["`id`@example.net", "ok@example.net"])
        self.assertIn("501 5.1.3 Invalid character in address", r2.replies)
        msgs = self.wait_delivered(self.accepted_id(r2))
        self.assertEqual([m.rcpts for m in msgs], [["<ok@example.net>"]])

    def test_invalid_recipients_are_not_shown_to_the_milter(self):
        # Sendmail refuses the 21 recipients itself and, unlike Postfix,
        # never passes them to the milter: no 421, the mail goes to the
        # one valid recipient.
        rcpts = [f"u{i}@nowhere.invalid" for i in range(21)] + ["real@example.net"]
        r = self.send(to=rcpts)
        self.assertEqual([x for x in r.replies if x.startswith("550")],
                         [f"550 5.1.1 <{x}>... User unknown" for x in rcpts[:21]])
        self.assertNotIn("421 4.7.0 Too many invalid recipients", r.replies)
        qid = self.accepted_id(r)
        self.assertEqual(r.last(), BYE)
        self.wait_delivered(qid)
        self.assertEqual(self.delivered_rcpts(), ["<real@example.net>"])
        self.assertNotIn("rule=invalid_recipients", self.milter.log())

    def test_body_line_length_is_logged_and_mail_delivered(self):
        r = self.send(data=self.message(["To: b@example.net", "Subject: long body line"],
                                        "short line\r\n" + "b" * 3000 + "\r\nend\r\n"))
        qid = self.accepted_id(r)
        self.wait_delivered(qid)
        self.assert_logged(qid, "action=log rule=body_line_length actual=3000 limit=998 "
                           "where=body:2 " + self.ctx() + " profile=default")

    def test_to_fields_count(self):
        r = self.send(data=self.message(["To: a@example.net", "To: b@example.net",
                                         "To: c@example.net", "Subject: three"]))
        self.assertIn("550 5.6.0 Too many To fields", r.replies)
        self.assert_logged(self.sendmail_id(), "action=reject rule=to_fields_count actual=3 "
                           "limit=2 where=header:To " + self.ctx() +
                           ' reply="550 5.6.0 Too many To fields" profile=default')

    def test_mime_filename_length(self):
        ok = self.env.path("ok.eml")
        ok.write_bytes(harness.mime_message(self.sender(), [("n" * 251 + ".pdf", b"%PDF")]))  # 255
        r = self.send(data=ok)
        self.wait_delivered(self.accepted_id(r))
        bad = self.env.path("bad.eml")
        sender = "mfl-256@example.org"
        bad.write_bytes(harness.mime_message(sender, [("n" * 252 + ".pdf", b"%PDF")]))
        r = self.send(sender=sender, data=bad)
        self.assertIn("550 5.6.0 Attachment filename too long", r.replies)
        self.assertEqual(r.last(), BYE)
        qid = self.sendmail_id(sender)
        self.sendmail.wait_log(rf"{qid}: Milter: data, reject=550 5.6.0 Attachment filename")
        line = harness.wait_until(lambda: harness.our_line(self.milter.log(), qid, "mime_filename_length"))
        self.assertRegex(line, rf"^{qid}: action=reject rule=mime_filename_length actual=256 "
                         r"limit=255 where=mime:2 detail=\"?filename=n{200}\.\.\.")
        self.assertEqual(self.delivered(sender), [])


class SenderLength(SendmailMilter):
    """The sender_address_length rule itself, below Sendmail's own limit."""
    config = "rules: { sender_address_length: { max: 200 } }\n"

    def test_sender_address_length(self):
        ok_sender = "s" * 188 + "@example.org"  # 200 octets
        ok = self.send(sender=ok_sender)
        self.wait_delivered(self.accepted_id(ok), ok_sender)
        bad_sender = "s" * 189 + "@example.org"
        bad = self.send(sender=bad_sender)
        self.assertIn("501 5.1.7 Sender address too long", bad.replies)
        # A MAIL-stage rejection carries Sendmail's queue ID, not NOQUEUE.
        qid = self.sendmail.wait_log(rf": (\w+): Milter: from=<{bad_sender}>, "
                                     r"reject=501 5\.1\.7 Sender address too long").group(1)
        self.assert_logged(qid, "action=reject rule=sender_address_length actual=201 "
                           "limit=200 where=mail " + self.ctx(bad_sender[:200] + "...") +
                           ' reply="501 5.1.7 Sender address too long" profile=default')


class Actions(SendmailMilter):
    config = """
rules:
  header_line_length: { action: quarantine }
  to_fields_count: { max: 1, action: tag }
  sender_address: { patterns: ["*@discard.example"], action: discard }
  body_line_length: { action: disconnect }
  special_characters: { action: disconnect }
"""

    def test_quarantine_puts_message_in_sendmails_quarantine(self):
        r = self.send(headers=["Subject: " + "q" * 1000])
        qid = self.accepted_id(r)
        reason = harness.wait_until(lambda: self.sendmail.quarantine_reason(qid),
                                    what="q line in the queue file")
        self.assertEqual(reason, "esmtp-inspect rule=header_line_length")
        self.assertTrue((self.sendmail.queue_dir / f"hf{qid}").exists())
        mailq = self.sendmail.quarantine_queue()
        # mailq cuts the sender to the column width.
        self.assertRegex(mailq, rf"\n{qid} .*<test_quarantine.*\n\s+QUARANTINE: "
                         r"esmtp-inspect rule=header_line_length\n")
        self.assert_logged(qid, "action=quarantine rule=header_line_length actual=1009 "
                           f"limit=998 where=header:Subject {self.ctx()} profile=default")
        self.assertEqual(self.delivered(), [])

    def test_tag_adds_header_at_end_of_message(self):
        r = self.send(data=self.message(["To: a@example.net", "To: b@example.net"]))
        msg = self.wait_delivered(self.accepted_id(r))[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"),
                         ["rule=to_fields_count; result=fail; actual=2; limit=1"])
        # Exactly one space after the colon (SMFIP_HDR_LEADSPC negotiated).
        self.assertIn(b"\nX-ESMTP-Inspect: rule=to_fields_count; result=fail; actual=2; "
                      b"limit=1\n", msg.raw)

    def test_forged_tag_headers_removed_ours_added(self):
        """Sendmail numbers the fields by name as it showed them to the milter:
        both forged fields go, the other headers and ours stay."""
        r = self.send(data=self.message([
            "X-ESMTP-Inspect: rule=fcrdns; result=pass", "To: a@example.net",
            "x-esmtp-inspect: rule=helo_matches_ptr; result=pass", "To: b@example.net",
            "Subject: forged"]))
        msg = self.wait_delivered(self.accepted_id(r))[0]
        self.assertEqual(msg.header("X-ESMTP-Inspect"),
                         ["rule=to_fields_count; result=fail; actual=2; limit=1"])
        self.assertEqual(msg.header("To"), ["a@example.net", "b@example.net"])
        self.assertEqual(msg.header("Subject"), ["forged"])

    def test_discard_is_accepted_not_delivered_and_logged_as_warning(self):
        sender = "x@discard.example"
        r = self.send(sender=sender)
        qid = self.accepted_id(r)
        self.sendmail.wait_log(rf"{qid}: Milter: from=<x@discard\.example>, discard")
        self.assertIn(f"{qid}: action=discard rule=sender_address actual={sender}",
                      self.milter.log())
        self.sendmail.wait_log(rf"{qid}: discarded")
        self.assertEqual(self.delivered(sender), [])

    def test_disconnect_closes_with_421(self):
        r = self.send(data=self.message(["To: b@example.net"], "x" * 2000 + "\r\n"))
        self.assertEqual(r.last(), "421 4.6.0 Body line too long", r.replies)
        self.assertNotIn(BYE, r.replies)
        qid = self.sendmail_id()
        self.sendmail.wait_log(rf"{qid}: Milter: data, reject=421 4.6.0 Body line too long")
        self.assert_logged(qid, "action=disconnect rule=body_line_length actual=2000 limit=998 "
                           "where=body:1 " + self.ctx() +
                           ' reply="421 4.6.0 Body line too long" profile=default')
        self.assertEqual(self.delivered(), [])

    def test_disconnect_at_rcpt_closes_with_421(self):
        # A 421 at MAIL or RCPT closes the session too; the recipient
        # accepted before it is not delivered (the client retries all).
        r = self.send(to=["ok@example.net", "`id`@example.net"])
        self.assertEqual(r.replies[-2:], ["250 2.1.5 <ok@example.net>... Recipient ok",
                                          "421 4.1.3 Invalid character in address"])
        qid = self.sendmail.wait_log(r": (\w+): Milter: to=<`id`@example\.net>, "
                                     r"reject=421 4\.1\.3 Invalid character in address").group(1)
        self.assert_logged(qid, "action=disconnect rule=special_characters actual=0x60 "
                           "where=rcpt " + self.ctx(rcpt="`id`@example.net") +
                           ' reply="421 4.1.3 Invalid character in address" profile=default')
        self.assertEqual(self.delivered(), [])


class Monitor(SendmailMilter):
    config = "mode: monitor\n" + RULES

    def test_everything_passes_and_would_is_logged(self):
        sender = "a|b@example.org"
        r = self.send(sender=sender, to=[f"m{i}@example.net" for i in range(101)],
                      data=self.message(["To: list@example.net", "Subject: " + "m" * 1200],
                                        sender=sender))
        self.assertFalse(any(x[0] in "45" for x in r.replies), r.replies)
        qid = self.accepted_id(r)
        self.wait_delivered(qid, sender, rcpts=101)
        self.assertEqual(len(self.delivered_rcpts(sender)), 101)
        log = self.milter.log()
        # Under Sendmail even the MAIL-stage line has a queue ID.
        self.assertIn(f"{qid}: action=log would=reject rule=special_characters", log)
        self.assertIn(f"{qid}: action=log would=tempfail rule=recipient_count actual=101", log)
        self.assertIn(f"{qid}: action=log would=reject rule=header_line_length actual=1209", log)
        self.assertNotIn("action=reject", log)


class MilterDown(unittest.TestCase):
    """F=T: with the milter unreachable Sendmail tempfails, nothing is lost."""

    def test_tempfail_when_milter_is_down(self):
        env = harness.Env("milter-sm-down")
        self.addCleanup(env.close)
        sink = harness.Sink(env)
        milter = harness.Milter(env, "")  # configured, never started
        sm = sendmail.Sendmail(env, sink, milter)
        r = harness.swaks(sm.port, sender="down@example.org", helo=HELO)
        self.assertEqual(r.replies[-2:], ["451 4.3.2 Please try again later", BYE])
        sm.wait_log(r"Milter \(esmtp-inspect\): to error state")
        self.assertEqual(sink.count(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
