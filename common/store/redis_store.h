// redis_store: counters in Redis or Valkey (RESP, through Debian's
// libhiredis), shared by every daemon that points at the same server.
//
// A counter's slot (counter_store.h) is the key PREFIX NAME:WIDTH:SLOT, an
// integer with an expiry of window + one slot, so nothing ever needs
// cleaning. One add() is one round trip: INCRBY and PEXPIRE of the current
// slot (skipped when adding 0) and MGET of the window's slots, pipelined.
//
// Servers are tried in the order configured; the first that answers (and
// accepts AUTH/SELECT) is used until it fails, then the list is tried again
// from the start. Connections are pooled: a call takes an idle one or opens
// one, and gives it back unless it failed. Every connect, write and read is
// bounded by `timeout`; a failed call returns the reason and never retries
// by itself (the caller, store/counters.h, decides what an outage means).
//
// TLS: Debian 12's libhiredis (0.14) has no TLS; the config loader refuses
// `tls:` there (use a private network, or stunnel/spiped in front).
//
// Thread-safety: any thread; the pool has its own lock, held only to take or
// give back a connection, never across a round trip.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/store/counter_store.h"

namespace esmtp {

struct RedisOptions {
  std::vector<std::string> servers;  // "HOST:PORT", "[IPv6]:PORT", "unix:/path"
  std::chrono::milliseconds timeout{50};
  std::string username;  // Redis 6 ACL user; empty: AUTH with the password alone
  std::string password;  // empty: no AUTH
  unsigned database = 0;
  std::string prefix = "esmtp-inspect:";
  std::size_t max_idle = 16;  // connections kept open between calls
};

class RedisStore : public CounterStore {
 public:
  explicit RedisStore(RedisOptions options);
  ~RedisStore() override;

  CountResult add(std::string_view name, std::chrono::seconds window, std::uint32_t add,
                  WallTime now) override;
  std::string_view kind() const override { return "redis"; }

 private:
  struct Connection;
  std::unique_ptr<Connection> take(std::string* error);
  void give_back(std::unique_ptr<Connection> c);

  RedisOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace esmtp
