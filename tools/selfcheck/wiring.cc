#include "tools/selfcheck/wiring.h"
#include "common/util/text.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/util/net.h"
#include "tools/selfcheck/socket_probe.h"

namespace esmtp::selfcheck {
namespace {}  // namespace
std::string shell_quote(std::string_view s) {
  std::string r = "'";
  for (char c : s) {
    if (c == '\'')
      r += "'\\''";
    else
      r += c;
  }
  return r + "'";
}

// ---------------------------------------------------------------- checks

namespace {

constexpr std::string_view kRestrictionLists[] = {
    "smtpd_client_restrictions",      "smtpd_helo_restrictions",      "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",       "smtpd_recipient_restrictions", "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
};

const char* protocol_name(Protocol p) {
  return p == Protocol::kMilter ? "milter" : "policy service";
}

const char* daemon_name(Protocol p) {
  return p == Protocol::kMilter ? "esmtp-inspect-milter" : "esmtp-inspect-policyd";
}

const char* default_name(Protocol p) {
  return p == Protocol::kMilter ? "esmtp-inspect/milter.sock" : "esmtp-inspect/policy.sock";
}

// A socket of ours as esmtp-inspect.yaml writes it: libmilter syntax for the
// milter ("unix:/p", "local:/p", "/p", "inet:PORT@HOST"), Postfix-like for
// the policy service ("unix:/p", "inet:HOST:PORT").
struct OurSocket {
  Protocol protocol;
  std::string path;  // unix, tidied
  std::string host;
  std::uint16_t port = 0;
  std::string spec;  // as written
};

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

// The service (effective values) one smtpd process runs with.
struct Smtpd {
  const MasterService* master = nullptr;
  const PostconfValues* main = nullptr;
  const PostconfValues* overrides = nullptr;
  bool chrooted = false;
  std::string queue;
  std::optional<RunAs> as;
  std::string user;  // who it runs as, for messages
  bool user_known = true;

  std::string id() const { return master->id(); }
  bool overridden(std::string_view name) const {
    return overrides && overrides->find(name) != overrides->end();
  }
  std::string get(std::string_view name) const {
    if (overrides)
      if (auto it = overrides->find(name); it != overrides->end()) return it->second;
    if (auto it = main->find(name); it != main->end()) return it->second;
    return {};
  }
  // The postconf line that sets `name` where this service takes it from.
  // A one-word value of a scalar parameter is written bare (name=value),
  // a list always as 'name = value'.
  std::string setter(std::string_view name, std::string_view value) const {
    static const std::set<std::string, std::less<>> kScalars = {
        "milter_default_action", "milter_protocol", "smtpd_relay_before_recipient_restrictions",
        "mail_owner"};
    bool simple = kScalars.count(name) && !value.empty() &&
                  std::all_of(value.begin(), value.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                  });
    if (overridden(name)) {
      std::string a = id() + "/" + std::string(name) + "=" + std::string(value);
      return "postconf -P " + (simple ? a : shell_quote(a));
    }
    if (simple) return "postconf -e " + std::string(name) + "=" + std::string(value);
    return "postconf -e " + shell_quote(std::string(name) + " = " + std::string(value));
  }
  // Where a value comes from: "main.cf" or "master.cf -o of smtp/inet".
  std::string origin(std::string_view name) const {
    return overridden(name) ? "-o " + std::string(name) + " of " + id() : "main.cf";
  }
};

// One milter or policy server as one smtpd uses it.
struct Use;
std::string refusal(const Use& u);

struct Use {
  Protocol protocol;
  SocketSpec spec;
  std::string param;  // the list it is in: smtpd_milters, a restriction list or class
  const Smtpd* smtpd;
  std::string host_path;  // kUnix
  bool ours = false;
  const OurSocket* other_daemon = nullptr;  // ours, but the other protocol's socket
};

// What smtpd does to mail when it cannot reach the service: its default
// action (per milter or policy service in the "{ ... }" form, else Postfix's
// parameter), as Postfix's milter8.c and smtpd_check.c apply it.
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

class Checker {
 public:
  Checker(const WiringInput& in, WiringProbe& probe) : in_(in), probe_(probe) {
    ours_ = our_sockets(in.ours);
  }

  WiringReport run() {
    for (const auto& m : in_.services)
      // The command is relative to daemon_directory, or a path to it.
      if (m.command == "smtpd" || m.command.ends_with("/smtpd")) smtpds_.push_back(smtpd(m));
    if (smtpds_.empty()) {
      add(Severity::kInfo, "master.cf",
          "master.cf runs no smtpd service: nothing receives mail over SMTP, so there is no "
          "wiring to check");
      return std::move(r_);
    }
    for (const auto& s : smtpds_) collect(s);
    users();
    sockets();
    milter_settings();
    placement();
    nothing_configured();
    return std::move(r_);
  }

 private:
  void add(Severity s, std::string subject, std::string message, std::string meaning = {},
           std::string fix = {}) {
    r_.findings.push_back(
        {s, "wiring", std::move(subject), std::move(message), std::move(meaning), std::move(fix)});
  }

  Smtpd smtpd(const MasterService& m) {
    Smtpd s;
    s.master = &m;
    s.main = &in_.main;
    if (auto it = in_.overrides.find(m.id()); it != in_.overrides.end()) s.overrides = &it->second;
    s.chrooted = runs_chrooted(m, get_main("mail_version"));
    s.queue = s.get("queue_directory");
    if (s.queue.empty()) s.queue = "/var/spool/postfix";
    if (runs_as_root(m)) {
      s.user = "root";
      s.as = RunAs{"root", 0, 0};
    } else {
      s.user = s.get("mail_owner");
      if (s.user.empty()) s.user = "postfix";
      s.as = probe_.user(s.user);
      s.user_known = s.as.has_value();
    }
    return s;
  }

  std::string get_main(std::string_view name) const {
    auto it = in_.main.find(name);
    return it == in_.main.end() ? std::string() : it->second;
  }

  // Restriction classes this service knows, by name.
  std::map<std::string, std::vector<Restriction>> classes(const Smtpd& s) const {
    std::map<std::string, std::vector<Restriction>> out;
    for (const auto& name : split_list(s.get("smtpd_restriction_classes")))
      out[name] = parse_restrictions(s.get(name));
    return out;
  }

  const OurSocket* match(const Endpoint& e, const std::string& host_path, Protocol p) const {
    for (const auto& o : ours_) {
      if (o.protocol != p) continue;
      if (e.kind == Endpoint::Kind::kUnix && !o.path.empty() && o.path == host_path) return &o;
      if (e.kind == Endpoint::Kind::kInet && o.port && o.port == e.port &&
          same_host(o.host, e.host))
        return &o;
    }
    return nullptr;
  }

  void use(Protocol p, const SocketSpec& spec, std::string param, const Smtpd& s) {
    Use u{p, spec, std::move(param), &s, {}, false, nullptr};
    if (spec.endpoint.kind == Endpoint::Kind::kUnix)
      u.host_path = socket_host_path(spec.endpoint.path, s.queue, s.chrooted);
    Protocol other = p == Protocol::kMilter ? Protocol::kPolicy : Protocol::kMilter;
    u.ours = match(spec.endpoint, u.host_path, p) != nullptr;
    if (!u.ours) u.other_daemon = match(spec.endpoint, u.host_path, other);
    if (!u.ours && !u.other_daemon && spec.endpoint.text.find("esmtp-inspect") != std::string::npos)
      u.ours = true;
    uses_.push_back(std::move(u));
  }

  void collect(const Smtpd& s) {
    SmtpdService view;
    view.id = s.id();
    view.chrooted = s.chrooted;
    view.queue_directory = s.queue;
    view.user = s.user;
    for (const auto& m : parse_milters(s.get("smtpd_milters"))) {
      view.milters.push_back(m.text);
      use(Protocol::kMilter, m, "smtpd_milters", s);
    }
    auto policies = [&](const std::vector<Restriction>& list, const std::string& param) {
      for (const auto& r : list) {
        if (!r.policy) continue;
        view.policies.push_back(r.policy->text);
        use(Protocol::kPolicy, *r.policy, param, s);
      }
    };
    for (auto list : kRestrictionLists)
      policies(parse_restrictions(s.get(list)), std::string(list));
    for (const auto& [name, list] : classes(s)) policies(list, name);
    r_.services.push_back(std::move(view));
    if (!s.get("smtpd_milter_maps").empty() && !milter_maps_reported_) {
      milter_maps_reported_ = true;
      add(Severity::kInfo, "smtpd_milter_maps",
          "smtpd_milter_maps = " + s.get("smtpd_milter_maps") +
              ": clients it lists get other milters (or none); only smtpd_milters was checked",
          "A lookup result replaces smtpd_milters for that client.");
    }
  }

  void users() {
    std::set<std::string> reported;
    for (const auto& s : smtpds_) {
      if (s.user_known || !reported.insert(s.user).second) continue;
      add(Severity::kProblem, s.user,
          "mail_owner " + s.user + " (the user smtpd runs as) is not a user on this system",
          "Postfix refuses to start without it; the sockets could not be checked as that user.",
          "postconf -e mail_owner=postfix (the user the Postfix package created)");
    }
    if (!probe_.privileged() && std::any_of(uses_.begin(), uses_.end(), [](const Use& u) {
          return u.spec.endpoint.kind == Endpoint::Kind::kUnix;
        }))
      add(Severity::kInfo, "selfcheck",
          "not running as root: sockets were opened as this user, without smtpd's chroot and "
          "user, so what the postfix user can reach was not checked",
          "smtpd runs as mail_owner with only its primary group, possibly chrooted; checking "
          "that needs root.",
          "run esmtp-inspect selfcheck as root");
  }

  // ---- sockets

  // The list `param` of this service with the element `spec` replaced.
  std::string replaced_list(const Use& u, const std::string& new_text) const {
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

  // The relative name the entry should have, and what else must change.
  std::string relative_fix(const Use& u, std::vector<std::string>* extra) const {
    const std::string q = tidy_path(u.smtpd->queue);
    const std::string& path = u.spec.endpoint.path;
    if (!path.empty() && path.front() == '/' && tidy_path(path).starts_with(q + "/"))
      return tidy_path(path).substr(q.size() + 1);  // the same socket, named relative
    if (u.ours) {
      // Our daemon's configured socket, if it is inside the queue directory.
      for (const auto& o : ours_)
        if (o.protocol == u.protocol && o.path.starts_with(q + "/"))
          return o.path.substr(q.size() + 1);
      std::string name = default_name(u.protocol);
      extra->push_back(std::string("and have ") + daemon_name(u.protocol) + " listen on " + q +
                       "/" + name + ": " +
                       (u.protocol == Protocol::kMilter ? "milter: { socket: \"unix:"
                                                        : "policy: { listen: [\"unix:") +
                       q + "/" + name + (u.protocol == Protocol::kMilter ? "\" }" : "\"] }") +
                       " in " +
                       (in_.ours.config_file.empty() ? std::string("esmtp-inspect.yaml")
                                                     : in_.ours.config_file) +
                       ", then restart it");
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

  std::string path_fix(const Use& u) const {
    std::vector<std::string> extra;
    std::string name = relative_fix(u, &extra);
    std::string fix = u.smtpd->setter(
        u.param, replaced_list(u, u.spec.rewritten(u.spec.endpoint.transport + ":" + name)));
    for (const auto& e : extra) fix += "\n" + e;
    return fix;
  }

  std::string start_fix(const Use& u) const {
    if (u.ours) {
      std::string unit =
          u.protocol == Protocol::kMilter ? "esmtp-inspect-milter" : "esmtp-inspect-policyd";
      return "systemctl restart " + unit + " (its socket: " +
             (u.protocol == Protocol::kMilter ? "milter.socket" : "policy.listen") + " in " +
             (in_.ours.config_file.empty() ? std::string("esmtp-inspect.yaml")
                                           : in_.ours.config_file) +
             ")";
    }
    return "start the " + std::string(protocol_name(u.protocol)) + " that should listen on " +
           u.spec.endpoint.text;
  }

  void sockets() {
    // One check per socket as smtpd opens it: services that reach the same
    // path as the same user, through the same list, share the finding.
    std::vector<std::vector<const Use*>> groups;
    for (const auto& u : uses_) {
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
    for (const auto& g : groups) socket(g);
  }

  // "smtp/inet (chrooted), submission/inet"
  static std::string services_text(const std::vector<const Use*>& group) {
    std::vector<std::string> ids;
    for (const auto* u : group) {
      std::string id = u->smtpd->id() + (u->smtpd->chrooted ? " chrooted" : "");
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    return join(ids);
  }

  // The fix lines of each use in the group, once each (services may take the
  // list from main.cf or from their own -o).
  template <class F>
  static std::string each_fix(const std::vector<const Use*>& group, F fix_of) {
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

  std::string config_file() const {
    return in_.ours.config_file.empty() ? std::string("esmtp-inspect.yaml") : in_.ours.config_file;
  }

  // Our daemon's configured unix socket for this protocol, if any.
  const OurSocket* our_unix(Protocol p) const {
    for (const auto& o : ours_)
      if (o.protocol == p && !o.path.empty()) return &o;
    return nullptr;
  }

  // " esmtp-inspect-milter listens on P (unix:P in FILE)."
  std::string elsewhere(const OurSocket& o) const {
    return std::string(" ") + daemon_name(o.protocol) + " listens on " + o.path + " (" + o.spec +
           " in " + config_file() + ").";
  }

  // The postconf lines that name our daemon's socket instead, when it is
  // inside the queue directory; empty otherwise.
  std::string point_at(const std::vector<const Use*>& group, const OurSocket& o) const {
    const std::string q = tidy_path(group.front()->smtpd->queue);
    if (!o.path.starts_with(q + "/")) return {};
    return each_fix(group, [&](const Use& x) {
      return x.smtpd->setter(
          x.param, replaced_list(x, x.spec.rewritten("unix:" + o.path.substr(q.size() + 1))));
    });
  }

  void socket(const std::vector<const Use*>& group) {
    const Use& u = *group.front();
    const Smtpd& s = *u.smtpd;
    const Endpoint& e = u.spec.endpoint;
    const bool is_class = std::find(std::begin(kRestrictionLists), std::end(kRestrictionLists),
                                    u.param) == std::end(kRestrictionLists) &&
                          u.param != "smtpd_milters";
    std::string head = (is_class ? "restriction class " : "") + u.param + " " +
                       (u.protocol == Protocol::kPolicy ? "check_policy_service " : "") + e.text +
                       " (" + services_text(group) + ")";
    const std::string what = protocol_name(u.protocol);
    const std::string refused = refusal(u) + ".";

    if (e.kind == Endpoint::Kind::kInvalid) {
      std::string fix = "write it as unix:NAME (relative to queue_directory) or inet:HOST:PORT";
      if (!e.text.empty() && e.text.front() == '/')
        fix = each_fix(group, [&](const Use& x) {
          // A bare path: Postfix wants unix: in front; chrooted, a relative name.
          Use fixed = x;
          fixed.spec.endpoint = parse_endpoint("unix:" + e.text, EndpointSyntax::kPostfix);
          std::vector<std::string> extra;
          std::string name = x.smtpd->chrooted ? relative_fix(fixed, &extra) : e.text;
          std::string f =
              x.smtpd->setter(x.param, replaced_list(x, x.spec.rewritten("unix:" + name)));
          for (const auto& l : extra) f += "\n" + l;
          return f;
        });
      add(Severity::kProblem, e.text, head + ": " + e.error,
          "Postfix cannot use this " + what + ": " + refused, fix);
      return;
    }

    ProbeTarget t;
    t.endpoint = e;
    t.protocol = u.protocol;
    t.host_path = u.host_path;
    t.queue_directory = s.queue;
    t.chrooted = s.chrooted;
    // A policy service that is not ours gets no request: it could act on it.
    t.speak = u.protocol == Protocol::kMilter || u.ours;
    if (probe_.privileged()) t.as = s.as;

    if (e.kind == Endpoint::Kind::kInet) {
      std::string host = to_lower(e.host);
      auto ip = IpAddress::parse(host == "localhost" ? "127.0.0.1" : host);
      if (!ip || !is_loopback(*ip)) {
        add(Severity::kInfo, e.text,
            head + ": not checked: not a local address (selfcheck connects to loopback only)");
        return;
      }
      t.endpoint.host = ip->str();
      result(group, head, probe_.talk(t));
      return;
    }

    if (!s.user_known && probe_.privileged()) return;  // reported once by users()

    // The socket where smtpd will look for it.
    FileState st = probe_.stat(u.host_path);
    const bool absolute = !e.path.empty() && e.path.front() == '/';
    if (st.error == ENOENT && s.chrooted && absolute) {
      FileState outside = probe_.stat(tidy_path(e.path));
      std::string there = outside.error == 0
                              ? "; " + tidy_path(e.path) + " exists" +
                                    (outside.socket ? "" : " (a " + outside.kind + ")") +
                                    ", but outside the chroot"
                              : "";
      add(Severity::kProblem, e.text,
          head + ": the chrooted smtpd opens " + u.host_path + ", which does not exist" + there,
          "smtpd runs chrooted in " + s.queue +
              " (column 5 of its master.cf line is y), so an absolute socket name is looked up "
              "inside the queue directory: " +
              refusal(u) + ", and Postfix logs \"connect to ... " + e.text +
              ": No such file or directory\". A name without a leading slash is relative to "
              "queue_directory and works chrooted or not.",
          each_fix(group, [&](const Use& x) { return path_fix(x); }));
      return;
    }
    if (st.error == ENOENT) {
      std::string meaning = "Nothing listens there: " + refused;
      std::string fix = start_fix(u);
      const OurSocket* o = u.ours ? our_unix(u.protocol) : nullptr;
      if (o && o->path != u.host_path) {
        meaning += elsewhere(*o);
        fix = point_at(group, *o);
        if (fix.empty()) {
          fix = std::string("set ") +
                (u.protocol == Protocol::kMilter ? "milter: { socket: \"unix:"
                                                 : "policy: { listen: [\"unix:") +
                u.host_path + (u.protocol == Protocol::kMilter ? "\" }" : "\"] }") + " in " +
                config_file() + ", then systemctl restart " + daemon_name(u.protocol);
        }
      } else if (u.ours) {
        meaning += std::string(" Is ") + daemon_name(u.protocol) + " running?";
      }
      add(Severity::kProblem, e.text,
          head + ": " + u.host_path + " does not exist (No such file or directory)", meaning, fix);
      return;
    }
    if (st.error != 0) {
      add(Severity::kProblem, e.text,
          head + ": cannot look at " + u.host_path + ": " + std::strerror(st.error),
          "smtpd cannot open it either: " + refused, start_fix(u));
      return;
    }
    if (!st.socket) {
      add(Severity::kProblem, e.text,
          head + ": " + u.host_path + " is a " + st.kind + ", not a socket",
          "Connecting to it fails: " + refused, "remove " + u.host_path + ", then " + start_fix(u));
      return;
    }
    if (u.other_daemon) {
      add(Severity::kProblem, e.text,
          head + ": " + u.host_path + " is " + daemon_name(u.other_daemon->protocol) +
              "'s socket (" + u.other_daemon->spec + "), not the " + what + "'s",
          "The two daemons speak different protocols: " + refused,
          each_fix(group, [&](const Use& x) {
            return x.smtpd->setter(
                x.param, replaced_list(
                             x, x.spec.rewritten(std::string("unix:") + default_name(x.protocol))));
          }));
      return;
    }
    result(group, head, probe_.talk(t));
  }

  void result(const std::vector<const Use*>& group, const std::string& head,
              const ProbeResult& res) {
    const Use& u = *group.front();
    const std::string subject = u.spec.endpoint.text;
    const bool unix_socket = u.spec.endpoint.kind == Endpoint::Kind::kUnix;
    const std::string where = unix_socket ? u.host_path : u.spec.endpoint.text;
    const std::string as = probe_.privileged() ? " as " + u.smtpd->user : std::string();
    const std::string what = protocol_name(u.protocol);
    const std::string refused = refusal(u) + ".";
    switch (res.stage) {
      case ProbeResult::Stage::kSetup:
        add(Severity::kWarning, subject,
            head + ": could not check " + where + ": " +
                (res.detail.empty() ? std::string(std::strerror(res.error)) : res.detail),
            "selfcheck could not take smtpd's place (working directory, chroot, user) to "
            "connect.",
            "run esmtp-inspect selfcheck as root");
        return;
      case ProbeResult::Stage::kConnect: {
        std::string why = std::strerror(res.error);
        std::string meaning, fix = start_fix(u);
        if (res.error == EACCES || res.error == EPERM) {
          const std::string dir = parent_of(where);
          meaning = "smtpd runs as " + u.smtpd->user +
                    " with only its primary group (as Postfix's set_ugid() leaves it): the "
                    "socket's folders must be searchable and the socket writable by that user "
                    "or group. " +
                    refused;
          fix = u.ours
                    ? "chgrp postfix " + dir + " && chmod 0750 " + dir +
                          " (the socket folder), and " +
                          (u.protocol == Protocol::kMilter ? "milter" : "policy") +
                          ": { group: postfix } in " + config_file() +
                          " (socket mode 0660), then systemctl restart " + daemon_name(u.protocol)
                    : "give user " + u.smtpd->user + " access to " + where +
                          " and its folder (group " + u.smtpd->user + ", mode 0660)";
        } else if (res.error == ECONNREFUSED) {
          why += unix_socket ? ": the socket is there, but no process listens on it"
                             : ": no process listens on that port";
          meaning = unix_socket
                        ? "The socket is left over from a daemon that is not running: " + refused
                        : "Nothing answers there: " + refused;
          const OurSocket* o = u.ours && unix_socket ? our_unix(u.protocol) : nullptr;
          if (o && o->path != u.host_path && !point_at(group, *o).empty()) {
            meaning += elsewhere(*o);
            fix = point_at(group, *o);
          }
        } else if (res.error == ETIMEDOUT || res.error == EAGAIN) {
          why = "no connection within the time limit";
          meaning =
              "A daemon that does not accept connections in time looks down to Postfix: " + refused;
        } else {
          meaning = "smtpd cannot connect either: " + refused;
        }
        add(Severity::kProblem, subject,
            head + ": " + (as.empty() ? "cannot" : u.smtpd->user + " cannot") + " connect to " +
                where + " (" + why + ")",
            meaning, fix);
        return;
      }
      case ProbeResult::Stage::kAnswer:
      case ProbeResult::Stage::kDone:
        break;
    }
    std::string error;
    if (res.stage == ProbeResult::Stage::kDone) {
      if (u.protocol == Protocol::kPolicy && !u.ours) {
        add(Severity::kOk, subject,
            head + ": " + where + " accepts connections" + as +
                " (not esmtp-inspect's socket: no request sent)");
        return;
      }
      if (u.protocol == Protocol::kMilter) {
        if (auto r = parse_milter_reply(res.reply, &error)) {
          add(Severity::kOk, subject,
              head + ": " + where + " answers the milter negotiation" + as + " (version " +
                  std::to_string(r->version) + ")");
          return;
        }
      } else if (auto action = parse_policy_reply(res.reply, &error)) {
        add(Severity::kOk, subject,
            head + ": " + where + " answers" + as + " (action=" + *action + ")");
        return;
      }
    } else {
      error = res.error == ETIMEDOUT ? "no answer within the time limit"
              : res.detail.empty()   ? std::string(std::strerror(res.error))
                                     : res.detail;
    }
    add(Severity::kProblem, subject, head + ": connected to " + where + as + ", but " + error,
        "Postfix treats a " + what + " that does not answer its first request as down: " + refused,
        u.ours ? start_fix(u) + "; its log says why it does not answer"
               : "check the program that listens on " + where);
  }

  static std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
  }

  // ---- milter_default_action, milter_protocol

  void milter_settings() {
    struct Seen {
      std::string key;
      std::vector<std::string> ids;
      std::size_t finding;
    };
    std::vector<Seen> seen;
    auto report = [&](const Use& u, Severity sev, const std::string& key, std::string message,
                      std::string meaning, std::string fix) {
      for (auto& s : seen)
        if (s.key == key) {
          if (std::find(s.ids.begin(), s.ids.end(), u.smtpd->id()) == s.ids.end()) {
            s.ids.push_back(u.smtpd->id());
            r_.findings[s.finding].subject = join(s.ids);
          }
          return;
        }
      seen.push_back({key, {u.smtpd->id()}, r_.findings.size()});
      add(sev, u.smtpd->id(), std::move(message), std::move(meaning), std::move(fix));
    };
    for (const auto& u : uses_) {
      if (u.protocol != Protocol::kMilter || !u.ours) continue;
      const Smtpd& s = *u.smtpd;
      // default_action
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
        report(u, Severity::kOk, key,
               "milter_default_action is tempfail for " + u.spec.endpoint.text +
                   ": while the milter is down, mail waits (451) instead of passing uninspected",
               {}, {});
      } else if (action == "accept") {
        report(u, Severity::kWarning, key,
               source +
                   ": while esmtp-inspect-milter is down or slow, mail is accepted "
                   "uninspected",
               "Every rule is off whenever the milter does not answer, and nothing tells the "
               "sender or the log reader which mail went through uninspected. tempfail makes "
               "senders retry (451 4.7.1) until the milter is back; no mail is lost.",
               fix);
      } else if (action == "reject" || action == "quarantine") {
        report(u, Severity::kProblem, key,
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
        report(u, Severity::kWarning, key,
               source + ": not a value Postfix knows (accept, reject, tempfail, quarantine)",
               "Postfix logs a configuration error and treats the milter as failed.", fix);
      }
      // protocol
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
      key = "protocol|" + psource + "|" + pfix;
      if (proto.empty() || version >= 6) {
        report(u, Severity::kOk, key,
               "milter_protocol is " + (proto.empty() ? std::string("6") : proto) + " for " +
                   u.spec.endpoint.text,
               {}, {});
      } else {
        report(u, Severity::kWarning, key,
               psource + ": older than 6, so Postfix does not offer SMFIP_RCPT_REJ",
               "With protocol 6 the milter also sees the recipients Postfix rejected; without "
               "it invalid_recipients cannot count them (directory harvesting goes unseen).",
               pfix);
      }
    }
  }

  // ---- check_policy_service after reject_unauth_destination

  void placement() {
    std::set<std::string> reported;
    for (const auto& s : smtpds_) placement(s, reported);
  }

  bool is_ours(const SocketSpec& spec, const Smtpd& s) const {
    for (const auto& u : uses_)
      if (u.smtpd == &s && u.protocol == Protocol::kPolicy && u.spec.text == spec.text)
        return u.ours;
    return false;
  }

  void placement(const Smtpd& s, std::set<std::string>& reported) {
    const bool delay = to_lower(s.get("smtpd_delay_reject")) != "no";
    const std::string rbr = to_lower(s.get("smtpd_relay_before_recipient_restrictions"));
    const bool relay_first = rbr == "yes";
    const bool has_rbr_param = !rbr.empty();
    auto cls = classes(s);
    auto contains = [&](const Restriction& r, bool policy) {
      auto one = [&](const Restriction& x) {
        return policy ? x.policy && is_ours(*x.policy, s) : x.unauth_destination();
      };
      if (one(r)) return true;
      if (auto it = cls.find(r.name); it != cls.end())
        return std::any_of(it->second.begin(), it->second.end(), one);
      return false;
    };
    // The lists Postfix evaluates for RCPT, in its order.
    std::vector<std::string> order;
    if (delay)
      order = {"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions"};
    if (relay_first) {
      order.push_back("smtpd_relay_restrictions");
      order.push_back("smtpd_recipient_restrictions");
    } else {
      order.push_back("smtpd_recipient_restrictions");
      order.push_back("smtpd_relay_restrictions");
    }
    std::map<std::string, std::vector<Restriction>> lists;
    for (const auto& l : order) lists[l] = parse_restrictions(s.get(l));

    bool seen_unauth = false;
    for (const auto& l : order) {
      const auto& list = lists[l];
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (contains(list[i], false)) seen_unauth = true;
        if (seen_unauth || !contains(list[i], true)) continue;
        misplaced(s, l, i, lists, relay_first, has_rbr_param, contains, reported);
      }
    }
  }

  template <class Contains>
  void misplaced(const Smtpd& s, const std::string& l, std::size_t i,
                 std::map<std::string, std::vector<Restriction>>& lists, bool relay_first,
                 bool has_rbr_param, Contains contains, std::set<std::string>& reported) {
    const auto& list = lists[l];
    const Restriction item = list[i];
    std::vector<std::string> fixes;
    // The same list has the relay check later: move the policy check after it.
    std::size_t j = list.size();
    for (std::size_t k = i + 1; k < list.size(); ++k)
      if (contains(list[k], false)) {
        j = k;
        break;
      }
    const std::string rcpt = "smtpd_recipient_restrictions", relay = "smtpd_relay_restrictions";
    auto unauth_at = [&](const std::string& name) -> std::optional<std::size_t> {
      const auto& v = lists[name];
      for (std::size_t k = 0; k < v.size(); ++k)
        if (contains(v[k], false)) return k;
      return std::nullopt;
    };
    if (j < list.size()) {
      auto moved = list;
      moved.erase(moved.begin() + static_cast<std::ptrdiff_t>(i));
      moved.insert(moved.begin() + static_cast<std::ptrdiff_t>(j), item);
      fixes.push_back(s.setter(l, join_restrictions(moved)));
    } else if (l == rcpt && !relay_first && unauth_at(relay)) {
      // smtpd_relay_restrictions has the check, but Postfix runs it after.
      if (has_rbr_param) {
        fixes.push_back(s.setter("smtpd_relay_before_recipient_restrictions", "yes"));
      } else {
        auto moved = list;
        const auto& rl = lists[relay];
        auto k = *unauth_at(relay);
        moved.insert(moved.begin() + static_cast<std::ptrdiff_t>(i), rl.begin(),
                     rl.begin() + static_cast<std::ptrdiff_t>(k + 1));
        fixes.push_back(s.setter(l, join_restrictions(moved)));
      }
    } else if (l != rcpt && l != relay) {
      // Client, HELO or sender restrictions run at RCPT before either list:
      // move the check into smtpd_recipient_restrictions.
      auto from = list;
      from.erase(from.begin() + static_cast<std::ptrdiff_t>(i));
      auto to = lists[rcpt];
      bool already = std::any_of(to.begin(), to.end(),
                                 [&](const Restriction& r) { return r.text() == item.text(); });
      std::string line = s.setter(l, join_restrictions(from));
      if (!already) {
        auto k = unauth_at(rcpt);
        std::size_t at = k ? *k + 1 : to.size();
        if (!k && !to.empty()) {
          static const std::set<std::string> kFinal = {"permit", "reject", "defer",
                                                       "defer_if_permit", "defer_if_reject"};
          if (kFinal.count(to_lower(to.back().name))) at = to.size() - 1;
        }
        to.insert(to.begin() + static_cast<std::ptrdiff_t>(at), item);
        std::string second = s.setter(rcpt, join_restrictions(to));
        if (line.starts_with("postconf -e ") && second.starts_with("postconf -e "))
          line += " " + second.substr(12);
        else
          fixes.push_back(second);
      }
      fixes.insert(fixes.begin(), line);
      if (!relay_first && !unauth_at(rcpt) && unauth_at(relay) && has_rbr_param)
        fixes.push_back(s.setter("smtpd_relay_before_recipient_restrictions", "yes"));
    } else {
      // No relay check before it at all: put one in front of it.
      auto moved = list;
      Restriction r;
      r.name = "reject_unauth_destination";
      moved.insert(moved.begin() + static_cast<std::ptrdiff_t>(i), r);
      fixes.push_back(s.setter(l, join_restrictions(moved)));
    }
    std::string fix = join(fixes, "\n");
    if (!reported.insert(fix).second) {
      // Same lists in another service: name it in the existing finding.
      for (auto& f : r_.findings)
        if (f.fix == fix && f.subject.find(s.id()) == std::string::npos) f.subject += ", " + s.id();
      return;
    }
    std::string what =
        item.policy ? item.text() : item.name + " (a restriction class with check_policy_service)";
    add(Severity::kWarning, s.id(),
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

  // ---- nothing at all

  void nothing_configured() {
    if (std::any_of(uses_.begin(), uses_.end(), [](const Use& u) { return u.ours; })) return;
    const Smtpd& s = smtpds_.front();
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
    add(Severity::kInfo, "esmtp-inspect",
        "no smtpd service uses esmtp-inspect: no smtpd_milters entry is esmtp-inspect-milter's "
        "socket and no check_policy_service is esmtp-inspect-policyd's",
        "Postfix does not consult esmtp-inspect; nothing is inspected. (Sockets are recognised "
        "by esmtp-inspect.yaml's milter.socket and policy.listen, or by \"esmtp-inspect\" in "
        "their name.)",
        "milter: " +
            s.setter("smtpd_milters", (milters.empty() ? "" : milters + ", ") +
                                          "unix:" + default_name(Protocol::kMilter)) +
            "\npolicy service: " +
            s.setter("smtpd_recipient_restrictions", join_restrictions(rcpt)));
  }

  const WiringInput& in_;
  WiringProbe& probe_;
  std::vector<OurSocket> ours_;
  std::vector<Smtpd> smtpds_;
  std::vector<Use> uses_;
  bool milter_maps_reported_ = false;
  WiringReport r_;
};

}  // namespace

WiringReport check_wiring(const WiringInput& input, WiringProbe& probe) {
  return Checker(input, probe).run();
}

}  // namespace esmtp::selfcheck
