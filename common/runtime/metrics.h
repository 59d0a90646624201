// metrics: a daemon's Prometheus endpoint, esmtp-inspect.yaml(5), METRICS
// (SPEC section 13). With milter.metrics / policy.metrics set to HOST:PORT
// the daemon answers GET /metrics in the Prometheus text format:
//
//   esmtp_inspect_verdicts_total{daemon,rule,action[,would]}   counter
//   esmtp_inspect_sessions_total{daemon}                       counter
//   esmtp_inspect_sessions_active{daemon}                      gauge
//   esmtp_inspect_messages_total{daemon,outcome}               counter
//   esmtp_inspect_dns_queries_total{type,result}               counter
//   esmtp_inspect_dns_query_seconds{type,result}               histogram
//   esmtp_inspect_dns_cache_hits_total                         counter
//   esmtp_inspect_policy_requests_total{state}                 counter (policyd)
//   esmtp_inspect_config_reloads_total{result}                 counter
//   esmtp_inspect_store_errors_total{store}                    counter
//   esmtp_inspect_build_info{version}                          gauge = 1
//
// Labels carry only names from fixed lists (rules, actions, outcomes, DNS
// types and results, Postfix protocol states), never an address or a
// sender: the number of series is bounded whatever the mail. A series is
// exposed once it is non-zero, except those a dashboard needs from the start
// (sessions, messages with outcome accept, reloads ok and error).
//
// Library: prometheus-cpp (Debian's prometheus-cpp-dev) serves HTTP (its
// Exposer, on civetweb, with its own threads) and writes the text format
// (its Collectable interface). The counts are not prometheus-cpp's metric
// objects: its Histogram::Observe and Family::Add take locks that a scrape
// also takes, and SPEC 13 wants a scrape to cost a mail session nothing. So
// the mail path counts into fixed slots of relaxed atomics (EngineMetrics,
// DnsMetrics, DaemonMetrics below), and a scrape only reads them.
//
// Thread-safety: DaemonMetrics may be counted into from any thread;
// MetricsServer is made and destroyed by the daemon's main thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/dns/dns_metrics.h"
#include "common/engine/engine_metrics.h"
#include "common/store/counters.h"

namespace prometheus {
class Exposer;
}

namespace esmtp {

class DaemonMetrics {
 public:
  // `daemon`: the label value, "milter" or "policyd".
  explicit DaemonMetrics(std::string daemon);

  EngineMetrics& engine() { return engine_; }
  const EngineMetrics& engine() const { return engine_; }
  const std::shared_ptr<DnsMetrics>& dns() const { return dns_; }
  // Failed calls to the counter store (store/counters.h).
  const std::shared_ptr<StoreMetrics>& store() const { return store_; }

  void reload(bool ok) { (ok ? reloads_ok_ : reloads_error_).fetch_add(1, kRelaxed); }
  // A policy request by its protocol_state ("RCPT", "END-OF-MESSAGE", ...);
  // a state Postfix does not document is counted as "other".
  // Exposed by the daemon labelled "policyd" only.
  void policy_request(std::string_view state);

  // The text of GET /metrics: the families above (used by the server and by
  // tests without HTTP).
  std::string text() const;

  const std::string& daemon() const { return daemon_; }
  // Postfix's protocol_state values, for the `state` label.
  static constexpr std::array<std::string_view, 9> kStates{
      "CONNECT", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE", "VRFY", "ETRN"};

 private:
  friend class MetricsCollectable;
  static constexpr auto kRelaxed = std::memory_order_relaxed;
  std::string daemon_;
  EngineMetrics engine_;
  std::shared_ptr<DnsMetrics> dns_ = std::make_shared<DnsMetrics>();
  std::shared_ptr<StoreMetrics> store_ = std::make_shared<StoreMetrics>();
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_error_{0};
  std::array<std::atomic<std::uint64_t>, kStates.size() + 1> requests_{};  // last: other
  bool policy_ = false;                                                    // daemon_ == "policyd"
};

// The HTTP endpoint. start() binds HOST:PORT ("127.0.0.1:9464",
// "[::1]:9464") and serves GET /metrics from then on; false with *error
// when the address cannot be bound. The daemon starts it after it detached
// and dropped root (its threads must be the daemon's, with the signals
// blocked), so the port must be one an unprivileged user may bind.
class MetricsServer {
 public:
  explicit MetricsServer(std::shared_ptr<DaemonMetrics> metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  bool start(const std::string& address, std::string* error);
  // The port bound (address ":0" picks one), 0 before start().
  int port() const;

 private:
  std::shared_ptr<DaemonMetrics> metrics_;
  std::shared_ptr<class MetricsCollectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace esmtp
