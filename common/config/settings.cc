#include "common/config/settings.h"

#include <sys/un.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/config/config_loader.h"
#include "common/config/yaml_values.h"
#include "common/util/endpoint.h"
#include "common/util/text.h"

namespace esmtp {
namespace {

using cfg::Err;

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

std::optional<std::string> metrics_error(const std::string& s) {
  const Endpoint e = parse_endpoint("inet:" + s, EndpointSyntax::kPolicyListen);
  if (!e.valid() || e.host.empty() || e.port == 0)
    return "\"" + s + "\": off, or HOST:PORT where the metrics are served (127.0.0.1:9464)";
  return {};
}

std::optional<std::string> listen_error(const std::string& s) {
  const Endpoint e = parse_endpoint(s, EndpointSyntax::kPolicyListen);
  if (!e.valid()) return e.error;
  return e.local() ? check_socket_path(s, e.path) : Err{};
}

namespace cfg {
namespace {

using std::chrono::milliseconds;
// The Setting overload below calls this one.
using cfg::as_duration;

// milter.metrics, policy.metrics: "off" (kept as "") or HOST:PORT.
Err as_metrics(const YAML::Node& n, std::string& out) {
  std::string v;
  if (auto e = as_scalar(n, v)) return e;
  out = v == "off" ? "" : v;
  return out.empty() ? Err{} : metrics_error(v);
}

YAML::Node metrics_node(const std::string& address) {
  return str_node(address.empty() ? "off" : address);
}

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

// store.servers: "ADDRESS:PORT", "[IPv6]:PORT", "unix:/path".
Err store_server_error(const std::string& s) {
  if (s.starts_with("unix:")) {
    if (s.size() < 6 || s[5] != '/') return "\"" + s + "\": unix: needs an absolute path";
    if (s.size() - 5 >= 108) return "\"" + s + "\": the path is too long for a unix socket";
    return {};
  }
  auto hp = split_host_port(s);
  if (!hp || hp->port.empty())
    return "\"" + s + "\" is not ADDRESS:PORT, [IPv6]:PORT or unix:/path";
  if (!IpAddress::parse(hp->host)) return "\"" + s + "\" is not an IP address (no DNS here)";
  if (!parse_port(hp->port)) return "\"" + s + "\" has a bad port";
  return {};
}

// store.password_file: its first line, without the line end.
Err read_password(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return fmt::format("cannot read {}: {}", path, std::strerror(errno));
  std::getline(in, out);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (out.empty()) return fmt::format("{}: the first line (the password) is empty", path);
  return {};
}

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

constexpr Setting kSettings[] = {
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
    {"milter.metrics", SettingType::kString, "off",
     "Serve Prometheus metrics (GET /metrics) on HOST:PORT, e.g. 127.0.0.1:9464 ([::1]:9464 for "
     "IPv6); off: none. The port is bound after the daemon dropped root: pick one above 1023. "
     "No authentication and no TLS: keep it on loopback or behind a firewall.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_metrics(n, c.milter.metrics);
     },
     [](const Config& c) { return metrics_node(c.milter.metrics); }},
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
    {"policy.metrics", SettingType::kString, "off",
     "Serve Prometheus metrics (GET /metrics) on HOST:PORT, e.g. 127.0.0.1:9465 ([::1]:9465 for "
     "IPv6); off: none. The port is bound after the daemon dropped root: pick one above 1023. "
     "No authentication and no TLS: keep it on loopback or behind a firewall.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_metrics(n, c.policy.metrics);
     },
     [](const Config& c) { return metrics_node(c.policy.metrics); }},
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

    {"store", SettingType::kGroup, "",
     "Where the windowed rules (harvest, client_rate) keep their counters: in the daemon "
     "(local), or in Redis or Valkey (redis), shared by every daemon and MTA that points at it. "
     "A store that does not answer within store.timeout never stops or delays mail beyond it: "
     "it is left alone for store.retry (no session waits for it meanwhile), logged once per "
     "outage, and counted in esmtp_inspect_store_errors_total; store.on_error says what the "
     "rules do meanwhile."},
    {"store.type", SettingType::kChoice, "local",
     "local: counters in the daemon's memory (each daemon counts its own sessions). redis: "
     "counters in Redis or Valkey, keys with an expiry.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       std::string v;
       if (auto e = as_choice(n, row, v)) return e;
       c.store.type = v == "redis" ? StoreType::kRedis : StoreType::kLocal;
       return {};
     },
     [](const Config& c) {
       return str_node(c.store.type == StoreType::kRedis ? "redis" : "local");
     },
     0, 0, "local|redis"},
    {"store.servers", SettingType::kList, "[127.0.0.1:6379]",
     "Redis or Valkey servers as ADDRESS:PORT, [IPv6]:PORT or unix:/path (addresses, not "
     "names: no DNS on the mail path), tried in order; the first that answers is used.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_string_list(n, c.store.servers)) return e;
       if (c.store.servers.empty()) return std::string("needs at least one server");
       for (const auto& s : c.store.servers)
         if (auto e = store_server_error(s)) return e;
       return {};
     },
     [](const Config& c) { return list_node(c.store.servers); }},
    {"store.timeout", SettingType::kDuration, "50ms",
     "The longest a session waits for the store (connect, or one round trip).",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_duration(n, row, c.store.timeout);
     },
     [](const Config& c) { return str_node(duration_text(c.store.timeout)); }, 1, 10000},
    {"store.retry", SettingType::kDuration, "5s",
     "After the store failed, how long it is left alone before one session tries it again.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_duration(n, row, c.store.retry);
     },
     [](const Config& c) { return str_node(duration_text(c.store.retry)); }, 100, 3600000},
    {"store.on_error", SettingType::kChoice, "local",
     "While the redis store fails: local counts in the daemon until it is back (counts made "
     "meanwhile stay local); skip leaves the windowed rules out.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       std::string v;
       if (auto e = as_choice(n, row, v)) return e;
       c.store.on_error = v == "skip" ? StoreOnError::kSkip : StoreOnError::kLocal;
       return {};
     },
     [](const Config& c) {
       return str_node(c.store.on_error == StoreOnError::kSkip ? "skip" : "local");
     },
     0, 0, "local|skip"},
    {"store.username", SettingType::kString, "\"\"",
     "Redis 6 ACL user for AUTH; empty: the default user.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       return as_scalar(n, c.store.username);
     },
     [](const Config& c) { return str_node(c.store.username); }},
    {"store.password_file", SettingType::kString, "\"\"",
     "File whose first line is the password for AUTH (empty: no AUTH). Read when the "
     "configuration is loaded or reloaded, so it must be readable by the daemons' user (mode "
     "0640, group esmtp-inspect).",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_scalar(n, c.store.password_file)) return e;
       c.store.password.clear();
       if (c.store.password_file.empty()) return {};
       return read_password(c.store.password_file, c.store.password);
     },
     [](const Config& c) { return str_node(c.store.password_file); }},
    {"store.database", SettingType::kUint, "0", "Database number (SELECT).",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_u32(n, row.lo, row.hi, c.store.database);
     },
     [](const Config& c) { return YAML::Node(c.store.database); }, 0, 65535},
    {"store.prefix", SettingType::kString, "\"esmtp-inspect:\"",
     "Prefix of every key; sites sharing one server between unrelated MTA groups give each "
     "its own.",
     [](Config& c, const YAML::Node& n, const Setting&) -> Err {
       if (auto e = as_scalar(n, c.store.prefix)) return e;
       for (char ch : c.store.prefix)
         if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f)
           return std::string("a key prefix cannot hold blanks or control characters");
       return {};
     },
     [](const Config& c) { return str_node(c.store.prefix); }},
    {"store.max_keys", SettingType::kUint, "100000",
     "Most counters kept in the daemon (type local, and on_error: local during an outage); "
     "past it the least recently used go. About 100 octets each.",
     [](Config& c, const YAML::Node& n, const Setting& row) -> Err {
       return as_u32(n, row.lo, row.hi, c.store.max_keys);
     },
     [](const Config& c) { return YAML::Node(c.store.max_keys); }, 100, 10000000},
    {"store.tls", SettingType::kBool, "false",
     "TLS to the store. Not available: Debian 12's libhiredis (0.14) has no TLS. Keep the "
     "store on loopback or a private network, or put stunnel or spiped in front of it.",
     [](Config&, const YAML::Node& n, const Setting&) -> Err {
       bool on = false;
       if (auto e = as_bool(n, on)) return e;
       if (on)
         return std::string(
             "TLS to the store needs hiredis 1.0 (hiredis_ssl); this build "
             "has Debian 12's 0.14, which has none");
       return {};
     },
     [](const Config&) { return YAML::Node(false); }},

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

}  // namespace

std::span<const Setting> settings_table() {
  return kSettings;
}

const Setting* find_setting(std::string_view path) {
  for (const auto& s : kSettings)
    if (s.path == path) return &s;
  return nullptr;
}

void set_setting_defaults(Config& c) {
  for (const auto& s : kSettings)
    if (s.type != SettingType::kGroup)
      if (auto e = s.set(c, YAML::Load(std::string(s.def)), s)) std::abort();  // bad table row
}

}  // namespace cfg

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
  const auto defaults = default_config();
  const Config& c = *defaults;
  std::vector<SettingDoc> out;
  for (const auto& s : cfg::settings_table()) {
    SettingDoc d{s.path, s.type, {}, {}, {}, s.help};
    if (s.type != SettingType::kGroup) d.default_value = cfg::emit_flow(s.get(c));
    if (s.type == SettingType::kUint) d.range = fmt::format("{}..{}", s.lo, s.hi);
    if (s.type == SettingType::kDuration)
      d.range = duration_text(std::chrono::milliseconds(s.lo)) + ".." +
                duration_text(std::chrono::milliseconds(s.hi));
    if (s.type == SettingType::kChoice) d.choices = cfg::split_choices(s.choices);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace esmtp
