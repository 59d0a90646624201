// config_loader: esmtp-inspect.yaml -> Config, and Config -> YAML.
//
// Every global setting is a row of one table (path, type, default, range,
// help); rules and identity checks come from the tables in rules.h. The same
// rows validate input, build the defaults, print the effective configuration
// (`check-config`) and generate the annotated conf/esmtp-inspect.yaml and the
// reference esmtp-inspect.yaml(5) (tools/man_reference.h), where the file
// format, every key, rule, check, action and log field is documented.
//
// Errors: unknown keys, wrong types, out-of-range numbers, bad patterns,
// reply/action class mismatches and YAML syntax errors are reported as
// "FILE:LINE:COLUMN: KEY: reason", all of them, not just the first. A file
// larger than kMaxConfigBytes is refused before parsing.
//
// Thread-safety: the functions are reentrant; results are immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace esmtp {

inline constexpr std::size_t kMaxConfigBytes = 4 * 1024 * 1024;

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when not tied to a position
  int column = 0;  // 1-based
  std::string message;
  std::string str() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
  bool ok() const { return config != nullptr; }
};

LoadResult load_config_file(const std::string& path);

// tag_secret: auto (esmtp-inspect.yaml(5)): 32 hex digits derived from
// /etc/machine-id, the same in every process on this machine; empty when the
// machine has no ID.
std::string machine_tag_secret();
LoadResult load_config_string(std::string_view yaml, const std::string& name = "<config>");

// The built-in defaults (what an empty file yields).
std::shared_ptr<const Config> default_config();

// The effective configuration as YAML, every setting spelled out.
std::string dump_config(const Config& c);

// The annotated default configuration shipped as conf/esmtp-inspect.yaml.
std::string annotated_default_config();

// Why a socket spec cannot be used, or nullopt: milter.socket / -s
// ("unix:/path", "local:/path", "/path", "inet:PORT@HOST") and
// policy.listen / -l ("unix:/path", "inet:HOST:PORT"). Unix paths must be
// absolute and fit a sockaddr_un.
std::optional<std::string> milter_socket_error(const std::string& spec);
std::optional<std::string> listen_error(const std::string& spec);

// The settings table as documentation, one entry per row in table order:
// esmtp-inspect.yaml(5) is generated from it (tools/man_reference.h).
enum class SettingType : std::uint8_t {
  kGroup,  // a heading: a map of the settings below it
  kString,
  kBool,
  kUint,      // takes k/M/G suffixes
  kDuration,  // 500ms, 2s, 1m, 1h
  kChoice,
  kList,
  kReply,  // "451 4.4.3 text"
};
std::string_view to_string(SettingType t);  // "duration", ...

struct SettingDoc {
  std::string_view path;  // "dns.timeout"
  SettingType type;
  std::string default_value;              // as conf/esmtp-inspect.yaml writes it; "" for groups
  std::string range;                      // "1..10", "50ms..1m"; "" when unbounded
  std::vector<std::string_view> choices;  // kChoice
  std::string_view help;
};
std::vector<SettingDoc> setting_docs();

}  // namespace esmtp
