// counters: the counter store as the windowed rules see it (`store:` in
// esmtp-inspect.yaml(5), COUNTERS ACROSS CONNECTIONS; SPEC 14): local, or redis with what to do
// while it is out.
//
// type: local counts in a LocalStore. type: redis counts in a RedisStore;
// when a call fails (refused, timed out, an error reply), the store is "out":
//
//   1. that call's session has waited at most store.timeout; the failure is
//      counted (esmtp_inspect_store_errors_total{store="redis"}) and the
//      first of an outage is logged once, with the reason;
//   2. for store.retry no call goes to the store: each answers at once from
//      the fallback (on_error: local, a LocalStore kept for outages) or with
//      no count (on_error: skip, the rules then decide nothing);
//   3. after store.retry one call, and only one (the others keep answering
//      from the fallback meanwhile), tries the store again: a failure starts
//      step 2 again (counted, not logged again), a success ends the outage
//      (logged, with how long it lasted) and every call goes to the store.
//
// So a session waits for a store that does not answer at most once per
// store.retry, whichever way it fails. Counts made locally during an outage
// stay local: the shared counts resume from what the store kept.
//
// Thread-safety: add() may be called from any thread; set_logger() too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/config/config.h"
#include "common/log/logger.h"
#include "common/store/counter_store.h"
#include "common/store/local_store.h"

namespace esmtp {

// What esmtp_inspect_store_errors_total counts: failed calls to the remote
// store (the local one cannot fail).
struct StoreMetrics {
  std::atomic<std::uint64_t> redis_errors{0};
};

class Counters {
 public:
  // `remote`: the shared store (null for type: local). `metrics` may be null.
  Counters(const StoreConfig& config, std::unique_ptr<CounterStore> remote,
           std::shared_ptr<Logger> logger, std::shared_ptr<StoreMetrics> metrics);
  // The store `config` describes: a RedisStore for type: redis.
  static std::shared_ptr<Counters> make(const StoreConfig& config, std::shared_ptr<Logger> logger,
                                        std::shared_ptr<StoreMetrics> metrics);

  // The count of `name` over `window` after adding `add` (0: read only);
  // nullopt when it cannot be told (redis out and on_error: skip).
  std::optional<std::uint64_t> add(std::string_view name, std::chrono::seconds window,
                                   std::uint32_t add,
                                   WallTime now = std::chrono::system_clock::now());

  const StoreConfig& config() const { return config_; }
  void set_logger(std::shared_ptr<Logger> logger);
  bool out() const { return down_until_.load(std::memory_order_acquire) != 0; }

 private:
  using Steady = std::chrono::steady_clock;
  std::optional<std::uint64_t> fallback(std::string_view name, std::chrono::seconds window,
                                        std::uint32_t add, WallTime now);
  void failed(const std::string& why, Steady::time_point now);
  void recovered(Steady::time_point now);
  std::shared_ptr<Logger> logger() const;

  const StoreConfig config_;
  std::unique_ptr<CounterStore> remote_;
  LocalStore local_;
  std::shared_ptr<StoreMetrics> metrics_;
  mutable std::mutex logger_mu_;
  std::shared_ptr<Logger> logger_;
  // Steady-clock nanoseconds until which the remote store is left alone; 0
  // while it answers.
  std::atomic<std::int64_t> down_until_{0};
  std::atomic<bool> probing_{false};  // one call is trying the store again
  std::atomic<std::int64_t> outage_began_{0};
};

}  // namespace esmtp
