#include "common/store/local_store.h"

#include <algorithm>
#include <limits>

namespace esmtp {

LocalStore::LocalStore(std::size_t max_keys) : max_keys_(std::max<std::size_t>(max_keys, 1)) {
  index_.reserve(std::min<std::size_t>(max_keys_, 4096));
}

std::size_t LocalStore::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

CountResult LocalStore::add(std::string_view name, std::chrono::seconds window, std::uint32_t add,
                            WallTime now) {
  constexpr std::int64_t kSlots = SlidingWindow::kSlots;
  const std::int64_t width = SlidingWindow::slot_seconds(window);
  const std::int64_t slot = SlidingWindow::slot_of(now, width);
  std::lock_guard lock(mu_);
  auto it = index_.find(name);
  if (it == index_.end()) {
    if (add == 0) return CountResult::of(0);  // reading creates nothing
    if (lru_.size() >= max_keys_) {
      index_.erase(lru_.back().name);
      lru_.pop_back();
    }
    lru_.push_front(Counter{std::string(name), width, slot, {}});
    it = index_.emplace(lru_.front().name, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  }
  Counter& c = *it->second;
  if (c.width != width) {  // the window was reconfigured: start over
    c.width = width;
    c.newest = slot;
    c.slots.fill(0);
  }
  // Slots between the newest counted and now have passed: clear them (all
  // of them once a whole window has gone by). A clock that went back counts
  // into the newest slot.
  if (slot > c.newest) {
    const std::int64_t gone = std::min(slot - c.newest, kSlots);
    for (std::int64_t i = 1; i <= gone; ++i)
      c.slots[static_cast<std::size_t>((c.newest + i) % kSlots)] = 0;
    c.newest = slot;
  }
  std::uint32_t& cur = c.slots[static_cast<std::size_t>(c.newest % kSlots)];
  cur = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(std::uint64_t{cur} + add, std::numeric_limits<std::uint32_t>::max()));
  std::uint64_t total = 0;
  for (std::uint32_t n : c.slots) total += n;
  return CountResult::of(total);
}

}  // namespace esmtp
