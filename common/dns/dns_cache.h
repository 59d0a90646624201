// dns_cache: the resolver's cache of DNS answers (dns_resolver.h), by query
// type and name, each kept for its TTL.
//
// An answer put at time T with TTL t is a hit while the clock reads before
// T + t and gone from T + t on; a hit comes back with from_cache set and
// ttl what is left of it, rounded up to whole seconds (at least 1 s).
// Positive and negative (kNone) answers are kept alike; the resolver never
// puts temporary errors. Bounded in entries: beyond `capacity` the least
// recently used (put or hit) goes first; expired entries go when they are
// next looked up or pushed out. A capacity of 0 keeps nothing.
//
// The clock is injectable (DnsClock, default std::chrono::steady_clock::now)
// so that tests can let TTLs run out without waiting for them.
//
// Thread-safety: none; the resolver guards its cache with a mutex. The
// clock is called from whichever thread calls get() or put().
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/dns/dns_resolver.h"

namespace esmtp {

// The key of (query type, query name): "12 5.113.0.203.in-addr.arpa".
std::string dns_cache_key(std::uint16_t type, std::string_view name);

class DnsCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // An empty clock is the real one.
  explicit DnsCache(std::size_t capacity, DnsClock clock = {});

  std::optional<DnsAnswer> get(const std::string& key);
  // Replaces what is there under `key`; keeps answer.ttl from now on.
  void put(const std::string& key, const DnsAnswer& answer);

  std::size_t size() const { return lru_.size(); }

 private:
  struct Entry {
    std::string key;
    DnsAnswer answer;
    TimePoint expires;
  };
  TimePoint now() const;

  std::size_t capacity_;
  DnsClock clock_;
  std::list<Entry> lru_;  // most recently used first
  // Keys are views of Entry::key: list nodes never move.
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace esmtp
