#include "tools/selfcheck/wiring_socket_fixes.h"

#include <algorithm>

#include "common/util/text.h"

namespace esmtp::selfcheck::wiring {

std::string services_text(const UseGroup& group) {
  std::vector<std::string> ids;
  for (const auto* u : group) {
    std::string id = u->smtpd->id() + (u->smtpd->chrooted ? " chrooted" : "");
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return join(ids);
}

std::string each_fix(const UseGroup& group, const std::function<std::string(const Use&)>& fix_of) {
  std::vector<std::string> lines;
  for (const auto* u : group) {
    std::string all = fix_of(*u);
    std::size_t start = 0;
    while (start <= all.size()) {
      auto nl = all.find('\n', start);
      std::string line = all.substr(start, nl == std::string::npos ? nl : nl - start);
      if (!line.empty() && std::find(lines.begin(), lines.end(), line) == lines.end())
        lines.push_back(line);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  return join(lines, "\n");
}

std::string relative_fix(const WiringContext& ctx, const Use& u, std::vector<std::string>* extra) {
  const std::string q = tidy_path(u.smtpd->queue);
  const std::string& path = u.spec.endpoint.path;
  if (!path.empty() && path.front() == '/' && tidy_path(path).starts_with(q + "/"))
    return tidy_path(path).substr(q.size() + 1);  // the same socket, named relative
  if (u.ours) {
    // Our daemon's configured socket, if it is inside the queue directory.
    for (const auto& o : ctx.ours)
      if (o.protocol == u.protocol && o.path.starts_with(q + "/"))
        return o.path.substr(q.size() + 1);
    std::string name = default_name(u.protocol);
    extra->push_back(std::string("and have ") + daemon_name(u.protocol) + " listen on " + q + "/" +
                     name + ": " +
                     (u.protocol == Protocol::kMilter ? "milter: { socket: \"unix:"
                                                      : "policy: { listen: [\"unix:") +
                     q + "/" + name + (u.protocol == Protocol::kMilter ? "\" }" : "\"] }") +
                     " in " + ctx.config_file() + ", then restart it");
    return name;
  }
  // Someone else's socket: keep its folder and file name, inside the queue.
  auto slash = path.rfind('/');
  auto parent =
      slash == std::string::npos || slash == 0 ? std::string::npos : path.rfind('/', slash - 1);
  std::string name = parent == std::string::npos
                         ? path.substr(slash == std::string::npos ? 0 : slash + 1)
                         : path.substr(parent + 1);
  extra->push_back("and have the program listening on " + path + " create its socket at " + q +
                   "/" + name + " instead");
  return name;
}

std::string path_fix(const WiringContext& ctx, const Use& u) {
  std::vector<std::string> extra;
  std::string name = relative_fix(ctx, u, &extra);
  std::string fix = u.smtpd->setter(
      u.param, replaced_list(u, u.spec.rewritten(u.spec.endpoint.transport + ":" + name)));
  for (const auto& e : extra) fix += "\n" + e;
  return fix;
}

std::string start_fix(const WiringContext& ctx, const Use& u) {
  if (u.ours) {
    std::string unit =
        u.protocol == Protocol::kMilter ? "esmtp-inspect-milter" : "esmtp-inspect-policyd";
    return "systemctl restart " + unit + " (its socket: " +
           (u.protocol == Protocol::kMilter ? "milter.socket" : "policy.listen") + " in " +
           ctx.config_file() + ")";
  }
  return "start the " + std::string(protocol_name(u.protocol)) + " that should listen on " +
         u.spec.endpoint.text;
}

const OurSocket* our_unix(const WiringContext& ctx, Protocol p) {
  for (const auto& o : ctx.ours)
    if (o.protocol == p && !o.path.empty()) return &o;
  return nullptr;
}

std::string elsewhere(const WiringContext& ctx, const OurSocket& o) {
  return std::string(" ") + daemon_name(o.protocol) + " listens on " + o.path + " (" + o.spec +
         " in " + ctx.config_file() + ").";
}

std::string point_at(const UseGroup& group, const OurSocket& o) {
  const std::string q = tidy_path(group.front()->smtpd->queue);
  if (!o.path.starts_with(q + "/")) return {};
  return each_fix(group, [&](const Use& x) {
    return x.smtpd->setter(
        x.param, replaced_list(x, x.spec.rewritten("unix:" + o.path.substr(q.size() + 1))));
  });
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace esmtp::selfcheck::wiring
