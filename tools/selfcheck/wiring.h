// wiring: esmtp-inspect's milter and policy sockets as Postfix's smtpd will
// use them (the wiring part of the selfcheck row of SPEC section 9).
//
// Inputs, all read through postconf so that Postfix parses its own files:
// main.cf values (`postconf -x`, restriction class definitions included), the
// master.cf services (`postconf -M`), their `-o` overrides (`postconf -xP`,
// or `postconf -P` expanded here against main.cf values where -xP is not
// available), and the sockets esmtp-inspect.yaml gives the daemons.
//
// Each smtpd service (any type: inet, or pass behind postscreen) is checked
// with its effective values. A unix socket name is opened the way that smtpd
// opens it: the process runs with queue_directory as working directory and,
// when its chroot column says so, chrooted there; so a relative name is
// queue_directory/NAME either way and an absolute one is queue_directory +
// NAME when chrooted. The socket must exist, be a socket, accept a connection
// from the user smtpd runs as (mail_owner with only its primary group, as
// Postfix's set_ugid() leaves it) and answer: a milter its SMFIC_OPTNEG
// negotiation, esmtp-inspect-policyd a request it answers without side
// effects (policy_probe_request()). A policy service that is not ours gets
// the connection only: a request could have effects there. inet: entries are
// connected to on loopback addresses only; others are reported as not checked.
// Also checked: milter_default_action and milter_protocol (Postfix's and
// per-milter "{ ..., default_action=... }" values) for our milter, and that
// our policy check runs after reject_unauth_destination (or
// defer_unauth_destination) at RCPT time.
//
// Every finding has check "wiring" and a fix: the `postconf -e` or
// `postconf -P` line (with the whole corrected list) or the step that fixes it.
//
// The checks are pure functions over these values and a WiringProbe, which
// unit tests fake; SystemProbe (socket_probe.h) is the real one.
//
// Limits: lists are parsed up to kMaxListItems elements; replies read from
// sockets are bounded by the probe (socket_probe.h).
//
// Thread-safety: pure functions; check_wiring() uses the probe from the
// calling thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/selfcheck/finding.h"
#include "tools/selfcheck/postconf.h"

namespace esmtp::selfcheck {

inline constexpr std::size_t kMaxListItems = 1000;

// One master.cf service as `postconf -M` prints it (one line per service, -o
// options on the same line).
struct MasterService {
  std::string name, type, private_, unprivileged, chroot, wakeup, process_limit, command;
  std::vector<std::string> arguments;  // after the command, as printed
  std::string id() const { return name + "/" + type; }
};

// Lines with fewer than 8 fields are skipped (and counted in *skipped).
std::vector<MasterService> parse_master_services(std::string_view postconf_m,
                                                 std::size_t* skipped = nullptr);

// Does the service run chrooted? "y"/"n", and "-" is the default of the
// Postfix version (master(5): n since Postfix 3.0, y before).
bool runs_chrooted(const MasterService& s, std::string_view mail_version);
// "n" in the unprivileged column: the service runs as root.
bool runs_as_root(const MasterService& s);

// `postconf -P` lines "service/type/parameter = value", by service id
// ("submission/inet").
using ServiceOverrides = std::map<std::string, PostconfValues, std::less<>>;
ServiceOverrides parse_service_overrides(std::string_view postconf_p);

// $name, ${name} and $(name) replaced by values[name] ("" when unknown), for
// -o values when postconf cannot expand them itself (-xP). Not Postfix's
// ${name?value} conditionals: those are kept as written.
std::string expand_parameters(std::string_view value, const PostconfValues& values);
// The names expand_parameters() would look up.
std::vector<std::string> referenced_parameters(std::string_view value);

// Elements of a Postfix list: separated by commas and white space, where
// "{ ... }" (nested braces counted) is one element. At most kMaxListItems.
std::vector<std::string> postfix_tokens(std::string_view list);

// "transport:endpoint" as Postfix's milter and policy clients read it.
struct Endpoint {
  enum class Kind { kUnix, kInet, kInvalid };
  Kind kind = Kind::kInvalid;
  std::string text;       // as written
  std::string transport;  // "unix", "local", "inet"
  std::string path;       // kUnix: the name smtpd opens (relative or absolute)
  std::string host;       // kInet, brackets removed
  std::uint16_t port = 0;
  std::string error;  // kInvalid: what Postfix would say
};
Endpoint parse_endpoint(std::string_view text);

// A milter or policy server: "unix:x" or "{ unix:x, name = value, ... }".
struct SocketSpec {
  std::string text;  // the list element as written
  Endpoint endpoint;
  std::vector<std::pair<std::string, std::string>> attributes;  // braced form only
  std::string attribute(std::string_view name) const;           // "" when not set
  // The element with another endpoint (and one attribute changed when given).
  std::string rewritten(std::string_view endpoint_text, std::string_view attribute_name = {},
                        std::string_view attribute_value = {}) const;
};
SocketSpec parse_socket_spec(std::string_view element);
std::vector<SocketSpec> parse_milters(std::string_view smtpd_milters);

// One restriction of a list, with its argument when it takes one
// ("check_policy_service unix:x", "check_client_access hash:/etc/x").
struct Restriction {
  std::string name;                  // "permit_mynetworks", "check_policy_service", a class name...
  std::string argument;              // the element after it, for restrictions that take one
  std::optional<SocketSpec> policy;  // check_policy_service
  std::string text() const { return argument.empty() ? name : name + " " + argument; }
  bool unauth_destination() const;  // reject_unauth_destination / defer_unauth_destination
};
std::vector<Restriction> parse_restrictions(std::string_view list);
std::string join_restrictions(const std::vector<Restriction>& list);

// Where a unix socket name used by smtpd is on this host (see above).
std::string socket_host_path(std::string_view name, std::string_view queue_directory,
                             bool chrooted);

// The milter negotiation Postfix opens with: SMFIC_OPTNEG, protocol version
// 6, every action and protocol flag libmilter knows (so the milter never
// refuses for lack of one), followed by SMFIC_QUIT so that the milter ends
// the connection without logging an error.
std::string milter_probe_request();
struct MilterReply {
  std::uint32_t version = 0, actions = 0, protocol = 0;
};
// The reply to it: 4-octet big-endian length, 'O', version, actions, protocol
// (and macro lists, ignored). nullopt and *error when it is not one.
std::optional<MilterReply> parse_milter_reply(std::string_view bytes, std::string* error);

// A request esmtp-inspect-policyd answers "action=DUNNO" without logging or
// counting anything: protocol_state=CONNECT and no helo_name, sender,
// recipient or server_address, so that no rule runs and no DNS lookup
// starts.
std::string policy_probe_request();
// "action=..." from the reply; nullopt and *error otherwise.
std::optional<std::string> parse_policy_reply(std::string_view bytes, std::string* error);

// The user smtpd runs as.
struct RunAs {
  std::string user;
  unsigned uid = 0, gid = 0;
};

enum class Protocol { kMilter, kPolicy };

struct ProbeTarget {
  Endpoint endpoint;
  Protocol protocol = Protocol::kMilter;
  std::string host_path;        // kUnix: socket_host_path()
  std::string queue_directory;  // smtpd's working directory (and chroot)
  bool chrooted = false;
  std::optional<RunAs> as;  // switch to this user first (root only)
  bool speak = true;        // send the probe request and read the answer
};

struct FileState {
  int error = 0;  // errno of stat(), 0 when it exists
  bool socket = false;
  std::string kind;  // "regular file", "directory", ... when not a socket
};

struct ProbeResult {
  enum class Stage { kSetup, kConnect, kAnswer, kDone };
  Stage stage = Stage::kSetup;  // where it stopped; kDone: connected (and answered)
  int error = 0;                // errno at that stage; ETIMEDOUT for a deadline
  std::string reply;            // the bytes read (kAnswer, kDone)
  std::string detail;           // why, when there is no errno
};

class WiringProbe {
 public:
  virtual ~WiringProbe() = default;
  // Can chroot and change user (root)?
  virtual bool privileged() const = 0;
  virtual std::optional<RunAs> user(const std::string& name) = 0;
  virtual FileState stat(const std::string& path) = 0;
  // Connects (as smtpd would) and, with speak, sends the probe request of the
  // protocol and returns what came back.
  virtual ProbeResult talk(const ProbeTarget& target) = 0;
};

// The sockets esmtp-inspect.yaml gives the daemons (milter.socket,
// policy.listen), to recognise ours among Postfix's milters and policy
// services and to name them in fixes. A socket whose name contains
// "esmtp-inspect" is taken as ours too.
struct OurSockets {
  std::string config_file;                  // where they come from; "" for the built-in defaults
  std::vector<std::string> milter, policy;  // as written in the YAML
};

struct WiringInput {
  PostconfValues main;  // postconf -x: main.cf, restriction class definitions included
  std::vector<MasterService> services;  // postconf -M
  ServiceOverrides overrides;           // postconf -xP
  OurSockets ours;
};

// One smtpd service as checked, for the report's header and JSON.
struct SmtpdService {
  std::string id;  // "smtp/inet"
  bool chrooted = false;
  std::string queue_directory;
  std::string user;                   // who it runs as
  std::vector<std::string> milters;   // elements of its effective smtpd_milters
  std::vector<std::string> policies;  // its check_policy_service servers
};

struct WiringReport {
  std::vector<SmtpdService> services;
  std::vector<Finding> findings;
};

WiringReport check_wiring(const WiringInput& input, WiringProbe& probe);

// Single quotes for a shell: 'it'\''s'.
std::string shell_quote(std::string_view s);

}  // namespace esmtp::selfcheck
