#include "tests/dns/unbound_server.h"

#include "tests/support/test_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
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

#ifndef ESMTP_DNS_DIR
#error "ESMTP_DNS_DIR must name tests/dns"
#endif

namespace esmtp::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// One query for mx.example.org/A; true when an answer with its ID comes back.
bool answers(int port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const std::uint8_t query[] = {0x4a, 0x21, 0x01, 0x00, 0,   1,   0,   0,   0,   0,   0,   0,  //
                                2,    'm',  'x',  7,    'e', 'x', 'a', 'm', 'p', 'l', 'e', 3,
                                'o',  'r',  'g',  0,    0,   1,   0,   1};
  bool ok = false;
  if (::sendto(fd, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
      static_cast<ssize_t>(sizeof query)) {
    pollfd p{fd, POLLIN, 0};
    std::uint8_t reply[512];
    if (::poll(&p, 1, 200) == 1) {
      const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
      ok = n >= 12 && reply[0] == query[0] && reply[1] == query[1];
    }
  }
  ::close(fd);
  return ok;
}

std::string unbound_binary() {
  return find_program("unbound", "/usr/sbin/unbound");
}

}  // namespace

std::unique_ptr<UnboundServer> UnboundServer::start(std::string* error) {
  std::unique_ptr<UnboundServer> s(new UnboundServer);
  char dir[] = "/tmp/esmtp-dns-XXXXXX";
  if (!::mkdtemp(dir)) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  s->dir_ = dir;
  // Another process may take the port between the check and unbound's bind.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = free_loopback_port(true);
    if (port == 0) {
      *error = "no free port on 127.0.0.1";
      return nullptr;
    }
    if (s->launch(port, error)) return s;
  }
  return nullptr;
}

bool UnboundServer::launch(int port, std::string* error) {
  std::string conf = read_file(fs::path(ESMTP_DNS_DIR) / "unbound.conf.in");
  if (conf.empty()) {
    *error = "cannot read " ESMTP_DNS_DIR "/unbound.conf.in";
    return false;
  }
  replace_all(conf, "@PORT@", std::to_string(port));
  replace_all(conf, "@RUNDIR@", dir_);
  replace_all(conf, "@ZONEDIR@", ESMTP_DNS_DIR);
  const std::string conf_path = dir_ + "/unbound.conf";
  const std::string log_path = dir_ + "/unbound.log";
  std::ofstream(conf_path, std::ios::trunc) << conf;

  // posix_spawn: the test process has threads, so nothing may run between
  // fork and exec.
  const std::string binary = unbound_binary();
  const char* argv[] = {"unbound", "-d", "-c", conf_path.c_str(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr,
                               const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "cannot start " + binary + ": " + std::strerror(rc);
    return false;
  }
  pid_ = pid;
  port_ = port;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "unbound exited: " + log();
      return false;
    }
    if (answers(port_)) return true;
    std::this_thread::sleep_for(20ms);
  }
  *error = "unbound did not answer within 10 s: " + log();
  stop();
  return false;
}

void UnboundServer::stop() {
  stop_child(pid_);
}

UnboundServer::~UnboundServer() {
  stop();
  remove_test_dir(dir_);
}

std::string UnboundServer::log() const {
  return read_file(dir_ + "/unbound.log");
}

}  // namespace esmtp::test
