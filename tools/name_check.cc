#include "tools/name_check.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "common/engine/identity.h"

namespace esmtp {
namespace {

std::string lower_name(std::string_view name) {
  std::string s(name);
  while (!s.empty() && s.back() == '.') s.pop_back();
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool has_address(const DnsAnswer& a, const IpAddress& address) {
  return a.status == DnsStatus::kOk &&
         std::find(a.addresses.begin(), a.addresses.end(), address) != a.addresses.end();
}

DnsAnswer late() {
  DnsAnswer a;
  a.status = DnsStatus::kTempError;
  a.error = "timeout";
  return a;
}

// What the callbacks fill in; shared with them, since a callback may run
// after check_name_address() has returned at its deadline.
struct State {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<DnsAnswer> forward;
  std::optional<DnsAnswer> ptr;
  std::map<std::string, std::optional<DnsAnswer>> ptr_forward;
  int pending = 2;
};

}  // namespace

bool NameAddressCheck::forward_matches() const {
  return has_address(forward, address);
}

bool NameAddressCheck::ptr_matches() const {
  return ptr.status == DnsStatus::kOk &&
         std::find(ptr.names.begin(), ptr.names.end(), name) != ptr.names.end();
}

bool NameAddressCheck::temperror() const {
  return forward.status == DnsStatus::kTempError || ptr.status == DnsStatus::kTempError;
}

NameAddressCheck check_name_address(DnsResolver& resolver, std::string_view name,
                                    const IpAddress& address,
                                    std::chrono::steady_clock::time_point deadline) {
  NameAddressCheck r;
  r.name = lower_name(name);
  r.address = address;
  auto st = std::make_shared<State>();
  auto done_one = [st] {
    --st->pending;
    st->cv.notify_all();
  };
  resolver.addresses(r.name, [st, done_one](const DnsAnswer& a) {
    std::lock_guard lock(st->mu);
    st->forward = a;
    done_one();
  });
  resolver.ptr(address, [st, done_one, &resolver](const DnsAnswer& a) {
    std::vector<std::string> names = forward_names(a);
    {
      std::lock_guard lock(st->mu);
      st->ptr = a;
      for (const auto& n : names) st->ptr_forward.emplace(n, std::nullopt);
      st->pending += static_cast<int>(names.size());
    }
    // The resolver outlives the wait below only if the caller keeps it: the
    // lookups started here are cancelled (kTempError) when it goes.
    for (const auto& n : names)
      resolver.addresses(n, [st, done_one, n](const DnsAnswer& f) {
        std::lock_guard lock(st->mu);
        st->ptr_forward[n] = f;
        done_one();
      });
    std::lock_guard lock(st->mu);
    done_one();
  });
  std::unique_lock lock(st->mu);
  st->cv.wait_until(lock, deadline, [&] { return st->pending == 0; });
  r.forward = st->forward.value_or(late());
  r.ptr = st->ptr.value_or(late());
  for (const auto& [n, f] : st->ptr_forward)
    if (f && has_address(*f, address)) r.confirmed_names.push_back(n);
  return r;
}

}  // namespace esmtp
