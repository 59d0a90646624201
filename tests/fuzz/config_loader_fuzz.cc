// config_loader_fuzz: esmtp-inspect.yaml loading (common/config/config_loader.h) on
// arbitrary bytes.
//
// Invariants (abort() on violation):
//  - load_config_string never throws and either yields a Config or at least
//    one error, each naming the file and carrying a message, with a sane
//    position;
//  - round trip: when the input loads, dump_config(config) (what
//    `check-config` prints) loads back without errors and dumps to the
//    identical text;
//  - every enabled rule and check of every profile has a reply that fits its
//    action, as the loader promises;
//  - key order does not matter: the top-level keys re-emitted in file order and
//    in reverse order give the same configuration (profiles inherit the top
//    level wherever `profiles:` stands).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config/config_loader.h"
#include "common/rules/rules.h"

#include <yaml-cpp/yaml.h>

namespace esmtp {
namespace {

[[noreturn]] void fail(std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  std::fprintf(stderr,
               "config_loader_fuzz: invariant violated: %.*s\n--- first:\n%.*s\n--- second:\n"
               "%.*s\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(a.size()), a.data(),
               static_cast<int>(b.size()), b.data());
  std::abort();
}

void check(bool ok, std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  if (!ok) fail(what, a, b);
}

void check_errors(const LoadResult& r, std::string_view file, std::string_view input) {
  check(!r.errors.empty(), "no config and no error", input);
  for (const auto& e : r.errors) {
    check(e.file == file, "error names the wrong file", e.str());
    check(!e.message.empty(), "error without a message", e.str());
    check(e.line >= 0 && e.column >= 0 && (e.line == 0) == (e.column == 0), "bad error position",
          e.str());
  }
}

void check_reply(Action a, const Reply& r, std::string_view what) {
  const char cls = reply_class_for(a);
  if (cls == 0) return;
  check(!r.empty() && r.code / 100 == cls - '0', "reply does not fit the action", what, r.str());
  if (a == Action::kDisconnect) check(r.code == 421, "disconnect without 421", what, r.str());
}

void check_profile(const Profile& p) {
  check(!p.name.empty(), "profile without a name");
  for (const auto& info : rule_table()) {
    const RuleConfig& r = p.rules[static_cast<std::size_t>(info.id)];
    if (!r.enabled()) continue;
    check_reply(r.action, r.reply, info.name);
    if (info.param == RuleParam::kPatterns) check(!r.patterns.empty(), "rule without patterns");
    if (info.param == RuleParam::kDeny) check(!r.deny.empty(), "rule without deny list");
  }
  for (const auto& info : check_table()) {
    const CheckConfig& c = p.checks[static_cast<std::size_t>(info.id)];
    if (c.action != Action::kOff) check_reply(c.action, c.reply, info.name);
  }
}

// The top-level map of `in` emitted with its keys in file order or reversed;
// nullopt when `in` is not such a map. Both orders go through the same
// emitter, so what the emitter changes cancels out.
std::optional<std::pair<std::string, std::string>> both_orders(std::string_view in) {
  try {
    const YAML::Node root = YAML::Load(std::string(in));
    if (!root.IsMap() || root.size() < 2) return std::nullopt;
    std::vector<std::pair<YAML::Node, YAML::Node>> items;
    for (auto it = root.begin(); it != root.end(); ++it) items.emplace_back(it->first, it->second);
    auto emit = [](auto first, auto last) -> std::optional<std::string> {
      YAML::Emitter out;
      out << YAML::BeginMap;
      for (; first != last; ++first)
        out << YAML::Key << first->first << YAML::Value << first->second;
      out << YAML::EndMap;
      if (!out.good()) return std::nullopt;
      return std::string(out.c_str());
    };
    auto forward = emit(items.begin(), items.end());
    auto backward = emit(items.rbegin(), items.rend());
    if (!forward || !backward) return std::nullopt;
    return std::pair{std::move(*forward), std::move(*backward)};
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

}  // namespace
}  // namespace esmtp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace esmtp;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  LoadResult r = load_config_string(in, "fuzz.yaml");
  if (!r.ok()) {
    check_errors(r, "fuzz.yaml", in);
    return 0;
  }
  check(r.errors.empty(), "config with errors", in);
  check_profile(r.config->defaults);
  for (const auto& p : r.config->profiles) check_profile(p);

  const std::string first = dump_config(*r.config);
  LoadResult again = load_config_string(first, "dump.yaml");
  if (!again.ok()) {
    std::string errors;
    for (const auto& e : again.errors) errors += e.str() + "\n";
    fail("dump_config output does not load", first, errors);
  }
  const std::string second = dump_config(*again.config);
  check(first == second, "dump_config does not round-trip", first, second);

  if (auto orders = both_orders(in)) {
    LoadResult forward = load_config_string(orders->first, "forward.yaml");
    LoadResult backward = load_config_string(orders->second, "backward.yaml");
    check(forward.ok() == backward.ok(), "key order decides whether a file loads", orders->first,
          orders->second);
    if (forward.ok())
      check(dump_config(*forward.config) == dump_config(*backward.config),
            "key order changes the configuration", orders->first, orders->second);
  }
  return 0;
}
