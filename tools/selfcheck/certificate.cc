#include "tools/selfcheck/certificate.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace esmtp::selfcheck {
namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no certificate in the file";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

bool CertificateInfo::covers(std::string_view host) const {
  return x509_covers(static_cast<X509*>(x509.get()), host);
}

std::optional<CertificateInfo> load_certificate(const std::string& path, std::string* error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = path + ": not a regular file";
    return std::nullopt;
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxCertFile) {
    *error = path + ": larger than " + std::to_string(kMaxCertFile) + " octets";
    return std::nullopt;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  if (!bio) {
    int e = errno;
    ERR_clear_error();
    *error = path + ": " + (e ? std::strerror(e) : "cannot open");
    return std::nullopt;
  }
  X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!raw) {
    *error = path + ": " + openssl_error();
    return std::nullopt;
  }
  ERR_clear_error();
  CertificateInfo c;
  static_cast<X509Summary&>(c) = summarize_x509(raw);
  c.path = path;
  c.x509 = std::shared_ptr<void>(raw, [](void* p) { X509_free(static_cast<X509*>(p)); });
  return c;
}

}  // namespace esmtp::selfcheck
