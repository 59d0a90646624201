#include "common/engine/mta_needs.h"

namespace esmtp {
namespace {

template <typename F>
void each_profile(const Config& c, F&& f) {
  f(c.defaults);
  for (const auto& p : c.profiles) f(p);
}

}  // namespace

MtaNeeds mta_needs(const Config& c, FrontEnd front_end) {
  EventSet read = 0;
  each_profile(c, [&](const Profile& p) {
    if (!p.inspect) return;
    for (const auto& info : rule_table())
      if (p.rules[static_cast<std::size_t>(info.id)].enabled() &&
          decides(c, front_end, info.decider))
        read = static_cast<EventSet>(read | info.events);
  });
  MtaNeeds n;
  n.body = (read & kBodyEvents) != 0;
  // The MIME rules find the parts from the top-level Content-Type.
  n.headers = (read & (kHeaderEvents | kMimeEvents)) != 0;
  n.rejected_recipients = has(read, Event::kRcptRejected);
  return n;
}

}  // namespace esmtp
