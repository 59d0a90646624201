// policy_server: esmtp-inspect-policyd's connections on Boost.Asio.
//
// One io_context thread serves every connection; DNS runs on the resolver's
// own thread and its answers are posted back. Listeners: unix sockets (mode
// 0660, group from policy.group, a stale socket file removed) and TCP. Each
// connection reads requests (policy_protocol), answers them one at a time in
// order, and closes on EOF, on a malformed or oversized request (logged, no
// reply), after policy.idle_timeout without a request, or when the server
// stops. More than policy.max_connections at once: the new one is closed at
// once and logged.
//
// serve_stdio() runs one connection on stdin/stdout (Postfix spawn(8)).
//
// Thread-safety: everything runs on the io_context's thread except the
// resolver's callbacks, which only post.
#pragma once

#include <atomic>
// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/daemon.h"
#include "common/dns_resolver.h"
#include "common/identity.h"

namespace esmtp {

struct PolicyServerStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> refused{0};  // over max_connections
  std::atomic<std::uint64_t> malformed{0};
};

class PolicyServer {
 public:
  PolicyServer(boost::asio::io_context& io, Runtime& runtime);
  ~PolicyServer();

  // Opens the listeners of `specs` ("unix:/path", "inet:HOST:PORT"). Returns
  // false with a message naming the spec on failure.
  bool listen(const std::vector<std::string>& specs, const std::string& user,
              const std::string& group, std::string* error);
  void start_accepting();
  // One connection on file descriptors 0 and 1; the io_context runs out when
  // it ends.
  void serve_stdio();
  // Stops accepting and closes every connection.
  void stop();

  std::size_t live_connections() const { return live_; }
  const PolicyServerStats& stats() const { return stats_; }

 private:
  class Connection;
  struct Listener;
  void accept(Listener& l);
  void self_banner(const std::string& name, const std::string& server_address);

  boost::asio::io_context& io_;
  Runtime& runtime_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::weak_ptr<Connection>> connections_;
  std::size_t live_ = 0;
  bool stopping_ = false;
  SelfBannerMonitor banner_monitor_;
  PolicyServerStats stats_;
};

}  // namespace esmtp
