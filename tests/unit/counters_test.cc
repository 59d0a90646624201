// The local counter store, the outage handling of Counters (with a fake
// remote store: the real Redis store is tested against redis-server in
// tests/store), and the windowed rules harvest and client_rate in a session.
#include "common/store/counters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/config/config_loader.h"
#include "common/engine/session.h"
#include "common/store/local_store.h"

namespace esmtp {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const WallTime kT0 = WallTime(seconds(1'800'000'000));  // a multiple of 60 and 600

TEST(LocalStore, CountsWithinTheWindowAndForgetsAfterIt) {
  LocalStore s(100);
  EXPECT_EQ(s.add("k", seconds(60), 1, kT0).count, 1u);
  EXPECT_EQ(s.add("k", seconds(60), 2, kT0 + seconds(30)).count, 3u);
  EXPECT_EQ(s.add("k", seconds(60), 0, kT0 + seconds(59)).count, 3u);  // reading adds nothing
  // Slots are 6 s: the first count falls out once its slot is 10 slots old.
  EXPECT_EQ(s.add("k", seconds(60), 0, kT0 + seconds(60)).count, 2u);
  EXPECT_EQ(s.add("k", seconds(60), 0, kT0 + seconds(90)).count, 0u);
  EXPECT_EQ(s.add("k", seconds(60), 1, kT0 + seconds(3600)).count, 1u);  // long after
}

TEST(LocalStore, CountersAreSeparateAndReadingCreatesNone) {
  LocalStore s(100);
  s.add("a", seconds(60), 5, kT0);
  EXPECT_EQ(s.add("b", seconds(60), 0, kT0).count, 0u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.add("a", seconds(60), 0, kT0).count, 5u);
}

TEST(LocalStore, BoundedByMaxKeysEvictingTheLeastRecentlyUsed) {
  LocalStore s(3);
  s.add("a", seconds(60), 1, kT0);
  s.add("b", seconds(60), 1, kT0);
  s.add("c", seconds(60), 1, kT0);
  s.add("a", seconds(60), 1, kT0);  // a is the most recently used now
  s.add("d", seconds(60), 1, kT0);  // evicts b
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.add("a", seconds(60), 0, kT0).count, 2u);
  EXPECT_EQ(s.add("b", seconds(60), 0, kT0).count, 0u);
  EXPECT_EQ(s.add("c", seconds(60), 0, kT0).count, 1u);
  // 100000 distinct clients (an IPv6 sweep) keep it at its bound.
  for (int i = 0; i < 100000; ++i) s.add(std::to_string(i), seconds(60), 1, kT0);
  EXPECT_EQ(s.size(), 3u);
}

TEST(LocalStore, ExactUnderConcurrentAdds) {
  LocalStore s(100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) s.add("k", seconds(600), 1, kT0);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(s.add("k", seconds(600), 0, kT0).count, 8000u);
}

// A remote store that answers from a LocalStore, or fails while `down`.
class FakeRemote : public CounterStore {
 public:
  CountResult add(std::string_view name, seconds window, std::uint32_t add, WallTime now) override {
    ++calls;
    if (down) return CountResult::failed("127.0.0.1:6379: timed out after 50 ms");
    return inner.add(name, window, add, now);
  }
  std::string_view kind() const override { return "redis"; }
  bool down = false;
  int calls = 0;
  LocalStore inner{100};
};

class CountersTest : public ::testing::Test {
 protected:
  void make(StoreOnError on_error, std::chrono::milliseconds retry) {
    StoreConfig c;
    c.type = StoreType::kRedis;
    c.on_error = on_error;
    c.retry = retry;
    auto remote = std::make_unique<FakeRemote>();
    remote_ = remote.get();
    auto sink = std::make_unique<CaptureSink>();
    capture_ = sink.get();
    metrics_ = std::make_shared<StoreMetrics>();
    counters_ = std::make_shared<Counters>(
        c, std::move(remote),
        std::make_shared<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo, "t"),
        metrics_);
  }
  std::optional<std::uint64_t> add(std::uint32_t n = 1) {
    return counters_->add("harvest:192.0.2.7", seconds(600), n, kT0);
  }

  FakeRemote* remote_ = nullptr;
  CaptureSink* capture_ = nullptr;
  std::shared_ptr<StoreMetrics> metrics_;
  std::shared_ptr<Counters> counters_;
};

TEST_F(CountersTest, AnOutageIsTriedOncePerRetryLoggedOnceAndCountedLocally) {
  make(StoreOnError::kLocal, std::chrono::milliseconds(300));
  EXPECT_EQ(add(), 1u);
  EXPECT_EQ(add(), 2u);
  remote_->down = true;
  // The first failure: counted, logged, answered locally (the local count
  // starts from nothing: shared counts stay in the store).
  EXPECT_EQ(add(), 1u);
  EXPECT_TRUE(counters_->out());
  const int calls = remote_->calls;
  for (int i = 0; i < 50; ++i) add();
  EXPECT_EQ(remote_->calls, calls) << "no session waits for the store during store.retry";
  EXPECT_EQ(add(), 52u);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  add();  // one call tries again, fails: counted, not logged again
  EXPECT_EQ(remote_->calls, calls + 1);
  EXPECT_EQ(metrics_->redis_errors.load(), 2u);
  remote_->down = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(add(), 3u) << "back: the shared count resumes where the store left it";
  EXPECT_FALSE(counters_->out());
  const auto lines = capture_->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("counter store out: 127.0.0.1:6379: timed out after 50 ms; "
                                  "counting in this daemon (on_error: local) until it answers, "
                                  "trying it again every 300 ms"));
  EXPECT_THAT(lines[1], HasSubstr("counter store back after"));
}

TEST_F(CountersTest, OnErrorSkipGivesNoCount) {
  make(StoreOnError::kSkip, std::chrono::milliseconds(5000));
  remote_->down = true;
  EXPECT_EQ(add(), std::nullopt);
  EXPECT_EQ(add(), std::nullopt);
  EXPECT_EQ(remote_->calls, 1);
  EXPECT_THAT(capture_->lines().at(0), HasSubstr("skipping the windowed rules (on_error: skip)"));
}

TEST(Counters, LocalTypeNeverFails) {
  StoreConfig c;
  auto counters = Counters::make(c, nullptr, nullptr);
  EXPECT_EQ(counters->add("client_rate:192.0.2.7", seconds(60), 1, kT0), 1u);
  EXPECT_EQ(counters->add("client_rate:192.0.2.7", seconds(60), 1, kT0), 2u);
}

// ---- The rules in a session ----

std::shared_ptr<const Config> config(std::string_view yaml) {
  LoadResult r = load_config_string(yaml, "test.yaml");
  if (!r.ok()) ADD_FAILURE() << r.errors[0].str();
  return r.config;
}

class WindowedRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sink = std::make_unique<CaptureSink>();
    capture_ = sink.get();
    logger_ = std::make_unique<Logger>(std::move(sink), LogFormat::kText, LogLevel::kInfo, "t");
  }
  std::unique_ptr<Session> session(std::string_view yaml, std::string_view client,
                                   FrontEnd fe = FrontEnd::kMilter) {
    if (!config_) config_ = config(yaml);
    auto s = std::make_unique<Session>(config_, logger_.get(), fe);
    s->set_counters(counters_);
    last_connect_ = s->connect(client, 0, "unknown");
    s->helo("client.example.org");
    return s;
  }
  std::shared_ptr<const Config> config_;
  std::shared_ptr<Counters> counters_ = Counters::make(StoreConfig{}, nullptr, nullptr);
  CaptureSink* capture_ = nullptr;
  std::unique_ptr<Logger> logger_;
  Verdict last_connect_;
};

TEST_F(WindowedRulesTest, HarvestCountsRejectedRecipientsOverSessionsAndRefusesAtConnect) {
  const char* yaml = "rules: { harvest: { max: 3, window: 10m, per: /24 } }";
  auto a = session(yaml, "192.0.2.7");
  a->mail("x@example.org");
  EXPECT_TRUE(a->rcpt("u1@example.net", {}, true).is_continue());
  EXPECT_TRUE(a->rcpt("u2@example.net", {}, true).is_continue());
  a->close();
  // Another address of the same /24, another session: the 4th crosses max 3.
  auto b = session(yaml, "192.0.2.200");
  EXPECT_TRUE(last_connect_.is_continue());
  b->mail("x@example.org");
  EXPECT_TRUE(b->rcpt("u3@example.net", {}, true).is_continue());
  Verdict v = b->rcpt("u4@example.net", {}, true);
  EXPECT_EQ(v.action, Action::kDisconnect);
  EXPECT_EQ(v.reply.str(), "421 4.7.0 Too many invalid recipients, try again later");
  EXPECT_TRUE(b->disconnected());
  // A later session of that network is refused at CONNECT; another is not.
  auto c = session(yaml, "192.0.2.9");
  EXPECT_EQ(last_connect_.action, Action::kDisconnect);
  EXPECT_EQ(last_connect_.where, "connect");
  EXPECT_EQ(c->mail("x@example.org").action, Action::kDisconnect);
  auto d = session(yaml, "198.51.100.1");
  EXPECT_TRUE(last_connect_.is_continue());
  const auto lines = capture_->lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("action=disconnect rule=harvest actual=4 limit=3 where=rcpt"));
  EXPECT_THAT(lines[0], HasSubstr("detail=\"192.0.2.0/24 in 10m\""));
  EXPECT_THAT(lines[1], HasSubstr("NOQUEUE: action=disconnect rule=harvest actual=4 limit=3 "
                                  "where=connect"));
}

TEST_F(WindowedRulesTest, ClientRateCountsSessionsAtTheirFirstMailOnly) {
  const char* yaml = "rules: { client_rate: { max: 2, window: 1m } }";
  for (int i = 0; i < 2; ++i) {
    auto s = session(yaml, "2001:db8::1");
    EXPECT_TRUE(s->mail("a@example.org").is_continue());
    s->reset();
    EXPECT_TRUE(s->mail("b@example.org").is_continue()) << "a second MAIL is not a new session";
  }
  auto third = session(yaml, "2001:db8::1");
  Verdict v = third->mail("a@example.org");
  EXPECT_EQ(v.action, Action::kDisconnect);
  EXPECT_EQ(v.reply.str(), "421 4.7.0 Too many connections, try again later");
  EXPECT_THAT(capture_->lines().at(0), HasSubstr("rule=client_rate actual=3 limit=2 where=mail"));
  EXPECT_THAT(capture_->lines().at(0), HasSubstr("detail=\"2001:db8::1 in 1m\""));
  auto other = session(yaml, "2001:db8::2");
  EXPECT_TRUE(other->mail("a@example.org").is_continue());
}

TEST_F(WindowedRulesTest, MonitorModeLogsWhatItWouldDoOncePerSession) {
  auto s = session("rules: { harvest: { max: 1, mode: monitor } }", "192.0.2.7");
  s->mail("x@example.org");
  s->rcpt("u1@example.net", {}, true);
  EXPECT_EQ(s->rcpt("u2@example.net", {}, true).action, Action::kLog);
  EXPECT_TRUE(s->rcpt("u3@example.net", {}, true).is_continue());
  s->close();  // the line waited for a queue ID: NOQUEUE
  ASSERT_EQ(capture_->lines().size(), 1u);
  EXPECT_THAT(capture_->lines()[0], HasSubstr("action=log would=disconnect rule=harvest"));
}

TEST_F(WindowedRulesTest, PolicyServiceSuppliesTheCountItFetched) {
  auto s = session("rules: { client_rate: { max: 5 } }", "192.0.2.7", FrontEnd::kPolicy);
  s->set_counters(nullptr);  // the policy service asks the store itself
  auto q = s->counter_due(Event::kMail);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->name, "client_rate:192.0.2.7");
  EXPECT_EQ(q->window, seconds(60));
  EXPECT_EQ(q->add, 1u);
  s->supply_count(q->rule, 6);
  EXPECT_EQ(s->mail("a@example.org").action, Action::kDisconnect);
  EXPECT_FALSE(s->counter_due(Event::kMail)) << "counted once per session";
}

TEST_F(WindowedRulesTest, NoCountNoVerdict) {
  counters_ = nullptr;
  for (int i = 0; i < 3; ++i) {
    auto s = session("rules: { client_rate: { max: 1 } }", "192.0.2.7");
    EXPECT_TRUE(s->mail("a@example.org").is_continue());
  }
  // A client without an IP address (a local submission) is not counted.
  auto local = session("", "", FrontEnd::kMilter);
  EXPECT_FALSE(local->counter_due(Event::kMail));
}

TEST(CounterScope, ParsesAndPrints) {
  EXPECT_EQ(to_string(*parse_counter_scope("address")), "address");
  auto s24 = parse_counter_scope("/24");
  ASSERT_TRUE(s24);
  EXPECT_EQ(s24->v4, 24);
  EXPECT_EQ(s24->v6, 64);
  EXPECT_EQ(to_string(*s24), "/24");
  auto s48 = parse_counter_scope("/48");
  EXPECT_EQ(s48->v4, 32);
  EXPECT_EQ(s48->v6, 48);
  EXPECT_EQ(to_string(*s48), "/48");
  EXPECT_EQ(to_string(*parse_counter_scope("/24 /56")), "/24 /56");
  EXPECT_EQ(to_string(*parse_counter_scope("/24 /128")), "/24 /128");
  for (const char* bad : {"", "/0", "/129", "24", "/24 /16", "/a", "/24 /56 /64", "subnet"})
    EXPECT_FALSE(parse_counter_scope(bad)) << bad;
}

}  // namespace
}  // namespace esmtp
