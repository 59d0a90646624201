#include "common/config/yaml_values.h"

#include <fmt/format.h>

#include <charconv>

namespace esmtp::cfg {

using std::chrono::milliseconds;

std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("\"{}\"", n.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "an undefined value";
  }
}

Err as_scalar(const YAML::Node& n, std::string& out) {
  if (!n.IsScalar()) return "expected a single value, got " + kind_of(n);
  out = n.Scalar();
  return {};
}

Err as_bool(const YAML::Node& n, bool& out) {
  std::string s;
  if (auto e = as_scalar(n, s)) return e;
  for (auto t : {"true", "yes", "on"})
    if (s == t) return out = true, Err{};
  for (auto f : {"false", "no", "off"})
    if (s == f) return out = false, Err{};
  return "expected true or false, got \"" + s + "\"";
}

// Integers accept a binary suffix: 64k, 10M, 1G.
Err as_uint(const YAML::Node& n, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
  std::string s;
  if (auto e = as_scalar(n, s)) return e;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  std::string_view suffix(end, static_cast<std::size_t>(s.data() + s.size() - end));
  std::uint64_t mult = 1;
  if (suffix == "k" || suffix == "K")
    mult = 1024;
  else if (suffix == "m" || suffix == "M")
    mult = 1024 * 1024;
  else if (suffix == "g" || suffix == "G")
    mult = 1024 * 1024 * 1024;
  else if (!suffix.empty())
    ec = std::errc::invalid_argument;
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && v > hi / mult))
    return fmt::format("{} is out of range {}..{}", s, lo, hi);
  if (ec != std::errc() || end == s.data()) return "expected a whole number, got \"" + s + "\"";
  v *= mult;
  if (v < lo || v > hi) return fmt::format("{} is out of range {}..{}", s, lo, hi);
  out = v;
  return {};
}

Err as_u32(const YAML::Node& n, std::uint64_t lo, std::uint64_t hi, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (auto e = as_uint(n, lo, hi, v)) return e;
  out = static_cast<std::uint32_t>(v);
  return {};
}

// "500ms", "2s", "1m", "1h"; a bare number is seconds.
Err as_duration(const YAML::Node& n, milliseconds lo, milliseconds hi, milliseconds& out) {
  std::string s;
  if (auto e = as_scalar(n, s)) return e;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  std::string_view unit(end, static_cast<std::size_t>(s.data() + s.size() - end));
  std::uint64_t ms_per = 0;
  if (unit == "ms")
    ms_per = 1;
  else if (unit == "s" || unit.empty())
    ms_per = 1000;
  else if (unit == "m")
    ms_per = 60000;
  else if (unit == "h")
    ms_per = 3600000;
  if (ec != std::errc() || end == s.data() || ms_per == 0 || v > 1'000'000'000)
    return "expected a duration like 500ms, 2s, 1m, got \"" + s + "\"";
  milliseconds d(static_cast<milliseconds::rep>(v * ms_per));
  if (d < lo || d > hi)
    return fmt::format("{} is out of range {}ms..{}ms", s, lo.count(), hi.count());
  out = d;
  return {};
}

Err as_string_list(const YAML::Node& n, std::vector<std::string>& out) {
  if (!n.IsSequence()) return "expected a list, got " + kind_of(n);
  out.clear();
  for (const auto& item : n) {
    if (!item.IsScalar()) return "expected a list of values, found " + kind_of(item);
    out.push_back(item.Scalar());
  }
  return {};
}

Err as_enum(const YAML::Node& n, std::initializer_list<std::string_view> allowed,
            std::string& out) {
  if (auto e = as_scalar(n, out)) return e;
  std::string list;
  for (auto a : allowed) {
    if (a == out) return {};
    list += list.empty() ? "" : ", ";
    list += a;
  }
  return fmt::format("\"{}\" is not one of: {}", out, list);
}

Err as_reply(const YAML::Node& n, Reply& out) {
  std::string s, why;
  if (auto e = as_scalar(n, s)) return e;
  auto r = parse_reply(s, &why);
  if (!r) return why;
  out = *r;
  return {};
}

YAML::Node str_node(std::string_view s) {
  return YAML::Node(std::string(s));
}

YAML::Node list_node(const std::vector<std::string>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& s : v) n.push_back(s);
  return n;
}

std::string emit_flow(const YAML::Node& n) {
  YAML::Emitter out;
  out << YAML::Flow << n;
  return out.c_str();
}

void YamlReader::error(const YAML::Mark& m, std::string_view path, std::string_view msg) {
  ConfigError e;
  e.file = file_;
  if (!m.is_null()) {
    e.line = m.line + 1;
    e.column = m.column + 1;
  }
  e.message = path.empty() ? std::string(msg) : fmt::format("{}: {}", path, msg);
  errors_.push_back(std::move(e));
}

}  // namespace esmtp::cfg

namespace esmtp {

std::string ConfigError::str() const {
  if (line == 0) return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

}  // namespace esmtp
