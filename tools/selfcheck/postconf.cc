#include "tools/selfcheck/postconf.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/util/text.h"

extern char** environ;

namespace esmtp::selfcheck {
namespace {

constexpr std::size_t kMaxStderr = 64 * 1024;

bool is_param_name(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '/';
  });
}

std::string first_line(std::string_view s) {
  s = trim(s);
  auto nl = s.find('\n');
  return std::string(trim(s.substr(0, nl)));
}

// Owns the two pipe ends we read from and the child until it is reaped.
struct Child {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
  ~Child() {
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    if (pid > 0) {
      kill(pid, SIGKILL);
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

}  // namespace

const std::vector<std::string>& postconf_parameters() {
  static const std::vector<std::string> names = {
      "mail_version",
      "config_directory",
      "myhostname",
      "mydomain",
      "smtpd_banner",
      "smtp_helo_name",
      "inet_interfaces",
      "inet_protocols",
      "proxy_interfaces",
      "smtp_bind_address",
      "smtp_bind_address6",
      "smtpd_tls_security_level",
      "smtpd_tls_cert_file",
      "smtpd_tls_eccert_file",
      "smtpd_tls_chain_files",
      // esmtp-inspect's wiring (tools/selfcheck/wiring.h)
      "queue_directory",
      "mail_owner",
      "smtpd_milters",
      "smtpd_milter_maps",
      "milter_default_action",
      "milter_protocol",
      "smtpd_policy_service_default_action",
      "smtpd_delay_reject",
      "smtpd_relay_before_recipient_restrictions",
      "smtpd_restriction_classes",
      "smtpd_client_restrictions",
      "smtpd_helo_restrictions",
      "smtpd_sender_restrictions",
      "smtpd_relay_restrictions",
      "smtpd_recipient_restrictions",
      "smtpd_data_restrictions",
      "smtpd_end_of_data_restrictions",
  };
  return names;
}

std::string postconf_value(const PostconfValues& s, std::string_view name) {
  auto it = s.find(name);
  return it == s.end() ? std::string() : it->second;
}

PostconfValues parse_postconf_output(std::string_view text, std::size_t* skipped) {
  PostconfValues values;
  std::string* last = nullptr;
  std::size_t bad = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (trim(line).empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      if (last) {
        if (!last->empty()) *last += ' ';
        *last += trim(line);
      } else {
        ++bad;
      }
      continue;
    }
    auto eq = line.find('=');
    std::string_view name = eq == std::string_view::npos ? line : trim(line.substr(0, eq));
    if (eq == std::string_view::npos || !is_param_name(name)) {
      last = nullptr;
      ++bad;
      continue;
    }
    auto [it, inserted] =
        values.insert_or_assign(std::string(name), std::string(trim(line.substr(eq + 1))));
    (void)inserted;
    last = &it->second;
  }
  if (skipped) *skipped = bad;
  return values;
}

std::string banner_hostname(std::string_view expanded_banner) {
  std::string_view b = trim(expanded_banner);
  auto sp = b.find_first_of(" \t");
  return std::string(b.substr(0, sp));
}

bool is_fqdn(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  int labels = 0;
  while (true) {
    auto dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (unsigned char c : label)
      if (!std::isalnum(c) && c != '-') return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return labels >= 2;
}

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() &&
           (value[i] == ',' || std::isspace(static_cast<unsigned char>(value[i]))))
      ++i;
    std::size_t start = i;
    while (i < value.size() && value[i] != ',' &&
           !std::isspace(static_cast<unsigned char>(value[i])))
      ++i;
    if (i > start) out.emplace_back(value.substr(start, i - start));
  }
  return out;
}

Interfaces parse_interfaces(std::string_view value) {
  Interfaces r;
  for (auto& item : split_list(value)) {
    std::string lower = item;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "all" || lower == "loopback-only") {
      r.keyword = lower;
      continue;
    }
    InterfaceEntry e;
    e.text = item;
    e.address = IpAddress::parse(item);  // also takes "[2001:db8::1]"
    r.entries.push_back(std::move(e));
  }
  return r;
}

bool is_loopback(const IpAddress& a) {
  if (!a.v6) return a.bytes[0] == 127;
  for (int i = 0; i < 15; ++i)
    if (a.bytes[static_cast<std::size_t>(i)] != 0) return false;
  return a.bytes[15] == 1;
}

// By hand rather than Boost.Process: one child, two pipes and a deadline are
// a few lines of POSIX, without another library's process model to learn.
std::optional<std::string> run_postconf_text(const std::string& program,
                                             const std::string& config_dir,
                                             const std::vector<std::string>& arguments,
                                             std::chrono::milliseconds timeout,
                                             std::string* error) {
  std::vector<std::string> args = {program};
  if (!config_dir.empty()) {
    args.push_back("-c");
    args.push_back(config_dir);
  }
  args.insert(args.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return std::nullopt;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], STDERR_FILENO);
  Child child;
  int rc = posix_spawnp(&child.pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  child.out = out_pipe[0];
  child.err = err_pipe[0];
  if (rc != 0) {
    child.pid = -1;
    *error = "cannot run " + program + ": " + std::strerror(rc);
    return std::nullopt;
  }

  std::string out, err;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child.out >= 0 || child.err >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *error = program + " did not finish within " + std::to_string(timeout.count()) + " ms";
      return std::nullopt;  // ~Child kills and reaps it
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (child.out >= 0) fds[n++] = {child.out, POLLIN, 0};
    if (child.err >= 0) fds[n++] = {child.err, POLLIN, 0};
    int pr = poll(fds, n, static_cast<int>(left.count()));
    if (pr < 0 && errno != EINTR) {
      *error = std::string("poll: ") + std::strerror(errno);
      return std::nullopt;
    }
    for (nfds_t i = 0; i < n && pr > 0; ++i) {
      if (!fds[i].revents) continue;
      bool is_out = fds[i].fd == child.out;
      char buf[8192];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close(fds[i].fd);
        (is_out ? child.out : child.err) = -1;
        continue;
      }
      std::string& dst = is_out ? out : err;
      std::size_t cap = is_out ? kMaxPostconfOutput : kMaxStderr;
      std::size_t room = cap - std::min(cap, dst.size());
      if (is_out && static_cast<std::size_t>(got) > room) {
        // Not Postfix's postconf, or a runaway one: stop it now.
        *error = program + " printed more than " + std::to_string(kMaxPostconfOutput) + " octets";
        return std::nullopt;  // ~Child kills and reaps it
      }
      dst.append(buf, std::min(room, static_cast<std::size_t>(got)));
    }
  }
  int status = 0;
  while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  child.pid = -1;
  if (WIFSIGNALED(status)) {
    *error = program + " was killed by signal " + std::to_string(WTERMSIG(status));
    return std::nullopt;
  }
  if (WEXITSTATUS(status) != 0) {
    std::string why = first_line(err);
    // Postfix prints "postconf: warning: ..." lines before the fatal one.
    auto fatal = err.find("fatal:");
    if (fatal != std::string::npos) {
      auto start = err.rfind('\n', fatal);
      why = first_line(std::string_view(err).substr(start == std::string::npos ? 0 : start + 1));
    }
    *error = program + (config_dir.empty() ? "" : " -c " + config_dir) + " failed (exit " +
             std::to_string(WEXITSTATUS(status)) + ")" + (why.empty() ? "" : ": " + why);
    return std::nullopt;
  }
  return out;
}

std::optional<PostconfValues> run_postconf(const std::string& program,
                                           const std::string& config_dir,
                                           const std::vector<std::string>& names,
                                           std::chrono::milliseconds timeout, std::string* error) {
  std::vector<std::string> args = {"-x"};
  args.insert(args.end(), names.begin(), names.end());
  auto out = run_postconf_text(program, config_dir, args, timeout, error);
  if (!out) return std::nullopt;
  return parse_postconf_output(*out);
}

}  // namespace esmtp::selfcheck
