#!/usr/bin/env python3
"""The main job, end to end: a private Postfix on 127.0.0.1 wired to both
daemons - esmtp-inspect-policyd at RCPT (identity checks against a private
DNS server serving the documentation ranges) and esmtp-inspect-milter for the
content - the sample messages of conf/samples/ sent to it with swaks (as the
client each sample's .args file describes, presented through XCLIENT), and
for each one what the sender saw, what esmtp-inspect logged and what reached
the next hop.

Run by tools/demo.sh after it has installed the packages and built the
daemons. Needs root (postfix -c).
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import dns  # noqa: E402
import harness  # noqa: E402

SAMPLES = ROOT / "conf" / "samples"


def envelope(args_file):
    words = shlex.split(args_file.read_text()) if args_file.exists() else []
    env = {"rcpt": []}
    for flag, value in zip(words[::2], words[1::2]):
        key = flag.lstrip("-").replace("-", "_")
        if key == "rcpt":
            env["rcpt"].append(value)
        else:
            env[key] = value
    return env


def main():
    env = harness.Env("esmtp-demo")
    try:
        sink = harness.Sink(env)
        resolver = dns.Unbound(env)
        config = (SAMPLES / "samples.yaml").read_text() + f"dns: {{ servers: {resolver.servers} }}\n"
        # The policy service makes the identity checks; the milter inspects
        # content (harness.Milter sets milter.identity: false, so nothing is
        # checked twice).
        milter = harness.Milter(env, config).start()
        policyd = harness.Policyd(env, config).start()
        # As conf/postfix/main.cf.policy: at DATA and END-OF-MESSAGE too, so
        # that a line about a message let through carries its queue ID.
        postfix = harness.Postfix(env, sink, milters=[milter.postfix_spec],
                                  extra=harness.policy_restrictions(policyd.postfix_spec))
        print(f"Postfix {postfix.params['myhostname']} on 127.0.0.1:{postfix.port}; "
              f"esmtp-inspect-policyd on {policyd.listen}; esmtp-inspect-milter on "
              f"{milter.socket};\nDNS: unbound on 127.0.0.1:{resolver.port} (tests/dns zones); "
              f"next hop: smtp-sink on 127.0.0.1:{sink.port}")
        print("config: conf/samples/samples.yaml (defaults plus an attachment type filter)\n")
        accepted = refused = 0
        for eml in sorted(SAMPLES.glob("*.eml")):
            e = envelope(eml.with_suffix(".args"))
            client = (e.get("client", "192.0.2.10"), e.get("client_name", "client.example"))
            before = len(milter.log_lines())
            before_policy = len(policyd.log_lines())
            delivered_before = sink.count()
            r = harness.swaks(postfix.port, sender=e.get("from", ""),
                              to=e["rcpt"] or ["postmaster@example.net"], client=client,
                              helo=e.get("helo", client[1]), data=eml)
            refusals = [x for x in r.replies if x[0] in "45"]
            queued = harness.queue_id_of(r)
            print(f"== {eml.name}  (client {client[1]}[{client[0]}], {len(e['rcpt'])} rcpt)")
            shown = refusals[:3] + ([f"... and {len(refusals) - 3} more"] if len(refusals) > 3 else [])
            for x in shown:
                print(f"   SMTP  {x}")
            if queued:
                print(f"   SMTP  250 2.0.0 Ok: queued as {queued}")
            try:
                harness.wait_until(lambda: len(milter.log_lines()) > before or not refusals,
                                   timeout=5)
            except TimeoutError:
                pass
            ours = [l.partition("]: ")[2] for l in policyd.log_lines()[before_policy:] +
                    milter.log_lines()[before:] if "action=" in l]
            for line in ours[:3]:
                print("   LOG   " + (line if len(line) < 230 else line[:227] + "..."))
            if len(ours) > 3:
                print(f"   LOG   ... and {len(ours) - 3} more")
            if queued:
                harness.wait_until(lambda: sink.count() > delivered_before, timeout=20)
                accepted += 1
                delivered = [m for m in sink.messages() if queued in m.raw.decode(errors="replace")]
                for tag in (delivered[0].header("X-ESMTP-Inspect") if delivered else []):
                    print(f"   HDR   X-ESMTP-Inspect: {tag}")
                print("   -> delivered to the next hop")
            else:
                refused += 1
                print("   -> refused: the sender was told why")
            print()
        print(f"samples: {accepted} delivered, {refused} refused")
        maillog = postfix.log()
        ours = [l for l in milter.log_lines() + policyd.log_lines() if "action=" in l]
        print(f"Postfix logged {len(re.findall('milter-reject', maillog))} milter-reject and "
              f"{len(re.findall('NOQUEUE: reject: RCPT', maillog))} policy reject lines; "
              f"esmtp-inspect logged {len(ours)} decisions.")
        # What an administrator runs over the mail log afterwards: each
        # rejection counted once, with our rule name where we made it.
        print(f"\n$ esmtp-inspect report {postfix.maillog.name} milter.log policyd.log")
        report = subprocess.run([str(harness.BIN / "esmtp-inspect"), "report",
                                 str(postfix.maillog), str(milter.log_path),
                                 str(policyd.log_path)], capture_output=True, text=True)
        print(report.stdout + report.stderr, end="")
    finally:
        env.close()


if __name__ == "__main__":
    main()
