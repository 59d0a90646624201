// dns_message: how a DNS reply becomes a DnsAnswer (the resolver's message
// walker), exposed for the tests and the fuzz target; the resolver is its
// only other user.
//
// Inputs are hostile bytes from the network: every length is checked, names
// are at most 255 octets, compression pointers must point backwards, CNAME
// chains are followed at most 8 hops, and anything unexpected is
// kTempError("malformed answer"). Names kept are host names only. TTLs come
// out clamped to kDnsMinTtl..kDnsMaxTtl; a negative answer is kept for its
// SOA minimum (RFC 2308), or kDnsDefaultNegativeTtl without one.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/dns/dns_resolver.h"

namespace esmtp {

inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypePtr = 12;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsClassIn = 1;

// Cached answers live at least a second (a TTL of 0 would defeat the cache
// for a busy client) and at most a day.
inline constexpr std::uint32_t kDnsMinTtl = 1;
inline constexpr std::uint32_t kDnsMaxTtl = 86400;
// Negative answers without an SOA in the authority section.
inline constexpr std::uint32_t kDnsDefaultNegativeTtl = 60;
// Host names in presentation form (RFC 1035 section 2.3.4 less the dot).
inline constexpr std::size_t kDnsMaxNameLength = 253;

// `status` is c-ares' (ARES_SUCCESS, ARES_ENOTFOUND, ...); `qname` is the
// name asked in lower case without the trailing dot.
DnsAnswer interpret_dns_reply(int status, std::span<const std::uint8_t> reply, std::uint16_t qtype,
                              const std::string& qname);

// kTempError with `why` as its error.
DnsAnswer dns_temp_error(std::string why);

}  // namespace esmtp
