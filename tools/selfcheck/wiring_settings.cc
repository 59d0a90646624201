// ---- milter_default_action, milter_protocol: for each use of our milter.
#include <algorithm>
#include <cctype>

#include "common/util/text.h"
#include "tools/selfcheck/wiring_model.h"

namespace esmtp::selfcheck::wiring {
namespace {

// Findings shared by the services whose values (and fix) are the same: one
// finding per key, its subject naming each service.
class SharedFindings {
 public:
  explicit SharedFindings(WiringContext& ctx) : ctx_(ctx) {}

  void report(const Use& u, Severity sev, const std::string& key, std::string message,
              std::string meaning, std::string fix) {
    for (auto& s : seen_)
      if (s.key == key) {
        if (std::find(s.ids.begin(), s.ids.end(), u.smtpd->id()) == s.ids.end()) {
          s.ids.push_back(u.smtpd->id());
          ctx_.report.findings[s.finding].subject = join(s.ids);
        }
        return;
      }
    seen_.push_back({key, {u.smtpd->id()}, ctx_.report.findings.size()});
    ctx_.add(sev, u.smtpd->id(), std::move(message), std::move(meaning), std::move(fix));
  }

 private:
  struct Seen {
    std::string key;
    std::vector<std::string> ids;
    std::size_t finding;
  };
  WiringContext& ctx_;
  std::vector<Seen> seen_;
};

void check_default_action(SharedFindings& findings, const Use& u) {
  const Smtpd& s = *u.smtpd;
  std::string attr = u.spec.attribute("default_action");
  std::string action = to_lower(trim(attr.empty() ? s.get("milter_default_action") : attr));
  std::string source =
      attr.empty()
          ? "milter_default_action = " + action + " (" + s.origin("milter_default_action") + ")"
          : "default_action=" + action + " in smtpd_milters " + u.spec.text;
  std::string fix =
      attr.empty() ? s.setter("milter_default_action", "tempfail")
                   : s.setter("smtpd_milters",
                              replaced_list(u, u.spec.rewritten(u.spec.endpoint.text,
                                                                "default_action", "tempfail")));
  std::string key = "action|" + source + "|" + fix;
  if (action == "tempfail" || action.empty()) {
    findings.report(u, Severity::kOk, key,
                    "milter_default_action is tempfail for " + u.spec.endpoint.text +
                        ": while the milter is down, mail waits (451) instead of passing "
                        "uninspected",
                    {}, {});
  } else if (action == "accept") {
    findings.report(u, Severity::kWarning, key,
                    source +
                        ": while esmtp-inspect-milter is down or slow, mail is accepted "
                        "uninspected",
                    "Every rule is off whenever the milter does not answer, and nothing tells "
                    "the sender or the log reader which mail went through uninspected. tempfail "
                    "makes senders retry (451 4.7.1) until the milter is back; no mail is lost.",
                    fix);
  } else if (action == "reject" || action == "quarantine") {
    findings.report(u, Severity::kProblem, key,
                    source + ": while esmtp-inspect-milter is down or slow, " +
                        (action == "reject" ? "every message is rejected permanently (5xx)"
                                            : "every message is put on hold"),
                    action == "reject"
                        ? "A milter restart bounces all mail arriving meanwhile: senders do not "
                          "retry a 5xx. tempfail makes them retry (451 4.7.1) instead."
                        : "Every message arriving while the milter is down waits in the hold queue "
                          "until someone releases it (postsuper -H). tempfail makes senders retry "
                          "instead.",
                    fix);
  } else {
    findings.report(u, Severity::kWarning, key,
                    source + ": not a value Postfix knows (accept, reject, tempfail, quarantine)",
                    "Postfix logs a configuration error and treats the milter as failed.", fix);
  }
}

void check_protocol(SharedFindings& findings, const Use& u) {
  const Smtpd& s = *u.smtpd;
  std::string pattr = u.spec.attribute("protocol");
  std::string proto = std::string(trim(pattr.empty() ? s.get("milter_protocol") : pattr));
  // "6", or a version among extension names ("6 no_header_reply").
  int version = 0;
  for (const auto& word : split_list(proto))
    if (word.size() <= 2 &&
        std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit(c); }))
      version = std::stoi(word);
  std::string psource =
      pattr.empty() ? "milter_protocol = " + proto + " (" + s.origin("milter_protocol") + ")"
                    : "protocol=" + proto + " in smtpd_milters " + u.spec.text;
  std::string pfix =
      pattr.empty()
          ? s.setter("milter_protocol", "6")
          : s.setter("smtpd_milters",
                     replaced_list(u, u.spec.rewritten(u.spec.endpoint.text, "protocol", "6")));
  std::string key = "protocol|" + psource + "|" + pfix;
  if (proto.empty() || version >= 6) {
    findings.report(u, Severity::kOk, key,
                    "milter_protocol is " + (proto.empty() ? std::string("6") : proto) + " for " +
                        u.spec.endpoint.text,
                    {}, {});
  } else {
    findings.report(
        u, Severity::kWarning, key,
        psource + ": older than 6, so Postfix does not offer SMFIP_RCPT_REJ",
        "With protocol 6 the milter also sees the recipients Postfix rejected; "
        "without it invalid_recipients and harvest cannot count them (directory harvesting goes "
        "unseen).",
        pfix);
  }
}

}  // namespace

void check_milter_settings(WiringContext& ctx) {
  SharedFindings findings(ctx);
  for (const auto& u : ctx.uses) {
    if (u.protocol != Protocol::kMilter || !u.ours) continue;
    check_default_action(findings, u);
    check_protocol(findings, u);
  }
}

}  // namespace esmtp::selfcheck::wiring
