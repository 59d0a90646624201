#include "common/config/config_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace esmtp {
namespace {

using ::testing::HasSubstr;

const RuleConfig& rule(const Config& c, RuleId id) {
  return c.defaults.rules[static_cast<std::size_t>(id)];
}

std::vector<std::string> errors_of(std::string_view yaml) {
  LoadResult r = load_config_string(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

TEST(ConfigLoader, EmptyFileGivesSpecDefaults) {
  LoadResult r = load_config_string("", "t.yaml");
  ASSERT_TRUE(r.ok());
  const Config& c = *r.config;
  EXPECT_EQ(c.mode, Mode::kEnforce);
  EXPECT_EQ(rule(c, RuleId::kHeaderLineLength).max, 998u);
  EXPECT_EQ(rule(c, RuleId::kHeaderLineLength).action, Action::kReject);
  EXPECT_EQ(rule(c, RuleId::kHeaderLineLength).reply.str(), "550 5.6.0 Header line too long");
  EXPECT_EQ(rule(c, RuleId::kRecipientCount).max, 100u);
  EXPECT_EQ(rule(c, RuleId::kRecipientCount).action, Action::kTempfail);
  EXPECT_EQ(rule(c, RuleId::kRecipientCount).reply.str(), "452 4.5.3 Too many recipients");
  EXPECT_EQ(rule(c, RuleId::kInvalidRecipients).action, Action::kDisconnect);
  EXPECT_EQ(rule(c, RuleId::kSenderAddressLength).max, 320u);
  EXPECT_EQ(rule(c, RuleId::kBodyLineLength).action, Action::kLog);
  EXPECT_EQ(rule(c, RuleId::kMimeFilenameLength).max, 255u);
  EXPECT_EQ(rule(c, RuleId::kMimeStructure).mime.max_depth, 20u);
  EXPECT_EQ(rule(c, RuleId::kMimeStructure).mime.max_parts, 1000u);
  EXPECT_EQ(rule(c, RuleId::kMimeStructure).mime.max_boundary_length, 70u);
  EXPECT_FALSE(rule(c, RuleId::kSenderAddress).enabled());
  EXPECT_FALSE(rule(c, RuleId::kHeaderLength).enabled());
  EXPECT_FALSE(rule(c, RuleId::kPlaintextSession).enabled());
  EXPECT_EQ(rule(c, RuleId::kSpecialCharacters).characters, "|`");
  EXPECT_EQ(c.dns.timeout, std::chrono::seconds(2));
  EXPECT_EQ(c.dns.temperror_reply.str(), "451 4.4.3 DNS lookup failed, try again later");
  EXPECT_EQ(c.defaults.checks[static_cast<std::size_t>(CheckId::kHeloSyntax)].action,
            Action::kReject);
}

TEST(ConfigLoader, SpecExampleLoads) {
  LoadResult r = load_config_string(R"(
mode: enforce
log: { to: syslog, facility: mail, format: text, level: info }
milter: { socket: "unix:/var/spool/postfix/esmtp-inspect/milter.sock" }
policy: { listen: ["unix:/var/spool/postfix/esmtp-inspect/policy.sock"], max_connections: 1000 }
dns: { servers: [], timeout: 2s, tries: 2, cache_entries: 10000, on_temperror: tempfail }
identity:
  self: { names: [mail.example.com], addresses: [198.51.100.30] }
  checks:
    fcrdns: { action: tag }
    helo_matches_ptr: { action: tag, mode: domain }
rules:
  header_line_length: { max: 998, action: reject }
  recipient_count:    { max: 100, action: tempfail }
  mime_filename:      { action: reject, patterns: ["*.exe", "*.scr", "re:(?i)\\.(js|vbs)$"] }
profiles:
  - name: mail-gateways
    match: { clients: [192.168.1.1/32] }
    inspect: false
  - name: submission
    match: { authenticated: true }
    identity: off
    rules: { recipient_count: { max: 500 } }
)",
                                    "spec.yaml");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  const Config& c = *r.config;
  ASSERT_EQ(c.profiles.size(), 2u);
  EXPECT_FALSE(c.profiles[0].inspect);
  EXPECT_FALSE(c.profiles[1].identity);
  EXPECT_EQ(c.profiles[1].rules[static_cast<std::size_t>(RuleId::kRecipientCount)].max, 500u);
  // Inherited, not reset: the profile keeps the top level's action and reply.
  EXPECT_EQ(c.profiles[1].rules[static_cast<std::size_t>(RuleId::kRecipientCount)].action,
            Action::kTempfail);
  EXPECT_TRUE(c.profiles[1].rules[static_cast<std::size_t>(RuleId::kMimeFilename)].enabled());
  const auto& patterns = rule(c, RuleId::kMimeFilename).patterns;
  EXPECT_NE(patterns.match("INVOICE.EXE"), nullptr);
  EXPECT_NE(patterns.match("a.Js"), nullptr);
  EXPECT_EQ(patterns.match("a.pdf"), nullptr);
  ASSERT_EQ(c.self.addresses.size(), 1u);
  EXPECT_EQ(c.self.addresses[0].str(), "198.51.100.30");
}

TEST(ConfigLoader, ErrorsNameFileLineColumnAndKey) {
  auto e = errors_of("rules:\n  header_line_length: { max: abc }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "t.yaml:2:30: rules.header_line_length.max: expected a whole number, got \"abc\"");
}

TEST(ConfigLoader, EveryErrorIsReported) {
  auto e = errors_of(
      "bogus: 1\n"
      "dns: { timeout: 2 parsecs, tries: 11 }\n"
      "rules:\n"
      "  nope: {}\n"
      "  header_line_length: { max: 10 }\n"
      "  sender_address: { patterns: [\"re:(unclosed\"] }\n");
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0], "t.yaml:1:1: bogus: unknown key");
  EXPECT_THAT(e[1], HasSubstr("t.yaml:2:17: dns.timeout: expected a duration"));
  EXPECT_EQ(e[2], "t.yaml:2:35: dns.tries: 11 is out of range 1..10");
  EXPECT_EQ(e[3], "t.yaml:4:3: rules.nope: unknown rule");
  EXPECT_EQ(e[4].substr(0, 47), "t.yaml:5:30: rules.header_line_length.max: 10 i");
  EXPECT_THAT(e[5], HasSubstr("t.yaml:6:31: rules.sender_address.patterns: pattern"));
}

TEST(ConfigLoader, BadRe2PatternIsAnError) {
  auto e = errors_of("rules:\n  sender_address: { patterns: [\"re:(unclosed\"] }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_THAT(e[0], HasSubstr("t.yaml:2:31: rules.sender_address.patterns: pattern"));
  EXPECT_THAT(e[0], HasSubstr("missing )"));
}

TEST(ConfigLoader, WrongTypes) {
  EXPECT_THAT(errors_of("rules: [a, b]\n")[0],
              HasSubstr("rules: expected a map of rules, got a list"));
  EXPECT_THAT(errors_of("dns: { servers: 127.0.0.1 }\n")[0],
              HasSubstr("dns.servers: expected a list, got \"127.0.0.1\""));
  EXPECT_THAT(errors_of("profiles: { a: 1 }\n")[0], HasSubstr("profiles: expected a list"));
  EXPECT_THAT(errors_of("log: text\n")[0], HasSubstr("log: expected a map"));
  EXPECT_THAT(errors_of("- a\n- b\n")[0], HasSubstr("the file must be a map of settings"));
}

TEST(ConfigLoader, ReplyClassMustFitAction) {
  auto e =
      errors_of("rules:\n  header_line_length: { action: reject, reply: \"451 4.6.0 later\" }\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_THAT(
      e[0],
      HasSubstr("header_line_length.reply: 451 reply does not fit action reject (needs 5xx)"));
  EXPECT_THAT(errors_of("rules:\n  invalid_recipients: { reply: \"450 4.7.0 go\" }\n")[0],
              HasSubstr("action disconnect needs a 421 reply"));
  EXPECT_THAT(errors_of("rules:\n  header_line_length: { reply: \"550 4.6.0 x\" }\n")[0],
              HasSubstr("enhanced status code class must match"));
}

TEST(ConfigLoader, ActionChangeAdaptsDefaultReply) {
  LoadResult r = load_config_string(
      "rules:\n  header_line_length: { action: tempfail }\n  recipient_count: { action: reject "
      "}\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(rule(*r.config, RuleId::kHeaderLineLength).reply.str(),
            "451 4.6.0 Header line too long");
  EXPECT_EQ(rule(*r.config, RuleId::kRecipientCount).reply.str(), "550 5.5.3 Too many recipients");
}

TEST(ConfigLoader, OffByDefaultRulesTurnOnWithTheirParameter) {
  LoadResult r = load_config_string(
      "rules:\n"
      "  header_length: { max: 64k }\n"
      "  mime_encoding: { deny: [UUencode] }\n"
      "  plaintext_session: { action: log }\n"
      "  body_line_length: off\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(rule(*r.config, RuleId::kHeaderLength).action, Action::kReject);
  EXPECT_EQ(rule(*r.config, RuleId::kHeaderLength).max, 65536u);
  EXPECT_EQ(rule(*r.config, RuleId::kMimeEncoding).deny, std::vector<std::string>{"uuencode"});
  EXPECT_EQ(rule(*r.config, RuleId::kPlaintextSession).action, Action::kLog);
  EXPECT_FALSE(rule(*r.config, RuleId::kBodyLineLength).enabled());
  EXPECT_THAT(errors_of("rules:\n  mime_filename: { action: reject }\n")[0],
              HasSubstr("needs at least one pattern"));
}

TEST(ConfigLoader, DuplicateKeysAndProfileNames) {
  EXPECT_THAT(errors_of("mode: enforce\nmode: monitor\n")[0], HasSubstr("mode: duplicate key"));
  EXPECT_THAT(errors_of("profiles:\n  - name: a\n  - name: a\n")[0],
              HasSubstr("profile name \"a\" is used twice"));
}

TEST(ConfigLoader, SocketAndListenSyntax) {
  EXPECT_TRUE(load_config_string("milter: { socket: \"inet:8891@127.0.0.1\" }").ok());
  EXPECT_THAT(errors_of("milter: { socket: \"tcp:8891\" }\n")[0], HasSubstr("not a milter socket"));
  EXPECT_TRUE(load_config_string("policy: { listen: [\"inet:[::1]:10040\"] }").ok());
  EXPECT_THAT(errors_of("policy: { listen: [\"inet:127.0.0.1\"] }\n")[0],
              HasSubstr("not a listen address"));
  for (const char* port : {"0", "65536", "99999", "abc", "-1", "80x"}) {
    EXPECT_THAT(
        errors_of(std::string("policy: { listen: [\"inet:127.0.0.1:") + port + "\"] }\n")[0],
        HasSubstr("the port must be a number from 1 to 65535"))
        << port;
    EXPECT_THAT(errors_of(std::string("milter: { socket: \"inet:") + port + "@127.0.0.1\" }\n")[0],
                HasSubstr("the port must be a number from 1 to 65535"))
        << port;
  }
  EXPECT_TRUE(load_config_string("policy: { listen: [\"inet:127.0.0.1:65535\"] }").ok());
  EXPECT_THAT(errors_of("policy: { max_connections_per_client: 0 }\n")[0],
              HasSubstr("max_connections_per_client"));
  EXPECT_TRUE(
      load_config_string("dns: { servers: [\"127.0.0.1:5353\", \"[::1]:53\", \"::1\"] }").ok());
  EXPECT_THAT(errors_of("dns: { servers: [\"127.0.0.1:0\"] }\n")[0], HasSubstr("bad port"));
}

TEST(ConfigLoader, SelfBannerOnlyLogs) {
  EXPECT_THAT(errors_of("identity: { checks: { self_banner: { action: reject } } }\n")[0],
              HasSubstr("self_banner only logs"));
}

TEST(ConfigLoader, YamlSyntaxErrorHasPosition) {
  auto e = errors_of("rules: {\n  a: [\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_THAT(e[0], HasSubstr("t.yaml:"));
}

TEST(ConfigLoader, OversizedFileIsRefused) {
  std::string big(kMaxConfigBytes + 1, '#');
  EXPECT_THAT(errors_of(big)[0], HasSubstr("larger than"));
}

TEST(ConfigLoader, MissingFile) {
  LoadResult r = load_config_file("/nonexistent/esmtp.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.errors[0].str(), HasSubstr("/nonexistent/esmtp.yaml: cannot open"));
}

TEST(ConfigLoader, DumpRoundTrips) {
  LoadResult r = load_config_string(
      "mode: monitor\nrules:\n  mime_filename: { patterns: ['*.exe'] }\n"
      "profiles:\n  - name: p\n    match: { clients: [10.0.0.0/8], daemons: [smtpd] }\n"
      "    rules: { body_line_length: { action: reject, mode: enforce } }\n");
  ASSERT_TRUE(r.ok());
  std::string dumped = dump_config(*r.config);
  LoadResult again = load_config_string(dumped, "dumped");
  ASSERT_TRUE(again.ok()) << again.errors[0].str() << "\n" << dumped;
  EXPECT_EQ(dump_config(*again.config), dumped);
}

TEST(ConfigLoader, AnnotatedDefaultLoadsToTheDefaults) {
  LoadResult r = load_config_string(annotated_default_config(), "annotated");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(dump_config(*r.config), dump_config(*default_config()));
}

TEST(ConfigLoader, ShippedConfigIsTheGeneratedOne) {
  std::ifstream in(std::string(ESMTP_SOURCE_DIR) + "/conf/esmtp-inspect.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), annotated_default_config())
      << "run: cmake --build build --target default-config";
}

// "dns.tries", "3" -> "dns:\n  tries: 3\n".
std::string nested(std::string_view path, std::string_view value) {
  std::string out, indent;
  for (std::size_t dot; (dot = path.find('.')) != std::string_view::npos;
       path.remove_prefix(dot + 1)) {
    out += indent + std::string(path.substr(0, dot)) + ":\n";
    indent += "  ";
  }
  return out + indent + std::string(path) + ": " + std::string(value) + "\n";
}

// esmtp-inspect.yaml(5) documents setting_docs(): what it says must be what
// the loader accepts.
TEST(ConfigLoader, SettingDocsAreWhatTheLoaderAccepts) {
  const auto docs = setting_docs();
  ASSERT_FALSE(docs.empty());
  for (const auto& d : docs) {
    SCOPED_TRACE(std::string(d.path));
    if (d.type == SettingType::kGroup) {
      EXPECT_TRUE(d.default_value.empty());
      continue;
    }
    EXPECT_FALSE(d.help.empty());
    EXPECT_THAT(errors_of(nested(d.path, d.default_value)), ::testing::IsEmpty());
    if (d.type == SettingType::kUint || d.type == SettingType::kDuration) {
      const std::size_t dots = d.range.find("..");
      ASSERT_NE(dots, std::string::npos);
      const std::string lo = d.range.substr(0, dots), hi = d.range.substr(dots + 2);
      EXPECT_THAT(errors_of(nested(d.path, lo)), ::testing::IsEmpty());
      EXPECT_THAT(errors_of(nested(d.path, hi)), ::testing::IsEmpty());
      if (d.type == SettingType::kUint) {
        auto e = errors_of(nested(d.path, std::to_string(std::stoull(hi) + 1)));
        ASSERT_EQ(e.size(), 1u);
        EXPECT_THAT(e[0], HasSubstr("is out of range " + d.range));
      }
    } else {
      EXPECT_TRUE(d.range.empty());
    }
    if (d.type == SettingType::kChoice) {
      ASSERT_FALSE(d.choices.empty());
      for (auto choice : d.choices)
        EXPECT_THAT(errors_of(nested(d.path, choice)), ::testing::IsEmpty()) << choice;
      auto e = errors_of(nested(d.path, "bogus"));
      ASSERT_EQ(e.size(), 1u);
      EXPECT_THAT(e[0], HasSubstr("\"bogus\" is not one of: " + std::string(d.choices[0])));
    }
  }
  auto timeout = std::find_if(docs.begin(), docs.end(),
                              [](const SettingDoc& d) { return d.path == "dns.timeout"; });
  ASSERT_NE(timeout, docs.end());
  EXPECT_EQ(timeout->type, SettingType::kDuration);
  EXPECT_EQ(timeout->range, "50ms..1m");
  EXPECT_EQ(timeout->default_value, "2s");
}

TEST(ConfigLoader, ProfilesInheritTheTopLevelWhereverTheyStand) {
  LoadResult r = load_config_string(
      "profiles:\n  - { name: p, match: { clients: [10.0.0.0/8] } }\n"
      "rules:\n  mime_filename: { patterns: ['*.exe'] }\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(
      r.config->profiles[0].rules[static_cast<std::size_t>(RuleId::kMimeFilename)].enabled());
}

TEST(ProfileSelection, FirstMatchWins) {
  LoadResult r = load_config_string(
      "profiles:\n"
      "  - { name: gw, match: { clients: [192.168.1.1/32] }, inspect: false }\n"
      "  - { name: v6, match: { clients: ['2001:db8::/32'] } }\n"
      "  - { name: auth, match: { authenticated: true } }\n"
      "  - { name: sub, match: { daemons: [submission] } }\n");
  ASSERT_TRUE(r.ok());
  auto pick = [&](const char* ip, bool auth, const char* daemon) {
    return select_profile(*r.config, {IpAddress::parse(ip), auth, daemon}).name;
  };
  EXPECT_EQ(pick("192.168.1.1", true, "submission"), "gw");
  EXPECT_EQ(pick("192.168.1.2", false, "smtpd"), "default");
  EXPECT_EQ(pick("2001:db8::5", false, ""), "v6");
  EXPECT_EQ(pick("203.0.113.5", true, ""), "auth");
  EXPECT_EQ(pick("203.0.113.5", false, "submission"), "sub");
  EXPECT_EQ(select_profile(*r.config, {std::nullopt, false, ""}).name, "default");
}

}  // namespace
}  // namespace esmtp
