// selfcheck: `esmtp-inspect selfcheck`, the local Postfix's names against
// the DNS (SPEC section 1 and the selfcheck row of section 9).
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
//                its validity, and whether it is self-signed.
// Every name/address pair goes through common/name_check.h.
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

#include "common/dns_resolver.h"
#include "common/net.h"
#include "tools/selfcheck/certificate.h"
#include "tools/selfcheck/postconf.h"
#include "tools/severity.h"

namespace CLI {
class App;
}

namespace esmtp::selfcheck {

struct Finding {
  Severity severity = Severity::kOk;
  std::string check;    // "names", "helo_ptr", "banner_dns", "certificate", ...
  std::string subject;  // the address, name or file it is about
  std::string message;  // what was found
  std::string meaning;  // why it matters (or does not)
  std::string fix;      // a `postconf -e ...` command or a DNS record; empty when ok
};

struct AddressUse {
  IpAddress address;
  std::string source;  // "smtp_bind_address", "inet_interfaces", "--address", ...
};

struct Report {
  PostconfValues settings;
  std::string myhostname, banner_name, helo_name;
  std::vector<AddressUse> sending, receiving;
  std::vector<CertificateInfo> certificates;
  std::vector<Finding> findings;

  Severity worst() const;
  int exit_code() const;  // 0, 1 or 2 by worst()
};

struct EvaluateOptions {
  std::vector<IpAddress> addresses;          // --address: public/NAT addresses
  std::chrono::milliseconds dns_wait{8000};  // per name/address check
};

// The checks over settings already read; DNS through `resolver`,
// certificates from the files the settings name.
Report evaluate(const PostconfValues& settings, DnsResolver& resolver,
                const EvaluateOptions& options);

std::string format_text(const Report& r);
std::string format_json(const Report& r);

struct Options {
  std::string config_dir;              // -c DIR
  std::string postconf = "postconf";   // --postconf PATH
  std::vector<std::string> addresses;  // --address IP
  std::vector<std::string> dns;        // --dns 127.0.0.1:PORT
  unsigned dns_timeout_ms = 2000;
  bool json = false;
};

using esmtp::kExitCannotRun;

CLI::App* add_selfcheck_command(CLI::App& app, Options& options);
int run_selfcheck(const Options& options);

}  // namespace esmtp::selfcheck
