// probe: `esmtp-inspect probe HOST[:PORT]` (esmtp-inspect(1)): connect to an
// SMTP server as an outside client would and report what it sees: connect
// time, time to banner, the banner, EHLO extensions, STARTTLS (offered,
// masked, absent), the TLS handshake (OpenSSL) and certificate, and the
// banner name against the PTR and A/AAAA of the address (common/name_check).
// probe_findings.h says what each observation means.
//
// Every step has its own deadline (--timeout: connect, banner, each reply,
// TLS handshake); replies are read through ReplyReader's limits; the probe
// sends EHLO, STARTTLS, EHLO and QUIT and never a message.
//
// Exit codes: 0 fine (ok/info), 1 warnings, 2 problems, 3 could not probe
// (usage error, bad target, no address, no connection).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "tools/severity.h"

namespace esmtp::probe {

inline constexpr int kExitCannotProbe = kExitCannotRun;

struct ProbeOptions {
  std::string target;            // HOST, HOST:PORT, [v6], [v6]:PORT, bare v6
  int port = 0;                  // --port; 0: from the target, else 25
  std::vector<std::string> dns;  // "127.0.0.1:5353"; empty: /etc/resolv.conf
  std::string ehlo;              // "" : the local host name if qualified, else [address]
  double timeout = 10;           // seconds per step
  double slow_banner = 3;        // seconds
  bool no_tls = false;
  bool sends_mail = false;
  bool json = false;
  std::string long_line_rcpt;  // --long-line-test RCPT; "" : no such test
};

CLI::App* add_probe_command(CLI::App& app, ProbeOptions& o);
int run_probe(const ProbeOptions& o);

// Splits a target into host and port ("[::1]:2525" -> "::1", 2525). Port 0
// when none was given; false on malformed text.
bool split_target(const std::string& target, std::string* host, int* port);

}  // namespace esmtp::probe
