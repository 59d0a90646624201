// offline: runs the engine over a stored message, as `esmtp-inspect test`,
// the golden corpus and the benchmarks do.
//
// The envelope (client, HELO, sender, recipients) is given; the message is
// read from a file descriptor in 64 KiB chunks, as Postfix sends a body to a
// milter, and fed through MessageReader into a Session. Stops at the first
// verdict that ends the transaction, as an MTA would.
//
// Thread-safety: reentrant.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/log/logger.h"
#include "common/rules/verdict.h"

namespace esmtp {

struct Envelope {
  std::string client_address;  // empty: unknown
  std::string client_name;
  std::string helo;
  std::optional<std::string> from;  // nullopt: no MAIL command
  std::vector<std::string> mail_params;
  std::vector<std::string> rcpts;
  std::string auth_user;
  std::string tls_version;
  std::string queue_id;
};

struct OfflineResult {
  std::vector<Verdict> verdicts;  // every non-continue verdict, in order
  std::string final;              // accept | reject | tempfail | disconnect | discard | quarantine
  std::vector<std::string> tags;
  bool accepted() const { return final == "accept"; }
};

// Reads the message from `fd` until EOF. Returns nullopt and sets *error when
// reading fails.
std::optional<OfflineResult> run_offline(std::shared_ptr<const Config> config, const Envelope& env,
                                         int fd, Logger* logger, std::string* error,
                                         std::size_t chunk = 65536);

// What `esmtp-inspect test` prints (esmtp-inspect(1)): one line per verdict,
// "tag: X-ESMTP-Inspect: VALUE" per tag, then "final: ACTION". The one
// formatter of that text: the CLI and the golden corpus run through the
// milter front end (tests/corpus/milter_case.cc) both use it.
std::string offline_text(const OfflineResult& result);
// The same from verdict lines already formatted without a log context
// (format_verdict_text(nullptr, v), or a logged line without its context).
std::string offline_text(std::span<const std::string> verdict_lines,
                         std::span<const std::string> tags, std::string_view final);

}  // namespace esmtp
