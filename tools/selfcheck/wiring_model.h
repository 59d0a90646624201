// wiring_model: what check_wiring() (wiring.h) works on, shared by its parts.
// Internal to tools/selfcheck; not installed.
//
// check_wiring() first builds the model (wiring_services.cc: each smtpd
// service with its effective values, and each milter or policy server one of
// them uses), then runs the checks over it, each adding findings to the same
// report, in this order:
//   wiring_services.cc   users smtpd runs as
//   wiring_sockets.cc    each socket as smtpd opens it (fixes: wiring_socket_fixes.cc)
//   wiring_settings.cc   milter_default_action, milter_protocol for our milter
//   wiring_placement.cc  check_policy_service after reject_unauth_destination,
//                        and the suggestion when nothing uses esmtp-inspect
//
// Thread-safety: a WiringContext is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/selfcheck/wiring.h"

namespace esmtp::selfcheck::wiring {

// The restriction lists smtpd evaluates (restriction classes aside).
inline constexpr std::string_view kRestrictionLists[] = {
    "smtpd_client_restrictions",      "smtpd_helo_restrictions",      "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",       "smtpd_recipient_restrictions", "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
};

const char* protocol_name(Protocol p);  // "milter", "policy service"
const char* daemon_name(Protocol p);    // "esmtp-inspect-milter", "esmtp-inspect-policyd"
const char* default_name(Protocol p);   // "esmtp-inspect/milter.sock", ...

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

std::vector<OurSocket> our_sockets(const OurSockets& o);

// Does our listening host `ours` take connections made to `theirs`?
bool same_host(std::string_view ours, std::string_view theirs);

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
  std::string get(std::string_view name) const;
  // The postconf line that sets `name` where this service takes it from.
  // A one-word value of a scalar parameter is written bare (name=value),
  // a list always as 'name = value'.
  std::string setter(std::string_view name, std::string_view value) const;
  // Where a value comes from: "main.cf" or "master.cf -o of smtp/inet".
  std::string origin(std::string_view name) const;
};

// Restriction classes this service knows, by name.
std::map<std::string, std::vector<Restriction>> restriction_classes(const Smtpd& s);

// One milter or policy server as one smtpd uses it.
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
std::string refusal(const Use& u);

// The list `param` of this service with the element `spec` replaced.
std::string replaced_list(const Use& u, const std::string& new_text);

// The input, the probe, the model built from them and the report being built.
// smtpds is complete before uses is filled (a Use points into it), and uses
// before the checks run (they keep pointers into it).
struct WiringContext {
  WiringContext(const WiringInput& input, WiringProbe& p)
      : in(input), probe(p), ours(our_sockets(input.ours)) {}

  const WiringInput& in;
  WiringProbe& probe;
  std::vector<OurSocket> ours;
  std::vector<Smtpd> smtpds;
  std::vector<Use> uses;
  WiringReport report;

  void add(Severity s, std::string subject, std::string message, std::string meaning = {},
           std::string fix = {});
  // Where our sockets are configured, for fixes: the file or "esmtp-inspect.yaml".
  std::string config_file() const;
};

// ---- wiring_services.cc: the model

// The smtpd services of master.cf, with their effective values (ctx.smtpds).
void find_smtpds(WiringContext& ctx);
// The milters and policy servers they use (ctx.uses) and the report's
// service views.
void collect_uses(WiringContext& ctx);
// mail_owner missing; not running as root.
void check_users(WiringContext& ctx);

// ---- wiring_sockets.cc

void check_sockets(WiringContext& ctx);

// ---- wiring_settings.cc

void check_milter_settings(WiringContext& ctx);

// ---- wiring_placement.cc

void check_policy_placement(WiringContext& ctx);
void check_nothing_configured(WiringContext& ctx);

}  // namespace esmtp::selfcheck::wiring
