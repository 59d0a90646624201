// ---- check_policy_service after reject_unauth_destination, and the
// suggestion when no smtpd service uses esmtp-inspect at all.
#include <algorithm>
#include <optional>
#include <set>

#include "common/util/text.h"
#include "tools/selfcheck/wiring_model.h"

namespace esmtp::selfcheck::wiring {
namespace {

const std::string kRcpt = "smtpd_recipient_restrictions";
const std::string kRelay = "smtpd_relay_restrictions";

// The restriction lists one smtpd service evaluates at RCPT time, and what
// is in them.
struct RcptLists {
  const WiringContext& ctx;
  const Smtpd& s;
  std::map<std::string, std::vector<Restriction>> classes;
  std::map<std::string, std::vector<Restriction>> lists;
  std::vector<std::string> order;  // the lists Postfix evaluates for RCPT, in its order
  bool relay_first = false;        // smtpd_relay_before_recipient_restrictions = yes
  bool has_rbr_param = false;      // this Postfix has that parameter

  RcptLists(const WiringContext& c, const Smtpd& smtpd) : ctx(c), s(smtpd) {
    const bool delay = to_lower(s.get("smtpd_delay_reject")) != "no";
    const std::string rbr = to_lower(s.get("smtpd_relay_before_recipient_restrictions"));
    relay_first = rbr == "yes";
    has_rbr_param = !rbr.empty();
    classes = restriction_classes(s);
    if (delay)
      order = {"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions"};
    if (relay_first) {
      order.push_back(kRelay);
      order.push_back(kRcpt);
    } else {
      order.push_back(kRcpt);
      order.push_back(kRelay);
    }
    for (const auto& l : order) lists[l] = parse_restrictions(s.get(l));
  }

  bool is_ours(const SocketSpec& spec) const {
    for (const auto& u : ctx.uses)
      if (u.smtpd == &s && u.protocol == Protocol::kPolicy && u.spec.text == spec.text)
        return u.ours;
    return false;
  }

  // Is r (or, for a restriction class, one of its elements) our policy check
  // (policy) or reject_unauth_destination (!policy)?
  bool contains(const Restriction& r, bool policy) const {
    auto one = [&](const Restriction& x) {
      return policy ? x.policy && is_ours(*x.policy) : x.unauth_destination();
    };
    if (one(r)) return true;
    if (auto it = classes.find(r.name); it != classes.end())
      return std::any_of(it->second.begin(), it->second.end(), one);
    return false;
  }

  // Where the list `name` has the relay check.
  std::optional<std::size_t> unauth_at(const std::string& name) {
    const auto& v = lists[name];
    for (std::size_t k = 0; k < v.size(); ++k)
      if (contains(v[k], false)) return k;
    return std::nullopt;
  }
};

// Client, HELO or sender restrictions run at RCPT before either list: move
// the check into smtpd_recipient_restrictions.
void move_to_recipient_restrictions(RcptLists& rl, const std::string& l, std::size_t i,
                                    std::vector<std::string>& fixes) {
  const Smtpd& s = rl.s;
  const auto& list = rl.lists[l];
  const Restriction item = list[i];
  auto from = list;
  from.erase(from.begin() + static_cast<std::ptrdiff_t>(i));
  auto to = rl.lists[kRcpt];
  bool already = std::any_of(to.begin(), to.end(),
                             [&](const Restriction& r) { return r.text() == item.text(); });
  std::string line = s.setter(l, join_restrictions(from));
  if (!already) {
    auto k = rl.unauth_at(kRcpt);
    std::size_t at = k ? *k + 1 : to.size();
    if (!k && !to.empty()) {
      static const std::set<std::string> kFinal = {"permit", "reject", "defer", "defer_if_permit",
                                                   "defer_if_reject"};
      if (kFinal.count(to_lower(to.back().name))) at = to.size() - 1;
    }
    to.insert(to.begin() + static_cast<std::ptrdiff_t>(at), item);
    std::string second = s.setter(kRcpt, join_restrictions(to));
    if (line.starts_with("postconf -e ") && second.starts_with("postconf -e "))
      line += " " + second.substr(12);
    else
      fixes.push_back(second);
  }
  fixes.insert(fixes.begin(), line);
  if (!rl.relay_first && !rl.unauth_at(kRcpt) && rl.unauth_at(kRelay) && rl.has_rbr_param)
    fixes.push_back(s.setter("smtpd_relay_before_recipient_restrictions", "yes"));
}

// The postconf lines that put our policy check, element i of list l, after
// the relay check.
std::string placement_fix(RcptLists& rl, const std::string& l, std::size_t i) {
  const Smtpd& s = rl.s;
  const auto& list = rl.lists[l];
  const Restriction item = list[i];
  std::vector<std::string> fixes;
  // The same list has the relay check later: move the policy check after it.
  std::size_t j = list.size();
  for (std::size_t k = i + 1; k < list.size(); ++k)
    if (rl.contains(list[k], false)) {
      j = k;
      break;
    }
  if (j < list.size()) {
    auto moved = list;
    moved.erase(moved.begin() + static_cast<std::ptrdiff_t>(i));
    moved.insert(moved.begin() + static_cast<std::ptrdiff_t>(j), item);
    fixes.push_back(s.setter(l, join_restrictions(moved)));
  } else if (l == kRcpt && !rl.relay_first && rl.unauth_at(kRelay)) {
    // smtpd_relay_restrictions has the check, but Postfix runs it after.
    if (rl.has_rbr_param) {
      fixes.push_back(s.setter("smtpd_relay_before_recipient_restrictions", "yes"));
    } else {
      auto moved = list;
      const auto& relay = rl.lists[kRelay];
      auto k = *rl.unauth_at(kRelay);
      moved.insert(moved.begin() + static_cast<std::ptrdiff_t>(i), relay.begin(),
                   relay.begin() + static_cast<std::ptrdiff_t>(k + 1));
      fixes.push_back(s.setter(l, join_restrictions(moved)));
    }
  } else if (l != kRcpt && l != kRelay) {
    move_to_recipient_restrictions(rl, l, i, fixes);
  } else {
    // No relay check before it at all: put one in front of it.
    auto moved = list;
    Restriction r;
    r.name = "reject_unauth_destination";
    moved.insert(moved.begin() + static_cast<std::ptrdiff_t>(i), r);
    fixes.push_back(s.setter(l, join_restrictions(moved)));
  }
  return join(fixes, "\n");
}

void misplaced(WiringContext& ctx, RcptLists& rl, const std::string& l, std::size_t i,
               std::set<std::string>& reported) {
  const Smtpd& s = rl.s;
  const Restriction item = rl.lists[l][i];
  std::string fix = placement_fix(rl, l, i);
  if (!reported.insert(fix).second) {
    // Same lists in another service: name it in the existing finding.
    for (auto& f : ctx.report.findings)
      if (f.fix == fix && f.subject.find(s.id()) == std::string::npos) f.subject += ", " + s.id();
    return;
  }
  std::string what =
      item.policy ? item.text() : item.name + " (a restriction class with check_policy_service)";
  ctx.add(Severity::kWarning, s.id(),
          what + " in " + l + " (" + s.origin(l) +
              ") is evaluated before reject_unauth_destination at RCPT time",
          "At RCPT time Postfix asks esmtp-inspect-policyd before it has checked that this server "
          "takes mail for the recipient: relay attempts get identity lookups, log lines and "
          "counted verdicts, and a rejection by esmtp-inspect hides that Postfix would have "
          "refused the relay anyway. After reject_unauth_destination (or with it in "
          "smtpd_relay_restrictions, which Postfix 3.6 and later evaluate first) it sees only "
          "mail this server would accept.",
          fix);
}

void check_placement(WiringContext& ctx, const Smtpd& s, std::set<std::string>& reported) {
  RcptLists rl(ctx, s);
  bool seen_unauth = false;
  for (const auto& l : rl.order) {
    const auto& list = rl.lists[l];
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (rl.contains(list[i], false)) seen_unauth = true;
      if (seen_unauth || !rl.contains(list[i], true)) continue;
      misplaced(ctx, rl, l, i, reported);
    }
  }
}

}  // namespace

void check_policy_placement(WiringContext& ctx) {
  std::set<std::string> reported;
  for (const auto& s : ctx.smtpds) check_placement(ctx, s, reported);
}

// ---- nothing at all

void check_nothing_configured(WiringContext& ctx) {
  if (std::any_of(ctx.uses.begin(), ctx.uses.end(), [](const Use& u) { return u.ours; })) return;
  const Smtpd& s = ctx.smtpds.front();
  std::string milters = s.get("smtpd_milters");
  auto rcpt = parse_restrictions(s.get("smtpd_recipient_restrictions"));
  Restriction policy;
  policy.name = "check_policy_service";
  policy.argument = std::string("unix:") + default_name(Protocol::kPolicy);
  std::size_t at = rcpt.size();
  bool after_relay_check = false;
  for (std::size_t k = 0; k < rcpt.size(); ++k)
    if (rcpt[k].unauth_destination()) {
      at = k + 1;
      after_relay_check = true;
    }
  auto relay = parse_restrictions(s.get("smtpd_relay_restrictions"));
  if (to_lower(s.get("smtpd_relay_before_recipient_restrictions")) == "yes" &&
      std::any_of(relay.begin(), relay.end(),
                  [](const Restriction& r) { return r.unauth_destination(); }))
    after_relay_check = true;
  rcpt.insert(rcpt.begin() + static_cast<std::ptrdiff_t>(at), policy);
  if (!after_relay_check) {
    Restriction unauth;
    unauth.name = "reject_unauth_destination";
    rcpt.insert(rcpt.begin() + static_cast<std::ptrdiff_t>(at), unauth);
  }
  ctx.add(
      Severity::kInfo, "esmtp-inspect",
      "no smtpd service uses esmtp-inspect: no smtpd_milters entry is esmtp-inspect-milter's "
      "socket and no check_policy_service is esmtp-inspect-policyd's",
      "Postfix does not consult esmtp-inspect; nothing is inspected. (Sockets are recognised "
      "by esmtp-inspect.yaml's milter.socket and policy.listen, or by \"esmtp-inspect\" in "
      "their name.)",
      "milter: " +
          s.setter("smtpd_milters", (milters.empty() ? "" : milters + ", ") +
                                        "unix:" + default_name(Protocol::kMilter)) +
          "\npolicy service: " + s.setter("smtpd_recipient_restrictions", join_restrictions(rcpt)));
}

}  // namespace esmtp::selfcheck::wiring
