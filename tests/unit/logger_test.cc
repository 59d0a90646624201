#include "common/log/logger.h"

#include "common/log/log_fields.h"
#include "common/mime/mime_params.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
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

// The sender of the security finding: through Postfix it reaches us as
// x> action=reject ... z=@evil.example (quotes removed).
constexpr std::string_view kInjected =
    "\"x> action=reject rule=mime_filename client=victim.example[198.51.100.7] z=\"@evil.example";

TEST(LogFields, SenderCannotEndItsFieldOrAddOne) {
  LogContext ctx = context();
  ctx.from = kInjected;
  Verdict v = sample();
  v.action = Action::kLog;
  v.would = Action::kReject;
  v.rule = "sender_address";
  const std::string line = format_verdict_text(&ctx, v);
  EXPECT_THAT(line,
              HasSubstr(" from=<\\\"x\\x3e\\x20action=reject\\x20rule=mime_filename"
                        "\\x20client=victim.example[198.51.100.7]\\x20z=\\\"@evil.example> "));
  EXPECT_EQ(line.find(" action=reject"), std::string::npos) << line;
  LogRecord rec;
  ASSERT_TRUE(parse_log_record_text(line.substr(line.find(": ") + 2), rec)) << line;
  EXPECT_EQ(rec.get(LogField::kAction), "log");
  EXPECT_EQ(rec.get(LogField::kRule), "sender_address");
  EXPECT_EQ(rec.get(LogField::kClient), "mx.example.org");
  EXPECT_EQ(rec.client_addr, "203.0.113.5");
  EXPECT_EQ(rec.get(LogField::kFrom), kInjected);
}

TEST(LogFields, EveryNetworkValueIsEscaped) {
  LogContext ctx{"4F2A1B3C7D", "a b[c]=d", "1.2.3.4] x=[y", "h e=l\"o\\", "a>b <c\r\nd", true};
  Verdict v = sample();
  v.where = "header:X y=z";
  v.detail = "file \"name\".exe\x01";
  v.recipient = "r> reply=\"550 x\"";
  v.actual = "act=1";
  v.numeric = false;
  const std::string line = format_verdict_text(&ctx, v);
  EXPECT_EQ(line,
            "4F2A1B3C7D: action=reject rule=header_line_length actual=act=1 limit=998 "
            "where=\"header:X y=z\" detail=\"file \\\"name\\\".exe\\x01\" "
            "client=a\\x20b\\x5bc\\x5d=d[1.2.3.4\\x5d\\x20x=\\x5by] helo=\"h e=l\\\"o\\\\\" "
            "from=<a\\x3eb\\x20\\x3cc\\x0d\\x0ad> to=<r\\x3e\\x20reply=\\\"550\\x20x\\\"> "
            "reply=\"550 5.6.0 Header line too long\" profile=default");
}

TEST(LogFields, TextAndJsonRoundTripGiveTheSameFields) {
  const std::string hostile[] = {"",
                                 "plain",
                                 "two words",
                                 "x\" rule=fake \"",
                                 "a> action=reject b=<",
                                 "back\\slash\\",
                                 "\\x41 not an escape",
                                 std::string("nul\0byte", 8),
                                 "tab\tcr\rlf\n",
                                 "[1.2.3.4]",
                                 "utf8 \xc3\xbc",
                                 "=",
                                 "\""};
  for (const auto& a : hostile) {
    for (const auto& b : hostile) {
      LogContext ctx{"ABC123", a, b, a, b, true};
      Verdict v = sample();
      v.detail = a;
      v.recipient = b;
      v.where = b.empty() ? "mail" : b;
      const std::string line = format_verdict_text(&ctx, v);
      LogRecord rec;
      const std::size_t colon = line.find(": ");
      ASSERT_TRUE(parse_log_record_text(line.substr(colon + 2), rec)) << line;
      EXPECT_EQ(rec.get(LogField::kAction), "reject");
      EXPECT_EQ(rec.get(LogField::kRule), "header_line_length");
      EXPECT_EQ(rec.get(LogField::kClient), a.empty() ? "unknown" : a) << line;
      EXPECT_EQ(rec.client_addr, b.empty() ? "unknown" : b) << line;
      EXPECT_EQ(rec.get(LogField::kHelo), a) << line;
      EXPECT_EQ(rec.get(LogField::kFrom), b) << line;
      EXPECT_EQ(rec.get(LogField::kDetail), a) << line;
      EXPECT_EQ(rec.get(LogField::kTo), b) << line;
      EXPECT_EQ(rec.get(LogField::kReply), "550 5.6.0 Header line too long");
      EXPECT_EQ(rec.get(LogField::kProfile), "default");
      // Only valid UTF-8 survives JSON unchanged; the rest is replaced there.
      if (!is_valid_utf8(a) || !is_valid_utf8(b)) continue;
      LogRecord jrec;
      const std::string json = format_verdict_json(&ctx, v);
      ASSERT_TRUE(parse_log_record_json(json, jrec)) << json;
      for (const auto& f : kLogFields)
        EXPECT_EQ(jrec.get(f.id), rec.get(f.id)) << f.key << " " << json;
      EXPECT_EQ(jrec.client_addr, rec.client_addr);
    }
  }
}

TEST(LogFields, RepeatedUnknownOrMisplacedKeysMakeTheLineUnreadable) {
  LogRecord rec;
  EXPECT_TRUE(parse_log_record_text("action=reject rule=a profile=default", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a rule=b", rec));
  EXPECT_FALSE(parse_log_record_text("action=log rule=a action=reject", rec));
  EXPECT_FALSE(parse_log_record_text("rule=a action=reject", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a z=1", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a from=<x> action=reject", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a reply=\"550 x", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a reply=\"550\"x", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a from=<x\\q>", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a ", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject  rule=a", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject rule=a client=noaddr", rec));
  EXPECT_FALSE(parse_log_record_text("action=reject", rec));
  EXPECT_FALSE(parse_log_record_json(R"({"action":"log","rule":"a","action":"reject"})", rec));
  EXPECT_FALSE(parse_log_record_json(R"({"action":"reject","rule":"a","x":1})", rec));
  EXPECT_FALSE(parse_log_record_json(R"({"action":"reject","rule":["a"]})", rec));
  EXPECT_TRUE(parse_log_record_json(R"({"action":"reject","rule":"a","reply":null})", rec));
  // Unescaped blanks that versions before the table wrote inside <...> still read.
  EXPECT_TRUE(parse_log_record_text("action=reject rule=a from=<a b@c.example> profile=p", rec));
  EXPECT_EQ(rec.get(LogField::kFrom), "a b@c.example");
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

// The header's promise for syslog: a missing /dev/log drops the line and
// never stops the daemon; and (glibc reconnects at each line) once a syslog
// daemon listens again the next line reaches it, with our tag and PID, and
// the dropped ones are not replayed. Runs in a child with a private mount
// namespace whose /dev is an empty tmpfs: the machine's /dev/log is not
// touched.
int syslog_without_dev_log() {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
      ::mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755") != 0) {
    std::perror("private /dev");
    return 2;
  }
  LogConfig c;  // syslog, facility mail
  std::string error;
  auto log = Logger::from_config(c, "esmtp-inspect-test", &error);
  if (!log) {
    std::fprintf(stderr, "from_config: %s\n", error.c_str());
    return 3;
  }
  LogContext ctx = context();
  for (int i = 0; i < 100; ++i) log->verdict(ctx, sample());
  log->error("dropped {}", "line");

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strcpy(sun.sun_path, "/dev/log");
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    std::perror("bind /dev/log");
    return 4;
  }
  log->error("still {}", "running");
  char buf[2048];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) {
    std::fprintf(stderr, "nothing reached /dev/log\n");
    return 5;
  }
  const std::string line(buf, static_cast<std::size_t>(n));
  const std::string want =
      "esmtp-inspect-test[" + std::to_string(::getpid()) + "]: error: still running";
  if (line.find(want) == std::string::npos || line.find("dropped") != std::string::npos) {
    std::fprintf(stderr, "got \"%s\", wanted \"%s\"\n", line.c_str(), want.c_str());
    return 6;
  }
  if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
    std::fprintf(stderr, "a second line reached /dev/log\n");
    return 7;
  }
  return 0;
}

TEST(Logger, SyslogWithoutDevLogDropsTheLineAndGoesOn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private mount namespace";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(syslog_without_dev_log()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace esmtp
