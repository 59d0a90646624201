#include "common/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <iostream>

#include "common/config_loader.h"

namespace esmtp {

bool operator==(const LogConfig& a, const LogConfig& b) {
  return a.to == b.to && a.file == b.file && a.facility == b.facility && a.format == b.format &&
         a.level == b.level;
}

bool Runtime::reload() {
  auto [old_config, old_logger] = current();
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
  }
  std::shared_ptr<DnsResolver> resolver = resolver_;
  const DnsConfig& d = r.config->dns;
  const DnsConfig& o = old_config->dns;
  if (resolver && (d.servers != o.servers || d.timeout != o.timeout || d.tries != o.tries ||
                   d.cache_entries != o.cache_entries)) {
    std::string error;
    resolver = DnsResolver::create(dns_options(d), &error);
    if (!resolver) {
      old_logger->error("reload: dns: {}; still running the previous configuration", error);
      return false;
    }
  }
  if (r.config->milter.socket != old_config->milter.socket ||
      r.config->policy.listen != old_config->policy.listen)
    logger->warning("reload: listening sockets changed in {}; restart to apply", path_);
  {
    std::lock_guard lock(mu_);
    config_ = r.config;
    logger_ = logger;
    resolver_ = resolver;
  }
  logger->info("reloaded configuration from {}", path_);
  return true;
}

DnsOptions dns_options(const DnsConfig& d) {
  DnsOptions o;
  o.servers = d.servers;
  o.timeout = d.timeout;
  o.tries = d.tries;
  o.cache_entries = d.cache_entries;
  return o;
}

DaemonStart start_daemon(const std::string& config_path, const std::string& tag, bool check_only) {
  constexpr int kExitConfig = 78;  // EX_CONFIG
  DaemonStart s;
  LoadResult loaded = load_config_file(config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << tag << ": " << e.str() << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  if (check_only) {
    std::cout << config_path << ": configuration is valid\n";
    s.exit_code = 0;
    return s;
  }
  s.config = loaded.config;
  std::string error;
  s.logger = Logger::from_config(s.config->log, tag, &error);
  if (!s.logger) {
    std::cerr << tag << ": " << error << "\n";
    s.exit_code = kExitConfig;
    return s;
  }
  return s;
}

std::optional<Identity> lookup_user(const std::string& user, std::string* error) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) {
    if (error)
      *error = "user \"" + user + "\" does not exist" +
               (rc ? std::string(": ") + std::strerror(rc) : "");
    return std::nullopt;
  }
  return Identity{pw.pw_uid, pw.pw_gid};
}

std::optional<gid_t> lookup_group(const std::string& group, std::string* error) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  int rc = getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) {
    if (error) *error = "group \"" + group + "\" does not exist";
    return std::nullopt;
  }
  return gr.gr_gid;
}

bool drop_privileges(const std::string& user, std::string* error) {
  if (geteuid() != 0 || user.empty()) return true;
  auto id = lookup_user(user, error);
  if (!id) return false;
  if (initgroups(user.c_str(), id->gid) != 0 || setgid(id->gid) != 0 || setuid(id->uid) != 0) {
    if (error) *error = "cannot become user \"" + user + "\": " + std::strerror(errno);
    return false;
  }
  if (setuid(0) == 0) {  // must not be able to regain root
    if (error) *error = "privileges were not dropped";
    return false;
  }
  return true;
}

bool secure_socket_file(const std::string& path, const std::string& user, const std::string& group,
                        std::string* error) {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (!user.empty() && geteuid() == 0) {
    auto id = lookup_user(user, error);
    if (!id) return false;
    uid = id->uid;
  }
  if (!group.empty()) {
    auto g = lookup_group(group, error);
    if (!g) return false;
    gid = *g;
  }
  if (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) {
    if (chown(path.c_str(), uid, gid) != 0) {
      if (error) *error = "chown " + path + ": " + std::strerror(errno);
      return false;
    }
  }
  if (chmod(path.c_str(), 0660) != 0) {
    if (error) *error = "chmod " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
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

bool detach(std::string* error) {
  pid_t pid = fork();
  if (pid < 0) {
    if (error) *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid > 0) _exit(0);
  setsid();
  if (chdir("/") != 0) {
    if (error) *error = std::string("chdir /: ") + std::strerror(errno);
    return false;
  }
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) close(fd);
  }
  return true;
}

}  // namespace esmtp
