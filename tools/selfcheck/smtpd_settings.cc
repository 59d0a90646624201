#include "tools/selfcheck/smtpd_settings.h"
#include "common/util/text.h"

#include <algorithm>
#include <cctype>

#include "common/util/net.h"

namespace esmtp::selfcheck {
namespace {

constexpr std::string_view kSeparators = ", \t\r\n";

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

std::vector<MasterService> parse_master_services(std::string_view text, std::size_t* skipped) {
  std::vector<MasterService> out;
  std::size_t bad = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (trim(line).empty() || trim(line).front() == '#') continue;
    if (std::isspace(static_cast<unsigned char>(line.front()))) {
      // `postconf -Mf` folds -o options onto indented lines.
      if (out.empty()) {
        ++bad;
      } else {
        for (auto& f : split_ws(line)) out.back().arguments.push_back(std::move(f));
      }
      continue;
    }
    auto f = split_ws(line);
    if (f.size() < 8) {
      ++bad;
      continue;
    }
    MasterService s;
    s.name = f[0];
    s.type = f[1];
    s.private_ = f[2];
    s.unprivileged = f[3];
    s.chroot = f[4];
    s.wakeup = f[5];
    s.process_limit = f[6];
    s.command = f[7];
    s.arguments.assign(f.begin() + 8, f.end());
    out.push_back(std::move(s));
  }
  if (skipped) *skipped = bad;
  return out;
}

bool runs_chrooted(const MasterService& s, std::string_view mail_version) {
  if (s.chroot == "y") return true;
  if (s.chroot == "n") return false;
  // "-": master(5) "Chroot (default: Postfix >= 3.0: n, Postfix < 3.0: y)".
  int major = 0;
  std::size_t i = 0;
  while (i < mail_version.size() && std::isdigit(static_cast<unsigned char>(mail_version[i])))
    major = major * 10 + (mail_version[i++] - '0');
  return i > 0 && major < 3;
}

bool runs_as_root(const MasterService& s) {
  return s.unprivileged == "n";
}

ServiceOverrides parse_service_overrides(std::string_view text) {
  ServiceOverrides out;
  // Not parse_postconf_output(): service names may hold ':', '[' and ']'
  // ("127.0.0.1:2525/inet/smtpd_milters = ...").
  std::vector<std::pair<std::string, std::string>> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (trim(line).empty()) continue;
    if (std::isspace(static_cast<unsigned char>(line.front()))) {
      if (!lines.empty()) lines.back().second += " " + std::string(trim(line));
      continue;
    }
    auto eq = line.find(" =");
    if (eq == std::string_view::npos) continue;
    lines.emplace_back(std::string(trim(line.substr(0, eq))),
                       std::string(trim(line.substr(eq + 2))));
  }
  for (auto& [key, value] : lines) {
    if (key.find(' ') != std::string::npos) continue;
    auto last = key.rfind('/');
    if (last == std::string::npos || last == 0) continue;
    auto type_at = key.rfind('/', last - 1);
    if (type_at == std::string::npos || type_at == 0 || type_at + 1 == last) continue;
    out[key.substr(0, last)][key.substr(last + 1)] = value;
  }
  return out;
}

namespace {

// Calls f(name, begin, end) for each $name, ${name}, $(name) in value.
template <class F>
void for_each_reference(std::string_view v, F f) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '$' || i + 1 >= v.size()) continue;
    char open = v[i + 1];
    if (open == '{' || open == '(') {
      char close = open == '{' ? '}' : ')';
      std::size_t j = i + 2;
      while (j < v.size() && is_name_char(v[j])) ++j;
      if (j < v.size() && v[j] == close && j > i + 2) {
        f(v.substr(i + 2, j - i - 2), i, j + 1);
        i = j;
      }
      continue;  // ${name?...}, ${name:...}: left as written
    }
    std::size_t j = i + 1;
    while (j < v.size() && is_name_char(v[j])) ++j;
    if (j > i + 1) {
      f(v.substr(i + 1, j - i - 1), i, j);
      i = j - 1;
    }
  }
}

}  // namespace

std::string expand_parameters(std::string_view value, const PostconfValues& values) {
  std::string out;
  std::size_t copied = 0;
  for_each_reference(value, [&](std::string_view name, std::size_t begin, std::size_t end) {
    out.append(value.substr(copied, begin - copied));
    if (auto it = values.find(name); it != values.end()) out += it->second;
    copied = end;
  });
  out.append(value.substr(copied));
  return out;
}

std::vector<std::string> referenced_parameters(std::string_view value) {
  std::vector<std::string> out;
  for_each_reference(value, [&](std::string_view name, std::size_t, std::size_t) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  });
  return out;
}

std::vector<std::string> postfix_tokens(std::string_view list) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < list.size() && out.size() < kMaxListItems) {
    while (i < list.size() && kSeparators.find(list[i]) != std::string_view::npos) ++i;
    if (i >= list.size()) break;
    std::size_t start = i;
    int depth = 0;
    while (i < list.size()) {
      char c = list[i];
      if (c == '{') {
        ++depth;
      } else if (c == '}' && depth > 0) {
        --depth;
      } else if (depth == 0 && kSeparators.find(c) != std::string_view::npos) {
        break;
      }
      ++i;
    }
    out.emplace_back(list.substr(start, i - start));
  }
  return out;
}

std::string SocketSpec::attribute(std::string_view name) const {
  for (const auto& [n, v] : attributes)
    if (n == name) return v;
  return {};
}

std::string SocketSpec::rewritten(std::string_view endpoint_text, std::string_view name,
                                  std::string_view value) const {
  bool braced = !text.empty() && text.front() == '{';
  if (!braced && name.empty()) return std::string(endpoint_text);
  std::vector<std::string> parts = {std::string(endpoint_text)};
  bool replaced = false;
  for (const auto& [n, v] : attributes) {
    if (!name.empty() && n == name) {
      parts.push_back(n + "=" + std::string(value));
      replaced = true;
    } else {
      parts.push_back(v.empty() ? n : n + "=" + v);
    }
  }
  if (!name.empty() && !replaced) parts.push_back(std::string(name) + "=" + std::string(value));
  return "{ " + join(parts) + " }";
}

SocketSpec parse_socket_spec(std::string_view element) {
  SocketSpec s;
  element = trim(element);
  s.text = std::string(element);
  if (element.empty() || element.front() != '{') {
    s.endpoint = parse_endpoint(element, EndpointSyntax::kPostfix);
    return s;
  }
  std::string_view inner = element.substr(1);
  if (!inner.empty() && inner.back() == '}') inner.remove_suffix(1);
  auto tokens = postfix_tokens(inner);
  if (tokens.empty()) {
    s.endpoint.text = s.text;
    s.endpoint.error = "empty { } group";
    return s;
  }
  s.endpoint = parse_endpoint(tokens[0], EndpointSyntax::kPostfix);
  // name=value, name = value, name= value, name =value
  std::string pending;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    auto eq = t.find('=');
    if (t == "=") {
      if (!pending.empty() && i + 1 < tokens.size()) {
        s.attributes.emplace_back(pending, tokens[++i]);
        pending.clear();
      }
      continue;
    }
    if (eq != std::string::npos) {
      std::string name = t.substr(0, eq), value = t.substr(eq + 1);
      if (name.empty()) {
        name = pending;
      } else if (!pending.empty()) {
        s.attributes.emplace_back(pending, "");
      }
      pending.clear();
      if (value.empty() && i + 1 < tokens.size() && tokens[i + 1].find('=') == std::string::npos)
        value = tokens[++i];
      if (!name.empty()) s.attributes.emplace_back(to_lower(name), value);
      continue;
    }
    if (!pending.empty()) s.attributes.emplace_back(pending, "");
    pending = to_lower(t);
  }
  if (!pending.empty()) s.attributes.emplace_back(pending, "");
  return s;
}

std::vector<SocketSpec> parse_milters(std::string_view value) {
  std::vector<SocketSpec> out;
  for (const auto& t : postfix_tokens(value)) out.push_back(parse_socket_spec(t));
  return out;
}

namespace {

bool takes_argument(std::string_view name) {
  static constexpr std::string_view kWithArgument[] = {
      "check_policy_service",        "reject_rbl_client",   "reject_rhsbl_client",
      "reject_rhsbl_sender",         "reject_rhsbl_helo",   "reject_rhsbl_recipient",
      "reject_rhsbl_reverse_client", "permit_dnswl_client", "permit_rhswl_client",
  };
  if (name.starts_with("check_") && name.ends_with("_access")) return true;
  return std::find(std::begin(kWithArgument), std::end(kWithArgument), name) !=
         std::end(kWithArgument);
}

}  // namespace

bool Restriction::unauth_destination() const {
  return name == "reject_unauth_destination" || name == "defer_unauth_destination";
}

std::vector<Restriction> parse_restrictions(std::string_view list) {
  std::vector<Restriction> out;
  auto tokens = postfix_tokens(list);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    Restriction r;
    r.name = tokens[i];
    if (takes_argument(to_lower(r.name)) && i + 1 < tokens.size()) r.argument = tokens[++i];
    if (to_lower(r.name) == "check_policy_service" && !r.argument.empty())
      r.policy = parse_socket_spec(r.argument);
    out.push_back(std::move(r));
  }
  return out;
}

std::string join_restrictions(const std::vector<Restriction>& list) {
  std::vector<std::string> parts;
  for (const auto& r : list) parts.push_back(r.text());
  return join(parts);
}

std::string socket_host_path(std::string_view name, std::string_view queue_directory,
                             bool chrooted) {
  std::string q = tidy_path(queue_directory);
  if (!name.empty() && name.front() == '/')
    return chrooted ? tidy_path(q + std::string(name)) : tidy_path(name);
  return tidy_path(q + "/" + std::string(name));
}

std::string tidy_path(std::string_view p) {
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '/' && !out.empty() && out.back() == '/') continue;
    if (p[i] == '.' && !out.empty() && out.back() == '/' &&
        (i + 1 == p.size() || p[i + 1] == '/')) {
      if (i + 1 < p.size()) ++i;
      continue;
    }
    out += p[i];
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace esmtp::selfcheck
