// dns_metrics: what the resolver counts for esmtp_inspect_dns_* (esmtp-inspect.yaml(5),
// METRICS): lookups sent to a server by type and result, their latency, and
// answers taken from the cache.
//
// One DnsMetrics per daemon, shared by every resolver it makes (a reload with
// a new dns: section makes a new resolver; the counts go on). Counting is a
// relaxed atomic add and never blocks: a scrape reads the counters while the
// resolver thread writes them, and neither waits for the other.
//
// Thread-safety: any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace esmtp {

class DnsMetrics {
 public:
  enum class Type : std::uint8_t { kPtr, kA, kAaaa };
  enum class Result : std::uint8_t { kOk, kNone, kTempError, kTimeout };
  static constexpr std::size_t kTypes = 3;
  static constexpr std::size_t kResults = 4;
  // Upper bounds of the latency buckets in seconds (+Inf is implied): a
  // loopback or LAN resolver answers in well under a millisecond, a remote
  // one in tens of milliseconds, and dns.timeout (2 s by default) ends the
  // rest.
  static constexpr std::array<double, 12> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  static std::string_view name(Type t);    // "PTR", "A", "AAAA"
  static std::string_view name(Result r);  // "ok", "none", "temperror", "timeout"

  // A lookup that went to a server, answered (or given up) after `took`.
  void query(Type t, Result r, std::chrono::nanoseconds took) {
    Series& s = series_[index(t, r)];
    const double seconds = std::chrono::duration<double>(took).count();
    std::size_t b = 0;
    while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
    s.buckets[b].fetch_add(1, std::memory_order_relaxed);  // not cumulative; see Snapshot
    s.count.fetch_add(1, std::memory_order_relaxed);
    s.nanoseconds.fetch_add(static_cast<std::uint64_t>(took.count() < 0 ? 0 : took.count()),
                            std::memory_order_relaxed);
  }
  void cache_hit(std::uint64_t n = 1) { cache_hits_.fetch_add(n, std::memory_order_relaxed); }

  struct Snapshot {
    std::uint64_t count = 0;
    double seconds = 0;
    std::array<std::uint64_t, kBuckets.size()> cumulative{};  // observations <= kBuckets[i]
  };
  Snapshot read(Type t, Result r) const;
  std::uint64_t cache_hits() const { return cache_hits_.load(std::memory_order_relaxed); }

 private:
  struct Series {
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};  // last: +Inf
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> nanoseconds{0};
  };
  static std::size_t index(Type t, Result r) {
    return static_cast<std::size_t>(t) * kResults + static_cast<std::size_t>(r);
  }
  std::array<Series, kTypes * kResults> series_{};
  std::atomic<std::uint64_t> cache_hits_{0};
};

}  // namespace esmtp
