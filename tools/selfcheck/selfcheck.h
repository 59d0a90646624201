// selfcheck: `esmtp-inspect selfcheck`, the local Postfix's names against
// the DNS (selfcheck in esmtp-inspect(1)).
//
// Reads myhostname, smtpd_banner, smtp_helo_name, inet_interfaces,
// proxy_interfaces, smtp_bind_address(6) and the smtpd TLS certificate files
// through `postconf -x` (Postfix expands its own $macros), then checks:
//   names        banner name (start of smtpd_banner), HELO name
//                (smtp_helo_name) and myhostname are FQDNs and agree;
//   helo_ptr     for each sending address, the PTR is the HELO name and the
//                HELO name resolves back (receivers check this: it matters);
//   banner_dns   for each receiving address, the banner name resolves to it
//                and its PTR is the banner name (informational, RFC 5321
//                section 4.2: only outside test tools compare them);
//   certificate  the server certificate covers the banner name, is within
//                its validity, and whether it is self-signed;
//   wiring       esmtp-inspect's milter and policy sockets as each smtpd
//                service of master.cf opens them (chroot, queue_directory,
//                user), milter_default_action, milter_protocol, and the
//                policy check's place after reject_unauth_destination
//                (tools/selfcheck/wiring.h; master.cf read with postconf -M
//                and -xP, esmtp-inspect.yaml for our socket names).
// Every name/address pair goes through tools/name_check.h.
//
// Each finding has a severity, what it means, and a fix (a `postconf -e`
// command or the DNS record to add). Exit codes: 0 nothing worse than info,
// 1 warnings, 2 problems, 3 could not run (postconf failed, bad --address or
// --dns).
//
// Thread-safety: evaluate() runs its DNS checks in parallel on its own
// threads and joins them before returning.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/dns/dns_resolver.h"
#include "common/util/net.h"
#include "tools/selfcheck/certificate.h"
#include "tools/selfcheck/evaluate.h"
#include "tools/selfcheck/finding.h"
#include "tools/selfcheck/postconf.h"
#include "tools/selfcheck/wiring.h"
#include "tools/severity.h"

namespace CLI {
class App;
}

namespace esmtp::selfcheck {

// Adds the wiring check's services and findings to a report, in the order
// findings are shown.
void add_wiring(Report& r, WiringReport wiring);

// The wiring input as postconf shows it: `main` (postconf -x values) plus
// restriction class definitions, `postconf -M`, `postconf -xP` (or -P,
// expanded here). nullopt and *error when postconf -M or -P fails.
std::optional<WiringInput> read_wiring(const std::string& postconf, const std::string& config_dir,
                                       const PostconfValues& main, std::string* error);

std::string format_text(const Report& r);
std::string format_json(const Report& r);

struct Options {
  std::string config_dir;              // -c DIR
  std::string postconf = "postconf";   // --postconf PATH
  std::vector<std::string> addresses;  // --address IP
  std::vector<std::string> dns;        // --dns 127.0.0.1:PORT
  std::string config;                  // --config esmtp-inspect.yaml (our socket names)
  unsigned dns_timeout_ms = 2000;
  bool json = false;
};

using esmtp::kExitCannotRun;

CLI::App* add_selfcheck_command(CLI::App& app, Options& options);
int run_selfcheck(const Options& options);

}  // namespace esmtp::selfcheck
