// endpoint: the one parser of socket addresses, in the three syntaxes the
// project reads (esmtp-inspect.yaml(5), MILTER and POLICY SERVICE;
// esmtp-inspect-milter(8) -s; esmtp-inspect-policyd(8) -l; esmtp-inspect(1)
// selfcheck):
//
//   kMilterSocket  milter.socket / -s, libmilter's: "unix:/path",
//                  "local:/path", "/path", "inet:PORT", "inet:PORT@HOST",
//                  "inet6:PORT[@HOST]" (HOST may be [bracketed])
//   kPolicyListen  policy.listen / -l: "unix:/path", "inet:HOST:PORT" (HOST
//                  may be [v6])
//   kPostfix       what Postfix's smtpd reads in smtpd_milters and
//                  check_policy_service: "unix:name", "local:name",
//                  "inet:host:port" (host may be [v6]); the transport in any
//                  case, white space around the text ignored
//
// Only the form is checked: a unix path may still be relative, a host is not
// resolved. A text that is not an endpoint of its syntax is Kind::kInvalid
// with `error` saying why (the daemons print it after "-s: " or "-l: ", the
// configuration loader after the setting's name, selfcheck as Postfix's
// complaint).
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace esmtp {

enum class EndpointSyntax { kMilterSocket, kPolicyListen, kPostfix };

struct Endpoint {
  enum class Kind { kUnix, kInet, kInvalid };
  Kind kind = Kind::kInvalid;
  std::string text;       // as written (kPostfix: trimmed)
  std::string transport;  // "unix", "local", "inet", "inet6" ("" for libmilter's bare /path)
  std::string path;       // kUnix
  std::string host;       // kInet, without brackets; empty: every address (milter inet:PORT)
  std::uint16_t port = 0;
  std::string error;  // kInvalid: why

  bool local() const { return kind == Kind::kUnix; }
  bool valid() const { return kind != Kind::kInvalid; }
};

Endpoint parse_endpoint(std::string_view text, EndpointSyntax syntax);

}  // namespace esmtp
