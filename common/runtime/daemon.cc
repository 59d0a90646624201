#include "common/runtime/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <vector>

#include <fmt/format.h>

#include "common/config/config_loader.h"

namespace esmtp {

bool operator==(const LogConfig& a, const LogConfig& b) {
  return a.to == b.to && a.file == b.file && a.facility == b.facility && a.format == b.format &&
         a.level == b.level;
}

bool Runtime::reload() {
  const bool ok = reload_file();
  if (metrics_) metrics_->reload(ok);
  return ok;
}

bool Runtime::reload_file() {
  auto [old_config, old_logger] = current();
  std::string trust_error;
  if (!config_file_trusted(path_, ::geteuid(), ::getegid(), &trust_error)) {
    old_logger->error("reload: {}; still running the previous configuration", trust_error);
    return false;
  }
  LoadResult r = load_config_file(path_);
  if (!r.ok()) {
    for (const auto& e : r.errors) old_logger->error("reload: {}", e.str());
    old_logger->error("reload: {} has {} error(s); still running the previous configuration", path_,
                      r.errors.size());
    return false;
  }
  std::shared_ptr<Logger> logger = old_logger;
  if (!(r.config->log == old_config->log)) {
    std::string error;
    std::unique_ptr<Logger> fresh = Logger::from_config(r.config->log, tag_, &error);
    if (!fresh) {
      old_logger->error("reload: {}; still running the previous configuration", error);
      return false;
    }
    logger = std::move(fresh);
  } else {
    reopen_log();
  }
  std::shared_ptr<DnsResolver> resolver = resolver_;
  const DnsConfig& d = r.config->dns;
  const DnsConfig& o = old_config->dns;
  if (resolver && (d.servers != o.servers || d.timeout != o.timeout || d.tries != o.tries ||
                   d.cache_entries != o.cache_entries)) {
    std::string error;
    resolver = DnsResolver::create(dns_options(d, metrics_ ? metrics_->dns() : nullptr), &error);
    if (!resolver) {
      old_logger->error("reload: dns: {}; still running the previous configuration", error);
      return false;
    }
  }
  std::shared_ptr<Counters> counters = counters_;
  if (!(r.config->store == old_config->store))
    counters = Counters::make(r.config->store, logger, metrics_ ? metrics_->store() : nullptr);
  else
    counters->set_logger(logger);
  if (r.config->milter.socket != old_config->milter.socket ||
      r.config->policy.listen != old_config->policy.listen ||
      r.config->milter.metrics != old_config->milter.metrics ||
      r.config->policy.metrics != old_config->policy.metrics)
    logger->warning("reload: listening sockets or metrics address changed in {}; restart to apply",
                    path_);
  if (r.config->milter.user != old_config->milter.user ||
      r.config->policy.user != old_config->policy.user)
    logger->warning("reload: run-as user changed in {}; restart to apply", path_);
  {
    std::lock_guard lock(mu_);
    config_ = r.config;
    logger_ = logger;
    resolver_ = resolver;
    counters_ = counters;
  }
  logger->info("reloaded configuration from {}", path_);
  return true;
}

void Runtime::reopen_log() {
  auto logger = this->logger();
  std::string error;
  if (!logger->reopen(&error)) logger->error("{}; still writing to the old file", error);
}

DnsOptions dns_options(const DnsConfig& d, std::shared_ptr<DnsMetrics> metrics) {
  DnsOptions o;
  o.metrics = std::move(metrics);
  o.servers = d.servers;
  o.timeout = d.timeout;
  o.tries = d.tries;
  o.cache_entries = d.cache_entries;
  return o;
}

std::optional<Credentials> resolve_credentials(const RunAs& run_as, std::string* error) {
  Credentials c;
  c.user = run_as.user;
  c.uid = ::geteuid();
  c.gid = ::getegid();
  std::vector<char> buf(16384);
  if (!run_as.user.empty()) {
    passwd pw{};
    passwd* found = nullptr;
    const int rc = ::getpwnam_r(run_as.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) {
      if (error)
        *error = "user \"" + run_as.user + "\" does not exist" +
                 (rc ? std::string(": ") + std::strerror(rc) : std::string()) +
                 " (create it, or name another user)";
      return std::nullopt;
    }
    c.uid = pw.pw_uid;
    c.gid = pw.pw_gid;
    c.become = ::geteuid() == 0;
  }
  if (!run_as.group.empty()) {
    struct group gr {};
    struct group* found = nullptr;
    const int rc = ::getgrnam_r(run_as.group.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) {
      if (error)
        *error = "group \"" + run_as.group + "\" does not exist" +
                 (rc ? std::string(": ") + std::strerror(rc) : std::string()) +
                 " (the MTA's group, postfix for Postfix)";
      return std::nullopt;
    }
    c.socket_gid = gr.gr_gid;
  }
  return c;
}

EffectiveIds::EffectiveIds(const Credentials& creds, For what)
    : old_umask_(::umask(what == For::kSockets ? 0117 : 0027)) {
  if (::geteuid() != 0) return;  // only root can act as another user or group
  // Sockets get the MTA's group; files the user's own. Without a run-as
  // user, root keeps its uid but sockets still get the MTA's group.
  std::optional<gid_t> group = what == For::kSockets ? creds.socket_gid : std::nullopt;
  if (!group && creds.become) group = creds.gid;
  if (!group) return;
  saved_gid_ = ::getegid();
  const int n = ::getgroups(0, nullptr);
  saved_groups_.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  if (n > 0 && ::getgroups(n, saved_groups_.data()) != n) saved_groups_.clear();
  switched_ = true;
  if (::setgroups(1, &*group) != 0 || ::setegid(*group) != 0 ||
      (creds.become && ::seteuid(creds.uid) != 0)) {
    error_ = std::string("cannot act as ") + (creds.become ? "user " + creds.user : "group") +
             ": " + std::strerror(errno);
    ok_ = false;
  }
}

EffectiveIds::~EffectiveIds() {
  if (switched_) {
    // Back to root as it was; the start-up goes on as root until
    // drop_privileges(). Failing here would leave the process half switched.
    if (::seteuid(0) != 0 || ::setegid(saved_gid_) != 0 ||
        ::setgroups(saved_groups_.size(), saved_groups_.data()) != 0)
      std::abort();
  }
  ::umask(old_umask_);
}

bool drop_privileges(const Credentials& creds, std::string* error) {
  if (!creds.become) return true;
  if (::initgroups(creds.user.c_str(), creds.gid) != 0 || ::setgid(creds.gid) != 0 ||
      ::setuid(creds.uid) != 0) {
    if (error) *error = "cannot become user \"" + creds.user + "\": " + std::strerror(errno);
    return false;
  }
  if (::setuid(0) == 0) {  // must not be able to regain root
    if (error) *error = "privileges were not dropped";
    return false;
  }
  return true;
}

bool become_daemon_user(const Credentials& creds, const std::string& pidfile, OwnedFiles& files,
                        std::string* error) {
  return drop_privileges(creds, error) && files.write_pidfile(pidfile, error);
}

std::optional<std::string> config_file_path(const std::string& arg, std::string* error) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(arg, ec).lexically_normal();
  if (ec) {
    if (error) *error = arg + ": " + ec.message();
    return std::nullopt;
  }
  struct stat st {};
  if (::stat(absolute.c_str(), &st) != 0) {
    if (error) *error = absolute.string() + ": cannot open: " + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    if (error)
      *error =
          absolute.string() + (S_ISDIR(st.st_mode) ? ": is a directory, not a configuration file"
                                                   : ": is not a regular file");
    return std::nullopt;
  }
  return absolute.string();
}

namespace {

std::string user_name(uid_t uid) {
  const passwd* pw = ::getpwuid(uid);
  return pw ? pw->pw_name : std::to_string(uid);
}

std::string group_name(gid_t gid) {
  const group* gr = ::getgrgid(gid);
  return gr ? gr->gr_name : std::to_string(gid);
}

// Why `where` (its lstat() in st) lets someone other than root, uid and the
// members of gid change what the daemon reads; nullopt when nobody else can.
std::optional<std::string> untrusted(const std::string& where, const struct stat& st, uid_t uid,
                                     gid_t gid) {
  if (st.st_uid != 0 && st.st_uid != uid)
    return fmt::format("{} is owned by user {}; run: chown root {}", where, user_name(st.st_uid),
                       where);
  if (S_ISLNK(st.st_mode)) return std::nullopt;  // a link's own mode means nothing
  const unsigned mode = st.st_mode & 07777;
  const bool sticky_dir = S_ISDIR(st.st_mode) && (mode & S_ISVTX);
  if ((mode & S_IWOTH) && !sticky_dir)
    return fmt::format("{} is writable by every user (mode {:04o}); run: chmod o-w {}", where, mode,
                       where);
  if ((mode & S_IWGRP) && st.st_gid != 0 && st.st_gid != gid && !sticky_dir)
    return fmt::format("{} is writable by group {} (mode {:04o}); run: chmod g-w {}", where,
                       group_name(st.st_gid), mode, where);
  return std::nullopt;
}

// Checks `p` and each folder above it up to /.
std::optional<std::string> untrusted_chain(std::filesystem::path p, uid_t uid, gid_t gid) {
  for (;;) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0)
      return fmt::format("cannot inspect {}: {}", p.string(), std::strerror(errno));
    if (auto why = untrusted(p.string(), st, uid, gid)) return why;
    if (!p.has_relative_path()) return std::nullopt;  // "/" done
    p = p.parent_path();
  }
}

}  // namespace

bool config_file_trusted(const std::string& path, uid_t uid, gid_t gid, std::string* error) {
  std::error_code ec;
  const std::filesystem::path given = std::filesystem::absolute(path, ec).lexically_normal();
  std::filesystem::path real;
  if (!ec) real = std::filesystem::canonical(given, ec);
  if (ec) {
    if (error) *error = path + ": " + ec.message();
    return false;
  }
  std::optional<std::string> why = untrusted_chain(real, uid, gid);
  if (!why && given != real) why = untrusted_chain(given, uid, gid);
  if (!why) return true;
  if (error)
    *error = fmt::format(
        "{}: refusing a configuration file that users other than root and {} can "
        "change: {}",
        path, user_name(uid), *why);
  return false;
}

Startup::~Startup() {
  if (parent_fd_ >= 0) ::close(parent_fd_);
}

int Startup::fail(int code, std::string_view message) {
  if (files_) files_->remove();
  if (logger_) logger_->error("{}", message);
  if (parent_fd_ >= 0) {
    std::string packet(1, static_cast<char>(code == 0 ? 1 : code));
    packet += message;
    (void)!::write(parent_fd_, packet.data(), packet.size());
    ::close(parent_fd_);
    parent_fd_ = -1;
  } else if (!(logger_ && log_on_stderr_)) {
    std::cerr << tag_ << ": " << message << std::endl;
  }
  return code;
}

namespace {

// The parent of a detached daemon: the child's verdict on its start-up.
[[noreturn]] void wait_for_child(const std::string& tag, pid_t child, int fd) {
  std::string packet;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    packet.append(buf, static_cast<std::size_t>(n));
  }
  if (!packet.empty()) {
    const int code = static_cast<unsigned char>(packet[0]);
    if (code == 0) _exit(0);
    std::cerr << tag << ": " << packet.substr(1) << std::endl;
    _exit(code);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    std::cerr << tag << ": the daemon died during start-up on signal " << WTERMSIG(status)
              << std::endl;
  else
    std::cerr << tag << ": the daemon exited during start-up with status " << WEXITSTATUS(status)
              << std::endl;
  _exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : kExitStartup);
}

}  // namespace

bool Startup::detach(std::string* error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    if (error) *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = ::fork();
  if (pid < 0) {
    if (error) *error = std::string("fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid > 0) {
    ::close(fds[1]);
    wait_for_child(tag_, pid, fds[0]);
  }
  ::close(fds[0]);
  parent_fd_ = fds[1];
  ::setsid();
  if (::chdir("/") != 0) {
    if (error) *error = std::string("chdir /: ") + std::strerror(errno);
    return false;
  }
  const int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) ::close(null);
  }
  return true;
}

void Startup::ready(std::string_view status) {
  if (parent_fd_ >= 0) {
    const char ok = 0;
    (void)!::write(parent_fd_, &ok, 1);
    ::close(parent_fd_);
    parent_fd_ = -1;
  }
  notify_service_manager("READY=1\nSTATUS=" + std::string(status));
}

void notify_service_manager(std::string_view state) {
  // sd_notify() does nothing (returns 0) when $NOTIFY_SOCKET is unset; the
  // variable is kept so that later states (RELOADING, STOPPING) reach
  // systemd too.
  const std::string s(state);
  ::sd_notify(0, s.c_str());
}

DaemonStart start_daemon(const std::string& config_arg, const std::string& tag, bool check_only,
                         RunAs (*run_as)(const Config&)) {
  DaemonStart s;
  std::string error;
  auto path = config_file_path(config_arg, &error);
  if (!path) {
    std::cerr << tag << ": " << error << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  s.config_path = *path;
  LoadResult loaded = load_config_file(s.config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << tag << ": " << e.str() << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  const RunAs who = run_as(*loaded.config);
  auto creds = resolve_credentials(who, &error);
  if (!creds) {
    std::cerr << tag << ": " << s.config_path << ": " << error << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  s.credentials = *creds;
  if (!config_file_trusted(s.config_path, creds->become ? creds->uid : ::geteuid(),
                           creds->become ? creds->gid : ::getegid(), &error)) {
    std::cerr << tag << ": " << error << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  if (check_only) {
    std::cout << s.config_path << ": configuration is valid\n";
    // For the header_checks lines of a policy service without the milter.
    const Config& c = *loaded.config;
    std::cout << "policy service tags are PREPENDed as X-ESMTP-Inspect"
              << (c.tag_secret.empty() ? "" : "-" + c.tag_secret) << " (tag_secret: "
              << (c.tag_secret_setting == c.tag_secret ? "set" : c.tag_secret_setting) << ")\n";
    s.exit_code = 0;
    return s;
  }
  s.config = loaded.config;
  {
    // A `file:` log is created by the run-as user, who reopens it later.
    EffectiveIds ids(s.credentials, EffectiveIds::For::kFiles);
    if (ids.ok())
      s.logger = Logger::from_config(s.config->log, tag, &error);
    else
      error = ids.error();
  }
  if (!s.logger) {
    std::cerr << tag << ": " << error
              << (s.credentials.become ? " (as user " + s.credentials.user + ")" : "") << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  return s;
}

std::uint64_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

}  // namespace esmtp
