#include "common/engine/identity.h"

#include <libpsl.h>

#include <algorithm>
#include <future>

namespace esmtp {
namespace {

std::string normalize(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool contains(const std::vector<IpAddress>& v, const IpAddress& ip) {
  return std::find(v.begin(), v.end(), ip) != v.end();
}

std::string join(const std::vector<std::string>& v, std::size_t max = 4) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) {
    if (i) out += ',';
    out += v[i];
  }
  if (v.size() > max) out += ",...";
  return out;
}

std::string addresses_text(const std::vector<IpAddress>& v) {
  std::vector<std::string> s;
  for (const auto& a : v) s.push_back(a.str());
  return join(s);
}

const psl_ctx_t* psl() {
  // The system list (Debian package publicsuffix) when present, else the one
  // compiled into libpsl.
  static const psl_ctx_t* ctx = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest ? latest : psl_builtin();
  }();
  return ctx;
}

}  // namespace

std::string_view to_string(CheckResult r) {
  switch (r) {
    case CheckResult::kPass:
      return "pass";
    case CheckResult::kFail:
      return "fail";
    case CheckResult::kNone:
      return "none";
    case CheckResult::kTempError:
      return "temperror";
  }
  return "?";
}

bool is_fqdn(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t labels = 0;
  bool last_all_digits = false;
  while (!name.empty()) {
    std::size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    last_all_digits = true;
    for (char c : label) {
      const bool digit = c >= '0' && c <= '9';
      // Underscores are not hostname characters, but real HELOs carry them
      // and Postfix accepts them; rejecting them would refuse good mail.
      if (!digit && !std::isalpha(static_cast<unsigned char>(c)) && c != '-' && c != '_')
        return false;
      last_all_digits = last_all_digits && digit;
    }
    ++labels;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  // "1.2.3.4" is an address without brackets, not a host name.
  return labels >= 2 && !last_all_digits;
}

std::optional<IpAddress> address_literal(std::string_view helo) {
  if (helo.size() < 3 || helo.front() != '[' || helo.back() != ']') return std::nullopt;
  return IpAddress::parse(helo);
}

bool helo_syntax_ok(std::string_view helo) {
  return is_fqdn(helo) || address_literal(helo).has_value();
}

std::string registered_domain(std::string_view host) {
  std::string h = normalize(host);
  const char* d = psl_registrable_domain(psl(), h.c_str());
  return d ? std::string(d) : h;
}

std::vector<std::string> forward_names(const DnsAnswer& ptr) {
  std::vector<std::string> out;
  if (ptr.status != DnsStatus::kOk) return out;
  for (const auto& n : ptr.names) {
    std::string name = normalize(n);
    if (is_fqdn(name) && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    if (out.size() == kMaxNames) break;
  }
  return out;
}

IdentityReport evaluate(const IdentityInput& in, const IdentityAnswers& answers) {
  IdentityReport r;
  auto set = [&](CheckId id, CheckResult res, std::string detail = {}) {
    r.results[static_cast<std::size_t>(id)] = res;
    r.details[static_cast<std::size_t>(id)] = std::move(detail);
  };
  const std::string helo = normalize(in.helo);
  const auto literal = address_literal(in.helo);
  const bool have_helo = !in.helo.empty();
  const bool helo_name = have_helo && !literal && is_fqdn(helo);

  if (have_helo && !helo_syntax_ok(in.helo)) set(CheckId::kHeloSyntax, CheckResult::kFail);
  if (literal && !(in.client && *literal == *in.client))
    set(CheckId::kHeloLiteralMatch, CheckResult::kFail,
        "literal=" + literal->str() + " client=" + (in.client ? in.client->str() : "unknown"));
  if (have_helo) {
    for (const auto& name : in.self_names)
      if (normalize(name) == helo) set(CheckId::kHeloNotSelf, CheckResult::kFail, "our name");
    if (literal && contains(in.self_addresses, *literal))
      set(CheckId::kHeloNotSelf, CheckResult::kFail, "our address");
  }

  // PTR and forward confirmation.
  if (in.client) {
    if (!answers.ptr) {
      set(CheckId::kPtrPresent, CheckResult::kTempError, "timeout");
      set(CheckId::kFcrdns, CheckResult::kTempError, "timeout");
    } else if (answers.ptr->status == DnsStatus::kNone) {
      set(CheckId::kPtrPresent, CheckResult::kNone);
      set(CheckId::kFcrdns, CheckResult::kNone, "no PTR");
    } else if (answers.ptr->status == DnsStatus::kTempError) {
      set(CheckId::kPtrPresent, CheckResult::kTempError, answers.ptr->error);
      set(CheckId::kFcrdns, CheckResult::kTempError, "PTR: " + answers.ptr->error);
    } else {
      r.ptr_names = forward_names(*answers.ptr);
      bool temp = false;
      for (const auto& name : r.ptr_names) {
        auto it = answers.forward.find(name);
        if (it == answers.forward.end() || it->second.status == DnsStatus::kTempError)
          temp = true;
        else if (it->second.status == DnsStatus::kOk && contains(it->second.addresses, *in.client))
          r.confirmed_names.push_back(name);
      }
      if (r.ptr_names.empty()) {
        set(CheckId::kPtrPresent, CheckResult::kNone, "no usable PTR name");
        set(CheckId::kFcrdns, CheckResult::kNone, "no usable PTR name");
      } else if (r.confirmed_names.empty()) {
        set(CheckId::kFcrdns, temp ? CheckResult::kTempError : CheckResult::kFail,
            "ptr=" + join(r.ptr_names));
      }
    }
  }

  if (helo_name) {
    if (!answers.helo || answers.helo->status == DnsStatus::kTempError) {
      const std::string why = answers.helo ? answers.helo->error : "timeout";
      set(CheckId::kHeloResolves, CheckResult::kTempError, why);
      set(CheckId::kHeloMatchesClient, CheckResult::kTempError, why);
    } else if (answers.helo->status == DnsStatus::kNone) {
      set(CheckId::kHeloResolves, CheckResult::kNone);
      set(CheckId::kHeloMatchesClient, CheckResult::kNone, "helo has no address");
    } else if (in.client && !contains(answers.helo->addresses, *in.client)) {
      set(CheckId::kHeloMatchesClient, CheckResult::kFail,
          "helo addresses=" + addresses_text(answers.helo->addresses));
    }

    // Banner/HELO/PTR consistency: against forward-confirmed names only.
    if (in.client) {
      const CheckResult fcrdns = r.result(CheckId::kFcrdns);
      if (r.confirmed_names.empty()) {
        set(CheckId::kHeloMatchesPtr,
            fcrdns == CheckResult::kTempError ? CheckResult::kTempError : CheckResult::kNone,
            "no forward-confirmed PTR");
      } else {
        const bool exact = in.helo_ptr_mode == HeloPtrMode::kExact;
        const std::string helo_domain = exact ? std::string() : registered_domain(helo);
        bool match = false;
        for (const auto& name : r.confirmed_names)
          match = match || (exact ? name == helo : registered_domain(name) == helo_domain);
        if (!match)
          set(CheckId::kHeloMatchesPtr, CheckResult::kFail, "ptr=" + join(r.confirmed_names));
      }
    }
  }
  return r;
}

IdentityLookup::IdentityLookup(DnsResolver& resolver, IdentityInput input, Done done)
    : resolver_(resolver), input_(std::move(input)), done_(std::move(done)) {}

std::shared_ptr<IdentityLookup> IdentityLookup::start(DnsResolver& resolver, IdentityInput input,
                                                      Done done) {
  std::shared_ptr<IdentityLookup> self(
      new IdentityLookup(resolver, std::move(input), std::move(done)));
  const bool ask_ptr = self->input_.client.has_value();
  const bool ask_helo = !self->input_.helo.empty() && !address_literal(self->input_.helo) &&
                        is_fqdn(normalize(self->input_.helo));
  {
    std::unique_lock lock(self->mu_);
    // Counted before asking: a cached answer calls back at once.
    self->pending_ = (ask_ptr ? 1 : 0) + (ask_helo ? 1 : 0);
    if (self->pending_ == 0) {
      self->maybe_done(lock);
      return self;
    }
  }
  if (ask_ptr) resolver.ptr(*self->input_.client, [self](const DnsAnswer& a) { self->on_ptr(a); });
  if (ask_helo)
    resolver.addresses(normalize(self->input_.helo),
                       [self](const DnsAnswer& a) { self->on_helo(a); });
  return self;
}

void IdentityLookup::on_ptr(const DnsAnswer& a) {
  std::vector<std::string> names;
  {
    std::unique_lock lock(mu_);
    if (finished_) return;
    ptr_ = a;
    names = forward_names(a);
    pending_ += static_cast<int>(names.size());
  }
  auto self = shared_from_this();
  for (const auto& name : names)
    resolver_.addresses(name, [self, name](const DnsAnswer& f) { self->on_forward(name, f); });
  std::unique_lock lock(mu_);
  --pending_;
  maybe_done(lock);
}

void IdentityLookup::on_forward(const std::string& name, const DnsAnswer& a) {
  std::unique_lock lock(mu_);
  if (finished_) return;
  forward_[name] = a;
  --pending_;
  maybe_done(lock);
}

void IdentityLookup::on_helo(const DnsAnswer& a) {
  std::unique_lock lock(mu_);
  if (finished_) return;
  helo_ = a;
  --pending_;
  maybe_done(lock);
}

void IdentityLookup::maybe_done(std::unique_lock<std::mutex>& lock) {
  if (finished_ || pending_ > 0) return;
  finished_ = true;
  IdentityAnswers answers;
  answers.ptr = ptr_ ? &*ptr_ : nullptr;
  answers.helo = helo_ ? &*helo_ : nullptr;
  answers.forward = forward_;
  IdentityReport report = evaluate(input_, answers);
  Done done = std::move(done_);
  lock.unlock();
  done(report);
}

void IdentityLookup::finish() {
  std::unique_lock lock(mu_);
  if (finished_) return;
  pending_ = 0;  // what has not arrived is a temperror
  maybe_done(lock);
}

bool IdentityLookup::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

IdentityReport lookup_identity_wait(DnsResolver& resolver, IdentityInput input) {
  auto promise = std::make_shared<std::promise<IdentityReport>>();
  auto future = promise->get_future();
  auto lookup = IdentityLookup::start(
      resolver, std::move(input), [promise](const IdentityReport& r) { promise->set_value(r); });
  if (future.wait_for(resolver.budget()) != std::future_status::ready) lookup->finish();
  return future.get();
}

bool SelfBannerMonitor::due(std::string_view name, const IpAddress& address,
                            std::chrono::steady_clock::time_point now) {
  std::string key = normalize(name) + "|" + address.str();
  std::lock_guard lock(mu_);
  auto it = last_.find(key);
  if (it != last_.end() && now - it->second < interval_) return false;
  if (last_.size() >= 1024) last_.clear();  // our own names: a handful in practice
  last_[key] = now;
  return true;
}

CheckResult self_banner_result(const DnsAnswer& banner, const IpAddress& address) {
  switch (banner.status) {
    case DnsStatus::kOk:
      return contains(banner.addresses, address) ? CheckResult::kPass : CheckResult::kFail;
    case DnsStatus::kNone:
      return CheckResult::kNone;
    case DnsStatus::kTempError:
      break;
  }
  return CheckResult::kTempError;
}

}  // namespace esmtp
