// self_banner, as both daemons run it (common/engine/self_banner.h): which
// addresses are skipped, the rate limit, and the warning line an operator
// reads.
#include "common/engine/self_banner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config_loader.h"
#include "tests/support/fake_resolver.h"

namespace esmtp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SelfBannerTest : public ::testing::Test {
 protected:
  SelfBannerTest() {
    auto sink = std::make_unique<CaptureSink>();
    cap_ = sink.get();
    logger_ = std::make_shared<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo, "t");
    dns_.hosts["mail.example.com"] = {"198.51.100.30", "2001:db8::30"};
    dns_.failing = {"servfail.example"};
  }
  bool check(std::string_view name, std::string_view address,
             std::chrono::steady_clock::time_point now = {}) {
    return banner_.check(name, address, dns_, logger_, {}, now);
  }

  FakeResolver dns_;
  CaptureSink* cap_ = nullptr;
  std::shared_ptr<Logger> logger_;
  SelfBanner banner_{"myhostname"};
};

TEST_F(SelfBannerTest, MatchingNameLogsNothing) {
  EXPECT_TRUE(check("mail.example.com", "198.51.100.30"));
  EXPECT_TRUE(check("mail.example.com", "IPv6:2001:db8::30"));
  EXPECT_EQ(dns_.lookups, 2);
  EXPECT_THAT(cap_->lines(), IsEmpty());
}

TEST_F(SelfBannerTest, MismatchIsOneWarningWithTheFix) {
  EXPECT_TRUE(check("mail.example.com", "203.0.113.7"));
  EXPECT_THAT(cap_->lines(),
              ElementsAre("warning: self_banner: our banner name mail.example.com does not "
                          "resolve to 203.0.113.7, the address clients reach us on "
                          "(result=fail): outside checks will report \"reverse DNS does not "
                          "match SMTP banner\"; fix the name's A/AAAA record or myhostname"));
}

TEST_F(SelfBannerTest, TemperrorCarriesTheDnsError) {
  SelfBanner policy{"identity.self.names"};
  EXPECT_TRUE(policy.check("servfail.example", "[198.51.100.30]", dns_, logger_));
  EXPECT_TRUE(policy.check("nxdomain.example", "198.51.100.30", dns_, logger_));
  EXPECT_THAT(
      cap_->lines(),
      ElementsAre("warning: self_banner: our banner name servfail.example does not resolve to "
                  "198.51.100.30, the address clients reach us on (result=temperror, "
                  "SERVFAIL): outside checks will report \"reverse DNS does not match SMTP "
                  "banner\"; fix the name's A/AAAA record or identity.self.names",
                  "warning: self_banner: our banner name nxdomain.example does not resolve to "
                  "198.51.100.30, the address clients reach us on (result=none): outside "
                  "checks will report \"reverse DNS does not match SMTP banner\"; fix the "
                  "name's A/AAAA record or identity.self.names"));
}

// Local submission and content filters come over loopback: not what the
// outside world sees. Neither the lookup nor the rate limit is touched.
TEST_F(SelfBannerTest, LoopbackAndUnspecifiedAreSkipped) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "IPv6:::1", "0.0.0.0",
                        "::", "::ffff:127.0.0.1", "[127.0.0.1]"})
    EXPECT_FALSE(check("nxdomain.example", a)) << a;
  EXPECT_FALSE(check("nxdomain.example", "not-an-address"));
  EXPECT_FALSE(check("", "203.0.113.7"));
  EXPECT_EQ(dns_.lookups, 0);
  EXPECT_THAT(cap_->lines(), IsEmpty());
  EXPECT_FALSE(self_banner_skips(*IpAddress::parse("128.0.0.1")));
  EXPECT_FALSE(self_banner_skips(*IpAddress::parse("::2")));
  EXPECT_FALSE(self_banner_skips(*IpAddress::parse("::ffff:198.51.100.30")));
}

TEST_F(SelfBannerTest, OncePerNameAndAddressPerHour) {
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(check("nxdomain.example", "203.0.113.7", t0));
  EXPECT_FALSE(check("NXDOMAIN.example.", "203.0.113.7", t0 + std::chrono::minutes(59)));
  EXPECT_TRUE(check("nxdomain.example", "203.0.113.8", t0 + std::chrono::minutes(1)));
  EXPECT_TRUE(check("nxdomain.example", "203.0.113.7", t0 + std::chrono::minutes(61)));
  EXPECT_EQ(dns_.lookups, 3);
  EXPECT_EQ(cap_->lines().size(), 3u);
}

TEST_F(SelfBannerTest, DeferRunsTheWarningElsewhere) {
  std::vector<std::function<void()>> queued;
  banner_.check("nxdomain.example", "203.0.113.7", dns_, logger_,
                [&](std::function<void()> f) { queued.push_back(std::move(f)); });
  EXPECT_THAT(cap_->lines(), IsEmpty());
  ASSERT_EQ(queued.size(), 1u);
  queued[0]();
  EXPECT_EQ(cap_->lines().size(), 1u);
}

}  // namespace
}  // namespace esmtp

namespace esmtp {
namespace {

TEST(SelfBannerOn, OffWhenTheCheckIsOff) {
  auto on = [](std::string_view yaml) {
    LoadResult r = load_config_string(yaml);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.errors[0].str());
    return r.ok() && self_banner_on(*r.config);
  };
  EXPECT_TRUE(on(""));
  EXPECT_FALSE(on("identity: { checks: { self_banner: off } }"));
  EXPECT_TRUE(on("identity: { checks: { self_banner: { action: log } } }"));
}

}  // namespace
}  // namespace esmtp
