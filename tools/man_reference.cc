#include "tools/man_reference.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "common/config/config_loader.h"
#include "common/log/log_fields.h"
#include "common/log/logger.h"
#include "common/rules/rules.h"
#include "common/rules/verdict.h"
#include "common/util/text.h"

namespace esmtp {
namespace {

// What each action does in the two daemons. The names and reply classes come
// from verdict.h; check_actions() fails when this list and the code differ.
struct ActionDoc {
  Action action;
  std::string_view text;
};

constexpr std::array<ActionDoc, 8> kActionDocs{{
    {Action::kReject,
     "Refuse with a permanent 5xx reply. The milter sets the reply and rejects (the "
     "recipient at RCPT, else the message); the policy service answers the reply itself."},
    {Action::kTempfail,
     "Refuse with a temporary 4xx reply: the sender retries later. At RCPT only that recipient "
     "is refused."},
    {Action::kDisconnect,
     "Answer 421 and end the session: the milter tempfails with the 421 reply, after which "
     "the MTA closes the connection; the policy service answers the 421 reply."},
    {Action::kQuarantine,
     "Accept the message but hold it: milter quarantine (Postfix's hold queue, Sendmail's "
     "quarantine); the policy service answers HOLD."},
    {Action::kDiscard,
     "Accept the message and throw it away: milter discard; the policy service answers "
     "DISCARD. Used only when configured explicitly, and logged as a warning."},
    {Action::kTag,
     "Deliver the message with a header X-ESMTP-Inspect: rule=NAME; result=... (the milter "
     "adds one per tag at end of message; the policy service prepends one per message)."},
    {Action::kLog, "Deliver the message and log the verdict (the policy service answers DUNNO)."},
    {Action::kOff, "The rule or check is disabled."},
}};

// The fields of a verdict line: the queue ID, then the rows of the one field
// table the logger and `report` use (common/log/log_fields.h). text_key is the
// key of the text format ("" for the queue ID, which comes first without
// one); json_keys are the JSON object's keys for the same information.
// check_log_fields() compares both with what the logger writes.
struct LogFieldDoc {
  std::string_view text_form;
  std::string_view text_key;
  std::string json_keys;  // space-separated
  std::string_view text;
};

std::vector<LogFieldDoc> log_field_docs() {
  std::vector<LogFieldDoc> docs{
      {"QUEUEID:", "", "queue_id",
       "The MTA's queue ID, or NOQUEUE while the message has none. It comes first, as in "
       "Postfix's own lines, so that grep QUEUEID finds both."}};
  for (const auto& f : kLogFields) {
    std::string json(f.key);
    if (f.form == FieldForm::kClient) json += " " + std::string(kJsonClientAddress);
    docs.push_back({f.shape, f.key, json, f.doc});
  }
  return docs;
}

std::string bold(std::string_view s) {
  return "\\fB" + roff_escape(s) + "\\fR";
}

std::string line(std::string_view s) {
  return roff_escape(s) + "\n";
}

// A list of NAME VALUE pairs under a tagged paragraph, without blank lines.
struct Items {
  std::vector<std::pair<std::string, std::string>> rows;  // key (plain), value (roff)
  void add(std::string_view key, std::string value) { rows.emplace_back(key, std::move(value)); }
  std::string roff() const {
    // Keys longer than kMaxWidth (the MIME limits) put their value on the
    // next line rather than squeezing every value into a narrow column.
    constexpr std::size_t kMaxWidth = 10;
    std::size_t width = 0;
    for (const auto& [k, v] : rows)
      if (k.size() <= kMaxWidth) width = std::max(width, k.size());
    std::string out = ".RS\n.PD 0\n";
    for (const auto& [k, v] : rows) out += fmt::format(".TP {}n\n{}\n{}\n", width + 2, bold(k), v);
    out += ".PD\n.RE\n";
    return out;
  }
};

std::string join(const std::vector<std::string_view>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string settings_roff() {
  std::string out;
  for (const auto& d : setting_docs()) {
    if (d.type == SettingType::kGroup) {
      out += ".SS " + roff_escape(d.path) + "\n" + line(d.help);
      continue;
    }
    std::string kind;
    switch (d.type) {
      case SettingType::kChoice:
        kind = "One of: " + join(d.choices, ", ") + ".";
        break;
      case SettingType::kUint:
      case SettingType::kDuration:
        kind = fmt::format("Type: {}, {}.", to_string(d.type), d.range);
        break;
      default:
        kind = fmt::format("Type: {}.", to_string(d.type));
        break;
    }
    out += ".TP\n" + bold(std::string(d.path) + ": " + d.default_value) + "\n" + line(d.help) +
           ".br\n" + line(kind);
  }
  return out;
}

std::string reply_text(const Reply& r) {
  return r.empty() ? std::string("none") : bold(r.str());
}

std::string rules_roff() {
  const Config& c = *default_config();
  std::string out;
  for (const auto& info : rule_table()) {
    const RuleConfig& r = c.defaults.rules[static_cast<std::size_t>(info.id)];
    Items items;
    items.add("stage", roff_escape(stage_text(info.events)));
    items.add("both_daemons",
              roff_escape(info.decider == Decider::kPolicy ? "decided by the policy service"
                                                           : "decided by the milter"));
    std::string_view param;
    switch (info.param) {
      case RuleParam::kMax:
        param = "max";
        items.add("max", fmt::format("{} ({}..{})", bold(std::to_string(info.default_max)),
                                     info.min, info.max));
        break;
      case RuleParam::kWindow:
        param = "max";
        items.add("max", fmt::format("{} ({}..{})", bold(std::to_string(info.default_max)),
                                     info.min, info.max));
        items.add("window", bold(duration_text(std::chrono::seconds(r.window_seconds))) +
                                roff_escape(" (10s..24h): the sliding window"));
        items.add("per",
                  bold(to_string(r.per)) +
                      roff_escape(" (address; /N: an IPv4 prefix up to /32, IPv6 clients then "
                                  "by /64, or an IPv6 prefix over /32; \"/24 /56\": both)"));
        break;
      case RuleParam::kPatterns:
        param = "patterns";
        items.add("patterns", roff_escape("a list; none by default"));
        break;
      case RuleParam::kCharacters:
        param = "characters";
        items.add("characters", bold(r.characters));
        break;
      case RuleParam::kDeny:
        param = "deny";
        items.add("deny", roff_escape("a list; none by default"));
        break;
      case RuleParam::kMimeLimits:
        for (const auto& m : mime_limit_table())
          items.add(m.key, fmt::format("{} ({}..{}): {}", bold(std::to_string(r.mime.*m.field)),
                                       m.min, m.max, roff_escape(m.help)));
        break;
      case RuleParam::kNone:
        break;
    }
    if (info.on_by_default)
      items.add("default", "on");
    else if (param.empty())
      items.add("default", roff_escape("off; on once an action is set"));
    else
      items.add("default", roff_escape(fmt::format("off; on once {} or an action is set", param)));
    items.add("action", bold(to_string(info.default_action)));
    items.add("reply", reply_text(adapt_reply(*parse_reply(info.default_reply, nullptr),
                                              info.default_action)));
    items.add("ASA", roff_escape(info.asa));
    out += ".TP\n" + bold(info.name) + "\n" + line(info.help) + items.roff();
  }
  return out;
}

std::string checks_roff() {
  const Config& c = *default_config();
  std::string out;
  for (const auto& info : check_table()) {
    const CheckConfig& k = c.defaults.checks[static_cast<std::size_t>(info.id)];
    Items items;
    if (info.id == CheckId::kSelfBanner) {
      items.add("action", bold(to_string(k.action)) + roff_escape(" (log or off only)"));
    } else {
      items.add("action", bold(to_string(k.action)));
      items.add("reply", reply_text(k.reply));
    }
    if (info.id == CheckId::kHeloMatchesPtr)
      items.add("mode", bold(k.helo_ptr_mode == HeloPtrMode::kExact ? "exact" : "domain") +
                            roff_escape(" (exact | domain)"));
    out += ".TP\n" + bold(info.name) + "\n" + line(info.help) + items.roff();
  }
  return out;
}

// Every action the code knows, but continue (which is no decision).
std::vector<Action> code_actions() {
  std::vector<Action> out;
  for (int i = 0; i < 256; ++i) {
    const auto a = static_cast<Action>(i);
    if (a != Action::kContinue && to_string(a) != "?") out.push_back(a);
  }
  return out;
}

bool check_actions(std::string* error) {
  for (Action a : code_actions()) {
    auto doc = std::find_if(kActionDocs.begin(), kActionDocs.end(),
                            [&](const ActionDoc& d) { return d.action == a; });
    if (doc == kActionDocs.end()) {
      *error = fmt::format("action {} is not described in tools/man_reference.cc", to_string(a));
      return false;
    }
    if (parse_action(to_string(a)) != a) {
      *error = fmt::format("action {} cannot be configured by its name", to_string(a));
      return false;
    }
  }
  return true;
}

std::string actions_roff() {
  std::string out;
  for (const auto& d : kActionDocs) {
    std::string reply;
    switch (reply_class_for(d.action)) {
      case '5':
        reply = " Needs a 5xx reply.";
        break;
      case '4':
        reply = d.action == Action::kDisconnect ? " Needs a 421 reply." : " Needs a 4xx reply.";
        break;
      default:
        break;
    }
    out += ".TP\n" + bold(to_string(d.action)) + "\n" + line(std::string(d.text) + reply);
  }
  return out;
}

// The keys of a verdict line with every field filled, in both formats.
std::pair<std::set<std::string>, std::set<std::string>> logged_keys() {
  Verdict v;
  v.action = Action::kLog;
  v.would = Action::kReject;
  v.rule = "header_line_length";
  v.actual = "1204";
  v.limit = "998";
  v.where = "rcpt";
  v.detail = "detail";
  v.recipient = "b@example.org";
  v.reply = *parse_reply("550 5.6.0 Header line too long", nullptr);
  v.profile = "default";
  const LogContext ctx{"4F2A1B3C7D",     "mx.example.org", "203.0.113.5",
                       "mx.example.org", "a@example.org",  true};
  std::set<std::string> text, json;
  const std::string t = format_verdict_text(&ctx, v);
  // "QUEUEID: key=value key="quoted value" key=<...>": the keys follow spaces.
  for (std::size_t i = t.find(": ") + 1; i != std::string::npos && i < t.size();
       i = t.find(' ', i + 1)) {
    const std::size_t eq = t.find('=', i);
    if (eq == std::string::npos) break;
    const std::string key = t.substr(i + 1, eq - i - 1);
    if (!key.empty() && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos)
      text.insert(key);
  }
  const auto j = nlohmann::json::parse(format_verdict_json(&ctx, v));
  for (auto it = j.begin(); it != j.end(); ++it) json.insert(it.key());
  return {text, json};
}

bool check_log_fields(std::string* error) {
  auto [text, json] = logged_keys();
  std::set<std::string> doc_text, doc_json;
  for (const auto& f : log_field_docs()) {
    if (!f.text_key.empty()) doc_text.insert(std::string(f.text_key));
    std::string_view keys = f.json_keys;
    for (std::size_t sp; !keys.empty();
         keys.remove_prefix(sp == keys.npos ? keys.size() : sp + 1)) {
      sp = keys.find(' ');
      doc_json.insert(std::string(keys.substr(0, sp)));
    }
  }
  auto differ = [&](const std::set<std::string>& code, const std::set<std::string>& doc,
                    std::string_view format) {
    for (const auto& k : code)
      if (!doc.count(k)) {
        *error = fmt::format("the {} log writes {}, which tools/man_reference.cc does not describe",
                             format, k);
        return true;
      }
    for (const auto& k : doc)
      if (!code.count(k)) {
        *error = fmt::format(
            "tools/man_reference.cc describes {} field {}, which the log does "
            "not write",
            format, k);
        return true;
      }
    return false;
  };
  return !differ(text, doc_text, "text") && !differ(json, doc_json, "JSON");
}

std::string log_fields_roff() {
  std::string out;
  for (const auto& f : log_field_docs()) {
    std::string json;
    std::string_view keys = f.json_keys;
    for (std::size_t sp; !keys.empty();
         keys.remove_prefix(sp == keys.npos ? keys.size() : sp + 1)) {
      sp = keys.find(' ');
      json += (json.empty() ? "" : ", ") + bold(keys.substr(0, sp));
    }
    out += ".TP\n" + bold(f.text_form) + " (JSON " + json + ")\n" + line(f.text);
  }
  return out;
}

}  // namespace

std::string roff_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c == '"') {
      out += "\\(dq";
    } else if (c == '\'') {
      out += "\\(aq";
    } else if (c == '`') {
      out += "\\(ga";
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
    } else if (c >= 0x80) {
      // UTF-8 to \[uXXXX]; an invalid sequence shows as U+FFFD.
      const std::size_t n = (c & 0xe0) == 0xc0   ? 2
                            : (c & 0xf0) == 0xe0 ? 3
                            : (c & 0xf8) == 0xf0 ? 4
                                                 : 1;
      std::uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
      bool ok = n > 1 && i + n <= text.size();
      for (std::size_t k = 1; ok && k < n; ++k) {
        const auto cc = static_cast<unsigned char>(text[i + k]);
        ok = (cc & 0xc0) == 0x80;
        cp = (cp << 6) | (cc & 0x3f);
      }
      if (!ok) {
        out += "\\[uFFFD]";
        continue;
      }
      out += fmt::format("\\[u{:04X}]", cp);
      i += n - 1;
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\[uFFFD]";
    } else {
      out += static_cast<char>(c);
    }
  }
  if (!out.empty() && out.front() == '.') out.insert(0, "\\&");
  return out;
}

std::optional<std::string> expand_man_template(std::string_view tmpl, std::string* error) {
  if (!check_actions(error) || !check_log_fields(error)) return std::nullopt;
  struct Marker {
    std::string_view name;
    std::string (*make)();
    bool used = false;
  };
  std::array<Marker, 5> markers{{
      {"@SETTINGS@", settings_roff},
      {"@RULES@", rules_roff},
      {"@CHECKS@", checks_roff},
      {"@ACTIONS@", actions_roff},
      {"@LOG_FIELDS@", log_fields_roff},
  }};
  std::string out;
  std::size_t line_no = 0;
  while (!tmpl.empty()) {
    ++line_no;
    const std::size_t nl = tmpl.find('\n');
    std::string_view l = tmpl.substr(0, nl);
    tmpl.remove_prefix(nl == std::string_view::npos ? tmpl.size() : nl + 1);
    // A marker is a comment line holding only @NAME@.
    std::string_view rest = l.substr(0, 3) == ".\\\"" ? l.substr(3) : std::string_view();
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    if (rest.size() < 3 || rest.front() != '@' || rest.back() != '@') {
      out += l;
      out += '\n';
      continue;
    }
    auto m = std::find_if(markers.begin(), markers.end(),
                          [&](const Marker& k) { return k.name == rest; });
    if (m == markers.end() || m->used) {
      *error = fmt::format("line {}: {} marker {}", line_no,
                           m == markers.end() ? "unknown" : "repeated", rest);
      return std::nullopt;
    }
    m->used = true;
    out += m->make();
  }
  return out;
}

}  // namespace esmtp
