// esmtp-inspect-policyd: the Postfix SMTP access policy service.
// Options, start-up, signals, exit codes and Postfix wiring: esmtp-inspect-policyd(8).
//
//   esmtp-inspect-policyd [-c FILE] [-f] [-l LISTEN]... [--spawn] [--pidfile FILE]
//                         [--check-config] [--version]
//
// Options, start-up, signals, files and exit codes: esmtp-inspect-policyd(8).
// Listens on policy.listen (or -l), or with --spawn serves one connection on
// stdin/stdout for Postfix's spawn(8). Start-up is common/runtime/daemon.h's: every
// fatal error on stderr and in the log, TCP listeners bound before a unix
// socket is touched, a running instance left alone, sockets born with their
// final owner and mode. Signals: SIGHUP reloads the configuration (a file
// with errors is logged and the running one stays; new SMTP sessions take
// the new one) and reopens a file log; SIGUSR1 reopens a file log; SIGTERM
// and SIGINT stop accepting and close each connection once the answer it
// is working on is written.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <iostream>

#include "common/config/config_loader.h"
#include "common/dns/dns_resolver.h"
#include "common/runtime/daemon.h"
#include "common/runtime/listen_socket.h"
#include "policy/policy_server.h"

namespace esmtp {
namespace {

constexpr const char* kTag = "esmtp-inspect-policyd";

RunAs policy_run_as(const Config& c) {
  return {c.policy.user, c.policy.group};
}

// The listeners, in an order that changes nothing when start-up fails:
// every unix path checked (a running instance is left alone), then TCP
// bound, then the unix sockets created as the run-as user.
bool open_listeners(const std::vector<std::string>& specs, const Credentials& creds,
                    std::vector<PolicyServer::Listening>& out, std::string* error) {
  std::vector<std::pair<std::string, SocketSpec>> parsed;  // checked by listen_error()
  for (const auto& spec : specs)
    if (auto p = parse_listen_spec(spec)) parsed.emplace_back(spec, std::move(*p));
  // Unix sockets are looked at and made as the run-as user, who owns their
  // folder (under systemd root has no CAP_DAC_OVERRIDE to look in there);
  // TCP ports are bound as root (they may be below 1024).
  {
    EffectiveIds ids(creds);
    if (!ids.ok()) {
      *error = ids.error();
      return false;
    }
    for (const auto& [spec, p] : parsed)
      if (p.local && !check_socket_path(p.path, creds.user, error)) return false;
  }
  for (const auto& [spec, p] : parsed) {
    if (p.local) continue;
    const int fd = listen_tcp(p.host, p.port, error);
    if (fd < 0) return false;
    out.push_back({spec, fd, false, std::nullopt});
  }
  EffectiveIds ids(creds);
  if (!ids.ok()) {
    *error = ids.error();
    return false;
  }
  for (const auto& [spec, p] : parsed) {
    if (!p.local) continue;
    const int fd = listen_unix(p.path, error);
    if (fd < 0) return false;
    out.push_back({spec, fd, true, SocketFile::record(p.path)});
  }
  return true;
}

// The connections' handlers catch what they throw themselves (and close
// only their connection); anything else that escapes a handler is logged
// and the io_context goes on with the other handlers (Asio allows run() to
// be called again after a handler threw).
void run_io(boost::asio::io_context& io, Runtime& runtime) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      runtime.logger()->error("internal error ({}); serving on", e.what());
    }
  }
}

int run(int argc, char** argv) {
  CLI::App app{
      "esmtp-inspect-policyd: HELO/PTR/FCrDNS checks and envelope rules as a Postfix "
      "policy service"};
  std::string config_arg = "/etc/esmtp-inspect/esmtp-inspect.yaml";
  std::vector<std::string> listen;
  std::string pidfile;
  bool foreground = false, spawn = false, check_only = false;
  app.add_option("-c,--config", config_arg, "configuration file");
  app.add_flag("-f,--foreground", foreground, "stay in the foreground (systemd, tests)");
  app.add_option("-l,--listen", listen,
                 "listener, overrides policy.listen (unix:/path or inet:HOST:PORT)");
  app.add_flag("--spawn", spawn, "serve one connection on stdin/stdout (Postfix spawn)");
  app.add_option("--pidfile", pidfile, "write the process ID to this file");
  app.add_flag("--check-config", check_only,
               "validate the configuration, the run-as user and group, and exit");
  app.set_version_flag("--version", std::string(kTag) + " " + ESMTP_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version: 0; anything else CLI11 printed: EX_USAGE.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  for (const auto& l : listen) {
    if (auto e = listen_error(l)) {
      std::cerr << kTag << ": -l: " << *e << "\n";
      return kExitUsage;
    }
  }
  DaemonStart start = start_daemon(config_arg, kTag, check_only, policy_run_as);
  if (start.exit_code) return *start.exit_code;
  std::shared_ptr<const Config> config = start.config;
  std::shared_ptr<Logger> logger = start.logger;
  const Credentials& creds = start.credentials;
  Startup startup(kTag);
  startup.set_logger(logger, config->log.to == LogTarget::kStderr);
  std::string error;
  if (listen.empty()) listen = config->policy.listen;

  std::vector<PolicyServer::Listening> listening;
  OwnedFiles files;  // sockets and pidfile, removed however the daemon ends
  startup.set_files(&files);
  if (!spawn) {
    const bool opened = open_listeners(listen, creds, listening, &error);
    for (auto& l : listening) files.add(l.file);
    if (!opened) return startup.fail(kExitStartup, error);
    if (!foreground && !startup.detach(&error)) return startup.fail(kExitStartup, error);
  }
  const std::uint64_t fds = raise_fd_limit();
  if (!spawn && fds < 2ull * config->policy.max_connections + 64)
    logger->warning("open file limit {} is low for policy.max_connections {}", fds,
                    config->policy.max_connections);
  // The signals are blocked before any thread exists: the resolver's thread
  // is born with them blocked, so that they are handled by the io_context's
  // thread (signal_set below).
  sigset_t signal_mask;
  sigemptyset(&signal_mask);
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&signal_mask, sig);
  pthread_sigmask(SIG_BLOCK, &signal_mask, nullptr);
  if (!spawn && !become_daemon_user(creds, pidfile, files, &error))
    return startup.fail(kExitStartup, error);
  std::shared_ptr<DnsResolver> resolver = DnsResolver::create(dns_options(config->dns), &error);
  if (!resolver) return startup.fail(kExitConfig, "dns: " + error);
  boost::asio::io_context io(1);
  Runtime runtime(start.config_path, kTag, config, logger, resolver);
  PolicyServer server(io, runtime);
  if (spawn) {
    // Postfix's spawn(8) owns this process: default signal actions, except
    // that logrotate's SIGUSR1 (meant for the daemons) must not end it.
    signal(SIGUSR1, SIG_IGN);
    pthread_sigmask(SIG_UNBLOCK, &signal_mask, nullptr);
    server.serve_stdio();
    run_io(io, runtime);
    return 0;
  }
  boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
  signals.add(SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &signal_mask, nullptr);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP || sig == SIGUSR1) {
          if (sig == SIGHUP) {
            notify_service_manager("RELOADING=1");
            runtime.reload();
            notify_service_manager("READY=1");
          } else {
            runtime.reopen_log();
          }
          signals.async_wait(on_signal);
          return;
        }
        runtime.logger()->info("stopping on signal {}", sig);
        notify_service_manager("STOPPING=1");
        signals.cancel();
        auto budget = runtime.resolver()->budget();
        server.stop(std::chrono::duration_cast<std::chrono::milliseconds>(budget) +
                    std::chrono::seconds(2));
      };
  signals.async_wait(on_signal);
  // The server removes the socket files as soon as it stops accepting.
  server.adopt(std::move(listening));
  server.start_accepting();
  std::string where;
  for (const auto& l : listen) where += (where.empty() ? "" : ",") + l;
  logger->info("starting: listen={} config={} user={}", where, start.config_path,
               geteuid() == 0 ? "root"
               : creds.become ? creds.user
                              : std::to_string(geteuid()));
  startup.ready("serving on " + where);
  run_io(io, runtime);
  runtime.logger()->info("stopped");
  return 0;
}

}  // namespace
}  // namespace esmtp

int main(int argc, char** argv) {
  return esmtp::run(argc, argv);
}
