// dns_names: the names the resolver asks for and the servers it asks.
//
//   dns_reverse_name("203.0.113.5")   "5.113.0.203.in-addr.arpa"; IPv6 gives
//                                     32 nibbles + "ip6.arpa"
//   dns_query_name("MX.Example.org.") "mx.example.org": one trailing dot
//                                     dropped, lower case; nullopt when the
//                                     name cannot be a host name (empty or
//                                     over 63-octet labels, over 253 octets,
//                                     characters beyond letters, digits, '-'
//                                     and '_')
//   parse_dns_server(TEXT)            a configured server: "192.0.2.1",
//                                     "192.0.2.1:5353", "2001:db8::1",
//                                     "[2001:db8::1]:5353" (port 53 when
//                                     none); nullopt for anything else,
//                                     including MTA forms ("IPv6:...")
//
// Inputs are names from SMTP clients and configuration text: all are checked
// before they reach c-ares (which has escape handling of its own).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/util/net.h"

namespace esmtp {

std::string dns_reverse_name(const IpAddress& ip);
std::optional<std::string> dns_query_name(std::string_view name);

struct DnsServer {
  IpAddress address;
  int port = 53;
};
std::optional<DnsServer> parse_dns_server(std::string_view text);

}  // namespace esmtp
