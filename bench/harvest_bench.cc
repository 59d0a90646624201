// harvest_bench: what the windowed rules (harvest, client_rate) cost per
// event through the real engine path, with the local store and with Redis on
// loopback (issue 13; esmtp-inspect.yaml(5), COUNTERS ACROSS CONNECTIONS).
//
// Each setup is a Session (front end: milter) with a configuration and the
// Counters that Counters::make() builds from its `store:` section:
//
//   off          the default configuration (neither rule on)
//   harvest      rules: { harvest: { max: 4294967295, window: 10m } }
//   client_rate  rules: { client_rate: { max: 4294967295, window: 10m } }
//
// each with store type local and type redis (a private redis-server the bench
// starts on a free port of 127.0.0.1, tests/store/redis_server.h). A session
// is connect, HELO, MAIL and --rcpts recipients the MTA rejected
// (rcpt(addr, {}, true), as the milter reports SMFIP_RCPT_REJ), from one of
// --clients addresses of 198.18.0.0/15 (RFC 2544) in turn. connect(), mail()
// and each rejected rcpt() are timed one by one with steady_clock; the setups
// are interleaved over --rounds rounds (each round runs every setup for its
// share of the sessions), after an untimed warm-up of each. The percentiles
// are over every call of every round.
//
// Where each rule costs: harvest reads the client's count at connect (a
// client over the limit is refused there) and adds 1 at each rejected
// recipient; client_rate adds 1 at the session's first MAIL. With redis, each
// of those is one round trip (store/redis_store.h).
//
// Afterwards each store is read back for the first client: its count must be
// what the bench added (so the timed calls really counted), and no call may
// have failed (esmtp_inspect_store_errors_total) or been refused.
//
//   build/bin/harvest_bench [--sessions N] [--rcpts K] [--clients N] [--rounds R]
//
// Figures are recorded in bench/README.md; nothing here is a pass/fail test.
// Single-threaded: the milter runs sessions on many threads, but what one
// call costs is what one session waits.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config_loader.h"
#include "common/engine/session.h"
#include "common/store/counters.h"
#include "tests/store/redis_server.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int sessions = 20000;  // timed sessions per setup, over all rounds
  int rcpts = 10;        // rejected recipients per session (invalid_recipients stops at 20)
  int clients = 2000;
  int rounds = 5;
  int warmup = 200;  // untimed sessions per setup, before the first round
};

struct Setup {
  std::string name;
  std::shared_ptr<const esmtp::Config> config;
  std::shared_ptr<esmtp::Counters> counters;
  std::shared_ptr<esmtp::StoreMetrics> metrics;
  std::vector<double> connect_us, mail_us, rcpt_us;
  std::uint64_t refused = 0;  // verdicts other than continue: must stay 0
};

std::string client(int i) {
  // 198.18.0.0/15: 131,072 addresses meant for benchmarks.
  return "198." + std::to_string(18 + ((i >> 16) & 1)) + "." + std::to_string((i >> 8) & 255) +
         "." + std::to_string(i & 255);
}

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

void run_session(Setup& s, int client_index, int rcpts, bool timed) {
  esmtp::Session session(s.config, nullptr, esmtp::FrontEnd::kMilter);
  session.set_counters(s.counters);
  const std::string addr = client(client_index);
  auto t0 = Clock::now();
  esmtp::Verdict v = session.connect(addr, 40000, "unknown");
  const double connect_us = us_since(t0);
  if (!v.is_continue()) ++s.refused;
  session.helo("client.bench.example.org");
  t0 = Clock::now();
  v = session.mail("sender@example.org");
  const double mail_us = us_since(t0);
  if (!v.is_continue()) ++s.refused;
  if (timed) {
    s.connect_us.push_back(connect_us);
    s.mail_us.push_back(mail_us);
  }
  char rcpt[64];
  for (int r = 0; r < rcpts; ++r) {
    std::snprintf(rcpt, sizeof rcpt, "unknown%d@example.net", r);
    t0 = Clock::now();
    v = session.rcpt(rcpt, {}, true);
    const double us = us_since(t0);
    if (!v.is_continue()) ++s.refused;
    if (timed) s.rcpt_us.push_back(us);
  }
  session.close();
}

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, mean = 0;
};

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / static_cast<double>(v.size());
  return p;
}

std::shared_ptr<const esmtp::Config> load(const std::string& yaml) {
  esmtp::LoadResult r = esmtp::load_config_string(yaml, "harvest_bench.yaml");
  if (!r.ok()) {
    std::fprintf(stderr, "harvest_bench: config: %s\n", r.errors[0].str().c_str());
    std::exit(2);
  }
  return r.config;
}

int arg(int argc, char** argv, int& i) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "harvest_bench: %s needs a number\n", argv[i]);
    std::exit(2);
  }
  const int n = std::atoi(argv[++i]);
  if (n <= 0) {
    std::fprintf(stderr, "harvest_bench: %s: a positive number\n", argv[i - 1]);
    std::exit(2);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--sessions") {
      o.sessions = arg(argc, argv, i);
    } else if (a == "--rcpts") {
      o.rcpts = std::min(arg(argc, argv, i), 19);
    } else if (a == "--clients") {
      o.clients = std::min(arg(argc, argv, i), 131072);
    } else if (a == "--rounds") {
      o.rounds = arg(argc, argv, i);
    } else {
      std::fprintf(stderr,
                   "usage: harvest_bench [--sessions N] [--rcpts K<20] [--clients N] "
                   "[--rounds R]\n");
      return 2;
    }
  }

  std::string error;
  auto redis = esmtp::test::RedisServer::start(&error);
  if (!redis) {
    std::fprintf(stderr, "harvest_bench: redis-server: %s\n", error.c_str());
    return 1;
  }
  const std::string redis_store =
      "store: { type: redis, servers: [\"" + redis->server() + "\"], timeout: 50ms }\n";
  const std::string harvest = "rules: { harvest: { max: 4294967295, window: 10m } }\n";
  const std::string rate = "rules: { client_rate: { max: 4294967295, window: 10m } }\n";

  std::vector<Setup> setups;
  auto add = [&](std::string name, const std::string& yaml) {
    Setup s;
    s.name = std::move(name);
    s.config = load(yaml);
    s.metrics = std::make_shared<esmtp::StoreMetrics>();
    s.counters = esmtp::Counters::make(s.config->store, nullptr, s.metrics);
    setups.push_back(std::move(s));
  };
  add("off (local store)", "");
  add("off (redis store)", redis_store);
  add("harvest, local", harvest);
  add("harvest, redis", harvest + redis_store);
  add("client_rate, local", rate);
  add("client_rate, redis", rate + redis_store);

  std::printf(
      "harvest_bench: %d sessions per setup (%d rounds), %d rejected recipients each, "
      "%d client addresses; redis-server on %s\n",
      o.sessions, o.rounds, o.rcpts, o.clients, redis->server().c_str());
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char line[128] = {};
    if (std::fgets(line, sizeof line, f)) std::printf("load before: %s", line);
    std::fclose(f);
  }

  // Each setup's clients are its own (a fresh counter each), in turn.
  std::vector<int> next(setups.size(), 0);
  auto client_of = [&](std::size_t setup) {
    const int c = next[setup]++ % o.clients;
    return static_cast<int>(setup) * o.clients % 131072 + c;
  };
  for (std::size_t k = 0; k < setups.size(); ++k)
    for (int i = 0; i < o.warmup; ++i) run_session(setups[k], client_of(k), o.rcpts, false);
  for (auto& n : next) n = 0;
  const auto t_start = Clock::now();
  for (int round = 0; round < o.rounds; ++round) {
    const int share = o.sessions / o.rounds + (round < o.sessions % o.rounds ? 1 : 0);
    for (std::size_t j = 0; j < setups.size(); ++j) {
      const std::size_t k = (j + static_cast<std::size_t>(round)) % setups.size();  // rotate
      for (int i = 0; i < share; ++i) run_session(setups[k], client_of(k), o.rcpts, true);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t_start).count();

  std::printf("\nmicroseconds per call (p50 / p99 / p99.9 / mean), %.1f s timed\n", seconds);
  std::printf("%-20s %-32s | %-32s | %-32s\n", "", "connect", "MAIL", "rejected RCPT");
  std::printf("%-20s", "setup");
  for (int i = 0; i < 3; ++i)
    std::printf("%s%7s %7s %8s %7s", i ? " | " : " ", "p50", "p99", "p99.9", "mean");
  std::printf("\n");
  auto cell = [](const Percentiles& p) {
    char b[64];
    std::snprintf(b, sizeof b, "%7.2f %7.2f %8.2f %7.2f", p.p50, p.p99, p.p999, p.mean);
    return std::string(b);
  };
  std::vector<Percentiles> conn(setups.size()), mail(setups.size()), rcpt(setups.size());
  for (std::size_t k = 0; k < setups.size(); ++k) {
    conn[k] = percentiles(setups[k].connect_us);
    mail[k] = percentiles(setups[k].mail_us);
    rcpt[k] = percentiles(setups[k].rcpt_us);
    std::printf("%-20s %s | %s | %s\n", setups[k].name.c_str(), cell(conn[k]).c_str(),
                cell(mail[k]).c_str(), cell(rcpt[k]).c_str());
  }

  // What each rule adds to the event it counts at, against "off" with the
  // same store type (p50 and p99 differences).
  std::printf("\ncost over off, microseconds (p50 / p99):\n");
  auto delta = [](const char* what, const Percentiles& on, const Percentiles& off) {
    std::printf("  %-34s %+7.2f / %+7.2f\n", what, on.p50 - off.p50, on.p99 - off.p99);
  };
  delta("harvest, local: rejected RCPT", rcpt[2], rcpt[0]);
  delta("harvest, local: connect", conn[2], conn[0]);
  delta("harvest, redis: rejected RCPT", rcpt[3], rcpt[1]);
  delta("harvest, redis: connect", conn[3], conn[1]);
  delta("client_rate, local: MAIL", mail[4], mail[0]);
  delta("client_rate, redis: MAIL", mail[5], mail[1]);

  // The calls counted: the first client of each rule's setups had
  // ceil(warm-up / clients) + ceil(timed / clients) sessions, all within the
  // window.
  auto ceil_div = [](int a, int b) { return static_cast<std::uint64_t>((a + b - 1) / b); };
  const std::uint64_t first_client_sessions =
      ceil_div(o.warmup, o.clients) + ceil_div(o.sessions, o.clients);
  int failures = 0;
  std::printf("\nchecks:\n");
  for (std::size_t k = 0; k < setups.size(); ++k) {
    Setup& s = setups[k];
    const std::uint64_t errors = s.metrics->redis_errors.load();
    std::string what = "no rule counts";
    bool ok = s.refused == 0 && errors == 0 && !s.counters->out() &&
              s.rcpt_us.size() == static_cast<std::size_t>(o.sessions) * o.rcpts;
    if (k >= 2) {
      const bool is_harvest = k < 4;
      const std::string name = std::string(is_harvest ? "harvest:" : "client_rate:") +
                               client(static_cast<int>(k) * o.clients % 131072);
      const auto got = s.counters->add(name, std::chrono::minutes(10), 0);
      const std::uint64_t want =
          first_client_sessions * (is_harvest ? static_cast<std::uint64_t>(o.rcpts) : 1);
      what = name + " = " + (got ? std::to_string(*got) : "?") + " (expected " +
             std::to_string(want) + ")";
      ok = ok && got && *got == want;
    }
    std::printf("  %-20s %s; refused %llu, store errors %llu: %s\n", s.name.c_str(), what.c_str(),
                static_cast<unsigned long long>(s.refused), static_cast<unsigned long long>(errors),
                ok ? "ok" : "FAILED");
    if (!ok) ++failures;
  }
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char line[128] = {};
    if (std::fgets(line, sizeof line, f)) std::printf("load after: %s", line);
    std::fclose(f);
  }
  return failures == 0 ? 0 : 1;
}
