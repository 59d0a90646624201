// dns_names: query names and server addresses (see the header).
#include "common/dns/dns_names.h"

#include "common/dns/dns_message.h"

namespace esmtp {

// "203.0.113.5" -> "5.113.0.203.in-addr.arpa", IPv6 -> 32 nibbles + "ip6.arpa".
std::string dns_reverse_name(const IpAddress& ip) {
  std::string out;
  if (!ip.v6) {
    for (int i = 3; i >= 0; --i) out += std::to_string(ip.bytes[i]) + '.';
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[ip.bytes[i] & 0x0F];
    out += '.';
    out += kHex[ip.bytes[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

// A host name to query: one trailing dot dropped, lower case; nullopt when it
// cannot be a host name (empty or long labels, characters beyond letters,
// digits, '-' and '_', which would also reach c-ares' own escape handling).
std::optional<std::string> dns_query_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kDnsMaxNameLength) return std::nullopt;
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      out.push_back('.');
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return std::nullopt;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (label == 0) return std::nullopt;
  return out;
}

// "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:5353".
std::optional<DnsServer> parse_dns_server(std::string_view text) {
  auto hp = split_host_port(text);
  if (!hp) return std::nullopt;
  // IpAddress::parse also takes MTA forms ("IPv6:...", "[...]"); a server
  // is a bare address.
  if (hp->host.empty() ||
      hp->host.find_first_not_of("0123456789abcdefABCDEF.:") != std::string_view::npos)
    return std::nullopt;
  auto address = IpAddress::parse(hp->host);
  if (!address || (hp->bracketed && !address->v6)) return std::nullopt;
  DnsServer s{*address, 53};
  if (!hp->port.empty()) {
    auto port = parse_port(hp->port);
    if (!port) return std::nullopt;
    s.port = *port;
  }
  return s;
}

}  // namespace esmtp
