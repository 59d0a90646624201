// counter_store: counters over a sliding window, shared by the sessions of a
// daemon (local) or by several daemons and MTAs (redis), for the rules that
// count across connections (esmtp-inspect.yaml(5), COUNTERS ACROSS CONNECTIONS; SPEC 14).
//
// A counter is a name ("harvest:192.0.2.0/24") and a window. The window is
// cut into kSlots slots of ceil(window / kSlots) seconds, numbered from the
// Unix epoch (wall-clock time, so that MTAs sharing a store agree on the
// numbering); a count is the sum of the last kSlots slots, the current one
// included. An event is therefore counted for at least window - slot and at
// most window seconds: exact counts, a slot's worth of imprecision in when
// they expire, and memory bounded per counter. Every store counts the same
// way, so falling back from redis to local changes where the counts live,
// not what they mean.
//
// Thread-safety: implementations may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace esmtp {

using WallTime = std::chrono::system_clock::time_point;

struct SlidingWindow {
  static constexpr std::int64_t kSlots = 10;

  // The slot width for a window, in seconds (at least 1).
  static std::int64_t slot_seconds(std::chrono::seconds window) {
    const std::int64_t w = window.count() < 1 ? 1 : window.count();
    return (w + kSlots - 1) / kSlots;
  }
  // The number of the slot `now` falls in.
  static std::int64_t slot_of(WallTime now, std::int64_t width) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    return s / width;
  }
};

// What a store answered: the count over the window after the addition, or
// why it could not tell.
struct CountResult {
  bool ok = false;
  std::uint64_t count = 0;
  std::string error;  // when !ok: for the log line of the outage

  static CountResult of(std::uint64_t n) { return {true, n, {}}; }
  static CountResult failed(std::string why) { return {false, 0, std::move(why)}; }
};

class CounterStore {
 public:
  virtual ~CounterStore() = default;
  // Adds `add` (0: reads only) to counter `name` at `now`, and returns its
  // total over the last `window`. A remote store answers within its
  // timeout or fails.
  virtual CountResult add(std::string_view name, std::chrono::seconds window, std::uint32_t add,
                          WallTime now) = 0;
  // "local", "redis": the `store` label of esmtp_inspect_store_errors_total.
  virtual std::string_view kind() const = 0;
};

}  // namespace esmtp
