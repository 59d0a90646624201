#include "common/engine/session.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"

namespace esmtp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const Config> config(std::string_view yaml) {
  LoadResult r = load_config_string(yaml, "test.yaml");
  if (!r.ok()) ADD_FAILURE() << r.errors[0].str();
  return r.config;
}

class SessionTest : public ::testing::Test {
 protected:
  void start(std::string_view yaml = "") {
    auto sink = std::make_unique<CaptureSink>();
    capture_ = sink.get();
    logger_ = std::make_unique<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo,
                                       "esmtp-inspect-test");
    session_ = std::make_unique<Session>(config(yaml), logger_.get());
    session_->connect("203.0.113.5", 40000, "mx.example.org");
    session_->helo("mx.example.org");
  }
  // A transaction up to the end of the headers.
  void envelope(std::string_view from = "a@example.org") {
    session_->set_queue_id("4F2A1B3C7D");
    ASSERT_TRUE(session_->mail(from).is_continue());
    ASSERT_TRUE(session_->rcpt("b@example.net").is_continue());
  }
  std::vector<std::string> logs() const { return capture_->lines(); }
  Session& s() { return *session_; }

  CaptureSink* capture_ = nullptr;
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<Session> session_;
};

TEST_F(SessionTest, LogLineMatchesSpecFormat) {
  start();
  envelope();
  Verdict v = s().header("Subject", std::string(1196, 's'));  // "Subject: " + 1196 = 1205
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.rule, "header_line_length");
  EXPECT_EQ(v.actual, "1205");
  EXPECT_EQ(v.limit, "998");
  EXPECT_EQ(v.where, "header:Subject");
  EXPECT_EQ(v.reply.str(), "550 5.6.0 Header line too long");
  EXPECT_THAT(logs(),
              ElementsAre("4F2A1B3C7D: action=reject rule=header_line_length actual=1205 "
                          "limit=998 where=header:Subject client=mx.example.org[203.0.113.5] "
                          "helo=mx.example.org from=<a@example.org> reply=\"550 5.6.0 Header "
                          "line too long\" profile=default"));
}

TEST_F(SessionTest, HeaderLineLengthAtTheLimit) {
  start();
  envelope();
  // "Subject: " is 9 octets: 989 more make a 998-octet line.
  EXPECT_TRUE(s().header("Subject", std::string(989, 'x')).is_continue());
  EXPECT_EQ(s().header("X-Next", std::string(991, 'x')).action, Action::kReject);  // 999
}

TEST_F(SessionTest, FoldedHeaderMeasuresEachPhysicalLine) {
  start();
  envelope();
  std::string value = "short\r\n\t" + std::string(997, 'c') + "\r\n\tend";  // 998
  EXPECT_TRUE(s().header("X-Folded", value).is_continue());
  std::string longer = "short\n\t" + std::string(999, 'c');
  Verdict v = s().header("X-Folded2", longer);
  EXPECT_EQ(v.actual, "1000");  // tab + 999
}

TEST_F(SessionTest, RawHeaderIsMeasuredAsSent) {
  start();
  envelope();
  // The MTA passed the field with its leading blank (SMFIP_HDR_LEADSPC).
  EXPECT_TRUE(s().header("Subject", " " + std::string(988, 'x')).is_continue());  // 998
  Verdict v = s().header("Subject", "x", "Subject:" + std::string(999, ' '));
  EXPECT_EQ(v.actual, "1007");
}

TEST_F(SessionTest, TransactionEndsAfterRejectWithoutMoreLogLines) {
  start();
  envelope();
  ASSERT_EQ(s().header("Subject", std::string(2000, 'x')).action, Action::kReject);
  Verdict again = s().body("body\r\n");
  EXPECT_EQ(again.action, Action::kReject);
  EXPECT_EQ(s().end_of_message().action, Action::kReject);
  EXPECT_EQ(logs().size(), 1u);
  // A new transaction starts clean.
  s().reset();
  envelope();
  EXPECT_TRUE(s().header("Subject", "ok").is_continue());
  EXPECT_TRUE(s().end_of_message().is_continue());
}

TEST_F(SessionTest, RecipientCountTempfailsEachExtraRecipient) {
  start();
  s().mail("a@example.org");
  int tempfailed = 0;
  for (int i = 0; i < 150; ++i) {
    Verdict v = s().rcpt(fmt::format("r{}@example.net", i));
    if (v.action == Action::kTempfail) {
      ++tempfailed;
      EXPECT_EQ(v.reply.str(), "452 4.5.3 Too many recipients");
      EXPECT_EQ(v.actual, std::to_string(101));
    } else {
      EXPECT_TRUE(v.is_continue()) << i;
    }
  }
  EXPECT_EQ(tempfailed, 50);
  EXPECT_EQ(s().accepted_recipients(), 100u);
  EXPECT_FALSE(s().decision());  // the message still goes to the 100
  EXPECT_TRUE(s().end_of_message().is_continue());
  EXPECT_EQ(logs().size(), 50u);
  EXPECT_THAT(logs()[0], HasSubstr("to=<r100@example.net>"));
}

TEST_F(SessionTest, InvalidRecipientsDisconnect) {
  start();
  s().mail("a@example.org");
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(s().rcpt("x@example.net", {}, true).is_continue());
  Verdict v = s().rcpt("x@example.net", {}, true);
  EXPECT_EQ(v.action, Action::kDisconnect);
  EXPECT_EQ(v.reply.str(), "421 4.7.0 Too many invalid recipients");
  EXPECT_EQ(v.actual, "21");
  EXPECT_TRUE(s().disconnected());
  // Nothing else happens on a disconnected session, and nothing is logged again.
  s().reset();
  EXPECT_EQ(s().mail("a@example.org").action, Action::kDisconnect);
  EXPECT_EQ(logs().size(), 1u);
}

TEST_F(SessionTest, InvalidRecipientsCountAcrossTransactions) {
  start();
  for (int t = 0; t < 3; ++t) {
    s().mail("a@example.org");
    for (int i = 0; i < 7; ++i) s().rcpt("x@example.net", {}, true);
    s().reset();
  }
  EXPECT_TRUE(s().disconnected());  // 21 over three transactions
}

TEST_F(SessionTest, SenderAddressLength) {
  start();
  EXPECT_TRUE(s().mail("<" + std::string(308, 'a') + "@example.org>").is_continue());  // 320
  Verdict v = s().mail(std::string(309, 'a') + "@example.org");                        // 321
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.rule, "sender_address_length");
  EXPECT_EQ(v.reply.str(), "501 5.1.7 Sender address too long");
  EXPECT_EQ(v.actual, "321");
}

TEST_F(SessionTest, SpecialCharacters) {
  start();
  Verdict v = s().mail("|/bin/sh@example.org");
  EXPECT_EQ(v.rule, "special_characters");
  EXPECT_EQ(v.reply.str(), "501 5.1.3 Invalid character in address");
  EXPECT_EQ(v.actual, "0x7c");
  EXPECT_EQ(s().mail(std::string("a\0b@example.org", 15)).actual, "0x00");
  ASSERT_TRUE(s().mail("ok@example.org").is_continue());
  // At RCPT only that recipient is refused.
  EXPECT_EQ(s().rcpt("`id`@example.net").action, Action::kReject);
  EXPECT_TRUE(s().rcpt("fine@example.net").is_continue());
  EXPECT_FALSE(s().decision());
  EXPECT_EQ(s().accepted_recipients(), 1u);
}

TEST_F(SessionTest, CommandLineLength) {
  start();
  // "HELO " + name + CRLF: 505 octets of name make 512.
  EXPECT_TRUE(s().helo(std::string(505, 'h')).is_continue());
  Verdict v = s().helo(std::string(506, 'h'));
  EXPECT_EQ(v.rule, "command_line_length");
  EXPECT_EQ(v.actual, "513");
  EXPECT_EQ(v.reply.str(), "500 5.5.2 Command line too long");
  // "MAIL FROM:<" + addr + ">" + " SIZE=10" + CRLF.
  std::string_view params[] = {"SIZE=10"};
  std::string addr = std::string(300, 'm') + "@example.org";  // 312
  EXPECT_TRUE(s().mail(addr, params).is_continue());          // 12+312+8+2 = 334
  // 12 + 312 + (1 + 13) + (1 + 171) + 2 = 512, then one octet more.
  std::vector<std::string> big{"BODY=8BITMIME", std::string(171, 'P')};
  std::vector<std::string_view> views(big.begin(), big.end());
  EXPECT_TRUE(s().mail(addr, views).is_continue());
  big[1] = std::string(172, 'P');
  views = {big[0], big[1]};
  EXPECT_EQ(s().mail(addr, views).actual, "513");
}

TEST_F(SessionTest, BodyLineLengthLogsByDefaultAndDeliveryContinues) {
  start();
  envelope();
  s().header("Subject", "x");
  s().end_of_headers();
  std::string body = "short\r\n" + std::string(999, 'b') + "\r\n" + std::string(1500, 'c') +
                     "\r\n" + std::string(1000, 'd') + "\r\n";
  // One octet at a time: the lines and their CRLFs split across chunks.
  for (char c : body) EXPECT_TRUE(s().body(std::string_view(&c, 1)).is_continue());
  // A rule that lets the message through reports the longest line, once.
  Verdict eom = s().end_of_message();
  EXPECT_EQ(eom.action, Action::kLog);
  EXPECT_FALSE(s().decision());
  ASSERT_EQ(logs().size(), 1u);
  EXPECT_THAT(logs()[0], HasSubstr("action=log rule=body_line_length actual=1500 limit=998 "
                                   "where=body:3"));
  EXPECT_THAT(logs()[0], ::testing::Not(HasSubstr("reply=")));
}

TEST_F(SessionTest, FinalBodyLineWithoutCrlfAndBareLf) {
  start("rules: { body_line_length: { action: reject } }");
  envelope();
  s().end_of_headers();
  EXPECT_TRUE(s().body(std::string(998, 'a') + "\n" + std::string(998, 'b')).is_continue());
  EXPECT_TRUE(s().end_of_message().is_continue());
  s().reset();
  envelope();
  s().body("x\n" + std::string(999, 'b'));  // no end of line: measured at end of message
  Verdict v = s().end_of_message();
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.where, "body:2");
  EXPECT_EQ(v.reply.str(), "550 5.6.0 Body line too long");
}

TEST_F(SessionTest, MimeFilenameLengthUsesDecodedUtf8Octets) {
  start();
  envelope();
  s().header("Content-Type", "multipart/mixed; boundary=\"XX\"");
  s().end_of_headers();
  // 128 x "é" in Latin-1 is 128 octets raw but 256 octets of UTF-8.
  std::string name;
  for (int i = 0; i < 128; ++i) name += "%E9";
  Verdict v = s().body("--XX\r\nContent-Disposition: attachment; filename*=iso-8859-1''" + name +
                       "\r\n\r\ndata\r\n--XX--\r\n");
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.rule, "mime_filename_length");
  EXPECT_EQ(v.actual, "256");
  EXPECT_EQ(v.where, "mime:1");
  EXPECT_EQ(v.reply.str(), "550 5.6.0 Attachment filename too long");
}

TEST_F(SessionTest, MimeFilenamePatternsAndEncoding) {
  start(
      "rules:\n"
      "  mime_filename: { patterns: ['*.exe', 're:(?i)\\.js$'] }\n"
      "  mime_encoding: { deny: [x-uuencode] }\n");
  envelope();
  s().header("Content-Type", "multipart/mixed; boundary=b");
  s().end_of_headers();
  Verdict v = s().body(
      "--b\r\nContent-Type: application/x-msdownload; name=\"=?utf-8?q?Invoice.EXE?=\"\r\n\r\n"
      "MZ\r\n--b--\r\n");
  EXPECT_EQ(v.rule, "mime_filename");
  EXPECT_EQ(v.actual, "Invoice.EXE");
  EXPECT_EQ(v.limit, "*.exe");
  EXPECT_FALSE(v.numeric);
  EXPECT_EQ(v.reply.str(), "550 5.7.1 Attachment type not allowed");
  s().reset();
  envelope();
  s().header("Content-Transfer-Encoding", "X-UUencode");
  s().end_of_headers();
  EXPECT_EQ(s().body("begin 644 a\r\n").rule, "mime_encoding");
}

TEST_F(SessionTest, MimeStructureDepth) {
  start("rules: { mime_structure: { max_depth: 2 } }");
  envelope();
  s().header("Content-Type", "multipart/mixed; boundary=a");
  s().end_of_headers();
  Verdict v = s().body(
      "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n");
  EXPECT_EQ(v.rule, "mime_structure");
  EXPECT_EQ(v.actual, "3");
  EXPECT_EQ(v.limit, "2");
  EXPECT_EQ(v.detail, "max_depth");
  EXPECT_EQ(v.where, "mime:1.1");
  EXPECT_EQ(v.reply.str(), "554 5.6.0 MIME structure too complex");
}

TEST_F(SessionTest, MonitorModeLogsWouldAndLetsMailThrough) {
  start("mode: monitor");
  envelope();
  Verdict v = s().header("Subject", std::string(1200, 'x'));
  EXPECT_EQ(v.action, Action::kLog);
  EXPECT_EQ(v.would, Action::kReject);
  EXPECT_FALSE(s().decision());
  EXPECT_TRUE(s().end_of_message().is_continue());
  ASSERT_EQ(logs().size(), 1u);
  EXPECT_THAT(logs()[0], HasSubstr("action=log would=reject rule=header_line_length"));
  EXPECT_THAT(logs()[0], HasSubstr("reply=\"550 5.6.0 Header line too long\""));
}

TEST_F(SessionTest, MonitorPerRuleAndEnforceOverride) {
  start(
      "mode: monitor\n"
      "rules: { sender_address_length: { mode: enforce } }\n");
  Verdict v = s().mail(std::string(400, 'a'));
  EXPECT_EQ(v.action, Action::kReject);
  start("rules: { sender_address_length: { mode: monitor } }");
  EXPECT_EQ(s().mail(std::string(400, 'a')).would, Action::kReject);
}

TEST_F(SessionTest, TagAndQuarantineAreCollectedForEndOfMessage) {
  start(
      "rules:\n"
      "  header_line_length: { action: tag }\n"
      "  to_fields_count: { max: 1, action: quarantine }\n");
  envelope();
  EXPECT_TRUE(s().header("Subject", std::string(1000, 'x')).is_continue());   // 1009
  EXPECT_TRUE(s().header("X-Longer", std::string(1100, 'x')).is_continue());  // 1110
  s().header("To", "a@example.net");
  EXPECT_EQ(s().header("To", "b@example.net").action, Action::kQuarantine);
  // The longest header line is tagged when the header section ends.
  EXPECT_EQ(s().end_of_headers().action, Action::kTag);
  EXPECT_EQ(s().last()[0].where, "header:X-Longer");
  EXPECT_TRUE(s().end_of_message().is_continue());
  EXPECT_THAT(s().tags(),
              ElementsAre("rule=header_line_length; result=fail; actual=1110; limit=998"));
  EXPECT_TRUE(s().quarantined());
  EXPECT_EQ(s().quarantine_reason(), "esmtp-inspect rule=to_fields_count");
}

TEST_F(SessionTest, ProfilesExemptAndOverride) {
  const char* yaml =
      "profiles:\n"
      "  - { name: gw, match: { clients: [203.0.113.0/24] }, inspect: false }\n"
      "  - { name: sub, match: { authenticated: true }, rules: { recipient_count: { max: 2 } } }\n";
  start(yaml);
  envelope();
  EXPECT_TRUE(s().header("Subject", std::string(5000, 'x')).is_continue());
  EXPECT_EQ(s().profile().name, "gw");

  session_ = std::make_unique<Session>(config(yaml), logger_.get());
  s().connect("198.51.100.9", 1, "client.example");
  s().set_authenticated("alice");
  s().mail("alice@example.org");
  EXPECT_EQ(s().profile().name, "sub");
  s().rcpt("1@x.example");
  s().rcpt("2@x.example");
  Verdict v = s().rcpt("3@x.example");
  EXPECT_EQ(v.action, Action::kTempfail);
  EXPECT_EQ(v.profile, "sub");
  EXPECT_THAT(logs().back(), HasSubstr("profile=sub"));
}

TEST_F(SessionTest, BodyLengthFromSizeAndActual) {
  start("rules: { body_length: { max: 2048 } }");
  std::string_view big[] = {"SIZE=4096"};
  Verdict v = s().mail("a@example.org", big);
  EXPECT_EQ(v.rule, "body_length");
  EXPECT_EQ(v.where, "mail:SIZE");
  EXPECT_EQ(v.reply.str(), "552 5.3.4 Message too big");
  s().reset();
  envelope();
  s().header("Subject", "x");                                   // 12 octets with CRLF
  s().end_of_headers();                                         // +2
  EXPECT_TRUE(s().body(std::string(2034, 'b')).is_continue());  // 2048
  EXPECT_TRUE(s().body("b").is_continue());
  EXPECT_TRUE(s().body("bb").is_continue());
  // Measured once the message is complete: the size logged is the message's.
  Verdict over = s().end_of_message();
  EXPECT_EQ(over.rule, "body_length");
  EXPECT_EQ(over.actual, "2051");
  EXPECT_EQ(over.where, "body");
}

TEST_F(SessionTest, PlaintextSession) {
  start("rules: { plaintext_session: { action: reject } }");
  Verdict v = s().mail("a@example.org");
  EXPECT_EQ(v.rule, "plaintext_session");
  EXPECT_EQ(v.reply.str(), "530 5.7.0 Must issue a STARTTLS command first");
  s().set_tls("TLSv1.3");
  EXPECT_TRUE(s().mail("a@example.org").is_continue());
}

TEST_F(SessionTest, HeaderLengthAndToFields) {
  start("rules: { header_length: { max: 1024 }, to_fields_count: { max: 2 } }");
  envelope();
  EXPECT_TRUE(s().header("To", "a@example.net").is_continue());
  EXPECT_TRUE(s().header("to", "b@example.net").is_continue());
  Verdict v = s().header("TO", "c@example.net");
  EXPECT_EQ(v.rule, "to_fields_count");
  EXPECT_EQ(v.actual, "3");
  EXPECT_EQ(v.reply.str(), "550 5.6.0 Too many To fields");
  s().reset();
  envelope();
  // 4 + 2 + 990 + 2 = 998 octets; 2 more fields of 12 cross 1024.
  EXPECT_TRUE(s().header("X-Aa", std::string(990, 'h')).is_continue());
  EXPECT_TRUE(s().header("X-B", "12345").is_continue());  // 1010
  Verdict h = s().header("X-C", "12345");                 // 1022
  EXPECT_TRUE(h.is_continue());
  h = s().header("X-D", "6");  // 1030
  EXPECT_EQ(h.rule, "header_length");
  EXPECT_EQ(h.actual, "1030");
  EXPECT_EQ(h.reply.str(), "552 5.3.4 Message header too large");
}

TEST_F(SessionTest, BodyBeforeEndOfHeadersIsHandled) {
  start();
  envelope();
  s().header("Content-Type", "multipart/mixed; boundary=b");
  // No end_of_headers(): the MTA went straight to the body.
  Verdict v = s().body("--b\r\nContent-Disposition: attachment; filename=" + std::string(300, 'n') +
                       "\r\n\r\n");
  EXPECT_EQ(v.rule, "mime_filename_length");
}

TEST_F(SessionTest, NoBodyScanWhenNoRuleReadsTheBody) {
  start("rules: { body_line_length: off, mime_structure: off, mime_filename_length: off }");
  envelope();
  s().end_of_headers();
  EXPECT_TRUE(s().body(std::string(100000, 'x')).is_continue());
  EXPECT_TRUE(s().end_of_message().is_continue());
  EXPECT_TRUE(logs().empty());
}

TEST_F(SessionTest, QueueIdAndNoQueue) {
  start();
  s().helo(std::string(600, 'h'));
  EXPECT_THAT(logs().at(0),
              ::testing::StartsWith("NOQUEUE: action=reject rule=command_line_length"));
}

TEST_F(SessionTest, HostileValuesStayOnOneLogLine) {
  start();
  s().connect("203.0.113.5", 1, "evil\nname");
  s().helo("x\r\ny");
  s().mail(std::string("a\nb\"c@example.org"));
  ASSERT_EQ(logs().size(), 1u);
  EXPECT_EQ(logs()[0].find('\n'), std::string::npos);
  EXPECT_THAT(logs()[0], HasSubstr("client=evil\\x0aname[203.0.113.5]"));
  EXPECT_THAT(logs()[0], HasSubstr("from=<a\\x0ab\\\"c@example.org>"));
}

TEST_F(SessionTest, LongValuesAreCutAtACharacterBoundary) {
  start();
  envelope();
  s().header("Content-Type", "multipart/mixed; boundary=b");
  s().end_of_headers();
  std::string name = "x";  // 1 + 2 x 150 octets: the cut at 200 falls inside a "\xc3\xbc"
  for (int i = 0; i < 150; ++i) name += "%C3%BC";
  Verdict v = s().body("--b\r\nContent-Disposition: attachment; filename*=utf-8''" + name +
                       "\r\n\r\nx\r\n--b--\r\n");
  EXPECT_EQ(v.rule, "mime_filename_length");
  std::string want = "filename=x";
  for (int i = 0; i < 99; ++i) want += "\xc3\xbc";
  EXPECT_EQ(v.detail, want + "...");
}

TEST(SessionConfig, ConfigOutlivesReload) {
  auto first = config("rules: { header_line_length: { max: 100 } }");
  Session s(first, nullptr);
  first.reset();  // the daemon swapped in a new config; the session keeps its own
  s.connect("192.0.2.1", 1, "");
  s.mail("a@example.org");
  EXPECT_EQ(s.header("Subject", std::string(100, 'x')).limit, "100");
}

}  // namespace
}  // namespace esmtp
