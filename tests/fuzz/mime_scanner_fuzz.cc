// mime_scanner_fuzz: the whole body path of the engine, as the milter and
// `esmtp-inspect test` drive it: raw message -> MessageReader -> Session (and
// its MimeScanner, Logger) -> verdicts; and the MimeScanner on its own.
//
// Input: a 4-octet prefix, then the raw message (headers, empty line, body).
//   [0] bits 0-1: which configuration (kConfigs; every body and header rule on)
//       bit 2: MAIL carries SIZE=<message size>
//       bit 3: log lines as JSON instead of text
//       bits 4-5: MIME limits of the direct scanner run (default or small)
//       bits 6-7: long-line threshold of the direct scanner run
//   [1], [2]: chunking parameters; [3] & 3: chunking strategy (see chunk()).
//
// Invariants (abort() on violation):
//  - every verdict is well formed: a known rule, a non-continue action, a reply
//    for actions that send one; numeric rules have decimal actual > limit.
//  - chunking does not matter: the verdicts (rule, action, actual, where,
//    detail) of the message fed in one piece equal those of the fuzzer's
//    chunking; so do the direct scanner's events, line and part counts. The
//    only chunk-dependent value is body_length's `actual` measured in the body
//    (the size when the limit was crossed), which is compared by rule/where
//    only; when body_length ends the transaction in the body, the scan stops
//    at a chunk-dependent point and no comparison is made.
//  - a session's second transaction (after reset()) gives the same verdicts
//    as a fresh session, and a reused scanner the same events as a fresh one.
//  - after a decision, events return it and fire nothing new.
//  - decoded filenames are UTF-8; log lines are one line; JSON lines parse.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_loader.h"
#include "common/engine/session.h"
#include "common/log/logger.h"
#include "common/mime/mime_params.h"
#include "common/mime/mime_scanner.h"
#include "common/rules/rules.h"
#include "tools/offline/message_reader.h"

namespace esmtp {
namespace {

[[noreturn]] void fail(std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  std::fprintf(stderr, "mime_scanner_fuzz: invariant violated: %.*s\n  %.*s\n  %.*s\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(a.size()), a.data(),
               static_cast<int>(b.size()), b.data());
  std::abort();
}

void check(bool ok, std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  if (!ok) fail(what, a, b);
}

// Every configuration turns on every rule that reads headers or the body.
constexpr std::string_view kConfigs[] = {
    // 0: enforce, blocking actions, default MIME limits.
    R"(mode: enforce
rules:
  header_line_length: {max: 200, action: reject}
  header_length: {max: 8k, action: reject}
  to_fields_count: {max: 1, action: reject}
  body_line_length: {max: 200, action: log}
  body_length: {max: 48k, action: reject}
  mime_filename_length: {max: 40, action: reject}
  mime_filename: {action: reject, patterns: ["*.exe", "*.scr", "re:(?i)\\.(js|vbs)$", "*.[cC][oO][mM]", "invoice?.pdf*"]}
  mime_encoding: {deny: [uuencode, x-uuencode, x-uue, binhex], action: reject}
  mime_structure: {max_depth: 20, max_parts: 1000, max_boundary_length: 70, max_part_header_bytes: 64k, action: reject}
)",
    // 1: monitor mode and small MIME limits: every rule logs, nothing blocks.
    R"(mode: monitor
rules:
  header_line_length: {max: 78}
  header_length: {max: 2048}
  to_fields_count: {max: 1}
  body_line_length: {max: 78, action: reject}
  body_length: {max: 4096}
  mime_filename_length: {max: 12}
  mime_filename: {patterns: ["*.exe", "*.zip", "re:[^\\x20-\\x7e]", "*.tar.*"]}
  mime_encoding: {deny: [base64, quoted-printable, uuencode]}
  mime_structure: {max_depth: 3, max_parts: 8, max_boundary_length: 16, max_part_header_bytes: 1024}
)",
    // 2: non-terminal actions (tag, log, quarantine), small limits.
    R"(rules:
  header_line_length: {max: 100, action: tag}
  header_length: {max: 1k, action: log}
  to_fields_count: {max: 2, action: tag}
  body_line_length: {max: 78, action: tag}
  body_length: {max: 1k, action: tag}
  mime_filename_length: {max: 8, action: quarantine}
  mime_filename: {action: tag, patterns: ["*", "re:."]}
  mime_encoding: {deny: [7bit, 8bit, binary, base64, quoted-printable], action: log}
  mime_structure: {max_depth: 2, max_parts: 3, max_boundary_length: 10, max_part_header_bytes: 1024, action: tag}
)",
    // 3: a profile for the client: discard, tempfail, disconnect; monitor per rule.
    R"(rules:
  body_line_length: off
  mime_filename: {patterns: ["*.bat"]}
profiles:
  - name: fuzz
    match: {clients: [192.0.2.0/24]}
    rules:
      header_length: {max: 16k, action: tempfail}
      to_fields_count: {max: 3, action: discard}
      body_length: {max: 24k, action: tempfail}
      mime_filename_length: {max: 64, action: reject, mode: monitor}
      mime_filename: {action: discard, patterns: ["*.exe", "re:\\.(?i:docm|xlsm)$"]}
      mime_encoding: {deny: [binhex, uuencode], action: tempfail}
      mime_structure: {max_depth: 4, max_parts: 20, max_boundary_length: 40, max_part_header_bytes: 2k, action: disconnect}
)",
};

const std::shared_ptr<const Config>& config(std::size_t i) {
  static const std::vector<std::shared_ptr<const Config>> configs = [] {
    std::vector<std::shared_ptr<const Config>> v;
    for (auto text : kConfigs) {
      LoadResult r = load_config_string(text, "fuzz");
      if (!r.ok()) fail("fuzz configuration does not load", r.errors.front().str());
      v.push_back(r.config);
    }
    return v;
  }();
  return configs[i % configs.size()];
}

// ---------------------------------------------------------------------------
// Chunking

// Cuts `msg` into the pieces an MTA might send. Strategies: 0 fixed size; 1
// pseudo-random sizes; 2 a cut before every CR and LF (so CRLF is always
// split) plus fixed-size cuts; 3 one cut anywhere, with empty pieces around.
std::vector<std::string_view> chunk(std::string_view msg, std::uint8_t a, std::uint8_t b,
                                    std::uint8_t mode) {
  std::vector<std::string_view> out;
  switch (mode & 3) {
    case 0: {
      const std::size_t n = std::size_t{a} + 1;
      for (std::size_t i = 0; i < msg.size(); i += n) out.push_back(msg.substr(i, n));
      break;
    }
    case 1: {
      std::uint32_t x = (std::uint32_t{a} << 8 | b) * 2654435761u + 1;
      for (std::size_t i = 0; i < msg.size();) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        std::size_t n = 1 + x % (std::size_t{b} * 4 + 1);
        out.push_back(msg.substr(i, n));
        i += n;
      }
      break;
    }
    case 2: {
      const std::size_t n = std::size_t{a} + 1;
      std::size_t start = 0;
      for (std::size_t i = 1; i < msg.size(); ++i) {
        if (msg[i] == '\r' || msg[i] == '\n' || i - start >= n) {
          out.push_back(msg.substr(start, i - start));
          start = i;
        }
      }
      if (start < msg.size()) out.push_back(msg.substr(start));
      break;
    }
    default: {
      const std::size_t cut = msg.empty() ? 0 : (std::size_t{a} << 8 | b) % (msg.size() + 1);
      out.push_back({});
      out.push_back(msg.substr(0, cut));
      out.push_back({});
      out.push_back(msg.substr(cut));
      out.push_back({});
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Direct scanner run

bool valid_part(std::string_view p) {
  if (p == "root") return true;
  bool digit = false;
  for (char c : p) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && digit) {
      digit = false;
    } else {
      return false;
    }
  }
  return digit;
}

class Recorder : public MimeListener {
 public:
  void start(const MimeLimits& limits, std::uint64_t long_line) {
    limits_ = limits;
    long_line_ = long_line;
    events.clear();
    last_line_ = 0;
    parts_fired_ = false;
  }

  void on_long_line(std::uint64_t length, std::uint64_t line_no) override {
    check(length > long_line_, "long line not longer than the threshold");
    check(line_no > last_line_, "long line numbers not increasing");
    last_line_ = line_no;
    events.push_back("line " + std::to_string(line_no) + " " + std::to_string(length));
  }
  void on_filename(const MimeFilename& f) override {
    check(!f.decoded || is_valid_utf8(f.name), "decoded filename is not UTF-8", f.name);
    check(f.source == "filename" || f.source == "name", "bad filename source", f.source);
    check(valid_part(f.part), "bad part path", f.part);
    events.push_back("file " + std::string(f.part) + " " + std::string(f.source) + "=" +
                     std::string(f.name) + (f.decoded ? "" : " raw"));
  }
  void on_encoding(std::string_view e, std::string_view part) override {
    check(!e.empty() && e.size() <= 128, "bad encoding length", e);
    for (char c : e) check(c < 'A' || c > 'Z', "encoding not lower case", e);
    check(valid_part(part), "bad part path", part);
    events.push_back("cte " + std::string(part) + " " + std::string(e));
  }
  void on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                std::string_view part) override {
    check(actual > limit, "limit reported but not exceeded", to_string(which));
    std::uint64_t configured = 0;
    switch (which) {
      case MimeLimit::kDepth:
        configured = limits_.max_depth;
        break;
      case MimeLimit::kParts:
        configured = limits_.max_parts;
        check(!parts_fired_, "part count limit reported twice");
        parts_fired_ = true;
        break;
      case MimeLimit::kBoundaryLength:
        configured = limits_.max_boundary_length;
        break;
      case MimeLimit::kPartHeaderBytes:
        configured = limits_.max_part_header_bytes;
        break;
    }
    check(limit == configured, "limit is not the configured one", to_string(which));
    check(valid_part(part), "bad part path", part);
    events.push_back("limit " + std::string(to_string(which)) + " " + std::to_string(actual) + ">" +
                     std::to_string(limit) + " at " + std::string(part));
  }

  std::vector<std::string> events;

 private:
  MimeLimits limits_;
  std::uint64_t long_line_ = 0;
  std::uint64_t last_line_ = 0;
  bool parts_fired_ = false;
};

// Forwards MessageReader events to a bare scanner, as Session does.
class ScanFeeder : public MessageListener {
 public:
  explicit ScanFeeder(MimeScanner& s) : scanner_(s) {}
  void on_header(std::string_view name, std::string_view value, std::string_view,
                 const HeaderMetrics&) override {
    scanner_.header(name, value);
  }
  void on_end_of_headers() override { scanner_.end_of_headers(); }
  void on_body(std::string_view chunk) override {
    body_ += chunk;
    scanner_.feed(chunk);
  }
  std::string body_;

 private:
  MimeScanner& scanner_;
};

struct ScanResult {
  std::vector<std::string> events;
  std::uint64_t lines = 0;
  std::uint32_t parts = 0;
};

ScanResult scan(MimeScanner& s, Recorder& r, const std::vector<std::string_view>& chunks,
                const MimeLimits& limits, std::uint64_t long_line) {
  r.start(limits, long_line);
  s.reset(limits, long_line);
  ScanFeeder feeder(s);
  MessageReader reader(feeder);
  for (auto c : chunks) reader.feed(c);
  reader.finish();
  s.finish();
  // Lines: one per LF, plus an unterminated last line.
  std::uint64_t want = 0;
  for (char c : feeder.body_) want += c == '\n';
  if (!feeder.body_.empty() && feeder.body_.back() != '\n') ++want;
  check(s.lines() == want, "scanner line count differs from the body's", std::to_string(s.lines()),
        std::to_string(want));
  return {std::move(r.events), s.lines(), s.parts()};
}

void print_events(const char* title, const std::vector<std::string>& events) {
  std::fprintf(stderr, "%s (%zu events):\n", title, events.size());
  for (std::size_t i = 0; i < events.size() && i < 100; ++i)
    std::fprintf(stderr, "  %.200s\n", events[i].c_str());
}

void compare_events(const ScanResult& a, const ScanResult& b, std::string_view what) {
  if (a.events != b.events) {
    print_events("one piece", a.events);
    print_events("chunked", b.events);
  }
  const std::size_t n = std::min(a.events.size(), b.events.size());
  for (std::size_t i = 0; i < n; ++i)
    if (a.events[i] != b.events[i]) fail(what, a.events[i], b.events[i]);
  if (a.events.size() != b.events.size())
    fail(what, "event counts " + std::to_string(a.events.size()), std::to_string(b.events.size()));
  check(a.lines == b.lines && a.parts == b.parts, what, "line/part counts");
}

// ---------------------------------------------------------------------------
// Session run

// Checks each log line: one line, and valid JSON in JSON format.
class CheckSink : public LogSink {
 public:
  explicit CheckSink(bool json) : json_(json) {}
  void write(LogLevel, std::string_view line) override {
    check(line.find('\n') == std::string_view::npos && line.find('\r') == std::string_view::npos,
          "log line spans lines", line);
    if (json_) {
      auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      check(!j.is_discarded() && j.is_object() && j.contains("rule"), "log line is not JSON", line);
    }
  }

 private:
  bool json_;
};

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

void check_verdict(const Verdict& v) {
  check(v.action != Action::kContinue && v.action != Action::kOff, "verdict without an action",
        v.rule);
  check(find_rule(v.rule).has_value(), "verdict of an unknown rule", v.rule);
  if (v.numeric) {
    std::uint64_t actual = 0, limit = 0;
    check(parse_u64(v.actual, actual) && parse_u64(v.limit, limit),
          "numeric verdict without numbers", v.actual, v.limit);
    check(actual > limit, "numeric verdict within its limit", v.actual, v.limit);
  } else {
    check(!v.limit.empty() || v.rule == "special_characters", "verdict without a limit", v.rule);
  }
  check(v.where == "header" || v.where.starts_with("header:") || v.where.starts_with("body") ||
            v.where.starts_with("mime:") || v.where.starts_with("mail") || v.where == "rcpt" ||
            v.where == "helo",
        "verdict with a bad where", v.where);
  if (v.where.starts_with("mime:")) check(valid_part(v.where.substr(5)), "bad part", v.where);
  if (reply_class_for(v.action) != 0 || reply_class_for(v.would) != 0) {
    check(!v.reply.empty(), "blocking verdict without a reply", v.rule);
    const char cls = reply_class_for(v.action != Action::kLog ? v.action : v.would);
    check(v.reply.code / 100 == cls - '0', "reply does not fit the action", v.reply.str());
  }
  check(v.action != Action::kLog || v.would == Action::kContinue || v.would > Action::kLog,
        "bad would");
  check(!v.profile.empty(), "verdict without a profile", v.rule);
}

struct SessionResult {
  std::vector<Verdict> verdicts;  // from MAIL on
  std::optional<std::string> decision;
  std::vector<std::string> tags;
  bool quarantined = false;
  bool disconnected = false;
};

class SessionFeeder : public MessageListener {
 public:
  SessionFeeder(Session& s, SessionResult& r) : session_(s), result_(r) {}
  void on_header(std::string_view name, std::string_view value, std::string_view raw,
                 const HeaderMetrics& metrics) override {
    collect(session_.header(name, value, raw, &metrics));
  }
  void on_end_of_headers() override { collect(session_.end_of_headers()); }
  void on_body(std::string_view chunk) override { collect(session_.body(chunk)); }

  // Records the event's verdicts; after a decision nothing new may fire.
  void collect(const Verdict& returned) {
    const bool decided_before = decided_;
    for (const auto& v : session_.last()) {
      check_verdict(v);
      result_.verdicts.push_back(v);
    }
    if (decided_before) {
      check(session_.last().empty(), "verdicts after the transaction ended");
      check(returned.action == session_.decision()->action, "later event forgets the decision");
    } else {
      Action worst = Action::kContinue;
      for (const auto& v : session_.last()) worst = std::max(worst, v.action);
      check(returned.action == worst, "event does not return its most severe verdict");
    }
    decided_ = session_.decision().has_value();
  }

 private:
  Session& session_;
  SessionResult& result_;
  bool decided_ = false;
};

SessionResult transaction(Session& s, std::string_view msg,
                          const std::vector<std::string_view>& chunks, bool size_param) {
  SessionResult r;
  SessionFeeder feeder(s, r);
  const std::string size = "SIZE=" + std::to_string(msg.size());
  std::vector<std::string_view> params;
  if (size_param) params = {size, "BODY=8BITMIME"};
  feeder.collect(s.mail("<sender@example.org>", params));
  if (!s.decision()) feeder.collect(s.rcpt("<rcpt@example.net>"));
  if (!s.decision() && s.accepted_recipients() > 0) {
    MessageReader reader(feeder);
    for (auto c : chunks) reader.feed(c);
    reader.finish();
    feeder.collect(s.end_of_message());
  }
  if (s.decision()) r.decision = std::string(s.decision()->rule);
  r.tags = s.tags();
  r.quarantined = s.quarantined();
  r.disconnected = s.disconnected();
  return r;
}

void open_session(Session& s) {
  s.set_queue_id("4FUZZ1");
  s.connect("192.0.2.7", 25, "client.example.org");
  s.helo("client.example.org");
}

std::string key(const Verdict& v, bool with_actual) {
  std::string k(v.rule);
  k += '|';
  k += to_string(v.action);
  k += '|';
  if (with_actual) k += v.actual;
  k += '|';
  k += v.where;
  k += '|';
  k += v.detail;
  return k;
}

bool body_length_in_body(const Verdict& v) {
  return v.rule == "body_length" && v.where == "body";
}

// Verdicts of `a` and `b` must match; `exact` also compares body_length's
// actual and the verdict order.
void compare_sessions(const SessionResult& a, const SessionResult& b, bool exact,
                      std::string_view what) {
  if (!exact) {
    for (const auto* r : {&a, &b})
      for (const auto& v : r->verdicts)
        if (body_length_in_body(v) && is_terminal(v.action)) return;  // scan stopped early
  }
  auto keys = [&](const SessionResult& r, bool body_length) {
    std::vector<std::string> k;
    for (const auto& v : r.verdicts)
      if (exact || body_length == body_length_in_body(v))
        k.push_back(key(v, exact || !body_length_in_body(v)));
    return k;
  };
  for (bool bl : {false, true}) {
    if (exact && bl) break;
    auto ka = keys(a, bl), kb = keys(b, bl);
    const std::size_t n = std::min(ka.size(), kb.size());
    for (std::size_t i = 0; i < n; ++i)
      if (ka[i] != kb[i]) fail(what, ka[i], kb[i]);
    if (ka.size() != kb.size())
      fail(what, "verdict counts " + std::to_string(ka.size()), std::to_string(kb.size()));
  }
  check(a.decision == b.decision, what, "decisions differ");
  check(a.quarantined == b.quarantined, what, "quarantine differs");
  check(a.disconnected == b.disconnected, what, "disconnect differs");
  if (exact)
    check(a.tags == b.tags, what, "tags differ");
  else
    check(a.tags.size() == b.tags.size(), what, "tag counts differ");
}

}  // namespace
}  // namespace esmtp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace esmtp;
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view msg(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::vector<std::string_view> whole =
      msg.empty() ? std::vector<std::string_view>{} : std::vector<std::string_view>{msg};
  const std::vector<std::string_view> pieces = chunk(msg, data[1], data[2], data[3]);

  // The bare scanner: one piece on a fresh scanner, then the chosen chunking
  // on the same scanner after reset().
  {
    static const MimeLimits kLimits[] = {
        {}, {1, 2, 4, 64}, {3, 10, 20, 1024}, {100, 100000, 256, 1048576}};
    static const std::uint64_t kLong[] = {998, 76, 0, UINT64_MAX};
    const MimeLimits& limits = kLimits[(flags >> 4) & 3];
    const std::uint64_t long_line = kLong[(flags >> 6) & 3];
    Recorder r;
    MimeScanner s(r);
    ScanResult one = scan(s, r, whole, limits, long_line);
    ScanResult many = scan(s, r, pieces, limits, long_line);
    compare_events(one, many, "scanner events depend on chunking or on reset()");
  }

  // The session: A = one piece then (reset) the chosen chunking; B = the
  // chosen chunking on a fresh session.
  {
    const auto& cfg = config(flags & 3);
    const bool size_param = flags & 4;
    const LogFormat format = (flags & 8) ? LogFormat::kJson : LogFormat::kText;
    Logger logger(std::make_unique<CheckSink>(format == LogFormat::kJson), format, LogLevel::kDebug,
                  "fuzz");
    Session a(cfg, &logger);
    open_session(a);
    SessionResult a1 = transaction(a, msg, whole, size_param);
    std::optional<SessionResult> a2;
    if (!a.disconnected()) {
      a.reset();
      a2 = transaction(a, msg, pieces, size_param);
    }
    a.close();
    Session b(cfg, &logger);
    open_session(b);
    SessionResult b1 = transaction(b, msg, pieces, size_param);
    compare_sessions(a1, b1, false, "session verdicts depend on chunking");
    if (a2) compare_sessions(*a2, b1, true, "second transaction differs from a fresh session");
  }
  return 0;
}
