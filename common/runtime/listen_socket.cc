#include "common/runtime/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace esmtp {
namespace {

std::string folder_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool fill_unix_address(const std::string& path, sockaddr_un& a, std::string* error) {
  a = {};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    if (error)
      *error =
          fmt::format("{}: a unix socket path has at most {} octets", path, sizeof a.sun_path - 1);
    return false;
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  return true;
}

// Whether something accepts connections on the socket at `path`: 0 when
// nobody does (ECONNREFUSED: stale), otherwise the reason to leave it
// alone: EISCONN for a live socket (a listener with a full backlog counts),
// or the error that kept us from telling (EACCES, ...).
int socket_state(const std::string& path) {
  sockaddr_un a{};
  if (!fill_unix_address(path, a, nullptr)) return ENAMETOOLONG;
  auto probe = [&a] {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return errno;
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    const int e = errno;
    ::close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) return EISCONN;
    return e == ECONNREFUSED ? 0 : e;
  };
  int state = probe();
  // A socket the run-as user may not connect to (someone else's, e.g. one
  // root made by hand): a root start-up asks again as root, which can tell
  // unless systemd took CAP_DAC_OVERRIDE away.
  const uid_t euid = ::geteuid();
  if (state == EACCES && ::getuid() == 0 && euid != 0 && ::seteuid(0) == 0) {
    state = probe();
    if (::seteuid(euid) != 0) std::abort();  // half switched: never go on
  }
  return state;
}

std::string mkdir_hint(const std::string& folder, const std::string& user) {
  return fmt::format("install -d -o {} -g postfix -m 0750 {}", user.empty() ? "root" : user,
                     folder);
}

// Whether the current effective ids may create a file in the folder of
// `path` (write and search permission); the message says how to make it.
bool socket_folder_writable(const std::string& path, const std::string& user, std::string* error) {
  const std::string folder = folder_of(path);
  // AT_EACCESS: the effective ids decide, as they will for bind().
  if (::faccessat(AT_FDCWD, folder.c_str(), W_OK | X_OK, AT_EACCESS) == 0) return true;
  if (error)
    *error = fmt::format(
        "cannot create sockets in {} as user {}: {}; the folder must belong to that user: {}",
        folder, user.empty() ? "root" : user, std::strerror(errno), mkdir_hint(folder, user));
  return false;
}

}  // namespace

bool check_socket_path(const std::string& path, const std::string& user, std::string* error) {
  const std::string folder = folder_of(path);
  struct stat st {};
  const int rc = ::stat(folder.c_str(), &st);
  if (rc != 0 || !S_ISDIR(st.st_mode)) {
    if (error)
      *error = fmt::format("socket folder {} does not exist ({}); create it: {}", folder,
                           std::strerror(rc != 0 ? errno : ENOTDIR), mkdir_hint(folder, user));
    return false;
  }
  if (!socket_folder_writable(path, user, error)) return false;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    if (error) *error = fmt::format("cannot inspect {}: {}", path, std::strerror(errno));
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    if (error)
      *error = fmt::format(
          "{} exists and is not a socket; refusing to replace it (remove it yourself if it "
          "is yours)",
          path);
    return false;
  }
  const int state = socket_state(path);
  if (state == EISCONN) {
    if (error)
      *error = fmt::format(
          "another instance is already listening on {}; not starting (stop it first)", path);
    return false;
  }
  if (state != 0) {
    if (error)
      *error = fmt::format("cannot tell whether another instance serves {} ({}); not starting",
                           path, std::strerror(state));
    return false;
  }
  return true;
}

void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
}

int listen_unix(const std::string& path, std::string* error) {
  sockaddr_un a{};
  if (!fill_unix_address(path, a, error)) return -1;
  remove_stale_socket(path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    if (error) *error = fmt::format("cannot listen on {}: {}", path, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

int listen_tcp(const std::string& host, std::uint16_t port, std::string* error) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    if (error) *error = fmt::format("{} is not an IP address", host);
    return -1;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  const std::string where = ss.ss_family == AF_INET6 ? fmt::format("[{}]:{}", host, port)
                                                     : fmt::format("{}:{}", host, port);
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    const int e = errno;
    if (error)
      *error =
          e == EADDRINUSE
              ? fmt::format("cannot listen on {}: the port is in use (another instance?)", where)
              : fmt::format("cannot listen on {}: {}", where, std::strerror(e));
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

std::optional<SocketFile> SocketFile::record(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
  SocketFile f;
  f.path_ = path;
  f.dev_ = st.st_dev;
  f.ino_ = st.st_ino;
  return f;
}

void SocketFile::remove() const {
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ &&
      st.st_ino == ino_)
    ::unlink(path_.c_str());
}

bool write_pidfile(const std::string& path, std::string* error) {
  // O_NOFOLLOW: a symbolic link at the path is refused, not followed;
  // O_NONBLOCK: a FIFO there cannot hang us (and is refused below).
  const int fd = ::open(path.c_str(),
                        O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0644);
  if (fd < 0) {
    if (error)
      *error = fmt::format("cannot write pidfile {}: {}{}", path, std::strerror(errno),
                           errno == ELOOP ? " (a symbolic link is not followed)" : "");
    return false;
  }
  struct stat st {};
  const std::string text = std::to_string(::getpid()) + "\n";
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (!ok && error) *error = fmt::format("pidfile {} is not a regular file", path);
  if (ok && (::ftruncate(fd, 0) != 0 ||
             ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))) {
    ok = false;
    if (error) *error = fmt::format("cannot write pidfile {}: {}", path, std::strerror(errno));
  }
  ::close(fd);
  return ok;
}

void remove_pidfile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n > 0 &&
      std::string_view(buf, static_cast<std::size_t>(n)) == std::to_string(::getpid()) + "\n")
    ::unlink(path.c_str());
}

}  // namespace esmtp
