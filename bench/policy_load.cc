// policy_load: a load generator for Postfix policy services (SMTPD_POLICY_README).
//
// Replays a request mix over N persistent TCP connections to 127.0.0.1:PORT,
// as N Postfix smtpd processes would: each connection carries one SMTP
// session after another, one request at a time (send, wait for the
// "action=...\n\n" reply, send the next). Latency is measured per request by
// this client, from the moment the request is due (the send time in
// closed-loop mode, the scheduled time in rate-limited mode, so a server that
// falls behind is charged for the wait) to the end of the reply.
//
// The mix file (written by bench/policy_load.py) holds sessions separated by a
// line "%%\n"; each session is a list of requests in the protocol's own form
// (attribute lines, an empty line ends a request). Two placeholders of fixed
// width are patched per session so that no two sessions of a run are alike
// (as with real Postfix, whose client_port and instance differ every time,
// and so request caches keyed on all attributes do not short-circuit):
//   client_port=PPPPP   -> 10000 + (session number mod 55536)
//   instance=IIIIIIII   -> the session number in hex (".N" may follow: the
//                          transaction within the session)
// Session numbers start at --session-base, so successive runs differ too.
//
// Connection i plays sessions i, i+N, i+2N, ... of the mix, wrapping around.
//
// Modes:
//   --duration S [--warmup W]  run W+S seconds, record the last S
//   --passes K                 play the whole mix K times, record everything
//   --rate R                   total requests/s, spread evenly over the
//                              connections (0: as fast as replies come)
//
// `policy_load --serve PORT` is a null policy service instead (see serve()).
//
// Prints one JSON object on stdout: requests, seconds, rps, latency
// percentiles in microseconds, reply classes, errors, reconnects and the
// client's own CPU time. A single thread and epoll: it costs about one
// read and one write system call per request.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Request {
  std::string text;
  std::vector<std::size_t> port_at;      // offsets of "PPPPP"
  std::vector<std::size_t> instance_at;  // offsets of "IIIIIIII"
  std::string state;                     // protocol_state
};

using Session = std::vector<Request>;

// Offsets of the placeholder after each "name=" + placeholder in a request.
std::vector<std::size_t> find_all(const std::string& s, const std::string& name,
                                  const std::string& placeholder) {
  std::vector<std::size_t> out;
  const std::string what = name + "=" + placeholder;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) {
    const char after = p + what.size() < s.size() ? s[p + what.size()] : '\n';
    if ((p == 0 || s[p - 1] == '\n') && (after == '\n' || after == '.'))
      out.push_back(p + name.size() + 1);
  }
  return out;
}

std::vector<Session> load_mix(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "policy_load: cannot read %s\n", path);
    std::exit(2);
  }
  std::vector<Session> sessions(1);
  std::string line, cur;
  while (std::getline(in, line)) {
    if (line == "%%") {
      if (!sessions.back().empty()) sessions.emplace_back();
      continue;
    }
    cur += line + "\n";
    if (line.empty()) {
      Request r;
      r.text = cur;
      r.port_at = find_all(cur, "client_port", "PPPPP");
      r.instance_at = find_all(cur, "instance", "IIIIIIII");
      if (auto p = cur.find("\nprotocol_state="); p != std::string::npos)
        r.state = cur.substr(p + 16, cur.find('\n', p + 16) - (p + 16));
      sessions.back().push_back(std::move(r));
      cur.clear();
    }
  }
  if (sessions.back().empty()) sessions.pop_back();
  if (sessions.empty()) {
    std::fprintf(stderr, "policy_load: no sessions in %s\n", path);
    std::exit(2);
  }
  return sessions;
}

struct Options {
  int port = 0;
  int conns = 1;
  const char* mix = nullptr;
  double duration = 0;
  double warmup = 0;
  long passes = 0;
  double rate = 0;
  std::uint64_t session_base = 0;
  double timeout = 30;
};

struct Conn {
  int fd = -1;
  std::size_t next_session = 0;   // index into the mix
  std::uint64_t sessno = 0;       // unique session number
  std::size_t req = 0;            // request index within the session
  std::size_t sessions_left = 0;  // --passes mode
  std::string out;
  std::size_t out_off = 0;
  std::string in;
  std::int64_t due = 0;   // when the current request was due
  std::int64_t sent = 0;  // when it was written
  bool waiting = false;   // a request is out, its reply not yet in
  bool done = false;
  std::uint64_t k = 0;  // requests started (rate schedule)
};

int open_conn(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

// "action=PREPEND X-...: ..." -> "PREPEND"; "action=504 5.5.2 ..." -> "504".
std::string reply_class(const std::string& reply) {
  std::string a = reply.substr(0, reply.find('\n'));
  if (a.rfind("action=", 0) != 0) return "?" + a.substr(0, 20);
  a = a.substr(7);
  return a.substr(0, a.find(' '));
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void usage() {
  std::fprintf(stderr,
               "usage: policy_load --port P --conns N --mix FILE (--duration S [--warmup W] | "
               "--passes K) [--rate R] [--session-base B] [--timeout S]\n");
  std::exit(2);
}

// --serve PORT: a null policy service (one thread, epoll) answering every
// request with "action=DUNNO" at once: the floor that this machine, this
// client and the loopback TCP stack set for any daemon.
[[noreturn]] void serve(int port) {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 4096) != 0) {
    std::perror("policy_load --serve");
    std::exit(1);
  }
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ls;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  std::vector<char> last(1, 0);  // per fd: the previous byte read was '\n'
  static const char kReply[] = "action=DUNNO\n\n";
  std::vector<epoll_event> events(256);
  char buf[65536];
  std::string out;
  for (;;) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int e = 0; e < n; ++e) {
      const int fd = events[e].data.fd;
      if (fd == ls) {
        for (int c; (c = ::accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (static_cast<std::size_t>(c) >= last.size())
            last.resize(static_cast<std::size_t>(c) + 1);
          last[static_cast<std::size_t>(c)] = 0;
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        ::close(fd);
        continue;
      }
      out.clear();
      char prev = last[static_cast<std::size_t>(fd)];
      for (ssize_t i = 0; i < r; ++i) {
        if (buf[i] == '\n' && prev == '\n') out += kReply;
        prev = buf[i] == '\n' && prev == '\n' ? 0 : buf[i];
      }
      last[static_cast<std::size_t>(fd)] = prev;
      if (!out.empty()) [[maybe_unused]]
        auto w = ::write(fd, out.data(), out.size());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--serve") serve(std::atoi(argv[2]));
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--port")
      o.port = std::atoi(val());
    else if (a == "--conns")
      o.conns = std::atoi(val());
    else if (a == "--mix")
      o.mix = val();
    else if (a == "--duration")
      o.duration = std::atof(val());
    else if (a == "--warmup")
      o.warmup = std::atof(val());
    else if (a == "--passes")
      o.passes = std::atol(val());
    else if (a == "--rate")
      o.rate = std::atof(val());
    else if (a == "--session-base")
      o.session_base = std::strtoull(val(), nullptr, 10);
    else if (a == "--timeout")
      o.timeout = std::atof(val());
    else
      usage();
  }
  if (!o.port || !o.mix || o.conns < 1 || (o.duration <= 0 && o.passes <= 0)) usage();

  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(o.conns) + 64) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(o.conns) + 64);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  const std::vector<Session> mix = load_mix(o.mix);
  const std::size_t nmix = mix.size();
  std::size_t mix_requests = 0;
  for (const auto& s : mix) mix_requests += s.size();

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(o.conns));
  std::uint64_t next_sessno = o.session_base;
  const std::size_t total_sessions = o.passes > 0 ? static_cast<std::size_t>(o.passes) * nmix : 0;

  for (std::size_t i = 0; i < conns.size(); ++i) {
    Conn& c = conns[i];
    c.fd = open_conn(o.port);
    if (c.fd < 0) {
      std::fprintf(stderr, "policy_load: connect 127.0.0.1:%d: %s\n", o.port, std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    c.next_session = i % nmix;
    if (o.passes > 0)
      c.sessions_left = total_sessions / conns.size() + (i < total_sessions % conns.size() ? 1 : 0);
  }

  // Samples, reply classes, errors.
  std::vector<std::uint32_t> lat;  // nanoseconds from due time, capped
  std::vector<std::uint32_t> svc;  // nanoseconds from the write (service time)
  lat.reserve(1 << 20);
  svc.reserve(1 << 20);
  std::map<std::string, std::uint64_t> classes;
  std::map<std::string, std::vector<std::uint32_t>> by_state;  // latency by protocol_state
  std::uint64_t errors = 0, reconnects = 0, late = 0;
  std::string first_error;

  const std::int64_t t0 = now_ns();
  const std::int64_t rec_from = t0 + static_cast<std::int64_t>(o.warmup * 1e9);
  const std::int64_t t_end =
      o.duration > 0 ? rec_from + static_cast<std::int64_t>(o.duration * 1e9) : INT64_MAX;
  const std::int64_t interval =
      o.rate > 0 ? static_cast<std::int64_t>(1e9 * static_cast<double>(o.conns) / o.rate) : 0;
  const std::int64_t hard_end =
      o.duration > 0 ? t_end + static_cast<std::int64_t>(o.timeout * 1e9) : INT64_MAX;

  // Rate mode: connections start at evenly spread phases.
  using Due = std::pair<std::int64_t, std::size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> timers;

  auto start_session = [&](Conn& c) {
    c.sessno = next_sessno++;
    c.req = 0;
  };

  auto build = [&](Conn& c) {
    const Request& r = mix[c.next_session][c.req];
    c.out = r.text;
    char port[8], inst[16];
    std::snprintf(port, sizeof port, "%05u", static_cast<unsigned>(10000 + c.sessno % 55536));
    std::snprintf(inst, sizeof inst, "%08" PRIx64,
                  static_cast<std::uint64_t>(c.sessno & 0xffffffffU));
    for (auto p : r.port_at) std::memcpy(&c.out[p], port, 5);
    for (auto p : r.instance_at) std::memcpy(&c.out[p], inst, 8);
    c.out_off = 0;
  };

  auto flush = [&](std::size_t i) -> bool {
    Conn& c = conns[i];
    while (c.out_off < c.out.size()) {
      ssize_t n = ::write(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off);
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        return true;
      } else {
        return false;
      }
    }
    return true;
  };

  std::function<void(std::size_t)> reconnect;

  auto send_now = [&](std::size_t i, std::int64_t due) {
    Conn& c = conns[i];
    build(c);
    c.due = due;
    c.sent = now_ns();
    c.waiting = true;
    c.in.clear();
    if (!flush(i)) reconnect(i);
  };

  // Called when a connection is ready for its next request.
  auto next = [&](std::size_t i) {
    Conn& c = conns[i];
    const std::int64_t now = now_ns();
    if (now >= t_end) {
      c.done = true;
      return;
    }
    if (interval > 0) {
      const std::int64_t phase = static_cast<std::int64_t>(i) * interval / o.conns;
      const std::int64_t due = t0 + phase + static_cast<std::int64_t>(c.k) * interval;
      ++c.k;
      if (due > now) {
        timers.push({due, i});
        return;
      }
      if (now - due > 1000000) ++late;  // more than 1 ms behind schedule
      send_now(i, due);
    } else {
      send_now(i, now);
    }
  };

  reconnect = [&](std::size_t i) {
    Conn& c = conns[i];
    ++reconnects;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = open_conn(o.port);
    if (c.fd < 0) {
      std::fprintf(stderr, "policy_load: reconnect: %s\n", std::strerror(errno));
      std::exit(1);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    // The session restarts from its first request on a new connection.
    c.req = 0;
    c.waiting = false;
    send_now(i, now_ns());
  };

  for (std::size_t i = 0; i < conns.size(); ++i) {
    start_session(conns[i]);
    if (o.passes > 0 && conns[i].sessions_left == 0) {
      conns[i].done = true;
      continue;
    }
    next(i);
  }

  constexpr std::uint64_t kTimerKey = ~std::uint64_t{0};
  int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  std::int64_t armed = 0;
  {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerKey;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  }
  std::vector<epoll_event> events(std::min<std::size_t>(conns.size() + 1, 1024));
  std::size_t active = 0;
  for (auto& c : conns) active += !c.done;
  const double cpu0 = cpu_seconds();
  char buf[65536];

  while (active > 0) {
    std::int64_t now = now_ns();
    if (now > hard_end) {
      std::fprintf(stderr, "policy_load: %zu connection(s) still waiting at the end; giving up\n",
                   active);
      break;
    }
    // Fire due timers.
    // Requests due within kSlack are sent now, in one wake-up: fewer timer
    // wake-ups for the client at high rates (latency of an early send is
    // counted from the send, of a late one from its due time).
    constexpr std::int64_t kSlack = 50000;
    while (!timers.empty() && timers.top().first <= now + kSlack) {
      auto [due, i] = timers.top();
      timers.pop();
      if (now >= t_end) {
        conns[i].done = true;
        --active;
        continue;
      }
      send_now(i, due);
    }
    if (active == 0) break;
    // The next due request wakes us through the timerfd (absolute, ns), so
    // the schedule keeps sub-millisecond gaps without spinning.
    if (!timers.empty() && (armed == 0 || timers.top().first < armed)) {
      armed = timers.top().first;
      itimerspec its{};
      its.it_value.tv_sec = static_cast<time_t>(armed / 1000000000);
      its.it_value.tv_nsec = static_cast<long>(armed % 1000000000);
      ::timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, nullptr);
    }
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      return 1;
    }
    for (int e = 0; e < n; ++e) {
      if (events[e].data.u64 == kTimerKey) {
        std::uint64_t expirations;
        [[maybe_unused]] auto rd = ::read(tfd, &expirations, sizeof expirations);
        armed = 0;
        continue;
      }
      const std::size_t i = events[e].data.u64;
      Conn& c = conns[i];
      if (c.done) continue;
      if (events[e].events & EPOLLOUT) {
        if (!flush(i)) {
          reconnect(i);
          continue;
        }
        if (c.out_off == c.out.size()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = i;
          ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
      }
      if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = ::read(c.fd, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        ++errors;
        if (first_error.empty())
          first_error = r == 0 ? "connection closed by server" : std::strerror(errno);
        reconnect(i);
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(r));
      if (!c.waiting || c.in.size() < 2 || c.in.compare(c.in.size() - 2, 2, "\n\n") != 0) continue;
      const std::int64_t t = now_ns();
      c.waiting = false;
      const std::string cls = reply_class(c.in);
      if (cls[0] == '?') {
        ++errors;
        if (first_error.empty()) first_error = "unexpected reply: " + c.in.substr(0, 80);
      }
      if (c.sent >= rec_from && t <= t_end) {
        const std::int64_t l = t - std::min(c.due, c.sent);
        lat.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(l, 0xffffffffLL)));
        svc.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(t - c.sent, 0xffffffffLL)));
        ++classes[cls];
        by_state[mix[c.next_session][c.req].state].push_back(lat.back());
      }
      // Advance: next request of the session, or the next session.
      if (++c.req >= mix[c.next_session].size()) {
        c.next_session = (c.next_session + conns.size()) % nmix;
        if (o.passes > 0 && --c.sessions_left == 0) {
          c.done = true;
          --active;
          continue;
        }
        start_session(c);
      }
      next(i);
      if (c.done) --active;
    }
  }
  const std::int64_t t_stop = now_ns();
  const double cpu = cpu_seconds() - cpu0;

  double seconds = o.duration > 0 ? o.duration : static_cast<double>(t_stop - t0) / 1e9;
  if (o.duration > 0 && t_stop < t_end) seconds = static_cast<double>(t_stop - rec_from) / 1e9;
  std::sort(lat.begin(), lat.end());
  std::sort(svc.begin(), svc.end());
  auto pct_of = [](const std::vector<std::uint32_t>& v, double p) -> double {
    if (v.empty()) return 0;
    std::size_t k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(k, v.size() - 1)] / 1000.0;
  };
  auto pct = [&](double p) { return pct_of(lat, p); };
  double sum = 0;
  for (auto v : lat) sum += v;

  std::ostringstream js;
  js << "{\"conns\": " << o.conns << ", \"rate_target\": " << o.rate
     << ", \"mix_sessions\": " << nmix << ", \"mix_requests\": " << mix_requests
     << ", \"requests\": " << lat.size() << ", \"seconds\": " << seconds
     << ", \"rps\": " << (seconds > 0 ? static_cast<double>(lat.size()) / seconds : 0)
     << ", \"mean_us\": " << (lat.empty() ? 0 : sum / static_cast<double>(lat.size()) / 1000.0)
     << ", \"p50_us\": " << pct(50) << ", \"p90_us\": " << pct(90) << ", \"p99_us\": " << pct(99)
     << ", \"p999_us\": " << pct(99.9)
     << ", \"max_us\": " << (lat.empty() ? 0 : lat.back() / 1000.0)
     << ", \"svc_p50_us\": " << pct_of(svc, 50) << ", \"svc_p99_us\": " << pct_of(svc, 99)
     << ", \"errors\": " << errors << ", \"reconnects\": " << reconnects
     << ", \"late_sends\": " << late << ", \"client_cpu_s\": " << cpu
     << ", \"sessions_started\": " << (next_sessno - o.session_base) << ", \"first_error\": \""
     << json_escape(first_error) << "\", \"replies\": {";
  bool first = true;
  for (const auto& [k, v] : classes) {
    js << (first ? "" : ", ") << "\"" << json_escape(k) << "\": " << v;
    first = false;
  }
  js << "}, \"by_state\": {";
  first = true;
  for (auto& [k, v] : by_state) {
    std::sort(v.begin(), v.end());
    js << (first ? "" : ", ") << "\"" << json_escape(k) << "\": {\"n\": " << v.size()
       << ", \"p50_us\": " << pct_of(v, 50) << ", \"p99_us\": " << pct_of(v, 99) << "}";
    first = false;
  }
  js << "}}\n";
  std::fputs(js.str().c_str(), stdout);
  return 0;
}
