// dns_cache: answers by (type, name) until they expire (see the header).
#include "common/dns/dns_cache.h"

#include <algorithm>
#include <utility>

namespace esmtp {

std::string dns_cache_key(std::uint16_t type, std::string_view name) {
  std::string key = std::to_string(type);
  key += ' ';
  key += name;
  return key;
}

DnsCache::DnsCache(std::size_t capacity, DnsClock clock)
    : capacity_(capacity), clock_(std::move(clock)) {}

DnsCache::TimePoint DnsCache::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

std::optional<DnsAnswer> DnsCache::get(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  auto entry = it->second;
  const TimePoint t = now();
  if (entry->expires <= t) {
    index_.erase(it);
    lru_.erase(entry);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  DnsAnswer a = entry->answer;
  a.from_cache = true;
  a.ttl = std::max(std::chrono::seconds(1),
                   std::chrono::ceil<std::chrono::seconds>(entry->expires - t));
  return a;
}

void DnsCache::put(const std::string& key, const DnsAnswer& answer) {
  if (capacity_ == 0) return;
  const TimePoint expires = now() + answer.ttl;
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->answer = answer;
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{key, answer, expires});
  index_.emplace(lru_.front().key, lru_.begin());
  if (lru_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

}  // namespace esmtp
