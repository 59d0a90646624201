// front_end: which program a session runs in. With both_daemons
// (esmtp-inspect.yaml(5)), each rule is decided by one daemon only (the
// Decider of its row, common/rules/rules.h); the CLI's offline test runs
// every rule.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>

#include "common/config/config.h"
#include "common/rules/rules.h"

namespace esmtp {

enum class FrontEnd : std::uint8_t { kOffline, kMilter, kPolicy };

// Whether a session in `front_end` decides rules of `decider`.
inline bool decides(const Config& c, FrontEnd front_end, Decider decider) {
  if (!c.both_daemons || front_end == FrontEnd::kOffline) return true;
  return (decider == Decider::kMilter) == (front_end == FrontEnd::kMilter);
}

// Whether a session in `front_end` makes the identity checks: the policy
// service's when both daemons serve the MTA, the milter's unless
// milter.identity is false.
inline bool decides_identity(const Config& c, FrontEnd front_end) {
  if (front_end != FrontEnd::kMilter) return true;
  return c.milter.identity && !c.both_daemons;
}

}  // namespace esmtp
