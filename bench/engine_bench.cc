// engine_bench: throughput and heap allocations of the inspection engine.
//
// Three data sets, each run through a fresh Session per message as a milter
// sees one connection (connect, helo, mail, rcpt, header..., end_of_headers,
// body chunks of 64 KiB, end_of_message) with the built-in default
// configuration:
//   plain_1MiB   one message with a 1 MiB plain-text body;
//   attach_10MiB one ~10 MiB multipart/mixed message: a text part and 200
//                base64 attachments (76-char lines, filenames in plain,
//                RFC 2231 and RFC 2047 forms);
//   small_10k    10,000 messages of a few KiB with realistic headers, about
//                half of them multipart.
// Header fields are split once at setup (MessageReader), outside the timed
// region, and fed as milter header events (name, value; folding as LF).
//
// Next to each engine benchmark, memchr/<set> scans the identical bytes (raw
// header section, then the same body chunks) for '\n' line by line: the
// physical limit of any line-oriented scanner. Ratio = engine / memchr.
//
// Allocations: the global operator new/delete are replaced by counting
// versions. Counters, all over body() calls only:
//   allocs_per_chunk        heap allocations / body() calls;
//   allocs_per_part         heap allocations / MIME parts (multipart sets);
//   allocs_per_extra_chunk  (allocs with 1 KiB chunks - allocs with 64 KiB
//                           chunks) / extra body() calls, measured once at
//                           setup: 0 means nothing is allocated per chunk,
//                           whatever is allocated per part.
// and allocs_per_msg: every allocation of the connection (Session
// construction, envelope, headers, body, end of message) per message.
// malloc() called directly by C libraries (iconv) is not counted.
//
// Setup checks that every message draws no verdict (a rule firing would
// measure the reject path) and fails the benchmark otherwise.
//
// Run bench/run_engine_bench.sh for a Release build and a summary table.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_loader.h"
#include "common/engine/session.h"
#include "common/mime/mime_scanner.h"
#include "tools/offline/message_reader.h"

// ---------------------------------------------------------------------------
// Counting global allocator.

namespace {

std::atomic<std::uint64_t> g_allocs{0};

std::uint64_t allocations() {
  return g_allocs.load(std::memory_order_relaxed);
}

void* counted_malloc(std::size_t n) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}

void* counted_aligned(std::size_t n, std::align_val_t al) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) return nullptr;
  return p;
}

void* checked(void* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) {
  return checked(counted_malloc(n));
}
void* operator new[](std::size_t n) {
  return checked(counted_malloc(n));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return checked(counted_aligned(n, a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return checked(counted_aligned(n, a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned(n, a);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

using esmtp::Session;

constexpr std::size_t kChunk = 65536;      // what Postfix hands a milter per body call
constexpr std::size_t kSmallChunk = 1024;  // setup only: allocations per extra chunk

// ---------------------------------------------------------------------------
// Data generation: deterministic (fixed seeds), CRLF line endings.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  std::uint64_t s_;
};

constexpr std::array<std::string_view, 64> kWords = {
    "the",       "of",       "and",      "to",        "in",        "is",       "for",
    "that",      "with",     "on",       "as",        "by",        "this",     "we",
    "be",        "are",      "from",     "at",        "or",        "an",       "will",
    "please",    "meeting",  "report",   "quarterly", "figures",   "attached", "review",
    "project",   "schedule", "customer", "invoice",   "delivery",  "update",   "regards",
    "thanks",    "tomorrow", "morning",  "agenda",    "proposal",  "budget",   "contract",
    "team",      "release",  "version",  "server",    "migration", "network",  "security",
    "policy",    "deadline", "document", "changes",   "question",  "answer",   "following",
    "Übersicht", "Straße",   "café",     "naïve",     "résumé",    "München",  "2024",
    "15:30"};

// Word-wrapped paragraphs of about `bytes` octets, lines of at most `width`.
void append_text(std::string& out, Rng& rng, std::size_t bytes, std::size_t width = 72) {
  const std::size_t end = out.size() + bytes;
  std::size_t line = 0;
  std::size_t lines_in_paragraph = 0;
  std::size_t paragraph = rng.between(3, 9);
  while (out.size() < end) {
    std::string_view w = kWords[rng.below(kWords.size())];
    if (line > 0 && line + 1 + w.size() > width) {
      out += "\r\n";
      line = 0;
      if (++lines_in_paragraph == paragraph) {
        out += "\r\n";
        lines_in_paragraph = 0;
        paragraph = rng.between(3, 9);
      }
      continue;
    }
    if (line > 0) {
      out += ' ';
      ++line;
    }
    out += w;
    line += w.size();
  }
  if (line > 0) out += "\r\n";
}

void append_html(std::string& out, Rng& rng, std::size_t bytes) {
  const std::size_t end = out.size() + bytes;
  out += "<html><head><meta charset=\"utf-8\"></head><body>\r\n";
  while (out.size() < end) {
    out += "<p style=\"font-family: Arial, sans-serif; font-size: 11pt\">\r\n";
    append_text(out, rng, rng.between(150, 500), 76);
    out += "</p>\r\n";
  }
  out += "</body></html>\r\n";
}

void append_base64(std::string& out, Rng& rng, std::size_t lines) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t l = 0; l < lines; ++l) {
    for (int g = 0; g < 19; ++g) {  // 19 groups of 3 random octets: 76 characters
      const std::uint64_t r = rng.next();
      for (int k = 0; k < 4; ++k) out += kAlphabet[(r >> (6 * k)) & 63];
    }
    out += "\r\n";
  }
}

std::string base64_of(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v =
        static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string hex(Rng& rng, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += kHex[rng.below(16)];
  return s;
}

constexpr std::array<std::string_view, 8> kPeople = {
    "Alice Smith <alice.smith@example.net>",
    "\"Jones, Bob\" <bob.jones@example.org>",
    "Carol Meyer <c.meyer@mail.example.de>",
    "Dan O'Brien <dan@corp.example.com>",
    "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>",
    "Erin <erin@example.io>",
    "noreply@notifications.example.com",
    "Frank Li <frank.li@example.cn>"};

// The header fields of a typical delivered message, up to (not including)
// the MIME fields and the empty line.
void append_common_headers(std::string& out, Rng& rng, std::size_t id) {
  const std::string qid = hex(rng, 12);
  out += "Return-Path: <bounce-" + std::to_string(id) + "@example.net>\r\n";
  const std::size_t hops = rng.between(1, 3);
  for (std::size_t h = 0; h < hops; ++h) {
    out += "Received: from mail-out" + std::to_string(h) +
           ".example.net (mail-out.example.net [198.51.100." + std::to_string(10 + h) +
           "])\r\n\tby mx.example.org (Postfix) with ESMTPS id " + qid +
           "\r\n\tfor <bob.jones@example.org>; Tue, 14 May 2024 10:22:3" + std::to_string(h) +
           " +0200 (CEST)\r\n";
  }
  if (rng.chance(60)) {
    out +=
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net;\r\n"
        "\ts=selector1; t=1715674950;\r\n"
        "\th=from:to:subject:date:message-id:mime-version:content-type;\r\n"
        "\tbh=" +
        base64_of(hex(rng, 32)).substr(0, 44) + ";\r\n\tb=";
    const std::string sig = base64_of(hex(rng, 256));  // 344 characters
    for (std::size_t i = 0; i < sig.size(); i += 70) {
      if (i) out += "\r\n\t ";
      out += sig.substr(i, 70);
    }
    out += "\r\n";
  }
  out += "From: " + std::string(kPeople[rng.below(kPeople.size())]) + "\r\n";
  out += "To: " + std::string(kPeople[rng.below(kPeople.size())]);
  if (rng.chance(30)) out += ",\r\n " + std::string(kPeople[rng.below(kPeople.size())]);
  out += "\r\n";
  if (rng.chance(30)) out += "Cc: " + std::string(kPeople[rng.below(kPeople.size())]) + "\r\n";
  if (rng.chance(20))
    out += "Subject: =?UTF-8?B?" +
           base64_of("Re: Übersicht der Änderungen für München #" + std::to_string(id)) + "?=\r\n";
  else
    out += "Subject: Re: quarterly figures for project " + std::to_string(id) + "\r\n";
  out += "Date: Tue, 14 May 2024 10:22:30 +0200\r\n";
  out += "Message-ID: <" + hex(rng, 24) + "@mail.example.net>\r\n";
  if (rng.chance(30))
    out += "List-Unsubscribe: <https://lists.example.net/unsubscribe?id=" + hex(rng, 32) +
           ">,\r\n <mailto:unsubscribe@lists.example.net>\r\n";
  if (rng.chance(30)) out += "X-Mailer: Microsoft Outlook 16.0\r\n";
  out += "MIME-Version: 1.0\r\n";
}

std::string boundary(Rng& rng) {
  return "----=_Part_" + hex(rng, 8) + "." + hex(rng, 13);
}

// An attachment filename in one of the forms mail clients write; returns the
// Content-Type name and the Content-Disposition filename parameters.
std::pair<std::string, std::string> filename_params(std::size_t i) {
  const std::string n = std::to_string(i);
  switch (i % 5) {
    case 0:
      return {"name=\"report-2024-Q1-" + n + ".pdf\"", "filename=\"report-2024-Q1-" + n + ".pdf\""};
    case 1:
      return {"name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9-" + n + ".docx?=\"",
              "filename*=UTF-8''r%C3%A9sum%C3%A9-" + n + ".docx"};
    case 2: {
      const std::string b =
          "=?UTF-8?B?" + base64_of("Präsentation Übersicht " + n + ".pptx") + "?=";
      return {"name=\"" + b + "\"", "filename=\"" + b + "\""};
    }
    case 3:
      return {"name=\"=?ISO-8859-1?Q?Gr=FC=DFe-" + n + ".txt?=\"",
              "filename*=iso-8859-1''Gr%FC%DFe-" + n + ".txt"};
    default:
      return {"name=\"Scan 2024-05-14 meeting notes and action items " + n + ".png\"",
              "filename=\"Scan 2024-05-14 meeting notes and action items " + n + ".png\""};
  }
}

constexpr std::array<std::string_view, 5> kTypes = {
    "application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation", "text/plain",
    "image/png"};

// An attachment of `lines` base64 lines or, when `until` is set, of as many
// lines as fit before `out` reaches `until` octets.
void append_attachment(std::string& out, std::string_view bnd, std::size_t i, Rng& rng,
                       std::size_t lines, std::size_t until = 0) {
  const auto [name, filename] = filename_params(i);
  out += "--";
  out += bnd;
  out += "\r\nContent-Type: ";
  out += kTypes[i % kTypes.size()];
  out += ";\r\n\t" + name + "\r\nContent-Transfer-Encoding: base64\r\n";
  out += "Content-Disposition: attachment;\r\n\t" + filename + "\r\n\r\n";
  if (until) lines = until > out.size() + 2 ? (until - out.size() - 2) / 78 : 0;
  append_base64(out, rng, lines);
  out += "\r\n";
}

std::string plain_1mib() {
  constexpr std::size_t kBody = 1 << 20;
  Rng rng(1);
  std::string m;
  append_common_headers(m, rng, 1);
  m += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  const std::size_t head = m.size();
  append_text(m, rng, kBody);
  // Exactly 1 MiB of body: cut at a line end, pad the last line.
  std::size_t cut = m.rfind("\r\n", head + kBody - 2);
  m.resize(cut + 2);
  const std::size_t room = head + kBody - m.size();
  if (room >= 2) {
    m.append(room - 2, 'x');
    m += "\r\n";
  } else if (room == 1) {
    m.insert(m.size() - 2, "x");
  }
  return m;
}

std::string attach_10mib() {
  constexpr std::size_t kTotal = 10 << 20;
  constexpr std::size_t kAttachments = 200;
  Rng rng(2);
  const std::string bnd = boundary(rng);
  std::string m;
  append_common_headers(m, rng, 2);
  m += "Content-Type: multipart/mixed;\r\n\tboundary=\"" + bnd + "\"\r\n\r\n";
  m += "This is a multi-part message in MIME format.\r\n\r\n";
  m += "--" + bnd +
       "\r\nContent-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n";
  append_text(m, rng, 2000);
  m += "\r\n";
  // Each attachment takes an equal share of what is left of 10 MiB.
  const std::size_t closing = bnd.size() + 6;
  for (std::size_t i = 0; i < kAttachments; ++i) {
    const std::size_t share = (kTotal - closing - m.size()) / (kAttachments - i);
    append_attachment(m, bnd, i, rng, 0, m.size() + share);
  }
  m += "--" + bnd + "--\r\n";
  return m;
}

std::string small_message(std::size_t id, Rng& rng) {
  std::string m;
  append_common_headers(m, rng, id);
  const std::size_t kind = rng.below(100);
  const std::size_t text = rng.between(500, 3000);
  if (kind < 50) {  // plain text
    m += rng.chance(50) ? "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n\r\n"
                        : "Content-Type: text/plain; charset=\"us-ascii\"\r\n\r\n";
    append_text(m, rng, text);
    return m;
  }
  auto alternative = [&](std::string& out, const std::string& b) {
    out += "--" + b +
           "\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n";
    append_text(out, rng, text);
    out += "\r\n--" + b +
           "\r\nContent-Type: text/html; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n";
    append_html(out, rng, text + text / 2);
    out += "\r\n--" + b + "--\r\n";
  };
  const std::string outer = boundary(rng);
  if (kind < 80) {  // multipart/alternative
    m += "Content-Type: multipart/alternative;\r\n\tboundary=\"" + outer + "\"\r\n\r\n";
    alternative(m, outer);
    return m;
  }
  // multipart/mixed: a text (or an alternative) and one small attachment.
  m += "Content-Type: multipart/mixed;\r\n\tboundary=\"" + outer + "\"\r\n\r\n";
  m += "This is a multi-part message in MIME format.\r\n\r\n";
  if (kind < 95) {
    m += "--" + outer + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    append_text(m, rng, text);
    m += "\r\n";
  } else {
    const std::string inner = boundary(rng);
    m += "--" + outer + "\r\nContent-Type: multipart/alternative; boundary=\"" + inner +
         "\"\r\n\r\n";
    alternative(m, inner);
    m += "\r\n";
  }
  append_attachment(m, outer, id, rng, rng.between(15, 50));
  m += "--" + outer + "--\r\n";
  return m;
}

// ---------------------------------------------------------------------------
// Data sets: messages pre-split into header events and a body.

// A header event: name and value (as libmilter gives it: folding kept, line
// ends as LF) at offsets in Message::data.
struct Header {
  std::uint32_t name_at, name_len, value_at, value_len;
};

// The event data of a message lies in one buffer, in the order the engine
// reads it, as a milter reads it fresh from its socket: scattering header
// strings over the heap would measure cache misses of the benchmark's own
// layout.
struct Message {
  std::string head;  // raw header section, empty line included (memchr baseline)
  std::string data;  // header names and values, then the body
  std::vector<Header> headers;
  std::size_t body_at = 0;
  std::uint32_t parts = 0;  // MIME parts the scanner finds

  std::string_view name(const Header& h) const { return {data.data() + h.name_at, h.name_len}; }
  std::string_view value(const Header& h) const { return {data.data() + h.value_at, h.value_len}; }
  std::string_view body() const { return std::string_view(data).substr(body_at); }
};

class Splitter : public esmtp::MessageListener {
 public:
  explicit Splitter(Message& m) : m_(m) {}
  void on_header(std::string_view name, std::string_view value, std::string_view,
                 const esmtp::HeaderMetrics&) override {
    Header h{};
    h.name_at = static_cast<std::uint32_t>(m_.data.size());
    h.name_len = static_cast<std::uint32_t>(name.size());
    m_.data += name;
    h.value_at = static_cast<std::uint32_t>(m_.data.size());
    for (std::size_t i = 0; i < value.size(); ++i)
      if (!(value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n')) m_.data += value[i];
    h.value_len = static_cast<std::uint32_t>(m_.data.size() - h.value_at);
    m_.headers.push_back(h);
  }
  void on_end_of_headers() override { m_.body_at = m_.data.size(); }
  void on_body(std::string_view chunk) override { m_.data.append(chunk); }

 private:
  Message& m_;
};

class NullMime : public esmtp::MimeListener {
  void on_long_line(std::uint64_t, std::uint64_t) override {}
  void on_filename(const esmtp::MimeFilename&) override {}
  void on_encoding(std::string_view, std::string_view) override {}
  void on_limit(esmtp::MimeLimit, std::uint64_t, std::uint64_t, std::string_view) override {}
};

Message split(const std::string& raw) {
  Message m;
  Splitter s(m);
  esmtp::MessageReader reader(s);
  reader.feed(raw);
  reader.finish();
  m.data.shrink_to_fit();
  m.head = raw.substr(0, raw.size() - m.body().size());
  NullMime null;
  esmtp::MimeScanner scanner(null);
  scanner.reset(esmtp::MimeLimits{}, UINT64_MAX);
  for (const Header& h : m.headers) scanner.header(m.name(h), m.value(h));
  scanner.end_of_headers();
  for (std::size_t off = 0; off < m.body().size(); off += kChunk)
    scanner.feed(m.body().substr(off, kChunk));
  scanner.finish();
  m.parts = scanner.parts();
  return m;
}

constexpr std::string_view kMailParams[] = {"SIZE=4096", "BODY=8BITMIME"};

struct Allocs {
  std::uint64_t body = 0;    // during body() calls
  std::uint64_t total = 0;   // the whole connection, Session construction included
  std::uint64_t chunks = 0;  // body() calls
};

// One SMTP connection carrying one message, as a milter sees it; adds its
// allocations to *a. `check`, when set, collects every non-continue verdict.
void run_message(const std::shared_ptr<const esmtp::Config>& config, const Message& m,
                 std::size_t chunk, Allocs* a, std::vector<esmtp::Verdict>* check = nullptr) {
  const std::uint64_t start = allocations();
  Session s(config);
  auto event = [&](const esmtp::Verdict& v) {
    benchmark::DoNotOptimize(v.action);
    if (check)
      for (const auto& x : s.last())
        if (x.action != esmtp::Action::kContinue) check->push_back(x);
  };
  s.set_tls("TLSv1.3");
  event(s.connect("192.0.2.10", 40123, "mail-out.example.net"));
  event(s.helo("mail-out.example.net"));
  event(s.mail("<bounce@example.net>", kMailParams));
  event(s.rcpt("<bob.jones@example.org>"));
  for (const Header& h : m.headers) event(s.header(m.name(h), m.value(h)));
  event(s.end_of_headers());
  const std::string_view body = m.body();
  const std::uint64_t before = allocations();
  for (std::size_t off = 0; off < body.size(); off += chunk) {
    const esmtp::Verdict v = s.body(body.substr(off, chunk));
    event(v);
  }
  a->body += allocations() - before;
  a->chunks += (body.size() + chunk - 1) / chunk;
  event(s.end_of_message());
  s.close();
  a->total += allocations() - start;  // all but the Session's own destruction (frees only)
}

struct DataSet {
  std::string name;
  std::vector<Message> messages;
  std::uint64_t octets = 0;  // headers and bodies
  std::uint64_t parts = 0;
  double allocs_per_extra_chunk = 0;
  std::string error;  // a verdict fired during the check run
};

enum Kind : int { kPlain1MiB, kAttach10MiB, kSmall10k, kKinds };
constexpr std::array<std::string_view, kKinds> kNames = {"plain_1MiB", "attach_10MiB_200",
                                                         "small_10k"};

std::shared_ptr<const esmtp::Config> config() {
  static const std::shared_ptr<const esmtp::Config> c = esmtp::default_config();
  return c;
}

std::unique_ptr<DataSet> build(Kind k) {
  auto ds = std::make_unique<DataSet>();
  ds->name = std::string(kNames[k]);
  switch (k) {
    case kPlain1MiB:
      ds->messages.push_back(split(plain_1mib()));
      break;
    case kAttach10MiB:
      ds->messages.push_back(split(attach_10mib()));
      break;
    default: {
      Rng rng(3);
      ds->messages.reserve(10000);
      for (std::size_t i = 0; i < 10000; ++i) ds->messages.push_back(split(small_message(i, rng)));
      break;
    }
  }
  Allocs big, small;
  std::vector<esmtp::Verdict> verdicts;
  for (const Message& m : ds->messages) {
    ds->octets += m.head.size() + m.body().size();
    ds->parts += m.parts;
    run_message(config(), m, kChunk, &big, &verdicts);
    run_message(config(), m, kSmallChunk, &small, &verdicts);
    if (!verdicts.empty() && ds->error.empty()) {
      const auto& v = verdicts.front();
      ds->error = "message draws a verdict: rule=" + std::string(v.rule) + " where=" + v.where +
                  " actual=" + v.actual;
    }
  }
  if (small.chunks > big.chunks)
    ds->allocs_per_extra_chunk =
        static_cast<double>(static_cast<std::int64_t>(small.body - big.body)) /
        static_cast<double>(small.chunks - big.chunks);
  return ds;
}

const DataSet& dataset(Kind k) {
  static std::array<std::unique_ptr<DataSet>, kKinds> sets;
  if (!sets[k]) sets[k] = build(k);
  return *sets[k];
}

void describe(benchmark::State& state, const DataSet& ds) {
  char label[128];
  std::snprintf(label, sizeof label, "%zu msg, %.2f MiB, %llu parts", ds.messages.size(),
                static_cast<double>(ds.octets) / (1 << 20),
                static_cast<unsigned long long>(ds.parts));
  state.SetLabel(label);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * ds.octets));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ds.messages.size()));
}

void bm_engine(benchmark::State& state, Kind k) {
  const DataSet& ds = dataset(k);
  if (!ds.error.empty()) {
    state.SkipWithError(ds.error.c_str());
    return;
  }
  const auto cfg = config();
  Allocs a;
  for (auto _ : state)
    for (const Message& m : ds.messages) run_message(cfg, m, kChunk, &a);
  describe(state, ds);
  const double runs = static_cast<double>(state.iterations());
  state.counters["allocs_per_chunk"] =
      a.chunks ? static_cast<double>(a.body) / static_cast<double>(a.chunks) : 0.0;
  if (ds.parts > 0)
    state.counters["allocs_per_part"] =
        static_cast<double>(a.body) / (static_cast<double>(ds.parts) * runs);
  state.counters["allocs_per_extra_chunk"] = ds.allocs_per_extra_chunk;
  state.counters["allocs_per_msg"] =
      static_cast<double>(a.total) / (static_cast<double>(ds.messages.size()) * runs);
}

// Line-by-line memchr over the same bytes in the same chunks.
inline std::uint64_t count_lines(std::string_view data) {
  std::uint64_t lines = 0;
  const char* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    const void* nl = std::memchr(p, '\n', n);
    if (!nl) break;
    const std::size_t step = static_cast<std::size_t>(static_cast<const char*>(nl) - p) + 1;
    p += step;
    n -= step;
    ++lines;
  }
  return lines;
}

void bm_memchr(benchmark::State& state, Kind k) {
  const DataSet& ds = dataset(k);
  for (auto _ : state) {
    for (const Message& m : ds.messages) {
      std::uint64_t lines = count_lines(m.head);
      const std::string_view body = m.body();
      for (std::size_t off = 0; off < body.size(); off += kChunk)
        lines += count_lines(body.substr(off, kChunk));
      benchmark::DoNotOptimize(lines);
    }
  }
  describe(state, ds);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (int k = 0; k < kKinds; ++k) {
    const std::string name(kNames[k]);
    benchmark::RegisterBenchmark(("engine/" + name).c_str(), bm_engine, static_cast<Kind>(k))
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("memchr/" + name).c_str(), bm_memchr, static_cast<Kind>(k))
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
