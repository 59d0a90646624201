// config_loader: esmtp-inspect.yaml -> Config, and (through the headers it
// includes) Config -> YAML.
//
// Every global setting is a row of one table (settings.h: path, type, default,
// range, help); rules and identity checks come from the tables in rules.h
// (rule_config.h reads and prints their entries). The same rows validate
// input, build the defaults, print the effective configuration
// (`check-config`, config_printer.h) and generate the annotated
// conf/esmtp-inspect.yaml and the reference esmtp-inspect.yaml(5)
// (tools/man_reference.h), where the file format, every key, rule, check,
// action and log field is documented.
//
// Errors: unknown keys, wrong types, out-of-range numbers, bad patterns,
// reply/action class mismatches and YAML syntax errors are reported as
// "FILE:LINE:COLUMN: KEY: reason", all of them, not just the first. A file
// larger than kMaxConfigBytes is refused before parsing.
//
// Thread-safety: the functions are reentrant; results are immutable.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/config/config_printer.h"  // dump_config, annotated_default_config
#include "common/config/settings.h"        // socket spec checks, setting_docs

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

}  // namespace esmtp
