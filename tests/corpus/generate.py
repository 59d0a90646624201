#!/usr/bin/env python3
"""Generates the golden message corpus (tests/corpus/README.md).

Writes, for each generated case NAME:
  NAME.eml     the message (CRLF line endings unless the case is about bare LF)
  NAME.args    extra `esmtp-inspect test` arguments, one per line (optional)
  NAME.config  the config file to use instead of corpus.yaml (optional)
  NAME.ref     the expected stdout plus a last line "exit: N"
and INDEX.md, the list of every case (generated and hand-written) with the
reasoning behind its expected verdict.

The expected verdicts are written here by hand from esmtp-inspect.yaml(5),
RULES, ACTIONS and MODES,
and the limits in corpus.yaml; they are NOT copied from the engine's output.
Where a value is computed (a length, a line number), the message is built to
that value and an assertion checks the construction.

Deterministic: fixed boundaries, dates, message IDs and payloads; no clock,
no randomness. Run from anywhere:
  tests/corpus/generate.py            write the files next to this script
  tests/corpus/generate.py --check    exit 1 if any written file is stale
Hand-written cases (HANDWRITTEN below) are committed as-is and never touched.
"""

import argparse
import base64
import io
import os
import sys
from email import charset as email_charset
from email.generator import BytesGenerator
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.message import Message

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"
DATE = "Mon, 23 Nov 2026 10:00:00 +0000"

# ---------------------------------------------------------------------------
# Expected output: the text format of `esmtp-inspect test` (esmtp-inspect(1),
# test; esmtp-inspect.yaml(5), LOGGING)
# ---------------------------------------------------------------------------

# Default replies: esmtp-inspect.yaml(5), RULES.
REPLY = {
    "command_line_length": "500 5.5.2 Command line too long",
    "recipient_count": "452 4.5.3 Too many recipients",
    "sender_address_length": "501 5.1.7 Sender address too long",
    "sender_address": "550 5.7.1 Sender address rejected",
    "special_characters": "501 5.1.3 Invalid character in address",
    "header_line_length": "550 5.6.0 Header line too long",
    "header_length": "552 5.3.4 Message header too large",
    "to_fields_count": "550 5.6.0 Too many To fields",
    "body_line_length": "550 5.6.0 Body line too long",
    "body_length": "552 5.3.4 Message too big",
    "mime_filename_length": "550 5.6.0 Attachment filename too long",
    "mime_filename": "550 5.7.1 Attachment type not allowed",
    "mime_encoding": "554 5.6.0 Content encoding not allowed",
    "mime_structure": "554 5.6.0 MIME structure too complex",
}

# Limits in force with corpus.yaml (built-in defaults unless corpus.yaml says).
LIMIT = {
    "command_line_length": 512,
    "recipient_count": 100,
    "sender_address_length": 320,
    "header_line_length": 998,
    "header_length": 8192,        # corpus.yaml: 8k
    "to_fields_count": 2,         # corpus.yaml
    "body_line_length": 998,
    "body_length": 102400,        # corpus.yaml: 100k
    "mime_filename_length": 255,
}
MIME_LIMIT = {"max_depth": 20, "max_parts": 1000, "max_boundary_length": 70,
              "max_part_header_bytes": 65536}

REPLY_ACTIONS = ("reject", "tempfail", "disconnect")  # actions that send a reply
SHOWN_MAX = 200  # names and addresses longer than this are cut, "..." added


def _b(s):
    return s if isinstance(s, bytes) else str(s).encode("utf-8")


def escape(s):
    """Log escaping: valid UTF-8 sequences are kept, quote and backslash get a
    backslash, control characters and invalid octets become \\xHH."""
    b = _b(s)
    out = []
    i = 0
    while i < len(b):
        c = b[i]
        i += 1
        if c >= 0x80:
            n = 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 0
            if n and i - 1 + n <= len(b):
                try:
                    out.append(b[i - 1:i - 1 + n].decode("utf-8"))
                    i += n - 1
                    continue
                except UnicodeDecodeError:
                    pass
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif c < 0x20 or c == 0x7F or c >= 0x80:
            out.append("\\x%02x" % c)
        else:
            out.append(chr(c))
    return "".join(out)


def quote_value(s):
    """A log field value: bare when plain printable ASCII, else quoted."""
    b = _b(s)
    if b and all(0x20 < c < 0x7F and c not in (0x22, 0x5C) for c in b):
        return b.decode("ascii")
    return '"' + escape(b) + '"'


def shown(s):
    """Names and addresses in log lines: at most SHOWN_MAX octets, cut back to
    a UTF-8 character boundary (at most 3 octets), then "..."."""
    b = _b(s)
    if len(b) <= SHOWN_MAX:
        return b
    cut = SHOWN_MAX
    while cut > SHOWN_MAX - 3 and (b[cut] & 0xC0) == 0x80:
        cut -= 1
    return b[:cut] + b"..."


def verdict(action, rule, actual=None, limit=None, where=None, detail=None,
            would=None, profile="default", rcpt=None):
    """One verdict line. `limit` defaults to the limit in force for `rule`;
    pass limit="" for rules without one."""
    if limit is None:
        limit = LIMIT.get(rule, "")
    out = ["action=" + action]
    if would:
        out.append("would=" + would)
    out.append("rule=" + rule)
    if actual not in (None, ""):
        out.append("actual=" + quote_value(actual))
    if limit not in (None, ""):
        out.append("limit=" + quote_value(limit))
    if where:
        out.append("where=" + quote_value(where))
    if detail:
        out.append("detail=" + quote_value(detail))
    if rcpt:  # the recipient a RCPT-stage verdict is about
        out.append("to=<" + escape(shown(rcpt)) + ">")
    if action in REPLY_ACTIONS or would in REPLY_ACTIONS:
        out.append('reply="' + escape(REPLY[rule]) + '"')
    out.append("profile=" + quote_value(profile))
    return " ".join(out)


def reject(rule, actual, where, detail=None, limit=None, rcpt=None):
    return verdict("reject", rule, actual, limit, where, detail, rcpt=rcpt)


def would(action, rule, actual, where, detail=None, limit=None, rcpt=None):
    """A monitor-mode verdict: logged, `action` is what enforce mode does."""
    return verdict("log", rule, actual, limit, where, detail, would=action, rcpt=rcpt)


def body_line_log(actual, line_no):
    return verdict("log", "body_line_length", actual, None, "body:%d" % line_no)


def name_detail(source, name, undecodable=False):
    return (b"undecodable " if undecodable else b"") + _b(source) + b"=" + shown(name)


def filename_too_long(name, part, source, undecodable=False):
    return reject("mime_filename_length", len(_b(name)), "mime:" + part,
                  name_detail(source, name, undecodable))


def filename_denied(name, pattern, part, source):
    return reject("mime_filename", shown(name), "mime:" + part,
                  name_detail(source, name), limit=pattern)


def structure(actual, which, part):
    return reject("mime_structure", actual, "mime:" + part, which,
                  limit=MIME_LIMIT[which])


# ---------------------------------------------------------------------------
# Message building
# ---------------------------------------------------------------------------

def filler(n, seed="Lorem ipsum dolor sit amet consectetur adipiscing elit "):
    """n octets of readable ASCII text."""
    s = (seed * (n // len(seed) + 1))[:n]
    assert len(s) == n
    return s


def join_lines(lines, eol=CRLF):
    return b"".join(_b(l) + eol for l in lines)


def std_headers(name, subject="Corpus message", to="Bob Example <bob@example.net>",
                mime=True):
    h = ["From: Alice Example <alice@example.org>",
         "To: " + to,
         "Subject: " + subject,
         "Date: " + DATE,
         "Message-ID: <%s@corpus.example.org>" % name]
    if mime:
        h.append("MIME-Version: 1.0")
    return h


def message(headers, body, eol=CRLF):
    """Header lines (str/bytes, folding included as eol + blank) and body bytes."""
    return join_lines(headers, eol) + eol + _b(body)


def text_message(name, body_lines, subject="Corpus message", extra=(), eol=CRLF):
    headers = std_headers(name, subject) + list(extra) + [
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit"]
    return message(headers, join_lines(body_lines, eol), eol)


def part(headers, body_lines):
    return join_lines(headers) + CRLF + join_lines(body_lines)


def multipart_body(boundary, parts, preamble=("This is a multi-part message in MIME format.",),
                   close=True, epilogue=()):
    """Parts end with CRLF; that CRLF belongs to the next delimiter."""
    out = join_lines(preamble)
    for p in parts:
        out += b"--" + _b(boundary) + CRLF + p
    if close:
        out += b"--" + _b(boundary) + b"--" + CRLF + join_lines(epilogue)
    return out


def b64_lines(data):
    s = base64.b64encode(data).decode("ascii")
    return [s[i:i + 76] for i in range(0, len(s), 76)] or [""]


PAYLOAD = bytes(range(256)) * 2  # a small binary attachment


def text_part(lines=("Please see the attachment.",)):
    return part(["Content-Type: text/plain; charset=us-ascii",
                 "Content-Transfer-Encoding: 7bit"], lines)


def attachment_part(headers, data=PAYLOAD):
    return part(list(headers) + ["Content-Transfer-Encoding: base64"], b64_lines(data))


def attachment_message(name, attach_headers, subject="Attachment", boundary=None, extra=()):
    """multipart/mixed: 1 text/plain, 2 the attachment with `attach_headers`."""
    boundary = boundary or "=_corpus_" + name
    headers = std_headers(name, subject) + list(extra) + [
        'Content-Type: multipart/mixed; boundary="%s"' % boundary]
    return message(headers, multipart_body(boundary, [text_part(), attachment_part(attach_headers)]))


def body_line_of(msg, marker):
    """1-based body line number of the first body line starting with `marker`."""
    head, sep, body = msg.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = msg.partition(b"\n\n")
    for i, line in enumerate(body.split(b"\n"), 1):
        if line.startswith(_b(marker)):
            return i
    raise AssertionError("marker %r not in body" % marker)


def pct(b):
    """RFC 2231 percent-encoding of every octet outside a small safe set."""
    return "".join(chr(c) if (chr(c).isalnum() and c < 0x80) or chr(c) in ".-_" else "%%%02X" % c
                   for c in b)


def enc_word_b(charset, data):
    return "=?%s?B?%s?=" % (charset, base64.b64encode(data).decode("ascii"))


def enc_word_q(charset, data):
    out = []
    for c in data:
        ch = chr(c)
        if ch == " ":
            out.append("_")
        elif c < 0x80 and (ch.isalnum() or ch in ".-"):
            out.append(ch)
        else:
            out.append("=%02X" % c)
    return "=?%s?Q?%s?=" % (charset, "".join(out))


def serialize(msg, order=None):
    """A message built with the email package, as CRLF bytes, unfolded beyond
    the folding written into the values. `order` puts these top-level fields
    first, in this order (the email package puts Content-Type first)."""
    if order:
        values = [(k, v) for k, v in msg.items()]
        for k in set(k for k, _ in values):
            del msg[k]
        rank = {k.lower(): i for i, k in enumerate(order)}
        for k, v in sorted(values, key=lambda kv: rank.get(kv[0].lower(), len(order))):
            msg[k] = v
    buf = io.BytesIO()
    BytesGenerator(buf, mangle_from_=False, maxheaderlen=0,
                   policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    return buf.getvalue()


def strip_part_mime_version(msg):
    """The email package gives every part a MIME-Version; clients put it only
    in the header of a message (top level and message/rfc822)."""
    def walk(m, is_message):
        if not is_message and "MIME-Version" in m:
            del m["MIME-Version"]
        if m.get_content_maintype() == "multipart":
            for p in m.get_payload():
                walk(p, False)
        elif m.get_content_type() == "message/rfc822":
            for p in m.get_payload():
                walk(p, True)
    walk(msg, True)


def qp_text(text, subtype="plain", charset="utf-8"):
    cs = email_charset.Charset(charset)
    cs.body_encoding = email_charset.QP
    p = MIMEText(text, subtype, cs)
    return p


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

CASES = []  # dicts: name, eml, ref, args, config, note


def add(name, eml, expect=(), final="accept", args=(), config=None, note=""):
    assert all(c.isalnum() or c in "_-" for c in name), name
    assert not any(c["name"] == name for c in CASES), name
    exit_code = 0 if final == "accept" else 1
    ref = "".join(l + "\n" for l in list(expect) + ["final: " + final, "exit: %d" % exit_code])
    CASES.append({"name": name, "eml": eml, "ref": ref.encode("utf-8"), "args": list(args),
                  "config": config, "note": note})


def envelope(frm="alice@example.org", rcpts=("bob@example.net",), client="203.0.113.5",
             helo="mx.example.org"):
    a = ["--client", client, "--helo", helo]
    if frm is not None:
        a += ["--from", frm]
    for r in rcpts:
        a += ["--rcpt", r]
    return a


# ---- header_line_length (998, reject) -------------------------------------

def subject_of_line_length(n):
    value = filler(n - len("Subject: "))
    line = "Subject: " + value
    assert len(line) == n
    return value


def header_line_cases():
    for n in (997, 998, 999):
        eml = text_message("hll_%d" % n, ["Hello Bob,", "", "a subject line of %d octets." % n],
                           subject=subject_of_line_length(n))
        if n <= 998:
            add("hll_%d" % n, eml, note="Subject line of %d octets (CRLF excluded): at or under 998." % n)
        else:
            add("hll_%d" % n, eml, [reject("header_line_length", 999, "header:Subject")], "reject",
                note="Subject line of 999 octets: over 998 by one.")

    # A folded field whose continuation line is the long one.
    for n in (998, 999):
        cont = "\t" + filler(n - 1)
        assert len(cont) == n
        name = "hll_folded_cont_%d" % n
        eml = text_message(name, ["Folded header test."],
                           extra=["X-Folded: the first line is short;", cont, " and a short third line"])
        if n == 998:
            add(name, eml, note="Folded X-Folded: continuation line of 998 octets, other lines short.")
        else:
            add(name, eml, [reject("header_line_length", 999, "header:X-Folded")], "reject",
                note="Folded X-Folded: the continuation line (leading TAB included) is 999 "
                     "octets; the first line is short. Measured per physical line.")

    # A long first line followed by short continuations: the field's longest line counts.
    name = "hll_folded_first_999"
    first = "X-Folded-First: " + filler(999 - len("X-Folded-First: "))
    assert len(first) == 999
    eml = text_message(name, ["Folded header test."], extra=[first, "\tshort", "\tshort again"])
    add(name, eml, [reject("header_line_length", 999, "header:X-Folded-First")], "reject",
        note="First physical line 999 octets, continuations short.")

    # Unfolded field length is not what counts: many short physical lines.
    name = "hll_folded_many_short"
    lines = ["References: <%04d.thread@lists.example.org>" % 0] + [
        "\t<%04d.thread@lists.example.org>" % i for i in range(1, 80)]
    assert sum(len(l) for l in lines) > 998 and max(len(l) for l in lines) < 998
    eml = text_message(name, ["Long thread."], extra=lines)
    add(name, eml, note="A References: field of ~2500 octets folded into 80 short lines: "
                        "each physical line is short, so no verdict.")

    name = "hll_5000"
    line = "X-Spam-Report: " + filler(5000 - len("X-Spam-Report: "))
    assert len(line) == 5000
    add(name, text_message(name, ["Huge header."], extra=[line]),
        [reject("header_line_length", 5000, "header:X-Spam-Report")], "reject",
        note="One X-Spam-Report: line of 5000 octets.")

    # Octets, not characters: 9 + 495*2 + 0 = 999 octets, 504 characters.
    name = "hll_utf8_999_octets"
    value = "\u00e4" * 495
    line = ("Subject: " + value).encode("utf-8")
    assert len(line) == 999
    eml = message(std_headers(name)[:2] + [line] + std_headers(name)[3:] +
                  ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
                  join_lines(["Raw UTF-8 subject (RFC 6532)."]))
    add(name, eml, [reject("header_line_length", 999, "header:Subject")], "reject",
        note="Raw UTF-8 Subject: 504 characters but 999 octets; lengths are octets.")

    # Bare LF line endings: the line is still 999 octets.
    name = "hll_lf_999"
    eml = text_message(name, ["Bare LF line endings."], subject=subject_of_line_length(999), eol=b"\n")
    add(name, eml, [reject("header_line_length", 999, "header:Subject")], "reject",
        note="Whole message with bare LF line endings; Subject line 999 octets.")

    name = "hll_lf_998"
    eml = text_message(name, ["Bare LF line endings."], subject=subject_of_line_length(998), eol=b"\n")
    add(name, eml, note="Bare LF line endings; Subject line 998 octets: no CR to exclude, 998 is the limit.")

    # The long line is the last header line before the empty line.
    name = "hll_last_field_999"
    headers = std_headers(name) + ["Content-Type: text/plain; charset=us-ascii",
                                   "X-Last: " + filler(999 - len("X-Last: "))]
    add(name, message(headers, join_lines(["Body."])),
        [reject("header_line_length", 999, "header:X-Last")], "reject",
        note="The 999-octet line is the last header line, right before the empty line.")

    # RFC 5322 obs-optional: white space between field name and colon. It is a
    # header field (Postfix's is_header() agrees), so the header section goes on.
    name = "hll_obs_colon_space"
    headers = ["From: Alice Example <alice@example.org>",
               "X-Mailer : Obsolete Mailer 1.0",
               "To: Bob Example <bob@example.net>",
               "Subject: " + subject_of_line_length(999),
               "Date: " + DATE,
               "Message-ID: <%s@corpus.example.org>" % name]
    add(name, message(headers, join_lines(["Body."])),
        [reject("header_line_length", 999, "header:Subject")], "reject",
        note="'X-Mailer : ...' (obs-optional, blank before colon) is a header field per RFC 5322 "
             "section 4.5.3 and for Postfix; the 999-octet Subject after it is still a header line.")

    # The blank before the colon is part of the line as sent: 999 octets.
    name = "hll_obs_colon_space_999"
    mailer = "X-Mailer : " + filler(999 - len("X-Mailer : "))
    assert len(mailer) == 999
    headers = ["From: Alice Example <alice@example.org>",
               mailer,
               "To: Bob Example <bob@example.net>",
               "Subject: Obsolete syntax",
               "Date: " + DATE,
               "Message-ID: <%s@corpus.example.org>" % name]
    add(name, message(headers, join_lines(["Body."])),
        [reject("header_line_length", 999, "header:X-Mailer")], "reject",
        note="'X-Mailer : ...' line of 999 octets: the blank before the colon is an octet of "
             "the line as sent (RFC 5322 section 4.5.3).")

    # A MIME part header line is a body line: body_line_length (log), not header_line_length.
    name = "hll_part_header_999"
    desc = "Content-Description: " + filler(999 - len("Content-Description: "))
    assert len(desc) == 999
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [text_part(), attachment_part(
                      ["Content-Type: application/octet-stream", desc,
                       'Content-Disposition: attachment; filename="data.bin"'])]))
    add(name, eml, [body_line_log(999, body_line_of(eml, "Content-Description:"))],
        note="A 999-octet Content-Description line in a MIME part header is a body line "
             "(body_line_length includes MIME part headers): logged, message accepted.")


# ---- to_fields_count (corpus.yaml: 2), header_length (8192) ------------------

def header_count_cases():
    name = "tfc_2"
    headers = std_headers(name) + ["To: Carol <carol@example.net>", "Cc: Dave <dave@example.net>",
                                   "Resent-To: Erin <erin@example.net>", "Content-Type: text/plain"]
    add(name, message(headers, join_lines(["Two To fields."])),
        note="Two To: fields (the limit), plus Cc: and Resent-To:, which are not To: fields.")

    name = "tfc_3"
    headers = std_headers(name) + ["To: Carol <carol@example.net>", "to: Dave <dave@example.net>",
                                   "Content-Type: text/plain"]
    add(name, message(headers, join_lines(["Three To fields."])),
        [reject("to_fields_count", 3, "header:to")], "reject",
        note="Three To: fields, the third spelled 'to:' (field names are case-insensitive).")

    # header_length: total octets of the header section (fields with their
    # CRLFs; the empty line ends the section and is not part of it).
    for total in (8191, 8192, 8193):
        name = "hlen_%d" % total
        headers = std_headers(name) + ["Content-Type: text/plain; charset=us-ascii"]
        used = sum(len(h) + 2 for h in headers)
        pads = []
        i = 0
        while total - used - sum(len(p) + 2 for p in pads) > 900:
            pads.append("X-Pad-%02d: %s" % (i, filler(890)))
            i += 1
        rest = total - used - sum(len(p) + 2 for p in pads) - 2
        last = "X-Last-Pad: " + filler(rest - len("X-Last-Pad: "))
        headers = headers + pads + [last]
        eml = message(headers, join_lines(["Header section of %d octets." % total]))
        assert eml.index(b"\r\n\r\n") + 2 == total, (total, eml.index(b"\r\n\r\n"))
        if total <= 8192:
            add(name, eml, note="Header section of %d octets (CRLFs included, empty line not)." % total)
        else:
            add(name, eml, [reject("header_length", total, "header:X-Last-Pad")], "reject",
                note="Header section of 8193 octets; the last field crosses 8192.")


# ---- body_length (corpus.yaml: 100k = 102400) -------------------------------

def body_length_cases():
    for total in (102399, 102400, 102401):
        name = "blen_%d" % total
        head = message(std_headers(name) + ["Content-Type: text/plain; charset=us-ascii"], b"")
        body = b""
        line = filler(76).encode()
        while len(head) + len(body) + len(line) + 2 <= total - 80:
            body += line + CRLF
        rest = total - len(head) - len(body) - 2
        body += filler(rest).encode() + CRLF
        eml = head + body
        assert len(eml) == total
        if total <= 102400:
            add(name, eml, note="Message of %d octets (header section, empty line and body)." % total)
        else:
            add(name, eml, [reject("body_length", total, "body")], "reject",
                note="Message of 102401 octets, one over 100k; found in the body.")

    name = "blen_size_102400"
    add(name, text_message(name, ["Declared size at the limit."]),
        args=envelope() + ["--mail-param", "SIZE=102400"],
        note="MAIL ... SIZE=102400: declared size at the limit.")
    name = "blen_size_102401"
    add(name, text_message(name, ["Declared size over the limit."]),
        [reject("body_length", 102401, "mail:SIZE")], "reject",
        args=envelope() + ["--mail-param", "SIZE=102401"],
        note="MAIL ... SIZE=102401: refused at MAIL from the declared size.")


# ---- body_line_length (998, log) ---------------------------------------------

def body_line_cases():
    for n in (998, 999):
        name = "bll_%d" % n
        eml = text_message(name, ["Hello,", "", "B" + filler(n - 1), "", "Bye"])
        if n == 998:
            add(name, eml, note="Body line of 998 octets.")
        else:
            add(name, eml, [body_line_log(999, 3)],
                note="Body line 3 is 999 octets: default action log, so a verdict line and "
                     "final accept, exit 0.")

    # Stored messages are not SMTP-dot-stuffed: a leading dot is one octet of the line.
    name = "bll_dot_998"
    line = ".." + filler(996)
    eml = text_message(name, ["Dots.", line, "."])
    add(name, eml, note="A line '..' + 996 octets = 998: the file is not dot-stuffed, both dots "
                        "count, 998 is the limit. A line holding only '.' is plain text here.")
    name = "bll_dot_999"
    line = "." + filler(998)
    eml = text_message(name, ["Dots.", line])
    add(name, eml, [body_line_log(999, 2)], note="A line '.' + 998 octets = 999.")

    # The last line has no line ending.
    for n in (998, 999):
        name = "bll_final_no_crlf_%d" % n
        eml = text_message(name, ["The last line has no CRLF."]) + b"E" + filler(n - 1).encode()
        if n == 998:
            add(name, eml, note="Final body line of 998 octets without a line ending.")
        else:
            add(name, eml, [body_line_log(999, 2)],
                note="Final body line of 999 octets without a line ending: still a line.")

    for n in (998, 999):
        name = "bll_lf_%d" % n
        eml = text_message(name, ["Bare LF.", "F" + filler(n - 1), "end"], eol=b"\n")
        if n == 998:
            add(name, eml, note="Bare LF endings, body line of 998 octets.")
        else:
            add(name, eml, [body_line_log(999, 2)],
                note="Bare LF endings, body line 2 is 999 octets (no CR to exclude).")

    name = "bll_utf8_999_octets"
    line = ("\u00e4" * 499 + "x").encode("utf-8")
    assert len(line) == 999
    eml = message(std_headers(name) + ["Content-Type: text/plain; charset=utf-8",
                                       "Content-Transfer-Encoding: 8bit"],
                  join_lines(["UTF-8 line:", line]))
    add(name, eml, [body_line_log(999, 2)], note="500 characters, 999 octets of UTF-8.")

    name = "bll_two_long"
    eml = text_message(name, ["First long line next.", "G" + filler(1499), "short",
                              "H" + filler(1199)])
    add(name, eml, [body_line_log(1500, 2)],
        note="Lines of 1500 (line 2) and 1200 (line 4): one verdict per message (message-scoped "
             "rules fire once per transaction); the first, which is also the longest.")


# ---- Envelope: sender length, special characters, command line, recipients --

def envelope_cases():
    def addr(n, domain="@example.org"):
        a = "s" * (n - len(domain)) + domain
        assert len(a) == n
        return a

    for n in (319, 320, 321):
        name = "env_sender_%d" % n
        eml = text_message(name, ["Sender address of %d octets." % n])
        if n <= 320:
            add(name, eml, args=envelope(frm=addr(n)),
                note="Envelope sender of %d octets; MAIL line 12+%d+2 < 512." % (n, n))
        else:
            add(name, eml, [reject("sender_address_length", 321, "mail")], "reject",
                args=envelope(frm=addr(n)), note="Envelope sender of 321 octets.")

    name = "env_pipe_from"
    add(name, text_message(name, ["Pipe in sender."]),
        [reject("special_characters", "0x7c", "mail", limit="")], "reject",
        args=envelope(frm="a|b@example.org"),
        note="'|' in MAIL FROM: special_characters (the measured value is the character).")

    name = "env_backquote_rcpt"
    add(name, text_message(name, ["Backquote in one recipient."]),
        [reject("special_characters", "0x60", "rcpt", limit="", rcpt="`id`@example.net")],
        args=envelope(rcpts=["`id`@example.net", "bob@example.net"]),
        note="Backquote in the first RCPT: that recipient is refused, the second is accepted, "
             "the message is delivered to it (final accept).")

    name = "env_backquote_only_rcpt"
    add(name, text_message(name, ["Backquote in the only recipient."]),
        [reject("special_characters", "0x60", "rcpt", limit="", rcpt="`id`@example.net")], "reject",
        args=envelope(rcpts=["`id`@example.net"]),
        note="The only recipient is refused: nothing is delivered (final reject).")

    # RCPT TO:<addr>CRLF = 10 + len(addr) + 2 octets.
    for n in (512, 513):
        name = "env_rcpt_cmd_%d" % n
        r = addr(n - 12, "@example.net")
        eml = text_message(name, ["RCPT command line of %d octets." % n])
        if n == 512:
            add(name, eml, args=envelope(rcpts=[r]), note="'RCPT TO:<...>' + CRLF = 512 octets.")
        else:
            add(name, eml, [reject("command_line_length", 513, "rcpt", rcpt=r)], "reject",
                args=envelope(rcpts=[r]),
                note="'RCPT TO:<...>' + CRLF = 513 octets; the only recipient is refused.")

    name = "env_rcpt_cmd_513_plus_good"
    eml = text_message(name, ["One long recipient, one good."])
    add(name, eml, [reject("command_line_length", 513, "rcpt", rcpt=addr(501, "@example.net"))],
        args=envelope(rcpts=[addr(501, "@example.net"), "bob@example.net"]),
        note="513-octet RCPT refused (command scope), the other recipient accepted: final accept.")

    # MAIL FROM:<alice@example.org> PARAM CRLF = 12 + 17 + 1 + len(PARAM) + 2.
    for n in (512, 513):
        name = "env_mail_param_%d" % n
        param = "ENVID=" + "E" * (n - 12 - 17 - 1 - 2 - len("ENVID="))
        assert 12 + len("alice@example.org") + 1 + len(param) + 2 == n
        eml = text_message(name, ["MAIL command line of %d octets." % n])
        if n == 512:
            add(name, eml, args=envelope() + ["--mail-param", param],
                note="'MAIL FROM:<alice@example.org> ENVID=...' + CRLF = 512 octets.")
        else:
            add(name, eml, [reject("command_line_length", 513, "mail")], "reject",
                args=envelope() + ["--mail-param", param],
                note="'MAIL FROM:<alice@example.org> ENVID=...' + CRLF = 513 octets.")

    def rcpts(n):
        return ["user%03d@example.net" % i for i in range(1, n + 1)]

    name = "env_rcpt_100"
    add(name, text_message(name, ["100 recipients."]), args=envelope(rcpts=rcpts(100)),
        note="100 recipients: at the limit.")
    name = "env_rcpt_101"
    add(name, text_message(name, ["101 recipients."]),
        [verdict("tempfail", "recipient_count", 101, None, "rcpt", rcpt="user101@example.net")],
        args=envelope(rcpts=rcpts(101)),
        note="101 recipients: the 101st gets 452 (tempfail, command scope), the message goes "
             "to the 100 accepted ones: final accept.")
    name = "env_rcpt_102"
    add(name, text_message(name, ["102 recipients."]),
        [verdict("tempfail", "recipient_count", 101, None, "rcpt", rcpt="user%03d@example.net" % i)
         for i in (101, 102)],
        args=envelope(rcpts=rcpts(102)),
        note="102 recipients: 452 for each of the two extra ones. Each would have been the "
             "101st accepted (the 101st was refused), so actual=101 both times.")

    name = "env_sender_pattern"
    add(name, text_message(name, ["Listed sender."]),
        [reject("sender_address", "Bulk@SPAM.example", "mail", limit="*@spam.example")], "reject",
        args=envelope(frm="Bulk@SPAM.example"),
        note="sender_address glob *@spam.example (corpus.yaml) matches case-insensitively.")


# ---- mime_filename_length (255) -----------------------------------------------

def disposition(value):
    return "Content-Disposition: attachment; " + value


def filename_length_cases():
    # Plain names in Content-Disposition only.
    for n in (254, 255, 256):
        name = "mfl_plain_%d" % n
        fn = "R" + filler(n - 5, "quarterly-report-") + ".txt"
        fn = fn.replace(" ", "-")
        assert len(fn) == n
        eml = attachment_message(name, ["Content-Type: text/plain; charset=us-ascii",
                                        disposition('filename="%s"' % fn)])
        if n <= 255:
            add(name, eml, note="filename= of %d octets." % n)
        else:
            add(name, eml, [filename_too_long(fn, "2", "filename")], "reject",
                note="filename= of 256 octets in part 2.")

    # RFC 2231 single extended value, UTF-8: each a-umlaut is 2 octets.
    for label, s in (("255", "\u00e4" * 127 + "a"), ("256", "\u00e4" * 128)):
        name = "mfl_2231_single_" + label
        b = s.encode("utf-8")
        assert len(b) == int(label)
        eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                        disposition("filename*=utf-8''" + pct(b))])
        if label == "255":
            add(name, eml, note="filename*=utf-8''%C3%A4... decoding to 255 octets (127 x U+00E4 + 'a').")
        else:
            add(name, eml, [filename_too_long(b, "2", "filename")], "reject",
                note="filename*=utf-8''%C3%A4 x 128: 384 characters raw, 256 octets decoded.")

    # RFC 2231 continuations with a charset: segments 0* and 1* encoded, 2 plain.
    name = "mfl_2231_cont_charset"
    seg0 = ("\u00e4" * 60).encode("utf-8")       # 120 octets
    seg1 = ("\u00f6" * 60).encode("utf-8")       # 120 octets
    seg2 = "-appendix.pdf"                        # 13 octets
    full = seg0 + seg1 + seg2.encode()
    assert len(full) == 253
    eml = attachment_message(name, ["Content-Type: application/pdf",
                                    "Content-Disposition: attachment;",
                                    " filename*0*=utf-8''" + pct(seg0) + ";",
                                    " filename*1*=" + pct(seg1) + ";",
                                    ' filename*2="%s"' % seg2])
    add(name, eml, note="filename*0*=utf-8''...; filename*1*=...; filename*2=\"...\": "
                        "120 + 120 + 13 = 253 octets decoded, under 255 (raw it is ~750).")

    name = "mfl_2231_cont_charset_over"
    seg2 = "-appendix-2026.pdf"
    full = seg0 + seg1 + seg2.encode()
    assert len(full) == 258
    eml = attachment_message(name, ["Content-Type: application/pdf",
                                    "Content-Disposition: attachment;",
                                    " filename*0*=utf-8''" + pct(seg0) + ";",
                                    " filename*1*=" + pct(seg1) + ";",
                                    ' filename*2="%s"' % seg2])
    add(name, eml, [filename_too_long(full, "2", "filename")], "reject",
        note="Same shape, 120 + 120 + 18 = 258 octets decoded.")

    # Continuations without a charset: plain segments concatenated.
    name = "mfl_2231_cont_plain_256"
    segs = ["S0-" + filler(97, "plain-segment-zero-"), "S1-" + filler(97, "plain-segment-one-"),
            "S2-" + filler(49, "plain-segment-two-") + ".txt"]
    full = "".join(segs)
    assert len(full) == 256, len(full)
    eml = attachment_message(name, ["Content-Type: text/plain",
                                    "Content-Disposition: attachment;"] +
                             [' filename*%d="%s"%s' % (i, s, ";" if i < 2 else "")
                              for i, s in enumerate(segs)])
    add(name, eml, [filename_too_long(full, "2", "filename")], "reject",
        note="filename*0=\"...\"; filename*1=...; filename*2=... (no charset, no '*'): "
             "100 + 100 + 56 = 256 octets.")

    # Out-of-order segments: the name is assembled 0, 1, 2.
    name = "mfl_2231_out_of_order"
    order = [2, 0, 1]
    eml = attachment_message(name, ["Content-Type: text/plain",
                                    "Content-Disposition: attachment;"] +
                             [' filename*%d="%s"%s' % (i, segs[i], ";" if k < 2 else "")
                              for k, i in enumerate(order)])
    add(name, eml, [filename_too_long(full, "2", "filename")], "reject",
        note="The same three segments written in the order 2, 0, 1: assembled by index "
             "(the detail shows the name starting with segment 0).")

    # ISO-8859-1: each e-acute is one octet raw, two octets in UTF-8.
    for label, s in (("255", "\u00e9" * 127 + "a"), ("400", "\u00e9" * 200)):
        name = "mfl_latin1_" + label
        raw = s.encode("iso-8859-1")
        utf8 = s.encode("utf-8")
        assert len(utf8) == int(label)
        eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                        disposition("filename*=iso-8859-1''" + pct(raw))])
        if label == "255":
            add(name, eml, note="filename*=iso-8859-1''%E9 x 127 + 'a': 128 octets raw, "
                                "255 octets of UTF-8.")
        else:
            add(name, eml, [filename_too_long(utf8, "2", "filename")], "reject",
                note="filename*=iso-8859-1''%E9 x 200: 200 octets raw, 400 octets of UTF-8.")

    # RFC 2047 inside quotes.
    name = "mfl_2047_b_name_256"
    fn = ("\u00fc" * 100 + "-" + filler(51, "bericht") + ".pdf").encode("utf-8")
    assert len(fn) == 256
    eml = attachment_message(name, ['Content-Type: application/pdf; name="%s"' % enc_word_b("UTF-8", fn)])
    add(name, eml, [filename_too_long(fn, "2", "name")], "reject",
        note="Content-Type name=\"=?UTF-8?B?...?=\" (one encoded word) decoding to 256 octets; "
             "no Content-Disposition, so source name.")

    name = "mfl_2047_q_filename_256"
    chunks = [("\u00e9" * 16).encode("iso-8859-1")] * 8  # 128 x e-acute = 256 UTF-8 octets
    words = [enc_word_q("ISO-8859-1", c) for c in chunks]
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    "Content-Disposition: attachment;",
                                    ' filename="' + words[0]] + ["\t" + w for w in words[1:-1]] +
                             ["\t" + words[-1] + '"'])
    full = ("\u00e9" * 128).encode("utf-8")
    add(name, eml, [filename_too_long(full, "2", "filename")], "reject",
        note="Content-Disposition filename=\"=?ISO-8859-1?Q?=E9...?= ...\": 8 adjacent Q words "
             "folded inside the quotes, 128 x U+00E9 = 256 octets of UTF-8.")

    # Adjacent encoded words: the white space between them is not part of the name.
    name = "mfl_2047_adjacent_255"
    fn = ("\u65e5\u672c" * 41).encode("utf-8") + b"x" * (255 - 246 - 6) + b"ab.pdf"
    assert len(fn) == 255
    # 30 octets = 10 CJK characters; every word holds whole characters.
    pieces = [fn[i:i + 30] for i in range(0, 240, 30)] + [fn[240:246], fn[246:]]
    assert b"".join(pieces) == fn
    words = [enc_word_b("UTF-8", p) for p in pieces]
    eml = attachment_message(name, ['Content-Type: application/pdf; name="' + " ".join(words) + '"',
                                    'Content-Disposition: attachment; filename="' +
                                    "\r\n ".join(words) + '"'])
    add(name, eml, note="%d adjacent B words separated by a space (name=) and by folding "
                        "(filename=): 255 octets once the white space between encoded words is "
                        "dropped (RFC 2047 section 6.2); keeping it would make %d."
                        % (len(words), 255 + len(words) - 1))

    # Undecodable names are measured raw.
    name = "mfl_undecodable_charset"
    data = b"a" * 150
    raw = enc_word_b("x-no-such-charset", data)
    assert len(raw) == 2 + 17 + 3 + 200 + 2 == 224
    raw = " ".join([raw, enc_word_b("x-no-such-charset", b"b" * 30)])
    assert len(raw) == 224 + 1 + 64
    eml = attachment_message(name, ['Content-Type: application/octet-stream; name="%s"' % raw])
    add(name, eml, [filename_too_long(raw, "2", "name", undecodable=True)], "reject",
        note="name=\"=?x-no-such-charset?B?...?= =?x-no-such-charset?B?...?=\": unknown charset; "
             "the raw value, 289 octets, is measured (decoded it would be 180). Detail says "
             "undecodable.")

    name = "mfl_undecodable_base64"
    raw = "=?UTF-8?B?" + "!!" + base64.b64encode(b"c" * 200).decode() + "?="
    assert len(raw) == 10 + 2 + 268 + 2 == 282
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="%s"' % raw])
    add(name, eml, [filename_too_long(raw, "2", "filename", undecodable=True)], "reject",
        note="filename=\"=?UTF-8?B?!!...?=\": broken base64; measured raw (282 octets).")

    name = "mfl_undecodable_short"
    raw = enc_word_b("x-no-such-charset", b"short name.txt")
    eml = attachment_message(name, ['Content-Type: application/octet-stream; name="%s"' % raw])
    add(name, eml, note="Undecodable but short (%d octets raw): nothing to report." % len(raw))

    name = "mfl_undecodable_2231"
    fn = b"\xe9" * 100
    value = "x-no-such-charset''" + pct(fn)
    assert len(value) == 19 + 300
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    disposition("filename*=" + value)])
    add(name, eml, [filename_too_long(value, "2", "filename", undecodable=True)], "reject",
        note="filename*=x-no-such-charset''%E9 x 100: charset unknown, so the raw value "
             "(319 octets) is measured; decoded it would have been 100-200.")

    # Both a plain fallback and an RFC 2231 value: clients show the RFC 2231 one.
    name = "mfl_2231_and_plain"
    fn = ("\u00e4" * 150).encode("utf-8")
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="short.bin"; '
                                    "filename*=utf-8''" + pct(fn)])
    add(name, eml, [filename_too_long(fn, "2", "filename")], "reject",
        note="filename=\"short.bin\"; filename*=utf-8''<300 octets>: the RFC 2231 value is the "
             "attachment's name (RFC 2231 / RFC 6266: filename* wins).")

    # Raw 8-bit names (no RFC 2231/2047).
    name = "mfl_raw_utf8_256"
    fn = ("\u00e4" * 128).encode("utf-8")
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="b-%s"' % name],
                  multipart_body("b-" + name, [text_part(), attachment_part(
                      [b"Content-Type: application/octet-stream",
                       b'Content-Disposition: attachment; filename="' + fn + b'"'])]))
    add(name, eml, [filename_too_long(fn, "2", "filename")], "reject",
        note="Raw UTF-8 filename (RFC 6532 style), 128 x U+00E4 = 256 octets: valid UTF-8, "
             "so decoded as is.")

    name = "mfl_raw_latin1_256"
    fn = b"\xe9" * 256
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="b-%s"' % name],
                  multipart_body("b-" + name, [text_part(), attachment_part(
                      [b"Content-Type: application/octet-stream",
                       b'Content-Disposition: attachment; filename="' + fn + b'"'])]))
    add(name, eml, [filename_too_long(fn, "2", "filename", undecodable=True)], "reject",
        note="Raw ISO-8859-1 octets (256 x 0xE9) with no charset label: not UTF-8 and not "
             "decodable, so measured raw (256) and logged as undecodable (esmtp-inspect.yaml(5), RULES).")

    # Filename in the top-level header of a single-part message.
    name = "mfl_root_256"
    fn = "T" + filler(251, "top-level-attachment-") .replace(" ", "_") + ".txt"
    assert len(fn) == 256
    headers = std_headers(name) + ["Content-Type: text/plain; charset=us-ascii",
                                   'Content-Disposition: attachment; filename="%s"' % fn]
    add(name, message(headers, join_lines(["A single-part attachment."])),
        [filename_too_long(fn, "root", "filename")], "reject",
        note="Single-part message whose own header names a 256-octet file: where=mime:root.")


# ---- mime_filename patterns and mime_encoding deny list (corpus.yaml) ----------

def filename_pattern_cases():
    name = "mfn_exe"
    eml = attachment_message(name, ['Content-Type: application/x-msdownload; name="invoice.exe"',
                                    'Content-Disposition: attachment; filename="invoice.exe"'])
    add(name, eml, [filename_denied("invoice.exe", "*.exe", "2", "name")], "reject",
        note="invoice.exe matches *.exe; Content-Type name= comes first.")

    name = "mfn_exe_uppercase"
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="INVOICE.EXE"'])
    add(name, eml, [filename_denied("INVOICE.EXE", "*.exe", "2", "filename")], "reject",
        note="Globs are case-insensitive.")

    name = "mfn_scr_second_pattern"
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="screensaver.scr"'])
    add(name, eml, [filename_denied("screensaver.scr", "*.scr", "2", "filename")], "reject",
        note="The second pattern, *.scr; limit= names the pattern that matched.")

    name = "mfn_re_js"
    eml = attachment_message(name, ['Content-Type: text/javascript; name="report.pdf.JS"'])
    add(name, eml, [filename_denied("report.pdf.JS", "re:(?i)\\.(js|vbs)$", "2", "name")], "reject",
        note="report.pdf.JS matches re:(?i)\\.(js|vbs)$ (the limit is quoted: it has a backslash).")

    name = "mfn_2047_exe"
    eml = attachment_message(name, ['Content-Type: application/octet-stream; name="%s"'
                                    % enc_word_b("UTF-8", b"invoice.exe")])
    add(name, eml, [filename_denied("invoice.exe", "*.exe", "2", "name")], "reject",
        note="name=\"=?UTF-8?B?aW52b2ljZS5leGU=?=\": matched after decoding.")

    name = "mfn_2231_split_exe"
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename*0="invoice.e"; '
                                    'filename*1="xe"'])
    add(name, eml, [filename_denied("invoice.exe", "*.exe", "2", "filename")], "reject",
        note="filename*0=\"invoice.e\"; filename*1=\"xe\": matched after assembling.")

    name = "mfn_not_matching"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [text_part(),
                                     attachment_part(['Content-Type: text/plain; name="setup.exe.txt"']),
                                     attachment_part(['Content-Type: text/plain; name="notes.vbs.txt"']),
                                     attachment_part(['Content-Type: text/plain; name="exe"']),
                                     attachment_part(['Content-Type: text/plain; name="js"'])]))
    add(name, eml, note="setup.exe.txt, notes.vbs.txt, exe, js: globs match the whole name, the "
                        "RE2 pattern is anchored with $; none matches.")

    name = "menc_x_uuencode_part"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [text_part(), part(
                      ['Content-Type: application/octet-stream; name="data.bin"',
                       "Content-Transfer-Encoding: X-UUencode"],
                      ["begin 644 data.bin", "#86)C", "`", "end"])]))
    add(name, eml, [reject("mime_encoding", "x-uuencode", "mime:2", limit="x-uuencode")], "reject",
        note="Part 2 Content-Transfer-Encoding: X-UUencode, in the deny list (case-insensitive).")

    name = "menc_root_uuencode"
    headers = std_headers(name) + ["Content-Type: text/plain", "Content-Transfer-Encoding: UUENCODE"]
    add(name, message(headers, join_lines(["begin 644 a.txt", "#86)C", "`", "end"])),
        [reject("mime_encoding", "uuencode", "mime:root", limit="uuencode")], "reject",
        note="The top-level Content-Transfer-Encoding: UUENCODE: where=mime:root.")

    name = "menc_allowed"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [
                      part(["Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable"],
                           ["caf=C3=A9"]),
                      part(["Content-Type: text/plain", "Content-Transfer-Encoding: 8bit"],
                           ["caf\u00e9".encode()]),
                      attachment_part(['Content-Type: application/octet-stream; name="a.bin"'])]))
    add(name, eml, note="quoted-printable, 8bit and base64 are not in the deny list.")


# ---- mime_structure ----------------------------------------------------------

def nested(depth_multiparts, leaf=("Deepest part.",)):
    """`depth_multiparts` nested multipart/mixed entities: the root and each
    part 1 below it. Returns the root's Content-Type header and body."""
    def body(level):
        b = "d%03d" % level
        if level == depth_multiparts - 1:
            inner = text_part(leaf)
        else:
            inner = part(['Content-Type: multipart/mixed; boundary="d%03d"' % (level + 1)],
                         []) + body(level + 1)
        return multipart_body(b, [inner], preamble=())
    return 'Content-Type: multipart/mixed; boundary="d000"', body(0)


def structure_cases():
    # Depth: the root is depth 0, its parts depth 1, ... 20 multiparts put the
    # leaf at depth 20 (allowed); 21 put it at 21.
    for n, label in ((20, "mstr_depth_20"), (21, "mstr_depth_21"), (200, "mstr_depth_200")):
        ctype, body = nested(n)
        eml = message(std_headers(label) + [ctype], body)
        if n == 20:
            add(label, eml, note="20 nested multiparts: the leaf is at depth 20, the limit.")
        else:
            add(label, eml, [structure(21, "max_depth", ".".join(["1"] * 20))], "reject",
                note="%d nested multiparts: the multipart at depth 20 (part %s) would put its "
                     "parts at depth 21." % (n, ".".join(["1"] * 20)))

    # message/rfc822 nesting counts too: each forward adds a message/rfc822
    # part and the multipart inside it.
    name = "mstr_rfc822_chain"
    levels = 15

    def fwd(k):
        b = "f%02d" % k
        if k == levels:
            inner = text_part(["The original message."])
        else:
            inner = part(["Content-Type: message/rfc822"],
                         ["From: Forwarder %d <fwd%d@example.org>" % (k, k),
                          "Subject: Fwd level %d" % (k + 1),
                          "MIME-Version: 1.0",
                          'Content-Type: multipart/mixed; boundary="f%02d"' % (k + 1), ""]) + fwd(k + 1)
        return multipart_body(b, [text_part(["Forwarded."]), inner] if k < levels else [inner],
                              preamble=())
    # Root multipart f00 (depth 0); its part 2 is message/rfc822 (depth 1), the
    # message inside is a multipart (depth 2) whose part 2 is message/rfc822
    # (depth 3) ... the multipart at depth 20 is inside 10 forwards: part 2.2...2.
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="f00"'], fwd(0))
    add(name, eml, [structure(21, "max_depth", ".".join(["2"] * 10))], "reject",
        note="15 nested forwards (multipart > message/rfc822 > multipart > ...): each "
             "message/rfc822 and each multipart is a level; the multipart inside the 10th "
             "message/rfc822 (part 2.2.2.2.2.2.2.2.2.2, depth 20) would nest deeper.")

    # Part count.
    for n in (1000, 1001):
        name = "mstr_parts_%d" % n
        b = "p"
        parts = [part(["Content-Type: text/plain"], ["%d" % i]) for i in range(1, n + 1)]
        eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="p"'],
                      multipart_body(b, parts))
        if n == 1000:
            add(name, eml, note="1000 parts.")
        else:
            add(name, eml, [structure(1001, "max_parts", "1001")], "reject",
                note="1001 parts: the 1001st (mime:1001) is one too many.")

    name = "mstr_parts_nested"
    leaves = [part(["Content-Type: text/plain"], ["%d" % i]) for i in range(1, 501)]
    sub1 = part(['Content-Type: multipart/mixed; boundary="q1"'], []) + multipart_body("q1", leaves, preamble=())
    sub2 = part(['Content-Type: multipart/mixed; boundary="q2"'], []) + multipart_body("q2", leaves, preamble=())
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="q0"'],
                  multipart_body("q0", [sub1, sub2]))
    add(name, eml, [structure(1001, "max_parts", "2.499")], "reject",
        note="Two multiparts of 500 parts each: 1002 parts in all, counted at every depth "
             "in order 1, 1.1..1.500, 2, 2.1..; the 1001st is 2.499.")

    # Boundary length.
    for n in (70, 71):
        name = "mstr_boundary_%d" % n
        b = ("=_Part_%d_" % n + filler(n, "0123456789abcdefghij"))[:n].replace(" ", "-")
        assert len(b) == n
        eml = message(std_headers(name) + ['Content-Type: multipart/mixed;', ' boundary="%s"' % b],
                      multipart_body(b, [text_part(["Boundary of %d octets." % n])]))
        if n == 70:
            add(name, eml, note="A 70-octet boundary (the RFC 2046 maximum).")
        else:
            add(name, eml, [structure(71, "max_boundary_length", "root")], "reject",
                note="A 71-octet boundary on the top-level multipart.")

    name = "mstr_boundary_71_nested"
    b = "N" * 71
    inner = part(['Content-Type: multipart/alternative; boundary="%s"' % b], []) + \
        multipart_body(b, [text_part(["inner"])], preamble=())
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="outer"'],
                  multipart_body("outer", [text_part(), inner]))
    add(name, eml, [structure(71, "max_boundary_length", "2")], "reject",
        note="A 71-octet boundary on part 2.")

    # Part header section size. The section is the header fields with their
    # CRLFs; the empty line after it separates it from the body (as for the
    # message header and header_length) and is not part of it.
    for total in (65536, 65537):
        name = "mstr_part_header_%d" % total
        first = "Content-Type: application/octet-stream"
        last = 'Content-Disposition: attachment; filename="big-header.bin"'
        fields = [first]
        used = len(first) + 2 + len(last) + 2
        i = 0
        while total - used > 200:
            line = "X-Pad-%05d: %s" % (i, filler(86))
            fields.append(line)
            used += len(line) + 2
            i += 1
        fields.append("X-Pad-End: " + filler(total - used - 2 - len("X-Pad-End: ")))
        fields.append(last)
        assert sum(len(f) + 2 for f in fields) == total
        assert max(len(f) for f in fields) < 998
        b = "=_corpus_" + name
        eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                      multipart_body(b, [text_part(), part(fields, ["payload"])]))
        if total == 65536:
            add(name, eml, note="Part 2 has a header section of exactly 65536 octets "
                                "(fields and their CRLFs; the empty line after it not counted).")
        else:
            add(name, eml, [structure(65537, "max_part_header_bytes", "2")], "reject",
                note="Part 2 header section of 65537 octets: the last field's CRLF crosses 64k.")


# ---- Malformed MIME (generated ones; more are hand-written) --------------------

def lcg_bytes(n, seed, exclude=b"\r\n"):
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        c = 0x80 | ((x >> 16) & 0x7F) if (x >> 8) & 1 else (x >> 16) & 0xFF
        if c not in exclude and c != 0:
            out.append(c)
    return bytes(out)


def malformed_cases():
    name = "mal_8bit_garbage"
    b = "=_corpus_" + name
    garbage = [lcg_bytes(76, 7 + i, exclude=b"\r\n-") for i in range(40)]
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [
                      part(["Content-Type: text/plain; charset=unknown-8bit",
                            b"X-Junk: " + lcg_bytes(60, 99, exclude=b"\r\n"),
                            "Content-Transfer-Encoding: 8bit"], garbage),
                      part(["Content-Type: application/octet-stream; name=\"ok.bin\"",
                            "Content-Transfer-Encoding: binary"], garbage[::-1])],
                      preamble=[lcg_bytes(50, 3, exclude=b"\r\n-")]))
    add(name, eml, note="8-bit garbage in the preamble, a part header value and two part "
                        "bodies; lines under 998, no names or encodings that match: accept.")

    name = "mal_nul_bytes"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [
                      part(["Content-Type: text/plain", b"X-Nul: a\x00b"],
                           [b"text with a NUL \x00 in it", b"\x00\x00\x00", b"--\x00" + b.encode()]),
                      part(['Content-Type: application/octet-stream; name="nul.bin"',
                            "Content-Transfer-Encoding: binary"], [b"\x00" * 100]),
                      attachment_part(['Content-Type: application/x-msdownload; name="payload.exe"'])]))
    add(name, eml, [filename_denied("payload.exe", "*.exe", "3", "name")], "reject",
        note="NUL octets in a part header, in text, in a binary part and in a line that looks "
             "like a delimiter but is not; scanning goes on: part 3 payload.exe is found.")

    # Base64 bodies: the boundary is made of base64 characters and appears in
    # the base64 text, but never as '--boundary' at the start of a line.
    name = "mal_boundary_in_base64"
    b = "QUJDREVG"
    data = b"ABCDEF" * 200  # base64 text contains QUJDREVG over and over
    lines = b64_lines(data)
    assert all(b in l for l in lines[:-1])
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary=%s' % b],
                  multipart_body(b, [text_part(),
                                     part(['Content-Type: application/octet-stream; name="abc.bin"',
                                           "Content-Transfer-Encoding: base64"],
                                          lines + [b + "==", "-" + b, b + "--"]),
                                     attachment_part(['Content-Type: application/octet-stream; name="tool.exe"'])]))
    add(name, eml, [filename_denied("tool.exe", "*.exe", "3", "name")], "reject",
        note="Boundary QUJDREVG occurs inside every base64 line of part 2 and in lines "
             "'QUJDREVG==', '-QUJDREVG', 'QUJDREVG--' that are not delimiters; part numbering is "
             "unaffected, tool.exe is part 3.")

    name = "mal_no_boundary"
    eml = message(std_headers(name) + ["Content-Type: multipart/mixed"],
                  join_lines(["--x", 'Content-Type: application/octet-stream; name="hidden.exe"', "",
                              "AAAA", "--x--"]))
    add(name, eml, note="multipart/mixed without a boundary parameter: the body cannot be split "
                        "into parts (no client can show hidden.exe as an attachment); it is "
                        "opaque text: accept.")


# ---- Real-world shapes (built with the email package) ---------------------------

def pdf_bytes(title):
    return ("%%PDF-1.4\n1 0 obj << /Title (%s) >> endobj\n" % title).encode() + bytes(range(256)) + b"\n%%EOF\n"


def outlook(name, att_name_header, att_disp_header):
    text = ("Hi team,\n\nPlease find the Q3 report attached.\n\nBest regards,\nJohn Doe\n"
            "Contoso Ltd.\n")
    html = ("<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head>"
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=us-ascii\"></head>"
            "<body lang=\"EN-US\"><div class=\"WordSection1\"><p class=\"MsoNormal\">Hi team,"
            "<o:p></o:p></p><p class=\"MsoNormal\">Please find the Q3 report attached.<o:p></o:p>"
            "</p></div></body></html>\n")
    alt = MIMEMultipart("alternative", boundary="_000_DM6PR11MB41070D2E1A2B3C4D5E6F7A8BDM6PR11MB4107namp_")
    alt.attach(qp_text(text, "plain", "us-ascii"))
    alt.attach(qp_text(html, "html", "us-ascii"))
    att = MIMEApplication(pdf_bytes("Q3"), "pdf")
    del att["Content-Type"]
    att["Content-Type"] = att_name_header
    att["Content-Description"] = "Quarterly Report Q3 2026.pdf"
    att["Content-Disposition"] = att_disp_header
    root = MIMEMultipart("mixed", boundary="_004_DM6PR11MB41070D2E1A2B3C4D5E6F7A8BDM6PR11MB4107namp_")
    root.attach(alt)
    root.attach(att)
    root["From"] = "John Doe <john.doe@contoso.example>"
    root["To"] = "Team <team@example.net>"
    root["Subject"] = "Q3 report"
    root["Thread-Topic"] = "Q3 report"
    root["Thread-Index"] = "AdnB2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B=="
    root["Date"] = DATE
    root["Message-ID"] = "<DM6PR11MB41070D2E%s@DM6PR11MB4107.namprd11.prod.outlook.example>" % name
    root["Accept-Language"] = "en-US"
    root["Content-Language"] = "en-US"
    root["X-MS-Has-Attach"] = "yes"
    root["X-MS-TNEF-Correlator"] = ""
    strip_part_mime_version(root)
    return serialize(root, ["From", "To", "Subject", "Thread-Topic", "Thread-Index", "Date",
                            "Message-ID", "Accept-Language", "Content-Language", "X-MS-Has-Attach",
                            "X-MS-TNEF-Correlator", "Content-Type", "MIME-Version"])


OUTLOOK_ENV = envelope(frm="john.doe@contoso.example", rcpts=["team@example.net"],
                       client="203.0.113.25", helo="mail.contoso.example")


def realworld_cases():
    name = "rw_outlook"
    fn = "Quarterly Report Q3 2026.pdf"
    eml = outlook(name, 'application/pdf; name="%s"' % fn,
                  'attachment; filename="%s"; size=%d;\r\n\tcreation-date="%s";\r\n\t'
                  'modification-date="%s"' % (fn, len(pdf_bytes("Q3")), DATE, DATE))
    add(name, eml, args=OUTLOOK_ENV,
        note="Outlook: multipart/mixed > multipart/alternative (text/plain + text/html, QP) "
             "+ a PDF with name= and filename=: accept.")

    # Outlook writes non-ASCII names as RFC 2047 words inside the quotes, folded.
    for label, extra in (("255", b""), ("256", b"x")):
        name = "rw_outlook_2047_" + label
        fn = ("\u62a5\u544a\u66f8" * 27 + "\u62a5\u544a").encode("utf-8") + b"Q3.pdf" + extra
        assert len(fn) == int(label)
        cut = [0, 45, 90, 135, 180, 225, len(fn)]  # on character boundaries (3-octet characters)
        words = [enc_word_b("utf-8", fn[a:b]) for a, b in zip(cut, cut[1:])]
        value = "\r\n\t".join(words)
        eml = outlook(name, 'application/pdf;\r\n\tname="%s"' % value,
                      'attachment;\r\n\tfilename="%s"; size=%d' % (value, len(pdf_bytes("Q3"))))
        if label == "255":
            add(name, eml, args=OUTLOOK_ENV,
                note="Outlook-style name=/filename= of 6 =?utf-8?B?...?= words folded inside the "
                     "quotes: 83 CJK characters (249 octets) + 'Q3.pdf' = 255 octets.")
        else:
            add(name, eml, [filename_too_long(fn, "2", "name")], "reject", args=OUTLOOK_ENV,
                note="Same as rw_outlook_2047_255 with one more octet: 256; name= comes first.")

    # Apple Mail: RFC 2231 continuations, inline disposition, Apple boundaries.
    name = "rw_apple_mail"
    fn = ("Fotos vom Ausflug nach M\u00fcnchen und Salzburg im Sommer " * 5).encode("utf-8")[:244] + b"x.jpeg"
    assert len(fn) == 250 and fn.decode("utf-8")
    segs = [fn[i:i + 60] for i in range(0, len(fn), 60)]
    img = MIMEApplication(bytes(range(256)) * 3, "octet-stream")
    del img["Content-Type"]
    img["Content-Type"] = "image/jpeg;\r\n\tx-unix-mode=0644;\r\n\t" + ";\r\n\t".join(
        "name*%d*=%s%s" % (i, "utf-8''" if i == 0 else "", pct(s)) for i, s in enumerate(segs))
    img["Content-Disposition"] = "inline;\r\n\t" + ";\r\n\t".join(
        "filename*%d*=%s%s" % (i, "utf-8''" if i == 0 else "", pct(s)) for i, s in enumerate(segs))
    img["Content-Id"] = "<5A7C7E1F-1B2C-4D3E-8F9A-0B1C2D3E4F5A>"
    mixed = MIMEMultipart("mixed", boundary="Apple-Mail=_B9E1A0C2-3D4E-4F50-8A6B-7C8D9E0F1A2B")
    mixed.attach(qp_text("Hallo Bob,\n\nhier die Fotos.\n\n", "plain", "utf-8"))
    mixed.attach(img)
    mixed.attach(qp_text("\nLiebe Gr\u00fc\u00dfe\nAlice\n", "plain", "utf-8"))
    root = MIMEMultipart("alternative", boundary="Apple-Mail=_5A7C7E1F-1B2C-4D3E-8F9A-0B1C2D3E4F5A")
    root.attach(qp_text("Hallo Bob,\n\nhier die Fotos.\n\nLiebe Gr\u00fc\u00dfe\nAlice\n", "plain", "utf-8"))
    root.attach(mixed)
    root["From"] = "Alice Example <alice@example.org>"
    root["Subject"] = "Fotos"
    root["Date"] = DATE
    root["Message-Id"] = "<7D1E2F3A-4B5C-6D7E-8F90-A1B2C3D4E5F6@example.org>"
    root["To"] = "Bob Example <bob@example.net>"
    root["X-Mailer"] = "Apple Mail (2.3774.200.91.1.1)"
    strip_part_mime_version(root)
    eml = serialize(root, ["Content-Type", "Mime-Version", "Subject", "From", "Date", "Message-Id",
                           "To", "X-Mailer"])
    add(name, eml, args=envelope(),
        note="Apple Mail: multipart/alternative > text/plain + multipart/mixed (text, inline "
             "image, text); the image names itself with name*0*=utf-8''... and "
             "filename*0*=utf-8''... continuations decoding to 250 octets: accept.")

    # Thunderbird: mbox "From - " line, format=flowed, RFC 2231 name of 300 octets.
    name = "rw_thunderbird"
    fn = ("Protokoll der Mitgliederversammlung \u00fcber die Beitr\u00e4ge " * 6).encode("utf-8")[:296] + b".odt"
    assert len(fn) == 300 and fn.decode("utf-8")
    segs = [fn[i:i + 50] for i in range(0, len(fn), 50)]
    att = MIMEApplication(b"PK\x03\x04" + bytes(range(200)), "vnd.oasis.opendocument.text")
    del att["Content-Type"]
    att["Content-Type"] = "application/vnd.oasis.opendocument.text;\r\n " + ";\r\n ".join(
        "name*%d*=%s%s" % (i, "UTF-8''" if i == 0 else "", pct(s)) for i, s in enumerate(segs))
    att["Content-Disposition"] = "attachment;\r\n " + ";\r\n ".join(
        "filename*%d*=%s%s" % (i, "UTF-8''" if i == 0 else "", pct(s)) for i, s in enumerate(segs))
    cs8 = email_charset.Charset("utf-8")
    cs8.body_encoding = None  # 8bit, as Thunderbird sends it
    txt = MIMEText("Hallo,\n\nanbei das Protokoll.\n\nViele Gr\u00fc\u00dfe\nAlice\n", "plain", cs8)
    txt.set_param("format", "flowed")
    root = MIMEMultipart("mixed", boundary="------------0a1B2c3D4e5F6g7H8i9J0k1L")
    root.preamble = "This is a multi-part message in MIME format."
    root.attach(txt)
    root.attach(att)
    root["Message-ID"] = "<0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d@example.org>"
    root["Date"] = DATE
    root["User-Agent"] = "Mozilla Thunderbird"
    root["Content-Language"] = "de-DE"
    root["To"] = "Vorstand <vorstand@example.net>"
    root["From"] = "Alice Example <alice@example.org>"
    root["Subject"] = "Protokoll"
    strip_part_mime_version(root)
    eml = b"From - Mon Nov 23 10:00:00 2026\r\nX-Mozilla-Status: 0001\r\nX-Mozilla-Status2: 00000000\r\n" + \
        serialize(root, ["Message-ID", "Date", "MIME-Version", "User-Agent", "Content-Language",
                         "To", "From", "Subject", "Content-Type"])
    add(name, eml, [filename_too_long(fn, "2", "name")], "reject",
        args=envelope(rcpts=["vorstand@example.net"]),
        note="Thunderbird mbox copy (leading 'From - ' line), format=flowed text, an .odt whose "
             "name*N*= and filename*N*= continuations decode to 300 octets: rejected at part 2, "
             "name= (Content-Type) first.")

    # Mailing-list digest (Mailman MIME digest).
    for label, exe in (("rw_digest", False), ("rw_digest_exe", True)):
        msgs = []
        for i in range(1, 4):
            inner_headers = ["From: Member %d <member%d@example.com>" % (i, i),
                             "To: list@lists.example.org",
                             "Subject: Re: [List] Topic %d" % i,
                             "Date: " + DATE,
                             "Message-ID: <digest-%d@example.com>" % i]
            if exe and i == 3:
                ib = "inner-%d" % i
                inner = join_lines(inner_headers + ["MIME-Version: 1.0",
                                                    'Content-Type: multipart/mixed; boundary="%s"' % ib, ""]) + \
                    multipart_body(ib, [text_part(["Try this tool."]),
                                        attachment_part(['Content-Type: application/octet-stream; name="fixit.exe"',
                                                         'Content-Disposition: attachment; filename="fixit.exe"'])])
            else:
                inner = join_lines(inner_headers + ["Content-Type: text/plain; charset=us-ascii", "",
                                                    "Message %d of the digest." % i])
            msgs.append(CRLF + inner)  # no part headers: the default type is message/rfc822
        digest = part(['Content-Type: multipart/digest; boundary="===============digest=="'], []) + \
            multipart_body("===============digest==", msgs, preamble=())
        body = multipart_body("===============root==", [
            part(['Content-Type: text/plain; charset="us-ascii"', "Content-Description: List digest, Vol 12, Issue 3"],
                 ["Send List mailing list submissions to", "\tlist@lists.example.org"]),
            part(['Content-Type: text/plain; charset="us-ascii"', "Content-Description: Today's Topics (3 messages)"],
                 ["Today's Topics:", "", "   1. Topic 1", "   2. Topic 2", "   3. Topic 3"]),
            digest,
            part(['Content-Type: text/plain; charset="us-ascii"', "Content-Description: Digest Footer"],
                 ["_______________________________________________", "List mailing list"])])
        headers = ["From: list-request@lists.example.org", "Subject: List Digest, Vol 12, Issue 3",
                   "To: bob@example.net", "Date: " + DATE, "Message-ID: <%s@lists.example.org>" % label,
                   "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="===============root=="',
                   "List-Id: <list.lists.example.org>", "Precedence: list"]
        eml = message(headers, body)
        args = envelope(frm="list-bounces@lists.example.org", client="198.51.100.20",
                        helo="lists.example.org")
        if not exe:
            add(label, eml, args=args,
                note="Mailman MIME digest: masthead, topics, multipart/digest of three messages "
                     "without Content-Type (default message/rfc822), footer: accept.")
        else:
            add(label, eml, [filename_denied("fixit.exe", "*.exe", "3.3.2", "name")], "reject",
                args=args,
                note="Same digest; message 3 (part 3.3, default message/rfc822) is a "
                     "multipart/mixed whose part 2 is fixit.exe: where=mime:3.3.2.")

    # Bounce: multipart/report with the original, which had a long-named attachment.
    name = "rw_bounce"
    fn = "Annual-" + filler(289, "financial-statements-and-notes-").replace(" ", "-") + ".xlsx"
    assert len(fn) == 301
    orig_att = MIMEApplication(b"PK\x03\x04" + bytes(range(100)), "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    orig_att["Content-Disposition"] = 'attachment; filename="%s"' % fn
    orig = MIMEMultipart("mixed", boundary="----=_Part_12345_67890.1700000000000")
    orig.attach(MIMEText("Statements attached.\n", "plain", "us-ascii"))
    orig.attach(orig_att)
    orig["From"] = "Alice Example <alice@example.org>"
    orig["To"] = "nobody@example.net"
    orig["Subject"] = "Statements"
    orig["Date"] = DATE
    orig["Message-ID"] = "<orig-statements@example.org>"
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_message["Arrival-Date"] = DATE
    per_rcpt = Message()
    per_rcpt["Final-Recipient"] = "rfc822; nobody@example.net"
    per_rcpt["Original-Recipient"] = "rfc822;nobody@example.net"
    per_rcpt["Action"] = "failed"
    per_rcpt["Status"] = "5.1.1"
    per_rcpt["Remote-MTA"] = "dns; mailstore.example.net"
    per_rcpt["Diagnostic-Code"] = ("smtp; 550 5.1.1 <nobody@example.net>: Recipient address "
                                   "rejected: User unknown")
    status = Message()
    status["Content-Type"] = "message/delivery-status"
    status.set_payload([per_message, per_rcpt])
    human = MIMEText("This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform "
                     "you that your message could not\nbe delivered to one or more recipients.\n\n"
                     "<nobody@example.net>: host mailstore.example.net said: 550 5.1.1 User unknown\n",
                     "plain", "us-ascii")
    human["Content-Description"] = "Notification"
    status["Content-Description"] = "Delivery report"
    orig_part = MIMEMessage(orig)
    orig_part["Content-Description"] = "Undelivered Message"
    root = MIMEMultipart("report", boundary="8F2A31C7D4.1700000000/mx.example.net")
    root.set_param("report-type", "delivery-status")
    root.attach(human)
    root.attach(status)
    root.attach(orig_part)
    root["Return-Path"] = "<>"
    root["From"] = "MAILER-DAEMON@mx.example.net (Mail Delivery System)"
    root["To"] = "alice@example.org"
    root["Subject"] = "Undelivered Mail Returned to Sender"
    root["Date"] = DATE
    root["Message-Id"] = "<20261123100000.8F2A31C7D4@mx.example.net>"
    root["Auto-Submitted"] = "auto-replied"
    strip_part_mime_version(root)
    eml = serialize(root, ["Return-Path", "From", "To", "Subject", "Date", "Message-Id",
                           "Auto-Submitted", "MIME-Version", "Content-Type"])
    add(name, eml, [filename_too_long(fn, "3.2", "filename")], "reject",
        args=envelope(frm=None, rcpts=["alice@example.org"], client="198.51.100.25",
                      helo="mx.example.net"),
        note="Bounce (null sender): multipart/report > text/plain, message/delivery-status, "
             "message/rfc822 original; the original's part 2 has a 301-octet filename: "
             "where=mime:3.2 (IMAP numbering through message/rfc822).")

    # A forwarded message/rfc822 attachment with an .exe inside.
    name = "rw_forward_exe"
    inner_att = MIMEApplication(b"MZ" + bytes(200), "x-msdownload")
    del inner_att["Content-Type"]
    inner_att["Content-Type"] = 'application/x-msdownload; name="setup.exe"'
    inner_att["Content-Disposition"] = 'attachment; filename="setup.exe"'
    inner = MIMEMultipart("mixed", boundary="----=_NextPart_000_0012_01DA1B2C.3D4E5F60")
    inner.attach(MIMEText("Install this update.\n", "plain", "us-ascii"))
    inner.attach(inner_att)
    inner["From"] = "IT Support <support@example.com>"
    inner["To"] = "alice@example.org"
    inner["Subject"] = "Urgent update"
    inner["Date"] = DATE
    inner["Message-ID"] = "<update@example.com>"
    fwd = MIMEMessage(inner)
    fwd["Content-Disposition"] = 'attachment; filename="Urgent update.eml"'
    root = MIMEMultipart("mixed", boundary="------------fwd0123456789abcdef")
    root.attach(MIMEText("Is this legit? Forwarding as attachment.\n", "plain", "us-ascii"))
    root.attach(fwd)
    root["From"] = "Alice Example <alice@example.org>"
    root["To"] = "Security <security@example.net>"
    root["Subject"] = "Fwd: Urgent update"
    root["Date"] = DATE
    root["Message-ID"] = "<%s@corpus.example.org>" % name
    strip_part_mime_version(root)
    eml = serialize(root, ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"])
    add(name, eml, [filename_denied("setup.exe", "*.exe", "2.2", "name")], "reject",
        args=envelope(rcpts=["security@example.net"]),
        note="Forwarded as attachment: part 2 is message/rfc822 (filename 'Urgent update.eml', "
             "allowed); inside, part 2.2 is setup.exe.")


# ---- Chunk boundaries, octets vs characters, lenient parsing, more shapes -------

CHUNK = 65536  # `esmtp-inspect test` reads the message in 64 KiB pieces


def more_cases():
    # A body line that spans the first 64 KiB chunk boundary.
    name = "bll_70000_spans_chunk"
    head = text_message(name, ["A very long line follows."])
    line = ("W" + filler(69999)).encode()
    eml = head + line + CRLF + b"end" + CRLF
    start = len(head)
    assert start < CHUNK < start + len(line)
    add(name, eml, [body_line_log(70000, 2)],
        note="Body line 2 is 70000 octets and straddles the 65536-octet read boundary.")

    # A 998-octet body line whose CR is the last octet of the first chunk and
    # whose LF is the first octet of the second: the CR is not part of the line.
    name = "bll_998_cr_at_chunk_edge"
    head = text_message(name, ["Filler lines follow."])
    body = b""
    fill = filler(78).encode()
    while len(head) + len(body) + 80 + 1000 + 100 < CHUNK:
        body += fill + CRLF
    gap = CHUNK - 1 - 998 - len(head) - len(body) - 2  # one more line to place the edge
    body += ("g" + filler(gap - 1)).encode() + CRLF
    edge = ("C" + filler(997)).encode()
    eml = head + body + edge + CRLF + b"end" + CRLF
    cr = len(head) + len(body) + 998
    assert eml[cr:cr + 2] == CRLF and cr == CHUNK - 1
    add(name, eml, note="A 998-octet body line whose CR is octet 65535 (the last of the first "
                        "read) and whose LF is octet 65536: CR excluded, 998, no verdict.")

    name = "bll_then_exe"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [text_part(["Long line:", "K" + filler(1099)]),
                                     attachment_part(['Content-Type: application/octet-stream; name="run.exe"'])]))
    add(name, eml, [body_line_log(1100, body_line_of(eml, "K" + filler(20))),
                    filename_denied("run.exe", "*.exe", "2", "name")], "reject",
        note="A 1100-octet body line (logged, the message goes on) and then run.exe in part 2 "
             "(rejected): both verdicts, in message order.")

    # The header section ends at the first line that is not a header field.
    name = "bll_no_blank_line"
    eml = join_lines(std_headers(name, mime=False) +
                     ["This line is not a header field, so the body starts here.",
                      "N" + filler(1049), "end"])
    add(name, eml, [body_line_log(1050, 2)],
        note="No empty line after the header: the first line that is not a field starts the body "
             "(it is body line 1); the 1050-octet line is body line 2.")

    name = "env_sender_utf8_321"
    frm = "\u00e4" * 154 + "x@example.org"
    assert len(frm.encode()) == 321 and len(frm) == 167
    add(name, text_message(name, ["SMTPUTF8 sender."]),
        [reject("sender_address_length", 321, "mail")], "reject", args=envelope(frm=frm),
        note="A UTF-8 sender of 167 characters and 321 octets: lengths are octets.")

    name = "blen_size_lowercase"
    add(name, text_message(name, ["size= in lower case."]),
        [reject("body_length", 102401, "mail:SIZE")], "reject",
        args=envelope() + ["--mail-param", "size=102401"],
        note="ESMTP keywords are case-insensitive (RFC 5321): size=102401 is SIZE=102401.")

    name = "mfn_escaped_quote"
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="in\\"voice.exe"'])
    add(name, eml, [filename_denied('in"voice.exe', "*.exe", "2", "filename")], "reject",
        note="filename=\"in\\\"voice.exe\": the quoted-pair is unescaped (in\"voice.exe, which "
             "matches *.exe); the log escapes the quote again.")

    name = "mfn_2047_q_space_exe"
    eml = attachment_message(name, ['Content-Type: application/octet-stream; name="%s"'
                                    % enc_word_q("ISO-8859-1", b"my invoice.exe")])
    add(name, eml, [filename_denied("my invoice.exe", "*.exe", "2", "name")], "reject",
        note="name=\"=?ISO-8859-1?Q?my_invoice.exe?=\": '_' is a space in Q encoding.")

    name = "mfn_2047_unquoted"
    eml = attachment_message(name, ["Content-Type: application/octet-stream; name=%s"
                                    % enc_word_b("UTF-8", b"invoice.exe")])
    add(name, eml, [filename_denied("invoice.exe", "*.exe", "2", "name")], "reject",
        note="An encoded word as an unquoted parameter value (name==?UTF-8?B?...?=), as spam "
             "writes it: still decoded and matched.")

    name = "mfn_second_disposition"
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="readme.txt"',
                                    'Content-Disposition: attachment; filename="readme.scr"'])
    add(name, eml, [filename_denied("readme.scr", "*.scr", "2", "filename")], "reject",
        note="Two Content-Disposition fields in one part: a client may use either, so both "
             "names are checked; readme.scr matches *.scr.")

    name = "mal_transport_padding"
    b = "pad-b1"
    body = join_lines(["preamble", "--%s \t" % b,
                       "Content-Type: TEXT/PLAIN", "", "Hi.",
                       "--%s  " % b,
                       "CONTENT-TYPE: Application/Octet-Stream; NAME=evil.exe",
                       "Content-Transfer-Encoding: BASE64", "", "TVqQAAMAAAAEAAAA",
                       "--%s-- " % b])
    eml = message(std_headers(name) + ["Content-Type: MULTIPART/MIXED; BOUNDARY=%s" % b], body)
    add(name, eml, [filename_denied("evil.exe", "*.exe", "2", "name")], "reject",
        note="Delimiter lines with trailing blanks (RFC 2046 transport padding), upper-case "
             "media types, field names and parameter names: part 2 NAME=evil.exe is found.")

    name = "mal_epilogue_after_close"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [text_part(["Hi."])], epilogue=[
                      "--" + b, 'Content-Type: application/octet-stream; name="ghost.exe"', "",
                      "TVqQAAMAAAAEAAAA", "--" + b + "--"]))
    add(name, eml, note="After the close delimiter, the epilogue holds delimiter-like lines and a "
                        "'part' named ghost.exe: an epilogue is not a part (RFC 2046 5.1.1), "
                        "clients ignore it: accept.")

    # A forwarded message/rfc822 part sent base64-encoded (against RFC 2046
    # 5.2.1, but clients decode and show it): the .exe inside is still an
    # attachment of a message/rfc822 attachment.
    name = "rw_forward_exe_base64"
    inner = join_lines(["From: IT Support <support@example.com>", "To: alice@example.org",
                        "Subject: Urgent update", "Date: " + DATE, "Message-ID: <update64@example.com>",
                        "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="in64"', ""]) + \
        multipart_body("in64", [text_part(["Install this update."]),
                                attachment_part(['Content-Type: application/x-msdownload; name="setup.exe"'])])
    b = "=_corpus_" + name
    eml = message(std_headers(name, "Fwd: Urgent update") +
                  ['Content-Type: multipart/mixed; boundary="%s"' % b],
                  multipart_body(b, [text_part(["Forwarded."]),
                                     part(["Content-Type: message/rfc822",
                                           "Content-Transfer-Encoding: base64",
                                           'Content-Disposition: attachment; filename="Urgent update.eml"'],
                                          b64_lines(inner))]))
    add(name, eml, [filename_denied("setup.exe", "*.exe", "2.2", "name")], "reject",
        note="As rw_forward_exe, but the message/rfc822 part is base64-encoded (against RFC "
             "2046 5.2.1, yet some mailers and gateways send it and clients decode it and show "
             "setup.exe). esmtp-inspect.yaml(5), RULES: filenames in every part at every depth, message/rfc822 "
             "attachments included.")


def monitor_chunk_cases():
    # Long header lines across the read boundary need a header section far
    # over header_length (8192): monitor mode reports both rules.
    name = "mon_header_70000"
    line = "X-Long: " + filler(70000 - len("X-Long: "))
    headers = [line] + std_headers(name) + ["Content-Type: text/plain"]
    eml = message(headers, join_lines(["Body."]))
    assert len(line) + 2 > CHUNK
    add(name, eml, [would("reject", "header_line_length", 70000, "header:X-Long"),
                    would("reject", "header_length", 70002, "header:X-Long")],
        config="corpus-monitor.yaml",
        note="Monitor mode: a first header line of 70000 octets, across the 65536-octet read "
             "boundary; the same field also takes the header section to 70002 octets (> 8192). "
             "Both rules report on that field, in rule-table order.")

    name = "mon_hll_998_cr_at_chunk_edge"
    headers = std_headers(name) + ["Content-Type: text/plain"]
    i = 0
    # Pads of 902 octets, then an X-Gap field (20..922 octets) to put the edge in place.
    while CHUNK - 1 - 998 - 2 - sum(len(h) + 2 for h in headers) > 900:
        headers.append("X-Pad-%02d: %s" % (i, filler(890)))
        i += 1
    if CHUNK - 1 - 998 - 2 - sum(len(h) + 2 for h in headers) < 20:
        headers.pop()
    used = sum(len(h) + 2 for h in headers)
    gap = CHUNK - 1 - 998 - used - 2
    assert 20 <= gap < 998
    headers.append("X-Gap: " + filler(gap - len("X-Gap: ")))
    edge = "X-Edge: " + filler(998 - len("X-Edge: "))
    headers.append(edge)
    eml = message(headers, join_lines(["Body."]))
    cr = eml.index(edge.encode()) + 998
    assert eml[cr:cr + 2] == CRLF and cr == CHUNK - 1
    total = 0
    for h in headers:
        total += len(h) + 2
        if total > 8192:
            crossing = (h.split(":")[0], total)
            break
    add(name, eml, [would("reject", "header_length", crossing[1], "header:" + crossing[0])],
        config="corpus-monitor.yaml",
        note="Monitor mode: X-Edge is 998 octets and its CR is octet 65535, the last of the first "
             "read (LF in the second): 998, no header_line_length verdict. The header section "
             "is ~66k, so header_length (8192) reports where it is crossed (%s, %d octets)."
             % crossing)


# ---- Monitor mode and profiles --------------------------------------------------

def mode_cases():
    name = "mon_header_999"
    add(name, text_message(name, ["Monitor mode."], subject=subject_of_line_length(999)),
        [would("reject", "header_line_length", 999, "header:Subject")],
        config="corpus-monitor.yaml",
        note="corpus-monitor.yaml (mode: monitor): the 999-octet Subject is logged with "
             "would=reject and the reply it would send; final accept.")

    name = "mon_many"
    fn = ("M" + filler(251, "monitor-mode-") + ".exe").replace(" ", "-")
    assert len(fn) == 256
    b = "=_corpus_" + name
    headers = ["From: Alice Example <alice@example.org>",
               "Subject: " + subject_of_line_length(999),
               "To: One <one@example.net>", "To: Two <two@example.net>", "To: Three <three@example.net>",
               "Date: " + DATE, "Message-ID: <%s@corpus.example.org>" % name, "MIME-Version: 1.0",
               'Content-Type: multipart/mixed; boundary="%s"' % b]
    eml = message(headers, multipart_body(b, [
        text_part(["Long line next.", "L" + filler(1199)]),
        attachment_part(['Content-Type: application/octet-stream; name="%s"' % fn]),
        part(['Content-Type: application/octet-stream; name="u.bin"', "Content-Transfer-Encoding: x-uuencode"],
             ["begin 644 u.bin", "`", "end"])]))
    add(name, eml, [
        would("reject", "header_line_length", 999, "header:Subject"),
        would("reject", "to_fields_count", 3, "header:To"),
        would("reject", "mime_filename_length", 256, "mime:2", name_detail("name", fn)),
        would("reject", "mime_filename", shown(fn), "mime:2", name_detail("name", fn), limit="*.exe"),
        would("reject", "mime_encoding", "x-uuencode", "mime:3", limit="x-uuencode"),
        body_line_log(1200, body_line_of(eml, "L" + filler(20))),
    ], config="corpus-monitor.yaml",
        note="Monitor mode, six rules fire: nothing ends the transaction, so every rule is "
             "reported (each once). body_line_length is log already (no would=, no reply) and "
             "reports the longest body line, which is known only at the end of the message "
             "(esmtp-inspect.yaml(5), RULES: 'Longest body line'), so it comes last. Final accept.")

    name = "mon_rcpt_102"
    add(name, text_message(name, ["102 recipients, monitor mode."]),
        [would("tempfail", "recipient_count", 101, "rcpt", rcpt="user101@example.net"),
         would("tempfail", "recipient_count", 102, "rcpt", rcpt="user102@example.net")],
        args=envelope(rcpts=["user%03d@example.net" % i for i in range(1, 103)]),
        config="corpus-monitor.yaml",
        note="Monitor mode: the 101st recipient is logged (would=tempfail) and accepted, so the "
             "102nd is the 102nd accepted one.")

    name = "mon_sender_321"
    add(name, text_message(name, ["Long sender, monitor mode."]),
        [would("reject", "sender_address_length", 321, "mail")],
        args=envelope(frm="s" * 309 + "@example.org"), config="corpus-monitor.yaml",
        note="Monitor mode: a 321-octet sender is logged with would=reject; final accept.")

    exe_msg = lambda n: attachment_message(
        n, ['Content-Type: application/x-msdownload; name="invoice.exe"'],
        subject=subject_of_line_length(999))

    name = "prof_exempt"
    add(name, exe_msg(name), args=envelope(client="198.51.100.7"),
        note="Client 198.51.100.7 selects profile 'exempt' (inspect: false): a 999-octet "
             "Subject and invoice.exe pass without a verdict.")

    name = "prof_lenient"
    add(name, exe_msg(name), [
        verdict("tag", "header_line_length", 999, None, "header:Subject", profile="lenient"),
        verdict("quarantine", "mime_filename", "invoice.exe", "*.exe", "mime:2", "name=invoice.exe",
                profile="lenient"),
        "tag: X-ESMTP-Inspect: rule=header_line_length; result=fail; actual=999; limit=998",
    ], "quarantine", args=envelope(client="192.0.2.10"),
        note="Client 192.0.2.10 selects profile 'lenient': header_line_length tags (header "
             "added at end of message), mime_filename quarantines (patterns inherited from the "
             "top level). Quarantine is not acceptance: exit 1.")

    name = "prof_default_same_message"
    add(name, exe_msg(name), [reject("header_line_length", 999, "header:Subject")], "reject",
        args=envelope(client="203.0.113.5"),
        note="The prof_* message from a client no profile matches: the default profile rejects "
             "at the header, before the body is read.")


# ---------------------------------------------------------------------------
# Hand-written cases: committed as-is, listed here for INDEX.md only.
# ---------------------------------------------------------------------------

HANDWRITTEN = {
    "hw_missing_close": "No closing delimiter; the last part (evil.exe) runs to the end of the "
                        "message and is still scanned: reject mime_filename at mime:2.",
    "hw_unterminated_quote": "boundary=\"abc with no closing quote: the value runs to the end of "
                             "the field, the parts are found, part 2 setup.exe is rejected.",
    "hw_unterminated_comment": "filename=evil.exe (an unterminated comment: the comment runs to "
                               "the end of the field and is dropped; the name is evil.exe).",
    "hw_headers_cut": "Part 2's headers (name=cut.exe) are cut off by the next delimiter with no "
                      "empty line: the name still counts (reject at mime:2).",
    "hw_truncated": "The message ends in the middle of a part header line naming trunc.exe, "
                    "without a line ending: the part is still examined (reject at mime:2).",
    "hw_mbox_from_long": "A leading mbox 'From ' line of 1200 octets is not a header field "
                         "and is skipped; no verdict.",
}


# ---- RFC 2231 parameters: the structure cannot be hidden ----------------------

def rfc2231_param_cases():
    # Python's email package writes a boundary too long for one line as RFC
    # 2231 continuations with a charset; its parser and mail clients split
    # the parts on it.
    name = "mfn_2231_boundary_exe"
    from email.message import EmailMessage
    from email import policy as email_policy
    m = EmailMessage()
    for h in std_headers(name, "RFC 2231 boundary", mime=False):
        k, _, v = h.partition(": ")
        m[k] = v
    m.set_content("Please see the attachment.\n")
    m.add_attachment(PAYLOAD, maintype="application", subtype="octet-stream",
                     filename="invoice.exe")
    boundary = "=" * 15 + "2231" + "x" * 49 + "=="
    assert len(boundary) == 70
    m.set_boundary(boundary)
    eml = m.as_bytes(policy=email_policy.default.clone(linesep="\r\n"))
    assert b"boundary*0*=us-ascii''%3D%3D" in eml, eml[:400]
    assert b"\r\n--" + boundary.encode() + b"\r\n" in eml
    add(name, eml, [filename_denied("invoice.exe", "*.exe", "2", "filename")], "reject",
        note="Written by Python's email package: a 70-octet boundary folded as boundary*0*="
             "us-ascii''%3D...; boundary*1*=...: the boundary is decoded (RFC 2231) and part 2, "
             "invoice.exe, is rejected by mime_filename.")

    name = "menc_2231_boundary_segments"
    b = "=_corpus_" + name
    eml = message(std_headers(name) + ['Content-Type: multipart/mixed; boundary*0="%s";'
                                       % b[:10], ' boundary*1="%s"' % b[10:]],
                  multipart_body(b, [text_part(), part(
                      ['Content-Type: application/octet-stream; name="data.bin"',
                       "Content-Transfer-Encoding: x-uuencode"],
                      ["begin 644 data.bin", "#86)C", "`", "end"])]))
    add(name, eml, [reject("mime_encoding", "x-uuencode", "mime:2", limit="x-uuencode")], "reject",
        note="boundary*0=\"...\"; boundary*1=\"...\" (RFC 2231 continuations, no charset): "
             "part 2's x-uuencode is found.")

    name = "mfn_boundary_after_300_params"
    b = "=_corpus_" + name
    junk = ";\r\n ".join("; ".join("x%d=1" % i for i in range(k, k + 20))
                           for k in range(0, 300, 20))
    eml = message(std_headers(name) + ["Content-Type: multipart/mixed; " + junk +
                                       '; boundary="%s"' % b],
                  multipart_body(b, [text_part(), attachment_part(
                      ['Content-Type: application/octet-stream; name="setup.exe"'])]))
    add(name, eml, [filename_denied("setup.exe", "*.exe", "2", "name")], "reject",
        note="300 junk parameters before boundary=: the boundary is still read (no parameter "
             "count can push it out of view) and part 2, setup.exe, is rejected.")

    name = "mfl_2231_300_segments"
    fn = "s" * 296 + ".pdf"
    segs = ["filename*%d=\"%s\"" % (i, c) for i, c in enumerate(fn)]
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    "Content-Disposition: attachment;\r\n " +
                                    ";\r\n ".join(segs)])
    add(name, eml, [filename_too_long(fn, "2", "filename")], "reject",
        note="filename*0 ... filename*299, one character each: assembled to 300 octets and "
             "rejected by mime_filename_length (no cap on continuations below RFC 2231's).")

    name = "mfn_2231_and_plain_exe"
    eml = attachment_message(name, ["Content-Type: application/octet-stream",
                                    'Content-Disposition: attachment; filename="invoice.exe"; '
                                    "filename*=utf-8''invoice.pdf"])
    add(name, eml, [filename_denied("invoice.exe", "*.exe", "2", "filename")], "reject",
        note="filename=\"invoice.exe\"; filename*=utf-8''invoice.pdf: Python's email package "
             "reads the first, Thunderbird the RFC 2231 one; both are checked and the .exe is "
             "rejected.")

    name = "mfn_2231_name_continuations_exe"
    eml = attachment_message(name, ["Content-Type: application/octet-stream; "
                                    "name*0*=utf-8''%E2%82%AC-rechnung; name*1*=%2E; name*2=exe"])
    add(name, eml, [filename_denied("\u20ac-rechnung.exe", "*.exe", "2", "name")], "reject",
        note="name*0*=utf-8''%E2%82%AC-rechnung; name*1*=%2E; name*2=exe: decoded and "
             "assembled to \u20ac-rechnung.exe, rejected by mime_filename.")


# ---------------------------------------------------------------------------

def build():
    header_line_cases()
    header_count_cases()
    body_length_cases()
    body_line_cases()
    envelope_cases()
    filename_length_cases()
    filename_pattern_cases()
    structure_cases()
    malformed_cases()
    realworld_cases()
    mode_cases()
    more_cases()
    monitor_chunk_cases()
    rfc2231_param_cases()


def outputs():
    files = {}
    for c in CASES:
        n = c["name"]
        files[n + ".eml"] = c["eml"]
        files[n + ".ref"] = c["ref"]
        if c["args"]:
            files[n + ".args"] = "".join(a + "\n" for a in c["args"]).encode("utf-8")
        if c["config"]:
            files[n + ".config"] = (c["config"] + "\n").encode()
    idx = ["# Golden corpus index", "",
           "Generated by generate.py: do not edit. Each case: what it is and why the expected",
           "verdict in NAME.ref is what esmtp-inspect.yaml(5) says. `hw_` cases are hand-written files.", ""]
    rows = [(c["name"], c["note"], c["config"]) for c in CASES]
    rows += [(n, note, None) for n, note in HANDWRITTEN.items()]
    for n, note, cfg in sorted(rows):
        idx.append("- `%s`%s: %s" % (n, " (%s)" % cfg if cfg else "", note))
    files["INDEX.md"] = ("\n".join(idx) + "\n").encode("utf-8")
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("--dir", default=HERE, help="output directory (default: this script's)")
    o = ap.parse_args()
    build()
    files = outputs()
    stale = []
    for fn, data in sorted(files.items()):
        path = os.path.join(o.dir, fn)
        try:
            with open(path, "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == data:
            continue
        if o.check:
            stale.append(fn)
        else:
            with open(path, "wb") as f:
                f.write(data)
    if o.check:
        for fn in stale:
            print("stale or missing: " + fn, file=sys.stderr)
        if stale:
            print("run tests/corpus/generate.py and review the diff", file=sys.stderr)
        return 1 if stale else 0
    print("%d generated cases, %d hand-written" % (len(CASES), len(HANDWRITTEN)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
