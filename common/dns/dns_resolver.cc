// dns_resolver: the DnsResolver interface on c-ares (see the header).
//
// Threading: each resolver has one thread running the c-ares event loop:
// poll() over the sockets c-ares announces through its socket-state callback
// (no fd_set, so descriptor numbers above FD_SETSIZE are fine) and an eventfd
// that ptr()/addresses() signal after queueing a request. The table of
// lookups in flight and their deadlines belong to that thread and need no
// lock; the request queue, the cache and the statistics are shared. A request
// whose answers are all in the cache is answered at once on the caller's
// thread (no wake-up of the resolver thread, no hop back), which is what a
// busy server with a warm cache does most of the time.
//
// Deadlines: c-ares 1.18 doubles the per-try timeout on every round through
// the servers (timeout 300 ms, 3 tries: it gives up after 2.1 s, not 0.9 s),
// so timeout x tries is not its worst case. Each lookup carries
// its own deadline (request time + budget); when it passes, the waiters get
// kTempError("timeout") at once and c-ares' late reply, whenever it comes, is
// dropped.
//
// c-ares runs with ARES_FLAG_NOCHECKRESP: without it, 1.18 treats a SERVFAIL,
// REFUSED or NOTIMP reply as a failed try, moves on, and in the end reports
// ARES_ECONNREFUSED, so the log would blame the network for a broken zone.
// The flag is documented to turn off c-ares' check that the reply's question
// is the one asked too (1.18 still makes it); the walker
// (dns_message.h) checks it anyway.
// The price: with several servers, a SERVFAIL from one is the answer rather
// than a reason to ask the next.
#include "common/dns/dns_resolver.h"

#include <ares.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>

#include "common/dns/dns_cache.h"
#include "common/dns/dns_message.h"
#include "common/dns/dns_names.h"

namespace esmtp {

std::string_view to_string(DnsStatus s) {
  switch (s) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNone:
      return "none";
    case DnsStatus::kTempError:
      return "temperror";
  }
  return "temperror";
}

namespace {

using Clock = std::chrono::steady_clock;

// Distinct lookups in flight; beyond this new ones fail at once instead of
// growing the table while the servers do not answer.
constexpr std::size_t kMaxInFlight = 10000;

DnsAnswer temp_error(std::string why) {
  return dns_temp_error(std::move(why));
}

DnsAnswer cancelled() {
  return temp_error("cancelled");
}

// ---------------------------------------------------------------------------
// The engine: the state the resolver thread owns. The DnsResolver object
// handed out holds it through a shared_ptr, as does the thread, so that the
// resolver may even be destroyed from one of its own callbacks.

struct Request {
  std::uint16_t type = 0;
  std::string name;  // query name; empty for a name that cannot exist
  DnsResolver::Callback done;
  Clock::time_point asked;
};

class Engine;

// One query handed to c-ares. c-ares calls back exactly once (answer, error
// or ares_destroy) and the callback deletes it; a lookup finished earlier by
// its deadline stays until then, marked finished.
struct Lookup {
  Engine* engine = nullptr;
  std::string key;
  std::uint16_t type = 0;
  std::string name;
  std::vector<DnsResolver::Callback> waiters;
  std::multimap<Clock::time_point, Lookup*>::iterator deadline;
  Clock::time_point sent;
  bool finished = false;
};

class Engine {
 public:
  Engine(std::chrono::milliseconds budget, std::size_t cache_entries, DnsClock cache_clock,
         std::shared_ptr<DnsMetrics> metrics)
      : budget_(budget),
        cache_(cache_entries, std::move(cache_clock)),
        metrics_(std::move(metrics)) {}
  ~Engine() {
    if (channel_) ares_destroy(channel_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  bool init(const DnsOptions& options, std::string* error);

  // Any thread.
  void submit(std::vector<Request> requests);
  void stop();
  DnsStats stats() const {
    DnsStats s;
    s.queries = queries_.load();
    s.cache_hits = cache_hits_.load();
    s.timeouts = timeouts_.load();
    s.cache_size = cache_size_.load();
    return s;
  }

  // The resolver thread.
  void run();

 private:
  static void on_socket(void* data, ares_socket_t fd, int readable, int writable);
  static void on_reply(void* arg, int status, int timeouts, unsigned char* abuf, int alen);

  void start(Request r);
  void finish(Lookup& l, const DnsAnswer& answer);
  void expire(Clock::time_point now);
  int poll_timeout_ms(Clock::time_point now);

  const std::chrono::milliseconds budget_;
  ares_channel channel_ = nullptr;
  int wake_fd_ = -1;

  // Answers every request from the cache when all are there (then calls
  // back on this thread and returns true); otherwise touches nothing.
  bool answer_from_cache(std::vector<Request>& requests);

  std::mutex mu_;  // guards queue_, stopping_, closed_
  std::vector<Request> queue_;
  bool stopping_ = false;
  bool closed_ = false;

  std::mutex cache_mu_;  // guards cache_
  DnsCache cache_;

  // Resolver thread only.
  std::unordered_map<std::string, Lookup*> inflight_;
  std::multimap<Clock::time_point, Lookup*> deadlines_;
  std::unordered_map<ares_socket_t, short> sockets_;  // poll events c-ares wants

  std::shared_ptr<DnsMetrics> metrics_;  // may be null
  void count_cache_hits(std::uint64_t n) {
    cache_hits_.fetch_add(n);
    if (metrics_) metrics_->cache_hit(n);
  }

  std::atomic<std::uint64_t> queries_{0};
  std::atomic<std::uint64_t> cache_hits_{0};
  std::atomic<std::uint64_t> timeouts_{0};
  std::atomic<std::size_t> cache_size_{0};
};

bool Engine::init(const DnsOptions& options, std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  std::vector<DnsServer> servers;
  for (const std::string& s : options.servers) {
    auto server = parse_dns_server(s);
    if (!server)
      return fail("invalid DNS server \"" + s +
                  "\": expected an IP address, ADDRESS:PORT or [IPv6]:PORT");
    servers.push_back(*server);
  }

  static std::once_flag library_once;
  static int library_status = ARES_SUCCESS;
  std::call_once(library_once, [] { library_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (library_status != ARES_SUCCESS)
    return fail(std::string("c-ares: ") + ares_strerror(library_status));

  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return fail(std::string("eventfd: ") + std::strerror(errno));

  ares_options o{};
  // ares_query() never appends search domains; NOSEARCH and no domains say so
  // for any other path, and NOALIASES ignores HOSTALIASES. NOCHECKRESP: see
  // the top of this file.
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
  o.timeout = static_cast<int>(std::min<std::int64_t>(options.timeout.count(), INT_MAX));
  o.tries = static_cast<int>(std::min<unsigned>(options.tries, INT_MAX));
  o.domains = nullptr;
  o.ndomains = 0;
  o.sock_state_cb = &Engine::on_socket;
  o.sock_state_cb_data = this;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS |
                   ARES_OPT_SOCK_STATE_CB;
  if (int rc = ares_init_options(&channel_, &o, mask); rc != ARES_SUCCESS) {
    channel_ = nullptr;
    return fail(std::string("c-ares: ") + ares_strerror(rc));
  }

  if (!servers.empty()) {
    std::vector<ares_addr_port_node> nodes(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      ares_addr_port_node& n = nodes[i];
      n.next = i + 1 < servers.size() ? &nodes[i + 1] : nullptr;
      if (servers[i].address.v6) {
        n.family = AF_INET6;
        std::memcpy(&n.addr.addr6, servers[i].address.bytes.data(), 16);
      } else {
        n.family = AF_INET;
        std::memcpy(&n.addr.addr4, servers[i].address.bytes.data(), 4);
      }
      n.udp_port = n.tcp_port = servers[i].port;
    }
    if (int rc = ares_set_servers_ports(channel_, nodes.data()); rc != ARES_SUCCESS)
      return fail(std::string("c-ares: ") + ares_strerror(rc));
  }
  return true;
}

bool Engine::answer_from_cache(std::vector<Request>& requests) {
  std::vector<DnsAnswer> answers;
  answers.reserve(requests.size());
  {
    std::lock_guard lock(cache_mu_);
    for (const Request& r : requests) {
      if (r.name.empty()) return false;
      auto hit = cache_.get(dns_cache_key(r.type, r.name));
      if (!hit) return false;
      answers.push_back(std::move(*hit));
    }
  }
  count_cache_hits(requests.size());
  // Outside the lock: a callback may ask again (forward lookups of PTR names).
  for (std::size_t i = 0; i < requests.size(); ++i) requests[i].done(answers[i]);
  return true;
}

void Engine::submit(std::vector<Request> requests) {
  if (answer_from_cache(requests)) return;
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      for (Request& r : requests) queue_.push_back(std::move(r));
      queued = true;
    }
  }
  if (queued) {
    // After unlocking, so the woken resolver thread does not block on mu_.
    // Can only fail with EAGAIN when the counter is full: still readable.
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    return;
  }
  // Only reached when a request races the resolver's destruction.
  for (Request& r : requests) r.done(cancelled());
}

void Engine::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Engine::on_socket(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<Engine*>(data);
  if (!readable && !writable) {
    self->sockets_.erase(fd);
    return;
  }
  self->sockets_[fd] = static_cast<short>((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
}

void Engine::on_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<Lookup> l(static_cast<Lookup*>(arg));
  if (l->finished) return;  // its deadline passed; the waiters have their answer
  const std::span<const std::uint8_t> reply =
      abuf && alen > 0 ? std::span<const std::uint8_t>(abuf, static_cast<std::size_t>(alen))
                       : std::span<const std::uint8_t>();
  l->engine->finish(*l, interpret_dns_reply(status, reply, l->type, l->name));
}

void Engine::start(Request r) {
  if (r.name.empty()) {
    DnsAnswer a;
    a.status = DnsStatus::kNone;
    a.error = "invalid name";
    r.done(a);
    return;
  }
  std::string key = dns_cache_key(r.type, r.name);
  std::optional<DnsAnswer> hit;
  {
    std::lock_guard lock(cache_mu_);
    hit = cache_.get(key);
    cache_size_.store(cache_.size());  // an expired entry may have gone
  }
  if (hit) {
    count_cache_hits(1);
    r.done(*hit);
    return;
  }
  if (auto it = inflight_.find(key); it != inflight_.end()) {
    // Answered by the same query in flight: no query of its own, so it
    // counts with the cache hits (each lookup is a query or a hit, whatever
    // the timing).
    count_cache_hits(1);
    it->second->waiters.push_back(std::move(r.done));
    return;
  }
  if (inflight_.size() >= kMaxInFlight) {
    r.done(temp_error("overloaded"));
    return;
  }
  auto* l = new Lookup;
  l->engine = this;
  l->key = std::move(key);
  l->type = r.type;
  l->name = std::move(r.name);
  l->waiters.push_back(std::move(r.done));
  l->deadline = deadlines_.emplace(r.asked + budget_, l);
  l->sent = Clock::now();
  inflight_.emplace(l->key, l);
  queries_.fetch_add(1);
  // May call on_reply before it returns (a query that cannot be built).
  ares_query(channel_, l->name.c_str(), kDnsClassIn, l->type, &Engine::on_reply, l);
}

void Engine::finish(Lookup& l, const DnsAnswer& answer) {
  l.finished = true;
  deadlines_.erase(l.deadline);
  inflight_.erase(l.key);
  const bool timeout = answer.status == DnsStatus::kTempError && answer.error == "timeout";
  if (timeout) timeouts_.fetch_add(1);
  if (metrics_) {
    using M = DnsMetrics;
    const M::Type type = l.type == kDnsTypePtr ? M::Type::kPtr
                         : l.type == kDnsTypeA ? M::Type::kA
                                               : M::Type::kAaaa;
    const M::Result result = timeout                             ? M::Result::kTimeout
                             : answer.status == DnsStatus::kOk   ? M::Result::kOk
                             : answer.status == DnsStatus::kNone ? M::Result::kNone
                                                                 : M::Result::kTempError;
    metrics_->query(type, result, Clock::now() - l.sent);
  }
  if (answer.status != DnsStatus::kTempError) {
    std::lock_guard lock(cache_mu_);
    cache_.put(l.key, answer);
    cache_size_.store(cache_.size());
  }
  const auto waiters = std::move(l.waiters);
  for (const auto& done : waiters) done(answer);
}

void Engine::expire(Clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now)
    finish(*deadlines_.begin()->second, temp_error("timeout"));
}

int Engine::poll_timeout_ms(Clock::time_point now) {
  std::int64_t ms = 60000;
  timeval tv;
  if (const timeval* t = ares_timeout(channel_, nullptr, &tv))
    ms = std::min<std::int64_t>(ms, std::int64_t{t->tv_sec} * 1000 + (t->tv_usec + 999) / 1000);
  if (!deadlines_.empty()) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first - now).count();
    ms = std::min<std::int64_t>(ms, left);
  }
  return static_cast<int>(std::max<std::int64_t>(ms, 0));
}

void Engine::run() {
  std::vector<pollfd> fds;
  for (;;) {
    std::vector<Request> batch;
    bool stopping;
    {
      std::lock_guard lock(mu_);
      batch.swap(queue_);
      stopping = stopping_;
      if (stopping) closed_ = true;
    }
    if (stopping) {
      for (Request& r : batch) r.done(cancelled());
      break;
    }
    for (Request& r : batch) start(std::move(r));
    const auto now = Clock::now();
    expire(now);

    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (const auto& [fd, events] : sockets_) fds.push_back(pollfd{fd, events, 0});
    const int n = ::poll(fds.data(), fds.size(), poll_timeout_ms(now));
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // EFAULT/EINVAL/ENOMEM: a bug or a broken system
    }
    if (fds[0].revents & POLLIN) {
      std::uint64_t count;
      [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
    }
    bool processed = false;
    for (std::size_t i = 1; i < fds.size(); ++i) {
      const short ev = fds[i].revents;
      if (!ev) continue;
      // Errors and hang-ups are read: c-ares finds out what happened.
      const bool readable = ev & (POLLIN | POLLERR | POLLHUP | POLLNVAL);
      const bool writable = ev & POLLOUT;
      ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
      processed = true;
    }
    // c-ares' own timeouts (next try, next server) when no socket woke us.
    if (!processed) ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
  // Every query still in c-ares gets ARES_EDESTRUCTION: "cancelled" for
  // those whose waiters have not had an answer yet.
  ares_destroy(channel_);
  channel_ = nullptr;
}

// ---------------------------------------------------------------------------

// addresses(): the A and AAAA answers merged once both are in (both arrive
// on the same thread: the resolver's, or the caller's when both were in the
// cache; so no lock).
class Merge {
 public:
  explicit Merge(DnsResolver::Callback done) : done_(std::move(done)) {}

  void add(int family, const DnsAnswer& a) {
    parts_[family] = a;
    if (--left_ == 0) done_(merged());
  }

 private:
  DnsAnswer merged() const {
    const DnsAnswer& v4 = parts_[0];
    const DnsAnswer& v6 = parts_[1];
    DnsAnswer m;
    m.from_cache = v4.from_cache && v6.from_cache;
    const bool ok4 = v4.status == DnsStatus::kOk;
    const bool ok6 = v6.status == DnsStatus::kOk;
    if (ok4 || ok6) {
      m.status = DnsStatus::kOk;
      // Both families get a share of kMaxAddresses when both have more.
      const std::size_t n6 = ok6 ? v6.addresses.size() : 0;
      const std::size_t n4 =
          ok4 ? std::min(v4.addresses.size(), std::max(kMaxAddresses / 2, kMaxAddresses - n6)) : 0;
      m.addresses.assign(v4.addresses.begin(), v4.addresses.begin() + n4);
      const std::size_t take6 = std::min(n6, kMaxAddresses - n4);
      m.addresses.insert(m.addresses.end(), v6.addresses.begin(), v6.addresses.begin() + take6);
    } else if (v4.status == DnsStatus::kTempError || v6.status == DnsStatus::kTempError) {
      m.status = DnsStatus::kTempError;
      m.error = v4.status == DnsStatus::kTempError ? v4.error : v6.error;
      return m;
    } else {
      m.status = DnsStatus::kNone;
    }
    // The merged answer is good for as long as its parts that are answers.
    std::chrono::seconds ttl{kDnsMaxTtl};
    for (const DnsAnswer* p : {&v4, &v6})
      if (p->status != DnsStatus::kTempError) ttl = std::min(ttl, p->ttl);
    m.ttl = ttl;
    return m;
  }

  DnsResolver::Callback done_;
  DnsAnswer parts_[2];
  int left_ = 2;
};

class AresResolver final : public DnsResolver {
 public:
  AresResolver(std::shared_ptr<Engine> engine, std::chrono::milliseconds budget)
      : engine_(std::move(engine)), budget_(budget), thread_([e = engine_] { e->run(); }) {}

  ~AresResolver() override {
    engine_->stop();
    // Destroyed from one of its own callbacks: the thread finishes on its own
    // (it holds the engine) and cancels what is left.
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }

  void ptr(const IpAddress& address, Callback done) override {
    std::vector<Request> r(1);
    r[0] = Request{kDnsTypePtr, dns_reverse_name(address), std::move(done), Clock::now()};
    engine_->submit(std::move(r));
  }

  void addresses(std::string_view name, Callback done) override {
    const auto asked = Clock::now();
    auto qname = dns_query_name(name);
    if (!qname) {
      std::vector<Request> r(1);
      r[0] = Request{kDnsTypeA, "", std::move(done), asked};
      engine_->submit(std::move(r));
      return;
    }
    auto merge = std::make_shared<Merge>(std::move(done));
    std::vector<Request> r(2);
    r[0] = Request{kDnsTypeA, *qname, [merge](const DnsAnswer& a) { merge->add(0, a); }, asked};
    r[1] = Request{kDnsTypeAaaa, std::move(*qname),
                   [merge](const DnsAnswer& a) { merge->add(1, a); }, asked};
    engine_->submit(std::move(r));
  }

  std::chrono::milliseconds budget() const override { return budget_; }
  DnsStats stats() const override { return engine_->stats(); }

 private:
  std::shared_ptr<Engine> engine_;
  std::chrono::milliseconds budget_;
  std::thread thread_;
};

// Waits for one answer until `deadline`. The slot is shared with the
// callback, which may run long after this returns.
template <typename Ask>
DnsAnswer wait_answer(Ask ask, Clock::time_point deadline) {
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<DnsAnswer> answer;
  };
  auto slot = std::make_shared<Slot>();
  ask([slot](const DnsAnswer& a) {
    std::lock_guard lock(slot->mu);
    slot->answer = a;
    slot->cv.notify_all();
  });
  std::unique_lock lock(slot->mu);
  if (!slot->cv.wait_until(lock, deadline, [&] { return slot->answer.has_value(); }))
    return temp_error("timeout");
  return *slot->answer;
}

}  // namespace

std::unique_ptr<DnsResolver> DnsResolver::create(const DnsOptions& options, std::string* error) {
  if (options.timeout.count() < 1) {
    if (error) *error = "DNS timeout must be at least 1 ms";
    return nullptr;
  }
  if (options.tries < 1) {
    if (error) *error = "DNS tries must be at least 1";
    return nullptr;
  }
  const auto budget = options.timeout * options.tries;
  auto engine =
      std::make_shared<Engine>(budget, options.cache_entries, options.cache_clock, options.metrics);
  if (!engine->init(options, error)) return nullptr;
  return std::make_unique<AresResolver>(std::move(engine), budget);
}

DnsAnswer ptr_wait(DnsResolver& r, const IpAddress& address, Clock::time_point deadline) {
  return wait_answer([&](DnsResolver::Callback done) { r.ptr(address, std::move(done)); },
                     deadline);
}

DnsAnswer addresses_wait(DnsResolver& r, std::string_view name, Clock::time_point deadline) {
  return wait_answer([&](DnsResolver::Callback done) { r.addresses(name, std::move(done)); },
                     deadline);
}

}  // namespace esmtp
