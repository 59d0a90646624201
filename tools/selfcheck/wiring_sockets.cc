// ---- sockets: each milter and policy socket as smtpd opens it.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/util/net.h"
#include "common/util/text.h"
#include "tools/selfcheck/socket_probe.h"
#include "tools/selfcheck/wiring_model.h"
#include "tools/selfcheck/wiring_socket_fixes.h"

namespace esmtp::selfcheck::wiring {
namespace {

// One check per socket as smtpd opens it: services that reach the same
// path as the same user, through the same list, share the finding.
std::vector<UseGroup> groups_of(const std::vector<Use>& uses) {
  std::vector<UseGroup> groups;
  for (const auto& u : uses) {
    bool placed = false;
    for (auto& g : groups) {
      const Use& f = *g.front();
      if (f.protocol == u.protocol && f.spec.text == u.spec.text && f.param == u.param &&
          f.host_path == u.host_path && f.smtpd->user == u.smtpd->user) {
        g.push_back(&u);
        placed = true;
        break;
      }
    }
    if (!placed) groups.push_back({&u});
  }
  return groups;
}

// "smtpd_milters unix:NAME (smtp/inet chrooted)", the start of each message.
std::string heading(const UseGroup& group) {
  const Use& u = *group.front();
  const bool is_class = std::find(std::begin(kRestrictionLists), std::end(kRestrictionLists),
                                  u.param) == std::end(kRestrictionLists) &&
                        u.param != "smtpd_milters";
  return (is_class ? "restriction class " : "") + u.param + " " +
         (u.protocol == Protocol::kPolicy ? "check_policy_service " : "") + u.spec.endpoint.text +
         " (" + services_text(group) + ")";
}

void report_invalid(WiringContext& ctx, const UseGroup& group, const std::string& head) {
  const Use& u = *group.front();
  const Endpoint& e = u.spec.endpoint;
  std::string fix = "write it as unix:NAME (relative to queue_directory) or inet:HOST:PORT";
  if (!e.text.empty() && e.text.front() == '/')
    fix = each_fix(group, [&](const Use& x) {
      // A bare path: Postfix wants unix: in front; chrooted, a relative name.
      Use fixed = x;
      fixed.spec.endpoint = parse_endpoint("unix:" + e.text, EndpointSyntax::kPostfix);
      std::vector<std::string> extra;
      std::string name = x.smtpd->chrooted ? relative_fix(ctx, fixed, &extra) : e.text;
      std::string f = x.smtpd->setter(x.param, replaced_list(x, x.spec.rewritten("unix:" + name)));
      for (const auto& l : extra) f += "\n" + l;
      return f;
    });
  ctx.add(
      Severity::kProblem, e.text, head + ": " + e.error,
      "Postfix cannot use this " + std::string(protocol_name(u.protocol)) + ": " + refusal(u) + ".",
      fix);
}

ProbeTarget probe_target(const WiringContext& ctx, const Use& u) {
  const Smtpd& s = *u.smtpd;
  ProbeTarget t;
  t.endpoint = u.spec.endpoint;
  t.protocol = u.protocol;
  t.host_path = u.host_path;
  t.queue_directory = s.queue;
  t.chrooted = s.chrooted;
  // A policy service that is not ours gets no request: it could act on it.
  t.speak = u.protocol == Protocol::kMilter || u.ours;
  if (ctx.probe.privileged()) t.as = s.as;
  return t;
}

// The chrooted smtpd looks for an absolute name inside the queue directory.
void report_missing_in_chroot(WiringContext& ctx, const UseGroup& group, const std::string& head) {
  const Use& u = *group.front();
  const Endpoint& e = u.spec.endpoint;
  FileState outside = ctx.probe.stat(tidy_path(e.path));
  std::string there = outside.error == 0 ? "; " + tidy_path(e.path) + " exists" +
                                               (outside.socket ? "" : " (a " + outside.kind + ")") +
                                               ", but outside the chroot"
                                         : "";
  ctx.add(Severity::kProblem, e.text,
          head + ": the chrooted smtpd opens " + u.host_path + ", which does not exist" + there,
          "smtpd runs chrooted in " + u.smtpd->queue +
              " (column 5 of its master.cf line is y), so an absolute socket name is looked up "
              "inside the queue directory: " +
              refusal(u) + ", and Postfix logs \"connect to ... " + e.text +
              ": No such file or directory\". A name without a leading slash is relative to "
              "queue_directory and works chrooted or not.",
          each_fix(group, [&](const Use& x) { return path_fix(ctx, x); }));
}

void report_missing(WiringContext& ctx, const UseGroup& group, const std::string& head) {
  const Use& u = *group.front();
  std::string meaning = "Nothing listens there: " + refusal(u) + ".";
  std::string fix = start_fix(ctx, u);
  const OurSocket* o = u.ours ? our_unix(ctx, u.protocol) : nullptr;
  if (o && o->path != u.host_path) {
    meaning += elsewhere(ctx, *o);
    fix = point_at(group, *o);
    if (fix.empty()) {
      fix = std::string("set ") +
            (u.protocol == Protocol::kMilter ? "milter: { socket: \"unix:"
                                             : "policy: { listen: [\"unix:") +
            u.host_path + (u.protocol == Protocol::kMilter ? "\" }" : "\"] }") + " in " +
            ctx.config_file() + ", then systemctl restart " + daemon_name(u.protocol);
    }
  } else if (u.ours) {
    meaning += std::string(" Is ") + daemon_name(u.protocol) + " running?";
  }
  ctx.add(Severity::kProblem, u.spec.endpoint.text,
          head + ": " + u.host_path + " does not exist (No such file or directory)", meaning, fix);
}

// The socket where smtpd will look for it: reports what keeps smtpd from
// connecting to it, if anything (then true).
bool report_socket_file(WiringContext& ctx, const UseGroup& group, const std::string& head) {
  const Use& u = *group.front();
  const Endpoint& e = u.spec.endpoint;
  const std::string refused = refusal(u) + ".";
  FileState st = ctx.probe.stat(u.host_path);
  const bool absolute = !e.path.empty() && e.path.front() == '/';
  if (st.error == ENOENT && u.smtpd->chrooted && absolute) {
    report_missing_in_chroot(ctx, group, head);
    return true;
  }
  if (st.error == ENOENT) {
    report_missing(ctx, group, head);
    return true;
  }
  if (st.error != 0) {
    ctx.add(Severity::kProblem, e.text,
            head + ": cannot look at " + u.host_path + ": " + std::strerror(st.error),
            "smtpd cannot open it either: " + refused, start_fix(ctx, u));
    return true;
  }
  if (!st.socket) {
    ctx.add(Severity::kProblem, e.text,
            head + ": " + u.host_path + " is a " + st.kind + ", not a socket",
            "Connecting to it fails: " + refused,
            "remove " + u.host_path + ", then " + start_fix(ctx, u));
    return true;
  }
  if (u.other_daemon) {
    ctx.add(
        Severity::kProblem, e.text,
        head + ": " + u.host_path + " is " + daemon_name(u.other_daemon->protocol) + "'s socket (" +
            u.other_daemon->spec + "), not the " + protocol_name(u.protocol) + "'s",
        "The two daemons speak different protocols: " + refused, each_fix(group, [&](const Use& x) {
          return x.smtpd->setter(
              x.param,
              replaced_list(x, x.spec.rewritten(std::string("unix:") + default_name(x.protocol))));
        }));
    return true;
  }
  return false;
}

// The probe stopped at connecting.
void report_no_connection(WiringContext& ctx, const UseGroup& group, const std::string& head,
                          const ProbeResult& res) {
  const Use& u = *group.front();
  const bool unix_socket = u.spec.endpoint.kind == Endpoint::Kind::kUnix;
  const std::string where = unix_socket ? u.host_path : u.spec.endpoint.text;
  const std::string as = ctx.probe.privileged() ? " as " + u.smtpd->user : std::string();
  const std::string refused = refusal(u) + ".";
  std::string why = std::strerror(res.error);
  std::string meaning, fix = start_fix(ctx, u);
  if (res.error == EACCES || res.error == EPERM) {
    const std::string dir = parent_of(where);
    meaning = "smtpd runs as " + u.smtpd->user +
              " with only its primary group (as Postfix's set_ugid() leaves it): the "
              "socket's folders must be searchable and the socket writable by that user "
              "or group. " +
              refused;
    fix = u.ours ? "chgrp postfix " + dir + " && chmod 0750 " + dir + " (the socket folder), and " +
                       (u.protocol == Protocol::kMilter ? "milter" : "policy") +
                       ": { group: postfix } in " + ctx.config_file() +
                       " (socket mode 0660), then systemctl restart " + daemon_name(u.protocol)
                 : "give user " + u.smtpd->user + " access to " + where +
                       " and its folder (group " + u.smtpd->user + ", mode 0660)";
  } else if (res.error == ECONNREFUSED) {
    why += unix_socket ? ": the socket is there, but no process listens on it"
                       : ": no process listens on that port";
    meaning = unix_socket ? "The socket is left over from a daemon that is not running: " + refused
                          : "Nothing answers there: " + refused;
    const OurSocket* o = u.ours && unix_socket ? our_unix(ctx, u.protocol) : nullptr;
    if (o && o->path != u.host_path && !point_at(group, *o).empty()) {
      meaning += elsewhere(ctx, *o);
      fix = point_at(group, *o);
    }
  } else if (res.error == ETIMEDOUT || res.error == EAGAIN) {
    why = "no connection within the time limit";
    meaning = "A daemon that does not accept connections in time looks down to Postfix: " + refused;
  } else {
    meaning = "smtpd cannot connect either: " + refused;
  }
  ctx.add(Severity::kProblem, u.spec.endpoint.text,
          head + ": " + (as.empty() ? "cannot" : u.smtpd->user + " cannot") + " connect to " +
              where + " (" + why + ")",
          meaning, fix);
}

// What the probe found: connected (and answered, or not), or why not.
void report_probe_result(WiringContext& ctx, const UseGroup& group, const std::string& head,
                         const ProbeResult& res) {
  const Use& u = *group.front();
  const std::string subject = u.spec.endpoint.text;
  const bool unix_socket = u.spec.endpoint.kind == Endpoint::Kind::kUnix;
  const std::string where = unix_socket ? u.host_path : u.spec.endpoint.text;
  const std::string as = ctx.probe.privileged() ? " as " + u.smtpd->user : std::string();
  switch (res.stage) {
    case ProbeResult::Stage::kSetup:
      ctx.add(Severity::kWarning, subject,
              head + ": could not check " + where + ": " +
                  (res.detail.empty() ? std::string(std::strerror(res.error)) : res.detail),
              "selfcheck could not take smtpd's place (working directory, chroot, user) to "
              "connect.",
              "run esmtp-inspect selfcheck as root");
      return;
    case ProbeResult::Stage::kConnect:
      report_no_connection(ctx, group, head, res);
      return;
    case ProbeResult::Stage::kAnswer:
    case ProbeResult::Stage::kDone:
      break;
  }
  std::string error;
  if (res.stage == ProbeResult::Stage::kDone) {
    if (u.protocol == Protocol::kPolicy && !u.ours) {
      ctx.add(Severity::kOk, subject,
              head + ": " + where + " accepts connections" + as +
                  " (not esmtp-inspect's socket: no request sent)");
      return;
    }
    if (u.protocol == Protocol::kMilter) {
      if (auto r = parse_milter_reply(res.reply, &error)) {
        ctx.add(Severity::kOk, subject,
                head + ": " + where + " answers the milter negotiation" + as + " (version " +
                    std::to_string(r->version) + ")");
        return;
      }
    } else if (auto action = parse_policy_reply(res.reply, &error)) {
      ctx.add(Severity::kOk, subject,
              head + ": " + where + " answers" + as + " (action=" + *action + ")");
      return;
    }
  } else {
    error = res.error == ETIMEDOUT ? "no answer within the time limit"
            : res.detail.empty()   ? std::string(std::strerror(res.error))
                                   : res.detail;
  }
  ctx.add(Severity::kProblem, subject, head + ": connected to " + where + as + ", but " + error,
          "Postfix treats a " + std::string(protocol_name(u.protocol)) +
              " that does not answer its first request as down: " + refusal(u) + ".",
          u.ours ? start_fix(ctx, u) + "; its log says why it does not answer"
                 : "check the program that listens on " + where);
}

void check_socket(WiringContext& ctx, const UseGroup& group) {
  const Use& u = *group.front();
  const Endpoint& e = u.spec.endpoint;
  const std::string head = heading(group);

  if (e.kind == Endpoint::Kind::kInvalid) {
    report_invalid(ctx, group, head);
    return;
  }

  ProbeTarget t = probe_target(ctx, u);

  if (e.kind == Endpoint::Kind::kInet) {
    std::string host = to_lower(e.host);
    auto ip = IpAddress::parse(host == "localhost" ? "127.0.0.1" : host);
    if (!ip || !is_loopback(*ip)) {
      ctx.add(Severity::kInfo, e.text,
              head + ": not checked: not a local address (selfcheck connects to loopback only)");
      return;
    }
    t.endpoint.host = ip->str();
    report_probe_result(ctx, group, head, ctx.probe.talk(t));
    return;
  }

  if (!u.smtpd->user_known && ctx.probe.privileged()) return;  // reported once by check_users()
  if (report_socket_file(ctx, group, head)) return;
  report_probe_result(ctx, group, head, ctx.probe.talk(t));
}

}  // namespace

void check_sockets(WiringContext& ctx) {
  for (const auto& g : groups_of(ctx.uses)) check_socket(ctx, g);
}

}  // namespace esmtp::selfcheck::wiring
