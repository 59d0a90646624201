// unbound_server: a private unbound on 127.0.0.1 serving the zones of
// tests/dns (README.md there), for tests that need a real DNS server.
//
// start() writes unbound.conf from tests/dns/unbound.conf.in into a new
// directory under /tmp, starts `unbound -d` on a free port (UDP and TCP) and
// returns once it answers a query. The destructor stops it (SIGTERM, then
// SIGKILL) and removes the directory (kept when ESMTP_KEEP_TEST_DIRS is set).
//
// Not thread-safe; one object per server.
#pragma once

#include <sys/types.h>
#include <memory>
#include <string>

namespace esmtp::test {

class UnboundServer {
 public:
  // nullptr and a reason (with unbound's own output) when it does not start.
  static std::unique_ptr<UnboundServer> start(std::string* error);
  ~UnboundServer();
  UnboundServer(const UnboundServer&) = delete;
  UnboundServer& operator=(const UnboundServer&) = delete;

  int port() const { return port_; }
  // For DnsOptions::servers: "127.0.0.1:PORT".
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  // What unbound wrote to stderr so far.
  std::string log() const;

 private:
  UnboundServer() = default;
  bool launch(int port, std::string* error);
  void stop();

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace esmtp::test
