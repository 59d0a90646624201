// Unit tests for `esmtp-inspect report` (tools/report): log-line parsing,
// timestamps and year inference, reading plain/gzip input, dedup of lines
// logged by Postfix and by us, bounded tables, and the three outputs.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/log/logger.h"
#include "tools/report/log_input.h"
#include "tools/report/log_line.h"
#include "tools/report/report.h"

namespace esmtp::report {
namespace {

// 2026-11-23 12:00:00 UTC; the tests run with TZ=UTC (see Env below).
constexpr std::time_t kNow = 1795435200;

class UtcEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};
const auto* const kUtc = ::testing::AddGlobalTestEnvironment(new UtcEnv);

std::int64_t utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm));
}

LogEvent parse(std::string_view line, std::time_t now = kNow) {
  YearGuesser years(now);
  LogEvent ev;
  parse_log_line(line, years, ev);
  return ev;
}

ReportOptions opts() {
  ReportOptions o;
  o.now = kNow;
  return o;
}

nlohmann::ordered_json run(const std::vector<std::string>& lines, ReportOptions o = opts()) {
  Report r(o);
  for (const auto& l : lines) r.add_line(l);
  r.finish();
  return r.json();
}

std::map<std::string, std::uint64_t> table(const nlohmann::ordered_json& j, const char* name,
                                           const char* key) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& row : j[name])
    m[row[key].get<std::string>()] = row["count"].get<std::uint64_t>();
  return m;
}

std::string temp_path(const char* name) {
  return std::string(::testing::TempDir()) + "/report_test_" + std::to_string(getpid()) + "_" +
         name;
}

void write_gzip(const std::string& path, const std::string& data, const char* mode = "wb") {
  gzFile g = gzopen(path.c_str(), mode);
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(gzwrite(g, data.data(), static_cast<unsigned>(data.size())),
            static_cast<int>(data.size()));
  gzclose(g);
}

std::string read_all(const std::string& path, std::vector<std::string>* lines, InputStats* st,
                     std::size_t max_line = 64 * 1024) {
  return read_log_lines(
      path, max_line, [&](std::string_view l) { lines->emplace_back(l); }, st);
}

// Real lines from Postfix 3.7's maillog_file and our daemons (as the
// integration test's Postfix writes them).
const char* kPfEom =
    "Nov 23 16:47:02 mx postfix/cleanup[9182]: 0DDACA80038: milter-reject: END-OF-MESSAGE from "
    "mx.example.org[203.0.113.5]: 5.6.0 Header line too long; from=<hll0@example.org> "
    "to=<b@example.net> proto=ESMTP helo=<mx.example.org>";
const char* kOurEom =
    "Nov 23 16:47:02 vm esmtp-inspect-milter[9034]: 0DDACA80038: action=reject "
    "rule=header_line_length actual=1209 limit=998 where=header:Subject "
    "client=mx.example.org[203.0.113.5] helo=mx.example.org from=<hll0@example.org> "
    "reply=\"550 5.6.0 Header line too long\" profile=default";
const char* kPfMail =
    "Nov 23 16:47:02 mx postfix/smtpd[9180]: NOQUEUE: milter-reject: MAIL from "
    "mx.example.org[203.0.113.5]: 501 5.1.7 Sender address too long; from=<s@example.org> "
    "proto=ESMTP helo=<mx.example.org>";
const char* kOurMail =
    "Nov 23 16:47:02 vm esmtp-inspect-milter[9034]: NOQUEUE: action=reject "
    "rule=sender_address_length actual=342 limit=320 where=mail client=mx.example.org[203.0.113.5] "
    "helo=mx.example.org from=<s@example.org> reply=\"501 5.1.7 Sender address too long\" "
    "profile=default";

// ------------------------------------------------------------ timestamps

TEST(ReportTime, TraditionalStampIsLocalTimeInTheLatestYearNotInTheFuture) {
  LogEvent ev = parse(kPfEom);
  ASSERT_TRUE(ev.timed);
  EXPECT_EQ(ev.time, utc(2026, 11, 23, 16, 47, 2));
  // Space-padded day and microseconds (rsyslog's high-precision form without year).
  ev = parse("Nov  3 01:02:03.123456 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.kind, EventKind::kConnect);
  EXPECT_EQ(ev.time, utc(2026, 11, 3, 1, 2, 3));
  // More than a day after "now": last year's December.
  ev = parse("Dec 30 10:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.time, utc(2025, 12, 30, 10, 0, 0));
}

TEST(ReportTime, YearRolloverInsideOneFile) {
  YearGuesser years(utc(2027, 1, 2, 0, 0, 0));
  LogEvent ev;
  parse_log_line("Dec 31 23:59:59 mx postfix/smtpd[1]: connect from a[192.0.2.1]", years, ev);
  EXPECT_EQ(ev.time, utc(2026, 12, 31, 23, 59, 59));
  parse_log_line("Jan  1 00:00:01 mx postfix/smtpd[1]: connect from a[192.0.2.1]", years, ev);
  EXPECT_EQ(ev.time, utc(2027, 1, 1, 0, 0, 1));
  // A straggler from the old year right after midnight stays in the old year.
  parse_log_line("Dec 31 23:59:59 mx postfix/smtpd[1]: connect from a[192.0.2.1]", years, ev);
  EXPECT_EQ(ev.time, utc(2026, 12, 31, 23, 59, 59));
}

TEST(ReportTime, Rfc3339WithOffsetAndFraction) {
  LogEvent ev =
      parse("2026-11-23T14:30:00.123456+01:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.kind, EventKind::kConnect);
  EXPECT_EQ(ev.time, utc(2026, 11, 23, 13, 30, 0));
  ev = parse("2026-11-23T14:30:00Z mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.time, utc(2026, 11, 23, 14, 30, 0));
  ev = parse("2026-13-23T14:30:00Z mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_FALSE(ev.timed);
}

TEST(ReportTime, JournalctlShortIsoOffsetWithoutColon) {
  // `journalctl -o short-iso` (systemd 252, Debian 12) and the report's own
  // period line write the offset as +hhmm.
  LogEvent ev = parse("2026-11-23T14:30:00+0000 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.kind, EventKind::kConnect);
  EXPECT_EQ(ev.time, utc(2026, 11, 23, 14, 30, 0));
  ev = parse("2026-11-23T14:30:00-0130 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.time, utc(2026, 11, 23, 16, 0, 0));
  for (const char* bad : {"2026-11-23T14:30:00+2400 mx postfix/smtpd[1]: connect from a[1.2.3.4]",
                          "2026-11-23T14:30:00+00 mx postfix/smtpd[1]: connect from a[1.2.3.4]",
                          "2026-11-23T14:30:00+0 mx postfix/smtpd[1]: connect from a[1.2.3.4]"})
    EXPECT_FALSE(parse(bad).timed) << bad;
  std::int64_t t = 0;
  EXPECT_TRUE(parse_time_arg("2026-11-23T14:30:00+0100", &t));
  EXPECT_EQ(t, utc(2026, 11, 23, 13, 30, 0));
}

TEST(ReportLine, Rfc5424LinesAndPriPrefixes) {
  const std::string reject =
      "NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@x.invalid>: Relay access "
      "denied; from=<a@b.example> to=<u@x.invalid> proto=ESMTP helo=<h>";
  for (const std::string& line : std::vector<std::string>{
           "<22>1 2026-11-23T14:30:00.123456+01:00 mx postfix/smtpd 4242 - - " + reject,
           "<22>1 2026-11-23T14:30:00.123456+01:00 mx postfix/smtpd 4242 - "
           "[origin ip=\"192.0.2.9\"][meta x=\"a\\]b\"] " +
               reject,
           "<22>1 2026-11-23T14:30:00.123456+01:00 mx postfix/smtpd - - - \xEF\xBB\xBF" + reject,
           "<22>2026-11-23T14:30:00.123456+01:00 mx postfix/smtpd[4242]: " + reject,
       }) {
    LogEvent ev = parse(line);
    EXPECT_EQ(ev.kind, EventKind::kPostfix) << line;
    EXPECT_EQ(ev.time, utc(2026, 11, 23, 13, 30, 0)) << line;
    EXPECT_EQ(ev.program, "postfix/smtpd") << line;
    EXPECT_EQ(ev.stage, "RCPT") << line;
  }
  LogEvent ev = parse("<30>Nov 23 14:30:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  EXPECT_EQ(ev.kind, EventKind::kConnect);
  // Malformed: no version, an unclosed structured element, a PRI that is not one.
  for (const std::string& bad : std::vector<std::string>{
           "<22>1 2026-11-23T14:30:00Z mx postfix/smtpd 1 - [x a=\"]\" " + reject,
           std::string("<22>1 2026-11-23T14:30:00Z mx postfix/smtpd 1 -"),
           "<2x2>1 2026-11-23T14:30:00Z mx postfix/smtpd 1 - - " + reject,
           "<>1 2026-11-23T14:30:00Z mx postfix/smtpd 1 - - " + reject,
           "<22>1 - mx postfix/smtpd 1 - - " + reject,
       })
    EXPECT_NE(parse(bad).kind, EventKind::kPostfix) << bad;
}

TEST(ReportTime, SinceUntilArguments) {
  std::int64_t t = 0;
  ASSERT_TRUE(parse_time_arg("2026-11-23", &t));
  EXPECT_EQ(t, utc(2026, 11, 23, 0, 0, 0));
  ASSERT_TRUE(parse_time_arg("2026-11-23 14:30", &t));
  EXPECT_EQ(t, utc(2026, 11, 23, 14, 30, 0));
  ASSERT_TRUE(parse_time_arg("2026-11-23 14:30:05", &t));
  EXPECT_EQ(t, utc(2026, 11, 23, 14, 30, 5));
  ASSERT_TRUE(parse_time_arg("2026-11-23T14:30:05-02:00", &t));
  EXPECT_EQ(t, utc(2026, 11, 23, 16, 30, 5));
  for (const char* bad : {"", "yesterday", "2026-11", "2026-11-23 14", "2026-11-23 14:30:5",
                          "2026-11-23 25:00", "2026-11-23T14:30:00+0100x"})
    EXPECT_FALSE(parse_time_arg(bad, &t)) << bad;
}

// ------------------------------------------------------------ line parsing

TEST(ReportLine, PostfixEndOfMessageWithoutCode) {
  LogEvent ev = parse(kPfEom);
  ASSERT_EQ(ev.kind, EventKind::kPostfix);
  EXPECT_EQ(ev.queue_id, "0DDACA80038");
  EXPECT_EQ(ev.action, "milter-reject");
  EXPECT_EQ(ev.stage, "END-OF-MESSAGE");
  EXPECT_EQ(ev.client_name, "mx.example.org");
  EXPECT_EQ(ev.client_addr, "203.0.113.5");
  EXPECT_EQ(ev.reply, "5.6.0 Header line too long");
  EXPECT_EQ(ev.code, 0);
  EXPECT_EQ(ev.enhanced, "5.6.0");
  EXPECT_EQ(ev.from, "hll0@example.org");
}

TEST(ReportLine, PostfixRejectsAtEveryStage) {
  struct Case {
    std::string text, stage, reply;
    int code;
  } cases[] = {
      {"NOQUEUE: milter-reject: CONNECT from a.example[192.0.2.1]: 554 5.7.1 Go away; proto=SMTP",
       "CONNECT", "554 5.7.1 Go away", 554},
      {"NOQUEUE: milter-reject: HELO from a.example[192.0.2.1]: 504 5.5.2 Bad helo; proto=SMTP "
       "helo=<x>",
       "HELO", "504 5.5.2 Bad helo", 504},
      {"NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <u@x.invalid>: Relay access "
       "denied; from=<a@b.example> to=<u@x.invalid> proto=ESMTP helo=<h>",
       "RCPT", "554 5.7.1 <u@x.invalid>: Relay access denied", 554},
      {"4F2A1B3C7D: milter-reject: RCPT from a.example[192.0.2.1]: 452 4.5.3 Too many recipients; "
       "from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>",
       "RCPT", "452 4.5.3 Too many recipients", 452},
      {"4F2A1B3C7D: milter-reject: DATA from a.example[192.0.2.1]: 550 5.7.1 No data; "
       "from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>",
       "DATA", "550 5.7.1 No data", 550},
  };
  for (const auto& c : cases) {
    LogEvent ev = parse("Nov 23 10:00:00 mx postfix/smtpd[7]: " + c.text);
    ASSERT_EQ(ev.kind, EventKind::kPostfix) << c.text;
    EXPECT_EQ(ev.stage, c.stage);
    EXPECT_EQ(ev.reply, c.reply);
    EXPECT_EQ(ev.code, c.code);
    EXPECT_EQ(ev.client_addr, "192.0.2.1");
  }
  LogEvent ev = parse(
      "Nov 23 10:00:00 mx postfix/cleanup[7]: 4F2A1B3C7D: milter-hold: END-OF-MESSAGE from "
      "a.example[192.0.2.1]: milter triggers HOLD action; from=<a@b.example> to=<c@d.example> "
      "proto=ESMTP helo=<h>");
  EXPECT_EQ(ev.action, "milter-hold");
  ev = parse(
      "Nov 23 10:00:00 mx postfix/cleanup[7]: 4F2A1B3C7D: milter-discard: END-OF-MESSAGE from "
      "a.example[192.0.2.1]: milter triggers DISCARD action; from=<a@b.example> to=<c@d.example> "
      "proto=ESMTP helo=<h>");
  EXPECT_EQ(ev.action, "milter-discard");
  // header_checks in cleanup: the client sits before the envelope.
  ev = parse(
      "Nov 23 10:00:00 mx postfix/cleanup[7]: 4F2A1B3C7D: reject: header Subject: buy from "
      "a.example[192.0.2.1]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>: 5.7.1 "
      "Spam");
  EXPECT_EQ(ev.stage, "header");
  EXPECT_EQ(ev.client_addr, "192.0.2.1");
  EXPECT_EQ(ev.reply, "5.7.1 Spam");
  // postscreen: the client is "[addr]:port".
  ev = parse(
      "Nov 23 10:00:00 mx postfix/postscreen[7]: NOQUEUE: reject: RCPT from [192.0.2.77]:40211: "
      "550 5.7.1 Service unavailable; client [192.0.2.77] blocked using zen.example; "
      "from=<a@b.example>, to=<c@d.example>, proto=ESMTP, helo=<h>");
  ASSERT_EQ(ev.kind, EventKind::kPostfix);
  EXPECT_EQ(ev.client_addr, "192.0.2.77");
  EXPECT_EQ(ev.code, 550);
  EXPECT_EQ(ev.enhanced, "5.7.1");
  EXPECT_EQ(ev.from, "a@b.example");
  // Another syslog_name.
  ev = parse("Nov 23 10:00:00 mx postfix-in/submission/smtpd[7]: " + cases[2].text);
  EXPECT_EQ(ev.kind, EventKind::kPostfix);
}

TEST(ReportLine, OurTextAndJsonLines) {
  LogEvent ev = parse(kOurEom);
  ASSERT_EQ(ev.kind, EventKind::kOurs);
  EXPECT_EQ(ev.rule, "header_line_length");
  EXPECT_EQ(ev.action, "reject");
  EXPECT_EQ(ev.stage, "END-OF-MESSAGE");
  EXPECT_EQ(ev.reply, "550 5.6.0 Header line too long");
  EXPECT_EQ(ev.code, 550);
  EXPECT_EQ(ev.enhanced, "5.6.0");
  // Quoted values with escaped quotes and blanks do not confuse the fields.
  ev = parse(
      "Nov 23 10:00:00 vm esmtp-inspect-policyd[1]: NOQUEUE: action=reject rule=sender_address "
      "actual=\"a \\\"b\\\" rule=fake\" limit=x where=mail client=c.example[192.0.2.9] "
      "from=<a b@c.example> reply=\"550 5.7.1 Sender address rejected\" profile=default");
  EXPECT_EQ(ev.rule, "sender_address");
  EXPECT_EQ(ev.from, "a b@c.example");
  EXPECT_EQ(ev.stage, "MAIL");
  EXPECT_EQ(ev.client_addr, "192.0.2.9");
  // JSON after the syslog prefix, and standing alone (no time).
  const std::string json =
      R"({"queue_id":"NOQUEUE","action":"tempfail","rule":"recipient_count","actual":4,)"
      R"("limit":3,"where":"rcpt","to":"r@x.example","reply":"452 4.5.3 Too many recipients",)"
      R"("profile":"default","client":"c.example","client_address":"192.0.2.9","from":"a@b.example"})";
  ev = parse("2026-11-23T10:00:00Z vm esmtp-inspect-milter[1]: " + json);
  ASSERT_EQ(ev.kind, EventKind::kOurs);
  EXPECT_TRUE(ev.timed);
  EXPECT_EQ(ev.stage, "RCPT");
  EXPECT_EQ(ev.code, 452);
  EXPECT_EQ(ev.client_addr, "192.0.2.9");
  ev = parse(json);
  ASSERT_EQ(ev.kind, EventKind::kOurs);
  EXPECT_FALSE(ev.timed);
  // Our non-verdict lines are not verdicts.
  ev = parse("Nov 23 10:00:00 vm esmtp-inspect-milter[1]: starting: socket=unix:/x");
  EXPECT_EQ(ev.kind, EventKind::kNone);
  ev = parse(R"(Nov 23 10:00:00 vm esmtp-inspect-milter[1]: {"level":"info","message":"x"})");
  EXPECT_EQ(ev.kind, EventKind::kNone);
}

TEST(ReportLine, UnknownTruncatedAndBinaryLinesAreNotEvents) {
  const std::string pf_eom = kPfEom;
  for (std::size_t cut = 0; cut < pf_eom.size(); ++cut) {
    // Every prefix parses without crashing; no prefix short of the reply is a rejection
    // with a client.
    LogEvent ev = parse(pf_eom.substr(0, cut));
    if (ev.kind == EventKind::kPostfix) {
      EXPECT_GT(cut, pf_eom.find("]: ")) << cut;
    }
  }
  const std::string ours = kOurEom;
  for (std::size_t cut = 0; cut < ours.size(); ++cut) (void)parse(ours.substr(0, cut));
  EXPECT_EQ(parse("").kind, EventKind::kNone);
  EXPECT_EQ(parse("hello world").kind, EventKind::kNone);
  EXPECT_EQ(parse("Nov 23 10:00:00 mx kernel: eth0 up").kind, EventKind::kNone);
  EXPECT_TRUE(parse("Nov 23 10:00:00 mx kernel: eth0 up").timed);
  EXPECT_EQ(parse("{not json").kind, EventKind::kNone);
  std::string binary =
      "Nov 23 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from "
      "\xff\xfe[192.0.2.1]: 554 5.7.1 \x80\x81 bad; from=<\xc3(@x> proto=SMTP";
  LogEvent ev = parse(binary);
  EXPECT_EQ(ev.kind, EventKind::kPostfix);
  EXPECT_EQ(ev.client_name, "\xff\xfe");
  std::string nul("Nov 23 10:00:00 mx postfix/smtpd[1]: \0\0\0: reject: x", 50);
  EXPECT_EQ(parse(nul).kind, EventKind::kNone);
}

TEST(ReportLine, MutatedLinesNeverCrash) {
  // Random byte flips, cuts and splices of real lines: whatever comes out is
  // a parse result or nothing (run under ASan/UBSan too).
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
  const std::string base[] = {kPfEom, kOurEom, kPfMail, kOurMail};
  Report r(opts());
  for (int i = 0; i < 20000; ++i) {
    std::string l = base[next() % 4];
    for (int k = static_cast<int>(next() % 6); k > 0; --k) {
      std::size_t at = next() % l.size();
      switch (next() % 4) {
        case 0:
          l[at] = static_cast<char>(next() & 0xff);
          break;
        case 1:
          l.erase(at, next() % 20);
          break;
        case 2:
          l.insert(at, base[next() % 4].substr(0, next() % 40));
          break;
        default:
          l[at] = "\"<>[]:; ={}"[next() % 11];
          break;
      }
      if (l.empty()) l.push_back('x');
    }
    r.add_line(l);
  }
  r.finish();
  EXPECT_LE(r.rejected(), 20000u);
  EXPECT_FALSE(r.text().empty());
  EXPECT_FALSE(r.html().empty());
}

// ------------------------------------------------------------ log injection

// The security finding's lines as versions before the field table wrote them:
// the sender "x> action=reject rule=mime_filename client=victim.example[...]
// z="@evil.example ended from=<...> early and added fields that a later-key-
// wins parser counted as rejections of victim.example.
const char* kForgedLog[] = {
    "Nov 23 10:00:01 vm esmtp-inspect-policyd[1]: 1A2B3C: action=log rule=sender_address "
    "actual=x limit=*@evil.example where=mail client=mx.example.org[203.0.113.5] "
    "helo=mx.example.org from=<x> action=reject rule=mime_filename "
    "client=victim.example[198.51.100.7] z=@evil.example> profile=default",
    "Nov 23 10:00:02 vm esmtp-inspect-policyd[1]: 4D5E6F: action=log rule=sender_address "
    "actual=x limit=*@evil.example where=mail client=mx.example.org[203.0.113.5] "
    "helo=mx.example.org from=<x> action=reject rule=mime_filename "
    "client=victim.example[198.51.100.7] z=@evil.example> profile=default",
};
// A real header_line_length rejection with "action=log rule=sender_address"
// injected: counted as a monitor verdict of another rule before.
const char* kForgedReject =
    "Nov 23 10:00:03 vm esmtp-inspect-milter[2]: 7A8B9C: action=reject rule=header_line_length "
    "actual=1209 limit=998 where=header:Subject client=mx.example.org[203.0.113.5] "
    "helo=mx.example.org from=<y> action=log rule=sender_address z=@example.org> "
    "reply=\"550 5.6.0 Header line too long\" profile=default";
const char* kForgedRejectPostfix =
    "Nov 23 10:00:03 mx postfix/cleanup[3]: 7A8B9C: milter-reject: END-OF-MESSAGE from "
    "mx.example.org[203.0.113.5]: 5.6.0 Header line too long; from=<y> action=log "
    "rule=sender_address z=@example.org> to=<b@example.net> proto=ESMTP helo=<mx.example.org>";

TEST(ReportInjection, LinesWithRepeatedKeysAreNotCounted) {
  auto j = run({kForgedLog[0], kForgedLog[1], kForgedReject, kForgedRejectPostfix});
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(table(j, "by_client", "client"),
            (std::map<std::string, std::uint64_t>{{"mx.example.org[203.0.113.5]", 1}}));
  EXPECT_EQ(table(j, "by_rule", "rule"),
            (std::map<std::string, std::uint64_t>{{"postfix: Header line too long", 1}}));
  EXPECT_EQ(j["totals"]["logged_only"], 0);
  EXPECT_EQ(j["totals"]["esmtp_inspect_lines"], 0);
  EXPECT_EQ(j["totals"]["unreadable_esmtp_inspect_lines"], 3);
  EXPECT_EQ(j["monitor_only"].size(), 0u);
}

std::string logged(const char* prefix, const LogContext& ctx, const Verdict& v) {
  return prefix + format_verdict_text(&ctx, v);
}

TEST(ReportInjection, TheLoggersLinesCountExactlyWhateverTheSender) {
  const std::string evil =
      "\"x> action=reject rule=mime_filename client=victim.example[198.51.100.7] z=\"@evil.example";
  LogContext ctx{"1A2B3C", "mx.example.org", "203.0.113.5", "mx.example.org", evil, true};
  Verdict log;
  log.action = Action::kLog;
  log.rule = "sender_address";
  log.actual = evil;
  log.limit = "*@evil.example";
  log.numeric = false;
  log.where = "mail";
  log.profile = "default";
  std::vector<std::string> lines{logged("Nov 23 10:00:01 vm esmtp-inspect-policyd[1]: ", ctx, log)};
  ctx.queue_id = "4D5E6F";
  lines.push_back(logged("Nov 23 10:00:02 vm esmtp-inspect-policyd[1]: ", ctx, log));
  const std::string sneaky = "y> action=log rule=sender_address z=@example.org";
  LogContext ctx2{"7A8B9C", "mx.example.org", "203.0.113.5", "mx.example.org", sneaky, true};
  Verdict rej;
  rej.action = Action::kReject;
  rej.rule = "header_line_length";
  rej.actual = "1209";
  rej.limit = "998";
  rej.where = "header:Subject";
  rej.reply = *parse_reply("550 5.6.0 Header line too long", nullptr);
  rej.profile = "default";
  lines.push_back(logged("Nov 23 10:00:03 vm esmtp-inspect-milter[2]: ", ctx2, rej));
  lines.push_back(kForgedRejectPostfix);
  auto j = run(lines);
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(table(j, "by_rule", "rule"),
            (std::map<std::string, std::uint64_t>{{"header_line_length", 1}}));
  EXPECT_EQ(table(j, "by_client", "client"),
            (std::map<std::string, std::uint64_t>{{"mx.example.org[203.0.113.5]", 1}}));
  EXPECT_EQ(j["dedup"]["logged_by_both"], 1);
  EXPECT_EQ(j["totals"]["logged_only"], 2);
  EXPECT_EQ(table(j, "monitor_only", "rule"),
            (std::map<std::string, std::uint64_t>{{"sender_address", 2}}));
  EXPECT_EQ(j["totals"]["unreadable_esmtp_inspect_lines"], 0);
  // The sender's domain is the real one, read from our from=<...>.
  EXPECT_EQ(table(j, "by_sender_domain", "domain"),
            (std::map<std::string, std::uint64_t>{{"example.org", 1}}));
}

TEST(ReportInjection, PostfixLinesCountOnlyPostfixsOwnParts) {
  // Header text, sender and HELO of a cleanup line are the sender's: fake
  // ">: 4.7.1" replies must not change the status code that pairs the line
  // with ours (the queue ID and that code decide; the client does not).
  const std::string pf =
      "Nov 23 16:47:02 mx postfix/cleanup[9182]: 0DDACA80038: reject: header Subject: "
      "a from victim.example[198.51.100.7]; from=<z>: 4.7.1 fake from "
      "mx.example.org[203.0.113.5]; from=<s>: 4.7.1 x> to=<b@example.net> proto=ESMTP "
      "helo=<h>: 4.7.1 y>: 5.6.0 Header line too long";
  LogEvent ev = parse(pf);
  ASSERT_EQ(ev.kind, EventKind::kPostfix);
  EXPECT_EQ(ev.enhanced, "5.6.0");
  EXPECT_EQ(ev.reply, "5.6.0 Header line too long");
  auto j = run({pf, kOurEom});
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(j["dedup"]["logged_by_both"], 1);
  // smtpd: the recipient in the reply and the sender in the envelope part
  // cannot move the client or the codes.
  const std::string smtpd =
      "Nov 23 16:47:02 mx postfix/smtpd[9180]: NOQUEUE: reject: RCPT from "
      "mx.example.org[203.0.113.5]: 554 5.7.1 <a]: 450 4.7.1 x@nowhere.invalid>: Relay access "
      "denied; from=<x> to=<y> action=reject rule=z client=victim.example[198.51.100.7]@e.example> "
      "to=<a]: 450 4.7.1 x@nowhere.invalid> proto=ESMTP helo=<h>";
  ev = parse(smtpd);
  EXPECT_EQ(ev.client_addr, "203.0.113.5");
  EXPECT_EQ(ev.code, 554);
  EXPECT_EQ(ev.enhanced, "5.7.1");
  j = run({smtpd});
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(table(j, "by_client", "client"),
            (std::map<std::string, std::uint64_t>{{"mx.example.org[203.0.113.5]", 1}}));
}

TEST(ReportMemory, StoredStringsAreCut) {
  std::string ours = kOurMail;
  ours.replace(ours.find("Sender address too long"), 23, std::string(60000, 'r'));
  LogEvent ev = parse(ours);
  ASSERT_EQ(ev.kind, EventKind::kOurs);
  EXPECT_EQ(ev.reply.size(), kMaxValue);
  std::string pf = kPfMail;
  pf.replace(pf.find("mx.example.org["), 14, std::string(60000, 'n'));
  pf.replace(pf.find("Sender address too long"), 23, std::string(60000, 'r'));
  ev = parse(pf);
  ASSERT_EQ(ev.kind, EventKind::kPostfix);
  EXPECT_EQ(ev.reply.size(), kMaxValue);
  EXPECT_EQ(ev.client_name.size(), kMaxValue);
  EXPECT_EQ(ev.client_addr, "203.0.113.5");
  auto j = run({pf, ours});
  EXPECT_EQ(j["rejected"], 1);
  // A sender keeps its end: the domain report counts by.
  ours = kOurMail;
  ours.replace(ours.find("from=<s@"), 8, "from=<" + std::string(1000, 's') + "@");
  ev = parse(ours);
  EXPECT_EQ(ev.from.size(), kMaxValue);
  EXPECT_EQ(sender_domain(ev.from), "example.org");
}

// ------------------------------------------------------------ dedup

TEST(ReportDedup, QueuedRejectionLoggedTwiceCountsOnceWithOurRule) {
  auto j = run({kPfEom, kOurEom});
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(table(j, "by_rule", "rule"),
            (std::map<std::string, std::uint64_t>{{"header_line_length", 1}}));
  EXPECT_EQ(j["dedup"]["logged_by_both"], 1);
  // Either order.
  j = run({kOurEom, kPfEom});
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(j["by_stage"][0]["stage"], "END-OF-MESSAGE");
}

TEST(ReportDedup, NoqueueSameClientAndSecondOrOneSecondApart) {
  EXPECT_EQ(run({kPfMail, kOurMail})["rejected"], 1);
  std::string ours_a_second_earlier = kOurMail;
  ours_a_second_earlier.replace(ours_a_second_earlier.find("16:47:02"), 8, "16:47:01");
  auto j = run({ours_a_second_earlier, kPfMail});
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(j["by_rule"][0]["rule"], "sender_address_length");
  // Three seconds apart: two rejections.
  std::string later = kOurMail;
  later.replace(later.find("16:47:02"), 8, "16:47:05");
  EXPECT_EQ(run({kPfMail, later})["rejected"], 2);
  // Another client in the same second: two rejections.
  std::string other = kOurMail;
  other.replace(other.find("203.0.113.5"), 11, "203.0.113.6");
  EXPECT_EQ(run({kPfMail, other})["rejected"], 2);
}

TEST(ReportDedup, ManyRecipientsInOneTransactionAreManyRejections) {
  const std::string pf =
      "Nov 23 16:47:02 mx postfix/smtpd[9180]: 26F49A80038: milter-reject: RCPT from "
      "mx.example.org[203.0.113.5]: 452 4.5.3 Too many recipients; from=<rc@example.org> "
      "to=<r3@example.net> proto=ESMTP helo=<mx.example.org>";
  const std::string ours =
      "Nov 23 16:47:02 vm esmtp-inspect-milter[9034]: 26F49A80038: action=tempfail "
      "rule=recipient_count actual=4 limit=3 where=rcpt client=mx.example.org[203.0.113.5] "
      "helo=mx.example.org from=<rc@example.org> to=<r3@example.net> reply=\"452 4.5.3 Too many "
      "recipients\" profile=default";
  auto j = run({pf, ours, pf, ours, pf});  // one Postfix line without a partner
  EXPECT_EQ(j["rejected"], 3);
  EXPECT_EQ(j["totals"]["temporary"], 3);
  EXPECT_EQ(j["dedup"]["logged_by_both"], 2);
  EXPECT_EQ(j["dedup"]["postfix_only"], 1);
  EXPECT_EQ(table(j, "by_rule", "rule")["recipient_count"], 3);
}

TEST(ReportDedup, HoldDiscardAndLogOnly) {
  auto j = run({
      "Nov 23 10:00:00 mx postfix/cleanup[7]: ABC123: milter-hold: END-OF-MESSAGE from "
      "a.example[192.0.2.1]: milter triggers HOLD action; from=<a@b.example> to=<c@d.example> "
      "proto=ESMTP helo=<h>",
      "Nov 23 10:00:00 vm esmtp-inspect-milter[1]: ABC123: action=quarantine rule=mime_filename "
      "actual=x.exe limit=*.exe where=mime:2 client=a.example[192.0.2.1] from=<a@b.example> "
      "profile=default",
      "Nov 23 10:00:00 mx postfix/cleanup[7]: DEF456: milter-discard: END-OF-MESSAGE from "
      "a.example[192.0.2.1]: milter triggers DISCARD action; from=<a@b.example> "
      "to=<c@d.example> proto=ESMTP helo=<h>",
      "Nov 23 10:00:00 vm esmtp-inspect-milter[1]: DEF456: action=log would=reject "
      "rule=body_line_length actual=1200 limit=998 where=body client=a.example[192.0.2.1] "
      "profile=default",
  });
  EXPECT_EQ(j["rejected"], 0);
  EXPECT_EQ(j["totals"]["held"], 1);
  EXPECT_EQ(j["totals"]["discarded"], 1);
  EXPECT_EQ(j["totals"]["logged_only"], 1);
  EXPECT_EQ(j["monitor_only"][0]["rule"], "body_line_length");
}

TEST(ReportDedup, RejectWarningIsAWarningNotARejection) {
  // warn_if_reject: Postfix logs what it would have rejected and accepts.
  auto j = run({
      "Nov 23 10:00:00 mx postfix/smtpd[7]: NOQUEUE: reject_warning: RCPT from "
      "a.example[192.0.2.1]: 450 4.7.25 Client host rejected: cannot find your hostname, "
      "[192.0.2.1]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<h>",
      "Nov 23 10:00:01 mx postfix/smtpd[7]: NOQUEUE: reject: RCPT from a.example[192.0.2.1]: "
      "554 5.7.1 <c@d.example>: Relay access denied; from=<a@b.example> to=<c@d.example> "
      "proto=ESMTP helo=<h>",
  });
  EXPECT_EQ(j["rejected"], 1);
  EXPECT_EQ(j["totals"]["postfix_warnings"], 1);
  EXPECT_EQ(j["totals"]["logged_only"], 0);
  EXPECT_EQ(table(j, "by_rule", "rule"),
            (std::map<std::string, std::uint64_t>{{"postfix: Relay access denied", 1}}));
  EXPECT_EQ(table(j, "monitor_only", "rule"),
            (std::map<std::string, std::uint64_t>{
                {"postfix: Client host rejected: cannot find your hostname, [192.0.2.1]", 1}}));
}

TEST(ReportDedup, WindowIsBounded) {
  // With a window of 2 unpaired rejections, a partner 3 rejections later is
  // no longer found: the window bounds memory, at the price of a double count.
  ReportOptions o = opts();
  o.window = 2;
  std::vector<std::string> lines{kOurMail};
  for (int i = 0; i < 3; ++i) {
    std::string l = kPfEom;
    l.replace(l.find("0DDACA80038"), 11, "Q" + std::to_string(i));
    lines.push_back(l);
  }
  lines.push_back(kPfMail);
  EXPECT_EQ(run(lines, o)["rejected"], 5);
  o.window = 100;
  EXPECT_EQ(run(lines, o)["rejected"], 4);
}

TEST(ReportDedup, SinceUntilFilterEvents) {
  ReportOptions o = opts();
  o.has_since = true;
  o.since = utc(2026, 11, 23, 16, 47, 3);
  auto j = run({kPfEom, kOurEom}, o);
  EXPECT_EQ(j["rejected"], 0);
  EXPECT_EQ(j["totals"]["outside_period"], 2);
  o.since = utc(2026, 11, 23, 16, 47, 2);
  o.has_until = true;
  o.until = utc(2026, 11, 23, 16, 47, 3);
  EXPECT_EQ(run({kPfEom, kOurEom}, o)["rejected"], 1);
}

// ------------------------------------------------------------ tables

TEST(ReportTables, BoundedCounterKeepsTotalsAndItsSize) {
  BoundedCounter c(100);
  std::uint64_t total = 0;
  for (int i = 0; i < 100000; ++i) {
    c.add("key" + std::to_string(i % 5000), 1);
    ++total;
  }
  c.add("big", 1000);
  total += 1000;
  EXPECT_LE(c.all().size(), 100u);
  std::uint64_t sum = c.other();
  for (const auto& [k, n] : c.all()) sum += n;
  EXPECT_EQ(sum, total);
  EXPECT_TRUE(c.approximate());
  EXPECT_EQ(c.top(1)[0].first, "big");
  BoundedCounter exact(100);
  exact.add("a", 2);
  exact.add("b", 3);
  exact.add("a", 2);
  EXPECT_FALSE(exact.approximate());
  EXPECT_EQ(exact.top(0), (std::vector<std::pair<std::string, std::uint64_t>>{{"a", 4}, {"b", 3}}));
}

TEST(ReportTables, NetworksDomainsMessages) {
  EXPECT_EQ(network_of("203.0.113.5"), "203.0.113.0/24");
  EXPECT_EQ(network_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(network_of("IPv6:2001:db8::1"), "2001:db8::/64");
  EXPECT_EQ(network_of("unknown"), "unknown");
  EXPECT_EQ(network_of("999.1.1.1"), "unknown");
  EXPECT_EQ(sender_domain("a@Example.ORG"), "example.org");
  EXPECT_EQ(sender_domain(""), "<>");
  EXPECT_EQ(sender_domain("postmaster"), "(no domain)");
  EXPECT_EQ(message_key("554 5.7.1 <u@x.invalid>: Relay access denied"),
            "554 5.7.1 <...>: Relay access denied");
  EXPECT_EQ(html_escape("<script>\"&'\x01"), "&lt;script&gt;&quot;&amp;&#39;&#xFFFD;");
}

TEST(ReportOutput, HostileValuesAreEscapedInHtmlAndText) {
  Report r(opts());
  r.add_line(
      "Nov 23 10:00:00 vm esmtp-inspect-milter[1]: ABC: action=reject "
      "rule=<script>alert(1)</script> "
      "where=rcpt client=\xff<b>[192.0.2.1] from=<x@y> reply=\"550 5.7.1 no\" profile=default");
  r.finish();
  const std::string html = r.html();
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  const std::string text = r.text();
  EXPECT_NE(text.find("\\xFF<b>[192.0.2.1]"), std::string::npos);
  // JSON stays valid JSON with the bad byte replaced.
  const std::string json = r.json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  EXPECT_FALSE(nlohmann::json::parse(json, nullptr, false).is_discarded());
  EXPECT_EQ(r.rejected(), 1u);
}

TEST(ReportOutput, ZeroRejections) {
  Report r(opts());
  r.add_line("Nov 23 10:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]");
  r.finish();
  EXPECT_EQ(r.json()["rejected"], 0);
  EXPECT_EQ(r.json()["totals"]["connections"], 1);
  EXPECT_NE(r.text().find("Rejections per rule / reason\n      none\n"), std::string::npos);
  EXPECT_NE(r.html().find("No timed rejections."), std::string::npos);
}

// ------------------------------------------------------------ input

TEST(ReportInput, PlainFileWithoutFinalNewlineAndCrLf) {
  const std::string p = temp_path("plain.log");
  std::ofstream(p) << "one\r\ntwo\nthree";
  std::vector<std::string> lines;
  InputStats st;
  EXPECT_EQ(read_all(p, &lines, &st), "");
  EXPECT_EQ(lines, (std::vector<std::string>{"one\r", "two", "three"}));
  EXPECT_FALSE(st.gzip);
  EXPECT_EQ(st.bytes, 14u);
  std::remove(p.c_str());
}

TEST(ReportInput, GzipByMagicConcatenatedMembersAndReport) {
  const std::string p = temp_path("log.txt");  // no .gz: detected by content
  write_gzip(p, std::string(kPfEom) + "\n");
  write_gzip(p, std::string(kOurEom) + "\n", "ab");  // a second gzip member
  std::vector<std::string> lines;
  InputStats st;
  EXPECT_EQ(read_all(p, &lines, &st), "");
  EXPECT_TRUE(st.gzip);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], kOurEom);
  Report r(opts());
  EXPECT_TRUE(r.add_file(p));
  r.finish();
  EXPECT_EQ(r.rejected(), 1u);
  std::remove(p.c_str());
}

TEST(ReportInput, GarbageAndTruncatedGzipAreErrorsAfterTheGoodLines) {
  const std::string p = temp_path("garbage.gz");
  std::ofstream(p, std::ios::binary) << std::string("\x1f\x8b", 2) << "this is not deflate data";
  std::vector<std::string> lines;
  InputStats st;
  EXPECT_NE(read_all(p, &lines, &st).find("corrupt gzip data"), std::string::npos);
  // A truncated file: the lines inflated before the cut are still read.
  std::string big;
  for (int i = 0; i < 2000; ++i) big += std::string(kPfEom) + "\n";
  write_gzip(p, big);
  std::string data;
  {
    std::ifstream in(p, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data.substr(0, data.size() / 2);
  lines.clear();
  st = {};
  EXPECT_EQ(read_all(p, &lines, &st), "truncated gzip data (unexpected end of file)");
  EXPECT_GT(lines.size(), 0u);
  Report r(opts());
  EXPECT_FALSE(r.add_file(p));
  EXPECT_EQ(r.files()[0].error, "truncated gzip data (unexpected end of file)");
  std::remove(p.c_str());
}

TEST(ReportInput, HugeLinesAreCutAndCounted) {
  const std::string p = temp_path("huge.log");
  {
    std::ofstream out(p, std::ios::binary);
    out << kPfEom << "\n"
        << std::string(5 << 20, 'x') << "\n"
        << kOurEom << "\n"
        << std::string(3000, 'y');
  }
  std::vector<std::string> lines;
  InputStats st;
  EXPECT_EQ(read_all(p, &lines, &st, 1024), "");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1].size(), 1024u);
  EXPECT_EQ(lines[3].size(), 1024u);
  EXPECT_EQ(st.long_lines, 2u);
  Report r(opts());
  EXPECT_TRUE(r.add_file(p));
  r.finish();
  EXPECT_EQ(r.rejected(), 1u);
  EXPECT_EQ(r.json()["totals"]["unrecognized_lines"], 2);
  std::remove(p.c_str());
}

TEST(ReportInput, MissingFileNamesTheReason) {
  std::vector<std::string> lines;
  InputStats st;
  EXPECT_EQ(read_all("/nonexistent/mail.log", &lines, &st), "No such file or directory");
}

}  // namespace
}  // namespace esmtp::report
