#include "policy/policy_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"

namespace esmtp {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

class PolicyHandlerTest : public ::testing::Test {
 protected:
  void start(std::string_view yaml = "") {
    LoadResult r = load_config_string(yaml);
    ASSERT_TRUE(r.ok()) << r.errors[0].str();
    config_ = r.config;
    auto sink = std::make_unique<CaptureSink>();
    cap_ = sink.get();
    logger_ = std::make_shared<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo, "t");
    handler_ = std::make_unique<PolicyHandler>([this] { return std::make_pair(config_, logger_); });
  }
  PolicyRequest req(std::string state, std::vector<std::pair<std::string, std::string>> extra = {},
                    std::string helo = "mx.example.org") {
    PolicyRequest r;
    r.add("request", "smtpd_access_policy");
    r.add("protocol_state", state);
    for (auto& [k, v] : extra) r.add(k, v);
    r.add("client_address", "203.0.113.7");
    r.add("client_port", "40000");
    r.add("client_name", "unknown");
    r.add("helo_name", helo);
    r.add("instance", "a1.b2.c3");
    r.add("sender", "a@example.org");
    return r;
  }
  // A request with no identity lookup needed, or with the given report.
  std::string handle(const PolicyRequest& r, const IdentityReport* report = nullptr) {
    auto need = handler_->prepare(r);
    if (need && !report) {
      static const IdentityReport all_pass;
      return handler_->finish(r, &all_pass);
    }
    return handler_->finish(r, need ? report : nullptr);
  }

  std::shared_ptr<const Config> config_;
  std::shared_ptr<Logger> logger_;
  CaptureSink* cap_ = nullptr;
  std::unique_ptr<PolicyHandler> handler_;
};

// client_rate: the server asks the store (counter_due) before prepare(), once
// per SMTP session, at its first transaction's first request.
TEST_F(PolicyHandlerTest, ClientRateAsksTheStoreOncePerSession) {
  start("rules: { client_rate: { max: 2, window: 1m, per: /24 } }");
  auto rcpt = req("RCPT", {{"recipient", "1@example.net"}});
  auto q = handler_->counter_due(rcpt);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->name, "client_rate:203.0.113.0/24");
  EXPECT_EQ(q->window, std::chrono::seconds(60));
  EXPECT_EQ(q->add, 1u);
  handler_->supply_count(q->rule, 2);
  EXPECT_EQ(handle(rcpt), "DUNNO");
  // Later requests of the session, and its next transaction, count nothing.
  auto rcpt2 = req("RCPT", {{"recipient", "2@example.net"}});
  EXPECT_FALSE(handler_->counter_due(rcpt2));
  EXPECT_EQ(handle(rcpt2), "DUNNO");
  // A new session (another client port) over the limit: 421 at its first RCPT.
  // (extra attributes come first, and the first of a name counts)
  PolicyRequest next = req("RCPT", {{"client_port", "40001"}, {"recipient", "1@example.net"}});
  q = handler_->counter_due(next);
  ASSERT_TRUE(q);
  handler_->supply_count(q->rule, 3);
  EXPECT_EQ(handle(next), "421 4.7.0 Too many connections, try again later");
  EXPECT_THAT(cap_->lines().back(),
              HasSubstr("action=disconnect rule=client_rate actual=3 limit=2 where=mail"));
  // The store could not tell (on_error: skip): no verdict.
  PolicyRequest third = req("RCPT", {{"client_port", "40002"}, {"recipient", "1@example.net"}});
  q = handler_->counter_due(third);
  ASSERT_TRUE(q);
  handler_->supply_count(q->rule, std::nullopt);
  EXPECT_EQ(handle(third), "DUNNO");
}

TEST_F(PolicyHandlerTest, RecipientCountPerInstance) {
  start("rules: { recipient_count: { max: 2 } }");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "1@example.net"}})), "DUNNO");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "2@example.net"}})), "DUNNO");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "3@example.net"}})), "452 4.5.3 Too many recipients");
  // A new message (instance) counts from zero.
  PolicyRequest next = req("RCPT", {{"recipient", "4@example.net"}});
  PolicyRequest fresh;
  for (auto key : {"request", "protocol_state", "recipient", "client_address", "client_port",
                   "client_name", "helo_name", "sender"})
    fresh.add(key, std::string(next.get(key)));
  fresh.add("instance", "d4.e5.f6");
  EXPECT_EQ(handle(fresh), "DUNNO");
}

TEST_F(PolicyHandlerTest, SenderRulesAndSizeAtMail) {
  start("rules: { body_length: { max: 2048 } }");
  EXPECT_EQ(handle(req("MAIL", {{"size", "5000"}})), "552 5.3.4 Message too big");
  EXPECT_THAT(cap_->lines().back(),
              HasSubstr("rule=body_length actual=5000 limit=2048 where=mail:SIZE"));
  start();
  PolicyRequest r;
  r.add("protocol_state", "MAIL");
  r.add("client_address", "203.0.113.7");
  r.add("instance", "x");
  r.add("sender", std::string(321, 's'));
  EXPECT_EQ(handle(r), "501 5.1.7 Sender address too long");
}

TEST_F(PolicyHandlerTest, IdentityTagBecomesOnePrepend) {
  start("tag_secret: none");
  IdentityReport report;
  report.results[static_cast<std::size_t>(CheckId::kFcrdns)] = CheckResult::kFail;
  report.results[static_cast<std::size_t>(CheckId::kHeloMatchesPtr)] = CheckResult::kNone;
  PolicyRequest r = req("RCPT", {{"recipient", "b@example.net"}});
  ASSERT_TRUE(handler_->prepare(r).has_value());
  EXPECT_EQ(
      handler_->finish(r, &report),
      "PREPEND X-ESMTP-Inspect: rule=fcrdns; result=fail, rule=helo_matches_ptr; result=none");
  // The same client and HELO: no new lookup, no second header.
  PolicyRequest r2 = req("RCPT", {{"recipient", "c@example.net"}});
  EXPECT_FALSE(handler_->prepare(r2).has_value());
  EXPECT_EQ(handler_->finish(r2, nullptr), "DUNNO");
}

// tag_secret: auto (the default) names the field after the machine's
// derived secret, which the milter on the same machine derives too.
TEST_F(PolicyHandlerTest, IdentityTagUnderTheMachinesSecretByDefault) {
  const std::string secret = machine_tag_secret();
  if (secret.empty()) GTEST_SKIP() << "this machine has no /etc/machine-id";
  EXPECT_EQ(secret.size(), 32u);
  EXPECT_EQ(machine_tag_secret(), secret);
  start();
  IdentityReport report;
  report.results[static_cast<std::size_t>(CheckId::kFcrdns)] = CheckResult::kFail;
  PolicyRequest r = req("RCPT", {{"recipient", "b@example.net"}});
  ASSERT_TRUE(handler_->prepare(r).has_value());
  EXPECT_EQ(handler_->finish(r, &report),
            "PREPEND X-ESMTP-Inspect-" + secret + ": rule=fcrdns; result=fail");
  start("tag_secret: 0123456789abcdefXYZ");
  ASSERT_TRUE(handler_->prepare(r).has_value());
  EXPECT_EQ(handler_->finish(r, &report),
            "PREPEND X-ESMTP-Inspect-0123456789abcdefXYZ: rule=fcrdns; result=fail");
}

// helo_syntax (reject by default): the engine judges the request's
// helo_name (prepare() hands it to the identity lookup, evaluate() decides
// from it and the DNS answers), and a non-FQDN HELO gets the check's reply
// although every DNS answer confirms the client. Then a DNS temperror in a
// check that refuses mail (fcrdns: reject) answers 451 instead.
TEST_F(PolicyHandlerTest, HeloSyntaxRejectAndTemperror) {
  start("identity: { checks: { fcrdns: { action: reject } } }");
  DnsAnswer ptr;
  ptr.status = DnsStatus::kOk;
  ptr.names = {"mx.example.org"};
  DnsAnswer forward;
  forward.status = DnsStatus::kOk;
  forward.addresses = {*IpAddress::parse("203.0.113.7")};
  auto report_for = [&](const PolicyRequest& r) {
    auto input = handler_->prepare(r);
    EXPECT_TRUE(input.has_value());
    if (!input) return IdentityReport{};
    EXPECT_EQ(input->helo, r.get("helo_name"));
    IdentityAnswers answers;
    answers.ptr = &ptr;
    answers.forward["mx.example.org"] = forward;
    answers.helo = &forward;
    return evaluate(*input, answers);
  };

  PolicyRequest bare = req("RCPT", {{"recipient", "b@example.net"}}, "mailhost");
  IdentityReport report = report_for(bare);
  EXPECT_EQ(report.result(CheckId::kHeloSyntax), CheckResult::kFail);
  EXPECT_EQ(report.result(CheckId::kFcrdns), CheckResult::kPass);
  EXPECT_EQ(handler_->finish(bare, &report),
            "504 5.5.2 Helo command rejected: need fully-qualified hostname");
  EXPECT_THAT(cap_->lines().back(), HasSubstr("action=reject rule=helo_syntax"));

  start("identity: { checks: { fcrdns: { action: reject } } }");
  PolicyRequest fqdn = req("RCPT", {{"recipient", "b@example.net"}});
  report = report_for(fqdn);
  EXPECT_EQ(report.result(CheckId::kHeloSyntax), CheckResult::kPass);
  EXPECT_EQ(handler_->finish(fqdn, &report), "DUNNO");

  start("identity: { checks: { fcrdns: { action: reject } } }");
  report = IdentityReport{};
  report.results[static_cast<std::size_t>(CheckId::kFcrdns)] = CheckResult::kTempError;
  PolicyRequest r = req("RCPT", {{"recipient", "b@example.net"}});
  handler_->prepare(r);
  EXPECT_EQ(handler_->finish(r, &report), "451 4.4.3 DNS lookup failed, try again later");
}

TEST_F(PolicyHandlerTest, ActionsMapToPolicyReplies) {
  start(
      "rules:\n"
      "  sender_address: { patterns: ['*@hold.example'], action: quarantine }\n"
      "  special_characters: { action: discard }\n"
      "  recipient_count: { max: 1, action: disconnect }\n");
  PolicyRequest hold = req("RCPT", {{"recipient", "b@example.net"}});
  PolicyRequest h2;
  for (auto key : {"protocol_state", "recipient", "client_address", "client_port", "helo_name"})
    h2.add(key, std::string(hold.get(key)));
  h2.add("instance", "hold-1");
  h2.add("sender", "x@hold.example");
  EXPECT_EQ(handle(h2), "HOLD esmtp-inspect rule=sender_address");
  PolicyRequest d;
  d.add("protocol_state", "MAIL");
  d.add("client_address", "203.0.113.7");
  d.add("client_port", "40000");
  d.add("instance", "disc-1");
  d.add("sender", "a|b@example.org");
  EXPECT_EQ(handle(d), "DISCARD esmtp-inspect rule=special_characters");
  PolicyRequest c1 = req("RCPT", {{"recipient", "1@example.net"}});
  EXPECT_EQ(handle(c1), "DUNNO");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "2@example.net"}})), "421 4.5.3 Too many recipients");
}

TEST_F(PolicyHandlerTest, NewSmtpSessionOnTheSameConnectionStartsFresh) {
  start("rules: { recipient_count: { max: 1 } }");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "1@example.net"}})), "DUNNO");
  PolicyRequest other;
  other.add("protocol_state", "RCPT");
  other.add("client_address", "198.51.100.1");
  other.add("client_port", "5555");
  other.add("helo_name", "other.example.org");
  other.add("instance", "a1.b2.c3");  // even with the same instance string
  other.add("sender", "z@example.org");
  other.add("recipient", "2@example.net");
  EXPECT_EQ(handle(other), "DUNNO");
  EXPECT_EQ(handler_->session()->client_address(), "198.51.100.1");
}

// SPEC 8: a verdict that lets the message go on, decided at MAIL or at the
// first RCPT (Postfix has no queue ID yet), is logged with the queue ID of a
// later request (the DATA request of the shipped snippet), or as NOQUEUE when
// the transaction ends without one.
TEST_F(PolicyHandlerTest, MailStageLogLineCarriesTheQueueIdOfTheDataRequest) {
  start("rules: { sender_address_length: { max: 5, action: log } }");
  EXPECT_EQ(handle(req("MAIL", {{"queue_id", ""}})), "DUNNO");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "b@example.net"}, {"queue_id", ""}})), "DUNNO");
  EXPECT_THAT(cap_->lines(), IsEmpty());
  EXPECT_EQ(handle(req("DATA", {{"queue_id", "4F2A1B3C7D"}})), "DUNNO");
  ASSERT_EQ(cap_->lines().size(), 1u);
  EXPECT_THAT(cap_->lines()[0],
              StartsWith("4F2A1B3C7D: action=log rule=sender_address_length actual=13 limit=5 "
                         "where=mail"));
  EXPECT_THAT(cap_->lines()[0], HasSubstr("from=<a@example.org>"));
  // END-OF-MESSAGE decides and logs nothing again.
  EXPECT_EQ(handle(req("END-OF-MESSAGE", {{"queue_id", "4F2A1B3C7D"}})), "DUNNO");
  EXPECT_EQ(cap_->lines().size(), 1u);

  // Without the DATA restriction, a later RCPT brings the queue ID: the held
  // line goes first, with it, then that RCPT's own.
  start(
      "rules: { sender_address_length: { max: 5, action: log }, recipient_count: { max: 1, "
      "action: log } }");
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "1@example.net"}, {"queue_id", ""}})), "DUNNO");
  EXPECT_THAT(cap_->lines(), IsEmpty());
  EXPECT_EQ(handle(req("RCPT", {{"recipient", "2@example.net"}, {"queue_id", "5B3C"}})), "DUNNO");
  ASSERT_EQ(cap_->lines().size(), 2u);
  EXPECT_THAT(cap_->lines()[0], StartsWith("5B3C: action=log rule=sender_address_length"));
  EXPECT_THAT(cap_->lines()[1], StartsWith("5B3C: action=log rule=recipient_count"));
}

TEST_F(PolicyHandlerTest, MailStageLogLineIsNoqueueWhenNoQueueIdComes) {
  start(
      "mode: monitor\n"
      "rules: { sender_address_length: { max: 5 } }\n");
  auto in = [&](std::string instance, std::string port = "40000") {
    PolicyRequest r = req("RCPT", {{"recipient", "b@example.net"}, {"queue_id", ""}});
    PolicyRequest out;
    for (auto key : {"protocol_state", "recipient", "queue_id", "client_address", "client_name",
                     "helo_name", "sender"})
      out.add(key, std::string(r.get(key)));
    out.add("client_port", port);
    out.add("instance", instance);
    return out;
  };
  // Postfix refused the recipient, or the client quit: no DATA request. The
  // next message (instance) ends the wait.
  EXPECT_EQ(handle(in("m1")), "DUNNO");
  EXPECT_THAT(cap_->lines(), IsEmpty());
  EXPECT_EQ(handle(in("m2")), "DUNNO");
  ASSERT_EQ(cap_->lines().size(), 1u);
  EXPECT_THAT(cap_->lines()[0], StartsWith("NOQUEUE: action=log would=reject "
                                           "rule=sender_address_length actual=13 limit=5"));
  // So does the next SMTP session on the same policy connection...
  EXPECT_EQ(handle(in("m3", "40001")), "DUNNO");
  ASSERT_EQ(cap_->lines().size(), 2u);
  EXPECT_THAT(cap_->lines()[1], StartsWith("NOQUEUE: action=log would=reject"));
  // ... and the policy connection's end.
  handler_->end();
  ASSERT_EQ(cap_->lines().size(), 3u);
  EXPECT_THAT(cap_->lines()[2], StartsWith("NOQUEUE: action=log would=reject"));
  handler_->end();
  EXPECT_EQ(cap_->lines().size(), 3u);
  // A handler destroyed mid-transaction loses nothing either.
  EXPECT_EQ(handle(in("m4")), "DUNNO");
  handler_.reset();
  ASSERT_EQ(cap_->lines().size(), 4u);
  EXPECT_THAT(cap_->lines()[3], StartsWith("NOQUEUE: action=log would=reject"));
}

// A refusal before the queue ID writes the held line first, so the log keeps
// the order of the decisions.
TEST_F(PolicyHandlerTest, RefusalAfterAHeldLineKeepsTheOrder) {
  start("rules: { sender_address_length: { max: 5, action: log } }");
  EXPECT_EQ(handle(req("MAIL", {{"queue_id", ""}})), "DUNNO");
  EXPECT_THAT(cap_->lines(), IsEmpty());
  const std::string refused =
      handle(req("RCPT", {{"recipient", "x|y@example.net"}, {"queue_id", ""}}));
  EXPECT_THAT(refused, StartsWith("5"));
  ASSERT_EQ(cap_->lines().size(), 2u);
  EXPECT_THAT(cap_->lines()[0], StartsWith("NOQUEUE: action=log rule=sender_address_length"));
  EXPECT_THAT(cap_->lines()[1], StartsWith("NOQUEUE: action=reject rule=special_characters"));
}

TEST_F(PolicyHandlerTest, ConnectStateWithoutHeloNeedsNoLookup) {
  start();
  PolicyRequest r;
  r.add("protocol_state", "CONNECT");
  r.add("client_address", "203.0.113.7");
  EXPECT_FALSE(handler_->prepare(r).has_value());
  EXPECT_EQ(handler_->finish(r, nullptr), "DUNNO");
}

}  // namespace
}  // namespace esmtp
