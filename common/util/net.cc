#include "common/util/net.h"

#include <arpa/inet.h>

#include <algorithm>

#include <charconv>

namespace esmtp {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // Accept the forms MTAs hand us: "[1.2.3.4]", "IPv6:2001:db8::1", "[IPv6:...]".
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (text.size() > 5 && (text.substr(0, 5) == "IPv6:" || text.substr(0, 5) == "ipv6:"))
    text = text.substr(5);
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf)) return "?";
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  std::size_t slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  c.base = *ip;
  const unsigned width = ip->v6 ? 128 : 32;
  c.prefix = width;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), c.prefix);
    if (ec != std::errc() || end != p.data() + p.size() || p.empty() || c.prefix > width)
      return std::nullopt;
  }
  // Clear host bits so that "192.0.2.7/24" means 192.0.2.0/24.
  for (unsigned bit = c.prefix; bit < width; ++bit)
    c.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.v6 != base.v6) return false;
  unsigned full = prefix / 8;
  for (unsigned i = 0; i < full; ++i)
    if (ip.bytes[i] != base.bytes[i]) return false;
  unsigned rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
  return (ip.bytes[full] & mask) == base.bytes[full];
}

std::string Cidr::str() const {
  return base.str() + "/" + std::to_string(prefix);
}

std::optional<HostPort> split_host_port(std::string_view text) {
  HostPort hp{text, {}, false};
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    hp.host = text.substr(1, close - 1);
    hp.bracketed = true;
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return hp;
    if (rest.front() != ':') return std::nullopt;
    hp.port = rest.substr(1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    hp.host = text.substr(0, colon);
    hp.port = text.substr(colon + 1);
  } else {
    return hp;
  }
  if (hp.port.empty()) return std::nullopt;
  return hp;
}

std::optional<int> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != text.npos)
    return std::nullopt;
  int port = 0;
  std::from_chars(text.data(), text.data() + text.size(), port);
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

}  // namespace esmtp
