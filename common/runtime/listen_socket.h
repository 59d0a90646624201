// listen_socket: the listening sockets and pidfiles of both daemons, made so
// that nothing a local user prepares at those paths is changed, truncated or
// deleted by a daemon started as root (esmtp-inspect-milter(8),
// esmtp-inspect-policyd(8), START-UP).
//
// A unix socket path is checked before binding: its folder must exist;
// anything there that is not a socket is refused (never replaced); a socket
// that accepts a connection belongs to a running instance, which is left
// alone (the new daemon refuses to start); a socket nobody accepts on is
// stale and removed. The socket is then created under EffectiveIds (see
// daemon.h), i.e. born with its final owner, group and mode. SocketFile
// remembers which file was bound (device and inode) and removes only that
// file at exit, not a successor's.
//
// Pidfiles are written by the run-as user after privileges are dropped,
// opened without following a symbolic link at the path, only as a regular
// file, and removed at exit only while they still hold our PID.
//
// Errors: functions return false/-1 with a message naming the path and what
// to do about it. Thread-safety: start-up and exit only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace esmtp {

// Refuses a socket path a daemon must not bind (see the file comment), or
// whose folder the current effective ids cannot create a socket in; call
// under EffectiveIds. `user` is who the daemon creates its sockets as, for
// the messages.
bool check_socket_path(const std::string& path, const std::string& user, std::string* error);

// Removes a stale socket at `path` (only a socket; anything else stays).
void remove_stale_socket(const std::string& path);

// A listening unix socket at `path` (a stale socket there is removed first;
// call under EffectiveIds) or TCP socket on host:port. Returns the
// descriptor (close-on-exec) or -1 with *error.
int listen_unix(const std::string& path, std::string* error);
int listen_tcp(const std::string& host, std::uint16_t port, std::string* error);

// The socket file a daemon created, removed at exit only if it is still
// that file.
class SocketFile {
 public:
  // Records the file now at `path`; nullopt when it is not a socket.
  static std::optional<SocketFile> record(const std::string& path);
  // Unlinks `path` if it is still the recorded socket. Idempotent.
  void remove() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// Writes our PID to `path` (see the file comment).
bool write_pidfile(const std::string& path, std::string* error);
// Removes `path` if it still holds our PID.
void remove_pidfile(const std::string& path);

// The files a daemon made (its sockets, its pidfile), removed when it ends,
// however it ends: each only while it is still ours.
class OwnedFiles {
 public:
  OwnedFiles() = default;
  OwnedFiles(const OwnedFiles&) = delete;
  OwnedFiles& operator=(const OwnedFiles&) = delete;
  ~OwnedFiles() { remove(); }

  void add(std::optional<SocketFile> socket) {
    if (socket) sockets_.push_back(std::move(*socket));
  }
  bool write_pidfile(const std::string& path, std::string* error) {
    if (path.empty()) return true;
    if (!esmtp::write_pidfile(path, error)) return false;
    pidfile_ = path;
    return true;
  }
  void remove() const {
    for (const auto& s : sockets_) s.remove();
    if (!pidfile_.empty()) remove_pidfile(pidfile_);
  }

 private:
  std::vector<SocketFile> sockets_;
  std::string pidfile_;
};

}  // namespace esmtp
