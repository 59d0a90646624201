// redis_server: a private redis-server for tests that need a real Redis.
//
// start() makes a directory under /tmp and runs `redis-server` there with no
// persistence (--save '' --appendonly no), on a free port of 127.0.0.1 or on
// a unix socket in that directory, optionally with a password
// (requirepass), and returns once it answers PING. The test can then kill
// it, stop and continue it (SIGSTOP/SIGCONT: a server that accepts
// connections and never answers), or start it again on the same port. The
// destructor stops it (SIGCONT, SIGTERM, then SIGKILL) and removes the
// directory (kept when ESMTP_KEEP_TEST_DIRS is set).
//
// Not thread-safe; one object per server.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace esmtp::test {

struct RedisServerOptions {
  std::string password;      // requirepass; empty: none
  bool unix_socket = false;  // listen on DIR/redis.sock only (no TCP)
};

class RedisServer {
 public:
  // nullptr and a reason (with redis-server's own output) when it does not start.
  static std::unique_ptr<RedisServer> start(std::string* error, RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& socket_path() const { return socket_; }
  // For RedisOptions::servers: "127.0.0.1:PORT" or "unix:/path".
  std::string server() const;

  void kill_now();  // SIGKILL and reap: connections are reset, the port is closed
  void pause();     // SIGSTOP: connects still succeed (the kernel's backlog), nothing answers
  void resume();    // SIGCONT
  // Starts it again (same port or socket, same options) after kill_now().
  bool restart(std::string* error);

  std::string log() const;

 private:
  RedisServer() = default;
  bool launch(std::string* error);
  void stop();

  RedisServerOptions options_;
  std::string dir_;
  std::string socket_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace esmtp::test
