// esmtp-inspect-policyd: the Postfix SMTP access policy service.
// Options, start-up, signals, exit codes and Postfix wiring: esmtp-inspect-policyd(8).
//
//   esmtp-inspect-policyd [-c FILE] [-f] [-l LISTEN]... [--spawn] [--pidfile FILE]
//                         [--check-config] [--version]
//
// Listens on policy.listen (or -l), or with --spawn serves one connection on
// stdin/stdout for Postfix's spawn(8). Signals: SIGHUP reloads the
// configuration (a file with errors is logged and the running one stays; new
// SMTP sessions take the new one), SIGTERM and SIGINT stop cleanly.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <fstream>
#include <iostream>

#include "common/config_loader.h"
#include "common/daemon.h"
#include "common/dns_resolver.h"
#include "policy/policy_server.h"

namespace esmtp {
namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG
constexpr const char* kTag = "esmtp-inspect-policyd";

int run(int argc, char** argv) {
  CLI::App app{
      "esmtp-inspect-policyd: HELO/PTR/FCrDNS checks and envelope rules as a Postfix "
      "policy service"};
  std::string config_path = "/etc/esmtp-inspect/esmtp-inspect.yaml";
  std::vector<std::string> listen;
  std::string pidfile;
  bool foreground = false, spawn = false, check_only = false;
  app.add_option("-c,--config", config_path, "configuration file");
  app.add_flag("-f,--foreground", foreground, "stay in the foreground (systemd, tests)");
  app.add_option("-l,--listen", listen,
                 "listener, overrides policy.listen (unix:/path or inet:HOST:PORT)");
  app.add_flag("--spawn", spawn, "serve one connection on stdin/stdout (Postfix spawn)");
  app.add_option("--pidfile", pidfile, "write the process ID to this file");
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  app.set_version_flag("--version", std::string(kTag) + " " + ESMTP_VERSION);
  CLI11_PARSE(app, argc, argv);

  DaemonStart start = start_daemon(config_path, kTag, check_only);
  if (start.exit_code) return *start.exit_code;
  std::shared_ptr<const Config> config = start.config;
  std::shared_ptr<Logger> logger = start.logger;
  std::string error;
  if (listen.empty()) listen = config->policy.listen;

  if (!spawn && !foreground && !detach(&error)) {
    logger->error("{}", error);
    return 1;
  }
  const std::uint64_t fds = raise_fd_limit();
  if (fds < 2ull * config->policy.max_connections + 64)
    logger->warning("open file limit {} is low for policy.max_connections {}", fds,
                    config->policy.max_connections);
  boost::asio::io_context io(1);
  // After detach(): the resolver's thread must exist in this process. It is
  // born with SIGHUP, SIGTERM and SIGINT blocked, so that they are handled
  // by the io_context's thread (signal_set below).
  sigset_t signal_mask, old_mask;
  sigemptyset(&signal_mask);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&signal_mask, sig);
  pthread_sigmask(SIG_BLOCK, &signal_mask, &old_mask);
  std::shared_ptr<DnsResolver> resolver = DnsResolver::create(dns_options(config->dns), &error);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (!resolver) {
    logger->error("dns: {}", error);
    return kExitConfig;
  }
  Runtime runtime(config_path, kTag, config, logger, resolver);
  PolicyServer server(io, runtime);

  if (spawn) {
    server.serve_stdio();
    io.run();
    return 0;
  }
  if (!server.listen(listen, config->policy.user, config->policy.group, &error)) {
    logger->error("{}", error);
    return 1;
  }
  if (!pidfile.empty()) std::ofstream(pidfile) << getpid() << "\n";
  if (!drop_privileges(config->policy.user, &error)) {
    logger->error("{}", error);
    return kExitConfig;
  }
  boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          runtime.reload();
          signals.async_wait(on_signal);
          return;
        }
        runtime.logger()->info("stopping on signal {}", sig);
        signals.cancel();
        server.stop();
      };
  signals.async_wait(on_signal);
  server.start_accepting();
  std::string where;
  for (const auto& l : listen) where += (where.empty() ? "" : ",") + l;
  logger->info("starting: listen={} config={} user={}", where, config_path,
               geteuid() == 0 ? "root" : config->policy.user);
  io.run();
  runtime.logger()->info("stopped");
  return 0;
}

}  // namespace
}  // namespace esmtp

int main(int argc, char** argv) {
  return esmtp::run(argc, argv);
}
