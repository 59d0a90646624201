// policy_server: esmtp-inspect-policyd's connections on Boost.Asio.
//
// One io_context thread serves every connection; DNS runs on the resolver's
// own thread and its answers are posted back. Listeners are adopted already
// listening (unix sockets made by common/runtime/listen_socket.h, TCP). Each
// connection reads one request (policy_protocol), answers it, and only then
// reads the next: pipelined requests stay in the kernel's socket buffer, so
// a connection holds at most one request (kMaxRequest) plus a 4 KiB read
// buffer. It closes on EOF, on a malformed or oversized request (logged, no
// reply), after policy.idle_timeout waiting for a request (idle) or for its
// answer to be taken (stalled: the write deadline, logged), when a handler
// throws (logged; the other connections go on), or when the server stops
// (after the answer it is writing). More than policy.max_connections at
// once, or more than policy.max_connections_per_client from one TCP client
// address (unix socket peers have none and are not counted): the new one is
// closed at once and logged. Memory freed after a large request or a
// connection is given back to the kernel (malloc_trim) within a second.
//
// serve_stdio() runs one connection on stdin/stdout (Postfix spawn(8)).
//
// client_rate needs the counter store at a session's first MAIL: a local
// store is asked in place; a redis one on two store threads, whose answers
// are posted back (a store that does not answer costs that request at most
// store.timeout, once per outage: store/counters.h).
//
// Thread-safety: everything runs on the io_context's thread except the
// resolver's callbacks and the store threads, which only post.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dns/dns_resolver.h"
#include "common/engine/self_banner.h"
#include "common/runtime/daemon.h"
#include "common/runtime/listen_socket.h"

namespace esmtp {

struct PolicyServerStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> refused{0};  // over max_connections (per client)
  std::atomic<std::uint64_t> malformed{0};
};

class PolicyServer {
 public:
  PolicyServer(boost::asio::io_context& io, Runtime& runtime);
  ~PolicyServer();

  // Serves on sockets that already listen (made before the daemon forked
  // and dropped privileges; see common/runtime/listen_socket.h).
  struct Listening {
    std::string spec;  // "unix:/path" or "inet:HOST:PORT", for the logs
    int fd = -1;
    bool local = false;
    std::optional<SocketFile> file;
  };
  void adopt(std::vector<Listening> listening);
  void start_accepting();
  // One connection on file descriptors 0 and 1; the io_context runs out when
  // it ends.
  void serve_stdio();
  // Stops accepting and removes the unix socket files; idle connections
  // close at once, a connection answering a request closes after its
  // answer; whatever is left after `grace` is closed.
  void stop(std::chrono::milliseconds grace);

  std::size_t live_connections() const { return live_; }
  const PolicyServerStats& stats() const { return stats_; }

 private:
  class Connection;
  struct Listener;
  void accept(Listener& l);
  void admit(int fd, std::string peer, std::string address);
  void connection_closed(const std::string& address);
  void trim_soon();
  void self_banner(const std::string& name, const std::string& server_address);
  // Where calls to a redis counter store run (each may wait store.timeout,
  // so not on the I/O thread); made on first use, after the daemon forked.
  boost::asio::thread_pool& store_threads();

  boost::asio::io_context& io_;
  Runtime& runtime_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::weak_ptr<Connection>> connections_;
  boost::asio::steady_timer stop_timer_;
  boost::asio::steady_timer trim_timer_;
  bool trim_pending_ = false;
  std::unordered_map<std::string, std::uint32_t> per_address_;  // TCP clients
  std::size_t live_ = 0;
  bool stopping_ = false;
  SelfBanner banner_{"identity.self.names"};
  PolicyServerStats stats_;
  std::unique_ptr<boost::asio::thread_pool> store_threads_;
};

}  // namespace esmtp
