#include "common/config/config_loader.h"

#include "common/util/endpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include "common/util/text.h"

namespace esmtp {
namespace {

using Err = std::optional<std::string>;
using std::chrono::milliseconds;

std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("\"{}\"", n.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "an undefined value";
  }
}

Err as_scalar(const YAML::Node& n, std::string& out) {
  if (!n.IsScalar()) return "expected a single value, got " + kind_of(n);
  out = n.Scalar();
  return {};
}

Err as_bool(const YAML::Node& n, bool& out) {
  std::string s;
  if (auto e = as_scalar(n, s)) return e;
  for (auto t : {"true", "yes", "on"})
    if (s == t) return out = true, Err{};
  for (auto f : {"false", "no", "off"})
    if (s == f) return out = false, Err{};
  return "expected true or false, got \"" + s + "\"";
}

// Integers accept a binary suffix: 64k, 10M, 1G.
Err as_uint(const YAML::Node& n, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
  std::string s;
  if (auto e = as_scalar(n, s)) return e;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  std::string_view suffix(end, static_cast<std::size_t>(s.data() + s.size() - end));
  std::uint64_t mult = 1;
  if (suffix == "k" || suffix == "K")
    mult = 1024;
  else if (suffix == "m" || suffix == "M")
    mult = 1024 * 1024;
  else if (suffix == "g" || suffix == "G")
    mult = 1024 * 1024 * 1024;
  else if (!suffix.empty())
    ec = std::errc::invalid_argument;
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && v > hi / mult))
    return fmt::format("{} is out of range {}..{}", s, lo, hi);
  if (ec != std::errc() || end == s.data()) return "expected a whole number, got \"" + s + "\"";
  v *= mult;
  if (v < lo || v > hi) return fmt::format("{} is out of range {}..{}", s, lo, hi);
  out = v;
  return {};
}

Err as_u32(const YAML::Node& n, std::uint64_t lo, std::uint64_t hi, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (auto e = as_uint(n, lo, hi, v)) return e;
  out = static_cast<std::uint32_t>(v);
  return {};
}

// "500ms", "2s", "1m", "1h"; a bare number is seconds.
Err as_duration(const YAML::Node& n, milliseconds lo, milliseconds hi, milliseconds& out) {
  std::string s;
  if (auto e = as_scalar(n, s)) return e;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  std::string_view unit(end, static_cast<std::size_t>(s.data() + s.size() - end));
  std::uint64_t ms_per = 0;
  if (unit == "ms")
    ms_per = 1;
  else if (unit == "s" || unit.empty())
    ms_per = 1000;
  else if (unit == "m")
    ms_per = 60000;
  else if (unit == "h")
    ms_per = 3600000;
  if (ec != std::errc() || end == s.data() || ms_per == 0 || v > 1'000'000'000)
    return "expected a duration like 500ms, 2s, 1m, got \"" + s + "\"";
  milliseconds d(static_cast<milliseconds::rep>(v * ms_per));
  if (d < lo || d > hi)
    return fmt::format("{} is out of range {}ms..{}ms", s, lo.count(), hi.count());
  out = d;
  return {};
}

Err as_string_list(const YAML::Node& n, std::vector<std::string>& out) {
  if (!n.IsSequence()) return "expected a list, got " + kind_of(n);
  out.clear();
  for (const auto& item : n) {
    if (!item.IsScalar()) return "expected a list of values, found " + kind_of(item);
    out.push_back(item.Scalar());
  }
  return {};
}

Err as_enum(const YAML::Node& n, std::initializer_list<std::string_view> allowed,
            std::string& out) {
  if (auto e = as_scalar(n, out)) return e;
  std::string list;
  for (auto a : allowed) {
    if (a == out) return {};
    list += list.empty() ? "" : ", ";
    list += a;
  }
  return fmt::format("\"{}\" is not one of: {}", out, list);
}

Err as_reply(const YAML::Node& n, Reply& out) {
  std::string s, why;
  if (auto e = as_scalar(n, s)) return e;
  auto r = parse_reply(s, &why);
  if (!r) return why;
  out = *r;
  return {};
}

// The path of a unix socket spec for a daemon: absolute (the daemon is not
// chrooted, and changes directory to / when it detaches) and short enough for
// sockaddr_un. Postfix's relative names (unix:esmtp-inspect/milter.sock) are
// relative to Postfix's queue directory, not to ours: say so.
Err check_socket_path(const std::string& spec, std::string_view path) {
  if (path.empty() || path.front() != '/')
    return "\"" + spec +
           "\" needs an absolute path; Postfix's relative name unix:esmtp-inspect/x.sock is "
           "/var/spool/postfix/esmtp-inspect/x.sock here";
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    return "\"" + spec + "\": a unix socket path has at most " +
           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " octets";
  return {};
}

}  // namespace

std::optional<std::string> milter_socket_error(const std::string& s) {
  const Endpoint e = parse_endpoint(s, EndpointSyntax::kMilterSocket);
  if (!e.valid()) return e.error;
  return e.local() ? check_socket_path(s, e.path) : Err{};
}

std::optional<std::string> listen_error(const std::string& s) {
  const Endpoint e = parse_endpoint(s, EndpointSyntax::kPolicyListen);
  if (!e.valid()) return e.error;
  return e.local() ? check_socket_path(s, e.path) : Err{};
}

namespace {

// "1.2.3.4", "1.2.3.4:53", "2001:db8::1", "[2001:db8::1]:53".
Err check_dns_server(const std::string& s) {
  auto hp = split_host_port(s);
  if (!hp) {
    if (!s.empty() && s.front() == '[' && s.find(']') == std::string::npos)
      return "\"" + s + "\" has no closing ]";
    return "\"" + s + "\" is not ADDRESS or [ADDRESS]:PORT";
  }
  if (!IpAddress::parse(hp->host)) return "\"" + s + "\" is not an IP address";
  if (!hp->port.empty() && !parse_port(hp->port)) return "\"" + s + "\" has a bad port";
  return {};
}

YAML::Node str_node(std::string_view s) {
  return YAML::Node(std::string(s));
}

YAML::Node list_node(const std::vector<std::string>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& s : v) n.push_back(s);
  return n;
}

std::string duration_text(milliseconds d) {
  auto ms = d.count();
  if (ms % 3600000 == 0 && ms) return fmt::format("{}h", ms / 3600000);
  if (ms % 60000 == 0 && ms) return fmt::format("{}m", ms / 60000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// One row per global setting: path, type, default, help, and the range
// (integers; durations in milliseconds) or the choices it accepts. Rows of
// type kGroup are headings carrying the group's help text. Defaults are YAML
// text run through `set`, so the built-in configuration is exactly what this
// table says; `set` reads the range and choices from its row, so validation,
// conf/esmtp-inspect.yaml and esmtp-inspect.yaml(5) cannot disagree.
struct Setting {
  std::string_view path;
  SettingType type;
  std::string_view def;
  std::string_view help;
  Err (*set)(Config&, const YAML::Node&, const Setting&) = nullptr;
  YAML::Node (*get)(const Config&) = nullptr;
  std::uint64_t lo = 0, hi = 0;   // kUint: values; kDuration: milliseconds
  std::string_view choices = {};  // kChoice: "enforce|monitor"
};

std::vector<std::string_view> split_choices(std::string_view choices) {
  std::vector<std::string_view> out;
  for (std::size_t bar; (bar = choices.find('|')) != std::string_view::npos;
       choices.remove_prefix(bar + 1))
    out.push_back(choices.substr(0, bar));
  out.push_back(choices);
  return out;
}

Err as_choice(const YAML::Node& n, const Setting& s, std::string& out) {
  if (auto e = as_scalar(n, out)) return e;
  const auto allowed = split_choices(s.choices);
  if (std::find(allowed.begin(), allowed.end(), out) != allowed.end()) return {};
  return fmt::format("\"{}\" is not one of: {}", out, fmt::join(allowed, ", "));
}

Err as_duration(const YAML::Node& n, const Setting& s, milliseconds& out) {
  return as_duration(n, milliseconds(s.lo), milliseconds(s.hi), out);
}

const Setting kSettings[] = {
    {"mode", SettingType::kChoice, "enforce",
     "enforce: carry out each rule's action. monitor: log what each rule would do "
     "(would=ACTION) and let all mail through; the safe way to roll out. Profiles and rules "
     "may set their own mode.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       std::string s;
       if (auto e = as_choice(n, row, s)) return e;
       c.mode = *parse_mode(s);
       return {};
     },
     [](const Config& c) { return str_node(to_string(c.mode)); }, 0, 0, "enforce|monitor"},
    {"tag_secret", SettingType::kString, "auto",
     "The private name under which esmtp-inspect-policyd PREPENDs its tags "
     "(X-ESMTP-Inspect-SECRET), so that the milter can tell them from X-ESMTP-Inspect fields a "
     "sender wrote: it removes every one of those, then renames the policy service's fields to "
     "X-ESMTP-Inspect (without the milter, the header_checks lines in esmtp-inspect-policyd(8) "
     "do it). auto: a secret derived from /etc/machine-id (sd_id128_get_machine_app_specific(3)), "
     "the same for both daemons on one machine and unknown to senders; on a machine without an "
     "ID it acts as none. Set the same 16 to 64 letters and digits in both daemons' files when "
     "they run on different machines. none: the policy service PREPENDs X-ESMTP-Inspect itself, "
     "which a milter on the same MTA removes with the forged ones.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       std::string s;
       if (auto e = as_scalar(n, s)) return e;
       if (s == "auto" || s == "none") {
         c.tag_secret_setting = s;
         c.tag_secret.clear();
         return {};
       }
       if (s.size() < 16 || s.size() > 64 || !std::all_of(s.begin(), s.end(), [](char ch) {
             return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= 'A' && ch <= 'Z');
           }))
         return std::string("must be auto, none, or 16 to 64 letters and digits");
       c.tag_secret_setting = c.tag_secret = s;
       return {};
     },
     [](const Config& c) { return str_node(c.tag_secret_setting); }},
    {"both_daemons", SettingType::kBool, "false",
     "true when esmtp-inspect-milter and esmtp-inspect-policyd serve the same MTA: each rule "
     "and check is then decided by one of them, so nothing is logged, tagged or counted twice: "
     "the envelope rules and the identity checks by the policy service, the header, body and "
     "MIME rules, body_length and invalid_recipients (only the milter sees the recipients the "
     "MTA rejected) by the milter; each rule's both_daemons line in esmtp-inspect.yaml(5) says "
     "which. false: each daemon decides every rule it sees, right for one daemon alone.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_bool(n, c.both_daemons);
     },
     [](const Config& c) { return YAML::Node(c.both_daemons); }},

    {"log", SettingType::kGroup, "",
     "Where decisions are logged: one line per non-continue verdict (see LOGGING in "
     "esmtp-inspect.yaml(5))."},
    {"log.to", SettingType::kString, "syslog",
     "syslog | stderr | file:/path. Without /dev/log, syslog lines are dropped and the daemon "
     "goes on.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       std::string s;
       if (auto e = as_scalar(n, s)) return e;
       if (s == "syslog") {
         c.log.to = LogTarget::kSyslog;
       } else if (s == "stderr") {
         c.log.to = LogTarget::kStderr;
       } else if (s.rfind("file:/", 0) == 0) {
         c.log.to = LogTarget::kFile;
         c.log.file = s.substr(5);
       } else {
         return "\"" + s + "\" is not syslog, stderr or file:/absolute/path";
       }
       return {};
     },
     [](const Config& c) {
       switch (c.log.to) {
         case LogTarget::kSyslog:
           return str_node("syslog");
         case LogTarget::kStderr:
           return str_node("stderr");
         case LogTarget::kFile:
           break;
       }
       return str_node("file:" + c.log.file);
     }},
    {"log.facility", SettingType::kChoice, "mail",
     "Syslog facility: mail, daemon, user or local0..local7.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_choice(n, row, c.log.facility);
     },
     [](const Config& c) { return str_node(c.log.facility); }, 0, 0,
     "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7"},
    {"log.format", SettingType::kChoice, "text",
     "text (key=value, like Postfix) | json (one object per line).",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       std::string s;
       if (auto e = as_choice(n, row, s)) return e;
       c.log.format = s == "json" ? LogFormat::kJson : LogFormat::kText;
       return {};
     },
     [](const Config& c) { return str_node(c.log.format == LogFormat::kJson ? "json" : "text"); },
     0, 0, "text|json"},
    {"log.level", SettingType::kChoice, "info",
     "debug | info | notice | warning | error. Verdicts log at info, discards at warning.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       std::string s;
       if (auto e = as_choice(n, row, s)) return e;
       if (auto level = parse_log_level(s)) c.log.level = *level;
       return {};
     },
     [](const Config& c) { return str_node(log_level_name(c.log.level)); }, 0, 0,
     "debug|info|notice|warning|error"},

    {"milter", SettingType::kGroup, "", "The milter daemon, esmtp-inspect-milter."},
    {"milter.socket", SettingType::kString, "unix:/var/spool/postfix/esmtp-inspect/milter.sock",
     "libmilter socket: unix:/path or inet:PORT@HOST. The default folder is inside Postfix's "
     "queue directory, where a chrooted smtpd can reach it: Postfix names it relative to "
     "the queue directory, smtpd_milters = unix:esmtp-inspect/milter.sock (for inet: "
     "inet:HOST:PORT); Sendmail uses the absolute path.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_scalar(n, c.milter.socket)) return e;
       return milter_socket_error(c.milter.socket);
     },
     [](const Config& c) { return str_node(c.milter.socket); }},
    {"milter.user", SettingType::kString, "esmtp-inspect",
     "User to run as after binding the socket (when started as root).",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_scalar(n, c.milter.user);
     },
     [](const Config& c) { return str_node(c.milter.user); }},
    {"milter.group", SettingType::kString, "postfix",
     "Group owning the unix socket (mode 0660), so the MTA can connect.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_scalar(n, c.milter.group);
     },
     [](const Config& c) { return str_node(c.milter.group); }},
    {"milter.identity", SettingType::kBool, "true",
     "Run the identity checks (HELO, PTR, FCrDNS) in the milter, waiting at most dns.timeout x "
     "dns.tries at HELO. Set false when esmtp-inspect-policyd makes them for this MTA, so they "
     "are not made (and tagged) twice.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_bool(n, c.milter.identity);
     },
     [](const Config& c) { return YAML::Node(c.milter.identity); }},
    {"milter.timeout", SettingType::kDuration, "30s", "libmilter I/O timeout towards the MTA.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_duration(n, row, c.milter.timeout);
     },
     [](const Config& c) { return str_node(duration_text(c.milter.timeout)); }, 1000, 3600000},

    {"policy", SettingType::kGroup, "", "The Postfix policy service, esmtp-inspect-policyd."},
    {"policy.listen", SettingType::kList, "[unix:/var/spool/postfix/esmtp-inspect/policy.sock]",
     "Listeners: unix:/path (mode 0660) and inet:HOST:PORT (none unless listed). Postfix: "
     "check_policy_service unix:esmtp-inspect/policy.sock, relative to the queue directory "
     "so that it works chrooted or not.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_string_list(n, c.policy.listen)) return e;
       for (const auto& s : c.policy.listen)
         if (auto e = listen_error(s)) return e;
       return {};
     },
     [](const Config& c) { return list_node(c.policy.listen); }},
    {"policy.max_connections", SettingType::kUint, "1000",
     "Most simultaneous policy connections; more are closed on accept.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_u32(n, row.lo, row.hi, c.policy.max_connections);
     },
     [](const Config& c) { return YAML::Node(c.policy.max_connections); }, 1, 100000},
    {"policy.max_connections_per_client", SettingType::kUint, "500",
     "Most simultaneous policy connections from one TCP client address (IPv4 or IPv6); more "
     "are closed on accept, so that one client cannot take every one of "
     "policy.max_connections. Connections over a unix socket have no address and are not "
     "counted: the socket's mode already limits them to Postfix. Postfix keeps one policy "
     "connection per smtpd process, all from one address (127.0.0.1 over loopback TCP): "
     "over TCP this must be at least the sum of the process limits of the smtpd services "
     "that use the policy service (master.cf maxproc, default_process_limit 100 each); "
     "the default, half of the default policy.max_connections, leaves room for that.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_u32(n, row.lo, row.hi, c.policy.max_connections_per_client);
     },
     [](const Config& c) { return YAML::Node(c.policy.max_connections_per_client); }, 1, 100000},
    {"policy.idle_timeout", SettingType::kDuration, "300s",
     "Close a policy connection after this long waiting for a request (idle, Postfix's "
     "smtpd_policy_service_max_idle) or for the client to take its answer (stalled: a "
     "client that does not read its answers holds memory and a connection slot).",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_duration(n, row, c.policy.idle_timeout);
     },
     [](const Config& c) { return str_node(duration_text(c.policy.idle_timeout)); }, 1000,
     86400000},
    {"policy.user", SettingType::kString, "esmtp-inspect", "User to run as after binding.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_scalar(n, c.policy.user);
     },
     [](const Config& c) { return str_node(c.policy.user); }},
    {"policy.group", SettingType::kString, "postfix", "Group owning the unix socket (mode 0660).",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_scalar(n, c.policy.group);
     },
     [](const Config& c) { return str_node(c.policy.group); }},

    {"dns", SettingType::kGroup, "",
     "DNS lookups for the identity checks: asynchronous, cached by TTL."},
    {"dns.servers", SettingType::kList, "[]",
     "Resolvers as ADDRESS, ADDRESS:PORT or [IPv6]:PORT. Empty: /etc/resolv.conf.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_string_list(n, c.dns.servers)) return e;
       for (const auto& s : c.dns.servers)
         if (auto e = check_dns_server(s)) return e;
       return {};
     },
     [](const Config& c) { return list_node(c.dns.servers); }},
    {"dns.timeout", SettingType::kDuration, "2s",
     "Per-query timeout. A session never waits longer than timeout x tries.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_duration(n, row, c.dns.timeout);
     },
     [](const Config& c) { return str_node(duration_text(c.dns.timeout)); }, 50, 60000},
    {"dns.tries", SettingType::kUint, "2", "Attempts per query.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_u32(n, row.lo, row.hi, c.dns.tries);
     },
     [](const Config& c) { return YAML::Node(c.dns.tries); }, 1, 10},
    {"dns.cache_entries", SettingType::kUint, "10000",
     "Most cached answers (0 turns the cache off).",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_u32(n, row.lo, row.hi, c.dns.cache_entries);
     },
     [](const Config& c) { return YAML::Node(c.dns.cache_entries); }, 0, 10000000},
    {"dns.on_temperror", SettingType::kChoice, "tempfail",
     "What a DNS failure does to a check whose action would block mail: tempfail (the sender "
     "retries) | tag | log. Other checks record the temperror and tag.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       std::string s;
       if (auto e = as_choice(n, row, s)) return e;
       c.dns.on_temperror = *parse_action(s);
       return {};
     },
     [](const Config& c) { return str_node(to_string(c.dns.on_temperror)); }, 0, 0,
     "tempfail|tag|log"},
    {"dns.temperror_reply", SettingType::kReply, "451 4.4.3 DNS lookup failed, try again later",
     "Reply sent when dns.on_temperror is tempfail.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_reply(n, c.dns.temperror_reply)) return e;
       if (c.dns.temperror_reply.code / 100 != 4) return "temperror_reply must be a 4xx reply";
       return {};
     },
     [](const Config& c) { return str_node(c.dns.temperror_reply.str()); }},

    {"identity", SettingType::kGroup, "",
     "Identity checks: HELO, PTR, forward-confirmed reverse DNS and banner/HELO/PTR "
     "consistency."},
    {"identity.self", SettingType::kGroup, "",
     "Our own names and addresses: HELO must not claim them; the banner "
     "name must forward-confirm to them."},
    {"identity.self.names", SettingType::kList, "[]", "Our host names (the banner name first).",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_string_list(n, c.self.names);
     },
     [](const Config& c) { return list_node(c.self.names); }},
    {"identity.self.addresses", SettingType::kList, "[]", "Addresses we answer SMTP on.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       std::vector<std::string> v;
       if (auto e = as_string_list(n, v)) return e;
       c.self.addresses.clear();
       for (const auto& s : v) {
         auto ip = IpAddress::parse(s);
         if (!ip) return "\"" + s + "\" is not an IP address";
         c.self.addresses.push_back(*ip);
       }
       return {};
     },
     [](const Config& c) {
       std::vector<std::string> v;
       for (const auto& ip : c.self.addresses) v.push_back(ip.str());
       return list_node(v);
     }},
};

const Setting* find_setting(std::string_view path) {
  for (const auto& s : kSettings)
    if (s.path == path) return &s;
  return nullptr;
}

// ---------------------------------------------------------------------------
// Loading

class Loader {
 public:
  Loader(std::string file, std::vector<ConfigError>& errors)
      : file_(std::move(file)), errors_(errors) {}

  void error(const YAML::Mark& m, std::string_view path, std::string_view msg) {
    ConfigError e;
    e.file = file_;
    if (!m.is_null()) {
      e.line = m.line + 1;
      e.column = m.column + 1;
    }
    e.message = path.empty() ? std::string(msg) : fmt::format("{}: {}", path, msg);
    errors_.push_back(std::move(e));
  }

  // Walks a map of global settings; `prefix` is the dotted path of `n`.
  void settings(Config& c, const YAML::Node& n, const std::string& prefix) {
    for_each_key(n, prefix,
                 [&](const std::string& key, const YAML::Node& value, const YAML::Mark& mark) {
                   std::string path = prefix.empty() ? key : prefix + "." + key;
                   if (path == "rules") return rules(c.defaults.rules, value, "rules", mark);
                   if (path == "identity.checks")
                     return checks(c.defaults.checks, value, path, mark);
                   if (path == "profiles") {
                     // Profiles inherit the top level: read them once it is complete,
                     // wherever they stand in the file.
                     deferred_profiles_ = value;
                     deferred_mark_ = mark;
                     return;
                   }
                   const Setting* s = find_setting(path);
                   if (!s) return error(mark, path, "unknown key");
                   if (s->type == SettingType::kGroup) {
                     if (!value.IsMap() && !value.IsNull())
                       return error(value.Mark(), path, "expected a map, got " + kind_of(value));
                     return settings(c, value, path);
                   }
                   if (auto e = s->set(c, value, *s)) error(value.Mark(), path, *e);
                 });
  }

  void rules(RuleSet& set, const YAML::Node& n, const std::string& prefix, const YAML::Mark& mark) {
    if (n.IsNull()) return;
    if (!n.IsMap()) return error(mark, prefix, "expected a map of rules, got " + kind_of(n));
    for_each_key(n, prefix,
                 [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
                   auto id = find_rule(key);
                   if (!id) return error(key_mark, prefix + "." + key, "unknown rule");
                   rule(set[static_cast<std::size_t>(*id)], rule_info(*id), value,
                        prefix + "." + key, key_mark);
                 });
  }

  void checks(CheckSet& set, const YAML::Node& n, const std::string& prefix,
              const YAML::Mark& mark) {
    if (n.IsNull()) return;
    if (!n.IsMap()) return error(mark, prefix, "expected a map of checks, got " + kind_of(n));
    for_each_key(n, prefix,
                 [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
                   auto id = find_check(key);
                   if (!id) return error(key_mark, prefix + "." + key, "unknown identity check");
                   check(set[static_cast<std::size_t>(*id)], check_info(*id), value,
                         prefix + "." + key, key_mark);
                 });
  }

  void profiles(Config& c, const YAML::Node& n, const YAML::Mark& mark) {
    if (n.IsNull()) return;
    if (!n.IsSequence()) return error(mark, "profiles", "expected a list, got " + kind_of(n));
    std::set<std::string> names;
    for (std::size_t i = 0; i < n.size(); ++i) {
      const YAML::Node item = n[i];
      std::string path = fmt::format("profiles[{}]", i);
      if (!item.IsMap()) {
        error(item.Mark(), path, "expected a map, got " + kind_of(item));
        continue;
      }
      Profile p = c.defaults;  // inherits the top level's rules and checks
      p.name.clear();
      p.mode.reset();
      for_each_key(
          item, path,
          [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
            std::string kpath = path + "." + key;
            Err e;
            if (key == "name") {
              e = as_scalar(value, p.name);
              if (!e && p.name.empty()) e = "must not be empty";
            } else if (key == "match") {
              return match(p.match, value, kpath, key_mark);
            } else if (key == "inspect") {
              e = as_bool(value, p.inspect);
            } else if (key == "identity") {
              e = as_bool(value, p.identity);
            } else if (key == "mode") {
              std::string s;
              e = as_enum(value, {"enforce", "monitor"}, s);
              if (!e) p.mode = parse_mode(s);
            } else if (key == "rules") {
              return rules(p.rules, value, kpath, key_mark);
            } else {
              return error(key_mark, kpath,
                           "unknown key (name, match, inspect, identity, mode, rules)");
            }
            if (e) error(value.Mark(), kpath, *e);
          });
      if (p.name.empty()) {
        error(item.Mark(), path, "a profile needs a name");
      } else if (!names.insert(p.name).second || p.name == "default") {
        error(item.Mark(), path, "profile name \"" + p.name + "\" is used twice");
      }
      c.profiles.push_back(std::move(p));
    }
  }

 private:
  template <typename F>
  void for_each_key(const YAML::Node& n, const std::string& prefix, F&& f) {
    if (n.IsNull()) return;
    if (!n.IsMap()) return error(n.Mark(), prefix, "expected a map, got " + kind_of(n));
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      // it->first is a member of a temporary proxy: copy the node handles.
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        error(k.Mark(), prefix, "keys must be plain names");
        continue;
      }
      const std::string key = k.Scalar();
      if (!seen.insert(key).second) {
        error(k.Mark(), prefix.empty() ? key : prefix + "." + key, "duplicate key");
        continue;
      }
      f(key, v, k.Mark());
    }
  }

  void match(ProfileMatch& m, const YAML::Node& n, const std::string& path,
             const YAML::Mark& mark) {
    if (!n.IsMap()) return error(mark, path, "expected a map, got " + kind_of(n));
    for_each_key(n, path,
                 [&](const std::string& key, const YAML::Node& value, const YAML::Mark& key_mark) {
                   std::string kpath = path + "." + key;
                   Err e;
                   if (key == "clients") {
                     std::vector<std::string> v;
                     e = as_string_list(value, v);
                     for (std::size_t i = 0; !e && i < v.size(); ++i) {
                       auto cidr = Cidr::parse(v[i]);
                       if (!cidr)
                         e = "\"" + v[i] + "\" is not an address or CIDR prefix";
                       else
                         m.clients.push_back(*cidr);
                     }
                   } else if (key == "authenticated") {
                     bool b = false;
                     e = as_bool(value, b);
                     m.authenticated = b;
                   } else if (key == "daemons") {
                     e = as_string_list(value, m.daemons);
                   } else {
                     return error(key_mark, kpath, "unknown key (clients, authenticated, daemons)");
                   }
                   if (e) error(value.Mark(), kpath, *e);
                 });
  }

  void rule(RuleConfig& r, const RuleInfo& info, const YAML::Node& n, const std::string& path,
            const YAML::Mark& mark) {
    // "rule: off" is shorthand for "rule: {action: off}".
    if (n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "false")) {
      r.action = Action::kOff;
      return;
    }
    if (!n.IsMap()) return error(mark, path, "expected a map or off, got " + kind_of(n));
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
          } else if (key == "max" && info.param == RuleParam::kMax) {
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
              for (auto& ch : s)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
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

  void check(CheckConfig& c, const CheckInfo& info, const YAML::Node& n, const std::string& path,
             const YAML::Mark& mark) {
    if (n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "false")) {
      c.action = Action::kOff;
      return;
    }
    if (!n.IsMap()) return error(mark, path, "expected a map or off, got " + kind_of(n));
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

  static bool mime_limit(MimeLimits& m, const std::string& key, const YAML::Node& value, Err& e) {
    for (const auto& row : mime_limit_table()) {
      if (row.key != key) continue;
      e = as_u32(value, row.min, row.max, m.*row.field);
      return true;
    }
    return false;
  }

  static std::string rule_keys(const RuleInfo& info) {
    std::string keys = "action, reply, mode";
    switch (info.param) {
      case RuleParam::kMax:
        return keys + ", max";
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

  std::string file_;
  std::vector<ConfigError>& errors_;

 public:
  YAML::Node deferred_profiles_;
  YAML::Mark deferred_mark_;

 public:
  static Reply parse_default(std::string_view text) {
    auto r = parse_reply(text, nullptr);
    if (!r) std::abort();  // a bad row in the rule table is a bug
    return *r;
  }
  static Reply default_reply(const RuleInfo& info) { return parse_default(info.default_reply); }

  static Err reply_fits(Action a, const Reply& r) {
    if (a == Action::kDisconnect && r.code != 421)
      return "action disconnect needs a 421 reply, got " + std::to_string(r.code);
    const char cls = reply_class_for(a);
    if (cls && r.code / 100 != cls - '0')
      return fmt::format("{} reply does not fit action {} (needs {}xx)", r.code, to_string(a), cls);
    return {};
  }
};

Config build_defaults() {
  Config c;
  std::vector<ConfigError> errors;
  Loader loader("<defaults>", errors);
  for (const auto& s : kSettings)
    if (s.type != SettingType::kGroup)
      if (auto e = s.set(c, YAML::Load(std::string(s.def)), s)) std::abort();  // bad table row
  for (const auto& info : rule_table()) {
    RuleConfig& r = c.defaults.rules[static_cast<std::size_t>(info.id)];
    r.action = info.on_by_default ? info.default_action : Action::kOff;
    r.max = info.default_max;
    r.characters = info.default_characters;
    r.reply = adapt_reply(Loader::default_reply(info), info.default_action);
  }
  for (const auto& info : check_table()) {
    CheckConfig& k = c.defaults.checks[static_cast<std::size_t>(info.id)];
    k.action = info.default_action;
    if (!info.default_reply.empty()) k.reply = Loader::parse_default(info.default_reply);
  }
  return c;
}

const Config& defaults_ref() {
  static const Config c = build_defaults();
  return c;
}

// ---------------------------------------------------------------------------
// Printing

YAML::Node rule_node(const RuleConfig& r, const RuleInfo& info) {
  YAML::Node n(YAML::NodeType::Map);
  switch (info.param) {
    case RuleParam::kMax:
      n["max"] = r.max;
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

void set_path(YAML::Node root, std::string_view path, const YAML::Node& value) {
  std::size_t dot = path.find('.');
  if (dot == std::string_view::npos) {
    root[std::string(path)] = value;
    return;
  }
  set_path(root[std::string(path.substr(0, dot))], path.substr(dot + 1), value);
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Flow);
  out << n;
  return out.c_str();
}

std::string emit_flow(const YAML::Node& n) {
  YAML::Emitter out;
  out << YAML::Flow << n;
  return out.c_str();
}

void comment(std::string& out, std::string_view indent, std::string_view text) {
  // Wrap help text at 88 columns.
  std::string line;
  std::istringstream words{std::string(text)};
  std::string w;
  while (words >> w) {
    if (!line.empty() && indent.size() + 2 + line.size() + 1 + w.size() > 88) {
      out += fmt::format("{}# {}\n", indent, line);
      line.clear();
    }
    line += line.empty() ? w : " " + w;
  }
  if (!line.empty()) out += fmt::format("{}# {}\n", indent, line);
}

}  // namespace

std::string machine_tag_secret() {
  // Our application ID: the machine's ID is hashed with it (HMAC-SHA256), so
  // the result tells nothing about the machine ID and is the same for every
  // process of esmtp-inspect on this machine.
  constexpr sd_id128_t kApp =
      SD_ID128_MAKE(5e, 2c, 41, 9a, 0b, 7d, 4f, 63, 9e, 18, c2, 7a, 31, f0, 4d, 86);
  sd_id128_t id;
  if (sd_id128_get_machine_app_specific(kApp, &id) < 0) return {};
  char text[SD_ID128_STRING_MAX];
  return sd_id128_to_string(id, text);
}

std::string ConfigError::str() const {
  if (line == 0) return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

LoadResult load_config_string(std::string_view yaml, const std::string& name) {
  LoadResult result;
  if (yaml.size() > kMaxConfigBytes) {
    result.errors.push_back(
        {name, 0, 0, fmt::format("file is larger than {} octets", kMaxConfigBytes)});
    return result;
  }
  auto c = std::make_shared<Config>(defaults_ref());
  c->source = name;
  Loader loader(name, result.errors);
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsNull() && !root.IsMap()) {
      loader.error(root.Mark(), "", "the file must be a map of settings");
    } else {
      loader.settings(*c, root, "");
      if (loader.deferred_profiles_)
        loader.profiles(*c, loader.deferred_profiles_, loader.deferred_mark_);
    }
  } catch (const YAML::Exception& e) {
    loader.error(e.mark, "", e.msg);
  }
  if (c->tag_secret_setting == "auto") c->tag_secret = machine_tag_secret();
  if (result.errors.empty()) result.config = std::move(c);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  LoadResult r;
  auto fail = [&](std::string message) {
    r.errors.push_back({path, 0, 0, std::move(message)});
    return r;
  };
  // O_NONBLOCK: a FIFO at the path must not hang us (it is refused below); a
  // directory opens but is not a configuration file either (yaml-cpp would
  // read it as an empty file: the defaults). /dev/null is allowed, for the
  // CLI (`test --config /dev/null`); the daemons accept regular files only
  // (daemon.h, config_file_path()).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory, not a configuration file"
                                    : "is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes) {
    ::close(fd);
    return fail(fmt::format("file is larger than {} octets", kMaxConfigBytes));
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return fail(std::string("cannot read: ") + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) break;
  }
  ::close(fd);
  return load_config_string(text, path);
}

std::shared_ptr<const Config> default_config() {
  static const auto c = std::make_shared<const Config>(defaults_ref());
  return c;
}

const Profile& select_profile(const Config& c, const ClientFacts& facts) {
  for (const auto& p : c.profiles) {
    const auto& m = p.match;
    if (!m.clients.empty()) {
      if (!facts.address) continue;
      bool hit = false;
      for (const auto& cidr : m.clients) hit = hit || cidr.contains(*facts.address);
      if (!hit) continue;
    }
    if (m.authenticated && *m.authenticated != facts.authenticated) continue;
    if (!m.daemons.empty() &&
        std::find(m.daemons.begin(), m.daemons.end(), facts.daemon) == m.daemons.end())
      continue;
    return p;
  }
  return c.defaults;
}

std::string dump_config(const Config& c) {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& s : kSettings)
    if (s.get) set_path(root, s.path, s.get(c));
  YAML::Node checks(YAML::NodeType::Map);
  for (const auto& info : check_table())
    checks[std::string(info.name)] =
        check_node(c.defaults.checks[static_cast<std::size_t>(info.id)], info);
  root["identity"]["checks"] = checks;
  root["rules"] = rules_node(c.defaults.rules);
  YAML::Node profiles(YAML::NodeType::Sequence);
  for (const auto& p : c.profiles) {
    YAML::Node n(YAML::NodeType::Map);
    n["name"] = p.name;
    YAML::Node m(YAML::NodeType::Map);
    if (!p.match.clients.empty()) {
      std::vector<std::string> v;
      for (const auto& cidr : p.match.clients) v.push_back(cidr.str());
      m["clients"] = list_node(v);
    }
    if (p.match.authenticated) m["authenticated"] = *p.match.authenticated;
    if (!p.match.daemons.empty()) m["daemons"] = list_node(p.match.daemons);
    n["match"] = m;
    n["inspect"] = p.inspect;
    if (p.inspect) {
      n["identity"] = p.identity;
      n["mode"] = std::string(to_string(p.mode.value_or(c.mode)));
      n["rules"] = rules_node(p.rules);
    }
    profiles.push_back(n);
  }
  root["profiles"] = profiles;
  return emit(root) + "\n";
}

std::string_view to_string(SettingType t) {
  switch (t) {
    case SettingType::kGroup:
      return "map";
    case SettingType::kString:
      return "string";
    case SettingType::kBool:
      return "boolean";
    case SettingType::kUint:
      return "integer";
    case SettingType::kDuration:
      return "duration";
    case SettingType::kChoice:
      return "choice";
    case SettingType::kList:
      return "list";
    case SettingType::kReply:
      return "SMTP reply";
  }
  return "?";
}

std::vector<SettingDoc> setting_docs() {
  const Config& c = defaults_ref();
  std::vector<SettingDoc> out;
  for (const auto& s : kSettings) {
    SettingDoc d{s.path, s.type, {}, {}, {}, s.help};
    if (s.type != SettingType::kGroup) d.default_value = emit_flow(s.get(c));
    if (s.type == SettingType::kUint) d.range = fmt::format("{}..{}", s.lo, s.hi);
    if (s.type == SettingType::kDuration)
      d.range = duration_text(milliseconds(s.lo)) + ".." + duration_text(milliseconds(s.hi));
    if (s.type == SettingType::kChoice) d.choices = split_choices(s.choices);
    out.push_back(std::move(d));
  }
  return out;
}

std::string annotated_default_config() {
  const Config& c = defaults_ref();
  std::string out;
  out +=
      "# esmtp-inspect.yaml: configuration of esmtp-inspect-milter and esmtp-inspect-policyd.\n"
      "#\n"
      "# Generated by `esmtp-inspect default-config` from the settings and rule tables:\n"
      "# every value below is the built-in default, so an empty file behaves the same.\n"
      "# Check a file with `esmtp-inspect check-config FILE`; daemons reload on SIGHUP and\n"
      "# keep running on the old configuration if the new one has errors. Every key,\n"
      "# rule, check, action and log field: man 5 esmtp-inspect.yaml.\n"
      "#\n"
      "# Lengths are octets. Numbers take k/M/G suffixes (1024-based); durations take\n"
      "# ms, s, m, h. Actions: reject | tempfail | disconnect | quarantine | discard | tag\n"
      "# | log | off. Every rule and check may override `reply:` (\"550 5.7.1 text\"; the\n"
      "# code class must fit the action) and rules may set `mode: monitor`.\n";
  // Global settings, nested by their dotted paths.
  std::vector<std::string> open;
  for (const auto& s : kSettings) {
    std::vector<std::string> parts;
    std::string_view p = s.path;
    for (std::size_t dot; (dot = p.find('.')) != std::string_view::npos; p.remove_prefix(dot + 1))
      parts.emplace_back(p.substr(0, dot));
    parts.emplace_back(p);
    const bool group = s.type == SettingType::kGroup;
    std::size_t depth = group ? parts.size() : parts.size() - 1;
    std::size_t common = 0;
    while (common < open.size() && common < depth && open[common] == parts[common]) ++common;
    open.resize(common);
    std::string indent(2 * (parts.size() - 1), ' ');
    if (group) {
      if (parts.size() == 1) out += "\n";
      comment(out, indent, s.help);
      out += fmt::format("{}{}:\n", indent, parts.back());
      open.push_back(parts.back());
      continue;
    }
    if (parts.size() == 1) out += "\n";
    comment(out, indent, s.help);
    out += fmt::format("{}{}: {}\n", indent, parts.back(), emit_flow(s.get(c)));
  }
  out += "  # Each check passes, fails, finds nothing (none) or cannot tell (temperror).\n";
  out += "  checks:\n";
  for (const auto& info : check_table()) {
    comment(out, "    ", info.help);
    out += fmt::format(
        "    {}: {}\n", info.name,
        emit_flow(check_node(c.defaults.checks[static_cast<std::size_t>(info.id)], info)));
  }
  out +=
      "\n# Inspection rules. Rules marked \"off\" turn on when their parameter (max,\n"
      "# patterns, deny) or an action is set.\n"
      "rules:\n";
  for (const auto& info : rule_table()) {
    const RuleConfig& r = c.defaults.rules[static_cast<std::size_t>(info.id)];
    comment(out, "  ", info.help);
    out += fmt::format("  # stage: {}; ASA: {}\n", stage_text(info.events), info.asa);
    RuleConfig shown = r;
    if (!r.enabled()) {
      shown.action = info.default_action;
      shown.reply = Loader::default_reply(info);
      if (info.param == RuleParam::kPatterns) {
        shown.patterns = PatternList();
        (void)shown.patterns.add(info.example);
      }
      if (info.param == RuleParam::kDeny) shown.deny = split_words(info.example);
      out += fmt::format("  # (off) {}: {}\n", info.name, emit_flow(rule_node(shown, info)));
    } else {
      out += fmt::format("  {}: {}\n", info.name, emit_flow(rule_node(shown, info)));
    }
  }
  out +=
      "\n# Profiles: the first whose `match` fits the session applies; otherwise the top\n"
      "# level above. A profile inherits the top level and overrides what it names.\n"
      "# match: clients (CIDR list), authenticated (true/false), daemons (MTA daemon\n"
      "# names, {daemon_name}). inspect: false exempts the session from everything.\n"
      "profiles: []\n"
      "#  - name: mail-gateways        # like the ASA class-map that exempts the ESA\n"
      "#    match: { clients: [192.168.1.1/32] }\n"
      "#    inspect: false\n"
      "#  - name: submission\n"
      "#    match: { authenticated: true }\n"
      "#    identity: off\n"
      "#    rules: { recipient_count: { max: 500 } }\n";
  return out;
}

}  // namespace esmtp
