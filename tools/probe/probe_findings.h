// probe_findings: what `esmtp-inspect probe` observed, and what it means.
//
// ProbeResult holds the facts the network part collected (times, replies,
// TLS, DNS); analyze() turns them into findings, each with a severity, what
// it means and what to do. analyze() is pure, so every finding is unit-tested
// with made-up results; the integration test checks the same findings
// against a real Postfix and a firewall-like proxy.
//
// Severity decides the exit code (exit_code()): 0 nothing worse than info,
// 1 a warning, 2 a problem, 3 the server could not be probed at all (no
// address, no connection).
//
// The reverse-DNS findings follow RFC 5321 section 4.2: the text after 220
// in a receiving server's banner is informational. Receivers check a
// *sender's* HELO name against the PTR of the address it sends from, so a
// banner name that disagrees with the PTR matters only where this host also
// sends mail under that name (`sends_mail`); otherwise it is info.
//
// Thread-safety: plain values.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/util/net.h"
#include "tools/name_check.h"
#include "tools/probe/smtp_reply.h"
#include "tools/severity.h"

namespace esmtp::probe {

struct Finding {
  std::string id;  // stable, for monitoring: "banner_masked", "starttls_masked", ...
  Severity severity = Severity::kOk;
  std::string title;    // one line
  std::string meaning;  // what it means
  std::string action;   // what to do ("" when nothing)
};

struct TlsInfo {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;
  std::string subject;  // one-line subject (RFC 2253)
  std::string issuer;
  std::vector<std::string> dns_names;  // subjectAltName DNS entries, else the CN
  std::string not_after;               // "2027-11-23T16:40:00Z"
  long days_left = 0;                  // negative when expired
  bool self_signed = false;
  std::string verify;  // X509_verify_cert_error_string of the chain check ("ok")
  // X509_check_host() against the banner name; nullopt when no banner name.
  std::optional<bool> matches_banner_name;
};

inline constexpr std::size_t kLongLine = 1100;  // > 998, the ASA's default header line limit

struct LongLineTest {
  std::size_t octets = 0;
  std::string outcome;  // "passed", "reset" (connection dropped), "untested"
  std::string detail;   // why untested, or how it was dropped
};

enum class Starttls { kUnknown, kOffered, kMasked, kAbsent };
const char* to_string(Starttls s);  // "unknown", "offered", "masked", "absent"

struct ProbeResult {
  std::string target;  // as given
  std::string host;    // host part (name or address)
  std::optional<IpAddress> address;
  int port = 25;
  std::string resolve_error;  // the host name did not resolve

  bool connected = false;
  std::string connect_error;
  double connect_ms = 0;

  bool banner_received = false;
  double banner_ms = 0;  // from connected to the complete banner
  SmtpReply banner;
  std::string banner_error;  // "timeout", "connection closed", a parse error
  std::string banner_name;   // banner_hostname(banner)
  bool banner_masked = false;

  std::string ehlo_name;  // what we sent
  bool ehlo_done = false;
  SmtpReply ehlo;
  std::string ehlo_error;
  std::string ehlo_greeting_name;  // the host name the EHLO reply starts with
  std::vector<EhloExtension> extensions;
  std::vector<std::string> masked_extensions;  // as sent ("XXXXXXXA")
  Starttls starttls = Starttls::kUnknown;

  bool tls_attempted = false;
  std::optional<TlsInfo> tls;
  std::string tls_error;
  std::vector<EhloExtension> tls_extensions;  // EHLO after STARTTLS

  std::optional<LongLineTest> long_line;  // --long-line-test
  std::optional<NameAddressCheck> names;  // banner name vs address (PTR, A/AAAA)
};

struct AnalyzeOptions {
  double slow_banner_ms = 3000;
  bool sends_mail = false;  // this host also sends mail with the banner name as HELO
  bool no_tls = false;
  int expiry_warning_days = 14;
};

std::vector<Finding> analyze(const ProbeResult& r, const AnalyzeOptions& o);
Severity worst(const std::vector<Finding>& findings);
// 0 ok/info, 1 warning, 2 problem, 3 could not probe (no address or no connection).
int exit_code(const ProbeResult& r, const std::vector<Finding>& findings);

}  // namespace esmtp::probe
