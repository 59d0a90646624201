// daemon_main: the life of both daemons, esmtp-inspect-milter(8) and
// esmtp-inspect-policyd(8), from the command line to the exit status. Each
// daemon's main() fills a DaemonSpec with what is its own (its options, its
// listeners, its serving loop) and calls run_daemon(), which does the rest,
// in this order:
//
//   options     -c/--config, -f/--foreground, the daemon's own, --pidfile,
//               --check-config, --version (CLI11); a bad option or option
//               value: kExitUsage
//   start_daemon()  the file loaded and trusted, the run-as user and group,
//               the logger (kExitConfig; --check-config exits 0 here)
//   listen      the daemon's sockets, as root, before anything else changes
//   detach      unless -f (or a daemon that stays attached: policyd --spawn)
//   signals     SIGHUP, SIGTERM, SIGINT, SIGUSR1 blocked before any thread
//               exists; the daemon's loop takes them (handle_daemon_signal())
//   privileges  root dropped for good, then the pidfile written
//   resolver    its thread starts now (after fork, with the signals blocked)
//   metrics     the Prometheus endpoint (metrics.h), when the daemon's
//               metrics setting names one (its threads, like the resolver's,
//               start now); an address that cannot be bound: kExitStartup
//   serve       the daemon's loop, with the Runtime (reloads) in ctx
//
// Every fatal error after start_daemon() goes through Startup::fail(): on
// standard error and in the log, with kExitStartup (kExitConfig for dns:).
//
// Thread-safety: run_daemon() runs once, on the main thread.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/runtime/daemon.h"
#include "common/runtime/listen_socket.h"

namespace CLI {
class App;
}

namespace esmtp {

// What the daemon's hooks get: the start-up state, and from serve() on the
// Runtime (configuration, logger and resolver that follow reloads).
struct DaemonContext {
  std::shared_ptr<const Config> config;  // as loaded at start-up
  std::shared_ptr<Logger> logger;        // as made at start-up
  std::string config_path;               // absolute
  Credentials credentials;
  Startup& startup;
  OwnedFiles& files;  // sockets and pidfile, removed however the daemon ends
  bool foreground = false;
  std::uint64_t fd_limit = 0;  // raise_fd_limit()'s answer
  sigset_t signals{};          // blocked in every thread
  Runtime* runtime = nullptr;  // set for serve()

  // Logs "starting: WHERE config=PATH user=USER".
  void log_starting(std::string_view where) const;
};

struct DaemonSpec {
  const char* tag = "";     // program name: messages, log tag
  std::string description;  // --help's first line
  RunAs (*run_as)(const Config&) = nullptr;
  // The `daemon` label of its metrics ("milter", "policyd") and where it
  // serves them: milter.metrics or policy.metrics ("" = off).
  const char* metrics_label = "";
  const std::string& (*metrics_address)(const Config&) = nullptr;
  // The daemon's own options; --help lists them after -f.
  std::function<void(CLI::App&)> add_options;
  // Checks their values before the file is read: an error message, written
  // as "TAG: message" with exit status kExitUsage.
  std::function<std::optional<std::string>()> check_options;
  // False: the daemon stays attached and as it was started (no listen, no
  // detach, no privileges dropped, no pidfile): policyd --spawn.
  std::function<bool()> standalone;
  // Creates the listening sockets (as root; unix sockets under
  // EffectiveIds), recording the files it made in ctx.files. False with
  // *error: exit kExitStartup.
  std::function<bool(DaemonContext&, std::string*)> listen;
  // SIGPIPE ignored (libmilter writes to its sockets with write()).
  bool ignore_sigpipe = false;
  // Serves until stopped; returns the exit status. Calls
  // ctx.startup.ready() once it serves.
  std::function<int(DaemonContext&)> serve;
};

int run_daemon(const DaemonSpec& spec, int argc, char** argv);

// The signals both daemons take: SIGHUP reloads the configuration (systemd
// hears RELOADING=1, then READY=1), SIGUSR1 reopens a file log; both return
// false. Any other (SIGTERM, SIGINT) returns true: stop.
bool handle_daemon_signal(Runtime& runtime, int sig);

}  // namespace esmtp
