#include "tools/selfcheck/wiring_model.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/util/text.h"

namespace esmtp::selfcheck::wiring {

const char* protocol_name(Protocol p) {
  return p == Protocol::kMilter ? "milter" : "policy service";
}

const char* daemon_name(Protocol p) {
  return p == Protocol::kMilter ? "esmtp-inspect-milter" : "esmtp-inspect-policyd";
}

const char* default_name(Protocol p) {
  return p == Protocol::kMilter ? "esmtp-inspect/milter.sock" : "esmtp-inspect/policy.sock";
}

std::vector<OurSocket> our_sockets(const OurSockets& o) {
  std::vector<OurSocket> out;
  auto add = [&](Protocol protocol, const std::string& text, EndpointSyntax syntax) {
    const Endpoint e = parse_endpoint(text, syntax);
    if (!e.valid()) return;
    out.push_back({protocol, e.local() ? tidy_path(e.path) : std::string(),
                   e.local() ? std::string() : e.host, e.port, text});
  };
  for (const auto& spec : o.milter) add(Protocol::kMilter, spec, EndpointSyntax::kMilterSocket);
  for (const auto& spec : o.policy) add(Protocol::kPolicy, spec, EndpointSyntax::kPolicyListen);
  return out;
}

bool same_host(std::string_view ours, std::string_view theirs) {
  auto norm = [](std::string_view h) {
    std::string l = to_lower(h);
    if (l == "localhost") return std::string("127.0.0.1");
    return l;
  };
  std::string a = norm(ours), b = norm(theirs);
  return a.empty() || a == b || a == "0.0.0.0" || a == "::" || a == "*";
}

// ---------------------------------------------------------------- Smtpd

std::string Smtpd::get(std::string_view name) const {
  if (overrides)
    if (auto it = overrides->find(name); it != overrides->end()) return it->second;
  if (auto it = main->find(name); it != main->end()) return it->second;
  return {};
}

std::string Smtpd::setter(std::string_view name, std::string_view value) const {
  static const std::set<std::string, std::less<>> kScalars = {
      "milter_default_action", "milter_protocol", "smtpd_relay_before_recipient_restrictions",
      "mail_owner"};
  bool simple =
      kScalars.count(name) && !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
  if (overridden(name)) {
    std::string a = id() + "/" + std::string(name) + "=" + std::string(value);
    return "postconf -P " + (simple ? a : shell_quote(a));
  }
  if (simple) return "postconf -e " + std::string(name) + "=" + std::string(value);
  return "postconf -e " + shell_quote(std::string(name) + " = " + std::string(value));
}

std::string Smtpd::origin(std::string_view name) const {
  return overridden(name) ? "-o " + std::string(name) + " of " + id() : "main.cf";
}

std::map<std::string, std::vector<Restriction>> restriction_classes(const Smtpd& s) {
  std::map<std::string, std::vector<Restriction>> out;
  for (const auto& name : split_list(s.get("smtpd_restriction_classes")))
    out[name] = parse_restrictions(s.get(name));
  return out;
}

// ---------------------------------------------------------------- Use

std::string refusal(const Use& u) {
  const Smtpd& s = *u.smtpd;
  if (u.protocol == Protocol::kMilter) {
    std::string attr = u.spec.attribute("default_action");
    std::string action = to_lower(attr.empty() ? s.get("milter_default_action") : attr);
    std::string where = attr.empty() ? "milter_default_action = " + action
                                     : "default_action=" + action + " for this milter";
    if (action == "accept") return "mail is accepted without this milter (" + where + ")";
    if (action == "reject")
      return "every message gets \"550 5.5.0 Service unavailable\" (" + where + ")";
    if (action == "quarantine") return "every message is put on hold (" + where + ")";
    if (action == "tempfail" || action.empty())
      return "every message gets \"451 4.7.1 Service unavailable - try again later\" (" +
             (action.empty() ? std::string("milter_default_action = tempfail") : where) + ")";
    return "every message gets \"451 4.3.5 Server configuration problem - try again later\" "
           "(" +
           where + ", which Postfix does not know)";
  }
  std::string attr = u.spec.attribute("default_action");
  std::string action(trim(attr.empty() ? s.get("smtpd_policy_service_default_action") : attr));
  if (action.empty()) action = "451 4.3.5 Server configuration problem";
  std::string where = attr.empty() ? "smtpd_policy_service_default_action"
                                   : "default_action for this policy service";
  if (!action.empty() && std::isdigit(static_cast<unsigned char>(action.front())))
    return "every message gets \"" + action + "\" (" + where + ")";
  return "Postfix goes on as if it had answered " + action + " (" + where +
         "): mail is not inspected";
}

std::string replaced_list(const Use& u, const std::string& new_text) {
  const Smtpd& s = *u.smtpd;
  if (u.protocol == Protocol::kMilter) {
    std::vector<std::string> parts;
    for (const auto& m : parse_milters(s.get(u.param)))
      parts.push_back(m.text == u.spec.text ? new_text : m.text);
    return join(parts);
  }
  auto list = parse_restrictions(s.get(u.param));
  for (auto& r : list)
    if (r.policy && r.policy->text == u.spec.text) r.argument = new_text;
  return join_restrictions(list);
}

// ---------------------------------------------------------------- WiringContext

void WiringContext::add(Severity s, std::string subject, std::string message, std::string meaning,
                        std::string fix) {
  report.findings.push_back(
      {s, "wiring", std::move(subject), std::move(message), std::move(meaning), std::move(fix)});
}

std::string WiringContext::config_file() const {
  return in.ours.config_file.empty() ? std::string("esmtp-inspect.yaml") : in.ours.config_file;
}

}  // namespace esmtp::selfcheck::wiring
