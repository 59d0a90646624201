// certificate: what selfcheck needs to know about a server certificate file.
//
// Input: a PEM file as Postfix's smtpd_tls_cert_file / smtpd_tls_eccert_file
// / smtpd_tls_chain_files name it (the first certificate in the file is the
// server's; private keys and chain certificates around it are skipped).
// Reading and name matching are OpenSSL's (PEM_read_bio_X509,
// X509_check_host: wildcards as RFC 6125 says, SAN before CN), summarised by
// tools/x509_summary.h as for `probe`.
//
// Limits: files larger than kMaxCertFile are not read (an error).
//
// Errors: load_certificate() returns nullopt with a message naming the file
// and the reason (missing, permission, no certificate in it).
//
// Thread-safety: plain values; functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/x509_summary.h"

namespace esmtp::selfcheck {

inline constexpr std::size_t kMaxCertFile = 1 << 20;

// The summary (subject, names, expiry, self-signed: tools/x509_summary.h)
// of the file's first certificate.
struct CertificateInfo : X509Summary {
  std::string path;
  std::shared_ptr<void> x509;  // the X509 (for covers())

  // Does the certificate cover this host name (X509_check_host)?
  bool covers(std::string_view host) const;
};

std::optional<CertificateInfo> load_certificate(const std::string& path, std::string* error);

}  // namespace esmtp::selfcheck
