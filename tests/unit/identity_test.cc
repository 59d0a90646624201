#include "common/engine/identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"
#include "common/engine/session.h"

namespace esmtp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

IpAddress ip(const char* s) {
  return *IpAddress::parse(s);
}

DnsAnswer ok_names(std::vector<std::string> names) {
  DnsAnswer a;
  a.status = DnsStatus::kOk;
  a.names = std::move(names);
  return a;
}
DnsAnswer ok_addrs(std::vector<const char*> addrs) {
  DnsAnswer a;
  a.status = DnsStatus::kOk;
  for (auto s : addrs) a.addresses.push_back(ip(s));
  return a;
}
DnsAnswer none() {
  DnsAnswer a;
  a.status = DnsStatus::kNone;
  return a;
}
DnsAnswer temp(const char* why = "SERVFAIL") {
  DnsAnswer a;
  a.status = DnsStatus::kTempError;
  a.error = why;
  return a;
}

struct Case {
  IdentityInput in;
  DnsAnswer ptr, helo;
  std::map<std::string, DnsAnswer> fwd;
  bool have_ptr = true, have_helo = true;

  IdentityReport run() const {
    IdentityAnswers a;
    a.ptr = have_ptr ? &ptr : nullptr;
    a.helo = have_helo ? &helo : nullptr;
    a.forward = fwd;
    return evaluate(in, a);
  }
};

Case good() {
  Case c;
  c.in.client = ip("203.0.113.5");
  c.in.helo = "mx.example.org";
  c.ptr = ok_names({"mx.example.org"});
  c.fwd["mx.example.org"] = ok_addrs({"203.0.113.5"});
  c.helo = ok_addrs({"203.0.113.5"});
  return c;
}

TEST(HeloSyntax, FqdnAndLiterals) {
  EXPECT_TRUE(helo_syntax_ok("mx.example.org"));
  EXPECT_TRUE(helo_syntax_ok("mx.example.org."));
  EXPECT_TRUE(helo_syntax_ok("host_1.example.org"));
  EXPECT_TRUE(helo_syntax_ok("[192.0.2.1]"));
  EXPECT_TRUE(helo_syntax_ok("[IPv6:2001:db8::1]"));
  EXPECT_FALSE(helo_syntax_ok("localhost"));
  EXPECT_FALSE(helo_syntax_ok("192.0.2.1"));
  EXPECT_FALSE(helo_syntax_ok("[192.0.2.300]"));
  EXPECT_FALSE(helo_syntax_ok("-bad.example.org"));
  EXPECT_FALSE(helo_syntax_ok("a..example.org"));
  EXPECT_FALSE(helo_syntax_ok(std::string(64, 'a') + ".example.org"));
  EXPECT_FALSE(helo_syntax_ok(""));
}

TEST(RegisteredDomain, PublicSuffixAware) {
  EXPECT_EQ(registered_domain("mx.example.co.uk"), "example.co.uk");
  EXPECT_EQ(registered_domain("a.b.example.org"), "example.org");
  EXPECT_EQ(registered_domain("MX.Example.ORG."), "example.org");
}

TEST(Evaluate, AllPassForAGoodClient) {
  IdentityReport r = good().run();
  for (auto res : r.results) EXPECT_EQ(res, CheckResult::kPass);
  EXPECT_THAT(r.confirmed_names, ElementsAre("mx.example.org"));
}

TEST(Evaluate, NoPtr) {
  Case c = good();
  c.ptr = none();
  IdentityReport r = c.run();
  EXPECT_EQ(r.result(CheckId::kPtrPresent), CheckResult::kNone);
  EXPECT_EQ(r.result(CheckId::kFcrdns), CheckResult::kNone);
  EXPECT_EQ(r.result(CheckId::kHeloMatchesPtr), CheckResult::kNone);
  EXPECT_EQ(r.result(CheckId::kHeloMatchesClient), CheckResult::kPass);
}

TEST(Evaluate, PtrWithoutForwardAndPointingElsewhere) {
  Case c = good();
  c.ptr = ok_names({"noforward.example.org"});
  c.fwd = {{"noforward.example.org", none()}};
  EXPECT_EQ(c.run().result(CheckId::kFcrdns), CheckResult::kFail);
  EXPECT_EQ(c.run().details[static_cast<std::size_t>(CheckId::kFcrdns)],
            "ptr=noforward.example.org");
  c.ptr = ok_names({"elsewhere.example.org"});
  c.fwd = {{"elsewhere.example.org", ok_addrs({"198.51.100.99"})}};
  IdentityReport r = c.run();
  EXPECT_EQ(r.result(CheckId::kPtrPresent), CheckResult::kPass);
  EXPECT_EQ(r.result(CheckId::kFcrdns), CheckResult::kFail);
  EXPECT_EQ(r.result(CheckId::kHeloMatchesPtr), CheckResult::kNone);
}

TEST(Evaluate, MultiplePtrsAnyConfirmingNameWins) {
  Case c = good();
  c.in.helo = "b.example.net";
  c.ptr = ok_names({"a.example.org", "b.example.net"});
  c.fwd = {{"a.example.org", ok_addrs({"192.0.2.1"})},
           {"b.example.net", ok_addrs({"203.0.113.5"})}};
  c.helo = ok_addrs({"203.0.113.5"});
  IdentityReport r = c.run();
  EXPECT_EQ(r.result(CheckId::kFcrdns), CheckResult::kPass);
  EXPECT_THAT(r.confirmed_names, ElementsAre("b.example.net"));
  EXPECT_EQ(r.result(CheckId::kHeloMatchesPtr), CheckResult::kPass);
}

TEST(Evaluate, TemperrorsPropagate) {
  Case c = good();
  c.ptr = temp();
  EXPECT_EQ(c.run().result(CheckId::kPtrPresent), CheckResult::kTempError);
  EXPECT_EQ(c.run().result(CheckId::kFcrdns), CheckResult::kTempError);
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesPtr), CheckResult::kTempError);
  c = good();
  c.fwd = {{"mx.example.org", temp("timeout")}};
  EXPECT_EQ(c.run().result(CheckId::kFcrdns), CheckResult::kTempError);
  c = good();
  c.have_ptr = false;  // did not arrive before the deadline
  EXPECT_EQ(c.run().result(CheckId::kFcrdns), CheckResult::kTempError);
  c = good();
  c.helo = temp();
  EXPECT_EQ(c.run().result(CheckId::kHeloResolves), CheckResult::kTempError);
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesClient), CheckResult::kTempError);
}

TEST(Evaluate, HeloResolution) {
  Case c = good();
  c.in.helo = "nxhelo.example.org";
  c.helo = none();
  IdentityReport r = c.run();
  EXPECT_EQ(r.result(CheckId::kHeloResolves), CheckResult::kNone);
  EXPECT_EQ(r.result(CheckId::kHeloMatchesClient), CheckResult::kNone);
  c.in.helo = "helo-elsewhere.example.org";
  c.helo = ok_addrs({"198.51.100.50"});
  r = c.run();
  EXPECT_EQ(r.result(CheckId::kHeloResolves), CheckResult::kPass);
  EXPECT_EQ(r.result(CheckId::kHeloMatchesClient), CheckResult::kFail);
  EXPECT_EQ(r.details[static_cast<std::size_t>(CheckId::kHeloMatchesClient)],
            "helo addresses=198.51.100.50");
}

TEST(Evaluate, HeloMatchesPtrExactAndDomain) {
  Case c = good();
  c.in.helo = "mail.example.org";  // same registered domain as mx.example.org
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesPtr), CheckResult::kPass);
  c.in.helo_ptr_mode = HeloPtrMode::kExact;
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesPtr), CheckResult::kFail);
  c.in.helo_ptr_mode = HeloPtrMode::kDomain;
  c.in.helo = "mx.other.example";
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesPtr), CheckResult::kFail);
  // Public suffix aware: example.co.uk and other.co.uk are different domains.
  c.ptr = ok_names({"mx.example.co.uk"});
  c.fwd = {{"mx.example.co.uk", ok_addrs({"203.0.113.5"})}};
  c.in.helo = "mail.example.co.uk";
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesPtr), CheckResult::kPass);
  c.in.helo = "mail.other.co.uk";
  EXPECT_EQ(c.run().result(CheckId::kHeloMatchesPtr), CheckResult::kFail);
}

TEST(Evaluate, LiteralsAndSyntaxAndSelf) {
  Case c = good();
  c.in.helo = "[203.0.113.5]";
  IdentityReport r = c.run();
  EXPECT_EQ(r.result(CheckId::kHeloLiteralMatch), CheckResult::kPass);
  EXPECT_EQ(r.result(CheckId::kHeloResolves), CheckResult::kPass);  // does not apply
  c.in.helo = "[192.0.2.77]";
  EXPECT_EQ(c.run().result(CheckId::kHeloLiteralMatch), CheckResult::kFail);
  c.in.helo = "localhost";
  EXPECT_EQ(c.run().result(CheckId::kHeloSyntax), CheckResult::kFail);
  c.in.helo = "Mail.Example.COM.";
  c.in.self_names = {"mail.example.com"};
  EXPECT_EQ(c.run().result(CheckId::kHeloNotSelf), CheckResult::kFail);
  c.in.helo = "[198.51.100.30]";
  c.in.self_addresses = {ip("198.51.100.30")};
  EXPECT_EQ(c.run().result(CheckId::kHeloNotSelf), CheckResult::kFail);
}

TEST(SelfBanner, RateLimitedPerNameAndAddress) {
  SelfBannerMonitor m(std::chrono::seconds(3600));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(m.due("mail.example.com", ip("198.51.100.30"), t0));
  EXPECT_FALSE(m.due("MAIL.example.com.", ip("198.51.100.30"), t0 + std::chrono::minutes(59)));
  EXPECT_TRUE(m.due("mail.example.com", ip("198.51.100.31"), t0));
  EXPECT_TRUE(m.due("mail.example.com", ip("198.51.100.30"), t0 + std::chrono::minutes(61)));
  EXPECT_EQ(self_banner_result(ok_addrs({"198.51.100.30"}), ip("198.51.100.30")),
            CheckResult::kPass);
  EXPECT_EQ(self_banner_result(ok_addrs({"198.51.100.9"}), ip("198.51.100.30")),
            CheckResult::kFail);
}

class SessionIdentity : public ::testing::Test {
 protected:
  void start(std::string_view yaml) {
    auto sink = std::make_unique<CaptureSink>();
    cap_ = sink.get();
    logger_ = std::make_unique<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo, "t");
    LoadResult r = load_config_string(yaml);
    ASSERT_TRUE(r.ok()) << r.errors[0].str();
    s_ = std::make_unique<Session>(r.config, logger_.get());
    s_->connect("203.0.113.7", 1, "elsewhere.example.org");
    s_->helo("mx.example.org");
  }
  IdentityReport report_with(CheckId id, CheckResult res, std::string detail = {}) {
    IdentityReport r;
    r.results[static_cast<std::size_t>(id)] = res;
    r.details[static_cast<std::size_t>(id)] = std::move(detail);
    return r;
  }
  CaptureSink* cap_ = nullptr;
  std::unique_ptr<Logger> logger_;
  std::unique_ptr<Session> s_;
};

TEST_F(SessionIdentity, TagAppliesToEveryMessageOfTheSession) {
  start("");
  Verdict v = s_->identity(
      report_with(CheckId::kFcrdns, CheckResult::kFail, "ptr=elsewhere.example.org"), "helo");
  EXPECT_EQ(v.action, Action::kTag);
  EXPECT_EQ(v.rule, "fcrdns");
  EXPECT_THAT(
      cap_->lines()[0],
      HasSubstr("NOQUEUE: action=tag rule=fcrdns actual=fail limit=pass where=helo "
                "detail=ptr=elsewhere.example.org client=elsewhere.example.org[203.0.113.7]"));
  for (int i = 0; i < 2; ++i) {
    s_->mail("a@example.org");
    s_->rcpt("b@example.net");
    s_->end_of_message();
    EXPECT_THAT(s_->tags(), ElementsAre("rule=fcrdns; result=fail"));
    s_->reset();
  }
  // Once per HELO name: the same report again changes nothing.
  EXPECT_TRUE(
      s_->identity(report_with(CheckId::kFcrdns, CheckResult::kFail), "rcpt").is_continue());
  EXPECT_EQ(cap_->lines().size(), 1u);
}

TEST_F(SessionIdentity, HeloSyntaxRejects) {
  start("");
  Verdict v = s_->identity(report_with(CheckId::kHeloSyntax, CheckResult::kFail), "helo");
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.reply.str(), "504 5.5.2 Helo command rejected: need fully-qualified hostname");
  EXPECT_FALSE(s_->disconnected());
}

TEST_F(SessionIdentity, TemperrorOnABlockingCheckTempfails) {
  start("identity: { checks: { fcrdns: { action: reject } } }");
  Verdict v =
      s_->identity(report_with(CheckId::kFcrdns, CheckResult::kTempError, "timeout"), "rcpt");
  EXPECT_EQ(v.action, Action::kTempfail);
  EXPECT_EQ(v.reply.str(), "451 4.4.3 DNS lookup failed, try again later");
  EXPECT_THAT(cap_->lines()[0], HasSubstr("action=tempfail rule=fcrdns actual=temperror"));
}

TEST_F(SessionIdentity, TemperrorOnATagCheckIsTagged) {
  start("");
  Verdict v = s_->identity(report_with(CheckId::kPtrPresent, CheckResult::kTempError), "rcpt");
  EXPECT_EQ(v.action, Action::kTag);
  EXPECT_THAT(s_->tags(), ElementsAre("rule=ptr_present; result=temperror"));
}

TEST_F(SessionIdentity, OnTemperrorLog) {
  start("dns: { on_temperror: log }\nidentity: { checks: { fcrdns: { action: reject } } }");
  EXPECT_EQ(s_->identity(report_with(CheckId::kFcrdns, CheckResult::kTempError), "rcpt").action,
            Action::kLog);
}

TEST_F(SessionIdentity, MonitorAndProfilesWithoutIdentity) {
  start("mode: monitor");
  Verdict v = s_->identity(report_with(CheckId::kHeloSyntax, CheckResult::kFail), "helo");
  EXPECT_EQ(v.action, Action::kLog);
  EXPECT_EQ(v.would, Action::kReject);
  start("profiles: [ { name: sub, match: { clients: [203.0.113.0/24] }, identity: off } ]");
  EXPECT_FALSE(s_->identity_wanted());
  EXPECT_TRUE(
      s_->identity(report_with(CheckId::kHeloSyntax, CheckResult::kFail), "helo").is_continue());
}

TEST_F(SessionIdentity, NewHeloNameChecksAgain) {
  start("");
  s_->identity(report_with(CheckId::kFcrdns, CheckResult::kFail), "helo");
  s_->helo("other.example.org");
  EXPECT_EQ(s_->identity(report_with(CheckId::kFcrdns, CheckResult::kFail), "helo").action,
            Action::kTag);
  EXPECT_EQ(s_->identity_input().helo, "other.example.org");
}

}  // namespace
}  // namespace esmtp
