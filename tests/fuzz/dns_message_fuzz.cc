// Fuzzes the DNS reply walker (common/dns/dns_message.h): hostile bytes from a
// DNS server must give a well-formed DnsAnswer or a temperror, never a crash,
// an overread, or names and addresses beyond the limits.
//
// Input: byte 0 picks the query type, byte 1 c-ares' status, byte 2 the name
// asked; the rest is the reply.
#include <ares.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "common/dns/dns_message.h"

namespace {

bool host_name(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  static const std::uint16_t kTypes[] = {esmtp::kDnsTypeA, esmtp::kDnsTypeAaaa, esmtp::kDnsTypePtr};
  static const int kStatus[] = {ARES_SUCCESS, ARES_ENOTFOUND, ARES_ENODATA, ARES_ESERVFAIL};
  static const char* kNames[] = {
      "mx.example.org", "5.113.0.203.in-addr.arpa",
      "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "example.co.uk"};
  const std::uint16_t qtype = kTypes[data[0] % 3];
  const int status = kStatus[data[1] % 4];
  const std::string qname = kNames[data[2] % 4];
  const esmtp::DnsAnswer a =
      esmtp::interpret_dns_reply(status, std::span(data + 3, size - 3), qtype, qname);

  switch (a.status) {
    case esmtp::DnsStatus::kOk:
      if (a.names.empty() && a.addresses.empty()) std::abort();
      if (a.names.size() > esmtp::kMaxNames || a.addresses.size() > esmtp::kMaxAddresses)
        std::abort();
      for (const auto& n : a.names)
        if (!host_name(n)) std::abort();
      for (const auto& ip : a.addresses)
        if (ip.v6 != (qtype == esmtp::kDnsTypeAaaa)) std::abort();
      [[fallthrough]];
    case esmtp::DnsStatus::kNone:
      if (a.ttl.count() < 1 || a.ttl.count() > 86400) std::abort();
      break;
    case esmtp::DnsStatus::kTempError:
      if (a.error.empty()) std::abort();
      break;
  }
  return 0;
}
