// local_store: counters in the daemon's memory, for `store: { type: local }`
// and as the fallback while a redis store is out (counters.h).
//
// Each counter keeps its kSlots slot counts (counter_store.h) and the number
// of its newest slot: about 100 octets with its name. At most `max_keys`
// counters are kept; a new one past that evicts the least recently used, so
// memory stays bounded whatever the number of client addresses (an IPv6
// sweep included). A counter whose window has passed reads as 0 and is
// reused in place.
//
// Thread-safety: any thread; one lock, held for a hash lookup and a few
// additions (no allocation unless the counter is new).
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/store/counter_store.h"

namespace esmtp {

class LocalStore : public CounterStore {
 public:
  explicit LocalStore(std::size_t max_keys);

  CountResult add(std::string_view name, std::chrono::seconds window, std::uint32_t add,
                  WallTime now) override;
  std::string_view kind() const override { return "local"; }

  std::size_t size() const;

 private:
  struct Counter {
    std::string name;
    std::int64_t width = 0;   // slot width in seconds
    std::int64_t newest = 0;  // number of the newest slot counted
    std::array<std::uint32_t, SlidingWindow::kSlots> slots{};
  };
  using Lru = std::list<Counter>;  // most recently used first

  std::size_t max_keys_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into lru_'s names
};

}  // namespace esmtp
