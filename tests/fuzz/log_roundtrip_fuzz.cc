// log_roundtrip_fuzz: our verdict log lines (common/log/log_fields.h) written by
// the logger and read back by `esmtp-inspect report` (tools/report).
//
// The input: 2 octets of choices (action, would, queue ID or NOQUEUE, which
// optional fields exist, reply code), then up to 12 length-prefixed values
// ([n][n octets]): client name, client address, HELO, sender, actual, limit,
// where, detail, recipient, reply text, profile, rule. The whole input is also
// fed to the report as a raw log line.
//
// Invariants (abort() on violation):
//  - the text line is one line (no CR or LF) and parse_log_record_text reads
//    back exactly the fields written, with exactly the values written;
//  - the JSON line, when every value is valid UTF-8, reads back the same;
//  - a report over the line (text, and JSON) counts exactly what the verdict
//    is: one rejection for reject/tempfail/disconnect, one held for
//    quarantine, one discard, else none; one line of ours, none unreadable;
//  - a raw line never crashes the parser and never counts more than one event.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/log/log_fields.h"
#include "common/log/logger.h"
#include "common/mime/mime_params.h"
#include "tools/report/report.h"

namespace esmtp {
namespace {

[[noreturn]] void fail(std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  std::fprintf(stderr, "log_roundtrip_fuzz: invariant violated: %.*s\n  [%.*s]\n  [%.*s]\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(a.size()), a.data(),
               static_cast<int>(b.size()), b.data());
  std::abort();
}

constexpr Action kActions[] = {Action::kOff,        Action::kLog,       Action::kTag,
                               Action::kQuarantine, Action::kDiscard,   Action::kTempfail,
                               Action::kReject,     Action::kDisconnect};

struct Counts {
  std::uint64_t rejected, held, discarded, ours, unreadable;
};

Counts count_line(const std::string& line) {
  report::ReportOptions o;
  o.now = 1795435200;
  report::Report r(o);
  r.add_line(line);
  r.finish();
  const auto j = r.json();
  return {j["rejected"].get<std::uint64_t>(), j["totals"]["held"].get<std::uint64_t>(),
          j["totals"]["discarded"].get<std::uint64_t>(),
          j["totals"]["esmtp_inspect_lines"].get<std::uint64_t>(),
          j["totals"]["unreadable_esmtp_inspect_lines"].get<std::uint64_t>()};
}

void check_counts(const Counts& c, Action a, const std::string& line) {
  const bool rejects = a == Action::kReject || a == Action::kTempfail || a == Action::kDisconnect;
  if (c.rejected != (rejects ? 1u : 0u)) fail("rejections", line);
  if (c.held != (a == Action::kQuarantine ? 1u : 0u)) fail("held", line);
  if (c.discarded != (a == Action::kDiscard ? 1u : 0u)) fail("discarded", line);
  if (c.ours != 1 || c.unreadable != 0) fail("line of ours not read", line);
}

void expect(const LogRecord& rec, LogField f, bool present, std::string_view value,
            const std::string& line) {
  if (rec.has(f) != present) fail("field presence", line, kLogFields[static_cast<int>(f)].key);
  if (present && rec.get(f) != value) fail("field value", line, rec.get(f));
}

}  // namespace
}  // namespace esmtp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace esmtp;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  {
    // The raw input as a line of ours and as any line.
    report::ReportOptions o;
    o.now = 1795435200;
    report::Report r(o);
    r.add_line(in);
    r.add_line("Nov 23 10:00:00 vm esmtp-inspect-milter[1]: " + std::string(in));
    r.finish();
    if (r.rejected() > 2) fail("raw lines counted more than once");
  }
  if (size < 2) return 0;
  const std::uint8_t c0 = data[0], c1 = data[1];
  std::string values[12];
  std::size_t p = 2;
  for (auto& v : values) {
    if (p >= size) break;
    const std::size_t n = std::min<std::size_t>(data[p], size - p - 1);
    v.assign(in.substr(p + 1, n));
    p += 1 + n;
  }
  const auto& [name, addr, helo, from, actual, limit, where, detail, rcpt, reply_text, profile,
               rule] = values;
  const std::string rule_name = rule.empty() ? std::string("sender_address") : rule;

  Verdict v;
  v.action = kActions[c0 % 8];
  v.would = (c0 & 0x08) ? kActions[(c0 >> 4) % 8] : Action::kContinue;
  v.rule = rule_name;
  v.actual = actual;
  v.limit = limit;
  v.numeric = (c1 & 0x01) != 0;
  v.where = where;
  v.detail = detail;
  v.recipient = rcpt;
  if (c1 & 0x02) {
    static constexpr int kCodes[] = {550, 451, 421, 250};
    v.reply.code = kCodes[(c1 >> 2) % 4];
    v.reply.enhanced = (c1 & 0x10) ? "5.7.1" : "";
    v.reply.text = reply_text.empty() ? std::string("x") : reply_text;
  }
  v.profile = profile;
  LogContext ctx{(c1 & 0x20) ? std::string_view() : std::string_view("4F2A1B3C7D"),
                 name,
                 addr,
                 helo,
                 from,
                 (c1 & 0x40) != 0};

  const std::string text = format_verdict_text(&ctx, v);
  if (text.find_first_of("\r\n") != std::string::npos) fail("more than one line", text);
  const std::size_t colon = text.find(": ");
  LogRecord rec;
  if (colon == std::string::npos || !parse_log_record_text(text.substr(colon + 2), rec))
    fail("text line does not parse", text);
  const bool shows_reply =
      !v.reply.empty() && (reply_class_for(v.action) != 0 || reply_class_for(v.would) != 0);
  expect(rec, LogField::kAction, true, to_string(v.action), text);
  expect(rec, LogField::kWould, v.would != Action::kContinue, to_string(v.would), text);
  expect(rec, LogField::kRule, true, rule_name, text);
  expect(rec, LogField::kActual, !actual.empty(), actual, text);
  expect(rec, LogField::kLimit, !limit.empty(), limit, text);
  expect(rec, LogField::kWhere, !where.empty(), where, text);
  expect(rec, LogField::kDetail, !detail.empty(), detail, text);
  expect(rec, LogField::kClient, true, name.empty() ? "unknown" : name, text);
  if (rec.client_addr != (addr.empty() ? "unknown" : addr)) fail("client address", text);
  expect(rec, LogField::kHelo, !helo.empty(), helo, text);
  expect(rec, LogField::kFrom, ctx.have_from, from, text);
  expect(rec, LogField::kTo, !rcpt.empty(), rcpt, text);
  expect(rec, LogField::kReply, shows_reply, shows_reply ? v.reply.str() : "", text);
  expect(rec, LogField::kProfile, true, profile, text);

  const std::string prefix = "Nov 23 10:00:00 vm esmtp-inspect-policyd[1]: ";
  check_counts(count_line(prefix + text), v.action, text);

  bool utf8 = is_valid_utf8(rule_name);
  for (const auto& x : values) utf8 = utf8 && is_valid_utf8(x);
  if (utf8) {
    const std::string json = format_verdict_json(&ctx, v);
    LogRecord jrec;
    if (!parse_log_record_json(json, jrec)) fail("JSON line does not parse", json);
    for (const auto& f : kLogFields)
      if (jrec.get(f.id) != rec.get(f.id)) fail("JSON and text differ", json, text);
    if (jrec.client_addr != rec.client_addr) fail("JSON client address", json);
    check_counts(count_line(prefix + json), v.action, json);
  }
  return 0;
}
