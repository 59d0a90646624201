#include "common/config/config.h"

#include <algorithm>

namespace esmtp {

const Profile& select_profile(const Config& c, const ClientFacts& facts) {
  for (const auto& p : c.profiles) {
    const auto& m = p.match;
    if (!m.clients.empty()) {
      if (!facts.address) continue;
      bool hit = false;
      for (const auto& cidr : m.clients) hit = hit || cidr.contains(*facts.address);
      if (!hit) continue;
    }
    if (m.authenticated && *m.authenticated != facts.authenticated) continue;
    if (!m.daemons.empty() &&
        std::find(m.daemons.begin(), m.daemons.end(), facts.daemon) == m.daemons.end())
      continue;
    return p;
  }
  return c.defaults;
}

}  // namespace esmtp
