// policy_protocol: the Postfix SMTP access policy delegation protocol
// (SMTPD_POLICY_README): requests are "name=value" lines ended by an empty
// line; the reply is "action=..." and an empty line. Connections are
// persistent: many requests, one at a time.
//
// PolicyParser is a push parser: feed bytes in any chunking, take complete
// requests out. Unknown attributes are kept (and ignored by the handler).
// Limits: a line longer than kMaxLine, more than kMaxAttributes attributes or
// a request larger than kMaxRequest octets, a line without "=", an empty name
// or a NUL octet are errors: the connection must then be closed without a
// reply (a policy server in trouble never invents an answer). Memory is
// bounded by kMaxRequest; a line buffer grown by a long line is released
// when its request is complete.
//
// Thread-safety: one parser per connection.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace esmtp {

inline constexpr std::size_t kMaxLine = 64 * 1024;
inline constexpr std::size_t kMaxAttributes = 256;
inline constexpr std::size_t kMaxRequest = 256 * 1024;

class PolicyRequest {
 public:
  // The value of an attribute, "" when absent (Postfix sends empty values too).
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  void add(std::string name, std::string value);
  std::size_t size() const { return attrs_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> attrs_;
};

class PolicyParser {
 public:
  enum class Status { kNeedMore, kRequest, kError };

  // Consumes bytes from `data` (advancing it) until a request is complete or
  // an error is found. kRequest: take() it, then call feed() again with the
  // rest. kError: error() says why; the parser stays in error.
  Status feed(std::string_view& data);
  PolicyRequest take();
  const std::string& error() const { return error_; }

 private:
  Status fail(std::string why);
  Status end_line();

  std::string line_;
  PolicyRequest current_;
  std::size_t request_bytes_ = 0;
  bool complete_ = false;
  std::string error_;
};

// "action=VALUE\n\n"
std::string policy_reply(std::string_view action);

}  // namespace esmtp
