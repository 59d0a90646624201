#include "tools/x509_summary.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

namespace esmtp {
namespace {

std::string asn1_string(const ASN1_STRING* s) {
  if (!s) return {};
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string name_text(const X509_NAME* n) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!n || !bio || X509_NAME_print_ex(bio.get(), n, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return data && len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

X509Summary summarize_x509(X509* cert) {
  X509Summary s;
  if (!cert) return s;
  s.subject = name_text(X509_get_subject_name(cert));
  s.issuer = name_text(X509_get_issuer_name(cert));
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && s.names.size() < kMaxCertNames; ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type == GEN_DNS) s.names.push_back(asn1_string(g->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
  }
  if (s.names.empty()) {
    X509_NAME* subject = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0)
      s.names.push_back(asn1_string(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  s.not_after = time_text(not_after);
  int days = 0, secs = 0;
  if (not_after && ASN1_TIME_diff(&days, &secs, nullptr, not_after) == 1)
    s.seconds_left = static_cast<std::int64_t>(days) * 86400 + secs;
  s.not_yet_valid = X509_cmp_current_time(X509_get0_notBefore(cert)) > 0;
  // EXFLAG_SS: issuer equals subject and the key identifiers (when present)
  // agree; whether the signature verifies is the chain check's business.
  s.self_signed = (X509_get_extension_flags(cert) & EXFLAG_SS) != 0;
  return s;
}

bool x509_covers(X509* cert, std::string_view host) {
  return cert && !host.empty() && X509_check_host(cert, host.data(), host.size(), 0, nullptr) == 1;
}

}  // namespace esmtp
