// daemon: process plumbing shared by esmtp-inspect-milter and -policyd.
//
// Runtime holds the configuration, logger and DNS resolver that new
// connections take; a reload (SIGHUP) builds new ones and swaps them
// atomically, so a connection in flight keeps what it started with (all are
// reference counted). A file with errors is logged and the running
// configuration stays. start_daemon() is the common start-up of both daemons.
//
// Also: dropping root privileges after binding, detaching from the terminal,
// and the socket-file permissions both daemons use.
//
// Thread-safety: Runtime's methods may be called from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/config.h"
#include "common/dns_resolver.h"
#include "common/logger.h"

namespace esmtp {

class Runtime {
 public:
  Runtime(std::string config_path, std::string tag, std::shared_ptr<const Config> config,
          std::shared_ptr<Logger> logger, std::shared_ptr<DnsResolver> resolver = nullptr)
      : path_(std::move(config_path)),
        tag_(std::move(tag)),
        config_(std::move(config)),
        logger_(std::move(logger)),
        resolver_(std::move(resolver)) {}

  std::pair<std::shared_ptr<const Config>, std::shared_ptr<Logger>> current() const {
    std::lock_guard lock(mu_);
    return {config_, logger_};
  }
  std::shared_ptr<Logger> logger() const { return current().second; }
  std::shared_ptr<DnsResolver> resolver() const {
    std::lock_guard lock(mu_);
    return resolver_;
  }

  // Reloads the file; returns true when the new configuration is in use. A
  // changed dns: section gets a new resolver.
  bool reload();

 private:
  std::string path_;
  std::string tag_;
  mutable std::mutex mu_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<Logger> logger_;
  std::shared_ptr<DnsResolver> resolver_;
};

DnsOptions dns_options(const DnsConfig& d);

// What a daemon starts with: the configuration and its logger. When
// `exit_code` is set the daemon returns it at once: 0 after --check-config,
// 78 (EX_CONFIG) when the file or the log target is wrong (the errors are on
// stderr, with file:line:column). The resolver is made later, by the daemon:
// its thread must start after detach() (fork keeps only the calling thread)
// and after the signal mask is set.
struct DaemonStart {
  std::shared_ptr<const Config> config;
  std::shared_ptr<Logger> logger;
  std::optional<int> exit_code;
};
DaemonStart start_daemon(const std::string& config_path, const std::string& tag, bool check_only);

// Resolves a user and group; nullopt with a message when they do not exist.
struct Identity {
  uid_t uid;
  gid_t gid;
};
std::optional<Identity> lookup_user(const std::string& user, std::string* error);
std::optional<gid_t> lookup_group(const std::string& group, std::string* error);

// When running as root and `user` is not empty: set groups, gid and uid to
// those of `user`. Returns false with a message on failure.
bool drop_privileges(const std::string& user, std::string* error);

// Gives a unix socket file mode 0660, the owner `user` (the daemon's own
// user, so that it can still reach its socket after dropping root) and the
// group `group` (the MTA's). Empty names leave owner or group as they are.
bool secure_socket_file(const std::string& path, const std::string& user, const std::string& group,
                        std::string* error);

// Raises the soft limit on open files to the hard limit (a daemon serving
// policy.max_connections needs more than the usual 1024). Returns the limit.
std::uint64_t raise_fd_limit();

// Forks into the background with a new session; stdio goes to /dev/null.
// Returns false (and the error) when it cannot.
bool detach(std::string* error);

bool operator==(const LogConfig& a, const LogConfig& b);

}  // namespace esmtp
