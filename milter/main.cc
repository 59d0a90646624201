// esmtp-inspect-milter: the libmilter daemon for Postfix and Sendmail.
// Options, start-up, signals, exit codes and MTA wiring: esmtp-inspect-milter(8).
//
//   esmtp-inspect-milter [-c FILE] [-f] [-s SOCKET] [--pidfile FILE]
//                        [--check-config] [--version]
//
// Options, start-up, signals, files and exit codes: esmtp-inspect-milter(8).
// The common options, start-up, privileges and SIGHUP/SIGUSR1 are
// run_daemon()'s (common/runtime/daemon_main.h): every fatal error on stderr
// and in the log before the daemon forks (or handed to the waiting parent
// after). Here: -s, the socket (created with its final owner and mode, a
// running instance left alone), libmilter's callbacks and loop, and the stop.
//
// Signals: SIGHUP reloads the configuration (a file with errors is logged and
// the running one stays; connections in flight finish on the configuration
// they started with) and reopens a file log; SIGUSR1 reopens a file log;
// SIGTERM and SIGINT stop accepting connections and let every message in
// flight finish with its real verdict, for at most milter.timeout.
//
// libmilter's own signal thread treats SIGHUP as "stop" and SIGINT as
// "abort every session" (which is why other milters reload on SIGUSR1). So
// the signals are blocked before any thread exists, smfi_main() runs in a
// worker thread, the main thread waits for them in sigwait(), and
// libmilter's thread is kept from ever waiting for them: this program
// defines sigwait() (below), which libmilter's call resolves to, and gives
// every thread but the main one an empty set. (Waiting alone is not enough:
// a SIGHUP arriving while the main thread is busy reloading would go to the
// other waiting thread - libmilter's - and stop the milter; seen under a
// storm of SIGHUPs.)
#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <signal.h>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstring>
#include <thread>

#include "common/config/config_loader.h"
#include "common/dns/dns_resolver.h"
#include "common/engine/self_banner.h"
#include "common/runtime/daemon.h"
#include "common/runtime/daemon_main.h"
#include "common/runtime/listen_socket.h"
#include "common/util/endpoint.h"
#include "milter/milter_connection.h"
#include "milter/symlists.h"

namespace {
std::atomic<bool> g_main_thread_known{false};
pthread_t g_main_thread;
}  // namespace

// Interposes the C library's sigwait() for libmilter (see the file comment).
extern "C" int sigwait(const sigset_t* set, int* sig) {
  sigset_t wanted = *set;
  if (g_main_thread_known && !pthread_equal(pthread_self(), g_main_thread)) {
    // libmilter's signal thread: it waits forever (the signals stay blocked
    // in every thread, so the main thread alone receives them).
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigdelset(&wanted, s);
  }
  for (;;) {
    int r = sigwaitinfo(&wanted, nullptr);
    if (r >= 0) {
      *sig = r;
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

namespace esmtp {
namespace {

constexpr const char* kTag = "esmtp-inspect-milter";

Runtime* g_runtime = nullptr;
// Messages in the middle of a transaction; SIGTERM waits for them (an idle
// connection just closes: the MTA reconnects or applies its default action).
std::atomic<int> g_busy{0};
// Set on SIGTERM: no new connection or transaction starts; the ones in
// flight finish. (Debian's libmilter runs sessions on a worker pool that
// smfi_stop() halts at once, messages in flight included: so smfi_stop()
// waits until they are done.)
std::atomic<bool> g_stopping{false};
const Reply kShuttingDown{421, "4.3.2", "Service shutting down, try again later"};

// Runs one callback and keeps g_busy up to date.
template <typename F>
MilterStatus tracked(MilterConnection* c, F&& f) {
  const bool before = c->in_transaction();
  MilterStatus s = f();
  const bool after = c->in_transaction();
  if (after && !before) ++g_busy;
  if (before && !after) --g_busy;
  return s;
}

SelfBanner g_banner{"myhostname"};

std::shared_ptr<DnsResolver> current_resolver() {
  return g_runtime->resolver();
}

// self_banner (common/engine/self_banner.h): our host name (macro j) and
// the address the client reached ({daemon_addr}).
void check_self_banner(SMFICTX* ctx, const std::shared_ptr<Logger>& logger) {
  const char* j = smfi_getsymval(ctx, const_cast<char*>("j"));
  const char* daddr = smfi_getsymval(ctx, const_cast<char*>("{daemon_addr}"));
  auto resolver = current_resolver();
  if (!j || !daddr || !resolver) return;
  g_banner.check(j, daddr, *resolver, logger);
}

class LibmilterContext : public MtaContext {
 public:
  explicit LibmilterContext(SMFICTX* ctx) : ctx_(ctx) {}

  std::optional<std::string> macro(const char* name) override {
    const char* v = smfi_getsymval(ctx_, const_cast<char*>(name));
    if (!v) return std::nullopt;
    return std::string(v);
  }
  bool set_reply(const Reply& r) override {
    // libmilter drops a reply text with a lone '%'; double them.
    std::string text;
    for (char c : r.text) {
      text += c;
      if (c == '%') text += '%';
    }
    std::string code = std::to_string(r.code);
    return smfi_setreply(ctx_, code.data(),
                         r.enhanced.empty() ? nullptr : const_cast<char*>(r.enhanced.c_str()),
                         text.data()) == MI_SUCCESS;
  }
  bool add_header(std::string_view name, std::string_view value) override {
    std::string n(name), v(value);
    return smfi_addheader(ctx_, n.data(), v.data()) == MI_SUCCESS;
  }
  bool insert_header(int position, std::string_view name, std::string_view value) override {
    std::string n(name), v(value);
    return smfi_insheader(ctx_, position, n.data(), v.data()) == MI_SUCCESS;
  }
  bool delete_header(std::string_view name, int index) override {
    std::string n(name);
    return smfi_chgheader(ctx_, n.data(), index, nullptr) == MI_SUCCESS;
  }
  bool quarantine(std::string_view reason) override {
    std::string r(reason);
    return smfi_quarantine(ctx_, r.data()) == MI_SUCCESS;
  }

 private:
  SMFICTX* ctx_;
};

sfsistat status(MilterStatus s) {
  switch (s) {
    case MilterStatus::kReject:
      return SMFIS_REJECT;
    case MilterStatus::kTempfail:
      return SMFIS_TEMPFAIL;
    case MilterStatus::kDiscard:
      return SMFIS_DISCARD;
    case MilterStatus::kSkip:
      return SMFIS_SKIP;
    case MilterStatus::kNoReply:
      return SMFIS_NOREPLY;
    case MilterStatus::kContinue:
      break;
  }
  return SMFIS_CONTINUE;
}

MilterConnection* connection(SMFICTX* ctx) {
  return static_cast<MilterConnection*>(smfi_getpriv(ctx));
}

MilterConnection* new_connection(std::shared_ptr<const Config> config,
                                 std::shared_ptr<Logger> logger, MilterFeatures features) {
  auto* c =
      new MilterConnection(std::move(config), std::move(logger), features, current_resolver());
  if (DaemonMetrics* m = g_runtime->metrics()) c->set_metrics(&m->engine());
  c->set_counters(g_runtime->counters());
  return c;
}

// Creates the per-connection object when the MTA did not negotiate (old
// protocol versions call xxfi_connect first).
MilterConnection* ensure_connection(SMFICTX* ctx) {
  if (auto* c = connection(ctx)) return c;
  auto [config, logger] = g_runtime->current();
  auto* c = new_connection(config, logger, MilterFeatures{});
  smfi_setpriv(ctx, c);
  return c;
}

// A callback must never let an exception into libmilter's C code: log it and
// tempfail this connection only.
template <typename F>
sfsistat guarded(SMFICTX* ctx, const char* stage, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    g_runtime->logger()->error("{}: internal error: {}; tempfailing", stage, e.what());
  } catch (...) {
    g_runtime->logger()->error("{}: internal error; tempfailing", stage);
  }
  (void)ctx;
  return SMFIS_TEMPFAIL;
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long,
                      unsigned long, unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                      unsigned long* pf3) {
  return guarded(ctx, "negotiate", [&] {
    auto [config, logger] = g_runtime->current();
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
    MilterFeatures features;
    // Answer only the stages whose verdict the MTA must have at once (connect,
    // HELO, MAIL, RCPT) and the end of message; header, end-of-header and body
    // verdicts are held for it (MilterFeatures::no_reply_*): an SMTP client
    // hears about its message only after the final dot anyway. libmilter
    // presents these "no reply" flags as offered whatever the MTA supports
    // and answers "continue" itself for an MTA without them, so they are
    // always taken; SMFIS_SKIP, which needs answered body chunks, is not used.
    unsigned long want = SMFIP_RCPT_REJ | SMFIP_HDR_LEADSPC | SMFIP_NR_DATA | SMFIP_NR_HDR |
                         SMFIP_NR_EOH | SMFIP_NR_BODY;
    // Skip what no enabled rule reads. Header fields always come: an
    // incoming X-ESMTP-Inspect is removed whatever the rules.
    const MtaNeeds needs = mta_needs(*config, FrontEnd::kMilter);
    if (!needs.headers) want |= SMFIP_NOEOH;
    if (!needs.body) want |= SMFIP_NOBODY;
    if (!needs.rejected_recipients) want &= ~SMFIP_RCPT_REJ;
    want |= SMFIP_NOUNKNOWN;
    *pf1 = f1 & want;
    *pf2 = 0;
    *pf3 = 0;
    features.rejected_rcpts = *pf1 & SMFIP_RCPT_REJ;
    features.change_headers = *pf0 & SMFIF_CHGHDRS;
    features.leading_space = *pf1 & SMFIP_HDR_LEADSPC;
    features.no_reply_data = *pf1 & SMFIP_NR_DATA;
    features.no_reply_headers = *pf1 & SMFIP_NR_HDR;
    features.no_reply_eoh = *pf1 & SMFIP_NR_EOH;
    features.no_reply_body = *pf1 & SMFIP_NR_BODY;
    if (*pf0 & SMFIF_SETSYMLIST) {
      // Ask for exactly the macros we use, whatever the MTA sends by default.
      for (const EsmtpSymlist& l : kEsmtpSymlists)
        smfi_setsymlist(ctx, l.stage, const_cast<char*>(l.macros));
    }
    if (auto* old = connection(ctx)) {
      if (old->in_transaction()) --g_busy;
      delete old;
    }
    smfi_setpriv(ctx, new_connection(config, logger, features));
    return SMFIS_CONTINUE;
  });
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* addr) {
  return guarded(ctx, "connect", [&] {
    LibmilterContext mta(ctx);
    if (g_stopping) {
      mta.set_reply(kShuttingDown);
      return SMFIS_TEMPFAIL;
    }
    auto [config, logger] = g_runtime->current();
    if (self_banner_on(*config)) check_self_banner(ctx, logger);
    return status(ensure_connection(ctx)->connect(mta, hostname, addr));
  });
}

sfsistat on_helo(SMFICTX* ctx, char* name) {
  return guarded(ctx, "helo", [&] {
    LibmilterContext mta(ctx);
    return status(ensure_connection(ctx)->helo(mta, name));
  });
}

std::span<const char* const> args(char** argv) {
  std::size_t n = 0;
  while (argv && argv[n]) ++n;
  return {const_cast<const char* const*>(argv), n};
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "mail", [&] {
    LibmilterContext mta(ctx);
    auto* c = ensure_connection(ctx);
    if (g_stopping && !c->in_transaction()) {
      mta.set_reply(kShuttingDown);
      return SMFIS_TEMPFAIL;
    }
    return status(tracked(c, [&] { return c->envfrom(mta, args(argv)); }));
  });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "rcpt", [&] {
    LibmilterContext mta(ctx);
    return status(ensure_connection(ctx)->envrcpt(mta, args(argv)));
  });
}

sfsistat on_data(SMFICTX* ctx) {
  return guarded(ctx, "data", [&] {
    LibmilterContext mta(ctx);
    return status(ensure_connection(ctx)->data(mta));
  });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
  return guarded(ctx, "header", [&] {
    LibmilterContext mta(ctx);
    return status(ensure_connection(ctx)->header(mta, name, value));
  });
}

sfsistat on_eoh(SMFICTX* ctx) {
  return guarded(ctx, "eoh", [&] {
    LibmilterContext mta(ctx);
    return status(ensure_connection(ctx)->eoh(mta));
  });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* data, size_t len) {
  return guarded(ctx, "body", [&] {
    LibmilterContext mta(ctx);
    return status(ensure_connection(ctx)->body(mta, data, len));
  });
}

sfsistat on_eom(SMFICTX* ctx) {
  return guarded(ctx, "eom", [&] {
    LibmilterContext mta(ctx);
    auto* c = ensure_connection(ctx);
    return status(tracked(c, [&] { return c->eom(mta); }));
  });
}

sfsistat on_abort(SMFICTX* ctx) {
  if (auto* c = connection(ctx))
    tracked(c, [&] {
      c->abort();
      return MilterStatus::kContinue;
    });
  return SMFIS_CONTINUE;
}

// Called for every connection that got a context, whatever happened before.
sfsistat on_close(SMFICTX* ctx) {
  if (auto* c = connection(ctx)) {
    if (c->in_transaction()) --g_busy;
    delete c;
  }
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

// libmilter's worker pool starts and ends threads all the time: a worker
// quits as soon as two others are idle, and the next command that finds none
// idle starts a new one (about two per message under 20 concurrent SMTP
// sessions). glibc keeps the stacks of ended threads for reuse, up to 40 MiB
// in all: five of the default 8 MiB stacks, so most starts mapped, guarded,
// faulted in and unmapped a fresh 8 MiB stack. 1 MiB is plenty for a
// callback (the engine's state is on the heap) and forty fit in the cache.
// Set before libmilter's threads exist; a smaller default (ulimit -s) is
// kept.
void set_thread_stack_size() {
  constexpr std::size_t kStack = 1024 * 1024;
  pthread_attr_t attr;
  if (pthread_getattr_default_np(&attr) != 0) return;
  std::size_t size = 0;
  if (pthread_attr_getstacksize(&attr, &size) == 0 && size > kStack &&
      pthread_attr_setstacksize(&attr, kStack) == 0)
    pthread_setattr_default_np(&attr);
  pthread_attr_destroy(&attr);
}

RunAs milter_run_as(const Config& c) {
  return {c.milter.user, c.milter.group};
}

smfiDesc milter_description() {
  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>(kTag);
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
  desc.xxfi_connect = on_connect;
  desc.xxfi_helo = on_helo;
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_envrcpt = on_envrcpt;
  desc.xxfi_data = on_data;
  desc.xxfi_header = on_header;
  desc.xxfi_eoh = on_eoh;
  desc.xxfi_body = on_body;
  desc.xxfi_eom = on_eom;
  desc.xxfi_abort = on_abort;
  desc.xxfi_close = on_close;
  desc.xxfi_negotiate = on_negotiate;
  return desc;
}

// The socket: a running instance's is left alone; ours is born with its
// final owner, group and mode 0660 (no chown/chmod by path afterwards).
bool open_socket(DaemonContext& ctx, std::string& socket, std::string* error) {
  if (socket.empty()) socket = ctx.config->milter.socket;
  // Checked by milter_socket_error().
  const Endpoint endpoint = parse_endpoint(socket, EndpointSyntax::kMilterSocket);
  const std::string path = endpoint.local() ? endpoint.path : std::string();
  smfiDesc desc = milter_description();
  // A unix socket is looked at and made as the run-as user, who owns its
  // folder (under systemd root has no CAP_DAC_OVERRIDE to look in there);
  // a TCP port is bound as root (it may be below 1024).
  std::optional<EffectiveIds> ids;
  if (!path.empty()) {
    ids.emplace(ctx.credentials);
    if (!ids->ok()) {
      *error = ids->error();
      return false;
    }
    if (!check_socket_path(path, ctx.credentials.user, error)) return false;
    remove_stale_socket(path);
  }
  if (smfi_setconn(socket.data()) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS ||
      smfi_settimeout(static_cast<int>(ctx.config->milter.timeout.count() / 1000)) != MI_SUCCESS ||
      smfi_opensocket(false) != MI_SUCCESS) {
    *error = "cannot listen on " + socket +
             (path.empty() ? ": the port is in use or the address is not local"
                           : ": check the path and its folder's permissions");
    return false;
  }
  if (!path.empty()) ctx.files.add(SocketFile::record(path));
  return true;
}

// libmilter's loop in a worker thread, the signals in this one (see the
// file comment).
int serve(DaemonContext& ctx, const std::string& socket) {
  Runtime& runtime = *ctx.runtime;
  g_main_thread = pthread_self();
  g_main_thread_known = true;
  // Before libmilter starts its worker threads.
  set_thread_stack_size();
  g_runtime = &runtime;
  ctx.log_starting("socket=" + socket);

  std::atomic<int> milter_rc{0};
  std::atomic<bool> milter_done{false};
  std::thread worker([&] {
    milter_rc = smfi_main();
    milter_done = true;
    // Wake the main thread if libmilter stopped on its own.
    kill(getpid(), SIGTERM);
  });
  ctx.startup.ready("serving on " + socket);
  for (;;) {
    int sig = 0;
    if (sigwait(&ctx.signals, &sig) != 0) continue;
    if (!handle_daemon_signal(runtime, sig)) continue;
    if (milter_done)
      runtime.logger()->error("libmilter stopped (status {}); exiting", milter_rc.load());
    else
      runtime.logger()->info("stopping on signal {}", sig);
    break;
  }
  notify_service_manager("STOPPING=1");
  // No new connections: the socket file goes now, and a connection or
  // transaction that starts anyway (inet, or already queued) hears 421.
  g_stopping = true;
  ctx.files.remove();
  // Every message in flight finishes with its real verdict: the MTA is
  // waiting for our reply to its end of message. Idle connections just
  // close (the MTA reconnects or applies its default action).
  const auto limit = runtime.current().first->milter.timeout;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  if (g_busy > 0) runtime.logger()->info("waiting for {} message(s) in progress", g_busy.load());
  while (g_busy > 0 && !milter_done && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (g_busy > 0)
    runtime.logger()->warning("{} message(s) still in progress after milter.timeout ({} s)",
                              g_busy.load(), limit.count() / 1000);
  // smfi_stop() takes the listener's lock, which libmilter holds across its
  // poll() (5 s): call it where it may block without delaying us.
  std::thread([] { smfi_stop(); }).detach();
  if (milter_done)
    worker.join();
  else
    worker.detach();
  runtime.logger()->info("stopped");
  return !milter_done || milter_rc == MI_SUCCESS ? 0 : 1;
}

int run(int argc, char** argv) {
  std::string socket;
  DaemonSpec spec;
  spec.tag = kTag;
  spec.description = "esmtp-inspect-milter: SMTP inspection rules as a Postfix/Sendmail milter";
  spec.run_as = milter_run_as;
  spec.metrics_label = "milter";
  spec.metrics_address = [](const Config& c) -> const std::string& { return c.milter.metrics; };
  spec.add_options = [&](CLI::App& app) {
    app.add_option("-s,--socket", socket,
                   "listen socket, overrides milter.socket (unix:/path or inet:PORT@HOST)");
  };
  spec.check_options = [&]() -> std::optional<std::string> {
    if (socket.empty()) return std::nullopt;
    if (auto e = milter_socket_error(socket)) return "-s: " + *e;
    return std::nullopt;
  };
  spec.listen = [&](DaemonContext& ctx, std::string* error) {
    return open_socket(ctx, socket, error);
  };
  spec.ignore_sigpipe = true;
  spec.serve = [&](DaemonContext& ctx) { return serve(ctx, socket); };
  return run_daemon(spec, argc, argv);
}

}  // namespace
}  // namespace esmtp

int main(int argc, char** argv) {
  return esmtp::run(argc, argv);
}
