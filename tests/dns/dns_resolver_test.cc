// Tests of common/dns/dns_resolver.h against real DNS servers: a private unbound
// serving the zones of tests/dns (README.md there has the table), and, for
// what no sane server sends (timeouts, hostile answers), a UDP server in the
// test that answers with bytes the test writes.
#include "common/dns/dns_resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "tests/dns/unbound_server.h"
#include "tools/name_check.h"

namespace esmtp {
namespace {

using namespace std::chrono_literals;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Le;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// The unbound of the whole test program, started on first use.

class UnboundEnvironment : public ::testing::Environment {
 public:
  static test::UnboundServer& server() {
    if (!server_) {
      std::string error;
      server_ = test::UnboundServer::start(&error);
      if (!server_) {
        ADD_FAILURE() << "unbound: " << error;
        std::abort();
      }
    }
    return *server_;
  }
  void TearDown() override { server_.reset(); }

 private:
  static inline std::unique_ptr<test::UnboundServer> server_;
};

[[maybe_unused]] auto* const unbound_environment =
    ::testing::AddGlobalTestEnvironment(new UnboundEnvironment);

IpAddress ip(const char* s) {
  return *IpAddress::parse(s);
}

std::vector<std::string> strs(const std::vector<IpAddress>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) out.push_back(a.str());
  return out;
}

std::unique_ptr<DnsResolver> make_resolver(std::vector<std::string> servers,
                                           std::chrono::milliseconds timeout = 2000ms,
                                           unsigned tries = 2, std::size_t cache = 10000,
                                           DnsClock cache_clock = {}) {
  DnsOptions o;
  o.servers = std::move(servers);
  o.timeout = timeout;
  o.tries = tries;
  o.cache_entries = cache;
  o.cache_clock = std::move(cache_clock);
  std::string error;
  auto r = DnsResolver::create(o, &error);
  EXPECT_TRUE(r) << error;
  return r;
}

std::unique_ptr<DnsResolver> unbound_resolver(std::size_t cache = 10000,
                                              DnsClock cache_clock = {}) {
  return make_resolver({UnboundEnvironment::server().server()}, 2000ms, 2, cache,
                       std::move(cache_clock));
}

// The time the cache sees, which moves only when the test moves it. Read on
// the resolver's thread too, and may outlive the test (a resolver destroyed
// from its own callback finishes on its own).
class FakeClock {
 public:
  DnsClock clock() const {
    return [t = now_] { return Clock::time_point(Clock::duration(t->load())); };
  }
  // Moves to `start` + `d`.
  void set(Clock::time_point start, Clock::duration d) {
    now_->store((start + d).time_since_epoch().count());
  }
  Clock::time_point now() const { return Clock::time_point(Clock::duration(now_->load())); }

 private:
  std::shared_ptr<std::atomic<Clock::rep>> now_ =
      std::make_shared<std::atomic<Clock::rep>>(Clock::now().time_since_epoch().count());
};

DnsAnswer ptr(DnsResolver& r, const char* address) {
  return ptr_wait(r, ip(address), Clock::now() + 10s);
}
DnsAnswer addrs(DnsResolver& r, std::string_view name) {
  return addresses_wait(r, name, Clock::now() + 10s);
}

// ---------------------------------------------------------------------------
// A UDP DNS server in the test: the responder sees each query and returns
// the reply's bytes, or nothing to stay silent.

class FakeServer {
 public:
  using Responder = std::function<std::optional<Bytes>(const Bytes& query)>;

  explicit FakeServer(Responder responder, bool v6 = false, std::chrono::milliseconds delay = 0ms)
      : responder_(std::move(responder)), delay_(delay), v6_(v6) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string server() const { return (v6_ ? "[::1]:" : "127.0.0.1:") + std::to_string(port_); }
  int queries() const { return queries_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      Bytes query(65536);
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      query.resize(static_cast<std::size_t>(n));
      ++queries_;
      auto reply = responder_(query);
      if (!reply) continue;
      if (delay_ > 0ms) std::this_thread::sleep_for(delay_);
      ::sendto(fd_, reply->data(), reply->size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  Responder responder_;
  std::chrono::milliseconds delay_;
  bool v6_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

// Reply building: the header echoes the query's ID and question.
constexpr std::uint16_t kA = 1, kCname = 5, kSoa = 6, kPtr = 12, kAaaa = 28;
constexpr std::uint8_t kNoError = 0, kNxDomain = 3;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
Bytes name(std::string_view dotted) {
  Bytes b;
  while (!dotted.empty()) {
    const auto dot = dotted.find('.');
    const auto label = dotted.substr(0, dot);
    b.push_back(static_cast<std::uint8_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
    dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
  }
  b.push_back(0);
  return b;
}
const Bytes kQname = {0xC0, 0x0C};  // a pointer to the question's name
const Bytes kMx = name("mx.example.org");

std::uint16_t qtype(const Bytes& query) {
  return static_cast<std::uint16_t>(query[query.size() - 4] << 8 | query[query.size() - 3]);
}

struct Rr {
  Bytes owner;
  std::uint16_t type;
  std::uint32_t ttl;
  Bytes rdata;
};

Bytes reply(const Bytes& query, std::uint8_t rcode, const std::vector<Rr>& answers,
            const std::vector<Rr>& authority = {}) {
  Bytes b(query.begin(), query.begin() + 2);
  put16(b, static_cast<std::uint16_t>(0x8180 | rcode));  // QR RD RA
  put16(b, 1);
  put16(b, static_cast<std::uint16_t>(answers.size()));
  put16(b, static_cast<std::uint16_t>(authority.size()));
  put16(b, 0);
  b.insert(b.end(), query.begin() + 12, query.end());
  for (const auto* section : {&answers, &authority}) {
    for (const Rr& r : *section) {
      b.insert(b.end(), r.owner.begin(), r.owner.end());
      put16(b, r.type);
      put16(b, 1);
      put32(b, r.ttl);
      put16(b, static_cast<std::uint16_t>(r.rdata.size()));
      b.insert(b.end(), r.rdata.begin(), r.rdata.end());
    }
  }
  return b;
}

Bytes soa_rdata(std::uint32_t minimum) {
  Bytes b = name("ns.example.org");
  const Bytes mbox = name("hostmaster.example.org");
  b.insert(b.end(), mbox.begin(), mbox.end());
  for (std::uint32_t v : {1u, 3600u, 600u, 86400u, minimum}) put32(b, v);
  return b;
}

// A resolver on a fake server whose PTR answer for any query is `answers`.
struct Hostile {
  explicit Hostile(std::function<Bytes(const Bytes&)> build)
      : server([build](const Bytes& q) { return std::optional<Bytes>(build(q)); }),
        resolver(make_resolver({server.server()}, 500ms, 1)) {}
  FakeServer server;
  std::unique_ptr<DnsResolver> resolver;
};

// ---------------------------------------------------------------------------
// The zones (tests/dns/README.md), one case per row.

class ZoneTest : public ::testing::Test {
 protected:
  std::unique_ptr<DnsResolver> r = unbound_resolver();
};

TEST_F(ZoneTest, GoodFcrdnsV4) {
  auto p = ptr(*r, "203.0.113.5");
  EXPECT_EQ(p.status, DnsStatus::kOk);
  EXPECT_THAT(p.names, ElementsAre("mx.example.org"));
  EXPECT_LE(p.ttl, 300s);  // less when unbound has had it for a while
  EXPECT_GT(p.ttl, 200s);
  EXPECT_FALSE(p.from_cache);
  auto f = addrs(*r, "mx.example.org");
  EXPECT_EQ(f.status, DnsStatus::kOk);
  EXPECT_THAT(strs(f.addresses), ElementsAre("203.0.113.5"));
}

TEST_F(ZoneTest, GoodFcrdnsV6) {
  auto p = ptr(*r, "2001:db8::5");
  EXPECT_EQ(p.status, DnsStatus::kOk);
  EXPECT_THAT(p.names, ElementsAre("mx6.example.org"));
  auto f = addrs(*r, "mx6.example.org");
  EXPECT_EQ(f.status, DnsStatus::kOk);
  EXPECT_THAT(strs(f.addresses), ElementsAre("2001:db8::5"));
}

TEST_F(ZoneTest, PtrWithoutForward) {
  auto p = ptr(*r, "203.0.113.6");
  EXPECT_THAT(p.names, ElementsAre("noforward.example.org"));
  auto f = addrs(*r, "noforward.example.org");  // NODATA for A and AAAA
  EXPECT_EQ(f.status, DnsStatus::kNone);
  EXPECT_TRUE(f.addresses.empty());
  EXPECT_GE(f.ttl, 1s);
  EXPECT_LE(f.ttl, 30s);  // the SOA minimum of example.org
}

TEST_F(ZoneTest, PtrToANameElsewhere) {
  EXPECT_THAT(ptr(*r, "203.0.113.7").names, ElementsAre("elsewhere.example.org"));
  EXPECT_THAT(strs(addrs(*r, "elsewhere.example.org").addresses), ElementsAre("198.51.100.99"));
}

TEST_F(ZoneTest, NoPtrIsNoneWithTheSoaMinimum) {
  auto p = ptr(*r, "203.0.113.8");
  EXPECT_EQ(p.status, DnsStatus::kNone);
  EXPECT_TRUE(p.names.empty());
  EXPECT_GE(p.ttl, 1s);
  EXPECT_LE(p.ttl, 45s);  // the SOA minimum of 113.0.203.in-addr.arpa
  auto again = ptr(*r, "203.0.113.8");
  EXPECT_EQ(again.status, DnsStatus::kNone);
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(ptr(*r, "2001:db8::6").status, DnsStatus::kNone);
}

TEST_F(ZoneTest, MultiplePtrs) {
  auto p = ptr(*r, "203.0.113.9");
  EXPECT_EQ(p.status, DnsStatus::kOk);
  EXPECT_THAT(p.names, UnorderedElementsAre("a.example.org", "b.example.net"));
  EXPECT_THAT(strs(addrs(*r, "a.example.org").addresses), ElementsAre("192.0.2.9"));
  EXPECT_THAT(strs(addrs(*r, "b.example.net").addresses), ElementsAre("203.0.113.9"));
}

TEST_F(ZoneTest, ServfailIsATempError) {
  auto p = ptr(*r, "203.0.113.10");
  EXPECT_EQ(p.status, DnsStatus::kTempError);
  EXPECT_EQ(p.error, "SERVFAIL");
  auto f = addrs(*r, "servfail.example.org");
  EXPECT_EQ(f.status, DnsStatus::kTempError);
  EXPECT_EQ(f.error, "SERVFAIL");
  // Temporary errors are never cached.
  EXPECT_FALSE(ptr(*r, "203.0.113.10").from_cache);
  EXPECT_EQ(r->stats().cache_size, 0u);
}

TEST_F(ZoneTest, RefusedIsATempError) {
  auto p = ptr(*r, "203.0.113.16");
  EXPECT_EQ(p.status, DnsStatus::kTempError);
  EXPECT_EQ(p.error, "REFUSED");
  EXPECT_EQ(addrs(*r, "refused.example.org").error, "REFUSED");
}

TEST_F(ZoneTest, ClasslessReverseDelegationThroughACname) {
  auto p = ptr(*r, "203.0.113.11");  // RFC 2317
  EXPECT_EQ(p.status, DnsStatus::kOk);
  EXPECT_THAT(p.names, ElementsAre("classless.example.org"));
  EXPECT_THAT(strs(addrs(*r, "classless.example.org").addresses), ElementsAre("203.0.113.11"));
}

TEST_F(ZoneTest, AtMostMaxNamesPtrs) {
  auto p = ptr(*r, "203.0.113.12");
  EXPECT_EQ(p.status, DnsStatus::kOk);
  EXPECT_THAT(p.names, SizeIs(kMaxNames));
}

TEST_F(ZoneTest, PtrNamesInLowerCase) {
  EXPECT_THAT(ptr(*r, "203.0.113.14").names, ElementsAre("mixed.example.org"));
  // Names asked in any case, with the root dot, are the same names.
  auto f = addrs(*r, "MiXeD.Example.ORG.");
  EXPECT_EQ(f.status, DnsStatus::kOk);
  EXPECT_THAT(strs(f.addresses), ElementsAre("203.0.113.14"));
}

TEST_F(ZoneTest, PtrThatIsNotAHostNameIsDropped) {
  auto p = ptr(*r, "203.0.113.15");  // "bad\032name.example.org"
  EXPECT_EQ(p.status, DnsStatus::kNone);
  EXPECT_TRUE(p.names.empty());
}

TEST_F(ZoneTest, PublicSuffixNames) {
  EXPECT_THAT(ptr(*r, "203.0.113.20").names, ElementsAre("mx.example.co.uk"));
  EXPECT_THAT(strs(addrs(*r, "mail.example.co.uk").addresses), ElementsAre("203.0.113.20"));
}

TEST_F(ZoneTest, HeloNames) {
  EXPECT_THAT(strs(addrs(*r, "mx.example.org").addresses), ElementsAre("203.0.113.5"));
  EXPECT_THAT(strs(addrs(*r, "helo-elsewhere.example.org").addresses),
              ElementsAre("198.51.100.50"));
  auto nx = addrs(*r, "nxhelo.example.org");
  EXPECT_EQ(nx.status, DnsStatus::kNone);
  EXPECT_GE(nx.ttl, 1s);
  EXPECT_LE(nx.ttl, 30s);
}

TEST_F(ZoneTest, AAndAaaaMerged) {
  auto f = addrs(*r, "dual.example.org");
  EXPECT_EQ(f.status, DnsStatus::kOk);
  EXPECT_THAT(strs(f.addresses), ElementsAre("203.0.113.5", "2001:db8::5"));
}

TEST_F(ZoneTest, CnameChains) {
  auto f = addrs(*r, "alias.example.org");  // alias -> alias2 -> mx
  EXPECT_EQ(f.status, DnsStatus::kOk);
  EXPECT_THAT(strs(f.addresses), ElementsAre("203.0.113.5"));
  EXPECT_EQ(addrs(*r, "alias-nodata.example.org").status, DnsStatus::kNone);
  EXPECT_EQ(addrs(*r, "alias-nx.example.org").status, DnsStatus::kNone);
  auto loop = addrs(*r, "loop1.example.org");
  EXPECT_EQ(loop.status, DnsStatus::kTempError);
  EXPECT_EQ(loop.error, "SERVFAIL");
}

TEST_F(ZoneTest, LargeAnswerOverTcpKeepsAShareOfEachFamily) {
  // 40 A and 2 AAAA: the UDP answer is truncated and fetched over TCP.
  auto f = addrs(*r, "many.example.org");
  EXPECT_EQ(f.status, DnsStatus::kOk);
  ASSERT_THAT(f.addresses, SizeIs(kMaxAddresses));
  const auto v6 = std::count_if(f.addresses.begin(), f.addresses.end(),
                                [](const IpAddress& a) { return a.v6; });
  EXPECT_EQ(v6, 2);
}

TEST_F(ZoneTest, NamesThatCannotExistAreNoneWithoutAQuery) {
  for (const char* bad : {"", ".", "a..b", "bad name.example.org", "x\\.example.org",
                          "[203.0.113.5]", "-.example.org\n"}) {
    auto f = addrs(*r, bad);
    EXPECT_EQ(f.status, DnsStatus::kNone) << bad;
  }
  EXPECT_EQ(addrs(*r, std::string(64, 'a') + ".example.org").status, DnsStatus::kNone);
  EXPECT_EQ(r->stats().queries, 0u);
}

// ---------------------------------------------------------------------------
// The cache.

TEST(DnsCache, HitsUntilTheTtlRunsOut) {
  FakeClock clock;
  const auto start = clock.now();
  auto r = unbound_resolver(10000, clock.clock());
  auto first = addrs(*r, "ttl2.example.org");  // TTL 2 (A; the AAAA NODATA: 30)
  ASSERT_EQ(first.status, DnsStatus::kOk);
  EXPECT_FALSE(first.from_cache);
  EXPECT_GE(first.ttl, 1s);  // less than 2 s when unbound has had it for a second
  EXPECT_LE(first.ttl, 2s);
  const auto queries = r->stats().queries;
  auto second = addrs(*r, "ttl2.example.org");
  EXPECT_TRUE(second.from_cache);
  EXPECT_THAT(strs(second.addresses), ElementsAre("192.0.2.2"));
  EXPECT_EQ(second.ttl, first.ttl);
  EXPECT_EQ(r->stats().queries, queries);
  EXPECT_GE(r->stats().cache_hits, 2u);  // A and AAAA
  // The last millisecond of the TTL: still a hit, with a second left.
  clock.set(start, first.ttl - 1ms);
  auto last = addrs(*r, "ttl2.example.org");
  EXPECT_TRUE(last.from_cache);
  EXPECT_EQ(last.ttl, 1s);
  EXPECT_EQ(r->stats().queries, queries);
  // The TTL is up: the A record is asked again (the AAAA NODATA is not).
  clock.set(start, first.ttl);
  auto third = addrs(*r, "ttl2.example.org");
  EXPECT_EQ(third.status, DnsStatus::kOk);
  EXPECT_FALSE(third.from_cache);
  EXPECT_THAT(strs(third.addresses), ElementsAre("192.0.2.2"));
  EXPECT_EQ(r->stats().queries, queries + 1);
}

TEST(DnsCache, NegativeAnswersExpireAtTheirTtl) {
  FakeClock clock;
  const auto start = clock.now();
  auto r = unbound_resolver(10000, clock.clock());
  auto p = ptr(*r, "203.0.113.8");  // no PTR: the SOA minimum, 45 s
  ASSERT_EQ(p.status, DnsStatus::kNone);
  EXPECT_GE(p.ttl, 1s);
  EXPECT_LE(p.ttl, 45s);
  clock.set(start, p.ttl - 1ms);
  auto cached = ptr(*r, "203.0.113.8");
  EXPECT_EQ(cached.status, DnsStatus::kNone);
  EXPECT_TRUE(cached.from_cache);
  EXPECT_EQ(cached.ttl, 1s);
  EXPECT_EQ(r->stats().queries, 1u);
  clock.set(start, p.ttl);
  auto again = ptr(*r, "203.0.113.8");
  EXPECT_EQ(again.status, DnsStatus::kNone);
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(r->stats().queries, 2u);
}

TEST(DnsCache, CachedAnswersComeBackOnTheCallersThreadAtOnce) {
  auto r = unbound_resolver();
  ASSERT_EQ(addrs(*r, "mx.example.org").status, DnsStatus::kOk);
  ASSERT_EQ(ptr(*r, "203.0.113.5").status, DnsStatus::kOk);
  // Both in the cache: the callback runs inside the call, on this thread,
  // without a trip through the resolver's thread.
  for (int i = 0; i < 2; ++i) {
    std::optional<DnsAnswer> got;
    std::thread::id on;
    auto done = [&](const DnsAnswer& a) {
      got = a;
      on = std::this_thread::get_id();
    };
    if (i == 0)
      r->addresses("mx.example.org", done);
    else
      r->ptr(ip("203.0.113.5"), done);
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_TRUE(got->from_cache);
    EXPECT_EQ(on, std::this_thread::get_id());
  }
  EXPECT_GE(r->stats().cache_hits, 3u);  // A, AAAA and PTR
}

TEST(DnsCache, PtrTtlFromTheAnswer) {
  FakeClock clock;
  const auto start = clock.now();
  auto r = unbound_resolver(10000, clock.clock());
  auto p = ptr(*r, "203.0.113.13");  // PTR with TTL 2
  ASSERT_EQ(p.status, DnsStatus::kOk);
  EXPECT_GE(p.ttl, 1s);
  EXPECT_LE(p.ttl, 2s);
  EXPECT_TRUE(ptr(*r, "203.0.113.13").from_cache);
  clock.set(start, p.ttl - 1ms);
  EXPECT_TRUE(ptr(*r, "203.0.113.13").from_cache);
  clock.set(start, p.ttl);
  auto again = ptr(*r, "203.0.113.13");
  EXPECT_EQ(again.status, DnsStatus::kOk);
  EXPECT_FALSE(again.from_cache);
  EXPECT_THAT(again.names, ElementsAre("ttl2.example.org"));
}

TEST(DnsCache, BoundedLeastRecentlyUsedFirstOut) {
  auto r = unbound_resolver(/*cache=*/3);
  const char* addresses[] = {"203.0.113.5", "203.0.113.6",  "203.0.113.7",  "203.0.113.8",
                             "203.0.113.9", "203.0.113.11", "203.0.113.14", "203.0.113.20"};
  for (const char* a : addresses) {
    EXPECT_NE(ptr(*r, a).status, DnsStatus::kTempError) << a;
    EXPECT_LE(r->stats().cache_size, 3u);
  }
  // Cache now: .20 .14 .11. Using .11 keeps it; .5 pushes out .14.
  EXPECT_TRUE(ptr(*r, "203.0.113.11").from_cache);
  EXPECT_FALSE(ptr(*r, "203.0.113.5").from_cache);
  EXPECT_TRUE(ptr(*r, "203.0.113.11").from_cache);
  EXPECT_FALSE(ptr(*r, "203.0.113.14").from_cache);
  EXPECT_EQ(r->stats().cache_size, 3u);
}

TEST(DnsCache, ZeroEntriesDisablesIt) {
  auto r = unbound_resolver(/*cache=*/0);
  EXPECT_FALSE(ptr(*r, "203.0.113.5").from_cache);
  EXPECT_FALSE(ptr(*r, "203.0.113.5").from_cache);
  EXPECT_EQ(r->stats().queries, 2u);
  EXPECT_EQ(r->stats().cache_size, 0u);
}

TEST(DnsCache, IdenticalQueriesInFlightAreAskedOnce) {
  FakeServer slow(
      [](const Bytes& q) {
        return std::optional<Bytes>(
            reply(q, kNoError, {{kQname, kPtr, 60, name("mx.example.org")}}));
      },
      false, 200ms);
  auto r = make_resolver({slow.server()}, 2000ms, 1, /*cache=*/0);
  std::mutex mu;
  std::vector<DnsAnswer> answers;
  for (int i = 0; i < 20; ++i)
    r->ptr(ip("203.0.113.5"), [&](const DnsAnswer& a) {
      std::lock_guard lock(mu);
      answers.push_back(a);
    });
  const auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (answers.size() == 20) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(answers.size(), 20u);
  for (const auto& a : answers) EXPECT_THAT(a.names, ElementsAre("mx.example.org"));
  EXPECT_EQ(slow.queries(), 1);
  EXPECT_EQ(r->stats().queries, 1u);
}

// ---------------------------------------------------------------------------
// Time limits and cancellation.

TEST(DnsTimeout, SilentServerTimesOutWithinTheBudget) {
  FakeServer silent([](const Bytes&) { return std::nullopt; });
  auto r = make_resolver({silent.server()}, 300ms, 2);
  ASSERT_EQ(r->budget(), 600ms);
  const auto start = Clock::now();
  auto a = ptr(*r, "203.0.113.5");
  const auto took = Clock::now() - start;
  EXPECT_EQ(a.status, DnsStatus::kTempError);
  EXPECT_EQ(a.error, "timeout");
  EXPECT_GE(took, r->budget() - 100ms);
  EXPECT_LE(took, r->budget() + 500ms);
  EXPECT_GE(silent.queries(), 2);  // both tries were sent
  EXPECT_EQ(r->stats().timeouts, 1u);
}

TEST(DnsTimeout, AddressesTimeOutWithinTheBudget) {
  FakeServer silent([](const Bytes&) { return std::nullopt; });
  auto r = make_resolver({silent.server()}, 200ms, 3);
  const auto start = Clock::now();
  auto a = addrs(*r, "mx.example.org");
  const auto took = Clock::now() - start;
  EXPECT_EQ(a.status, DnsStatus::kTempError);
  EXPECT_EQ(a.error, "timeout");
  EXPECT_GE(took, r->budget() - 100ms);
  EXPECT_LE(took, r->budget() + 500ms);
}

TEST(DnsTimeout, WaitDeadlineShorterThanTheBudget) {
  FakeServer silent([](const Bytes&) { return std::nullopt; });
  auto r = make_resolver({silent.server()}, 1000ms, 2);
  const auto start = Clock::now();
  auto a = ptr_wait(*r, ip("203.0.113.5"), start + 200ms);
  const auto took = Clock::now() - start;
  EXPECT_EQ(a.status, DnsStatus::kTempError);
  EXPECT_EQ(a.error, "timeout");
  EXPECT_GE(took, 190ms);
  EXPECT_LE(took, 700ms);
  a = addresses_wait(*r, "mx.example.org", Clock::now() + 100ms);
  EXPECT_EQ(a.error, "timeout");
  // The resolver goes with the late callbacks still to run.
}

TEST(DnsTimeout, LateAnswerAfterTheWaitIsHarmless) {
  FakeServer slow(
      [](const Bytes& q) {
        return std::optional<Bytes>(
            reply(q, kNoError, {{kQname, kPtr, 60, name("mx.example.org")}}));
      },
      false, 300ms);
  auto r = make_resolver({slow.server()}, 2000ms, 1);
  auto early = ptr_wait(*r, ip("203.0.113.5"), Clock::now() + 50ms);
  EXPECT_EQ(early.error, "timeout");
  // The same lookup is still in flight: this one joins it and gets the late
  // answer, which reaches the first (abandoned) waiter too.
  auto late = ptr(*r, "203.0.113.5");
  EXPECT_EQ(late.status, DnsStatus::kOk);
  EXPECT_THAT(late.names, ElementsAre("mx.example.org"));
  EXPECT_EQ(slow.queries(), 1);
}

TEST(DnsCancel, DestroyingTheResolverCancelsEverything) {
  FakeServer silent([](const Bytes&) { return std::nullopt; });
  auto r = make_resolver({silent.server()}, 5000ms, 2);
  std::mutex mu;
  std::vector<DnsAnswer> answers;
  auto record = [&](const DnsAnswer& a) {
    std::lock_guard lock(mu);
    answers.push_back(a);
  };
  for (int i = 0; i < 50; ++i) {
    const std::string address = "198.51.100." + std::to_string(i);
    r->ptr(ip(address.c_str()), record);
    r->addresses("host" + std::to_string(i) + ".example.org", record);
  }
  // Wait until the queries are out, then queue more that never start.
  const auto deadline = Clock::now() + 5s;
  while (silent.queries() < 50 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  for (int i = 0; i < 10; ++i) r->ptr(ip("192.0.2.1"), record);
  r.reset();
  std::lock_guard lock(mu);
  ASSERT_EQ(answers.size(), 110u);
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, DnsStatus::kTempError);
    EXPECT_EQ(a.error, "cancelled");
  }
}

TEST(DnsCancel, DestroyedFromItsOwnCallback) {
  FakeServer silent([](const Bytes&) { return std::nullopt; });
  std::shared_ptr<DnsResolver> r = make_resolver({silent.server()}, 100ms, 1);
  std::promise<DnsAnswer> done;
  auto holder = std::make_shared<std::shared_ptr<DnsResolver>>(r);
  r->ptr(ip("203.0.113.5"), [holder, &done](const DnsAnswer& a) {
    holder->reset();  // the last reference goes on the resolver's thread
    done.set_value(a);
  });
  r.reset();
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().error, "timeout");
}

TEST(DnsErrors, ClosedPortIsATempError) {
  int port;
  {
    FakeServer gone([](const Bytes&) { return std::nullopt; });
    port = std::stoi(gone.server().substr(gone.server().rfind(':') + 1));
  }
  auto r = make_resolver({"127.0.0.1:" + std::to_string(port)}, 1000ms, 2);
  const auto start = Clock::now();
  auto a = ptr(*r, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kTempError);
  EXPECT_EQ(a.error, "connection refused");
  EXPECT_LT(Clock::now() - start, r->budget());  // ICMP says so at once
}

// ---------------------------------------------------------------------------
// Servers and options.

TEST(DnsOptionsTest, ServerForms) {
  FakeServer v6(
      [](const Bytes& q) {
        return std::optional<Bytes>(
            reply(q, kNoError, {{kQname, kPtr, 60, name("mx.example.org")}}));
      },
      /*v6=*/true);
  auto r = make_resolver({v6.server()});  // "[::1]:PORT"
  EXPECT_THAT(ptr(*r, "203.0.113.5").names, ElementsAre("mx.example.org"));

  std::string error;
  DnsOptions o;
  for (const char* good : {"192.0.2.1", "192.0.2.1:5353", "::1", "[::1]:5353", "[2001:db8::1]"}) {
    o.servers = {good};
    EXPECT_TRUE(DnsResolver::create(o, &error)) << good << ": " << error;
  }
  for (const char* bad :
       {"", "foo", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:", "[::1", "::1]:53",
        "[192.0.2.1]:53", "IPv6:::1", "192.0.2.1:53x", "[::1]53", "192.0.2.256", " 192.0.2.1"}) {
    o.servers = {"192.0.2.1", bad};
    error.clear();
    EXPECT_FALSE(DnsResolver::create(o, &error)) << bad;
    EXPECT_NE(error.find('"' + std::string(bad) + '"'), std::string::npos) << error;
  }
  o.servers = {};
  EXPECT_TRUE(DnsResolver::create(o, &error)) << error;  // /etc/resolv.conf
  o.tries = 0;
  EXPECT_FALSE(DnsResolver::create(o, &error));
}

TEST(DnsOptionsTest, Budget) {
  auto r = make_resolver({"127.0.0.1:9"}, 1500ms, 3);
  EXPECT_EQ(r->budget(), 4500ms);
  EXPECT_EQ(to_string(DnsStatus::kOk), "ok");
  EXPECT_EQ(to_string(DnsStatus::kNone), "none");
  EXPECT_EQ(to_string(DnsStatus::kTempError), "temperror");
}

TEST(DnsThreads, ManyThreadsAtOnce) {
  auto r = unbound_resolver();
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto p = ptr(*r, i % 2 ? "203.0.113.5" : "203.0.113.8");
        auto f = addrs(*r, i % 3 ? "mx.example.org" : "nxhelo.example.org");
        const bool ok = p.status == (i % 2 ? DnsStatus::kOk : DnsStatus::kNone) &&
                        f.status == (i % 3 ? DnsStatus::kOk : DnsStatus::kNone);
        right += ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right, 100);
  EXPECT_LE(r->stats().queries, 6u);  // at most one per (type, name)
}

// ---------------------------------------------------------------------------
// Answers no sane server sends. Each must give kTempError or a correct
// reading, never a crash (run under ASan too).

TEST(DnsHostile, WellFormedCompressedAnswerIsRead) {
  Hostile h([](const Bytes& q) {
    // The second name is "m2" and a pointer to "example.org" in the first.
    const std::size_t first = reply(q, kNoError, {}).size() + 2 + 10;
    const auto suffix = static_cast<std::uint16_t>(first + 3);
    const Bytes m2 = {2, 'm', '2', static_cast<std::uint8_t>(0xC0 | suffix >> 8),
                      static_cast<std::uint8_t>(suffix)};
    return reply(q, kNoError, {{kQname, kPtr, 60, kMx}, {kQname, kPtr, 60, m2}});
  });
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kOk);
  EXPECT_THAT(a.names, ElementsAre("mx.example.org", "m2.example.org"));
  EXPECT_EQ(a.ttl, 60s);
}

TEST(DnsHostile, OwnerNamesMatchInAnyCase) {
  Hostile h([](const Bytes& q) {
    return reply(q, kNoError,
                 {{name("5.113.0.203.IN-ADDR.ARPA"), kPtr, 0x80000000u, name("MX.Example.ORG")}});
  });
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kOk);
  EXPECT_THAT(a.names, ElementsAre("mx.example.org"));
  EXPECT_EQ(a.ttl, 1s);  // a TTL with the top bit set reads as 0, kept 1 s
}

TEST(DnsHostile, TtlIsCappedAtADay) {
  Hostile h([](const Bytes& q) {
    return reply(q, kNoError, {{kQname, kPtr, 0x7FFFFFFF, name("mx.example.org")}});
  });
  EXPECT_EQ(ptr(*h.resolver, "203.0.113.5").ttl, 86400s);
}

TEST(DnsHostile, NegativeTtlIsTheSmallerOfSoaTtlAndMinimum) {
  Hostile h([](const Bytes& q) {
    return reply(q, kNxDomain, {}, {{name("113.0.203.in-addr.arpa"), kSoa, 100, soa_rdata(7)}});
  });
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kNone);
  EXPECT_EQ(a.ttl, 7s);
  Hostile h2([](const Bytes& q) {
    return reply(q, kNxDomain, {}, {{name("113.0.203.in-addr.arpa"), kSoa, 5, soa_rdata(700)}});
  });
  EXPECT_EQ(ptr(*h2.resolver, "203.0.113.5").ttl, 5s);
  Hostile h3([](const Bytes& q) { return reply(q, kNxDomain, {}); });
  EXPECT_EQ(ptr(*h3.resolver, "203.0.113.5").ttl, 60s);  // no SOA
}

TEST(DnsHostile, CnameChainTtlIsTheSmallest) {
  Hostile h([](const Bytes& q) {
    return reply(q, kNoError,
                 {{kQname, kCname, 50, name("5.0-63.113.0.203.in-addr.arpa")},
                  {name("5.0-63.113.0.203.in-addr.arpa"), kPtr, 300, name("mx.example.org")}});
  });
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_THAT(a.names, ElementsAre("mx.example.org"));
  EXPECT_EQ(a.ttl, 50s);
}

TEST(DnsHostile, RecordsForOtherNamesAreIgnored) {
  Hostile h([](const Bytes& q) {
    return reply(q, kNoError, {{name("6.113.0.203.in-addr.arpa"), kPtr, 60, name("evil.example")}});
  });
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kNone);
  EXPECT_TRUE(a.names.empty());
}

TEST(DnsHostile, AnswerToAnotherQuestion) {
  Hostile h([](const Bytes& q) {
    Bytes other = q;
    other[13] = '6';  // "5.113.0.203..." -> "6.113.0.203..."
    return reply(other, kNoError, {{kQname, kPtr, 60, name("evil.example")}});
  });
  // Dropped by c-ares (then the lookup times out) or by the resolver.
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kTempError);
  EXPECT_TRUE(a.names.empty());
}

TEST(DnsHostile, ErrorRcodesAreNamed) {
  for (auto [rcode, error] : {std::pair<std::uint8_t, const char*>{1, "FORMERR"},
                              {2, "SERVFAIL"},
                              {4, "NOTIMP"},
                              {5, "REFUSED"}}) {
    Hostile h([rcode = rcode](const Bytes& q) { return reply(q, rcode, {}); });
    auto a = ptr(*h.resolver, "203.0.113.5");
    EXPECT_EQ(a.status, DnsStatus::kTempError);
    EXPECT_EQ(a.error, error);
  }
}

struct HostileCase {
  const char* what;
  std::function<Bytes(const Bytes&)> build;
  const char* error = "malformed answer";
};

void PrintTo(const HostileCase& c, std::ostream* os) {
  *os << c.what;
}

class DnsHostileMalformed : public ::testing::TestWithParam<HostileCase> {};

TEST_P(DnsHostileMalformed, IsATempError) {
  Hostile h(GetParam().build);
  auto a = ptr(*h.resolver, "203.0.113.5");
  EXPECT_EQ(a.status, DnsStatus::kTempError) << GetParam().what;
  EXPECT_EQ(a.error, GetParam().error);
  EXPECT_TRUE(a.names.empty());
}

Bytes with_counts(Bytes b, std::uint16_t an, std::uint16_t ns) {
  b[6] = static_cast<std::uint8_t>(an >> 8);
  b[7] = static_cast<std::uint8_t>(an);
  b[8] = static_cast<std::uint8_t>(ns >> 8);
  b[9] = static_cast<std::uint8_t>(ns);
  return b;
}

INSTANTIATE_TEST_SUITE_P(
    Answers, DnsHostileMalformed,
    ::testing::Values(
        HostileCase{"huge answer count",
                    [](const Bytes& q) {
                      return with_counts(reply(q, kNoError, {{kQname, kPtr, 60, kMx}}), 65535, 0);
                    }},
        HostileCase{"huge authority count",
                    [](const Bytes& q) {
                      return with_counts(reply(q, kNoError, {{kQname, kPtr, 60, kMx}}), 1, 65535);
                    }},
        HostileCase{"truncated record",
                    [](const Bytes& q) {
                      Bytes b = reply(q, kNoError, {{kQname, kPtr, 60, kMx}});
                      b.resize(b.size() - 5);
                      return b;
                    }},
        HostileCase{"rdlength beyond the end",
                    [](const Bytes& q) {
                      Bytes b = reply(q, kNoError, {{kQname, kPtr, 60, kMx}});
                      const std::size_t at = b.size() - kMx.size() - 2;
                      b[at] = 0x7F;
                      return b;
                    }},
        HostileCase{"PTR name running past its rdata",
                    [](const Bytes& q) {
                      Bytes b = reply(q, kNoError, {{kQname, kPtr, 60, kMx}});
                      b[b.size() - kMx.size() - 1] = 3;  // rdlength 3 of a 16-octet name
                      b.resize(b.size() - kMx.size() + 3);
                      return b;
                    }},
        HostileCase{"PTR rdata longer than its name",
                    [](const Bytes& q) {
                      Bytes rdata = kMx;
                      rdata.push_back(0);
                      return reply(q, kNoError, {{kQname, kPtr, 60, rdata}});
                    }},
        HostileCase{"compression pointer to itself",
                    [](const Bytes& q) {
                      Bytes b = reply(q, kNoError, {});
                      const auto at = static_cast<std::uint16_t>(b.size());
                      Rr loop{{static_cast<std::uint8_t>(0xC0 | at >> 8),
                               static_cast<std::uint8_t>(at)},
                              kPtr,
                              60,
                              kMx};
                      return reply(q, kNoError, {loop});
                    }},
        HostileCase{"label then a pointer back to it",
                    [](const Bytes& q) {
                      Bytes b = reply(q, kNoError, {});
                      const auto rdata = static_cast<std::uint16_t>(b.size() + 2 + 10);
                      Bytes name_rdata = {1, 'x', static_cast<std::uint8_t>(0xC0 | rdata >> 8),
                                          static_cast<std::uint8_t>(rdata)};
                      return reply(q, kNoError, {{kQname, kPtr, 60, name_rdata}});
                    }},
        HostileCase{"forward compression pointer",
                    [](const Bytes& q) {
                      Bytes b = reply(q, kNoError, {});
                      const auto ahead = static_cast<std::uint16_t>(b.size() + 40);
                      return reply(q, kNoError,
                                   {{kQname,
                                     kPtr,
                                     60,
                                     {static_cast<std::uint8_t>(0xC0 | ahead >> 8),
                                      static_cast<std::uint8_t>(ahead)}},
                                    {kQname, kA, 60, {1, 2, 3, 4}},
                                    {kQname, kA, 60, {1, 2, 3, 4}}});
                    }},
        HostileCase{"name longer than 255 octets",
                    [](const Bytes& q) {
                      Bytes n;
                      for (int i = 0; i < 5; ++i) {
                        n.push_back(63);
                        n.insert(n.end(), 63, 'a');
                      }
                      n.push_back(0);
                      return reply(q, kNoError, {{kQname, kPtr, 60, n}});
                    }},
        HostileCase{"extended label type",
                    [](const Bytes& q) {
                      return reply(q, kNoError, {{kQname, kPtr, 60, {0x41, 'x', 0}}});
                    }},
        HostileCase{"CNAME loop",
                    [](const Bytes& q) {
                      return reply(q, kNoError,
                                   {{kQname, kCname, 60, name("a.example.org")},
                                    {name("a.example.org"), kCname, 60, name("b.example.org")},
                                    {name("b.example.org"), kCname, 60, name("a.example.org")}});
                    },
                    "CNAME chain too long"},
        HostileCase{"CNAME chain too long",
                    [](const Bytes& q) {
                      // Short names: the answer must fit in 512 octets.
                      std::vector<Rr> chain{{kQname, kCname, 60, name("c0")}};
                      for (int i = 0; i < 10; ++i)
                        chain.push_back({name(fmt::format("c{}", i)), kCname, 60,
                                         name(fmt::format("c{}", i + 1))});
                      chain.push_back({name("c10"), kPtr, 60, kMx});
                      return reply(q, kNoError, chain);
                    },
                    "CNAME chain too long"},
        HostileCase{"NXDOMAIN with the records asked for",
                    [](const Bytes& q) {
                      return reply(q, kNxDomain, {{kQname, kPtr, 60, kMx}});
                    }},
        HostileCase{
            "SOA too short",
            [](const Bytes& q) {
              Bytes soa = soa_rdata(7);
              soa.resize(soa.size() - 2);
              return reply(q, kNxDomain, {}, {{name("113.0.203.in-addr.arpa"), kSoa, 60, soa}});
            }},
        // c-ares drops it and waits for a real answer.
        HostileCase{"too short for a header",
                    [](const Bytes& q) { return Bytes(q.begin(), q.begin() + 5); }, "timeout"}),
    [](const ::testing::TestParamInfo<HostileCase>& param) {
      std::string n;
      for (const char* p = param.param.what; *p; ++p) n += std::isalnum(*p) ? *p : '_';
      return n;
    });

TEST(DnsHostile, AddressRecordsOfTheWrongSize) {
  Hostile h([](const Bytes& q) {
    if (qtype(q) == kAaaa) return reply(q, kNoError, {});
    return reply(q, kNoError, {{kQname, kA, 60, {203, 0, 113, 5, 0}}});
  });
  auto a = addrs(*h.resolver, "mx.example.org");
  // A failed, AAAA says there is nothing: nobody knows.
  EXPECT_EQ(a.status, DnsStatus::kTempError);
  EXPECT_EQ(a.error, "malformed answer");
}

TEST(DnsHostile, ManyAddressRecordsAreCapped) {
  Hostile h([](const Bytes& q) {
    std::vector<Rr> rrs;
    const bool v6 = qtype(q) == kAaaa;
    // As many as fit in 512 octets (c-ares asks without EDNS).
    for (int i = 0; i < (v6 ? 16 : 28); ++i) {
      Bytes rdata(v6 ? 16 : 4, 0);
      rdata[0] = v6 ? 0x20 : 198;
      rdata.back() = static_cast<std::uint8_t>(i);
      rrs.push_back({kQname, v6 ? kAaaa : kA, 60, rdata});
    }
    return reply(q, kNoError, rrs);
  });
  auto a = addrs(*h.resolver, "many.example.org");
  EXPECT_EQ(a.status, DnsStatus::kOk);
  ASSERT_THAT(a.addresses, SizeIs(kMaxAddresses));
  const auto v6 = std::count_if(a.addresses.begin(), a.addresses.end(),
                                [](const IpAddress& x) { return x.v6; });
  EXPECT_EQ(v6, static_cast<long>(kMaxAddresses / 2));
}

// ---------------------------------------------------------------------------
// name_check: a host name against an address, both ways.

NameAddressCheck name_check(DnsResolver& r, const char* name, const char* address) {
  return check_name_address(r, name, ip(address), Clock::now() + 10s);
}

TEST(NameCheck, ConsistentBothWays) {
  auto r = unbound_resolver();
  auto c = name_check(*r, "MX.Example.org.", "203.0.113.5");
  EXPECT_EQ(c.name, "mx.example.org");
  EXPECT_TRUE(c.forward_matches());
  EXPECT_TRUE(c.ptr_matches());
  EXPECT_TRUE(c.consistent());
  EXPECT_THAT(c.confirmed_names, ElementsAre("mx.example.org"));
  EXPECT_FALSE(c.temperror());
  EXPECT_TRUE(name_check(*r, "mx6.example.org", "2001:db8::5").consistent());
}

TEST(NameCheck, NameElsewhereAndPtrToAnotherName) {
  auto r = unbound_resolver();
  // elsewhere.example.org is the PTR of 203.0.113.7 but points to 198.51.100.99.
  auto c = name_check(*r, "elsewhere.example.org", "203.0.113.7");
  EXPECT_TRUE(c.ptr_matches());
  EXPECT_FALSE(c.forward_matches());
  EXPECT_FALSE(c.fcrdns());
  EXPECT_FALSE(c.consistent());
  // mx.example.org has 203.0.113.5; 203.0.113.9's PTR names are others, one confirmed.
  auto d = name_check(*r, "mx.example.org", "203.0.113.9");
  EXPECT_FALSE(d.forward_matches());
  EXPECT_FALSE(d.ptr_matches());
  EXPECT_THAT(d.confirmed_names, ElementsAre("b.example.net"));
}

TEST(NameCheck, NoPtrAndUnknownName) {
  auto r = unbound_resolver();
  auto c = name_check(*r, "nothing.example.org", "203.0.113.8");
  EXPECT_EQ(c.ptr.status, DnsStatus::kNone);
  EXPECT_EQ(c.forward.status, DnsStatus::kNone);
  EXPECT_FALSE(c.consistent());
  EXPECT_FALSE(c.temperror());
}

TEST(NameCheck, ServfailIsATempErrorAndTheDeadlineHolds) {
  auto r = unbound_resolver();
  EXPECT_TRUE(name_check(*r, "mx.example.org", "203.0.113.10").temperror());
  FakeServer silent([](const Bytes&) { return std::nullopt; });
  auto s = make_resolver({silent.server()}, 2000ms, 2);
  const auto t0 = Clock::now();
  auto c = check_name_address(*s, "mx.example.org", ip("203.0.113.5"), t0 + 300ms);
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_TRUE(c.temperror());
  EXPECT_EQ(c.ptr.error, "timeout");
}

}  // namespace
}  // namespace esmtp
