// The milter front end driven without libmilter: a fake MtaContext records
// what the milter tells the MTA.
#include "milter/milter_connection.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"
#include "tests/support/fake_mta.h"

namespace esmtp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

sockaddr_in v4(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

class MilterConnectionTest : public ::testing::Test {
 protected:
  void start(std::string_view yaml, MilterFeatures f = {true, true, true}) {
    LoadResult r = load_config_string(yaml);
    ASSERT_TRUE(r.ok());
    auto sink = std::make_unique<CaptureSink>();
    capture_ = sink.get();
    logger_ = std::make_shared<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo, "t");
    conn_ = std::make_unique<MilterConnection>(r.config, logger_, f);
    sockaddr_in a = v4("203.0.113.5");
    EXPECT_EQ(conn_->connect(mta_, "mx.example.org", reinterpret_cast<sockaddr*>(&a)),
              MilterStatus::kContinue);
    EXPECT_EQ(conn_->helo(mta_, "mx.example.org"), MilterStatus::kContinue);
  }
  MilterStatus mail(const char* from) {
    const char* argv[] = {from, nullptr};
    return conn_->envfrom(mta_, std::span<const char* const>(argv, 1));
  }
  MilterStatus rcpt(const char* to) {
    const char* argv[] = {to, nullptr};
    return conn_->envrcpt(mta_, std::span<const char* const>(argv, 1));
  }

  FakeMta mta_;
  CaptureSink* capture_ = nullptr;
  std::shared_ptr<Logger> logger_;
  std::unique_ptr<MilterConnection> conn_;
};

TEST_F(MilterConnectionTest, RejectSetsTheSpecReply) {
  start("");
  EXPECT_EQ(mail("<a@example.org>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<b@example.net>"), MilterStatus::kContinue);
  mta_.macros["i"] = "4F2A1B3C7D";
  EXPECT_EQ(conn_->data(mta_), MilterStatus::kContinue);
  // With SMFIP_HDR_LEADSPC the value carries its leading blank.
  EXPECT_EQ(conn_->header(mta_, "Subject", (" " + std::string(1000, 's')).c_str()),
            MilterStatus::kReject);
  EXPECT_THAT(mta_.replies, ElementsAre("550 5.6.0 Header line too long"));
  EXPECT_THAT(capture_->lines()[0],
              ::testing::StartsWith("4F2A1B3C7D: action=reject rule=header_line_length "
                                    "actual=1009 limit=998 where=header:Subject"));
}

// A verdict that lets the message go on, decided at MAIL before Postfix has
// a queue ID (it opens its queue file at the first accepted recipient), is
// logged with the queue ID once the MTA sends it (esmtp-inspect.yaml(5),
// LOGGING), so that grep QUEUEID finds it.
TEST_F(MilterConnectionTest, MailStageLogLineWaitsForTheQueueId) {
  start("rules: { sender_address_length: { max: 5, action: log } }\n");
  EXPECT_EQ(mail("<long-sender@example.org>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<b@example.net>"), MilterStatus::kContinue);
  EXPECT_THAT(capture_->lines(), IsEmpty());
  mta_.macros["i"] = "4F2A1B3C7D";
  EXPECT_EQ(conn_->data(mta_), MilterStatus::kContinue);
  ASSERT_EQ(capture_->lines().size(), 1u);
  EXPECT_THAT(capture_->lines()[0],
              ::testing::StartsWith("4F2A1B3C7D: action=log rule=sender_address_length "
                                    "actual=23 limit=5 where=mail"));
  conn_->abort();
  // A transaction that never gets one: NOQUEUE when it ends.
  mta_.macros.erase("i");
  EXPECT_EQ(mail("<other-sender@example.org>"), MilterStatus::kContinue);
  EXPECT_EQ(capture_->lines().size(), 1u);
  conn_->abort();
  ASSERT_EQ(capture_->lines().size(), 2u);
  EXPECT_THAT(capture_->lines()[1],
              ::testing::StartsWith("NOQUEUE: action=log rule=sender_address_length actual=24"));
  // Monitor mode too; and a refusal before the queue ID writes the held line
  // first, so the log keeps the order of the decisions.
  conn_.reset();
  start(
      "mode: monitor\n"
      "rules: { sender_address_length: { max: 5 } }\n");
  EXPECT_EQ(mail("<long-sender@example.org>"), MilterStatus::kContinue);
  EXPECT_THAT(capture_->lines(), IsEmpty());
  conn_.reset();  // the connection closes mid-transaction: nothing is lost
  ASSERT_EQ(capture_->lines().size(), 1u);
  EXPECT_THAT(capture_->lines()[0],
              ::testing::StartsWith(
                  "NOQUEUE: action=log would=reject rule=sender_address_length actual=23"));
  start(
      "rules: { sender_address_length: { max: 5, action: log }, recipient_count: { max: 1 } "
      "}\n");
  EXPECT_EQ(mail("<long-sender@example.org>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<b@example.net>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<c@example.net>"), MilterStatus::kTempfail);
  ASSERT_EQ(capture_->lines().size(), 2u);
  EXPECT_THAT(capture_->lines()[0], ::testing::HasSubstr("rule=sender_address_length"));
  EXPECT_THAT(capture_->lines()[1], ::testing::HasSubstr("rule=recipient_count"));
}

TEST_F(MilterConnectionTest, WithoutLeadingSpaceTheBlankIsAssumed) {
  start("", MilterFeatures{});
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  // "Subject: " + 989 = 998 octets as sent.
  EXPECT_EQ(conn_->header(mta_, "Subject", std::string(989, 's').c_str()), MilterStatus::kContinue);
  EXPECT_EQ(conn_->header(mta_, "Subject", std::string(990, 's').c_str()), MilterStatus::kReject);
}

TEST_F(MilterConnectionTest, RecipientTempfailAndDisconnect) {
  start("rules: { recipient_count: { max: 1 }, invalid_recipients: { max: 2 } }");
  mail("<a@example.org>");
  EXPECT_EQ(rcpt("<b@example.net>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<c@example.net>"), MilterStatus::kTempfail);
  EXPECT_EQ(mta_.replies.back(), "452 4.5.3 Too many recipients");
  mta_.macros["{rcpt_mailer}"] = "error";  // rejected by the MTA
  EXPECT_EQ(rcpt("<x@nowhere.invalid>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<y@nowhere.invalid>"), MilterStatus::kContinue);
  EXPECT_EQ(rcpt("<z@nowhere.invalid>"), MilterStatus::kTempfail);
  EXPECT_EQ(mta_.replies.back(), "421 4.7.0 Too many invalid recipients");
  // Every later command gets the 421 until the MTA closes the session.
  mta_.macros.erase("{rcpt_mailer}");
  EXPECT_EQ(rcpt("<d@example.net>"), MilterStatus::kTempfail);
}

TEST_F(MilterConnectionTest, RejectedRecipientsIgnoredWithoutRcptRej) {
  start("rules: { invalid_recipients: { max: 1 } }", MilterFeatures{true, true, false});
  mail("<a@example.org>");
  mta_.macros["{rcpt_mailer}"] = "error";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rcpt("<x@nowhere.invalid>"), MilterStatus::kContinue);
}

TEST_F(MilterConnectionTest, TagAndQuarantineAtEndOfMessage) {
  start(
      "rules: { to_fields_count: { max: 1, action: tag }, header_line_length: { action: quarantine "
      "} }");
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->header(mta_, "To", " a@example.net");
  conn_->header(mta_, "To", " b@example.net");
  conn_->header(mta_, "Subject", (" " + std::string(1000, 'q')).c_str());
  conn_->eoh(mta_);
  const unsigned char body[] = "hello\r\n";
  conn_->body(mta_, body, sizeof body - 1);
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kContinue);
  EXPECT_THAT(mta_.headers,
              ElementsAre("X-ESMTP-Inspect: rule=to_fields_count; result=fail; actual=2; limit=1"));
  EXPECT_THAT(mta_.quarantines, ElementsAre("esmtp-inspect rule=header_line_length"));
}

// A sender's X-ESMTP-Inspect fields are removed (last first, numbered among
// the fields of that name the MTA showed us) before ours is added, in every
// letter case, and only in the message that had them.
TEST_F(MilterConnectionTest, ForgedTagHeadersAreRemovedBeforeOursIsAdded) {
  MilterFeatures f{true, true, true};
  f.change_headers = true;
  start("rules: { to_fields_count: { max: 1, action: tag } }", f);
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->header(mta_, "X-ESMTP-Inspect", " rule=fcrdns; result=pass");
  conn_->header(mta_, "To", " a@example.net");
  conn_->header(mta_, "x-esmtp-inspect", " rule=helo_matches_ptr; result=pass");
  conn_->header(mta_, "To", " b@example.net");
  conn_->eoh(mta_);
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kContinue);
  EXPECT_THAT(mta_.deleted, ElementsAre("X-ESMTP-Inspect#2", "X-ESMTP-Inspect#1"));
  EXPECT_THAT(mta_.headers,
              ElementsAre("X-ESMTP-Inspect: rule=to_fields_count; result=fail; actual=2; limit=1"));
  // The next message on the connection has none: nothing is removed.
  mta_.deleted.clear();
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->header(mta_, "Subject", " clean");
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kContinue);
  EXPECT_TRUE(mta_.deleted.empty());
  // Also when no rule tags, and when the header stage was unanswered.
  f.no_reply_headers = true;
  start("", f);
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->header(mta_, "X-ESMTP-Inspect", " rule=fcrdns; result=pass");
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kContinue);
  EXPECT_THAT(mta_.deleted, ElementsAre("X-ESMTP-Inspect#1"));
}

// With tag_secret, the policy service's PREPENDed fields (named
// X-ESMTP-Inspect-SECRET, shown to the milter first) are renamed in place;
// the sender's X-ESMTP-Inspect fields are removed.
TEST_F(MilterConnectionTest, PolicyServiceTagsAreRenamedForgedOnesRemoved) {
  MilterFeatures f{true, true, true};
  f.change_headers = true;
  start("tag_secret: 0123456789abcdefXYZ\n", f);
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->header(mta_, "X-ESMTP-Inspect-0123456789abcdefXYZ", " rule=fcrdns; result=fail");
  conn_->header(mta_, "X-ESMTP-Inspect", " rule=fcrdns; result=pass");
  conn_->header(mta_, "X-ESMTP-Inspect-0123456789abcdefxyz", " rule=helo_resolves; result=none");
  conn_->header(mta_, "X-ESMTP-Inspect-wrongsecret00000", " rule=x; result=pass");
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kContinue);
  EXPECT_THAT(mta_.deleted,
              ElementsAre("X-ESMTP-Inspect#1", "X-ESMTP-Inspect-0123456789abcdefXYZ#2",
                          "X-ESMTP-Inspect-0123456789abcdefXYZ#1"));
  EXPECT_THAT(mta_.headers, ElementsAre("0>X-ESMTP-Inspect: rule=helo_resolves; result=none",
                                        "0>X-ESMTP-Inspect: rule=fcrdns; result=fail"));
}

TEST(TagSecret, LettersAndDigitsSixteenToSixtyFour) {
  EXPECT_TRUE(load_config_string("tag_secret: 0123456789abcdef").ok());
  EXPECT_FALSE(load_config_string("tag_secret: short").ok());
  EXPECT_FALSE(load_config_string("tag_secret: 0123456789abcdef-").ok());
  EXPECT_FALSE(load_config_string("tag_secret: " + std::string(65, 'a')).ok());
  EXPECT_EQ(load_config_string("tag_secret: none").config->tag_secret, "");
  EXPECT_EQ(load_config_string("").config->tag_secret, machine_tag_secret());
  EXPECT_EQ(load_config_string("tag_secret: auto").config->tag_secret, machine_tag_secret());
}

TEST_F(MilterConnectionTest, DiscardAndSkip) {
  start("rules: { sender_address: { patterns: ['*@junk.example'], action: discard } }");
  EXPECT_EQ(mail("<x@junk.example>"), MilterStatus::kDiscard);
  conn_->abort();
  // No rule reads the body once every body rule is off: SMFIS_SKIP.
  start("rules: { body_line_length: off, mime_structure: off, mime_filename_length: off }");
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->eoh(mta_);
  const unsigned char body[] = "x\r\n";
  EXPECT_EQ(conn_->body(mta_, body, 3), MilterStatus::kSkip);
}

// SMFIP_NR_DATA/HDR/EOH/BODY: Postfix does not wait for those stages; a
// verdict reached in them is given at the end of message, where the SMTP
// client hears it anyway.
constexpr MilterFeatures kNoReply{true, true, true, true, true, true, true};

TEST_F(MilterConnectionTest, UnansweredStagesHoldTheVerdictUntilEndOfMessage) {
  start("", kNoReply);
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  mta_.macros["i"] = "4F2A1B3C7D";
  EXPECT_EQ(conn_->data(mta_), MilterStatus::kNoReply);
  EXPECT_EQ(conn_->header(mta_, "From", " a@example.org"), MilterStatus::kNoReply);
  EXPECT_EQ(conn_->header(mta_, "Subject", (" " + std::string(1000, 's')).c_str()),
            MilterStatus::kNoReply);
  EXPECT_TRUE(mta_.replies.empty());
  // Logged when it happened, once; later headers are not read.
  EXPECT_EQ(conn_->header(mta_, "X-Long", (" " + std::string(2000, 'x')).c_str()),
            MilterStatus::kNoReply);
  EXPECT_EQ(conn_->eoh(mta_), MilterStatus::kNoReply);
  const unsigned char body[] = "hello\r\n";
  EXPECT_EQ(conn_->body(mta_, body, sizeof body - 1), MilterStatus::kNoReply);
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kReject);
  EXPECT_THAT(mta_.replies, ElementsAre("550 5.6.0 Header line too long"));
  ASSERT_EQ(capture_->lines().size(), 1u);
  EXPECT_THAT(capture_->lines()[0],
              ::testing::StartsWith("4F2A1B3C7D: action=reject rule=header_line_length "
                                    "actual=1009 limit=998 where=header:Subject"));
}

TEST_F(MilterConnectionTest, UnansweredStagesCleanMessageAndReset) {
  start("rules: { mime_filename: { patterns: ['*.exe'] } }", kNoReply);
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  EXPECT_EQ(conn_->header(mta_, "Content-Type", " multipart/mixed; boundary=b"),
            MilterStatus::kNoReply);
  EXPECT_EQ(conn_->eoh(mta_), MilterStatus::kNoReply);
  const std::string bad =
      "--b\r\nContent-Disposition: attachment; filename=x.exe\r\n\r\nMZ\r\n--b--\r\n";
  EXPECT_EQ(conn_->body(mta_, reinterpret_cast<const unsigned char*>(bad.data()), bad.size()),
            MilterStatus::kNoReply);
  // An abort (RSET) drops what was held: the next message starts clean.
  conn_->abort();
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  EXPECT_EQ(conn_->header(mta_, "Subject", " fine"), MilterStatus::kNoReply);
  EXPECT_EQ(conn_->eoh(mta_), MilterStatus::kNoReply);
  const unsigned char body[] = "hello\r\n";
  EXPECT_EQ(conn_->body(mta_, body, sizeof body - 1), MilterStatus::kNoReply);
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kContinue);
  EXPECT_TRUE(mta_.replies.empty());
  // The same attachment, held from the body, is given at the end of message.
  mail("<a@example.org>");
  rcpt("<b@example.net>");
  conn_->header(mta_, "Content-Type", " multipart/mixed; boundary=b");
  conn_->eoh(mta_);
  conn_->body(mta_, reinterpret_cast<const unsigned char*>(bad.data()), bad.size());
  EXPECT_EQ(conn_->eom(mta_), MilterStatus::kReject);
  EXPECT_THAT(mta_.replies, ElementsAre("550 5.7.1 Attachment type not allowed"));
}

TEST_F(MilterConnectionTest, TlsAndAuthMacrosReachTheEngine) {
  start(
      "rules: { plaintext_session: { action: reject } }\n"
      "profiles: [ { name: sub, match: { authenticated: true }, inspect: false } ]\n");
  EXPECT_EQ(mail("<a@example.org>"), MilterStatus::kReject);
  EXPECT_EQ(mta_.replies.back(), "530 5.7.0 Must issue a STARTTLS command first");
  conn_->abort();
  mta_.macros["{tls_version}"] = "TLSv1.3";
  EXPECT_EQ(mail("<a@example.org>"), MilterStatus::kContinue);
  conn_->abort();
  mta_.macros.erase("{tls_version}");
  mta_.macros["{auth_authen}"] = "alice";
  EXPECT_EQ(mail("<a@example.org>"), MilterStatus::kContinue);  // profile sub: exempt
  EXPECT_EQ(conn_->session().profile().name, "sub");
}

TEST(MilterNegotiation, SkipsStepsNoRuleNeeds) {
  auto all = load_config_string("").config;
  EXPECT_TRUE(config_reads_headers(*all));
  EXPECT_TRUE(config_reads_body(*all));
  auto none = load_config_string(
                  "rules: { header_line_length: off, body_line_length: off, mime_structure: off,"
                  " mime_filename_length: off }")
                  .config;
  EXPECT_FALSE(config_reads_headers(*none));
  EXPECT_FALSE(config_reads_body(*none));
  // A profile that reads the body keeps the body coming.
  auto profile =
      load_config_string(
          "rules: { body_line_length: off, mime_structure: off, mime_filename_length: off }\n"
          "profiles: [ { name: p, match: { clients: [10.0.0.0/8] }, rules: { "
          "body_line_length: { action: log } } } ]\n")
          .config;
  EXPECT_TRUE(config_reads_body(*profile));
}

TEST(SockaddrText, V4V6AndUnknown) {
  sockaddr_in a = v4("192.0.2.1");
  EXPECT_EQ(sockaddr_text(reinterpret_cast<sockaddr*>(&a)), "192.0.2.1");
  sockaddr_in6 b{};
  b.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "2001:db8::1", &b.sin6_addr);
  EXPECT_EQ(sockaddr_text(reinterpret_cast<sockaddr*>(&b)), "2001:db8::1");
  EXPECT_EQ(sockaddr_text(nullptr), "");
}

}  // namespace
}  // namespace esmtp
