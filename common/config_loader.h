// config_loader: esmtp-inspect.yaml -> Config, and Config -> YAML.
//
// Every global setting is a row of one table (path, type, default, range,
// help); rules and identity checks come from the tables in rules.h. The same
// rows validate input, build the defaults, print the effective configuration
// (`check-config`) and generate the annotated conf/esmtp-inspect.yaml.
//
// Errors: unknown keys, wrong types, out-of-range numbers, bad patterns,
// reply/action class mismatches and YAML syntax errors are reported as
// "FILE:LINE:COLUMN: KEY: reason", all of them, not just the first. A file
// larger than kMaxConfigBytes is refused before parsing.
//
// Thread-safety: the functions are reentrant; results are immutable.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

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

}  // namespace esmtp
