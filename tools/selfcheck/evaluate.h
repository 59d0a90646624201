// evaluate: the checks of `esmtp-inspect selfcheck` that need only Postfix's
// settings and the DNS (selfcheck.h lists them all): names (banner name, HELO
// name and myhostname are FQDNs and agree), addresses (which addresses send
// and receive), helo_ptr and banner_dns (each name/address pair through
// tools/name_check.h) and certificate (covers the banner name, validity,
// self-signed). The wiring check is wiring.h's; selfcheck.h adds it.
//
// Inputs: `postconf -x` values, the resolver (every pair is checked at once,
// each within EvaluateOptions::dns_wait), the certificate files the settings
// name. Findings come grouped by check in the order an operator fixes them
// (sort_findings()).
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
#include "tools/selfcheck/finding.h"
#include "tools/selfcheck/postconf.h"
#include "tools/selfcheck/wiring.h"
#include "tools/severity.h"

namespace esmtp::selfcheck {

struct AddressUse {
  IpAddress address;
  std::string source;  // "smtp_bind_address", "inet_interfaces", "--address", ...
};

struct Report {
  PostconfValues settings;
  std::string myhostname, banner_name, helo_name;
  std::vector<AddressUse> sending, receiving;
  std::vector<CertificateInfo> certificates;
  std::vector<SmtpdService> smtpd;  // from the wiring check
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

// Stable: by check (names, addresses, helo_ptr, banner_dns, certificate,
// wiring), each check's findings in the order they were made.
void sort_findings(std::vector<Finding>& findings);

}  // namespace esmtp::selfcheck
