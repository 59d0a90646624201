#include "common/config/rule_config.h"

#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "common/util/text.h"

namespace esmtp::cfg {

// ---------------------------------------------------------------------------
// Reading

// `rules:` and `checks:`, maps of table names to their settings: `find`
// looks a name up in its table, `read` reads one entry.
template <typename Find, typename Read>
void RuleReader::named(const YAML::Node& n, const std::string& prefix, const YAML::Mark& mark,
                       std::string_view plural, std::string_view singular, Find find, Read read) {
  if (n.IsNull()) return;
  if (!n.IsMap())
    return error(mark, prefix, fmt::format("expected a map of {}, got {}", plural, kind_of(n)));
  for_each_key(n, prefix,
               [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
                 auto id = find(key);
                 if (!id)
                   return error(key_mark, prefix + "." + key, fmt::format("unknown {}", singular));
                 read(*id, value, prefix + "." + key, key_mark);
               });
}

void RuleReader::rules(RuleSet& set, const YAML::Node& n, const std::string& prefix,
                       const YAML::Mark& mark) {
  named(n, prefix, mark, "rules", "rule", find_rule,
        [&](RuleId id, const YAML::Node& value, const std::string& path, const YAML::Mark& m) {
          rule(set[static_cast<std::size_t>(id)], rule_info(id), value, path, m);
        });
}

void RuleReader::checks(CheckSet& set, const YAML::Node& n, const std::string& prefix,
                        const YAML::Mark& mark) {
  named(n, prefix, mark, "checks", "identity check", find_check,
        [&](CheckId id, const YAML::Node& value, const std::string& path, const YAML::Mark& m) {
          check(set[static_cast<std::size_t>(id)], check_info(id), value, path, m);
        });
}

// "NAME: off" is shorthand for "NAME: {action: off}"; anything else must be
// a map of settings. False when there is no map to read.
bool RuleReader::settings_map(Action& action, const YAML::Node& n, const std::string& path,
                              const YAML::Mark& mark) {
  if (n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "false")) {
    action = Action::kOff;
    return false;
  }
  if (n.IsMap()) return true;
  error(mark, path, "expected a map or off, got " + kind_of(n));
  return false;
}

void RuleReader::rule(RuleConfig& r, const RuleInfo& info, const YAML::Node& n,
                      const std::string& path, const YAML::Mark& mark) {
  if (!settings_map(r.action, n, path, mark)) return;
  bool action_given = false, param_given = false;
  std::optional<Reply> reply;
  YAML::Mark reply_mark;
  const std::size_t errors_before = errors_.size();
  for_each_key(
      n, path, [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
        std::string kpath = path + "." + key;
        Err e;
        if (key == "action") {
          std::string s;
          e = as_scalar(value, s);
          auto a = parse_action(s);
          if (!e && !a)
            e = "\"" + s + "\" is not an action (reject, tempfail, disconnect, quarantine, " +
                "discard, tag, log, off)";
          if (!e) r.action = *a, action_given = true;
        } else if (key == "reply") {
          Reply rep;
          e = as_reply(value, rep);
          if (!e) reply = rep, reply_mark = value.Mark();
        } else if (key == "mode") {
          std::string s;
          e = as_enum(value, {"enforce", "monitor"}, s);
          if (!e) r.mode = parse_mode(s);
        } else if (key == "max" &&
                   (info.param == RuleParam::kMax || info.param == RuleParam::kWindow)) {
          e = as_uint(value, info.min, info.max, r.max);
          param_given = true;
        } else if (key == "patterns" && info.param == RuleParam::kPatterns) {
          std::vector<std::string> v;
          e = as_string_list(value, v);
          r.patterns = PatternList();
          for (std::size_t i = 0; !e && i < v.size(); ++i)
            if (auto bad = r.patterns.add(v[i])) e = "pattern \"" + v[i] + "\": " + *bad;
          param_given = true;
        } else if (key == "characters" && info.param == RuleParam::kCharacters) {
          e = as_scalar(value, r.characters);
          param_given = true;
        } else if (key == "deny" && info.param == RuleParam::kDeny) {
          e = as_string_list(value, r.deny);
          for (auto& s : r.deny)
            for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          param_given = true;
        } else if (key == "window" && info.param == RuleParam::kWindow) {
          std::chrono::milliseconds w{};
          e = as_duration(value, std::chrono::seconds(10), std::chrono::hours(24), w);
          if (!e && w.count() % 1000 != 0) e = "window is counted in whole seconds";
          if (!e) r.window_seconds = static_cast<std::uint32_t>(w.count() / 1000);
          param_given = true;
        } else if (key == "per" && info.param == RuleParam::kWindow) {
          std::string text;
          e = as_scalar(value, text);
          auto scope = parse_counter_scope(text);
          if (!e && !scope)
            e = "\"" + text +
                "\" is not a scope (address, /N for IPv4 up to /32 or IPv6 over /32, or both: "
                "\"/24 /56\")";
          if (!e) r.per = *scope;
          param_given = true;
        } else if (info.param == RuleParam::kMimeLimits && mime_limit(r.mime, key, value, e)) {
          param_given = true;
        } else {
          return error(key_mark, kpath, "unknown key (" + rule_keys(info) + ")");
        }
        if (e) error(value.Mark(), kpath, *e);
      });
  if (!action_given && param_given && !info.on_by_default && r.action == Action::kOff)
    r.action = info.default_action;
  if (errors_.size() != errors_before) return;  // no follow-on errors
  if (r.enabled() && r.patterns.empty() && info.param == RuleParam::kPatterns)
    error(mark, path, "needs at least one pattern in patterns:");
  if (r.enabled() && r.deny.empty() && info.param == RuleParam::kDeny)
    error(mark, path, "needs at least one encoding in deny:");
  if (reply) {
    if (auto e = reply_fits(r.action, *reply)) error(reply_mark, path + ".reply", *e);
    r.reply = *reply;
    r.reply_configured = true;
  } else {
    r.reply = adapt_reply(r.reply_configured ? r.reply : default_reply(info), r.action);
  }
}

void RuleReader::check(CheckConfig& c, const CheckInfo& info, const YAML::Node& n,
                       const std::string& path, const YAML::Mark& mark) {
  if (!settings_map(c.action, n, path, mark)) return;
  std::optional<Reply> reply;
  YAML::Mark reply_mark;
  for_each_key(
      n, path, [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
        std::string kpath = path + "." + key;
        Err e;
        if (key == "action") {
          std::string s;
          e = as_scalar(value, s);
          auto a = parse_action(s);
          if (!e && !a) e = "\"" + s + "\" is not an action";
          if (!e && info.id == CheckId::kSelfBanner && *a != Action::kLog && *a != Action::kOff)
            e = "self_banner only logs (log or off): it never affects mail";
          if (!e) c.action = *a;
        } else if (key == "reply" && info.id != CheckId::kSelfBanner) {
          Reply rep;
          e = as_reply(value, rep);
          if (!e) reply = rep, reply_mark = value.Mark();
        } else if (key == "mode" && info.id == CheckId::kHeloMatchesPtr) {
          std::string s;
          e = as_enum(value, {"exact", "domain"}, s);
          if (!e) c.helo_ptr_mode = s == "exact" ? HeloPtrMode::kExact : HeloPtrMode::kDomain;
        } else {
          return error(key_mark, kpath,
                       info.id == CheckId::kHeloMatchesPtr ? "unknown key (action, reply, mode)"
                       : info.id == CheckId::kSelfBanner   ? "unknown key (action)"
                                                           : "unknown key (action, reply)");
        }
        if (e) error(value.Mark(), kpath, *e);
      });
  if (reply) {
    if (auto e = reply_fits(c.action, *reply)) error(reply_mark, path + ".reply", *e);
    c.reply = *reply;
    c.reply_configured = true;
  } else if (!info.default_reply.empty()) {
    c.reply =
        adapt_reply(c.reply_configured ? c.reply : parse_default(info.default_reply), c.action);
  }
}

bool RuleReader::mime_limit(MimeLimits& m, const std::string& key, const YAML::Node& value,
                            Err& e) {
  for (const auto& row : mime_limit_table()) {
    if (row.key != key) continue;
    e = as_u32(value, row.min, row.max, m.*row.field);
    return true;
  }
  return false;
}

std::string RuleReader::rule_keys(const RuleInfo& info) {
  std::string keys = "action, reply, mode";
  switch (info.param) {
    case RuleParam::kMax:
      return keys + ", max";
    case RuleParam::kWindow:
      return keys + ", max, window, per";
    case RuleParam::kPatterns:
      return keys + ", patterns";
    case RuleParam::kCharacters:
      return keys + ", characters";
    case RuleParam::kDeny:
      return keys + ", deny";
    case RuleParam::kMimeLimits:
      for (const auto& row : mime_limit_table()) keys += ", " + std::string(row.key);
      return keys;
    case RuleParam::kNone:
      break;
  }
  return keys;
}

Reply RuleReader::parse_default(std::string_view text) {
  auto r = parse_reply(text, nullptr);
  if (!r) std::abort();  // a bad row in the rule table is a bug
  return *r;
}

Reply RuleReader::default_reply(const RuleInfo& info) {
  return parse_default(info.default_reply);
}

Err RuleReader::reply_fits(Action a, const Reply& r) {
  if (a == Action::kDisconnect && r.code != 421)
    return "action disconnect needs a 421 reply, got " + std::to_string(r.code);
  const char cls = reply_class_for(a);
  if (cls && r.code / 100 != cls - '0')
    return fmt::format("{} reply does not fit action {} (needs {}xx)", r.code, to_string(a), cls);
  return {};
}

// ---------------------------------------------------------------------------
// Defaults

void set_rule_defaults(Config& c) {
  for (const auto& info : rule_table()) {
    RuleConfig& r = c.defaults.rules[static_cast<std::size_t>(info.id)];
    r.action = info.on_by_default ? info.default_action : Action::kOff;
    r.max = info.default_max;
    r.window_seconds = default_window_seconds(info.id);
    r.characters = info.default_characters;
    r.reply = adapt_reply(RuleReader::default_reply(info), info.default_action);
  }
  for (const auto& info : check_table()) {
    CheckConfig& k = c.defaults.checks[static_cast<std::size_t>(info.id)];
    k.action = info.default_action;
    if (!info.default_reply.empty()) k.reply = RuleReader::parse_default(info.default_reply);
  }
}

// ---------------------------------------------------------------------------
// Printing

YAML::Node rule_node(const RuleConfig& r, const RuleInfo& info) {
  YAML::Node n(YAML::NodeType::Map);
  switch (info.param) {
    case RuleParam::kMax:
      n["max"] = r.max;
      break;
    case RuleParam::kWindow:
      n["max"] = r.max;
      n["window"] = duration_text(std::chrono::seconds(r.window_seconds));
      n["per"] = to_string(r.per);
      break;
    case RuleParam::kPatterns:
      n["patterns"] = list_node(r.patterns.sources());
      break;
    case RuleParam::kCharacters:
      n["characters"] = r.characters;
      break;
    case RuleParam::kDeny:
      n["deny"] = list_node(r.deny);
      break;
    case RuleParam::kMimeLimits:
      for (const auto& row : mime_limit_table()) n[std::string(row.key)] = r.mime.*row.field;
      break;
    case RuleParam::kNone:
      break;
  }
  n["action"] = std::string(to_string(r.action));
  if (r.mode) n["mode"] = std::string(to_string(*r.mode));
  if (r.enabled() && !r.reply.empty()) n["reply"] = r.reply.str();
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

YAML::Node rules_node(const RuleSet& set) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& info : rule_table())
    n[std::string(info.name)] = rule_node(set[static_cast<std::size_t>(info.id)], info);
  return n;
}

YAML::Node check_node(const CheckConfig& k, const CheckInfo& info) {
  YAML::Node n(YAML::NodeType::Map);
  n["action"] = std::string(to_string(k.action));
  if (info.id == CheckId::kHeloMatchesPtr)
    n["mode"] = k.helo_ptr_mode == HeloPtrMode::kExact ? "exact" : "domain";
  if (!k.reply.empty()) n["reply"] = k.reply.str();
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

RuleConfig off_rule_example(const RuleConfig& r, const RuleInfo& info) {
  RuleConfig shown = r;
  shown.action = info.default_action;
  shown.reply = RuleReader::default_reply(info);
  if (info.param == RuleParam::kPatterns) {
    shown.patterns = PatternList();
    (void)shown.patterns.add(info.example);
  }
  if (info.param == RuleParam::kDeny) shown.deny = split_words(info.example);
  return shown;
}

}  // namespace esmtp::cfg
