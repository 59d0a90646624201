// esmtp-inspect-policyd: the Postfix SMTP access policy service.
// Options, start-up, signals, exit codes and Postfix wiring: esmtp-inspect-policyd(8).
//
//   esmtp-inspect-policyd [-c FILE] [-f] [-l LISTEN]... [--spawn] [--pidfile FILE]
//                         [--check-config] [--version]
//
// Options, start-up, signals, files and exit codes: esmtp-inspect-policyd(8).
// Listens on policy.listen (or -l), or with --spawn serves one connection on
// stdin/stdout for Postfix's spawn(8). The common options, start-up,
// privileges and SIGHUP/SIGUSR1 are run_daemon()'s
// (common/runtime/daemon_main.h): every fatal error on stderr and in the
// log. Here: -l and --spawn, the listeners (TCP bound before a unix socket
// is touched, a running instance left alone, sockets born with their final
// owner and mode) and the Asio loop. Signals: SIGHUP reloads the
// configuration (a file with errors is logged and the running one stays; new
// SMTP sessions take the new one) and reopens a file log; SIGUSR1 reopens a
// file log; SIGTERM and SIGINT stop accepting and close each connection once
// the answer it is working on is written.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>.
#include <utility>

#include <boost/asio.hpp>

#include "common/config/config_loader.h"
#include "common/dns/dns_resolver.h"
#include "common/runtime/daemon.h"
#include "common/runtime/daemon_main.h"
#include "common/runtime/listen_socket.h"
#include "common/util/endpoint.h"
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
  std::vector<std::pair<std::string, Endpoint>> parsed;  // checked by listen_error()
  for (const auto& spec : specs)
    if (auto p = parse_endpoint(spec, EndpointSyntax::kPolicyListen); p.valid())
      parsed.emplace_back(spec, std::move(p));
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
      if (p.local() && !check_socket_path(p.path, creds.user, error)) return false;
  }
  for (const auto& [spec, p] : parsed) {
    if (p.local()) continue;
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
    if (!p.local()) continue;
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

// Serves on the listeners (or, with --spawn, on stdin/stdout) until
// SIGTERM or SIGINT.
int serve(DaemonContext& ctx, bool spawn, const std::vector<std::string>& listen,
          std::vector<PolicyServer::Listening>& listening) {
  Runtime& runtime = *ctx.runtime;
  if (!spawn && ctx.fd_limit < 2ull * ctx.config->policy.max_connections + 64)
    ctx.logger->warning("open file limit {} is low for policy.max_connections {}", ctx.fd_limit,
                        ctx.config->policy.max_connections);
  boost::asio::io_context io(1);
  PolicyServer server(io, runtime);
  if (spawn) {
    // Postfix's spawn(8) owns this process: default signal actions, except
    // that logrotate's SIGUSR1 (meant for the daemons) must not end it.
    signal(SIGUSR1, SIG_IGN);
    pthread_sigmask(SIG_UNBLOCK, &ctx.signals, nullptr);
    server.serve_stdio();
    run_io(io, runtime);
    return 0;
  }
  // The signals were blocked before any thread existed: the resolver's
  // thread was born with them blocked, so they are handled here.
  boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
  signals.add(SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &ctx.signals, nullptr);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (!handle_daemon_signal(runtime, sig)) {
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
  ctx.log_starting("listen=" + where);
  ctx.startup.ready("serving on " + where);
  run_io(io, runtime);
  runtime.logger()->info("stopped");
  return 0;
}

int run(int argc, char** argv) {
  std::vector<std::string> listen;
  bool spawn = false;
  std::vector<PolicyServer::Listening> listening;
  DaemonSpec spec;
  spec.tag = kTag;
  spec.description =
      "esmtp-inspect-policyd: HELO/PTR/FCrDNS checks and envelope rules as a Postfix "
      "policy service";
  spec.run_as = policy_run_as;
  spec.metrics_label = "policyd";
  spec.metrics_address = [](const Config& c) -> const std::string& { return c.policy.metrics; };
  spec.add_options = [&](CLI::App& app) {
    app.add_option("-l,--listen", listen,
                   "listener, overrides policy.listen (unix:/path or inet:HOST:PORT)");
    app.add_flag("--spawn", spawn, "serve one connection on stdin/stdout (Postfix spawn)");
  };
  spec.check_options = [&]() -> std::optional<std::string> {
    for (const auto& l : listen)
      if (auto e = listen_error(l)) return "-l: " + *e;
    return std::nullopt;
  };
  spec.standalone = [&] { return !spawn; };
  spec.listen = [&](DaemonContext& ctx, std::string* error) {
    if (listen.empty()) listen = ctx.config->policy.listen;
    const bool opened = open_listeners(listen, ctx.credentials, listening, error);
    for (auto& l : listening) ctx.files.add(l.file);
    return opened;
  };
  spec.serve = [&](DaemonContext& ctx) { return serve(ctx, spawn, listen, listening); };
  return run_daemon(spec, argc, argv);
}

}  // namespace
}  // namespace esmtp

int main(int argc, char** argv) {
  return esmtp::run(argc, argv);
}
