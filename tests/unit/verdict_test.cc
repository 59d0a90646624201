#include "common/rules/verdict.h"

#include <gtest/gtest.h>

#include "common/rules/rules.h"
#include "common/util/net.h"
#include "common/util/pattern.h"

namespace esmtp {
namespace {

TEST(Reply, ParsesWithAndWithoutEnhancedCode) {
  std::string why;
  auto r = parse_reply("550 5.7.1 Sender address rejected", &why);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 550);
  EXPECT_EQ(r->enhanced, "5.7.1");
  EXPECT_EQ(r->text, "Sender address rejected");
  auto plain = parse_reply("451 try later", &why);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->enhanced, "");
  EXPECT_EQ(plain->str(), "451 try later");
}

TEST(Reply, RejectsMalformed) {
  std::string why;
  EXPECT_FALSE(parse_reply("55 x", &why));
  EXPECT_FALSE(parse_reply("650 6.0.0 x", &why));
  EXPECT_FALSE(parse_reply("550 5.7.1", &why));
  EXPECT_FALSE(parse_reply("550 4.7.1 wrong class", &why));
  EXPECT_FALSE(parse_reply("550 5.7.1 bad\r\ninjected", &why));
}

TEST(Reply, AdaptsToAction) {
  Reply r = *parse_reply("550 5.6.0 Header line too long", nullptr);
  EXPECT_EQ(adapt_reply(r, Action::kTempfail).str(), "451 4.6.0 Header line too long");
  EXPECT_EQ(adapt_reply(r, Action::kDisconnect).str(), "421 4.6.0 Header line too long");
  EXPECT_EQ(adapt_reply(r, Action::kReject).str(), "550 5.6.0 Header line too long");
  EXPECT_EQ(adapt_reply(r, Action::kLog).str(), "550 5.6.0 Header line too long");
}

TEST(Action, NamesRoundTripAndSeverityOrder) {
  for (auto a : {Action::kOff, Action::kLog, Action::kTag, Action::kQuarantine, Action::kDiscard,
                 Action::kTempfail, Action::kReject, Action::kDisconnect})
    EXPECT_EQ(parse_action(to_string(a)), a);
  EXPECT_FALSE(parse_action("continue"));
  EXPECT_GT(Action::kDisconnect, Action::kReject);
  EXPECT_GT(Action::kReject, Action::kTempfail);
  EXPECT_GT(Action::kTempfail, Action::kLog);
}

TEST(RuleTable, EveryRuleHasAValidDefaultReplyAndUniqueName) {
  for (const auto& r : rule_table()) {
    std::string why;
    EXPECT_TRUE(parse_reply(r.default_reply, &why)) << r.name << ": " << why;
    EXPECT_EQ(find_rule(r.name), r.id);
  }
  EXPECT_EQ(rule_table().size(), kRuleCount);
}

TEST(Net, ParsesMtaForms) {
  EXPECT_EQ(IpAddress::parse("[192.0.2.1]")->str(), "192.0.2.1");
  EXPECT_EQ(IpAddress::parse("IPv6:2001:db8::1")->str(), "2001:db8::1");
  EXPECT_EQ(IpAddress::parse("[IPv6:2001:db8::1]")->str(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::parse("192.0.2.256"));
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_FALSE(IpAddress::parse("mx.example.org"));
}

TEST(Net, HostPortForms) {
  auto hp = split_host_port("[2001:db8::1]:5353");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "2001:db8::1");
  EXPECT_EQ(hp->port, "5353");
  EXPECT_TRUE(hp->bracketed);
  hp = split_host_port("192.0.2.1:53");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "192.0.2.1");
  EXPECT_EQ(hp->port, "53");
  hp = split_host_port("2001:db8::1");  // bare IPv6: no port
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "2001:db8::1");
  EXPECT_TRUE(hp->port.empty());
  for (const char* bad : {"[::1", "[::1]x", "[::1]:", "host:"})
    EXPECT_FALSE(split_host_port(bad)) << bad;
  EXPECT_EQ(parse_port("25"), 25);
  EXPECT_EQ(parse_port("65535"), 65535);
  for (const char* bad : {"", "0", "65536", "123456", "12x", "-1", "+25"})
    EXPECT_FALSE(parse_port(bad)) << bad;
}

TEST(Net, CidrContainment) {
  auto c = Cidr::parse("192.0.2.77/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->str(), "192.0.2.0/24");
  EXPECT_TRUE(c->contains(*IpAddress::parse("192.0.2.200")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("192.0.3.1")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("::ffff:192.0.2.1")));
  auto v6 = Cidr::parse("2001:db8::/33");
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db8:8000::1")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(*IpAddress::parse("203.0.113.9")));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
}

TEST(Pattern, GlobsAreCaseInsensitiveAndAnchored) {
  PatternList p;
  ASSERT_FALSE(p.add("*.exe"));
  ASSERT_FALSE(p.add("doc[0-9].?s"));
  EXPECT_NE(p.match("Setup.EXE"), nullptr);
  EXPECT_EQ(p.match("setup.exe.txt"), nullptr);
  EXPECT_NE(p.match("doc7.js"), nullptr);
  EXPECT_EQ(*p.match("doc7.js"), "doc[0-9].?s");
  EXPECT_EQ(p.match("docx.js"), nullptr);
}

TEST(Pattern, GlobMetacharactersAreLiteral) {
  PatternList p;
  ASSERT_FALSE(p.add("a+b(1).txt"));
  EXPECT_NE(p.match("a+b(1).txt"), nullptr);
  EXPECT_EQ(p.match("aab1.txt"), nullptr);
}

TEST(Pattern, Re2PatternsSearchAnywhere) {
  PatternList p;
  ASSERT_FALSE(p.add("re:(?i)\\.(js|vbs)$"));
  EXPECT_NE(p.match("invoice.pdf.VBS"), nullptr);
  EXPECT_EQ(p.match("invoice.vbs.pdf"), nullptr);
  EXPECT_TRUE(p.add("re:(").has_value());
}

}  // namespace
}  // namespace esmtp
