#include "common/store/counters.h"

#include "common/store/redis_store.h"

namespace esmtp {
namespace {

std::int64_t ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string_view on_error_text(StoreOnError e) {
  return e == StoreOnError::kSkip ? "skipping the windowed rules (on_error: skip)"
                                  : "counting in this daemon (on_error: local)";
}

}  // namespace

Counters::Counters(const StoreConfig& config, std::unique_ptr<CounterStore> remote,
                   std::shared_ptr<Logger> logger, std::shared_ptr<StoreMetrics> metrics)
    : config_(config),
      remote_(std::move(remote)),
      local_(config.max_keys),
      metrics_(std::move(metrics)),
      logger_(std::move(logger)) {}

std::shared_ptr<Counters> Counters::make(const StoreConfig& config, std::shared_ptr<Logger> logger,
                                         std::shared_ptr<StoreMetrics> metrics) {
  std::unique_ptr<CounterStore> remote;
  if (config.type == StoreType::kRedis) {
    RedisOptions o;
    o.servers = config.servers;
    o.timeout = config.timeout;
    o.username = config.username;
    o.password = config.password;
    o.database = config.database;
    o.prefix = config.prefix;
    remote = std::make_unique<RedisStore>(std::move(o));
  }
  return std::make_shared<Counters>(config, std::move(remote), std::move(logger),
                                    std::move(metrics));
}

void Counters::set_logger(std::shared_ptr<Logger> logger) {
  std::lock_guard lock(logger_mu_);
  logger_ = std::move(logger);
}

std::shared_ptr<Logger> Counters::logger() const {
  std::lock_guard lock(logger_mu_);
  return logger_;
}

std::optional<std::uint64_t> Counters::add(std::string_view name, std::chrono::seconds window,
                                           std::uint32_t add, WallTime now) {
  if (!remote_) return local_.add(name, window, add, now).count;
  const auto t = Steady::now();
  const std::int64_t until = down_until_.load(std::memory_order_acquire);
  if (until != 0) {
    // Out: answer from the fallback, except for the one call that tries the
    // store again once store.retry has passed.
    if (ns(t) < until || probing_.exchange(true, std::memory_order_acq_rel))
      return fallback(name, window, add, now);
    CountResult r = remote_->add(name, window, add, now);
    if (r.ok)
      recovered(Steady::now());
    else
      failed(r.error, Steady::now());
    probing_.store(false, std::memory_order_release);
    return r.ok ? std::optional<std::uint64_t>(r.count) : fallback(name, window, add, now);
  }
  CountResult r = remote_->add(name, window, add, now);
  if (r.ok) return r.count;
  failed(r.error, Steady::now());
  return fallback(name, window, add, now);
}

std::optional<std::uint64_t> Counters::fallback(std::string_view name, std::chrono::seconds window,
                                                std::uint32_t add, WallTime now) {
  if (config_.on_error == StoreOnError::kSkip) return std::nullopt;
  return local_.add(name, window, add, now).count;
}

void Counters::failed(const std::string& why, Steady::time_point now) {
  if (metrics_) metrics_->redis_errors.fetch_add(1, std::memory_order_relaxed);
  std::int64_t none = 0;
  const bool first = outage_began_.compare_exchange_strong(none, ns(now));
  down_until_.store(ns(now + config_.retry), std::memory_order_release);
  if (!first) return;
  if (auto log = logger())
    log->warning("counter store out: {}; {} until it answers, trying it again every {} ms", why,
                 on_error_text(config_.on_error),
                 std::chrono::duration_cast<std::chrono::milliseconds>(config_.retry).count());
}

void Counters::recovered(Steady::time_point now) {
  const std::int64_t began = outage_began_.exchange(0);
  down_until_.store(0, std::memory_order_release);
  if (began == 0) return;
  if (auto log = logger())
    log->log(LogLevel::kNotice, "counter store back after {} ms; counting in it again",
             (ns(now) - began) / 1000000);
}

}  // namespace esmtp
