#include "common/runtime/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

namespace esmtp {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

DaemonMetrics::DaemonMetrics(std::string daemon)
    : daemon_(std::move(daemon)), policy_(daemon_ == "policyd") {}

void DaemonMetrics::policy_request(std::string_view state) {
  const auto it = std::find(kStates.begin(), kStates.end(), state);
  requests_[static_cast<std::size_t>(it - kStates.begin())].fetch_add(1, kRelaxed);
}

// What a scrape reads: the counters as they are at that moment, each read
// on its own (relaxed), into prometheus-cpp's families.
class MetricsCollectable : public prometheus::Collectable {
 public:
  explicit MetricsCollectable(std::shared_ptr<const DaemonMetrics> m) : m_(std::move(m)) {}
  std::vector<MetricFamily> Collect() const override;

 private:
  std::shared_ptr<const DaemonMetrics> m_;
};

namespace {

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric sample(std::vector<ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Gauge)
    m.gauge.value = value;
  else
    m.counter.value = value;
  return m;
}

void add_verdicts(const DaemonMetrics& d, std::vector<MetricFamily>& out) {
  MetricFamily f = family("esmtp_inspect_verdicts_total",
                          "Verdicts by rule and the action taken (monitor mode: action=log, "
                          "would=the enforce action).",
                          MetricType::Counter);
  const EngineMetrics& e = d.engine();
  for (std::size_t rule = 0; rule < EngineMetrics::kRules; ++rule) {
    for (std::size_t a = 0; a < EngineMetrics::kActions; ++a) {
      for (std::size_t w = 0; w < EngineMetrics::kActions; ++w) {
        const auto action = static_cast<Action>(a);
        const auto would = static_cast<Action>(w);
        const std::uint64_t n = e.verdicts(rule, action, would);
        if (n == 0) continue;
        std::vector<ClientMetric::Label> labels{
            {"daemon", d.daemon()},
            {"rule", std::string(EngineMetrics::rule_name(rule))},
            {"action", std::string(to_string(action))}};
        if (would != Action::kContinue) labels.push_back({"would", std::string(to_string(would))});
        f.metric.push_back(sample(std::move(labels), static_cast<double>(n), f.type));
      }
    }
  }
  out.push_back(std::move(f));
}

void add_sessions_and_messages(const DaemonMetrics& d, std::vector<MetricFamily>& out) {
  const EngineMetrics& e = d.engine();
  MetricFamily total =
      family("esmtp_inspect_sessions_total", "SMTP sessions inspected.", MetricType::Counter);
  total.metric.push_back(
      sample({{"daemon", d.daemon()}}, static_cast<double>(e.sessions()), total.type));
  out.push_back(std::move(total));
  MetricFamily active =
      family("esmtp_inspect_sessions_active", "SMTP sessions open now.", MetricType::Gauge);
  active.metric.push_back(sample({{"daemon", d.daemon()}},
                                 static_cast<double>(std::max<std::int64_t>(0, e.active())),
                                 active.type));
  out.push_back(std::move(active));
  MetricFamily messages =
      family("esmtp_inspect_messages_total",
             "Messages (transactions) by outcome, counted when decided.", MetricType::Counter);
  for (std::size_t a = 0; a < EngineMetrics::kActions; ++a) {
    const auto outcome = static_cast<Action>(a);
    const std::uint64_t n = e.messages(outcome);
    if (n == 0 && outcome != Action::kContinue) continue;
    messages.metric.push_back(
        sample({{"daemon", d.daemon()}, {"outcome", std::string(outcome_name(outcome))}},
               static_cast<double>(n), messages.type));
  }
  out.push_back(std::move(messages));
}

void add_dns(const DnsMetrics& dns, std::vector<MetricFamily>& out) {
  MetricFamily queries =
      family("esmtp_inspect_dns_queries_total", "DNS lookups sent to a server, by type and result.",
             MetricType::Counter);
  MetricFamily seconds =
      family("esmtp_inspect_dns_query_seconds",
             "Time from sending a DNS lookup to its answer or timeout.", MetricType::Histogram);
  for (std::size_t t = 0; t < DnsMetrics::kTypes; ++t) {
    for (std::size_t r = 0; r < DnsMetrics::kResults; ++r) {
      const auto type = static_cast<DnsMetrics::Type>(t);
      const auto result = static_cast<DnsMetrics::Result>(r);
      const DnsMetrics::Snapshot s = dns.read(type, result);
      if (s.count == 0) continue;
      std::vector<ClientMetric::Label> labels{{"type", std::string(DnsMetrics::name(type))},
                                              {"result", std::string(DnsMetrics::name(result))}};
      queries.metric.push_back(sample(labels, static_cast<double>(s.count), queries.type));
      ClientMetric h;
      h.label = std::move(labels);
      h.histogram.sample_count = s.count;
      h.histogram.sample_sum = s.seconds;
      for (std::size_t b = 0; b < DnsMetrics::kBuckets.size(); ++b)
        h.histogram.bucket.push_back({s.cumulative[b], DnsMetrics::kBuckets[b]});
      h.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
      seconds.metric.push_back(std::move(h));
    }
  }
  out.push_back(std::move(queries));
  out.push_back(std::move(seconds));
  MetricFamily hits = family("esmtp_inspect_dns_cache_hits_total",
                             "DNS lookups answered without a query of their own (from the cache, "
                             "or by the same query in flight).",
                             MetricType::Counter);
  hits.metric.push_back(sample({}, static_cast<double>(dns.cache_hits()), hits.type));
  out.push_back(std::move(hits));
}

}  // namespace

std::vector<MetricFamily> MetricsCollectable::Collect() const {
  const DaemonMetrics& d = *m_;
  std::vector<MetricFamily> out;
  add_verdicts(d, out);
  add_sessions_and_messages(d, out);
  add_dns(*d.dns_, out);
  if (d.policy_) {
    MetricFamily requests =
        family("esmtp_inspect_policy_requests_total", "Policy requests by Postfix protocol_state.",
               MetricType::Counter);
    for (std::size_t i = 0; i < d.requests_.size(); ++i) {
      const std::uint64_t n = d.requests_[i].load(DaemonMetrics::kRelaxed);
      if (n == 0) continue;
      const std::string state(i < DaemonMetrics::kStates.size() ? DaemonMetrics::kStates[i]
                                                                : "other");
      requests.metric.push_back(sample({{"state", state}}, static_cast<double>(n), requests.type));
    }
    out.push_back(std::move(requests));
  }
  MetricFamily reloads = family("esmtp_inspect_config_reloads_total",
                                "Configuration reloads (SIGHUP) by result.", MetricType::Counter);
  reloads.metric.push_back(sample({{"result", "ok"}},
                                  static_cast<double>(d.reloads_ok_.load(DaemonMetrics::kRelaxed)),
                                  reloads.type));
  reloads.metric.push_back(
      sample({{"result", "error"}},
             static_cast<double>(d.reloads_error_.load(DaemonMetrics::kRelaxed)), reloads.type));
  out.push_back(std::move(reloads));
  // From the start, at 0: an alert on its increase needs the series.
  MetricFamily store = family("esmtp_inspect_store_errors_total",
                              "Calls to the counter store that failed (refused, timed out, an "
                              "error reply).",
                              MetricType::Counter);
  store.metric.push_back(sample(
      {{"store", "redis"}},
      static_cast<double>(d.store_->redis_errors.load(DaemonMetrics::kRelaxed)), store.type));
  out.push_back(std::move(store));
  MetricFamily build =
      family("esmtp_inspect_build_info", "The version running; always 1.", MetricType::Gauge);
  build.metric.push_back(sample({{"version", ESMTP_VERSION}}, 1, build.type));
  out.push_back(std::move(build));
  return out;
}

std::string DaemonMetrics::text() const {
  // A non-owning pointer for the call: the collectable reads, never keeps.
  const MetricsCollectable c(
      std::shared_ptr<const DaemonMetrics>(this, [](const DaemonMetrics*) {}));
  return prometheus::TextSerializer().Serialize(c.Collect());
}

MetricsServer::MetricsServer(std::shared_ptr<DaemonMetrics> metrics)
    : metrics_(std::move(metrics)), collectable_(std::make_shared<MetricsCollectable>(metrics_)) {}

MetricsServer::~MetricsServer() = default;

bool MetricsServer::start(const std::string& address, std::string* error) {
  try {
    // One thread: a scrape every few seconds needs no more, and it is one
    // thread less beside libmilter's.
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    if (error)
      *error = "cannot listen on " + address +
               " (in use, not a local address, or a port below 1024): " + e.what();
    return false;
  }
  exposer_->RegisterCollectable(collectable_);
  return true;
}

int MetricsServer::port() const {
  if (!exposer_) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace esmtp
