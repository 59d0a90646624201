#include "tools/selfcheck/socket_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/util/net.h"

namespace esmtp::selfcheck {
namespace {

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

std::uint32_t be32(std::string_view b, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

void put_be32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

// Printable for a message: at most 60 octets, control bytes as '?'.
std::string printable(std::string_view s) {
  std::string r;
  for (char c : s.substr(0, 60)) r += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (s.size() > 60) r += "...";
  return r;
}

// libmilter's mfdef.h / mfapi.h values, spelled out so that the CLI does not
// depend on libmilter.
constexpr char kOptneg = 'O';
constexpr char kQuit = 'Q';
constexpr std::uint32_t kMilterVersion = 6;
constexpr std::uint32_t kAllActions = 0x1ff;      // SMFI_CURR_ACTS
constexpr std::uint32_t kAllProtocol = 0x1fffff;  // SMFI_CURR_PROT
constexpr std::uint32_t kMaxMilterPacket = 1 << 20;
}  // namespace

std::string milter_probe_request() {
  std::string b;
  put_be32(b, 13);
  b += kOptneg;
  put_be32(b, kMilterVersion);
  put_be32(b, kAllActions);
  put_be32(b, kAllProtocol);
  put_be32(b, 1);
  b += kQuit;
  return b;
}

std::optional<MilterReply> parse_milter_reply(std::string_view b, std::string* error) {
  if (b.empty()) {
    *error = "it closed the connection without answering the milter negotiation";
    return std::nullopt;
  }
  if (b.size() < 5) {
    *error = "it answered " + std::to_string(b.size()) + " octets, not a milter packet";
    return std::nullopt;
  }
  std::uint32_t len = be32(b, 0);
  if (len == 0 || len > kMaxMilterPacket) {
    *error = "it answered \"" + printable(b) + "\", not a milter packet";
    return std::nullopt;
  }
  if (b[4] != kOptneg) {
    *error = std::string("it answered milter command '") + printable(b.substr(4, 1)) +
             "' instead of SMFIC_OPTNEG 'O'";
    return std::nullopt;
  }
  if (len < 13 || b.size() < 17) {
    *error = "its SMFIC_OPTNEG reply is too short";
    return std::nullopt;
  }
  MilterReply r;
  r.version = be32(b, 5);
  r.actions = be32(b, 9);
  r.protocol = be32(b, 13);
  return r;
}

std::string policy_probe_request() {
  return "request=smtpd_access_policy\n"
         "protocol_state=CONNECT\n"
         "protocol_name=SMTP\n"
         "client_address=127.0.0.1\n"
         "client_name=localhost\n"
         "reverse_client_name=localhost\n"
         "\n";
}

std::optional<std::string> parse_policy_reply(std::string_view b, std::string* error) {
  if (b.empty()) {
    *error = "it closed the connection without answering the policy request";
    return std::nullopt;
  }
  auto nl = b.find('\n');
  std::string_view line = b.substr(0, nl);
  if (!starts_with(line, "action=") || nl == std::string_view::npos) {
    *error = "it answered \"" + printable(line) + "\" instead of action=...";
    return std::nullopt;
  }
  return std::string(line.substr(7));
}

namespace {

// What the child reports. Plain data: the child must not allocate.
struct ChildReport {
  int stage = 0;  // ProbeResult::Stage
  int error = 0;
  std::size_t length = 0;
  char reply[kMaxProbeReply];
};

// Everything the child needs, prepared before fork().
struct Prepared {
  sockaddr_storage address{};
  socklen_t address_length = 0;
  std::string work_dir;  // chdir (and chroot) here first; empty: stay
  bool chroot = false;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string request;  // empty: connect only
  bool milter = false;
  long timeout_ms = 5000;
};

long now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Waits for `events` on fd until deadline_ms; 0 ready, else an errno.
int wait_for(int fd, short events, long deadline_ms) {
  while (true) {
    long left = deadline_ms - now_ms();
    if (left <= 0) return ETIMEDOUT;
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return errno;
  }
}

bool reply_complete(const ChildReport& r, bool milter) {
  if (milter) {
    if (r.length < 4) return false;
    auto* b = reinterpret_cast<const unsigned char*>(r.reply);
    std::size_t need =
        4 + ((static_cast<std::size_t>(b[0]) << 24) | (static_cast<std::size_t>(b[1]) << 16) |
             (static_cast<std::size_t>(b[2]) << 8) | b[3]);
    return r.length >= need;
  }
  for (std::size_t i = 1; i < r.length; ++i)
    if (r.reply[i - 1] == '\n' && r.reply[i] == '\n') return true;
  return false;
}

[[noreturn]] void report(int out, ChildReport& r, ProbeResult::Stage stage, int error) {
  r.stage = static_cast<int>(stage);
  r.error = error;
  const char* p = reinterpret_cast<const char*>(&r);
  std::size_t left = sizeof r;
  while (left > 0) {
    ssize_t n = write(out, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  _exit(0);
}

// The child: system calls only.
[[noreturn]] void child(const Prepared& p, int out, ChildReport& r) {
  using Stage = ProbeResult::Stage;
  if (!p.work_dir.empty()) {
    if (chdir(p.work_dir.c_str()) != 0) report(out, r, Stage::kSetup, errno);
    if (p.chroot && (chroot(p.work_dir.c_str()) != 0 || chdir("/") != 0))
      report(out, r, Stage::kSetup, errno);
  }
  if (p.switch_user) {
    gid_t g = p.gid;
    if (setgroups(1, &g) != 0 || setgid(p.gid) != 0 || setuid(p.uid) != 0)
      report(out, r, Stage::kSetup, errno);
  }
  int fd = socket(p.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) report(out, r, Stage::kConnect, errno);
  long deadline = now_ms() + p.timeout_ms;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&p.address), p.address_length) != 0) {
    if (errno != EINPROGRESS) report(out, r, Stage::kConnect, errno);
    if (int e = wait_for(fd, POLLOUT, deadline)) report(out, r, Stage::kConnect, e);
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
    if (so_error) report(out, r, Stage::kConnect, so_error);
  }
  if (p.request.empty()) report(out, r, Stage::kDone, 0);
  deadline = now_ms() + p.timeout_ms;
  std::size_t sent = 0;
  while (sent < p.request.size()) {
    ssize_t n = send(fd, p.request.data() + sent, p.request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (int e = wait_for(fd, POLLOUT, deadline)) report(out, r, Stage::kAnswer, e);
    } else {
      report(out, r, Stage::kAnswer, n < 0 ? errno : EPIPE);
    }
  }
  while (r.length < sizeof r.reply && !reply_complete(r, p.milter)) {
    if (int e = wait_for(fd, POLLIN, deadline))
      report(out, r, r.length ? Stage::kDone : Stage::kAnswer, e);
    ssize_t n = recv(fd, r.reply + r.length, sizeof r.reply - r.length, 0);
    if (n > 0) {
      r.length += static_cast<std::size_t>(n);
    } else if (n == 0) {
      break;  // closed: what came is the answer
    } else if (errno != EAGAIN && errno != EINTR) {
      report(out, r, r.length ? Stage::kDone : Stage::kAnswer, errno);
    }
  }
  close(fd);
  report(out, r, Stage::kDone, 0);
}

}  // namespace

bool SystemProbe::privileged() const {
  return geteuid() == 0;
}

std::optional<RunAs> SystemProbe::user(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return std::nullopt;
  return RunAs{name, static_cast<unsigned>(found->pw_uid), static_cast<unsigned>(found->pw_gid)};
}

FileState SystemProbe::stat(const std::string& path) {
  FileState f;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    f.error = errno;
    return f;
  }
  f.socket = S_ISSOCK(st.st_mode);
  f.kind = S_ISREG(st.st_mode)    ? "regular file"
           : S_ISDIR(st.st_mode)  ? "directory"
           : S_ISFIFO(st.st_mode) ? "FIFO"
           : S_ISCHR(st.st_mode)  ? "character device"
           : S_ISBLK(st.st_mode)  ? "block device"
           : f.socket             ? "socket"
                                  : "special file";
  return f;
}

ProbeResult SystemProbe::talk(const ProbeTarget& t) {
  ProbeResult res;
  Prepared p;
  p.timeout_ms = static_cast<long>(timeout_.count());
  p.milter = t.protocol == Protocol::kMilter;
  if (t.speak) p.request = p.milter ? milter_probe_request() : policy_probe_request();
  const bool root = privileged();
  if (t.endpoint.kind == Endpoint::Kind::kUnix) {
    // As root, exactly as smtpd: the name in its working directory or chroot.
    // Otherwise the path it leads to from here.
    const std::string& name = root ? t.endpoint.path : t.host_path;
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (name.empty() || name.size() >= sizeof un.sun_path) {
      res.stage = ProbeResult::Stage::kConnect;
      res.error = ENAMETOOLONG;
      return res;
    }
    std::memcpy(un.sun_path, name.data(), name.size());
    std::memcpy(&p.address, &un, sizeof un);
    p.address_length = static_cast<socklen_t>(sizeof un);
    if (root) {
      p.work_dir = t.queue_directory;
      p.chroot = t.chrooted;
    }
  } else if (t.endpoint.kind == Endpoint::Kind::kInet) {
    auto ip = IpAddress::parse(t.endpoint.host);
    if (!ip) {
      res.detail = "not an IP address: " + t.endpoint.host;
      return res;
    }
    if (ip->v6) {
      sockaddr_in6 in6{};
      in6.sin6_family = AF_INET6;
      in6.sin6_port = htons(t.endpoint.port);
      std::memcpy(&in6.sin6_addr, ip->bytes.data(), 16);
      std::memcpy(&p.address, &in6, sizeof in6);
      p.address_length = sizeof in6;
    } else {
      sockaddr_in in4{};
      in4.sin_family = AF_INET;
      in4.sin_port = htons(t.endpoint.port);
      std::memcpy(&in4.sin_addr, ip->bytes.data(), 4);
      std::memcpy(&p.address, &in4, sizeof in4);
      p.address_length = sizeof in4;
    }
  } else {
    res.detail = t.endpoint.error;
    return res;
  }
  if (root && t.as) {
    p.switch_user = true;
    p.uid = static_cast<uid_t>(t.as->uid);
    p.gid = static_cast<gid_t>(t.as->gid);
  }

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    res.error = errno;
    return res;
  }
  // Allocated before fork(): the child only fills it in.
  auto slot = std::make_unique<ChildReport>();
  pid_t pid = fork();
  if (pid < 0) {
    res.error = errno;
    close(fds[0]);
    close(fds[1]);
    return res;
  }
  if (pid == 0) {
    close(fds[0]);
    child(p, fds[1], *slot);
  }
  close(fds[1]);
  ChildReport got;
  std::size_t have = 0;
  long deadline = now_ms() + 2 * p.timeout_ms + 1000;
  bool finished = false;
  while (have < sizeof got) {
    if (wait_for(fds[0], POLLIN, deadline) != 0) break;
    ssize_t n = read(fds[0], reinterpret_cast<char*>(&got) + have, sizeof got - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  finished = have == sizeof got;
  close(fds[0]);
  if (!finished) kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) {
    res.detail = "the probe did not finish in time";
    return res;
  }
  res.stage = static_cast<ProbeResult::Stage>(got.stage);
  res.error = got.error;
  res.reply.assign(got.reply, std::min(got.length, sizeof got.reply));
  return res;
}

}  // namespace esmtp::selfcheck
