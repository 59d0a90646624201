// The model check_wiring() works on: smtpd services and what they use.
#include <algorithm>
#include <set>

#include "common/util/text.h"
#include "tools/selfcheck/wiring_model.h"

namespace esmtp::selfcheck::wiring {
namespace {

std::string get_main(const WiringContext& ctx, std::string_view name) {
  auto it = ctx.in.main.find(name);
  return it == ctx.in.main.end() ? std::string() : it->second;
}

Smtpd smtpd(WiringContext& ctx, const MasterService& m) {
  Smtpd s;
  s.master = &m;
  s.main = &ctx.in.main;
  if (auto it = ctx.in.overrides.find(m.id()); it != ctx.in.overrides.end())
    s.overrides = &it->second;
  s.chrooted = runs_chrooted(m, get_main(ctx, "mail_version"));
  s.queue = s.get("queue_directory");
  if (s.queue.empty()) s.queue = "/var/spool/postfix";
  if (runs_as_root(m)) {
    s.user = "root";
    s.as = RunAs{"root", 0, 0};
  } else {
    s.user = s.get("mail_owner");
    if (s.user.empty()) s.user = "postfix";
    s.as = ctx.probe.user(s.user);
    s.user_known = s.as.has_value();
  }
  return s;
}

const OurSocket* match(const WiringContext& ctx, const Endpoint& e, const std::string& host_path,
                       Protocol p) {
  for (const auto& o : ctx.ours) {
    if (o.protocol != p) continue;
    if (e.kind == Endpoint::Kind::kUnix && !o.path.empty() && o.path == host_path) return &o;
    if (e.kind == Endpoint::Kind::kInet && o.port && o.port == e.port && same_host(o.host, e.host))
      return &o;
  }
  return nullptr;
}

void use(WiringContext& ctx, Protocol p, const SocketSpec& spec, std::string param,
         const Smtpd& s) {
  Use u{p, spec, std::move(param), &s, {}, false, nullptr};
  if (spec.endpoint.kind == Endpoint::Kind::kUnix)
    u.host_path = socket_host_path(spec.endpoint.path, s.queue, s.chrooted);
  Protocol other = p == Protocol::kMilter ? Protocol::kPolicy : Protocol::kMilter;
  u.ours = match(ctx, spec.endpoint, u.host_path, p) != nullptr;
  if (!u.ours) u.other_daemon = match(ctx, spec.endpoint, u.host_path, other);
  if (!u.ours && !u.other_daemon && spec.endpoint.text.find("esmtp-inspect") != std::string::npos)
    u.ours = true;
  ctx.uses.push_back(std::move(u));
}

void collect(WiringContext& ctx, const Smtpd& s, bool& milter_maps_reported) {
  SmtpdService view;
  view.id = s.id();
  view.chrooted = s.chrooted;
  view.queue_directory = s.queue;
  view.user = s.user;
  for (const auto& m : parse_milters(s.get("smtpd_milters"))) {
    view.milters.push_back(m.text);
    use(ctx, Protocol::kMilter, m, "smtpd_milters", s);
  }
  auto policies = [&](const std::vector<Restriction>& list, const std::string& param) {
    for (const auto& r : list) {
      if (!r.policy) continue;
      view.policies.push_back(r.policy->text);
      use(ctx, Protocol::kPolicy, *r.policy, param, s);
    }
  };
  for (auto list : kRestrictionLists) policies(parse_restrictions(s.get(list)), std::string(list));
  for (const auto& [name, list] : restriction_classes(s)) policies(list, name);
  ctx.report.services.push_back(std::move(view));
  if (!s.get("smtpd_milter_maps").empty() && !milter_maps_reported) {
    milter_maps_reported = true;
    ctx.add(Severity::kInfo, "smtpd_milter_maps",
            "smtpd_milter_maps = " + s.get("smtpd_milter_maps") +
                ": clients it lists get other milters (or none); only smtpd_milters was checked",
            "A lookup result replaces smtpd_milters for that client.");
  }
}

}  // namespace

void find_smtpds(WiringContext& ctx) {
  for (const auto& m : ctx.in.services)
    // The command is relative to daemon_directory, or a path to it.
    if (m.command == "smtpd" || m.command.ends_with("/smtpd")) ctx.smtpds.push_back(smtpd(ctx, m));
}

void collect_uses(WiringContext& ctx) {
  bool milter_maps_reported = false;
  for (const auto& s : ctx.smtpds) collect(ctx, s, milter_maps_reported);
}

void check_users(WiringContext& ctx) {
  std::set<std::string> reported;
  for (const auto& s : ctx.smtpds) {
    if (s.user_known || !reported.insert(s.user).second) continue;
    ctx.add(Severity::kProblem, s.user,
            "mail_owner " + s.user + " (the user smtpd runs as) is not a user on this system",
            "Postfix refuses to start without it; the sockets could not be checked as that user.",
            "postconf -e mail_owner=postfix (the user the Postfix package created)");
  }
  if (!ctx.probe.privileged() && std::any_of(ctx.uses.begin(), ctx.uses.end(), [](const Use& u) {
        return u.spec.endpoint.kind == Endpoint::Kind::kUnix;
      }))
    ctx.add(Severity::kInfo, "selfcheck",
            "not running as root: sockets were opened as this user, without smtpd's chroot and "
            "user, so what the postfix user can reach was not checked",
            "smtpd runs as mail_owner with only its primary group, possibly chrooted; checking "
            "that needs root.",
            "run esmtp-inspect selfcheck as root");
}

}  // namespace esmtp::selfcheck::wiring
