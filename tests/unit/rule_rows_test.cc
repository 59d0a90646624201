// The rule rows drive the engine (common/rules/rules.h): which rules run on
// which event, which daemon decides each when both serve one MTA
// (both_daemons), what the milter asks the MTA for, and when the identity
// checks are due.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"
#include "common/engine/mta_needs.h"
#include "common/engine/session.h"

namespace esmtp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::shared_ptr<const Config> config(const std::string& yaml) {
  auto r = load_config_string(yaml);
  EXPECT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors.front().message);
  return r.config;
}

std::vector<std::string> rules_of(const Session& s) {
  std::vector<std::string> out;
  for (const auto& v : s.last()) out.emplace_back(v.rule);
  return out;
}

TEST(RuleRows, EveryRowIsComplete) {
  for (const auto& r : rule_table()) {
    SCOPED_TRACE(std::string(r.name));
    EXPECT_NE(r.events, 0);
    EXPECT_NE(r.evaluate, nullptr);
    EXPECT_FALSE(stage_text(r.events).empty());
    EXPECT_EQ(find_rule(r.name), r.id);
  }
}

TEST(RuleRows, StageTextFromEvents) {
  EXPECT_EQ(stage_text(rule_info(RuleId::kCommandLineLength).events), "helo, mail, rcpt");
  EXPECT_EQ(stage_text(rule_info(RuleId::kBodyLength).events), "mail, header, body");
  EXPECT_EQ(stage_text(rule_info(RuleId::kHeaderLineLength).events), "header");
  EXPECT_EQ(stage_text(rule_info(RuleId::kInvalidRecipients).events), "rcpt");
  EXPECT_EQ(stage_text(rule_info(RuleId::kBodyLineLength).events), "body");
}

// One refusal per command, the most specific rule first: a sender that is
// too long and has a forbidden character is refused for the character.
TEST(RuleRows, RankOrdersTheRulesOfOneEvent) {
  Session s(config("rules: { sender_address_length: { max: 5 } }"));
  s.connect("192.0.2.1", 0, "");
  EXPECT_EQ(s.mail("<much|longer@example.org>").rule, "special_characters");
  EXPECT_THAT(rules_of(s), ElementsAre("special_characters"));
}

const char* kEnvelopeAndContent =
    "mode: monitor\n"
    "rules: { to_fields_count: { max: 1 }, body_length: { max: 1024 } }\n";

std::vector<std::string> run(FrontEnd fe, bool both) {
  Session s(config(std::string(kEnvelopeAndContent) + "both_daemons: " + (both ? "true" : "false")),
            nullptr, fe);
  std::vector<std::string> seen;
  auto take = [&] {
    for (const auto& v : s.last()) seen.emplace_back(v.rule);
  };
  s.connect("192.0.2.1", 0, "");
  s.helo("mx.example.org");
  const std::string_view size[] = {"SIZE=999999"};
  s.mail("<a|b@example.org>", size);
  take();
  s.rcpt("<c@example.net>");
  s.header("To", "c@example.net");
  s.header("To", "d@example.net");
  take();
  s.end_of_message();
  return seen;
}

TEST(BothDaemons, EachRuleDecidedByOneDaemon) {
  EXPECT_THAT(run(FrontEnd::kPolicy, true), ElementsAre("special_characters"));
  EXPECT_THAT(run(FrontEnd::kMilter, true), ElementsAre("body_length", "to_fields_count"));
  // Alone (the default), each daemon decides every rule it sees.
  EXPECT_THAT(run(FrontEnd::kPolicy, false),
              ElementsAre("special_characters", "body_length", "to_fields_count"));
  EXPECT_THAT(run(FrontEnd::kMilter, false),
              ElementsAre("special_characters", "body_length", "to_fields_count"));
  EXPECT_THAT(run(FrontEnd::kOffline, true),
              ElementsAre("special_characters", "body_length", "to_fields_count"));
}

TEST(MtaNeeds, DerivedFromTheRows) {
  const MtaNeeds all = mta_needs(*config(""), FrontEnd::kMilter);
  EXPECT_TRUE(all.headers);
  EXPECT_TRUE(all.body);
  EXPECT_TRUE(all.rejected_recipients);  // invalid_recipients is on by default
  const MtaNeeds no_harvest =
      mta_needs(*config("rules: { invalid_recipients: off }"), FrontEnd::kMilter);
  EXPECT_FALSE(no_harvest.rejected_recipients);
  EXPECT_TRUE(no_harvest.body);
  // body_length alone needs the body and the header (it counts both).
  const MtaNeeds size_only = mta_needs(
      *config("rules: { header_line_length: off, body_line_length: off, mime_structure: off,"
              " mime_filename_length: off, invalid_recipients: off, body_length: { max: 2048 } }"),
      FrontEnd::kMilter);
  EXPECT_TRUE(size_only.body);
  EXPECT_TRUE(size_only.headers);
  EXPECT_FALSE(size_only.rejected_recipients);
  // The policy service decides no content rule when both daemons run.
  const MtaNeeds policy = mta_needs(*config("both_daemons: true"), FrontEnd::kPolicy);
  EXPECT_FALSE(policy.body);
  EXPECT_FALSE(policy.headers);
}

class IdentityTiming : public ::testing::Test {
 protected:
  void start(const std::string& yaml, FrontEnd fe) {
    s_ = std::make_unique<Session>(config(yaml), nullptr, fe);
    s_->connect("192.0.2.1", 0, "");
  }
  void checked() { s_->identity(IdentityReport{}, "helo"); }
  std::unique_ptr<Session> s_;
};

TEST_F(IdentityTiming, OncePerHeloNameWhateverItsCase) {
  start("", FrontEnd::kMilter);
  EXPECT_FALSE(s_->identity_due(Event::kHelo));  // no HELO yet
  s_->helo("mx.example.org");
  ASSERT_TRUE(s_->identity_due(Event::kHelo));
  EXPECT_EQ(s_->identity_due(Event::kHelo)->helo, "mx.example.org");
  checked();
  EXPECT_FALSE(s_->identity_due(Event::kMail));
  s_->helo("MX.Example.ORG");
  EXPECT_FALSE(s_->identity_due(Event::kHelo));
  s_->helo("other.example.org");
  ASSERT_TRUE(s_->identity_due(Event::kHelo));
  EXPECT_EQ(s_->identity_due(Event::kHelo)->helo, "other.example.org");
}

TEST_F(IdentityTiming, WithoutHeloAtTheFirstMail) {
  start("", FrontEnd::kPolicy);
  s_->mail("<a@example.org>");
  ASSERT_TRUE(s_->identity_due(Event::kMail));
  EXPECT_EQ(s_->identity_due(Event::kMail)->helo, "");
  checked();
  s_->mail("<b@example.org>");
  EXPECT_FALSE(s_->identity_due(Event::kMail));
}

TEST_F(IdentityTiming, WhichDaemonMakesThem) {
  start("milter: { identity: false }", FrontEnd::kMilter);
  s_->helo("mx.example.org");
  EXPECT_FALSE(s_->identity_due(Event::kHelo));
  start("both_daemons: true", FrontEnd::kMilter);
  s_->helo("mx.example.org");
  EXPECT_FALSE(s_->identity_due(Event::kHelo));
  start("both_daemons: true", FrontEnd::kPolicy);
  s_->helo("mx.example.org");
  EXPECT_TRUE(s_->identity_due(Event::kHelo));
  start("profiles: [ { name: sub, match: { clients: [192.0.2.0/24] }, identity: off } ]",
        FrontEnd::kPolicy);
  s_->helo("mx.example.org");
  EXPECT_FALSE(s_->identity_due(Event::kHelo));
  EXPECT_THAT(rules_of(*s_), IsEmpty());
}

}  // namespace
}  // namespace esmtp
