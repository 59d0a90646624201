// Tests of common/store/redis_store.h against a real redis-server started by
// the test (redis_server.h), and, for what no sane server sends, a TCP
// server in the test that answers with bytes the test writes.
#include "common/store/redis_store.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/store/redis_server.h"

namespace esmtp {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = 100ms;
// What a bounded call may take beyond its timeout on a loaded machine (and
// under ASan).
constexpr auto kSlack = 250ms;

// One add() and how long it took.
struct Timed {
  CountResult result;
  Clock::duration elapsed;
};
Timed timed_add(RedisStore& store, std::uint32_t add = 1) {
  const auto start = Clock::now();
  CountResult r = store.add("n", 60s, add, std::chrono::system_clock::now());
  return {std::move(r), Clock::now() - start};
}

std::unique_ptr<test::RedisServer> start_redis(test::RedisServerOptions options = {}) {
  std::string error;
  auto s = test::RedisServer::start(&error, std::move(options));
  if (!s) ADD_FAILURE() << "redis-server: " << error;
  return s;
}

RedisOptions options_for(const test::RedisServer& server) {
  RedisOptions o;
  o.servers = {server.server()};
  o.timeout = kTimeout;
  return o;
}

// A wall-clock time at the start of a slot of `width` seconds, so that tests
// know which slot each `now` falls in.
WallTime slot_start(std::int64_t width, std::int64_t slots_ago = 0) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  return WallTime(std::chrono::seconds((s / width - slots_ago) * width));
}

// A port on 127.0.0.1 where nothing listens (bound, then closed).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A connection of the test's own, to look at what the store wrote.
class Raw {
 public:
  explicit Raw(const test::RedisServer& s) {
    c_ = s.socket_path().empty() ? redisConnect("127.0.0.1", s.port())
                                 : redisConnectUnix(s.socket_path().c_str());
    EXPECT_TRUE(c_ && !c_->err) << (c_ ? c_->errstr : "no memory");
  }
  ~Raw() {
    if (c_) redisFree(c_);
  }
  // The reply as text: an integer's digits, a string, a status, "(nil)",
  // "(error) ...".
  std::string command(std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) return "(no reply)";
    std::string out;
    switch (r->type) {
      case REDIS_REPLY_INTEGER:
        out = std::to_string(r->integer);
        break;
      case REDIS_REPLY_NIL:
        out = "(nil)";
        break;
      case REDIS_REPLY_ERROR:
        out = "(error) " + std::string(r->str, r->len);
        break;
      case REDIS_REPLY_ARRAY:
        out = "(array " + std::to_string(r->elements) + ")";
        break;
      default:
        out = std::string(r->str, r->len);
    }
    freeReplyObject(r);
    return out;
  }
  long long integer(std::vector<std::string> args) { return std::stoll(command(std::move(args))); }

 private:
  redisContext* c_ = nullptr;
};

// ---------------------------------------------------------------------------
// Counting

TEST(RedisStore, CountsAddUpPerCounter) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  const auto now = std::chrono::system_clock::now();
  const std::vector<std::uint64_t> expected = {1, 2, 5, 15};
  const std::vector<std::uint32_t> adds = {1, 1, 3, 10};
  for (std::size_t i = 0; i < adds.size(); ++i) {
    const CountResult r = store.add("harvest:192.0.2.1", 600s, adds[i], now);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.count, expected[i]);
  }
  // Another name, and the same name with another window, count apart.
  EXPECT_EQ(store.add("harvest:192.0.2.2", 600s, 1, now).count, 1u);
  EXPECT_EQ(store.add("harvest:192.0.2.1", 60s, 1, now).count, 1u);
  EXPECT_EQ(store.kind(), "redis");
}

TEST(RedisStore, ReadingChangesNothing) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  Raw raw(*redis);
  const auto now = std::chrono::system_clock::now();
  const CountResult none = store.add("client_rate:198.51.100.7", 60s, 0, now);
  ASSERT_TRUE(none.ok) << none.error;
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(raw.integer({"DBSIZE"}), 0) << "a read created a key";

  ASSERT_EQ(store.add("client_rate:198.51.100.7", 60s, 4, now).count, 4u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(store.add("client_rate:198.51.100.7", 60s, 0, now).count, 4u);
  EXPECT_EQ(raw.integer({"DBSIZE"}), 1);
}

TEST(RedisStore, SlotKeysAreNamedAndExpire) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisOptions o = options_for(*redis);
  o.prefix = "mx-test:";
  RedisStore store(o);
  Raw raw(*redis);
  // A 10 minute window: slots of 60 s, keys kept for 11 slots (660 s).
  const WallTime now = slot_start(60);
  ASSERT_TRUE(store.add("harvest:203.0.113.0/24", 600s, 2, now).ok);
  const std::int64_t slot = SlidingWindow::slot_of(now, 60);
  const std::string key = "mx-test:harvest:203.0.113.0/24:60:" + std::to_string(slot);
  EXPECT_EQ(raw.command({"GET", key}), "2");
  const long long pttl = raw.integer({"PTTL", key});
  EXPECT_GT(pttl, 650'000);
  EXPECT_LE(pttl, 660'000);
  // Every key the store made carries an expiry.
  EXPECT_EQ(raw.command({"KEYS", "*"}), "(array 1)");

  // A short window: slots of 1 s (at least one), expiry 11 s.
  ASSERT_TRUE(store.add("client_rate:x", 5s, 1, now).ok);
  const std::string short_key =
      "mx-test:client_rate:x:1:" + std::to_string(SlidingWindow::slot_of(now, 1));
  const long long short_ttl = raw.integer({"PTTL", short_key});
  EXPECT_GT(short_ttl, 10'000);
  EXPECT_LE(short_ttl, 11'000);
}

TEST(RedisStore, OldSlotsDropOutOfTheWindow) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  // A 100 s window: ten slots of 10 s.
  const WallTime t0 = slot_start(10, 20);  // 200 s ago, at a slot's start
  ASSERT_EQ(store.add("n", 100s, 1, t0).count, 1u);
  ASSERT_EQ(store.add("n", 100s, 2, t0 + 50s).count, 3u);
  // t0's slot is counted until the tenth slot after it begins...
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 99s).count, 3u);
  // ...and not from then on; the slot of t0 + 50 s goes 50 s later.
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 100s).count, 2u);
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 149s).count, 2u);
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 150s).count, 0u);
  // An addition counts from its own slot on: not in a window that ends
  // before it, for a whole window after it.
  EXPECT_EQ(store.add("n", 100s, 5, t0 + 150s).count, 5u);
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 149s).count, 2u);
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 249s).count, 5u);
  EXPECT_EQ(store.add("n", 100s, 0, t0 + 250s).count, 0u);
}

TEST(RedisStore, TwoStoresShareACounter) {
  // Two daemons (two MTAs) pointing at the same server.
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore mx1(options_for(*redis));
  RedisStore mx2(options_for(*redis));
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(mx1.add("harvest:192.0.2.9", 600s, 2, now).count, 2u);
  EXPECT_EQ(mx2.add("harvest:192.0.2.9", 600s, 3, now).count, 5u);
  EXPECT_EQ(mx1.add("harvest:192.0.2.9", 600s, 0, now).count, 5u);
  // A different prefix is a different set of counters.
  RedisOptions other = options_for(*redis);
  other.prefix = "other:";
  EXPECT_EQ(RedisStore(other).add("harvest:192.0.2.9", 600s, 0, now).count, 0u);
}

TEST(RedisStore, ManyThreadsCountExactly) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisOptions o = options_for(*redis);
  o.timeout = 2s;  // correctness here, not latency, on a loaded machine
  o.max_idle = 4;  // fewer idle connections than threads: some are opened and closed
  RedisStore store(o);
  const auto now = std::chrono::system_clock::now();
  constexpr int kThreads = 8, kAdds = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kAdds; ++i)
        if (!store.add("shared", 60s, 1, now).ok) ++failures;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store.add("shared", 60s, 0, now).count, std::uint64_t{kThreads * kAdds});
  // Connections beyond max_idle were closed, not kept: what is left is the
  // pool and the test's own.
  Raw raw(*redis);
  const std::string info = raw.command({"INFO", "clients"});
  const auto at = info.find("connected_clients:");
  ASSERT_NE(at, std::string::npos) << info;
  EXPECT_LE(std::stoi(info.substr(at + 18)), 4 + 1) << info;
}

TEST(RedisStore, UnixSocket) {
  auto redis = start_redis({.password = {}, .unix_socket = true});
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  const auto now = std::chrono::system_clock::now();
  const CountResult r = store.add("n", 60s, 7, now);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.count, 7u);
  EXPECT_EQ(Raw(*redis).integer({"DBSIZE"}), 1);
}

// ---------------------------------------------------------------------------
// Servers, passwords, databases

TEST(RedisStore, FirstAnsweringServerIsUsed) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  const auto now = std::chrono::system_clock::now();
  const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
  RedisOptions o = options_for(*redis);
  o.servers = {dead, redis->server()};
  RedisStore store(o);
  const CountResult r = store.add("n", 60s, 1, now);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.count, 1u);
  EXPECT_EQ(Raw(*redis).integer({"DBSIZE"}), 1);

  // Nobody answers: every server's reason.
  RedisOptions none = options_for(*redis);
  const std::string dead2 = "127.0.0.1:" + std::to_string(closed_port());
  none.servers = {dead, dead2};
  const CountResult f = RedisStore(none).add("n", 60s, 1, now);
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.error, dead + ": connection refused; " + dead2 + ": connection refused");

  RedisOptions empty = options_for(*redis);
  empty.servers.clear();
  EXPECT_EQ(RedisStore(empty).add("n", 60s, 1, now).error, "no redis server configured");
  RedisOptions invalid = options_for(*redis);
  invalid.servers = {"localhost", redis->server()};
  const CountResult after_invalid = RedisStore(invalid).add("n", 60s, 1, now);
  EXPECT_TRUE(after_invalid.ok) << after_invalid.error;
  EXPECT_EQ(after_invalid.count, 2u);
}

TEST(RedisStore, Password) {
  auto redis = start_redis({.password = "s3cret", .unix_socket = false});
  ASSERT_TRUE(redis);
  const auto now = std::chrono::system_clock::now();
  RedisOptions o = options_for(*redis);

  const CountResult anonymous = RedisStore(o).add("n", 60s, 1, now);
  EXPECT_FALSE(anonymous.ok);
  EXPECT_THAT(anonymous.error, StartsWith(redis->server() + ": NOAUTH"));

  o.password = "wrong";
  const CountResult wrong = RedisStore(o).add("n", 60s, 1, now);
  EXPECT_FALSE(wrong.ok);
  EXPECT_THAT(wrong.error, StartsWith(redis->server() + ": AUTH: WRONGPASS"));

  o.password = "s3cret";
  const CountResult right = RedisStore(o).add("n", 60s, 1, now);
  ASSERT_TRUE(right.ok) << right.error;
  EXPECT_EQ(right.count, 1u);

  // Redis 6 ACLs: the password of the user "default".
  o.username = "default";
  const CountResult user = RedisStore(o).add("n", 60s, 1, now);
  ASSERT_TRUE(user.ok) << user.error;
  EXPECT_EQ(user.count, 2u);
  o.username = "nobody";
  EXPECT_THAT(RedisStore(o).add("n", 60s, 1, now).error,
              StartsWith(redis->server() + ": AUTH: WRONGPASS"));
}

TEST(RedisStore, DatabaseIsSelected) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  const auto now = std::chrono::system_clock::now();
  RedisOptions o = options_for(*redis);
  o.database = 3;
  RedisStore store(o);
  ASSERT_EQ(store.add("n", 60s, 2, now).count, 2u);
  ASSERT_EQ(store.add("n", 60s, 1, now).count, 3u);  // a pooled connection stays in 3
  Raw raw(*redis);
  EXPECT_EQ(raw.integer({"DBSIZE"}), 0);
  EXPECT_EQ(raw.command({"SELECT", "3"}), "OK");
  EXPECT_EQ(raw.integer({"DBSIZE"}), 1);
  EXPECT_EQ(RedisStore(options_for(*redis)).add("n", 60s, 0, now).count, 0u);

  o.database = 99;  // redis-server has 16 by default
  const CountResult r = RedisStore(o).add("n", 60s, 1, now);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, StartsWith(redis->server() + ": SELECT 99: ERR"));
}

TEST(RedisStore, WrongTypeIsAnError) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  Raw raw(*redis);
  const WallTime now = slot_start(6);
  const std::int64_t slot = SlidingWindow::slot_of(now, 6);
  // Someone else's data under our names.
  raw.command({"LPUSH", "esmtp-inspect:list:6:" + std::to_string(slot), "x"});
  const CountResult r = store.add("list", 60s, 1, now);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, StartsWith(redis->server() + ": WRONGTYPE"));
  raw.command({"SET", "esmtp-inspect:text:6:" + std::to_string(slot - 3), "hello"});
  const CountResult t = store.add("text", 60s, 0, now);
  EXPECT_FALSE(t.ok);
  EXPECT_EQ(t.error, redis->server() + ": key esmtp-inspect:text:6:" + std::to_string(slot - 3) +
                         " holds \"hello\", not a count");
  // The store goes on working for other counters.
  EXPECT_EQ(store.add("fine", 60s, 1, now).count, 1u);
}

// ---------------------------------------------------------------------------
// Outages: a bound, never a hang

TEST(RedisStore, KilledServerFailsFastAndComesBack) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  const auto now = std::chrono::system_clock::now();
  ASSERT_EQ(store.add("n", 60s, 1, now).count, 1u);
  ASSERT_EQ(store.add("n", 60s, 1, now).count, 2u);

  redis->kill_now();
  for (int i = 0; i < 2; ++i) {
    const Timed t = timed_add(store);
    EXPECT_FALSE(t.result.ok);
    EXPECT_EQ(t.result.error, redis->server() + ": connection refused");
    EXPECT_LT(t.elapsed, kTimeout + kSlack);
  }

  // Back (empty: no persistence): the pooled connections to the old process
  // are not used, the first call after the restart works.
  std::string error;
  ASSERT_TRUE(redis->restart(&error)) << error;
  const CountResult back = store.add("n", 60s, 1, now);
  ASSERT_TRUE(back.ok) << back.error;
  EXPECT_EQ(back.count, 1u);
}

TEST(RedisStore, RestartedServerCostsNoError) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  const auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(store.add("n", 60s, 1, now).ok);  // leaves an idle connection
  std::string error;
  ASSERT_TRUE(redis->restart(&error)) << error;
  const CountResult r = store.add("n", 60s, 1, now);
  EXPECT_TRUE(r.ok) << r.error;
}

TEST(RedisStore, StoppedServerIsABoundNotAHang) {
  auto redis = start_redis();
  ASSERT_TRUE(redis);
  RedisStore store(options_for(*redis));
  RedisOptions with_password = options_for(*redis);
  const auto now = std::chrono::system_clock::now();
  ASSERT_EQ(store.add("n", 60s, 1, now).count, 1u);

  redis->pause();
  // The first call on a pooled connection, the next on new ones (connect
  // succeeds: the kernel accepts for the stopped process).
  for (int i = 0; i < 3; ++i) {
    const Timed t = timed_add(store);
    EXPECT_FALSE(t.result.ok);
    EXPECT_EQ(t.result.error, redis->server() + ": timed out after 100 ms");
    EXPECT_GE(t.elapsed, kTimeout);
    EXPECT_LT(t.elapsed, kTimeout + kSlack);
  }
  // Waiting for AUTH's answer is bounded the same way.
  with_password.password = "x";
  with_password.database = 2;
  const auto start = Clock::now();
  const CountResult auth = RedisStore(with_password).add("n", 60s, 1, now);
  EXPECT_LT(Clock::now() - start, kTimeout + kSlack);
  EXPECT_EQ(auth.error, redis->server() + ": timed out after 100 ms");

  redis->resume();
  const CountResult back = store.add("n", 60s, 0, now);
  ASSERT_TRUE(back.ok) << back.error;
  // The additions that timed out were sent: the server may still carry
  // them out when it wakes up (it reads what the closed connections sent).
  EXPECT_GE(back.count, 1u);
  EXPECT_LE(back.count, 4u);
  const CountResult more = store.add("n", 60s, 1, now);
  ASSERT_TRUE(more.ok) << more.error;
  EXPECT_EQ(more.count, back.count + 1);
}

// Two servers that both accept and never answer: the call's one deadline
// covers both, so a session waits `timeout` in all, not once per server.
TEST(RedisStore, TwoStoppedServersShareOneDeadline) {
  auto a = start_redis();
  auto b = start_redis();
  ASSERT_TRUE(a && b);
  RedisOptions o = options_for(*a);
  o.servers.push_back(b->server());
  RedisStore store(o);
  a->pause();
  b->pause();
  const Timed t = timed_add(store);
  EXPECT_FALSE(t.result.ok);
  // The kernel accepts for the stopped server: the round trip on it is what
  // times out, and the call ends there.
  EXPECT_EQ(t.result.error, a->server() + ": timed out after 100 ms");
  EXPECT_GE(t.elapsed, kTimeout);
  EXPECT_LT(t.elapsed, kTimeout + kSlack);
  a->resume();
  b->resume();
}

// A first server that hangs costs one call its timeout; the next call goes
// to the second server instead of hanging on the first again.
TEST(RedisStore, AHangingServerDoesNotHideTheNext) {
  auto a = start_redis();
  auto b = start_redis();
  ASSERT_TRUE(a && b);
  RedisOptions o = options_for(*a);
  o.servers.push_back(b->server());
  RedisStore store(o);
  const auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(store.add("n", 60s, 1, now).ok);  // on a
  a->pause();
  EXPECT_EQ(store.add("n", 60s, 1, now).error, a->server() + ": timed out after 100 ms");
  const auto start = Clock::now();
  const CountResult r = store.add("n", 60s, 1, now);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.count, 1u) << "counted on b, which has seen nothing before";
  EXPECT_LT(Clock::now() - start, kTimeout);
  a->resume();
}

// ---------------------------------------------------------------------------
// A server that answers nonsense

// Listens on 127.0.0.1; on each connection, waits for a request and answers
// `reply`, then keeps the connection open until the client closes it.
class FakeServer {
 public:
  explicit FakeServer(std::string reply, bool close_after = false)
      : reply_(std::move(reply)), close_after_(close_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      char buf[4096];
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 1000) == 1 && ::recv(c, buf, sizeof buf, 0) > 0) {
        for (std::size_t off = 0; off < reply_.size();) {
          const ssize_t n = ::send(c, reply_.data() + off, reply_.size() - off, MSG_NOSIGNAL);
          if (n <= 0) break;
          off += static_cast<std::size_t>(n);
        }
      }
      // Until the client hangs up (or the test ends).
      while (!close_after_ && !stop_) {
        pollfd h{c, POLLIN, 0};
        if (::poll(&h, 1, 20) == 1 && ::recv(c, buf, sizeof buf, 0) <= 0) break;
      }
      ::close(c);
    }
  }

  std::string reply_;
  bool close_after_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

struct Garbage {
  std::string reply;
  std::uint32_t add;
  std::string error;  // after "127.0.0.1:PORT: "
  bool close_after = false;
};

TEST(RedisStore, GarbageRepliesAreErrorsNotCrashes) {
  const std::string ten_abc = "*10\r\n" + repeat("$3\r\nabc\r\n", 10);
  const std::string ten_negative = "*10\r\n" + repeat("$2\r\n-5\r\n", 10);
  const std::string ten_integers = "*10\r\n" + repeat(":1\r\n", 10);
  const std::string one_nil = "*10\r\n" + repeat("$-1\r\n", 9) + "$1\r\n3\r\n";
  const std::vector<Garbage> cases = {
      {repeat("+OK\r\n", 3), 1, "unexpected reply to INCRBY (a status)"},
      {repeat("$-1\r\n", 3), 1, "unexpected reply to INCRBY (nil)"},
      {repeat("$-5\r\n", 3), 1, "unreadable reply: bulk string length out of range"},
      {":1\r\n+OK\r\n" + ten_abc, 1, "unexpected reply to PEXPIRE (a status)"},
      {"+OK\r\n", 0, "unexpected reply to MGET (a status)"},
      {":12\r\n", 0, "unexpected reply to MGET (an integer)"},
      {"-ERR nope\r\n", 0, "ERR nope"},
      {"*2\r\n$1\r\n1\r\n$-1\r\n", 0, "unexpected reply to MGET (2 values for 10 keys)"},
      {ten_abc, 0, "holds \"abc\", not a count"},
      {ten_negative, 0, "holds \"-5\", not a count"},
      {ten_integers, 0, "holds an integer, not a count"},
      {"hello\r\n", 0, "unreadable reply: protocol error, got \"h\" as reply type byte"},
      {"*3\r\n:1\r\n", 0, "timed out after 100 ms"},     // half a reply
      {"", 0, "connection closed by the server", true},  // hangs up
      {"$200000\r\n" + std::string(200000, 'x') + "\r\n", 0, "reply longer than 65536 bytes"},
      {":1\r\n:1\r\n" + one_nil, 1, ""},  // sanity: a well-formed reply counts
  };
  const auto now = std::chrono::system_clock::now();
  for (const Garbage& g : cases) {
    FakeServer fake(g.reply, g.close_after);
    RedisOptions o;
    o.servers = {fake.server()};
    o.timeout = kTimeout;
    RedisStore store(o);
    const auto start = Clock::now();
    const CountResult r = store.add("n", 60s, g.add, now);
    EXPECT_LT(Clock::now() - start, kTimeout + kSlack) << g.reply.substr(0, 40);
    if (g.error.empty()) {
      EXPECT_TRUE(r.ok) << r.error;
      EXPECT_EQ(r.count, 3u);
      continue;
    }
    EXPECT_FALSE(r.ok) << g.reply.substr(0, 40);
    EXPECT_THAT(r.error, StartsWith(fake.server() + ": ")) << g.reply.substr(0, 40);
    EXPECT_THAT(r.error, HasSubstr(g.error)) << g.reply.substr(0, 40);
  }
}

}  // namespace
}  // namespace esmtp
