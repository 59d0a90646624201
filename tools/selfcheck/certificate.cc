#include "tools/selfcheck/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>

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

std::string asn1_string(const ASN1_STRING* s) {
  if (!s) return {};
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string time_text(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t seconds_until(const ASN1_TIME* t) {
  int days = 0, secs = 0;
  if (!t || ASN1_TIME_diff(&days, &secs, nullptr, t) != 1) return 0;
  return static_cast<std::int64_t>(days) * 86400 + secs;
}

}  // namespace

bool CertificateInfo::covers(std::string_view host) const {
  if (!x509 || host.empty()) return false;
  return X509_check_host(static_cast<X509*>(x509.get()), host.data(), host.size(), 0, nullptr) == 1;
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
  c.path = path;
  c.x509 = std::shared_ptr<void>(raw, [](void* p) { X509_free(static_cast<X509*>(p)); });

  std::unique_ptr<BIO, decltype(&BIO_free)> mem(BIO_new(BIO_s_mem()), &BIO_free);
  if (mem && X509_NAME_print_ex(mem.get(), X509_get_subject_name(raw), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long len = BIO_get_mem_data(mem.get(), &data);
    if (data && len > 0) c.subject.assign(data, static_cast<std::size_t>(len));
  }

  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(raw, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type == GEN_DNS) c.names.push_back(asn1_string(g->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
  }
  if (c.names.empty()) {
    X509_NAME* subj = X509_get_subject_name(raw);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (idx >= 0)
      c.names.push_back(asn1_string(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx))));
  }

  c.not_after = time_text(X509_get0_notAfter(raw));
  c.seconds_left = seconds_until(X509_get0_notAfter(raw));
  c.not_yet_valid = X509_cmp_current_time(X509_get0_notBefore(raw)) > 0;
  // EXFLAG_SS: issuer equals subject and the key identifiers (when present)
  // agree; the signature is not what matters here, only who vouches.
  c.self_signed = (X509_get_extension_flags(raw) & EXFLAG_SS) != 0;
  return c;
}

}  // namespace esmtp::selfcheck
