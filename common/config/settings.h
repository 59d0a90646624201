// settings: the table of global settings, one row per key of
// esmtp-inspect.yaml outside rules:, identity.checks: and profiles:.
//
// Each row is (path, type, default, help, range or choices) plus how to read
// the value into a Config and how to print it back. The same rows validate
// input (config_loader), build the built-in defaults (what an empty file
// yields), print the effective configuration and generate the annotated
// conf/esmtp-inspect.yaml (config_printer) and esmtp-inspect.yaml(5)
// (setting_docs(), tools/man_reference.h), so these cannot disagree.
//
// Limits: integers and durations are checked against the row's lo..hi;
// socket specs must fit a sockaddr_un; DNS servers must be IP addresses.
//
// Thread-safety: the table is immutable; the functions are reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace YAML {
class Node;
}

namespace esmtp {

// Why a socket spec cannot be used, or nullopt: milter.socket / -s
// ("unix:/path", "local:/path", "/path", "inet:PORT@HOST") and
// policy.listen / -l ("unix:/path", "inet:HOST:PORT"). Unix paths must be
// absolute and fit a sockaddr_un.
std::optional<std::string> milter_socket_error(const std::string& spec);
std::optional<std::string> listen_error(const std::string& spec);
// milter.metrics / policy.metrics: HOST:PORT ([v6]:PORT); nullopt when valid.
std::optional<std::string> metrics_error(const std::string& spec);

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

namespace cfg {

// One row per global setting: path, type, default, help, and the range
// (integers; durations in milliseconds) or the choices it accepts. Rows of
// type kGroup are headings carrying the group's help text and no set/get.
// Defaults are YAML text run through `set`, so the built-in configuration is
// exactly what this table says; `set` reads the range and choices from its row.
struct Setting {
  std::string_view path;
  SettingType type;
  std::string_view def;
  std::string_view help;
  std::optional<std::string> (*set)(Config&, const YAML::Node&, const Setting&) = nullptr;
  YAML::Node (*get)(const Config&) = nullptr;
  std::uint64_t lo = 0, hi = 0;   // kUint: values; kDuration: milliseconds
  std::string_view choices = {};  // kChoice: "enforce|monitor"
};

// Every row, groups before their members, in the order of the annotated file.
std::span<const Setting> settings_table();

// The row for a dotted path ("dns.timeout", "log"), or null.
const Setting* find_setting(std::string_view path);

// Sets every setting of `c` to its row's default; aborts on a bad row (a bug).
void set_setting_defaults(Config& c);

}  // namespace cfg
}  // namespace esmtp
