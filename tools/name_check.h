// name_check: does a host name agree with an address in the DNS?
//
// The question behind the banner/HELO/PTR consistency of esmtp-inspect(1), asked
// about our own server by the operator tools (`esmtp-inspect probe` about a
// banner name and the address it answered on, `esmtp-inspect selfcheck` about
// myhostname / smtp_helo_name and the addresses Postfix uses). The identity
// checks of the daemons (common/engine/identity.h) ask it about a client; this is
// the same DNS work, shaped for a report rather than a verdict:
//
//   forward   A/AAAA of the name       -> does it include the address?
//   ptr       PTR of the address       -> is the name among the PTR names?
//   confirmed PTR names whose A/AAAA include the address (FCrDNS)
//
// All lookups run in parallel on the resolver and the call returns by the
// deadline; what has not arrived by then is kTempError ("timeout").
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/dns/dns_resolver.h"
#include "common/util/net.h"

namespace esmtp {

struct NameAddressCheck {
  std::string name;  // lower case, no trailing dot
  IpAddress address;
  DnsAnswer forward;                         // A/AAAA of name
  DnsAnswer ptr;                             // PTR of address
  std::vector<std::string> confirmed_names;  // PTR names that resolve back to address

  // The name's A/AAAA records include the address.
  bool forward_matches() const;
  // One of the address's PTR names is the name (case-insensitive).
  bool ptr_matches() const;
  // The address has a forward-confirmed PTR name (any name).
  bool fcrdns() const { return !confirmed_names.empty(); }
  // Both ways: what receiving servers expect of a sender's HELO name.
  bool consistent() const { return forward_matches() && ptr_matches(); }
  // A lookup this check depends on could not be answered (retry later).
  bool temperror() const;
};

// Blocking; returns by `deadline` (pass now + resolver.budget() for the
// resolver's own limit; forward lookups of the PTR names start when the PTR
// answer is in, so allow two budgets for a complete answer).
NameAddressCheck check_name_address(DnsResolver& resolver, std::string_view name,
                                    const IpAddress& address,
                                    std::chrono::steady_clock::time_point deadline);

}  // namespace esmtp
