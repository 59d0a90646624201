#include "common/runtime/daemon_main.h"

#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/config/config_loader.h"

namespace esmtp {

void DaemonContext::log_starting(std::string_view where) const {
  const std::string user = ::geteuid() == 0     ? "root"
                           : credentials.become ? credentials.user
                                                : std::to_string(::geteuid());
  logger->info("starting: {} config={} user={}", where, config_path, user);
}

bool handle_daemon_signal(Runtime& runtime, int sig) {
  if (sig == SIGHUP) {
    notify_service_manager("RELOADING=1");
    runtime.reload();
    notify_service_manager("READY=1");
    return false;
  }
  if (sig == SIGUSR1) {
    runtime.reopen_log();
    return false;
  }
  return true;
}

int run_daemon(const DaemonSpec& spec, int argc, char** argv) {
  CLI::App app{spec.description};
  std::string config_arg = "/etc/esmtp-inspect/esmtp-inspect.yaml";
  std::string pidfile;
  bool foreground = false, check_only = false;
  app.add_option("-c,--config", config_arg, "configuration file");
  app.add_flag("-f,--foreground", foreground, "stay in the foreground (systemd, tests)");
  if (spec.add_options) spec.add_options(app);
  app.add_option("--pidfile", pidfile, "write the process ID to this file");
  app.add_flag("--check-config", check_only,
               "validate the configuration, the run-as user and group, and exit");
  app.set_version_flag("--version", std::string(spec.tag) + " " + ESMTP_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version: 0; anything else CLI11 printed: EX_USAGE.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (spec.check_options) {
    if (auto e = spec.check_options()) {
      std::cerr << spec.tag << ": " << *e << "\n";
      return kExitUsage;
    }
  }

  DaemonStart start = start_daemon(config_arg, spec.tag, check_only, spec.run_as);
  if (start.exit_code) return *start.exit_code;
  Startup startup(spec.tag);
  startup.set_logger(start.logger, start.config->log.to == LogTarget::kStderr);
  OwnedFiles files;  // whatever ends the start-up or the daemon, they go with it
  startup.set_files(&files);
  DaemonContext ctx{start.config,      start.logger, start.config_path,
                    start.credentials, startup,      files};
  ctx.foreground = foreground;
  const bool standalone = !spec.standalone || spec.standalone();
  std::string error;

  if (standalone) {
    if (!spec.listen(ctx, &error)) return startup.fail(kExitStartup, error);
    if (!foreground && !startup.detach(&error)) return startup.fail(kExitStartup, error);
  }
  ctx.fd_limit = raise_fd_limit();
  // Before any thread exists, so that every thread inherits the mask: the
  // daemon's loop alone takes these signals.
  sigemptyset(&ctx.signals);
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&ctx.signals, sig);
  pthread_sigmask(SIG_BLOCK, &ctx.signals, nullptr);
  if (spec.ignore_sigpipe) signal(SIGPIPE, SIG_IGN);
  if (standalone && !become_daemon_user(ctx.credentials, pidfile, files, &error))
    return startup.fail(kExitStartup, error);
  // After detach() and the signal mask: the resolver's thread must exist in
  // this process and must never take the signals.
  auto metrics = std::make_shared<DaemonMetrics>(spec.metrics_label);
  std::shared_ptr<DnsResolver> resolver =
      DnsResolver::create(dns_options(ctx.config->dns, metrics->dns()), &error);
  if (!resolver) return startup.fail(kExitConfig, "dns: " + error);
  MetricsServer metrics_server(metrics);
  // Not for policyd --spawn: one process per Postfix connection cannot
  // share one port (esmtp-inspect-policyd(8)).
  const std::string metrics_at =
      standalone && spec.metrics_address ? spec.metrics_address(*ctx.config) : "";
  if (!metrics_at.empty()) {
    if (!metrics_server.start(metrics_at, &error))
      return startup.fail(kExitStartup, "metrics: " + error);
    ctx.logger->info("metrics: serving http://{}/metrics", metrics_at);
  }
  Runtime runtime(ctx.config_path, spec.tag, ctx.config, ctx.logger, resolver, metrics);
  ctx.runtime = &runtime;
  return spec.serve(ctx);
}

}  // namespace esmtp
