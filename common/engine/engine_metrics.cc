#include "common/engine/engine_metrics.h"

namespace esmtp {

std::string_view EngineMetrics::rule_name(std::size_t rule) {
  if (rule < kRuleCount) return rule_info(static_cast<RuleId>(rule)).name;
  return check_info(static_cast<CheckId>(rule - kRuleCount)).name;
}

void EngineMetrics::verdict(const Verdict& v) {
  std::size_t rule = 0;
  if (auto r = find_rule(v.rule))
    rule = static_cast<std::size_t>(*r);
  else if (auto c = find_check(v.rule))
    rule = kRuleCount + static_cast<std::size_t>(*c);
  else
    return;  // every verdict comes from one of the two tables
  add(verdicts_[slot(rule, v.action, v.would)]);
}

std::string_view outcome_name(Action outcome) {
  return outcome == Action::kContinue ? "accept" : to_string(outcome);
}

}  // namespace esmtp
