// wiring: esmtp-inspect's milter and policy sockets as Postfix's smtpd will
// use them (the wiring part of selfcheck in esmtp-inspect(1)).
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
// The checks are pure functions over these values (parsed by
// smtpd_settings.h) and a WiringProbe, which unit tests fake; SystemProbe
// (socket_probe.h) is the real one and owns the probe protocols.
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
#include "tools/selfcheck/smtpd_settings.h"

namespace esmtp::selfcheck {

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
