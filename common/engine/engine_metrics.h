// engine_metrics: what the sessions of one daemon count for the
// esmtp_inspect_verdicts_total, _sessions_* and _messages_total metrics
// (esmtp-inspect.yaml(5), METRICS).
//
//   verdicts  each verdict the session logs, by rule (or identity check) and
//             the action taken; in monitor mode the action taken is "log" and
//             `would` is what enforce mode would have done
//   sessions  SMTP sessions begun (connect) and still open
//   messages  transactions by outcome, counted once each when their fate is
//             known: at the verdict that ends them (reject, tempfail,
//             discard, disconnect) or at the end of the message (accept,
//             quarantine). A transaction the client abandons, or whose every
//             recipient was refused, is no message.
//
// Every series has a fixed slot, so counting is one relaxed atomic add: no
// lock, no allocation, nothing a scrape (which only reads) can hold up.
//
// Thread-safety: any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/rules/rules.h"
#include "common/rules/verdict.h"

namespace esmtp {

class EngineMetrics {
 public:
  static constexpr std::size_t kRules = kRuleCount + kCheckCount;  // rules, then checks
  static constexpr std::size_t kActions = static_cast<std::size_t>(Action::kDisconnect) + 1;

  // The rule name of slot `rule` ("header_line_length", "fcrdns").
  static std::string_view rule_name(std::size_t rule);

  void verdict(const Verdict& v);
  void session_opened() {
    sessions_.fetch_add(1, std::memory_order_relaxed);
    active_.fetch_add(1, std::memory_order_relaxed);
  }
  void session_closed() { active_.fetch_sub(1, std::memory_order_relaxed); }
  // Continue counts as accept; log and tag never end a message.
  void message(Action outcome) { add(messages_[static_cast<std::size_t>(outcome)]); }

  std::uint64_t verdicts(std::size_t rule, Action action, Action would) const {
    return verdicts_[slot(rule, action, would)].load(std::memory_order_relaxed);
  }
  std::uint64_t sessions() const { return sessions_.load(std::memory_order_relaxed); }
  std::int64_t active() const { return active_.load(std::memory_order_relaxed); }
  std::uint64_t messages(Action outcome) const {
    return messages_[static_cast<std::size_t>(outcome)].load(std::memory_order_relaxed);
  }

 private:
  static void add(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  static std::size_t slot(std::size_t rule, Action action, Action would) {
    return (rule * kActions + static_cast<std::size_t>(action)) * kActions +
           static_cast<std::size_t>(would);
  }
  std::array<std::atomic<std::uint64_t>, kRules * kActions * kActions> verdicts_{};
  std::atomic<std::uint64_t> sessions_{0};
  std::atomic<std::int64_t> active_{0};
  std::array<std::atomic<std::uint64_t>, kActions> messages_{};
};

// The name a message outcome is exposed under: "accept" for continue,
// otherwise the action's name.
std::string_view outcome_name(Action outcome);

}  // namespace esmtp
