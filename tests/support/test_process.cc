#include "tests/support/test_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace esmtp::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string find_program(std::string_view name, const std::string& fallback) {
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const std::string_view dir = rest.substr(0, colon);
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
      if (dir.empty()) continue;
      const fs::path candidate = fs::path(dir) / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return fallback;
}

int free_loopback_port(bool udp_too) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    // The first socket picks the port; the second (if any) must get it too.
    const int first = ::socket(AF_INET, (udp_too ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (first < 0) continue;
    if (::bind(first, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(first, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(first);
      continue;
    }
    bool ok = true;
    if (udp_too) {
      const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      ok = tcp >= 0 && ::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      if (tcp >= 0) ::close(tcp);
    }
    ::close(first);
    if (ok) return ntohs(a.sin_port);
  }
  return 0;
}

void stop_child(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGCONT);
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int status;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  pid = -1;
}

void remove_test_dir(const std::string& dir) {
  if (dir.empty() || std::getenv("ESMTP_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace esmtp::test
