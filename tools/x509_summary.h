// x509_summary: what the operator tools tell about a server certificate,
// read once for both `probe` (the certificate a server presents after
// STARTTLS) and `selfcheck` (the file Postfix is configured with).
//
// Everything is OpenSSL's: names from subjectAltName (dNSName entries) or,
// when there are none, the subject's CN, as RFC 6125 says clients match;
// matching a host name with X509_check_host (wildcards included). Strings are
// the certificate's bytes, not sanitised: print them through a filter when
// the certificate is not trusted (probe does).
//
// Limits: at most kMaxCertNames names are kept.
// Thread-safety: reentrant; the X509 is only read.
#pragma once

#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace esmtp {

inline constexpr std::size_t kMaxCertNames = 100;

struct X509Summary {
  std::string subject;             // one line, RFC 2253
  std::string issuer;              // one line, RFC 2253
  std::vector<std::string> names;  // DNS names of subjectAltName, else the CN
  std::string not_after;           // "2027-11-23T16:40:00Z"; empty when unreadable
  std::int64_t seconds_left = 0;   // until not_after (negative: expired)
  bool not_yet_valid = false;
  bool self_signed = false;  // issued by its own subject (EXFLAG_SS)
};

X509Summary summarize_x509(X509* cert);

// Does the certificate cover this host name (X509_check_host)?
bool x509_covers(X509* cert, std::string_view host);

}  // namespace esmtp
