// dns_message: how a DNS reply becomes a DnsAnswer (the resolver's message
// walker), exposed for the tests and the fuzz target; the resolver is its
// only other user.
//
// Inputs are hostile bytes from the network: every length is checked, names
// are at most 255 octets, compression pointers must point backwards, CNAME
// chains are followed at most 8 hops, and anything unexpected is
// kTempError("malformed answer"). Names kept are host names only.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/dns/dns_resolver.h"

namespace esmtp {

inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypePtr = 12;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;

// `status` is c-ares' (ARES_SUCCESS, ARES_ENOTFOUND, ...); `qname` is the
// name asked in lower case without the trailing dot.
DnsAnswer interpret_dns_reply(int status, std::span<const std::uint8_t> reply, std::uint16_t qtype,
                              const std::string& qname);

}  // namespace esmtp
