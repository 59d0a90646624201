// daemon: process plumbing shared by esmtp-inspect-milter and -policyd, as
// esmtp-inspect-milter(8) and esmtp-inspect-policyd(8) describe it.
//
// Start-up (start_daemon(), Startup): the -c file must be a regular file and
// is made absolute (reloads happen after the daemon changed directory); the
// configuration, the run-as user and group are checked (also by
// --check-config); every fatal error is written to standard error as well as
// to the log and gives a non-zero exit status: kExitConfig for the
// configuration, the log target, an unknown user or group, kExitStartup for
// anything else. A daemon that detaches forks only after its sockets listen;
// the parent waits on a pipe until the child says it serves (exit 0) or
// failed (the child's message on stderr, the child's exit status), so no
// error is lost to /dev/null. Under systemd (Type=notify) ready() sends
// READY=1, and Notify() the other states.
//
// Identities: started as root with a run-as user, a daemon creates its unix
// sockets and log files under EffectiveIds, i.e. with the final owner, group
// and mode from the start (nothing is chowned or chmodded by path afterwards,
// esmtp-inspect-milter(8), START-UP), then drops root for good before serving.
//
// Runtime holds the configuration, logger and DNS resolver that new
// connections take; a reload (SIGHUP) builds new ones and swaps them
// atomically, so a connection in flight keeps what it started with (all are
// reference counted). A file with errors is logged and the running
// configuration stays. reopen_log() reopens a `file:` log (logrotate).
//
// Thread-safety: Runtime's methods may be called from any thread. Startup,
// EffectiveIds and drop_privileges() change process-wide state and are for
// the single-threaded start-up only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config/config.h"
#include "common/dns/dns_resolver.h"
#include "common/log/logger.h"
#include "common/runtime/listen_socket.h"
#include "common/runtime/metrics.h"
#include "common/store/counters.h"

namespace esmtp {

inline constexpr int kExitStartup = 1;  // socket busy, folder missing, bind, fork
inline constexpr int kExitConfig = 78;  // EX_CONFIG: file, log target, user, group
inline constexpr int kExitUsage = 64;   // EX_USAGE: an unknown option, a bad option value

class Runtime {
 public:
  Runtime(std::string config_path, std::string tag, std::shared_ptr<const Config> config,
          std::shared_ptr<Logger> logger, std::shared_ptr<DnsResolver> resolver = nullptr,
          std::shared_ptr<DaemonMetrics> metrics = nullptr)
      : path_(std::move(config_path)),
        tag_(std::move(tag)),
        metrics_(std::move(metrics)),
        config_(std::move(config)),
        logger_(std::move(logger)),
        resolver_(std::move(resolver)),
        counters_(Counters::make(config_->store, logger_, metrics_ ? metrics_->store() : nullptr)) {
  }

  std::pair<std::shared_ptr<const Config>, std::shared_ptr<Logger>> current() const {
    std::lock_guard lock(mu_);
    return {config_, logger_};
  }
  std::shared_ptr<Logger> logger() const { return current().second; }
  std::shared_ptr<DnsResolver> resolver() const {
    std::lock_guard lock(mu_);
    return resolver_;
  }

  // The counter store of the windowed rules (store: in the configuration).
  std::shared_ptr<Counters> counters() const {
    std::lock_guard lock(mu_);
    return counters_;
  }
  // Reloads the file; returns true when the new configuration is in use. A
  // changed dns: section gets a new resolver, a changed store: section a new
  // counter store (local counts start over); an unchanged log: section
  // keeps its logger and reopens its file. Counted in the metrics (ok or
  // error).
  bool reload();
  // The daemon's counters (metrics.h); null in tests that need none.
  DaemonMetrics* metrics() const { return metrics_.get(); }
  // Reopens a `file:` log (SIGUSR1, and SIGHUP through reload()).
  void reopen_log();

 private:
  bool reload_file();

  std::string path_;
  std::string tag_;
  std::shared_ptr<DaemonMetrics> metrics_;
  mutable std::mutex mu_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<Logger> logger_;
  std::shared_ptr<DnsResolver> resolver_;
  std::shared_ptr<Counters> counters_;
};

// `metrics`: where the resolver counts its lookups, if anywhere.
DnsOptions dns_options(const DnsConfig& d, std::shared_ptr<DnsMetrics> metrics = nullptr);

// Who a daemon runs as: its user (empty: stay as started) and the group that
// owns its unix sockets (empty: the user's primary group).
struct RunAs {
  std::string user;
  std::string group;
};

// A RunAs resolved to numbers. `become` is false when the process is not
// root or no user is configured: it then keeps its identity.
struct Credentials {
  bool become = false;
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;                    // the user's primary group
  std::optional<gid_t> socket_gid;  // owner group of unix sockets
};
std::optional<Credentials> resolve_credentials(const RunAs& run_as, std::string* error);

// While alive: effective uid = the run-as user, effective gid = the socket
// group (kSockets, umask 0117: sockets are born 0660) or the user's own
// group (kFiles, umask 0027: log files are born 0640), supplementary groups
// = that group only. What is created meanwhile is born with the owner,
// group and mode it keeps, and the kernel checks the folder's permissions
// as the user, not as root. Not root: only the umask changes. Root without
// a run-as user: only the group (sockets get the MTA's group all the same).
class EffectiveIds {
 public:
  enum class For { kSockets, kFiles };
  explicit EffectiveIds(const Credentials& creds, For what = For::kSockets);
  ~EffectiveIds();
  EffectiveIds(const EffectiveIds&) = delete;
  EffectiveIds& operator=(const EffectiveIds&) = delete;
  // False when the switch failed (then nothing was changed); see error().
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  bool switched_ = false;
  bool ok_ = true;
  std::string error_;
  mode_t old_umask_;
  gid_t saved_gid_ = 0;
  std::vector<gid_t> saved_groups_;
};

// Becomes the run-as user for good (groups, gid, uid) and checks that root
// cannot be regained. True without doing anything when !creds.become.
bool drop_privileges(const Credentials& creds, std::string* error);

// The last step of both daemons' start-up after the sockets: drop root, then
// write the pidfile (if any) as the run-as user, who can then remove it at
// exit. False with *error.
bool become_daemon_user(const Credentials& creds, const std::string& pidfile, OwnedFiles& files,
                        std::string* error);

// The -c argument as the daemon keeps it: absolute (the daemon changes
// directory to / when it detaches, and reloads read the same file), naming a
// regular file (following symbolic links).
std::optional<std::string> config_file_path(const std::string& arg, std::string* error);

// Refuses a configuration file that someone other than root and the daemon's
// own user could change (esmtp-inspect-milter(8), SECURITY): the file, the
// folders of its canonical path and the folders of `path` as given (a
// symbolic link can be swapped) must be owned by root or `uid`, and writable
// by no other user: not by others, and by their group only when that group
// is root's or `gid`. A world-writable folder with the sticky bit (/tmp) is
// accepted, since only its owners may rename or remove what is in it, and
// everything below it is checked all the same. False with *error naming the
// path, who can write it and the command that fixes it.
bool config_file_trusted(const std::string& path, uid_t uid, gid_t gid, std::string* error);

// Start-up messages and the handshake with the parent of a detached daemon.
class Startup {
 public:
  explicit Startup(std::string tag) : tag_(std::move(tag)) {}
  Startup(const Startup&) = delete;
  Startup& operator=(const Startup&) = delete;
  ~Startup();

  // Errors are logged from now on too; `on_stderr`: the log already goes to
  // standard error, so fail() writes there only once.
  void set_logger(std::shared_ptr<Logger> logger, bool on_stderr) {
    logger_ = std::move(logger);
    log_on_stderr_ = on_stderr;
  }

  // The files fail() removes before it reports: the parent of a detached
  // daemon exits with the error only once the socket is gone.
  void set_files(OwnedFiles* files) { files_ = files; }

  // A fatal start-up error: logged, and written on standard error (before
  // detach()) or handed to the waiting parent (after). Returns `code`, for
  // `return startup.fail(...)`.
  int fail(int code, std::string_view message);

  // Forks into the background with a new session, working directory / and
  // standard streams on /dev/null. The parent waits until the child calls
  // ready() or fail() (or dies) and exits with the result; only the child
  // returns, true. False (nothing forked) with *error when fork fails.
  bool detach(std::string* error);

  // The daemon serves: the waiting parent exits 0, systemd hears READY=1
  // with `status`.
  void ready(std::string_view status);

 private:
  std::string tag_;
  std::shared_ptr<Logger> logger_;
  bool log_on_stderr_ = false;
  int parent_fd_ = -1;  // the child's end of the pipe to the waiting parent
  OwnedFiles* files_ = nullptr;
};

// systemd's notification protocol (sd_notify(3)); a no-op without
// $NOTIFY_SOCKET. "RELOADING=1", "STOPPING=1", "READY=1", "STATUS=...".
void notify_service_manager(std::string_view state);

// What a daemon starts with: the configuration, its absolute path, the
// logger and who to run as. When `exit_code` is set the daemon returns it at
// once: 0 after --check-config, kExitConfig when the file, the log target,
// the user or the group is wrong (the errors are on stderr, with
// file:line:column). The resolver is made later, by the daemon: its thread
// must start after detach() (fork keeps only the calling thread) and after
// the signal mask is set.
struct DaemonStart {
  std::shared_ptr<const Config> config;
  std::string config_path;  // absolute
  std::shared_ptr<Logger> logger;
  Credentials credentials;
  std::optional<int> exit_code;
};
// `run_as` picks milter.user/group or policy.user/group from the file.
DaemonStart start_daemon(const std::string& config_arg, const std::string& tag, bool check_only,
                         RunAs (*run_as)(const Config&));

// Raises the soft limit on open files to the hard limit (a daemon serving
// policy.max_connections needs more than the usual 1024). Returns the limit.
std::uint64_t raise_fd_limit();

bool operator==(const LogConfig& a, const LogConfig& b);

}  // namespace esmtp
