#include "common/engine/self_banner.h"

#include <fmt/format.h>

#include <optional>

namespace esmtp {

bool self_banner_on(const Config& c) {
  return c.defaults.inspect && c.defaults.identity &&
         c.defaults.checks[static_cast<std::size_t>(CheckId::kSelfBanner)].action != Action::kOff;
}

bool self_banner_skips(const IpAddress& a) {
  const auto zero = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      if (a.bytes[i] != 0) return false;
    return true;
  };
  if (!a.v6) return a.bytes[0] == 127 || zero(0, 4);
  if (zero(0, 15)) return a.bytes[15] <= 1;  // :: and ::1
  // IPv4-mapped: ::ffff:127.x.x.x and ::ffff:0.0.0.0.
  if (zero(0, 10) && a.bytes[10] == 0xff && a.bytes[11] == 0xff)
    return a.bytes[12] == 127 || zero(12, 16);
  return false;
}

std::string self_banner_warning(std::string_view name, const IpAddress& address, CheckResult r,
                                std::string_view dns_error, std::string_view fix_hint) {
  return fmt::format(
      "self_banner: our banner name {} does not resolve to {}, the address clients reach us on "
      "(result={}{}): outside checks will report \"reverse DNS does not match SMTP banner\"; "
      "fix the name's A/AAAA record or {}",
      name, address.str(), to_string(r), dns_error.empty() ? "" : ", " + std::string(dns_error),
      fix_hint);
}

bool SelfBanner::check(std::string_view name, std::string_view address_text, DnsResolver& resolver,
                       std::shared_ptr<Logger> logger, Defer defer,
                       std::chrono::steady_clock::time_point now) {
  const std::optional<IpAddress> address = IpAddress::parse(address_text);
  if (name.empty() || !address || self_banner_skips(*address)) return false;
  if (!monitor_.due(name, *address, now)) return false;
  resolver.addresses(name, [name = std::string(name), address = *address, logger,
                            defer = std::move(defer), hint = fix_hint_](const DnsAnswer& a) {
    const CheckResult r = self_banner_result(a, address);
    if (r == CheckResult::kPass) return;
    auto warn = [logger, line = self_banner_warning(name, address, r, a.error, hint)] {
      logger->warning("{}", line);
    };
    if (defer)
      defer(std::move(warn));
    else
      warn();
  });
  return true;
}

}  // namespace esmtp
