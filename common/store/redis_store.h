// redis_store: counters in Redis or Valkey (RESP, through Debian's
// libhiredis), shared by every daemon that points at the same server.
//
// A counter's slot (counter_store.h) is the key PREFIX NAME:WIDTH:SLOT, an
// integer with an expiry of window + one slot ((kSlots + 1) * WIDTH s, set
// with PEXPIRE at every addition), so nothing ever needs cleaning. One add()
// is one round trip: INCRBY and PEXPIRE of the current slot (skipped when
// adding 0) and MGET of the window's kSlots slots, pipelined; the count is the
// sum of the MGET values (a missing key is 0).
//
// Servers ("HOST:PORT", "[IPv6]:PORT", "unix:/path"; valid_redis_server()) are
// tried in the order configured; the first that answers (and accepts
// AUTH/SELECT) is used until it fails, then the list is tried again from the
// server after it (round the list), so that one that hangs does not keep
// the others from being tried. Connections are pooled: a call takes an idle one (one the server
// has closed meanwhile is dropped, not used) or opens one, and gives it back
// unless the call failed. A connection that failed is freed, and so are the
// idle ones to the same server when the failure was the connection's (closed,
// timed out, unreadable reply) rather than an error reply such as WRONGTYPE.
//
// Time: a call costs at most `timeout` whatever happens, connecting,
// authenticating and the round trip included: a call that has to open a
// connection tries the servers in turn within that one deadline, so a
// server that refuses (down) leaves the rest of it to the next one, and one
// that does not answer uses it up (the next call, after store.retry, starts
// from the top again). A host name (rather than an address) is looked up by the
// system resolver when connecting, which the timeout does not bound: give
// addresses where that matters. A failed call returns the reason, naming the
// server ("127.0.0.1:6379: timed out after 50 ms", "...: connection refused",
// "...: NOAUTH Authentication required.", "...: WRONGTYPE ..."; when no server
// answers, each server's reason, separated by "; ") and never retries by itself
// (the caller, store/counters.h, decides what an outage means). A reply that
// is not what the command calls for (wrong type, a value that is not a
// non-negative integer, more than kMaxReplyBytes) is such an error too. An
// addition that timed out was sent all the same: a server that was only slow
// (stopped, swapping) may still count it once it reads the closed
// connection's request, so an outage can count an event once too often,
// never lose one that was answered.
//
// Writes use send(MSG_NOSIGNAL) on the connection's socket (commands
// formatted by hiredis), so a server that went away never raises SIGPIPE.
//
// TLS: Debian 12's libhiredis (0.14) has no TLS; the config loader refuses
// `tls:` there (use a private network, or stunnel/spiped in front).
//
// Thread-safety: any thread; the pool has its own lock, held only to take or
// give back a connection, never across a round trip or a connect.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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

// Whether `spec` is a server RedisStore can connect to: "HOST:PORT" (an IPv4
// address or a host name), "[IPv6]:PORT", or "unix:/absolute/path" (shorter
// than a socket address holds). When not, `why` (if given) says why, for the
// configuration loader to print after the setting's name.
bool valid_redis_server(std::string_view spec, std::string* why);

class RedisStore : public CounterStore {
 public:
  // Servers that are not valid_redis_server() stay in the list and fail
  // every connect with that reason (the loader refuses them before).
  explicit RedisStore(RedisOptions options);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  CountResult add(std::string_view name, std::chrono::seconds window, std::uint32_t add,
                  WallTime now) override;
  std::string_view kind() const override { return "redis"; }

  // Replies are small (kSlots short integers); a server sending more than
  // this for one round trip is answering something else.
  static constexpr std::size_t kMaxReplyBytes = 64 * 1024;

 private:
  struct Server;
  struct Connection;
  // An idle connection (its deadline now + timeout) or a new one to the
  // first server that answers (its deadline from the start of its connect).
  std::unique_ptr<Connection> take(std::string* error);
  void give_back(std::unique_ptr<Connection> c);
  std::unique_ptr<Connection> connect(std::size_t server,
                                      std::chrono::steady_clock::time_point deadline,
                                      std::string* error);
  // Frees the idle connections to server `server` (after one of them failed).
  void drop_idle(std::size_t server);

  RedisOptions options_;
  std::vector<Server> servers_;
  // The server tried first: the one after the last that failed, so that a
  // server that takes the whole timeout (down, black-holed) does not keep
  // the next one from being tried (the next call, after store.retry,
  // starts there).
  std::atomic<std::size_t> first_{0};
  void skip_past(std::size_t server);
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace esmtp
