// config: the in-memory model of esmtp-inspect.yaml, documented in
// esmtp-inspect.yaml(5).
//
// A Config is built once by config_loader and then never changes: daemons hold
// it through std::shared_ptr<const Config> and swap the pointer on reload, so a
// session finishes on the configuration it started with.
//
// Thread-safety: immutable after load; share freely.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rules/rules.h"
#include "common/rules/verdict.h"
#include "common/util/net.h"
#include "common/util/pattern.h"

namespace esmtp {

using RuleSet = std::array<RuleConfig, kRuleCount>;

enum class HeloPtrMode : std::uint8_t { kExact, kDomain };

struct CheckConfig {
  Action action = Action::kOff;
  Reply reply;
  bool reply_configured = false;
  HeloPtrMode helo_ptr_mode = HeloPtrMode::kDomain;  // helo_matches_ptr only
};

using CheckSet = std::array<CheckConfig, kCheckCount>;

struct ProfileMatch {
  std::vector<Cidr> clients;          // any of these (empty: any client)
  std::optional<bool> authenticated;  // SASL-authenticated session or not
  std::vector<std::string> daemons;   // MTA daemon names ({daemon_name})
};

struct Profile {
  std::string name = "default";
  ProfileMatch match;
  bool inspect = true;   // false: exempt from every rule and check
  bool identity = true;  // false: identity checks off
  std::optional<Mode> mode;
  RuleSet rules;
  CheckSet checks;
};

enum class LogTarget : std::uint8_t { kSyslog, kStderr, kFile };
enum class LogFormat : std::uint8_t { kText, kJson };
enum class LogLevel : std::uint8_t { kDebug, kInfo, kNotice, kWarning, kError };

// The one table of level names: what log.level takes (esmtp-inspect.yaml(5))
// and what a log line of warning or above starts with.
inline constexpr std::array<std::string_view, 5> kLogLevelNames = {"debug", "info", "notice",
                                                                   "warning", "error"};
inline std::string_view log_level_name(LogLevel l) {
  return kLogLevelNames[static_cast<std::size_t>(l)];
}
inline std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < kLogLevelNames.size(); ++i)
    if (kLogLevelNames[i] == name) return static_cast<LogLevel>(i);
  return std::nullopt;
}

struct LogConfig {
  LogTarget to = LogTarget::kSyslog;
  std::string file;  // LogTarget::kFile
  std::string facility = "mail";
  LogFormat format = LogFormat::kText;
  LogLevel level = LogLevel::kInfo;
};

struct MilterConfig {
  std::string socket = "unix:/var/spool/postfix/esmtp-inspect/milter.sock";
  std::string user = "esmtp-inspect";
  std::string group = "postfix";
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  bool identity = true;  // run the identity checks in the milter too
  std::string metrics;   // Prometheus endpoint HOST:PORT; empty: off
};

struct PolicyConfig {
  std::vector<std::string> listen{"unix:/var/spool/postfix/esmtp-inspect/policy.sock"};
  std::uint32_t max_connections = 1000;
  std::uint32_t max_connections_per_client = 500;  // per TCP client address
  std::string user = "esmtp-inspect";
  std::string group = "postfix";
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(300)};
  std::string metrics;  // Prometheus endpoint HOST:PORT; empty: off
};

struct DnsConfig {
  std::vector<std::string> servers;  // empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
  std::uint32_t tries = 2;
  std::uint32_t cache_entries = 10000;
  Action on_temperror = Action::kTempfail;
  Reply temperror_reply;
};

// The counter store of the windowed rules (harvest, client_rate):
// esmtp-inspect.yaml(5), COUNTERS ACROSS CONNECTIONS.
enum class StoreType : std::uint8_t { kLocal, kRedis };
enum class StoreOnError : std::uint8_t { kLocal, kSkip };

struct StoreConfig {
  StoreType type = StoreType::kLocal;
  std::vector<std::string> servers{"127.0.0.1:6379"};  // redis: HOST:PORT, [v6]:PORT, unix:/path
  std::chrono::milliseconds timeout{50};
  StoreOnError on_error = StoreOnError::kLocal;
  std::chrono::milliseconds retry{std::chrono::seconds(5)};  // after a failure
  std::string username;       // Redis 6 ACL user; empty: the default user
  std::string password_file;  // empty: no AUTH
  std::string password;       // read from password_file at load; never printed
  std::uint32_t database = 0;
  std::string prefix = "esmtp-inspect:";
  std::uint32_t max_keys = 100000;  // local counters kept (the local store, and the fallback)
  friend bool operator==(const StoreConfig&, const StoreConfig&) = default;
};

struct SelfIdentity {
  std::vector<std::string> names;
  std::vector<IpAddress> addresses;
};

struct Config {
  std::string source;  // file the config came from, "" for built-in defaults
  Mode mode = Mode::kEnforce;
  // Empty, or the private suffix of the header field the policy service
  // PREPENDs (X-ESMTP-Inspect-SECRET), which the milter or a header_checks
  // REPLACE line renames to X-ESMTP-Inspect once every incoming
  // X-ESMTP-Inspect is gone. As configured, tag_secret_setting is "auto"
  // (the default: derived from /etc/machine-id, so both daemons on one
  // machine agree; empty when the machine has no ID), "none" (empty) or the
  // secret itself.
  std::string tag_secret;
  std::string tag_secret_setting = "auto";
  // esmtp-inspect-milter and esmtp-inspect-policyd serve the same MTA: each
  // rule and check is decided by one of them (Decider, common/rules/rules.h).
  bool both_daemons = false;
  LogConfig log;
  MilterConfig milter;
  PolicyConfig policy;
  DnsConfig dns;
  StoreConfig store;
  SelfIdentity self;
  Profile defaults;               // the top level: rules, checks
  std::vector<Profile> profiles;  // first match wins; else `defaults`
};

// Per-session facts profile matching looks at.
struct ClientFacts {
  std::optional<IpAddress> address;
  bool authenticated = false;
  std::string daemon;
};

// The profile that applies to a session with these facts.
const Profile& select_profile(const Config& c, const ClientFacts& facts);

// The mode in force for one rule: rule, then profile, then global.
inline Mode effective_mode(const Config& c, const Profile& p, const RuleConfig& r) {
  if (r.mode) return *r.mode;
  if (p.mode) return *p.mode;
  return c.mode;
}

}  // namespace esmtp
