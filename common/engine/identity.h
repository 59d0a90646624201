// identity: the identity checks of esmtp-inspect.yaml(5) (HELO, PTR, FCrDNS,
// banner/HELO/PTR consistency).
//
// evaluate() is a pure function from DNS answers to check results, so every
// outcome is testable without DNS. IdentityLookup runs the queries it needs
// (PTR of the client, A/AAAA of each PTR name and of the HELO name) under one
// deadline and then evaluates; answers that are not in by the deadline count
// as temperror, so a session never waits longer than dns.timeout x dns.tries.
//
// Results: pass, fail (something exists and does not match), none (DNS says
// nothing exists), temperror (DNS could not tell). A check that does not apply
// (helo_literal_match for a HELO name, helo_matches_client for an address
// literal, ...) passes.
//
// Thread-safety: evaluate() and RegisteredDomain are reentrant; an
// IdentityLookup is driven by resolver callbacks on the resolver's thread and
// finish() on the caller's, under its own lock.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/dns/dns_resolver.h"
#include "common/rules/rules.h"
#include "common/util/net.h"

namespace esmtp {

enum class CheckResult : std::uint8_t { kPass, kFail, kNone, kTempError };
std::string_view to_string(CheckResult r);

struct IdentityReport {
  std::array<CheckResult, kCheckCount> results{};  // all kPass by default
  std::array<std::string, kCheckCount> details;    // context for the log line
  std::vector<std::string> ptr_names;
  std::vector<std::string> confirmed_names;  // PTR names that resolve back to the client
  CheckResult result(CheckId id) const { return results[static_cast<std::size_t>(id)]; }
};

// What the checks look at.
struct IdentityInput {
  std::optional<IpAddress> client;
  std::string helo;
  std::vector<std::string> self_names;
  std::vector<IpAddress> self_addresses;
  HeloPtrMode helo_ptr_mode = HeloPtrMode::kDomain;
};

// The DNS answers the checks use; a missing answer (nullptr / absent) means
// it was not asked or did not arrive in time.
struct IdentityAnswers {
  const DnsAnswer* ptr = nullptr;
  std::map<std::string, DnsAnswer> forward;  // A/AAAA of each PTR name
  const DnsAnswer* helo = nullptr;           // A/AAAA of the HELO name
};

// HELO forms.
bool is_fqdn(std::string_view name);
std::optional<IpAddress> address_literal(std::string_view helo);  // "[1.2.3.4]", "[IPv6:...]"
bool helo_syntax_ok(std::string_view helo);

// The registered domain (public suffix + 1 label, PSL-aware): "example.co.uk"
// for "mx.example.co.uk"; the name itself when it has no public suffix.
std::string registered_domain(std::string_view host);

IdentityReport evaluate(const IdentityInput& in, const IdentityAnswers& answers);

// The PTR names whose forward lookups evaluate() needs.
std::vector<std::string> forward_names(const DnsAnswer& ptr);

class IdentityLookup : public std::enable_shared_from_this<IdentityLookup> {
 public:
  using Done = std::function<void(const IdentityReport&)>;

  // Starts the queries; `done` runs exactly once, on the resolver's thread
  // when all answers are in, or on the thread that calls finish().
  static std::shared_ptr<IdentityLookup> start(DnsResolver& resolver, IdentityInput input,
                                               Done done);
  // The deadline passed: evaluate with what arrived (the rest is temperror).
  void finish();
  bool finished() const;

 private:
  IdentityLookup(DnsResolver& resolver, IdentityInput input, Done done);
  void on_ptr(const DnsAnswer& a);
  void on_forward(const std::string& name, const DnsAnswer& a);
  void on_helo(const DnsAnswer& a);
  void maybe_done(std::unique_lock<std::mutex>& lock);

  DnsResolver& resolver_;
  IdentityInput input_;
  Done done_;
  mutable std::mutex mu_;
  bool finished_ = false;
  int pending_ = 0;
  std::optional<DnsAnswer> ptr_;
  std::optional<DnsAnswer> helo_;
  std::map<std::string, DnsAnswer> forward_;
};

// Blocking form for the milter: waits until the report is complete or the
// resolver's budget (timeout x tries) has passed.
IdentityReport lookup_identity_wait(DnsResolver& resolver, IdentityInput input);

// self_banner: warns at most once per (name, address) per `interval` that our
// banner name does not forward-confirm to the address we answer on.
class SelfBannerMonitor {
 public:
  explicit SelfBannerMonitor(std::chrono::seconds interval = std::chrono::hours(1))
      : interval_(interval) {}
  // True when this (name, address) should be checked (and logged) now.
  bool due(std::string_view name, const IpAddress& address,
           std::chrono::steady_clock::time_point now);

 private:
  std::chrono::seconds interval_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_;
};

// self_banner's result from the A/AAAA answer of our banner name.
CheckResult self_banner_result(const DnsAnswer& banner_addresses, const IpAddress& address);

}  // namespace esmtp
