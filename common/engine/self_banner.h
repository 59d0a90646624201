// self_banner: the server's own banner name must forward-confirm to the
// address clients reach it on, or outside checks report "reverse DNS does
// not match SMTP banner" (esmtp-inspect-milter(8), DESCRIPTION; the check
// self_banner in esmtp-inspect.yaml(5), IDENTITY CHECKS). Both daemons ask
// here: the milter with macro j and {daemon_addr}, the policy service with
// identity.self.names' first name and server_address.
//
// The whole decision is SelfBanner::check(): nothing for an address that is
// loopback or unspecified (local submission and content filters are not
// what the outside world sees) or that is not an address; at most one
// lookup per name and address per interval (an hour); then the name's A and
// AAAA records, and one warning line when they do not hold the address. It
// never affects mail.
//
// Thread-safety: check() may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/dns/dns_resolver.h"
#include "common/engine/identity.h"
#include "common/log/logger.h"
#include "common/util/net.h"

namespace esmtp {

// Whether the daemons check at all: the check is on at the top level
// (identity.checks.self_banner not off, identity checks and inspection not
// turned off there). It is daemon-wide, so profiles do not change it.
bool self_banner_on(const Config& c);

// Loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) or unspecified (0.0.0.0,
// ::): never checked.
bool self_banner_skips(const IpAddress& address);

// The warning: "self_banner: our banner name NAME does not resolve to
// ADDRESS, ...; fix the name's A/AAAA record or FIX_HINT".
std::string self_banner_warning(std::string_view name, const IpAddress& address, CheckResult r,
                                std::string_view dns_error, std::string_view fix_hint);

class SelfBanner {
 public:
  // Runs a function elsewhere (the policy server's io_context); empty: the
  // warning is logged on the resolver's thread.
  using Defer = std::function<void(std::function<void()>)>;

  // `fix_hint`: the setting that names the banner ("myhostname" for the
  // milter, "identity.self.names" for the policy service).
  explicit SelfBanner(std::string fix_hint, std::chrono::seconds interval = std::chrono::hours(1))
      : fix_hint_(std::move(fix_hint)), monitor_(interval) {}

  // `address` as the MTA wrote it. True when a lookup was started.
  bool check(std::string_view name, std::string_view address, DnsResolver& resolver,
             std::shared_ptr<Logger> logger, Defer defer = {},
             std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  std::string fix_hint_;
  SelfBannerMonitor monitor_;
};

}  // namespace esmtp
