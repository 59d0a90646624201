// A DnsResolver for unit tests: answers from maps, at once, on the caller's
// thread, and counts the lookups; anything not listed does not exist
// (kNone), a name or address in `failing` gets SERVFAIL (kTempError).
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/dns/dns_resolver.h"

namespace esmtp {

class FakeResolver : public DnsResolver {
 public:
  std::map<std::string, std::vector<std::string>> ptrs;   // address -> names
  std::map<std::string, std::vector<std::string>> hosts;  // name -> addresses
  std::vector<std::string> failing;                       // names/addresses: SERVFAIL
  int lookups = 0;

  void ptr(const IpAddress& address, Callback done) override {
    ++lookups;
    answer(
        address.str(), ptrs, [](DnsAnswer& a, const std::vector<std::string>& v) { a.names = v; },
        done);
  }
  void addresses(std::string_view name, Callback done) override {
    ++lookups;
    answer(
        std::string(name), hosts,
        [](DnsAnswer& a, const std::vector<std::string>& v) {
          for (const auto& s : v) a.addresses.push_back(*IpAddress::parse(s));
        },
        done);
  }
  std::chrono::milliseconds budget() const override { return std::chrono::milliseconds(100); }
  DnsStats stats() const override { return {}; }

 private:
  template <typename Fill>
  void answer(const std::string& key, const std::map<std::string, std::vector<std::string>>& from,
              Fill fill, const Callback& done) const {
    DnsAnswer a;
    if (std::find(failing.begin(), failing.end(), key) != failing.end()) {
      a.error = "SERVFAIL";
    } else if (auto it = from.find(key); it != from.end()) {
      a.status = DnsStatus::kOk;
      fill(a, it->second);
    } else {
      a.status = DnsStatus::kNone;
    }
    done(a);
  }
};

}  // namespace esmtp
