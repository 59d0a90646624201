#include "tests/store/redis_server.h"

#include "tests/support/test_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace esmtp::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// PING; true when the server answers +PONG, or -NOAUTH when it wants a password.
bool answers(int port, const std::string& socket_path) {
  int fd;
  if (socket_path.empty()) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (fd >= 0) ::close(fd);
      return false;
    }
  } else {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (fd >= 0) ::close(fd);
      return false;
    }
  }
  bool ok = false;
  static constexpr char kPing[] = "PING\r\n";
  if (::send(fd, kPing, sizeof kPing - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof kPing - 1)) {
    pollfd p{fd, POLLIN, 0};
    char reply[64] = {};
    if (::poll(&p, 1, 500) == 1) {
      const ssize_t n = ::recv(fd, reply, sizeof reply - 1, 0);
      const std::string_view r(reply, n > 0 ? static_cast<std::size_t>(n) : 0);
      ok = r.starts_with("+PONG") || r.starts_with("-NOAUTH");
    }
  }
  ::close(fd);
  return ok;
}

std::string redis_binary() {
  return find_program("redis-server", "/usr/bin/redis-server");
}

}  // namespace

std::unique_ptr<RedisServer> RedisServer::start(std::string* error, RedisServerOptions options) {
  std::unique_ptr<RedisServer> s(new RedisServer);
  s->options_ = std::move(options);
  char dir[] = "/tmp/esmtp-redis-XXXXXX";
  if (!::mkdtemp(dir)) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  s->dir_ = dir;
  if (s->options_.unix_socket) {
    s->socket_ = s->dir_ + "/redis.sock";
    if (!s->launch(error)) return nullptr;
    return s;
  }
  // Another process may take the port between the check and redis' bind.
  for (int attempt = 0; attempt < 3; ++attempt) {
    s->port_ = free_loopback_port();
    if (s->port_ == 0) {
      *error = "no free port on 127.0.0.1";
      return nullptr;
    }
    if (s->launch(error)) return s;
  }
  return nullptr;
}

std::string RedisServer::server() const {
  return socket_.empty() ? "127.0.0.1:" + std::to_string(port_) : "unix:" + socket_;
}

bool RedisServer::launch(std::string* error) {
  const std::string log_path = dir_ + "/redis.log";
  const std::string port = std::to_string(port_);
  std::vector<std::string> args = {
      "redis-server", "--save", "",       "--appendonly", "no",     "--dir",    dir_,
      "--daemonize",  "no",     "--port", port,           "--bind", "127.0.0.1"};
  if (!socket_.empty())
    args.insert(args.end(), {"--unixsocket", socket_, "--unixsocketperm", "700"});
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // posix_spawn: the test process has threads, so nothing may run between
  // fork and exec.
  const std::string binary = redis_binary();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "cannot start " + binary + ": " + std::strerror(rc);
    return false;
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "redis-server exited: " + log();
      return false;
    }
    if (answers(port_, socket_)) return true;
    std::this_thread::sleep_for(20ms);
  }
  *error = "redis-server did not answer within 10 s: " + log();
  stop();
  return false;
}

void RedisServer::kill_now() {
  if (pid_ <= 0) return;
  if (paused_) resume();
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::pause() {
  if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisServer::resume() {
  if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) paused_ = false;
}

bool RedisServer::restart(std::string* error) {
  kill_now();
  if (!socket_.empty()) ::unlink(socket_.c_str());
  return launch(error);
}

void RedisServer::stop() {
  stop_child(pid_);
  paused_ = false;
}

RedisServer::~RedisServer() {
  stop();
  remove_test_dir(dir_);
}

std::string RedisServer::log() const {
  return read_file(dir_ + "/redis.log");
}

}  // namespace esmtp::test
