"""harvest and client_rate counted across sessions and MTAs in a real Redis (issue 13, SPEC 14).

A private redis-server on loopback (harness.RedisServer, started by the test)
and two private Postfix instances, "mx1" and "mx2" (two MX hosts of one
domain), each with its own esmtp-inspect-milter, both pointing at that
store. A third Postfix, "mx3", asks esmtp-inspect-policyd (check_policy_service),
which shares the store too. Postfix rejects unknown recipients itself
(relay_recipient_maps: only good@ and good2@example.net exist), so the milter
hears of them through SMFIP_RCPT_REJ. swaks presents each client address with
XCLIENT.

What the client sees, as asserted here:

- The RCPT that crosses the harvest limit is one Postfix has already refused
  (550 5.1.1 ... User unknown): Postfix ignores our 421 there, and at every
  later unknown recipient too. The client hears "421 4.7.0 Too many invalid
  recipients, try again later" at the next command Postfix consults the milter
  for and honours the answer of: its next valid recipient (or MAIL); then
  Postfix closes the connection. A session whose later recipients are all
  unknown never hears it (no valid recipient, so no DATA): it ends with QUIT.
- A later session of that client (on either MX) is refused where the milter
  first hears of the client: at CONNECT, which with XCLIENT is the XCLIENT
  command. Postfix answers with its own text ("421 <myhostname> Service
  unavailable - try again later") and logs ours ("milter-reject: XCLIENT
  from ...: 421 4.7.0 Too many invalid recipients, try again later"). A
  client connecting from its own address hears that 421 as the greeting
  (Postfix logs "milter-reject: CONNECT from ...").
- client_rate: the session over the limit hears "421 4.7.0 Too many
  connections, try again later" as the reply to its first MAIL (milter); the
  policy service, asked at RCPT, gives it as the reply to the first RCPT,
  which Postfix words "421 4.7.0 <rcpt>: Recipient address rejected: Too
  many connections, try again later".

The second class stops the store mid-run (SIGKILL), black-holes it (SIGSTOP)
and brings it back, with one milter on on_error: local and the other on
on_error: skip, store.timeout 50ms, store.retry 1s.

Run: python3 -m unittest -v tests/integration/test_shared_counters.py
"""

import re
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

# The only recipients the MX hosts know; any other @example.net is refused by
# Postfix itself (550 5.1.1 ... User unknown in relay recipient table).
KNOWN = "inline:{ good@example.net=ok, good2@example.net=ok }"
GOOD = "good@example.net"

HARVEST_MAX = 4
RATE_MAX = 3

RULES = f"""\
rules:
  harvest: {{ max: {HARVEST_MAX}, window: 10m }}
profiles:
  - name: neighbours
    match: {{ clients: [198.51.100.0/24] }}
    rules: {{ harvest: {{ max: {HARVEST_MAX}, window: 10m, per: /24 }} }}
  - name: rate
    match: {{ clients: [203.0.113.0/24] }}
    rules: {{ client_rate: {{ max: {RATE_MAX}, window: 1m }} }}
"""

# No identity check in the policy service: its answers need no DNS.
NO_IDENTITY = ("identity: { checks: { helo_syntax: off, helo_not_self: off, ptr_present: off,"
               " fcrdns: off, helo_literal_match: off, helo_resolves: off,"
               " helo_matches_client: off, helo_matches_ptr: off } }\n")

UNKNOWN = "550 5.1.1 <{}>: Recipient address rejected: User unknown in relay recipient table"
HARVEST_REPLY = "421 4.7.0 Too many invalid recipients, try again later"
RATE_REPLY = "421 4.7.0 Too many connections, try again later"


def store(redis, on_error="local"):
    return (f'store: {{ type: redis, servers: ["{redis.server}"], timeout: 50ms, retry: 1s, '
            f"on_error: {on_error} }}\n")


def refused_at_connect(host):
    """Postfix's own reply when a milter refuses the client at CONNECT
    (XCLIENT here)."""
    return f"421 {host}.test.example Service unavailable - try again later"


def mx(env, sink, name, milters=(), extra=None):
    return harness.Postfix(env, sink, milters=milters, name=name,
                           extra={"myhostname": f"{name}.test.example",
                                  "relay_recipient_maps": KNOWN, **(extra or {})})


class Base(unittest.TestCase):
    env = None

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def setUp(self):
        self.n = 0

    def send(self, postfix, client, to, sender=None, direct=False):
        """One swaks run with XCLIENT ADDR=client, or (direct) connecting
        from that loopback address itself; (result, seconds)."""
        self.n += 1
        sender = sender or f"{self._testMethodName}-{self.n}@example.org"
        name = f"c{client.replace('.', '-')}.example.org"
        t = time.monotonic()
        if direct:
            r = harness.swaks(postfix.port, sender=sender, to=to, helo=name,
                              extra=["--local-interface", client])
        else:
            r = harness.swaks(postfix.port, sender=sender, to=to, client=(client, name), helo=name)
        return r, time.monotonic() - t

    def unknown(self, *names):
        return [f"{n}@example.net" for n in names]

    def assert_refused_unknown(self, r, rcpts):
        for rcpt in rcpts:
            self.assertTrue(r.has(UNKNOWN.format(rcpt)), (rcpt, r.replies))

    def assert_queued(self, r):
        self.assertTrue(r.has("250 2.0.0 Ok: queued as"), r.replies)
        self.assertEqual(r.last(), "221 2.0.0 Bye")

    def assert_not_rejected_by_us(self, r):
        self.assertFalse(any(x.startswith("421") for x in r.replies), r.replies)

    def delivered(self, sender):
        return [m for m in self.sink.messages() if m.mail_from == f"<{sender}>"]

    def wait_delivered(self, sender):
        return harness.wait_until(lambda: self.delivered(sender), timeout=20,
                                  what=f"delivery of {sender}'s message")

    @staticmethod
    def our_lines(daemon, rule, client):
        """Our log lines (without the syslog prefix) of `rule` about `client`."""
        out = []
        for line in daemon.log_lines():
            _, sep, rest = line.partition("]: ")
            if sep and f" rule={rule} " in rest and f"[{client}]" in rest:
                out.append(rest)
        return out


class SharedCounters(Base):
    """mx1 and mx2 with a milter each, mx3 with the policy service, one Redis."""

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("shared-counters")
        try:
            cls.redis = harness.RedisServer(cls.env)
            cls.sink = harness.Sink(cls.env)
            config = store(cls.redis) + RULES
            cls.m1 = harness.Milter(cls.env, config, name="milter1").start()
            cls.m2 = harness.Milter(cls.env, config, name="milter2").start()
            cls.policyd = harness.Policyd(cls.env, config + NO_IDENTITY + "tag_secret: none\n"
                                          ).start()
            cls.mx1 = mx(cls.env, cls.sink, "mx1", [cls.m1.postfix_spec])
            cls.mx2 = mx(cls.env, cls.sink, "mx2", [cls.m2.postfix_spec])
            cls.mx3 = mx(cls.env, cls.sink, "mx3",
                         extra=harness.policy_restrictions(cls.policyd.postfix_spec))
        except Exception:
            cls.env.close()
            raise

    def harvest_lines(self, client):
        return (self.our_lines(self.m1, "harvest", client)
                + self.our_lines(self.m2, "harvest", client))

    def test_harvest_spread_over_both_mx_hosts(self):
        a, b = "192.0.2.10", "192.0.2.20"
        # 2 unknown recipients on mx1 and 2 on mx2: 4, the limit, not over it.
        r, _ = self.send(self.mx1, a, self.unknown("u1", "u2") + [GOOD])
        self.assert_refused_unknown(r, self.unknown("u1", "u2"))
        self.assert_queued(r)
        r, _ = self.send(self.mx2, a, self.unknown("u3", "u4") + [GOOD])
        self.assert_refused_unknown(r, self.unknown("u3", "u4"))
        self.assert_queued(r)
        self.assertEqual(self.harvest_lines(a), [])

        # The 5th, back on mx1, crosses it. Postfix has refused that recipient
        # already and ignores our 421 there and at the next unknown one; the
        # client hears it at its next valid recipient, and the connection ends.
        r, _ = self.send(self.mx1, a, self.unknown("u5", "u6") + [GOOD])
        self.assert_refused_unknown(r, self.unknown("u5", "u6"))
        self.assertEqual(r.last(), HARVEST_REPLY, r.replies)
        self.assertFalse(r.has("250 2.1.5"), r.replies)
        self.assertNotIn("221 2.0.0 Bye", r.replies)
        name = "c192-0-2-10.example.org"
        sender = f"{self._testMethodName}-3@example.org"
        self.assertEqual(self.our_lines(self.m1, "harvest", a), [
            f'NOQUEUE: action=disconnect rule=harvest actual=5 limit={HARVEST_MAX} where=rcpt '
            f'detail="{a} in 10m" client={name}[{a}] helo={name} from=<{sender}> '
            f'to=<u5@example.net> reply="{HARVEST_REPLY}" profile=default'])
        self.mx1.wait_log(rf"NOQUEUE: milter-reject: RCPT from {re.escape(name)}\[{a}\]: "
                          rf"{HARVEST_REPLY}; from=<{re.escape(sender)}> to=<{GOOD}>")

        # Its next sessions, on either MX, are refused at CONNECT (XCLIENT):
        # Postfix's own 421 text to the client, ours in its log.
        for host, milter in ((self.mx2, self.m2), (self.mx1, self.m1)):
            r, _ = self.send(host, a, [GOOD])
            self.assertEqual(r.last(), refused_at_connect(host.name), r.replies)
            self.assertFalse(r.has("250 2.1.0"), r.replies)  # no MAIL got through
            host.wait_log(rf"NOQUEUE: milter-reject: XCLIENT from {re.escape(name)}\[{a}\]: "
                          rf"{HARVEST_REPLY}; proto=SMTP helo=<{re.escape(name)}>")
            expected = 2 if milter is self.m1 else 1  # m1 logged the crossing too
            harness.wait_until(lambda: len(self.our_lines(milter, "harvest", a)) >= expected,
                               what="the milter's line")
            self.assertEqual(self.our_lines(milter, "harvest", a)[-1],
                             f"NOQUEUE: action=disconnect rule=harvest actual=5 "
                             f'limit={HARVEST_MAX} where=connect detail="{a} in 10m" '
                             f'client={name}[{a}] reply="{HARVEST_REPLY}" profile=default')

        # Another client is not affected, on either MX: Postfix's 550 for its
        # unknown recipient, its message queued.
        for host in (self.mx1, self.mx2):
            r, _ = self.send(host, b, self.unknown("x1") + [GOOD])
            self.assert_refused_unknown(r, self.unknown("x1"))
            self.assert_queued(r)
        self.assertEqual(self.harvest_lines(b), [])
        for i in (1, 2, 6, 7):
            self.wait_delivered(f"{self._testMethodName}-{i}@example.org")
        # One counter key for the client in the shared store, with an expiry.
        keys = [k for k in self.redis.keys() if f":harvest:{a}:" in k]
        self.assertTrue(keys, self.redis.keys())
        for k in keys:
            self.assertGreater(int(self.redis.command("PTTL", k)[0]), 0, k)

    def test_harvest_direct_client_hears_it_in_the_greeting(self):
        # A client connecting from its own address (no XCLIENT), all of whose
        # recipients are unknown: the session that crosses the limit never
        # hears our 421 (Postfix consults the milter for nothing it honours
        # after that RCPT: no valid recipient, so no DATA), it ends with QUIT.
        d = "127.0.0.9"
        r, _ = self.send(self.mx2, d, self.unknown("d1", "d2", "d3"), direct=True)
        self.assert_refused_unknown(r, self.unknown("d1", "d2", "d3"))
        self.assertEqual(r.last(), "221 2.0.0 Bye")
        r, _ = self.send(self.mx1, d, self.unknown("d4", "d5"), direct=True)
        self.assert_refused_unknown(r, self.unknown("d4", "d5"))
        self.assertEqual(r.last(), "221 2.0.0 Bye")
        self.assertNotIn(HARVEST_REPLY, r.replies)
        lines = self.our_lines(self.m1, "harvest", d)
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^NOQUEUE: action=disconnect rule=harvest actual=5 "
                         rf"limit={HARVEST_MAX} where=rcpt .* to=<d5@example\.net> ")
        # Its next connection, to the other MX: Postfix's 421 greeting, ours
        # in Postfix's log and ours.
        r, _ = self.send(self.mx2, d, [GOOD], direct=True)
        self.assertEqual(r.replies, [refused_at_connect("mx2")])
        self.mx2.wait_log(rf"NOQUEUE: milter-reject: CONNECT from unknown\[{re.escape(d)}\]: "
                          rf"{HARVEST_REPLY}; proto=SMTP")
        harness.wait_until(lambda: self.our_lines(self.m2, "harvest", d), what="mx2's line")
        self.assertEqual(self.our_lines(self.m2, "harvest", d), [
            f"NOQUEUE: action=disconnect rule=harvest actual=5 limit={HARVEST_MAX} "
            f'where=connect detail="{d} in 10m" client=unknown[{d}] reply="{HARVEST_REPLY}" '
            "profile=default"])

    def test_harvest_per_24_refuses_the_neighbours(self):
        n1, n2, n3, outside = "198.51.100.7", "198.51.100.200", "198.51.100.99", "198.51.101.7"
        r, _ = self.send(self.mx1, n1, self.unknown("v1", "v2", "v3") + [GOOD])
        self.assert_queued(r)
        # Another address of the /24 on mx2: its 2nd unknown recipient is the
        # network's 5th.
        r, _ = self.send(self.mx2, n2, self.unknown("v4", "v5") + [GOOD])
        self.assert_refused_unknown(r, self.unknown("v4", "v5"))
        self.assertEqual(r.last(), HARVEST_REPLY, r.replies)
        line = self.our_lines(self.m2, "harvest", n2)
        self.assertEqual(len(line), 1, line)
        self.assertRegex(line[0], rf'^NOQUEUE: action=disconnect rule=harvest actual=5 '
                         rf'limit={HARVEST_MAX} where=rcpt detail="198\.51\.100\.0/24 in 10m" .* '
                         rf'to=<v5@example\.net> reply="{HARVEST_REPLY}" profile=neighbours$')
        # A neighbour never seen before is refused at CONNECT, on both MX hosts.
        for host in (self.mx1, self.mx2):
            r, _ = self.send(host, n3, [GOOD])
            self.assertEqual(r.last(), refused_at_connect(host.name), r.replies)
        # Outside the /24: not affected.
        r, _ = self.send(self.mx2, outside, self.unknown("v6") + [GOOD])
        self.assert_refused_unknown(r, self.unknown("v6"))
        self.assert_queued(r)

    def test_client_rate_over_both_mx_hosts(self):
        c, other = "203.0.113.5", "203.0.113.6"
        hosts = [self.mx1, self.mx2, self.mx1]
        for host in hosts:
            r, _ = self.send(host, c, [GOOD])
            self.assert_queued(r)
        # The 4th session, on mx2: refused at its first MAIL.
        r, _ = self.send(self.mx2, c, [GOOD])
        self.assertEqual(r.last(), RATE_REPLY, r.replies)
        self.assertFalse(r.has("250 2.1.0"), r.replies)
        name = "c203-0-113-5.example.org"
        sender = f"{self._testMethodName}-4@example.org"
        self.assertEqual(self.our_lines(self.m2, "client_rate", c), [
            f'NOQUEUE: action=disconnect rule=client_rate actual=4 limit={RATE_MAX} where=mail '
            f'detail="{c} in 1m" client={name}[{c}] helo={name} from=<{sender}> '
            f'reply="{RATE_REPLY}" profile=rate'])
        self.mx2.wait_log(rf"NOQUEUE: milter-reject: MAIL from {re.escape(name)}\[{c}\]: "
                          rf"{RATE_REPLY}; from=<{re.escape(sender)}>")
        self.assertEqual(self.our_lines(self.m1, "client_rate", c), [])
        # Another client of the same network (per: address) is fine.
        for host in (self.mx1, self.mx2):
            r, _ = self.send(host, other, [GOOD])
            self.assert_queued(r)
        for i in (1, 2, 3, 5, 6):
            self.wait_delivered(f"{self._testMethodName}-{i}@example.org")

    def test_client_rate_in_the_policy_service_shares_the_count(self):
        # Sessions on mx3 (the policy service counts) and mx1 (the milter
        # counts) add up in the one store.
        c, other = "203.0.113.50", "203.0.113.51"
        for host in (self.mx3, self.mx1, self.mx3):
            r, _ = self.send(host, c, [GOOD])
            self.assert_queued(r)
        # The 4th: Postfix asks the policy service at RCPT; our 421 is the
        # reply to the first RCPT, with Postfix's words for a refused
        # recipient around it, and ends the session.
        r, _ = self.send(self.mx3, c, [GOOD, "good2@example.net"])
        self.assertTrue(r.has("250 2.1.0 Ok"), r.replies)  # MAIL: Postfix does not ask there
        self.assertEqual(r.last(), f"421 4.7.0 <{GOOD}>: Recipient address rejected: "
                         "Too many connections, try again later", r.replies)
        self.assertFalse(r.has("250 2.1.5"), r.replies)
        name = "c203-0-113-50.example.org"
        lines = self.our_lines(self.policyd, "client_rate", c)
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], rf'^NOQUEUE: action=disconnect rule=client_rate actual=4 '
                         rf'limit={RATE_MAX} where=mail detail="{re.escape(c)} in 1m" '
                         rf'client={re.escape(name)}\[{re.escape(c)}\] .*reply="{RATE_REPLY}" '
                         rf'profile=rate$')
        self.mx3.wait_log(rf"NOQUEUE: reject: RCPT from {re.escape(name)}\[{re.escape(c)}\]: "
                          rf"421 4.7.0 <{GOOD}>: Recipient address rejected: Too many connections")
        r, _ = self.send(self.mx3, other, [GOOD])
        self.assert_queued(r)


class StoreFaults(Base):
    """The store killed, black-holed and back. mx1's milter counts locally
    while the store is out (on_error: local), mx2's skips the rules
    (on_error: skip); both serve /metrics."""

    MAX = 3

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("store-faults")
        try:
            cls.redis = harness.RedisServer(cls.env)
            cls.sink = harness.Sink(cls.env)
            rules = f"rules: {{ harvest: {{ max: {cls.MAX}, window: 10m }} }}\n"
            cls.m1 = harness.Milter(cls.env, store(cls.redis, "local") + rules, name="milter1",
                                    metrics=True).start()
            cls.m2 = harness.Milter(cls.env, store(cls.redis, "skip") + rules, name="milter2",
                                    metrics=True).start()
            cls.mx1 = mx(cls.env, cls.sink, "mx1", [cls.m1.postfix_spec])
            cls.mx2 = mx(cls.env, cls.sink, "mx2", [cls.m2.postfix_spec])
        except Exception:
            cls.env.close()
            raise

    @staticmethod
    def outages(milter):
        return re.findall(r"counter store out: .*", milter.log())

    @staticmethod
    def recoveries(milter):
        return re.findall(r"counter store back after \d+ ms; counting in it again", milter.log())

    def store_errors(self, milter):
        m = re.search(r'^esmtp_inspect_store_errors_total\{store="redis"\} (\d+)$',
                      milter.scrape(), re.M)
        self.assertIsNotNone(m, "esmtp_inspect_store_errors_total missing")
        return int(m.group(1))

    def wait_sharing(self):
        """Both milters count in the store again: each has logged as many
        recoveries as outages. Sessions are what makes them try the store,
        so one passes through each MX until then."""
        def back():
            done = True
            for host, milter in ((self.mx1, self.m1), (self.mx2, self.m2)):
                if len(self.recoveries(milter)) < len(self.outages(milter)):
                    done = False
                    self.send(host, "192.0.2.254", [GOOD])
            return done
        harness.wait_until(back, timeout=15, interval=0.3, what="both milters back on the store")

    def assert_shared(self, client):
        """Counts made on mx1 are seen on mx2: 3 unknown recipients on mx1,
        the 4th on mx2 crosses the limit."""
        r, _ = self.send(self.mx1, client, self.unknown("s1", "s2", "s3") + [GOOD])
        self.assert_queued(r)
        r, _ = self.send(self.mx2, client, self.unknown("s4") + [GOOD])
        self.assertEqual(r.last(), HARVEST_REPLY, r.replies)
        self.assertEqual(len(self.our_lines(self.m2, "harvest", client)), 1)

    def setUp(self):
        super().setUp()
        if not self.redis.running():
            self.redis.start()
        if self.redis.paused:
            self.redis.resume()
        self.wait_sharing()

    def test_store_stopped_mail_flows_and_counting_falls_back(self):
        e, f = "192.0.2.50", "192.0.2.60"
        out1, out2 = len(self.outages(self.m1)), len(self.outages(self.m2))
        # Before the outage: 2 of e's unknown recipients counted in the store.
        r, _ = self.send(self.mx1, e, self.unknown("e1", "e2") + [GOOD])
        self.assert_queued(r)
        self.assertTrue([k for k in self.redis.keys() if f":harvest:{e}:" in k], self.redis.keys())

        self.redis.stop()  # SIGKILL: connections reset, the port closed
        try:
            # mx1 (local): counting starts again from the outage: 3 more
            # unknown recipients (5 in all) are not over the limit of 3 ...
            r, _ = self.send(self.mx1, e, self.unknown("e3", "e4", "e5") + [GOOD])
            self.assert_refused_unknown(r, self.unknown("e3", "e4", "e5"))
            self.assert_queued(r)
            # A good message still goes through, swaks is content.
            r, _ = self.send(self.mx1, "192.0.2.51", [GOOD])
            self.assertEqual(r.rc, 0, r.transcript)
            self.assert_queued(r)
            # ... the 4th counted locally is (store.retry has passed: the
            # store was tried again, and failed again).
            time.sleep(1.2)
            r, _ = self.send(self.mx1, e, self.unknown("e6") + [GOOD])
            self.assertEqual(r.last(), HARVEST_REPLY, r.replies)
            lines = self.our_lines(self.m1, "harvest", e)
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(f"rule=harvest actual=4 limit={self.MAX} where=rcpt", lines[0])

            # mx2 (skip): no harvest verdicts during the outage, whatever the count.
            for i in range(2):
                r, _ = self.send(self.mx2, f, self.unknown("f1", "f2", "f3", "f4") + [GOOD])
                self.assert_refused_unknown(r, self.unknown("f1", "f2", "f3", "f4"))
                self.assert_queued(r)
                time.sleep(0.6)
            r, _ = self.send(self.mx2, f, [GOOD])
            self.assertEqual(r.rc, 0, r.transcript)
            self.assert_queued(r)
            self.assertEqual(self.our_lines(self.m2, "harvest", f), [])

            # One line per milter for the whole outage (the failed retries are
            # not logged again), naming the server and the fallback.
            for milter, out, what in (
                    (self.m1, out1, "counting in this daemon (on_error: local)"),
                    (self.m2, out2, "skipping the windowed rules (on_error: skip)")):
                lines = self.outages(milter)[out:]
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], rf"^counter store out: 127\.0\.0\.1:{self.redis.port}: "
                                 rf".*; {re.escape(what)} until it answers, trying it again "
                                 rf"every 1000 ms$")
            self.assertGreater(self.store_errors(self.m1), 0)
            self.assertGreater(self.store_errors(self.m2), 0)
            for i in (1, 2, 3, 5, 6, 7):
                self.wait_delivered(f"{self._testMethodName}-{i}@example.org")
        finally:
            self.redis.start()  # the same port, empty

        # The store back: after store.retry each milter counts in it again,
        # and the counts are shared.
        rec1, rec2 = len(self.recoveries(self.m1)), len(self.recoveries(self.m2))
        self.wait_sharing()
        self.assertEqual(len(self.recoveries(self.m1)), rec1 + 1)
        self.assertEqual(len(self.recoveries(self.m2)), rec2 + 1)
        self.assert_shared("192.0.2.70")

    def test_store_black_holed_sessions_are_bounded(self):
        out1, out2 = len(self.outages(self.m1)), len(self.outages(self.m2))
        errors = self.store_errors(self.m1), self.store_errors(self.m2)
        self.redis.pause()  # connects still succeed; nothing answers
        try:
            times = []
            for i in range(8):
                host = (self.mx1, self.mx2)[i % 2]
                if i % 4 < 2:
                    r, secs = self.send(host, f"192.0.2.{80 + i}",
                                        self.unknown("h1", "h2") + [GOOD])
                    self.assert_refused_unknown(r, self.unknown("h1", "h2"))
                else:  # a clean message: swaks is content
                    r, secs = self.send(host, f"192.0.2.{80 + i}", [GOOD])
                    self.assertEqual(r.rc, 0, r.transcript)
                self.assert_queued(r)
                times.append(secs)
                time.sleep(0.3)  # the 8 sessions span several store.retry periods
            # Each SMTP session (two with XCLIENT) completed promptly: no
            # hang, far below Postfix's milter timeouts (30 s and more).
            self.assertLess(max(times), 2.0, times)
            for milter, out in ((self.m1, out1), (self.m2, out2)):
                lines = self.outages(milter)[out:]
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], rf"^counter store out: 127\.0\.0\.1:{self.redis.port}: "
                                 rf"timed out after 50 ms")
            after = self.store_errors(self.m1), self.store_errors(self.m2)
            self.assertGreater(after[0], errors[0])
            self.assertGreater(after[1], errors[1])
            for i in range(1, 9):
                self.wait_delivered(f"{self._testMethodName}-{i}@example.org")
            print(f"\n  black-holed store: SMTP sessions took {min(times):.2f}.."
                  f"{max(times):.2f} s; store errors counted {after[0] - errors[0]} (mx1), "
                  f"{after[1] - errors[1]} (mx2)",
                  file=sys.stderr)
        finally:
            self.redis.resume()
        rec1, rec2 = len(self.recoveries(self.m1)), len(self.recoveries(self.m2))
        self.wait_sharing()
        self.assertEqual(len(self.recoveries(self.m1)), rec1 + 1)
        self.assertEqual(len(self.recoveries(self.m2)), rec2 + 1)
        self.assert_shared("192.0.2.71")


if __name__ == "__main__":
    unittest.main()
