// finding: one result of `esmtp-inspect selfcheck`, whatever check made it.
//
// A finding says what was found (message), why it matters (meaning) and what
// fixes it (fix: one command or step per line, e.g. a `postconf -e` line), at
// a severity whose worst value across a report gives the exit code
// (tools/severity.h).
//
// Thread-safety: a plain value.
#pragma once

#include <string>

#include "tools/severity.h"

namespace esmtp::selfcheck {

struct Finding {
  Severity severity = Severity::kOk;
  std::string check;    // "names", "helo_ptr", "banner_dns", "certificate", "wiring"
  std::string subject;  // the address, name, file or socket it is about
  std::string message;  // what was found
  std::string meaning;  // why it matters (or does not)
  std::string fix;      // commands or steps, one per line; empty when ok
};

}  // namespace esmtp::selfcheck
