#include "policy/policy_protocol.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace esmtp {
namespace {

TEST(PolicyParser, RequestsInAnyChunking) {
  const std::string wire =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.5\n"
      "sender=a@example.org\nunknown_future_attribute=x=y\n\n"
      "request=smtpd_access_policy\r\nprotocol_state=DATA\r\n\r\n";
  for (std::size_t chunk = 1; chunk <= wire.size(); ++chunk) {
    PolicyParser p;
    std::vector<PolicyRequest> got;
    for (std::size_t i = 0; i < wire.size(); i += chunk) {
      std::string_view data = std::string_view(wire).substr(i, chunk);
      while (!data.empty()) {
        auto s = p.feed(data);
        ASSERT_NE(s, PolicyParser::Status::kError) << p.error();
        if (s == PolicyParser::Status::kRequest) got.push_back(p.take());
      }
    }
    ASSERT_EQ(got.size(), 2u) << chunk;
    EXPECT_EQ(got[0].get("client_address"), "203.0.113.5");
    EXPECT_EQ(got[0].get("unknown_future_attribute"), "x=y");
    EXPECT_EQ(got[0].get("absent"), "");
    EXPECT_EQ(got[1].get("protocol_state"), "DATA");
  }
}

PolicyParser::Status feed_all(PolicyParser& p, std::string_view data) {
  PolicyParser::Status s = PolicyParser::Status::kNeedMore;
  while (!data.empty() && s != PolicyParser::Status::kError) {
    s = p.feed(data);
    if (s == PolicyParser::Status::kRequest) p.take();
  }
  return s;
}

TEST(PolicyParser, MalformedInputIsAnError) {
  struct {
    std::string input, why;
  } cases[] = {
      {"no equals sign\n", "line without \"=\""},
      {"=value\n", "attribute without a name"},
      {"\n", "empty request"},
      {std::string("a=b\0c\n", 6), "NUL octet in request"},
      {"a=" + std::string(70000, 'x') + "\n", "line longer than 64 KiB"},
  };
  for (const auto& c : cases) {
    PolicyParser p;
    EXPECT_EQ(feed_all(p, c.input), PolicyParser::Status::kError) << c.why;
    EXPECT_EQ(p.error(), c.why);
  }
}

TEST(PolicyParser, LimitsBoundMemory) {
  PolicyParser p;
  std::string many;
  for (int i = 0; i < 300; ++i) many += fmt::format("a{}=1\n", i);
  EXPECT_EQ(feed_all(p, many), PolicyParser::Status::kError);
  EXPECT_EQ(p.error(), "more than 256 attributes");

  PolicyParser big;
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += "x=" + std::string(4000, 'v') + "\n";
  EXPECT_EQ(feed_all(big, lines), PolicyParser::Status::kError);
  EXPECT_EQ(big.error(), "request larger than 256 KiB");

  // 10 MB of garbage without a newline stops at 64 KiB.
  PolicyParser garbage;
  std::string chunk(1 << 16, 'g');
  PolicyParser::Status s = PolicyParser::Status::kNeedMore;
  for (int i = 0; i < 160 && s != PolicyParser::Status::kError; ++i) s = feed_all(garbage, chunk);
  EXPECT_EQ(s, PolicyParser::Status::kError);
}

TEST(PolicyReply, Format) {
  EXPECT_EQ(policy_reply("DUNNO"), "action=DUNNO\n\n");
}

}  // namespace
}  // namespace esmtp
