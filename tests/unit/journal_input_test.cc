// Unit tests for the journal entry -> mail-log line mapping of `report
// --journal` (tools/report/journal_input): the line it builds, that log_line
// reads it as the same event as the syslog line, which identifiers are
// wanted, and the cut at max_line. No journal is needed (the reader itself is
// tested against real journal files in tests/integration/test_report.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "tools/report/journal_input.h"
#include "tools/report/log_line.h"

namespace esmtp::report {
namespace {

// 2026-11-23 16:47:02.123456 UTC.
constexpr std::uint64_t kUsec = 1795452422ULL * 1000000 + 123456;

constexpr std::string_view kPfEomText =
    "0DDACA80038: milter-reject: END-OF-MESSAGE from mx.example.org[203.0.113.5]: 5.6.0 Header "
    "line too long; from=<hll0@example.org> to=<b@example.net> proto=ESMTP "
    "helo=<mx.example.org>";
constexpr std::string_view kOurEomText =
    "0DDACA80038: action=reject rule=header_line_length actual=1209 limit=998 "
    "where=header:Subject client=mx.example.org[203.0.113.5] helo=mx.example.org "
    "from=<hll0@example.org> reply=\"550 5.6.0 Header line too long\" profile=default";

JournalEntry entry(std::string_view id, std::string_view message) {
  JournalEntry e;
  e.realtime_usec = kUsec;
  e.hostname = "mx";
  e.identifier = id;
  e.syslog_pid = "9182";
  e.pid = "9182";
  e.message = message;
  return e;
}

std::string line_of(const JournalEntry& e, std::size_t max = 64 * 1024) {
  std::string out;
  EXPECT_FALSE(journal_entry_line(e, max, &out));
  return out;
}

TEST(JournalLine, RealtimeBecomesAnRfc3339UtcStampWithMicroseconds) {
  EXPECT_EQ(
      line_of(entry("postfix/cleanup", kPfEomText)),
      "2026-11-23T16:47:02.123456+00:00 mx postfix/cleanup[9182]: " + std::string(kPfEomText));
}

TEST(JournalLine, PostfixEntryParsesLikeItsSyslogLine) {
  YearGuesser years(1795435200);
  LogEvent ev;
  ASSERT_TRUE(parse_log_line(line_of(entry("postfix/cleanup", kPfEomText)), years, ev));
  EXPECT_EQ(ev.kind, EventKind::kPostfix);
  EXPECT_TRUE(ev.timed);
  EXPECT_EQ(ev.time, 1795452422);
  EXPECT_EQ(ev.program, "postfix/cleanup");
  EXPECT_EQ(ev.queue_id, "0DDACA80038");
  EXPECT_EQ(ev.action, "milter-reject");
  EXPECT_EQ(ev.enhanced, "5.6.0");
  EXPECT_EQ(ev.client_addr, "203.0.113.5");
}

TEST(JournalLine, OurEntryParsesAsOurVerdict) {
  YearGuesser years(1795435200);
  LogEvent ev;
  ASSERT_TRUE(parse_log_line(line_of(entry("esmtp-inspect-milter", kOurEomText)), years, ev));
  EXPECT_EQ(ev.kind, EventKind::kOurs);
  EXPECT_EQ(ev.rule, "header_line_length");
  EXPECT_EQ(ev.time, 1795452422);
  EXPECT_EQ(ev.program, "esmtp-inspect-milter");
}

TEST(JournalLine, PidFromSyslogPidElseFromPidElseNone) {
  JournalEntry e = entry("postfix/smtpd", "connect from a[192.0.2.1]");
  e.syslog_pid = "12";
  e.pid = "34";
  EXPECT_NE(line_of(e).find(" postfix/smtpd[12]: connect"), std::string::npos);
  e.syslog_pid = {};
  EXPECT_NE(line_of(e).find(" postfix/smtpd[34]: connect"), std::string::npos);
  e.pid = {};
  EXPECT_NE(line_of(e).find(" postfix/smtpd: connect"), std::string::npos);
  YearGuesser years(1795435200);
  LogEvent ev;
  ASSERT_TRUE(parse_log_line(line_of(e), years, ev));
  EXPECT_EQ(ev.kind, EventKind::kConnect);
}

TEST(JournalLine, MissingHostnameIsADash) {
  JournalEntry e = entry("postfix/smtpd", "connect from a[192.0.2.1]");
  e.hostname = {};
  EXPECT_EQ(line_of(e),
            "2026-11-23T16:47:02.123456+00:00 - postfix/smtpd[9182]: connect from "
            "a[192.0.2.1]");
}

TEST(JournalLine, WithoutRealtimeSyslogTimestampIsUsedAsLocalTime) {
  setenv("TZ", "UTC", 1);
  tzset();
  JournalEntry e = entry("postfix/cleanup", kPfEomText);
  e.realtime_usec.reset();
  e.syslog_timestamp = "Nov 23 16:47:02 ";  // journald keeps the blank after it
  const std::string line = line_of(e);
  EXPECT_EQ(line.substr(0, 35), "Nov 23 16:47:02 mx postfix/cleanup[");
  YearGuesser years(1795435200);
  LogEvent ev;
  ASSERT_TRUE(parse_log_line(line, years, ev));
  EXPECT_EQ(ev.time, 1795452422);
}

TEST(JournalLine, HugeMessageIsCutAtMaxLine) {
  const std::string big(100000, 'x');
  JournalEntry e = entry("postfix/smtpd", big);
  std::string out;
  EXPECT_TRUE(journal_entry_line(e, 1024, &out));
  EXPECT_EQ(out.size(), 1024u);
  EXPECT_EQ(out.substr(0, 33), "2026-11-23T16:47:02.123456+00:00 ");
  // Exactly max_line fits and is not cut.
  const std::size_t head = out.size() - out.find(": xxx") - 2;
  e.message = std::string_view(big).substr(0, head);
  EXPECT_FALSE(journal_entry_line(e, 1024, &out));
  EXPECT_EQ(out.size(), 1024u);
  // A prefix longer than max_line is cut too.
  e.hostname = big;
  EXPECT_TRUE(journal_entry_line(e, 100, &out));
  EXPECT_EQ(out.size(), 100u);
}

TEST(JournalWanted, PostfixDaemonsInstancesAndOurDaemons) {
  EXPECT_TRUE(journal_wanted("postfix/smtpd"));
  EXPECT_TRUE(journal_wanted("postfix/cleanup"));
  EXPECT_TRUE(journal_wanted("postfix/postscreen"));
  EXPECT_TRUE(journal_wanted("postfix-out/smtp"));
  EXPECT_TRUE(journal_wanted("esmtp-inspect-milter"));
  EXPECT_TRUE(journal_wanted("esmtp-inspect-policyd"));
  EXPECT_FALSE(journal_wanted("postfix"));  // the postfix(1) command / the init script
  EXPECT_FALSE(journal_wanted("postfix/"));
  EXPECT_FALSE(journal_wanted("postfix-/smtpd"));
  EXPECT_FALSE(journal_wanted("postfix-out"));
  EXPECT_FALSE(journal_wanted("postfixadmin"));
  EXPECT_FALSE(journal_wanted("esmtp-inspect"));
  EXPECT_FALSE(journal_wanted("sshd"));
  EXPECT_FALSE(journal_wanted(""));
}

}  // namespace
}  // namespace esmtp::report
