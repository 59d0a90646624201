#include "common/logger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace esmtp {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

Verdict sample() {
  Verdict v;
  v.action = Action::kReject;
  v.rule = "header_line_length";
  v.actual = "1204";
  v.limit = "998";
  v.where = "header:Subject";
  v.reply = *parse_reply("550 5.6.0 Header line too long", nullptr);
  v.profile = "default";
  return v;
}

LogContext context() {
  return {"4F2A1B3C7D", "mx.example.org", "203.0.113.5", "mx.example.org", "a@example.org", true};
}

TEST(Logger, TextLineIsTheSpecExample) {
  LogContext ctx = context();
  EXPECT_EQ(format_verdict_text(&ctx, sample()),
            "4F2A1B3C7D: action=reject rule=header_line_length actual=1204 limit=998 "
            "where=header:Subject client=mx.example.org[203.0.113.5] helo=mx.example.org "
            "from=<a@example.org> reply=\"550 5.6.0 Header line too long\" profile=default");
}

TEST(Logger, JsonHasTheSameFields) {
  LogContext ctx = context();
  auto j = nlohmann::json::parse(format_verdict_json(&ctx, sample()));
  EXPECT_EQ(j["queue_id"], "4F2A1B3C7D");
  EXPECT_EQ(j["action"], "reject");
  EXPECT_EQ(j["rule"], "header_line_length");
  EXPECT_EQ(j["actual"], 1204);
  EXPECT_EQ(j["limit"], 998);
  EXPECT_EQ(j["where"], "header:Subject");
  EXPECT_EQ(j["client"], "mx.example.org");
  EXPECT_EQ(j["client_address"], "203.0.113.5");
  EXPECT_EQ(j["helo"], "mx.example.org");
  EXPECT_EQ(j["from"], "a@example.org");
  EXPECT_EQ(j["reply"], "550 5.6.0 Header line too long");
  EXPECT_EQ(j["profile"], "default");
}

TEST(Logger, JsonSurvivesInvalidUtf8) {
  LogContext ctx = context();
  ctx.from = "\xff\xfe@example.org";
  Verdict v = sample();
  // A lone UTF-8 lead byte. Not `= "\xc3"`: GCC 12 at -O3 warns -Wrestrict on
  // assigning a one-character literal to a std::string (GCC bug 105329).
  v.actual = std::string(1, '\xc3');
  v.numeric = false;
  std::string line = format_verdict_json(&ctx, v);
  EXPECT_TRUE(nlohmann::json::accept(line));
}

TEST(Logger, NullSenderAndNoQueue) {
  LogContext ctx{"", "unknown", "192.0.2.1", "", "", true};
  EXPECT_THAT(format_verdict_text(&ctx, sample()), ::testing::StartsWith("NOQUEUE: action=reject"));
  EXPECT_THAT(format_verdict_text(&ctx, sample()), HasSubstr(" from=<> "));
}

TEST(Logger, ValidUtf8IsKeptInvalidBytesEscaped) {
  EXPECT_EQ(quote_value("Rechnung-\xc3\xbc.pdf"), "\"Rechnung-\xc3\xbc.pdf\"");
  EXPECT_EQ(quote_value("bad-\xc3(.pdf"), "\"bad-\\xc3(.pdf\"");
  EXPECT_EQ(quote_value("\xe2\x82"), "\"\\xe2\\x82\"");  // truncated sequence
}

TEST(Logger, RecipientVerdictNamesTheRecipient) {
  LogContext ctx = context();
  Verdict v = sample();
  v.recipient = "b@example.net";
  EXPECT_THAT(format_verdict_text(&ctx, v), HasSubstr(" to=<b@example.net> reply="));
  EXPECT_THAT(format_verdict_text(nullptr, v), HasSubstr(" to=<b@example.net> reply="));
}

TEST(Logger, QuoteValue) {
  EXPECT_EQ(quote_value("plain"), "plain");
  EXPECT_EQ(quote_value("two words"), "\"two words\"");
  EXPECT_EQ(quote_value("q\"b\\"), "\"q\\\"b\\\\\"");
  EXPECT_EQ(quote_value(std::string("nul\0", 4)), "\"nul\\x00\"");
  EXPECT_EQ(quote_value(""), "\"\"");
}

TEST(Logger, LevelFilterAndDiscardIsAWarning) {
  auto sink = std::make_unique<CaptureSink>();
  CaptureSink* cap = sink.get();
  Logger log(std::move(sink), LogFormat::kText, LogLevel::kWarning, "t");
  LogContext ctx = context();
  log.verdict(ctx, sample());  // info: filtered
  Verdict d = sample();
  d.action = Action::kDiscard;
  log.verdict(ctx, d);
  log.info("not shown {}", 1);
  log.warning("reload failed: {}", "bad file");
  auto lines = cap->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("action=discard"));
  EXPECT_EQ(lines[1], "warning: reload failed: bad file");
}

TEST(Logger, FileSinkWritesSyslogStyleLines) {
  char path[] = "/tmp/esmtp-log-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  LogConfig c;
  c.to = LogTarget::kFile;
  c.file = path;
  std::string error;
  auto log = Logger::from_config(c, "esmtp-inspect-milter", &error);
  ASSERT_TRUE(log) << error;
  LogContext ctx = context();
  log->verdict(ctx, sample());
  log.reset();
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  unlink(path);
  EXPECT_THAT(line, MatchesRegex("^[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]{8} [^ ]+ "
                                 "esmtp-inspect-milter\\[[0-9]+\\]: 4F2A1B3C7D: action=reject .*"));
}

TEST(Logger, UnwritableFileIsAConfigError) {
  LogConfig c;
  c.to = LogTarget::kFile;
  c.file = "/nonexistent-dir/x.log";
  std::string error;
  EXPECT_FALSE(Logger::from_config(c, "t", &error));
  EXPECT_THAT(error, HasSubstr("/nonexistent-dir/x.log"));
}

TEST(Logger, SyslogWithoutDevLogDoesNotFail) {
  LogConfig c;  // syslog: on these machines nothing listens on /dev/log
  std::string error;
  auto log = Logger::from_config(c, "esmtp-inspect-test", &error);
  ASSERT_TRUE(log);
  LogContext ctx = context();
  log->verdict(ctx, sample());
  log->error("still {}", "running");
}

}  // namespace
}  // namespace esmtp
