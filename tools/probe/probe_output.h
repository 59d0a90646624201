// probe_output: what `esmtp-inspect probe` prints for one probe: the
// observations (connect, banner, EHLO, STARTTLS, TLS and certificate, names
// in DNS), the findings with their meaning and what to do, and the result
// with its exit code; as aligned text for people or, with --json, as one JSON
// object per run.
//
// Inputs: a ProbeResult and its findings (probe_findings.h). Text the server
// sent is shown through printable() (smtp_reply.h): control bytes escaped,
// cut at a fixed length.
//
// Thread-safety: writes to std::cout; call from one thread.
#pragma once

#include <vector>

#include "tools/probe/probe_findings.h"

namespace esmtp::probe {

// `code` is run_probe's exit code (3: could not probe).
void print_json(const ProbeResult& r, const std::vector<Finding>& findings, int code);
void print_text(const ProbeResult& r, const std::vector<Finding>& findings, int code);

}  // namespace esmtp::probe
