#include "common/rules/verdict.h"

#include <array>
#include <utility>

namespace esmtp {
namespace {

constexpr std::array<std::pair<Action, std::string_view>, 9> kActionNames{{
    {Action::kContinue, "continue"},
    {Action::kOff, "off"},
    {Action::kLog, "log"},
    {Action::kTag, "tag"},
    {Action::kQuarantine, "quarantine"},
    {Action::kDiscard, "discard"},
    {Action::kTempfail, "tempfail"},
    {Action::kReject, "reject"},
    {Action::kDisconnect, "disconnect"},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::string_view to_string(Action a) {
  for (const auto& [action, name] : kActionNames)
    if (action == a) return name;
  return "?";
}

std::optional<Action> parse_action(std::string_view s) {
  for (const auto& [action, name] : kActionNames)
    if (name == s && action != Action::kContinue) return action;
  return std::nullopt;
}

std::string_view to_string(Mode m) {
  return m == Mode::kMonitor ? "monitor" : "enforce";
}

std::optional<Mode> parse_mode(std::string_view s) {
  if (s == "enforce") return Mode::kEnforce;
  if (s == "monitor") return Mode::kMonitor;
  return std::nullopt;
}

std::string Reply::str() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) {
    out += ' ';
    out += enhanced;
  }
  out += ' ';
  out += text;
  return out;
}

std::optional<Reply> parse_reply(std::string_view s, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<Reply> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (s.size() < 5 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || s[3] != ' ')
    return fail("reply must look like \"550 5.7.1 text\"");
  if (s[0] != '2' && s[0] != '4' && s[0] != '5') return fail("reply code must be 2xx, 4xx or 5xx");
  Reply r;
  r.code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  std::string_view rest = s.substr(4);
  // An enhanced status code (RFC 3463): class "." subject "." detail.
  std::size_t sp = rest.find(' ');
  std::string_view first = rest.substr(0, sp);
  int dots = 0;
  bool shaped = !first.empty() && is_digit(first[0]);
  for (char c : first) {
    if (c == '.')
      ++dots;
    else if (!is_digit(c))
      shaped = false;
  }
  if (shaped && dots == 2) {
    if (first[0] != s[0]) return fail("enhanced status code class must match the reply code");
    if (sp == std::string_view::npos) return fail("reply needs text after the status code");
    r.enhanced = std::string(first);
    rest = rest.substr(sp + 1);
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return fail("reply needs text");
  for (char c : rest)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return fail("reply text must not contain control characters");
  r.text = std::string(rest);
  return r;
}

char reply_class_for(Action a) {
  switch (a) {
    case Action::kReject:
      return '5';
    case Action::kTempfail:
    case Action::kDisconnect:
      return '4';
    default:
      return 0;
  }
}

Reply adapt_reply(const Reply& base, Action a) {
  Reply r = base;
  const char cls = reply_class_for(a);
  if (a == Action::kDisconnect) {
    r.code = 421;
  } else if (cls == '4' && r.code / 100 != 4) {
    r.code = 451;
  } else if (cls == '5' && r.code / 100 != 5) {
    r.code = 550;
  }
  if (cls && !r.enhanced.empty()) r.enhanced[0] = cls;
  return r;
}

}  // namespace esmtp
