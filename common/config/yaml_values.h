// yaml_values: YAML nodes <-> typed configuration values, and the reader that
// collects "FILE:LINE:COLUMN: KEY: reason" errors while a file is walked.
//
// Inputs: yaml-cpp nodes of an esmtp-inspect.yaml already parsed in memory
// (config_loader refuses files over kMaxConfigBytes first). Each as_*()
// returns the reason a value does not fit (wrong kind, not a number, out of
// lo..hi) or nothing, and writes `out` only on success. Integers take k/M/G
// suffixes (1024-based), durations ms/s/m/h (a bare number is seconds, at
// most 1e9 units). YamlReader keeps every error, not just the first, and
// rejects duplicate keys and keys that are not plain names.
//
// For the config layer's own files (settings, rule_config, config_printer,
// config_loader); callers use config_loader.h.
//
// Thread-safety: the functions are reentrant; a YamlReader belongs to one load.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_loader.h"
#include "common/util/text.h"

namespace esmtp::cfg {

using Err = std::optional<std::string>;

// "nothing", "\"text\"", "a list", "a map": what an error says it got.
std::string kind_of(const YAML::Node& n);

Err as_scalar(const YAML::Node& n, std::string& out);
Err as_bool(const YAML::Node& n, bool& out);
Err as_uint(const YAML::Node& n, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out);
Err as_u32(const YAML::Node& n, std::uint64_t lo, std::uint64_t hi, std::uint32_t& out);
Err as_duration(const YAML::Node& n, std::chrono::milliseconds lo, std::chrono::milliseconds hi,
                std::chrono::milliseconds& out);
Err as_string_list(const YAML::Node& n, std::vector<std::string>& out);
Err as_enum(const YAML::Node& n, std::initializer_list<std::string_view> allowed, std::string& out);
Err as_reply(const YAML::Node& n, Reply& out);

// The other direction, for check-config and the generated files.
YAML::Node str_node(std::string_view s);
YAML::Node list_node(const std::vector<std::string>& v);
std::string emit_flow(const YAML::Node& n);  // one line: [a, b], {k: v}
// (durations: duration_text() in common/util/text.h, included here)

// Collects the errors of one file. `path` is the dotted key ("dns.timeout",
// "profiles[0].rules.x"); a null mark gives an error without a position.
class YamlReader {
 public:
  YamlReader(std::string file, std::vector<ConfigError>& errors)
      : file_(std::move(file)), errors_(errors) {}

  void error(const YAML::Mark& m, std::string_view path, std::string_view msg);

 protected:
  // Calls f(key, value, key_mark) for each entry of the map `n` (nothing for
  // null); reports a non-map, non-scalar keys and duplicates.
  template <typename F>
  void for_each_key(const YAML::Node& n, const std::string& prefix, F&& f) {
    if (n.IsNull()) return;
    if (!n.IsMap()) return error(n.Mark(), prefix, "expected a map, got " + kind_of(n));
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      // it->first is a member of a temporary proxy: copy the node handles.
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        error(k.Mark(), prefix, "keys must be plain names");
        continue;
      }
      const std::string key = k.Scalar();
      if (!seen.insert(key).second) {
        error(k.Mark(), prefix.empty() ? key : prefix + "." + key, "duplicate key");
        continue;
      }
      f(key, v, k.Mark());
    }
  }

  std::string file_;
  std::vector<ConfigError>& errors_;
};

}  // namespace esmtp::cfg
