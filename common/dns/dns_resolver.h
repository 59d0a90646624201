// dns_resolver: the DNS lookups behind the identity checks (esmtp-inspect.yaml(5),
// IDENTITY CHECKS).
//
// Asynchronous PTR, A and AAAA queries with c-ares: per-query timeout and
// tries from the configuration, servers from the configuration
// ("127.0.0.1:5353", "[::1]:53") or /etc/resolv.conf, and a cache that keeps
// answers for their TTL, bounded in entries (least recently used first out;
// dns_cache.h). Replies are read by dns_message.h.
//
// Outcomes are what the identity checks need:
//   kOk        the name exists and has records of the type asked for;
//   kNone      NXDOMAIN or NODATA: the DNS says there is nothing;
//   kTempError SERVFAIL, REFUSED, timeout, network error: nobody knows.
// Negative answers are cached too (for the SOA minimum TTL when present, else
// 60 s); temporary errors never are.
//
// kTempError's error is one of "timeout", "SERVFAIL", "REFUSED", "FORMERR",
// "NOTIMP", "connection refused", "malformed answer" (anything unexpected in
// the reply: it is not read further), "CNAME chain too long", "overloaded"
// (too many distinct lookups in flight), "cancelled", or c-ares' own message.
// A lookup never takes longer than budget(): past it, it is kTempError
// ("timeout") whatever c-ares is still trying.
//
// Threading: the resolver runs its own thread with the c-ares event loop.
// Callbacks run on that thread and must not block; the policy server posts
// them back to its io_context, the milter waits with a deadline (*_wait()).
// A callback may ask for more lookups, and may even drop the last reference
// to the resolver. All public methods are thread-safe. Destroying the
// resolver cancels pending queries: their callbacks run with kTempError
// ("cancelled") before the destructor returns (when it runs on another
// thread than the resolver's).
//
// Limits: at most kMaxNames PTR names and kMaxAddresses addresses are kept per
// answer (addresses(): each family keeps at least half when both have more);
// PTR names that are not host names (letters, digits, '-', '_'; at most 253
// octets) are dropped, and a PTR answer left with none is kNone. A name
// asked for that cannot be a host name is kNone without a query. Identical
// lookups in flight share one query.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/dns/dns_metrics.h"
#include "common/util/net.h"

namespace esmtp {

inline constexpr std::size_t kMaxNames = 16;
inline constexpr std::size_t kMaxAddresses = 32;

enum class DnsStatus : std::uint8_t { kOk, kNone, kTempError };
std::string_view to_string(DnsStatus s);  // "ok", "none", "temperror"

struct DnsAnswer {
  DnsStatus status = DnsStatus::kTempError;
  std::vector<std::string> names;    // PTR: host names, lower case, no trailing dot
  std::vector<IpAddress> addresses;  // A/AAAA: addresses
  std::chrono::seconds ttl{0};       // how long the answer may be cached (1 s..1 day; what
                                     // is left of it when from_cache)
  std::string error;                 // why, for kTempError ("timeout", "SERVFAIL", ...)
  bool from_cache = false;
};

// What the cache (dns_cache.h) reads the time from; empty: steady_clock::now.
// Deadlines of lookups always run on the real steady clock.
using DnsClock = std::function<std::chrono::steady_clock::time_point()>;

struct DnsOptions {
  std::vector<std::string> servers;  // empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{2000};
  unsigned tries = 2;
  std::size_t cache_entries = 10000;    // 0: no cache
  DnsClock cache_clock;                 // tests: a fake clock to let TTLs run out
  std::shared_ptr<DnsMetrics> metrics;  // counted into when set (dns_metrics.h)
};

struct DnsStats {
  std::uint64_t queries = 0;     // sent to a server
  std::uint64_t cache_hits = 0;  // answered from the cache or by a query in flight
  std::uint64_t timeouts = 0;
  std::size_t cache_size = 0;
};

class DnsResolver {
 public:
  using Callback = std::function<void(const DnsAnswer&)>;

  // Nullptr and a message (naming the bad server string, or c-ares' error)
  // when the resolver cannot be set up.
  static std::unique_ptr<DnsResolver> create(const DnsOptions& options, std::string* error);
  virtual ~DnsResolver() = default;

  // PTR names of an address (in-addr.arpa / ip6.arpa), lower case, without
  // the trailing dot; a CNAME chain (RFC 2317) is followed.
  virtual void ptr(const IpAddress& address, Callback done) = 0;
  // A and AAAA records of a name (any case, trailing dot or not), asked in
  // parallel and merged: kOk when either has records; kTempError when
  // neither has and one failed; kNone when both say there is nothing.
  virtual void addresses(std::string_view name, Callback done) = 0;

  // The longest a lookup can take: timeout x tries.
  virtual std::chrono::milliseconds budget() const = 0;
  virtual DnsStats stats() const = 0;
};

// Blocking helpers for the milter: wait at most `deadline` for the answer; a
// late answer is kTempError("timeout").
DnsAnswer ptr_wait(DnsResolver& r, const IpAddress& address,
                   std::chrono::steady_clock::time_point deadline);
DnsAnswer addresses_wait(DnsResolver& r, std::string_view name,
                         std::chrono::steady_clock::time_point deadline);

}  // namespace esmtp
