// net: IP addresses and CIDR prefixes for profile matching and identity checks.
//
// Inputs are operator text ("192.0.2.0/24", "2001:db8::/32") or MTA macros
// ("203.0.113.5", "IPv6:2001:db8::1", "[192.0.2.1]"). Parsing is strict and
// allocation-free; invalid text yields nullopt.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace esmtp {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  static std::optional<IpAddress> parse(std::string_view text);
  std::string str() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// "HOST", "HOST:PORT", "[ADDRESS]", "[ADDRESS]:PORT", or a bare IPv6
// address (more than one ':'): DNS servers in the configuration, probe
// targets. nullopt for a '[' without ']', anything but ":PORT" after ']', or
// ":" with no port; the host (possibly empty) and the port text are the
// caller's to check (parse_port()).
struct HostPort {
  std::string_view host;
  std::string_view port;  // empty: none given
  bool bracketed = false;
};
std::optional<HostPort> split_host_port(std::string_view text);

// 1..65535 written in decimal digits only.
std::optional<int> parse_port(std::string_view text);

struct Cidr {
  IpAddress base;
  unsigned prefix = 0;

  // "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n". A bare address is a host prefix.
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  std::string str() const;
};

}  // namespace esmtp
