// The resolver's answer cache (common/dns/dns_cache.h) on a clock the test
// moves: answers last exactly their TTL, negative ones too, and the cache
// holds at most its capacity, least recently used first out.
#include "common/dns/dns_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "common/dns/dns_message.h"

namespace esmtp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class DnsCacheTest : public ::testing::Test {
 protected:
  DnsCache make(std::size_t capacity) {
    return DnsCache(capacity, [now = now_] { return *now; });
  }
  void advance(Clock::duration d) { *now_ += d; }

  static DnsAnswer ok(const char* address, std::chrono::seconds ttl) {
    DnsAnswer a;
    a.status = DnsStatus::kOk;
    a.addresses = {*IpAddress::parse(address)};
    a.ttl = ttl;
    return a;
  }
  static DnsAnswer none(std::chrono::seconds ttl) {
    DnsAnswer a;
    a.status = DnsStatus::kNone;
    a.ttl = ttl;
    return a;
  }

 private:
  std::shared_ptr<Clock::time_point> now_ = std::make_shared<Clock::time_point>(Clock::now());
};

TEST_F(DnsCacheTest, KeyIsTypeAndName) {
  EXPECT_EQ(dns_cache_key(kDnsTypePtr, "5.113.0.203.in-addr.arpa"), "12 5.113.0.203.in-addr.arpa");
  EXPECT_NE(dns_cache_key(kDnsTypeA, "mx.example.org"),
            dns_cache_key(kDnsTypeAaaa, "mx.example.org"));
}

TEST_F(DnsCacheTest, HitUntilTheTtlAndNotAtIt) {
  DnsCache c = make(10);
  const std::string key = dns_cache_key(kDnsTypeA, "mx.example.org");
  EXPECT_FALSE(c.get(key));
  c.put(key, ok("203.0.113.5", 2s));
  auto hit = c.get(key);
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit->from_cache);
  EXPECT_EQ(hit->status, DnsStatus::kOk);
  EXPECT_EQ(hit->addresses.size(), 1u);
  EXPECT_EQ(hit->addresses[0].str(), "203.0.113.5");
  EXPECT_EQ(hit->ttl, 2s);
  // What is left, rounded up to whole seconds.
  advance(1ms);
  EXPECT_EQ(c.get(key)->ttl, 2s);
  advance(999ms);
  EXPECT_EQ(c.get(key)->ttl, 1s);
  advance(999ms);
  ASSERT_TRUE(c.get(key));
  EXPECT_EQ(c.get(key)->ttl, 1s);
  advance(1ms);  // 2 s after the put
  EXPECT_FALSE(c.get(key));
  EXPECT_EQ(c.size(), 0u);  // the expired entry went when looked up
}

TEST_F(DnsCacheTest, NegativeAnswersAreKeptForTheirTtlToo) {
  DnsCache c = make(10);
  const std::string key = dns_cache_key(kDnsTypePtr, "8.113.0.203.in-addr.arpa");
  c.put(key, none(45s));
  advance(45s - 1ns);
  auto hit = c.get(key);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->status, DnsStatus::kNone);
  EXPECT_TRUE(hit->addresses.empty());
  EXPECT_EQ(hit->ttl, 1s);
  advance(1ns);
  EXPECT_FALSE(c.get(key));
}

TEST_F(DnsCacheTest, PutAgainReplacesTheAnswerAndItsTtl) {
  DnsCache c = make(10);
  const std::string key = dns_cache_key(kDnsTypeA, "mx.example.org");
  c.put(key, ok("203.0.113.5", 2s));
  advance(1s);
  c.put(key, ok("203.0.113.6", 60s));
  EXPECT_EQ(c.size(), 1u);
  advance(59s);
  auto hit = c.get(key);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->addresses[0].str(), "203.0.113.6");
  EXPECT_EQ(hit->ttl, 1s);
  advance(1s);
  EXPECT_FALSE(c.get(key));
}

TEST_F(DnsCacheTest, BoundedLeastRecentlyUsedFirstOut) {
  DnsCache c = make(3);
  auto key = [](int i) { return dns_cache_key(kDnsTypeA, "h" + std::to_string(i) + ".example"); };
  for (int i = 0; i < 5; ++i) {
    c.put(key(i), ok("192.0.2.1", 300s));
    EXPECT_LE(c.size(), 3u);
  }
  // In the cache: 4 3 2. A hit on 2 keeps it; the next put pushes out 3.
  EXPECT_FALSE(c.get(key(0)));
  EXPECT_FALSE(c.get(key(1)));
  EXPECT_TRUE(c.get(key(2)));
  c.put(key(5), ok("192.0.2.1", 300s));
  EXPECT_FALSE(c.get(key(3)));
  EXPECT_TRUE(c.get(key(2)));
  EXPECT_TRUE(c.get(key(4)));
  EXPECT_TRUE(c.get(key(5)));
  EXPECT_EQ(c.size(), 3u);
}

TEST_F(DnsCacheTest, ExpiredEntriesStillCountUntilPushedOut) {
  DnsCache c = make(2);
  c.put(dns_cache_key(kDnsTypeA, "short.example"), ok("192.0.2.1", 1s));
  c.put(dns_cache_key(kDnsTypeA, "long.example"), ok("192.0.2.2", 300s));
  advance(5s);
  EXPECT_EQ(c.size(), 2u);
  c.put(dns_cache_key(kDnsTypeA, "new.example"), ok("192.0.2.3", 300s));
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.get(dns_cache_key(kDnsTypeA, "long.example")));
  EXPECT_TRUE(c.get(dns_cache_key(kDnsTypeA, "new.example")));
}

TEST_F(DnsCacheTest, CapacityZeroKeepsNothing) {
  DnsCache c = make(0);
  c.put(dns_cache_key(kDnsTypeA, "mx.example.org"), ok("203.0.113.5", 300s));
  EXPECT_FALSE(c.get(dns_cache_key(kDnsTypeA, "mx.example.org")));
  EXPECT_EQ(c.size(), 0u);
}

TEST_F(DnsCacheTest, TheRealClockByDefault) {
  DnsCache c(10);
  c.put("1 mx.example.org", ok("203.0.113.5", 300s));
  auto hit = c.get("1 mx.example.org");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->ttl, 300s);
}

}  // namespace
}  // namespace esmtp
