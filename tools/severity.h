// severity: how bad a finding of `esmtp-inspect probe` or `selfcheck` is,
// and the exit code monitoring reads from the worst one.
//
// Exit codes: 0 nothing worse than info, 1 warnings, 2 problems,
// 3 (kExitCannotRun) the check could not run at all (usage error included,
// so that a typo is never read as "problems found").
#pragma once

#include <algorithm>

namespace esmtp {

enum class Severity { kOk, kInfo, kWarning, kProblem };

inline constexpr int kExitCannotRun = 3;

inline const char* to_string(Severity s) {  // "ok", "info", "warning", "problem"
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kProblem:
      return "problem";
  }
  return "?";
}

// The worst severity of findings that have a `severity` member (kOk if none).
template <class Findings>
Severity worst_severity(const Findings& findings) {
  Severity w = Severity::kOk;
  for (const auto& f : findings) w = std::max(w, f.severity);
  return w;
}

inline int exit_code_for(Severity worst) {
  switch (worst) {
    case Severity::kOk:
    case Severity::kInfo:
      return 0;
    case Severity::kWarning:
      return 1;
    case Severity::kProblem:
      return 2;
  }
  return 2;
}

}  // namespace esmtp
