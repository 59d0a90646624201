#include "common/dns/dns_metrics.h"

#include <algorithm>

namespace esmtp {

std::string_view DnsMetrics::name(Type t) {
  switch (t) {
    case Type::kPtr:
      return "PTR";
    case Type::kA:
      return "A";
    case Type::kAaaa:
      return "AAAA";
  }
  return "?";
}

std::string_view DnsMetrics::name(Result r) {
  switch (r) {
    case Result::kOk:
      return "ok";
    case Result::kNone:
      return "none";
    case Result::kTempError:
      return "temperror";
    case Result::kTimeout:
      return "timeout";
  }
  return "?";
}

DnsMetrics::Snapshot DnsMetrics::read(Type t, Result r) const {
  const Series& s = series_[index(t, r)];
  Snapshot out;
  // Buckets first, the count after: a lookup counted meanwhile can only make
  // the count larger than the +Inf bucket's share, which the exposition
  // takes as the total, so the buckets never exceed the count.
  std::uint64_t running = 0;
  for (std::size_t b = 0; b < kBuckets.size(); ++b) {
    running += s.buckets[b].load(std::memory_order_relaxed);
    out.cumulative[b] = running;
  }
  running += s.buckets[kBuckets.size()].load(std::memory_order_relaxed);
  out.count = std::max(running, s.count.load(std::memory_order_relaxed));
  out.seconds = static_cast<double>(s.nanoseconds.load(std::memory_order_relaxed)) / 1e9;
  return out;
}

}  // namespace esmtp
