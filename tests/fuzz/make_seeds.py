#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (run from anywhere).

    tests/fuzz/make_seeds.py [PATH/TO/esmtp-inspect]

With the CLI given, its `default-config` output becomes a config seed too.
Seeds are small and meaningful; inputs found by fuzzing that reproduced a bug
live beside them as regress-* files and are not written here.
"""
import base64
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crlf(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


# ---------------------------------------------------------------------------
# mime_scanner_fuzz: 4-octet prefix (see mime_scanner_fuzz.cc) + raw message.

HDR = """Return-Path: <sender@example.org>
Received: from client.example.org (client.example.org [192.0.2.7])
\tby mx.example.com (Postfix) with ESMTPS id 4FUZZ1
\tfor <rcpt@example.net>; Mon, 1 Jan 2024 00:00:00 +0000 (UTC)
From: Sender <sender@example.org>
To: Rcpt <rcpt@example.net>
Subject: =?UTF-8?B?UmFwcG9ydCDigqw=?=
Date: Mon, 1 Jan 2024 00:00:00 +0000
Message-ID: <seed@example.org>
MIME-Version: 1.0
"""

B64 = base64.encodebytes(b"MZ\x90\x00" + bytes(range(256))).decode()

# A forwarded message, sent encoded (invalid per RFC 2046 5.2.1, yet decoded
# by mail clients and by the scanner).
INNER = """From: inner@example.com
Subject: encoded forward
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="in"

--in
Content-Type: text/plain

hidden
--in
Content-Type: application/octet-stream; name="payload.exe"
Content-Disposition: attachment; filename*=utf-8''pay%20load.exe
Content-Transfer-Encoding: uuencode

begin 644 payload.exe
--in--
"""
INNER_QP = crlf(INNER).replace("=", "=3D").replace("payload.exe\"", "pay=\r\nload.exe\"")

SCANNER = {
    "plain.eml": HDR + "Content-Type: text/plain; charset=us-ascii\n\nHello.\n.\n",
    "multipart_2231_2047.eml": HDR + """Content-Type: multipart/mixed; boundary="=_outer_0001"

This is a multi-part message in MIME format.
--=_outer_0001
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Bonjour, voici le rapport =E2=82=AC.
--=_outer_0001
Content-Type: application/pdf;
 name="=?UTF-8?B?csOpc3Vtw6kgMjAyNC5wZGY=?="
Content-Disposition: attachment;
 filename*0*=utf-8''r%C3%A9sum%C3%A9%20;
 filename*1*=%E2%82%AC%202024;
 filename*2=".pdf"
Content-Transfer-Encoding: base64

""" + B64 + """--=_outer_0001
Content-Type: application/octet-stream; name="=?iso-8859-1?Q?caf=E9?= =?utf-8?q?_menu.exe?="
Content-Disposition: attachment; filename*=iso-8859-1'fr'caf%E9%20menu.exe
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA
--=_outer_0001--
epilogue
""",
    "nested_alternative.eml": HDR + """Content-Type: multipart/mixed; boundary=outer

preamble
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

plain
--inner
Content-Type: text/html

<p>html</p>
--inner--
--outer
Content-Type: multipart/related; boundary=rel

--rel
Content-Type: image/png; name=logo.png
Content-ID: <logo>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--outer
Content-Type: application/zip; name="archive.zip"
Content-Disposition: attachment; filename="archive.zip"

PK
--outer--
""",
    "rfc822_attachment.eml": HDR + """Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

See attached.
--b1
Content-Type: message/rfc822
Content-Disposition: attachment; filename="forwarded.eml"

From: other@example.com
Subject: inner
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2"

--b2
Content-Type: application/x-msdownload; name="setup.exe"
Content-Transfer-Encoding: base64

TVqQ
--b2
Content-Type: message/global

Content-Type: text/plain; name="deep.txt"

deep
--b2--
--b1
Content-Type: message/rfc822
Content-Transfer-Encoding: base64

RnJvbTogeEB5Cg==
--b1--
""",
    "digest.eml": HDR + """Content-Type: multipart/digest; boundary="d"

--d

From: a@example.com
Subject: one
Content-Type: text/plain; name="one.txt"

one
--d
Content-Type: message/rfc822

From: b@example.com
Content-Type: multipart/mixed; boundary=dd

--dd
Content-Disposition: attachment; filename="two.js"

alert(1)
--dd--
--d
Content-Type: text/plain

not a message
--d--
""",
    "encodings.eml": HDR + """Content-Type: multipart/mixed; boundary=enc

--enc
Content-Type: application/octet-stream; name="a.exe"
Content-Transfer-Encoding: x-uuencode

begin 644 a.exe
M35J0
end
--enc
Content-Type: application/mac-binhex40; name="b.hqx"
Content-Transfer-Encoding: BinHex

(This file must be converted with BinHex 4.0)
--enc
Content-Type: text/plain
Content-Transfer-Encoding: 8BIT (comment)

caf\xc3\xa9
--enc--
""",
    "lf_only_mbox.eml": "From sender@example.org Mon Jan  1 00:00:00 2024\n" + HDR +
        "Content-Type: multipart/mixed; boundary=lf\n\n--lf\nContent-Disposition: attachment; filename=x.scr\n\nx\n--lf--",
    "long_lines.eml": HDR.replace("Subject:", "To: second@example.net\nTo: third@example.net\nSubject:") +
        "X-Long: " + "h" * 1200 + "\n\tfolded " + "f" * 300 + "\n\n" + "b" * 1100 + "\n" + "c" * 999 + "\r\nshort\n" + "d" * 2000,
    "structure_bomb.eml": HDR + "Content-Type: multipart/mixed; boundary=L0\n\n" +
        "".join("--L%d\nContent-Type: multipart/mixed; boundary=L%d\n\n" % (i, i + 1) for i in range(25)) +
        "--L25\nContent-Disposition: attachment; filename=deep.exe\n\nx\n" +
        "".join("--L%d--\n" % i for i in reversed(range(26))),
    "many_parts.eml": HDR + "Content-Type: multipart/mixed; boundary=p\n\n" +
        "".join("--p\nContent-Type: text/plain; name=p%d.txt\n\n%d\n" % (i, i) for i in range(40)) + "--p--\n",
    "long_boundary.eml": HDR + "Content-Type: multipart/mixed; boundary=\"" + "B" * 80 + "\"\n\n--" + "B" * 80 +
        "\nContent-Type: multipart/mixed; boundary=" + "C" * 300 + "\n\n--" + "C" * 300 +
        "\nContent-Disposition: attachment; filename=hidden.exe\n\nx\n--" + "C" * 300 + "--\n--" + "B" * 80 + "--\n",
    "malformed.eml": HDR + """Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: application/pdf; name="cut.pdf
--m \t
Content-Disposition: attachment; filename*0*=utf-8''%E2%82; filename*2=gap.txt
Content-Type: text/plain; name="=?utf-8?B?////?="
Content-Type: text/html

--m
Content-Type: multipart/mixed
Content-Disposition: attachment; filename="=?x-unknown?Q?abc?=.doc"; filename*=bogus''%ZZ.doc

--mm
--m--junk
no close delimiter
""",
    "big_part_header.eml": HDR + "Content-Type: multipart/mixed; boundary=h\n\n--h\nX-Pad: " + "p" * 1500 +
        "\nContent-Disposition: attachment; filename=late.exe\n\nbody\n--h--\n",
    "charsets.eml": HDR + """Content-Type: multipart/mixed; boundary=cs

--cs
Content-Type: application/octet-stream; name="=?Shift_JIS?B?g2WDWINn?=.txt"
Content-Disposition: attachment; filename*=shift_jis''%83e%83X%83g.txt

x
--cs
Content-Type: application/octet-stream; name="=?koi8-r?Q?=F4=C5=D3=D4?=.vbs"
Content-Disposition: attachment; filename="raw-\xff\xfe.bin"

x
--cs
Content-Disposition: attachment; filename="=?UTF-7?Q?+AOk-t+AOk-.com?="

x
--cs--
""",
    "rfc822_encoded.eml": HDR + """Content-Type: multipart/mixed; boundary="enc"

--enc
Content-Type: message/rfc822
Content-Transfer-Encoding: base64

""" + base64.encodebytes(crlf(INNER).encode()).decode() + """--enc
Content-Type: message/rfc822; name="fwd.eml"
Content-Transfer-Encoding: quoted-printable

""" + INNER_QP + """--enc--
""",
    "headers_only.eml": "Subject: no body\nTo: a@example.net\nTo: b@example.net\nX-Empty:\n",
    "no_headers_body.eml": "this line is not a header\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
}

PREFIXES = [b"\x00\x3f\x07\x00", b"\x05\x00\x10\x01", b"\x1a\x10\x04\x02", b"\x27\x7f\x40\x03",
            b"\xf2\x02\x21\x01", b"\x53\xff\xff\x00", b"\xa9\x0c\x3c\x02", b"\x6c\x30\x99\x03"]

# ---------------------------------------------------------------------------
# mime_params_fuzz: field bodies, encoded text, [n][charset][bytes].

PARAMS = {
    "disposition.txt": 'attachment; filename="report.pdf"',
    "rfc2231_continuations.txt": "attachment;\r\n filename*0*=utf-8''r%C3%A9sum%C3%A9%20;\r\n filename*1*=%E2%82%AC;\r\n filename*2=\".pdf\"",
    "rfc2231_single.txt": "attachment; filename*=iso-8859-1'fr'caf%E9.txt; size=12",
    "rfc2231_out_of_order.txt": "attachment; filename*2=c.txt; filename*0=a; filename*1*=%62; filename*1=dup",
    "rfc2047_b.txt": 'application/pdf; name="=?UTF-8?B?csOpc3Vtw6kgMjAyNC5wZGY=?="',
    "rfc2047_q_adjacent.txt": 'text/plain; name="=?windows-1252?Q?r=E9sum=E9?= =?utf-8?q?_2.doc?="',
    "rfc2047_bad_base64.txt": 'text/plain; name="=?utf-8?B?w6-l?="; filename="=?utf-8?B?w6l=x?="',
    "boundary_comments.txt": 'multipart/mixed (top) ; boundary="----=_Part_0_12345" (c (nested) \\) ); charset=us-ascii',
    "quotes_escapes.txt": 'attachment ; filename = "a\\"b\\\\c.txt" junk ; name=plain.txt;;=x; novalue',
    "unterminated.txt": 'attachment; filename="never closed; name=(open comment',
    "iso2022jp.txt": "attachment; filename=\"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=.txt\"",
    "charset_sjis.bin": b"\x09shift_jis\x83e\x83X\x83g",
    "charset_utf7.bin": b"\x05UTF-7+AGEAYgBj-",
    "charset_utf16.bin": b"\x06UTF-16\xff\xfe\x3d\xd8\x00\xde",
    "charset_bad.bin": b"\x05utf-8\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
    "encoded_word_lang.txt": "=?utf-8*en?Q?hello_world?= and =?us-ascii?q?x?=\t=?bogus?x?y?=",
    "raw_8bit.txt": b'attachment; filename="caf\xe9.txt"; name="\xe2\x82\xac.pdf"',
}

# ---------------------------------------------------------------------------
# policy_protocol_fuzz: 1 octet (chunk size) + what a Postfix client sends.

POLICY_REQUEST = """request=smtpd_access_policy
protocol_state=RCPT
protocol_name=ESMTP
client_address=192.0.2.7
client_name=client.example.org
reverse_client_name=client.example.org
helo_name=client.example.org
sender=sender@example.org
recipient=rcpt@example.net
recipient_count=0
queue_id=
instance=123.456.7
size=12345
etrn_domain=
stress=
sasl_method=
sasl_username=
ccert_subject=
encryption_protocol=TLSv1.3
encryption_cipher=TLS_AES_256_GCM_SHA384
server_address=198.51.100.30
server_port=25
policy_context=
compatibility_level=3.6
mail_version=3.7.11

"""

POLICY = {
    "two_requests.txt": b"\x01" + (POLICY_REQUEST + POLICY_REQUEST.replace("RCPT", "DATA")).encode(),
    "crlf_duplicates.txt": b"\x07" + crlf("request=smtpd_access_policy\nname=a\nname=b\nempty=\n=novalue\n\n").encode(),
    "errors.txt": b"\x20" + b"request=x\nno equals sign\n\n",
    "nul.txt": b"\x03" + b"request=x\nsender=a\x00b\n\n",
    "empty_request.txt": b"\x00" + b"\n\nrequest=x\n\n",
    "long_line.txt": b"\x11" + b"request=x\nsender=" + b"a" * (64 * 1024) + b"\n\n",
    "many_attributes.txt": b"\x05" + b"".join(b"a%d=%d\n" % (i, i) for i in range(260)) + b"\n",
    "partial.txt": b"\x09" + POLICY_REQUEST.encode()[:200],
}

# ---------------------------------------------------------------------------
# config_loader_fuzz

CONFIGS = {
    "spec_example.yaml": r"""mode: enforce                  # enforce | monitor
log: { to: syslog, facility: mail, format: text, level: info }
milter: { socket: "unix:/run/esmtp-inspect/milter.sock" }
policy: { listen: ["unix:/run/esmtp-inspect/policy.sock", "inet:127.0.0.1:10040"], max_connections: 1000 }
dns: { servers: [], timeout: 2s, tries: 2, cache_entries: 10000, on_temperror: tempfail }
identity:
  self: { names: [mail.example.com], addresses: [198.51.100.30] }
  checks:
    fcrdns: { action: tag }
    helo_matches_ptr: { action: tag, mode: domain }
rules:
  header_line_length: { max: 998, action: reject }
  recipient_count:    { max: 100, action: tempfail }
  mime_filename:      { action: reject, patterns: ["*.exe", "*.scr", "re:(?i)\\.(js|vbs)$"] }
profiles:
  - name: mail-gateways
    match: { clients: [192.168.1.1/32] }
    inspect: false
  - name: submission
    match: { authenticated: true }
    identity: off
    rules: { recipient_count: { max: 500 } }
""",
    "every_rule.yaml": r"""mode: monitor
log:
  to: file:/var/log/esmtp-inspect.log
  facility: local3
  format: json
  level: debug
milter: {socket: "inet:8891@127.0.0.1", user: nobody, group: mail, timeout: 1m}
policy:
  listen: ["inet:[::1]:10040", "unix:/tmp/p.sock"]
  max_connections: 64
  idle_timeout: 1h
  user: nobody
  group: nogroup
dns:
  servers: ["127.0.0.1:5353", "[2001:db8::53]:53", "192.0.2.53"]
  timeout: 500ms
  tries: 3
  cache_entries: 0
  on_temperror: tag
  temperror_reply: "451 4.4.3 Try later"
identity:
  self: {names: [mx1.example.com, mx2.example.com], addresses: ["2001:db8::25", 192.0.2.25]}
  checks:
    ptr_present: {action: log}
    fcrdns: {action: reject, reply: "550 5.7.25 no fcrdns"}
    helo_syntax: off
    helo_literal_match: {action: tempfail}
    helo_resolves: {action: quarantine}
    helo_matches_client: {action: discard}
    helo_matches_ptr: {action: tag, mode: exact}
    helo_not_self: {action: disconnect, reply: "421 4.7.0 bye"}
    self_banner: {action: off}
rules:
  command_line_length: {max: 1k, action: reject, reply: "500 5.5.2 too long", mode: enforce}
  recipient_count: {max: 50, action: tempfail}
  invalid_recipients: {max: 5, action: disconnect}
  sender_address_length: {max: 256}
  sender_address: {patterns: ["*@spam.example", "re:^bounce-"], action: reject}
  special_characters: {characters: "|`%!", action: reject}
  header_line_length: {max: 998, action: tag}
  header_length: {max: 64k, action: reject}
  to_fields_count: {max: 1}
  body_line_length: {max: 998, action: log}
  body_length: {max: 10M, action: reject, reply: "552 5.3.4 Message too big"}
  mime_filename_length: {max: 255, action: quarantine}
  mime_filename: {patterns: ["*.exe", "*.[sS][cC][rR]", "re:(?i)\\.(js|vbs)$"], action: discard}
  mime_encoding: {deny: [UUencode, binhex], action: reject}
  mime_structure: {max_depth: 10, max_parts: 500, max_boundary_length: 70, max_part_header_bytes: 32k, action: reject}
  plaintext_session: {action: log}
profiles:
  - name: internal
    match: {clients: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7/24], daemons: [smtpd, submission]}
    mode: enforce
    identity: false
    rules:
      body_length: off
      mime_filename: {action: off}
      recipient_count: {max: 1000, action: reject, reply: "550 5.5.3 too many"}
  - name: authenticated
    match: {authenticated: yes}
    inspect: no
""",
    "errors.yaml": r"""mode: enforced
unknown: 1
log: {to: /dev/null, level: loud}
rules:
  header_line_length: {max: -1, action: bounce}
  nonexistent: {}
  sender_address: {patterns: ["re:("]}
  mime_encoding: {action: reject}
  header_length: {max: 99999999999999999999}
  body_length: {action: disconnect, reply: "550 5.0.0 no"}
profiles:
  - match: {clients: [300.1.1.1]}
  - name: default
  - name: x
    rules: {header_line_length: {max: 1, max: 2}}
""",
    "flow_and_anchors.yaml": """{mode: monitor, rules: &r {header_line_length: {max: 100}}, profiles: [{name: a, rules: *r}, {name: b, match: {authenticated: false}, rules: {header_line_length: off}}]}""",
    "profiles_first.yaml": """profiles:
  - name: early
    match: {daemons: [smtpd]}
rules:
  header_line_length: {max: 500}
mode: monitor
""",
    "empty.yaml": "",
    "null.yaml": "~\n",
    "scalars.yaml": """mode: "enforce"
milter: {socket: 'local:/run/m.sock', timeout: 30}
policy: {max_connections: 1k, idle_timeout: 5m}
rules: {recipient_count: {max: 0x10}, header_line_length: false}
""",
}


def log_record(c0, c1, *values):
    """A log_roundtrip_fuzz input: 2 octets of choices, then [n][n octets] values
    (client name, address, HELO, sender, actual, limit, where, detail,
    recipient, reply text, profile, rule)."""
    out = bytes([c0, c1])
    for v in values:
        v = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v
        out += bytes([len(v)]) + v
    return out


INJECTED = '"x> action=reject rule=mime_filename client=victim.example[198.51.100.7] z="@evil.example'
LOG_RECORDS = {
    # action, would, queue ID, from, numeric, reply code: see log_roundtrip_fuzz.cc.
    "spec_example": log_record(6, 0x53, "mx.example.org", "203.0.113.5", "mx.example.org",
                               "a@example.org", "1204", "998", "header:Subject", "", "",
                               "Header line too long", "default", "header_line_length"),
    "injected_sender": log_record(0x61, 0x40, "mx.example.org", "203.0.113.5", "mx.example.org",
                                  INJECTED, "x", "*@evil.example", "mail", "", "", "", "default",
                                  "sender_address"),
    "hostile_everywhere": log_record(7, 0x03, "a b[c]=d", "1.2.3.4] x=[y", 'h e=l"o\\',
                                     "a>b <c\r\nd", "act=1", "007", "header:X y=z",
                                     'file "name".exe\x01', 'r> reply="550 x"', 'no" rule=z',
                                     "", "r u=le"),
    "utf8_and_invalid": log_record(3, 0x60, "\u00fc.example", b"\xff\xfe", "", "",
                                   "R\u00e9chnung.pdf", b"\xc3(", "mime:1.2", b"\xe2\x82",
                                   "", "", "p", "mime_filename"),
    "noqueue_tempfail": log_record(5, 0x27, "unknown", "", "", "", "4", "3", "rcpt", "",
                                   "r@x.example", "Too many recipients", "default",
                                   "recipient_count"),
    # Raw lines: what versions before the field table wrote for the injected sender.
    "raw_forged_text": ("NOQUEUE: action=log rule=sender_address where=mail "
                        "client=mx.example.org[203.0.113.5] from=<x> action=reject "
                        "rule=mime_filename client=victim.example[198.51.100.7] z=@evil.example> "
                        "profile=default"),
    "raw_json_repeated_key": '{"queue_id":"NOQUEUE","action":"log","rule":"a","action":"reject"}',
}



def main():
    # Seeds added later have their own prefix, so that the others keep theirs.
    later = {"rfc822_encoded.eml": b"\x10\x05\x30\x02"}
    first = sorted(n for n in SCANNER if n not in later)
    for name, msg in sorted(SCANNER.items()):
        prefix = later[name] if name in later else PREFIXES[first.index(name) % len(PREFIXES)]
        # Octets above 0x7f in the texts stand for themselves (latin-1).
        raw = msg if name.startswith("lf_only") else crlf(msg)
        write("mime_scanner_fuzz", name, prefix + raw.encode("latin-1"))
    for name, field in PARAMS.items():
        write("mime_params_fuzz", name, field)
    for name, data in POLICY.items():
        write("policy_protocol_fuzz", name, data)
    for name, text in CONFIGS.items():
        write("config_loader_fuzz", name, text)
    for name, data in LOG_RECORDS.items():
        write("log_roundtrip_fuzz", name, data)
    if len(sys.argv) > 1:
        out = subprocess.run([sys.argv[1], "default-config"], check=True, capture_output=True).stdout
        write("config_loader_fuzz", "default_config.yaml", out)


if __name__ == "__main__":
    main()
