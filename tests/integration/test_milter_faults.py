"""Faults around esmtp-inspect-milter in a real Postfix (issue 3).

- The milter is killed mid-run: Postfix answers per milter_default_action
  (tempfail) and no message it accepted is lost: every "250 queued" reaches
  the sink.
- SIGHUP with a broken file during a 200-message run: all 200 messages get
  their normal verdicts, the error is logged, the old configuration stays.
- A session in flight finishes on the configuration it started with.
- A storm of SIGHUPs does not stop the milter (libmilter treats SIGHUP as
  "stop"; the daemon keeps it away from libmilter's thread).
"""

import signal
import smtplib
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def send_raw(port, sender, rcpt, message, client=("203.0.113.5", "mx.example.org")):
    """One SMTP transaction with smtplib; returns (code, text) of the final reply."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.ehlo("mx.example.org")
            code, msg = s.docmd("XCLIENT", f"ADDR={client[0]} NAME={client[1]}")
            if code != 220:
                return code, msg.decode()
            s.ehlo("mx.example.org")
            code, msg = s.mail(sender)
            if code != 250:
                return code, msg.decode()
            code, msg = s.rcpt(rcpt)
            if code != 250:
                return code, msg.decode()
            code, msg = s.data(message)
            return code, msg.decode()
    except smtplib.SMTPServerDisconnected as e:
        return 421, f"disconnected: {e}"
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")


def good(i):
    return f"From: s{i}@example.org\r\nTo: b@example.net\r\nSubject: good {i}\r\n\r\nhello\r\n"


def bad(i):
    return (f"From: s{i}@example.org\r\nTo: b@example.net\r\nSubject: {'x' * 1200}\r\n\r\n"
            "hello\r\n")


class MilterFaults(unittest.TestCase):
    def setUp(self):
        self.env = harness.Env("milter-faults")
        self.addCleanup(self.env.close)
        self.sink = harness.Sink(self.env)
        self.milter = harness.Milter(self.env, "").start()
        self.postfix = harness.Postfix(self.env, self.sink, milters=[self.milter.postfix_spec])

    def test_killed_milter_loses_no_accepted_message(self):
        results = []
        lock = threading.Lock()

        def worker(n):
            for k in range(15):
                i = n * 100 + k
                code, text = send_raw(self.postfix.port, f"s{i}@example.org", "b@example.net",
                                      good(i))
                with lock:
                    results.append((i, code, text))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(results) >= 30, timeout=60, what="30 messages sent")
        self.milter.kill()  # SIGKILL: no goodbye to Postfix
        for t in threads:
            t.join(120)
        self.assertEqual(len(results), 120)

        accepted = [r for r in results if r[1] == 250]
        refused = [r for r in results if r[1] != 250]
        self.assertGreaterEqual(len(accepted), 30)
        self.assertGreater(len(refused), 0, "the kill happened after the last message")
        # milter_default_action = tempfail: the client is told to retry.
        for _, code, text in refused:
            self.assertEqual(code, 451, text)
            self.assertIn("4.7.1 Service unavailable - try again later", text)
        # Everything Postfix accepted reaches the next hop.
        self.postfix.flush()
        harness.wait_until(lambda: self.sink.count() >= len(accepted), timeout=60,
                           what=f"{len(accepted)} deliveries")
        time.sleep(1)
        self.assertEqual(self.sink.count(), len(accepted))
        self.assertEqual(self.postfix.queue(), [])

    def test_sighup_with_broken_file_during_200_messages(self):
        self.milter.write_config("rules: { header_line_length: { max: 998 } }\n")
        self.milter.reload()
        self.milter.wait_log("reloaded configuration")

        def one(i):
            return i, send_raw(self.postfix.port, f"s{i}@example.org", "b@example.net",
                               good(i) if i % 2 else bad(i))

        with ThreadPoolExecutor(max_workers=10) as pool:
            futures = [pool.submit(one, i) for i in range(200)]
            # Break the file and signal while the run is going.
            harness.wait_until(lambda: sum(f.done() for f in futures) >= 40, timeout=60)
            self.milter.write_config("rules: { header_line_length: { max: [broken\n")
            self.milter.reload()
            results = [f.result() for f in futures]

        self.milter.wait_log(r"reload: .*milter\.yaml:\d+:\d+: ")
        self.assertIn("still running the previous configuration", self.milter.log())
        self.assertIsNone(self.milter.proc.poll(), "the milter must keep running")
        for i, (code, text) in results:
            if i % 2:
                self.assertEqual(code, 250, f"message {i}: {text}")
            else:
                self.assertEqual((code, text), (550, "5.6.0 Header line too long"), f"message {i}")
        harness.wait_until(lambda: self.sink.count() >= 100, timeout=60, what="100 deliveries")
        self.assertEqual(self.sink.count(), 100)

        # Fixing the file and signalling again applies the new configuration.
        self.milter.write_config("mode: monitor\n")
        self.milter.reload()
        harness.wait_until(lambda: self.milter.log().count("reloaded configuration") >= 2,
                           what="second reload")
        code, _ = send_raw(self.postfix.port, "after@example.org", "b@example.net", bad(999))
        self.assertEqual(code, 250)

    def test_session_in_flight_keeps_its_configuration(self):
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as s:
            s.ehlo("mx.example.org")
            s.mail("inflight@example.org")
            s.rcpt("b@example.net")
            # Tighten the limit while this session is open.
            self.milter.write_config("rules: { header_line_length: { max: 100 } }\n")
            self.milter.reload()
            self.milter.wait_log("reloaded configuration")
            code, _ = s.data("From: inflight@example.org\r\nSubject: " + "y" * 500 + "\r\n\r\nx\r\n")
            self.assertEqual(code, 250, "the session started under max 998")
        code, text = send_raw(self.postfix.port, "later@example.org", "b@example.net",
                              "From: later@example.org\r\nSubject: " + "y" * 500 + "\r\n\r\nx\r\n")
        self.assertEqual((code, text), (550, "5.6.0 Header line too long"))

    def test_sighup_storm_does_not_stop_the_milter(self):
        stop = threading.Event()
        codes = []

        def mail_loop():
            i = 0
            while not stop.is_set():
                codes.append(send_raw(self.postfix.port, f"storm{i}@example.org",
                                      "b@example.net", good(i))[0])
                i += 1

        t = threading.Thread(target=mail_loop)
        t.start()
        # Back to back, so that many arrive while the main thread is busy
        # reloading: none may reach libmilter's own signal thread.
        for i in range(300):
            self.milter.signal(signal.SIGHUP)
            if i % 50 == 0:
                time.sleep(0.01)
        harness.wait_until(lambda: self.milter.log().count("reloaded configuration") >= 1)
        time.sleep(0.5)
        stop.set()
        t.join(60)
        self.assertIsNone(self.milter.proc.poll(), "SIGHUP must never stop the milter")
        self.assertTrue(codes and all(c == 250 for c in codes), codes)
        self.assertNotIn("stopping", self.milter.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
