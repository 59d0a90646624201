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
// Answers are read with our own bounds-checked walker of the DNS message
// rather than ares_parse_{a,aaaa,ptr}_reply: c-ares 1.18 reports no TTL for
// PTR answers and none for negative answers (the SOA of the authority
// section), both of which the cache needs; and one walker gives PTR, A and
// AAAA the same CNAME-chain rule and the same limits, keeping at most
// kMaxNames/kMaxAddresses without building hostents of whatever size the
// answer claims.
//
// c-ares runs with ARES_FLAG_NOCHECKRESP: without it, 1.18 treats a SERVFAIL,
// REFUSED or NOTIMP reply as a failed try, moves on, and in the end reports
// ARES_ECONNREFUSED, so the log would blame the network for a broken zone.
// The flag is documented to turn off c-ares' check that the reply's question
// is the one asked too (1.18 still makes it); the walker checks it anyway.
// The price: with several servers, a SERVFAIL from one is the answer rather
// than a reason to ask the next.
#include "common/dns/dns_resolver.h"

#include "common/dns/dns_message.h"

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
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>

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

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeCname = 5;
constexpr std::uint16_t kTypeSoa = 6;
constexpr std::uint16_t kTypePtr = 12;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kClassIn = 1;

// Cached answers live at least a second (a TTL of 0 would defeat the cache
// for a busy client) and at most a day.
constexpr std::uint32_t kMinTtl = 1;
constexpr std::uint32_t kMaxTtl = 86400;
// Negative answers without an SOA in the authority section.
constexpr std::uint32_t kDefaultNegativeTtl = 60;
// CNAMEs followed from the name asked before the answer is given up on.
constexpr int kMaxCnameHops = 8;
// Distinct lookups in flight; beyond this new ones fail at once instead of
// growing the table while the servers do not answer.
constexpr std::size_t kMaxInFlight = 10000;
// Host names in presentation form (RFC 1035 section 2.3.4 less the dot).
constexpr std::size_t kMaxNameLength = 253;

DnsAnswer temp_error(std::string why) {
  DnsAnswer a;
  a.status = DnsStatus::kTempError;
  a.error = std::move(why);
  return a;
}

DnsAnswer cancelled() {
  return temp_error("cancelled");
}

// ---------------------------------------------------------------------------
// The DNS message walker. Every read is bounds-checked; a failed read means
// the message is malformed and the whole answer is discarded.

class Wire {
 public:
  explicit Wire(std::span<const std::uint8_t> msg, std::size_t pos = 0)
      : msg_(msg), pos_(std::min(pos, msg.size())) {}

  std::size_t pos() const { return pos_; }

  bool skip(std::size_t n) {
    if (n > msg_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (msg_.size() - pos_ < 2) return false;
    v = static_cast<std::uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (msg_.size() - pos_ < 4) return false;
    v = std::uint32_t{msg_[pos_]} << 24 | std::uint32_t{msg_[pos_ + 1]} << 16 |
        std::uint32_t{msg_[pos_ + 2]} << 8 | std::uint32_t{msg_[pos_ + 3]};
    pos_ += 4;
    return true;
  }

  // A possibly compressed name, in lower case without the trailing dot ("" is
  // the root). Bytes other than letters, digits, '-' and '_' come out as \DDD,
  // so two different names never read the same and the result is a host name
  // exactly when it has no backslash. `out` may be null to skip the name.
  //
  // A compression pointer must point before the label sequence that holds it
  // (RFC 1035: "a prior occurrence"): every jump goes strictly backwards, so
  // pointer loops cannot exist, and the 255-octet limit bounds the rest.
  bool name(std::string* out) {
    if (out) out->clear();
    std::size_t p = pos_;
    std::size_t segment = pos_;  // where the label sequence being read starts
    std::size_t resume = 0;      // after the first pointer
    bool jumped = false;
    std::size_t octets = 0;
    for (;;) {
      if (p >= msg_.size()) return false;
      const std::uint8_t len = msg_[p];
      if ((len & 0xC0) == 0xC0) {
        if (msg_.size() - p < 2) return false;
        const std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 | msg_[p + 1];
        if (target >= segment) return false;
        if (!jumped) resume = p + 2;
        jumped = true;
        p = segment = target;
        continue;
      }
      if (len & 0xC0) return false;  // extended (RFC 6891) and reserved label types
      octets += 1 + std::size_t{len};
      if (octets > 255) return false;
      if (len == 0) {
        pos_ = jumped ? resume : p + 1;
        return true;
      }
      if (msg_.size() - p - 1 < len) return false;
      if (out) {
        if (!out->empty()) out->push_back('.');
        append_label(msg_.subspan(p + 1, len), *out);
      }
      p += 1 + std::size_t{len};
    }
  }

 private:
  static void append_label(std::span<const std::uint8_t> label, std::string& out) {
    for (const std::uint8_t c : label) {
      if (c >= 'A' && c <= 'Z') {
        out.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
        out.push_back(static_cast<char>(c));
      } else {
        const char esc[] = {'\\', static_cast<char>('0' + c / 100),
                            static_cast<char>('0' + c / 10 % 10), static_cast<char>('0' + c % 10)};
        out.append(esc, sizeof esc);
      }
    }
  }

  std::span<const std::uint8_t> msg_;
  std::size_t pos_;
};

// RFC 2181 section 8: a TTL with the top bit set is read as zero.
std::uint32_t wire_ttl(std::uint32_t ttl) {
  return ttl > 0x7FFFFFFFu ? 0 : ttl;
}

struct Record {
  std::string owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;  // offset in the message
  std::uint16_t rdlength = 0;
};

struct Message {
  std::vector<Record> answers;                // class IN, CNAME or the type asked
  std::optional<std::uint32_t> negative_ttl;  // from the SOA in the authority section
};

// The name that is the whole RDATA of a PTR or CNAME record.
bool rdata_name(std::span<const std::uint8_t> msg, const Record& r, std::string* out) {
  const std::size_t end = r.rdata + r.rdlength;  // checked against the message when read
  Wire w(msg.first(end), r.rdata);
  return w.name(out) && w.pos() == end;
}

enum class Parse : std::uint8_t { kOk, kMalformed, kOtherQuestion };

// Header, question (which must be the one asked), answer and authority
// sections; the additional section is not needed and not read. The counts
// come from the wire: each record takes at least 11 octets, so a count
// beyond the message fails a read.

Parse parse_message(std::span<const std::uint8_t> msg, std::uint16_t qtype,
                    const std::string& qname, Message& out) {
  Wire w(msg);
  std::uint16_t id, flags, qdcount, ancount, nscount, arcount;
  if (!w.u16(id) || !w.u16(flags) || !w.u16(qdcount) || !w.u16(ancount) || !w.u16(nscount) ||
      !w.u16(arcount) || qdcount != 1)
    return Parse::kMalformed;
  std::string question;
  std::uint16_t question_type, question_class;
  if (!w.name(&question) || !w.u16(question_type) || !w.u16(question_class))
    return Parse::kMalformed;
  if (question != qname || question_type != qtype || question_class != kClassIn)
    return Parse::kOtherQuestion;
  const std::size_t records = std::size_t{ancount} + nscount;
  for (std::size_t i = 0; i < records; ++i) {
    const bool answer = i < ancount;
    Record r;
    std::uint16_t rclass;
    if (!w.name(answer ? &r.owner : nullptr) || !w.u16(r.type) || !w.u16(rclass) || !w.u32(r.ttl) ||
        !w.u16(r.rdlength))
      return Parse::kMalformed;
    r.rdata = w.pos();
    if (!w.skip(r.rdlength)) return Parse::kMalformed;
    r.ttl = wire_ttl(r.ttl);
    if (rclass != kClassIn) continue;
    if (answer) {
      if (r.type == kTypeCname || r.type == qtype) out.answers.push_back(std::move(r));
    } else if (r.type == kTypeSoa && !out.negative_ttl) {
      // RFC 2308 section 5: a negative answer is kept for the smaller of the
      // SOA's own TTL and its MINIMUM field (the last of five numbers after
      // two names).
      const std::size_t end = r.rdata + r.rdlength;
      Wire soa(msg.first(end), r.rdata);
      std::uint32_t serial, refresh, retry, expire, minimum;
      if (!soa.name(nullptr) || !soa.name(nullptr) || !soa.u32(serial) || !soa.u32(refresh) ||
          !soa.u32(retry) || !soa.u32(expire) || !soa.u32(minimum) || soa.pos() != end)
        return Parse::kMalformed;
      out.negative_ttl = std::min(r.ttl, wire_ttl(minimum));
    }
  }
  return Parse::kOk;
}

bool is_host_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength &&
         name.find('\\') == std::string_view::npos;
}

std::chrono::seconds clamp_ttl(std::uint32_t ttl) {
  return std::chrono::seconds(std::clamp(ttl, kMinTtl, kMaxTtl));
}

// What a parsed answer says about (qname, qtype): follows the CNAME chain
// from the name asked (aliases, RFC 2317 classless reverse delegation) and
// takes the records at its end. The TTL is the smallest along the chain.
DnsAnswer extract(std::span<const std::uint8_t> msg, const Message& m, std::uint16_t qtype,
                  const std::string& qname) {
  std::string current = qname;
  std::uint32_t ttl = kMaxTtl;
  for (int hops = 0;; ++hops) {
    auto it = std::find_if(m.answers.begin(), m.answers.end(), [&](const Record& r) {
      return r.type == kTypeCname && r.owner == current;
    });
    if (it == m.answers.end()) break;
    if (hops == kMaxCnameHops) return temp_error("CNAME chain too long");
    std::string target;
    if (!rdata_name(msg, *it, &target)) return temp_error("malformed answer");
    ttl = std::min(ttl, it->ttl);
    current = std::move(target);
  }

  DnsAnswer a;
  bool found = false;
  for (const Record& r : m.answers) {
    if (r.type != qtype || r.owner != current) continue;
    found = true;
    ttl = std::min(ttl, r.ttl);
    if (qtype == kTypePtr) {
      std::string name;
      if (!rdata_name(msg, r, &name)) return temp_error("malformed answer");
      // Names that are not host names are of no use to the identity checks
      // and must not reach logs or headers.
      if (!is_host_name(name) || a.names.size() >= kMaxNames ||
          std::find(a.names.begin(), a.names.end(), name) != a.names.end())
        continue;
      a.names.push_back(std::move(name));
    } else {
      IpAddress ip;
      ip.v6 = qtype == kTypeAaaa;
      const std::size_t size = ip.v6 ? 16 : 4;
      if (r.rdlength != size) return temp_error("malformed answer");
      std::memcpy(ip.bytes.data(), msg.data() + r.rdata, size);
      if (a.addresses.size() >= kMaxAddresses ||
          std::find(a.addresses.begin(), a.addresses.end(), ip) != a.addresses.end())
        continue;
      a.addresses.push_back(ip);
    }
  }
  if (found && (!a.names.empty() || !a.addresses.empty())) {
    a.status = DnsStatus::kOk;
  } else {
    // NODATA at the end of a chain, or PTR names none of which is a host name.
    a.status = DnsStatus::kNone;
    if (!found) ttl = std::min(ttl, m.negative_ttl.value_or(kDefaultNegativeTtl));
  }
  a.ttl = clamp_ttl(ttl);
  return a;
}

std::string ares_error(int status) {
  switch (status) {
    case ARES_ESERVFAIL:
      return "SERVFAIL";
    case ARES_EREFUSED:
      return "REFUSED";
    case ARES_EFORMERR:
      return "FORMERR";
    case ARES_ENOTIMP:
      return "NOTIMP";
    case ARES_ETIMEOUT:
      return "timeout";
    case ARES_ECONNREFUSED:
      // Also what c-ares 1.18 reports when every try failed some other way
      // than by timing out (a UDP reply over 512 octets without TC, ...).
      return "connection refused";
    case ARES_EBADRESP:
      return "bad response";
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return "cancelled";
    default:
      return ares_strerror(status);
  }
}

// A c-ares outcome as the identity checks see it.
DnsAnswer interpret(int status, const unsigned char* abuf, int alen, std::uint16_t qtype,
                    const std::string& qname) {
  if (status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND)
    return temp_error(ares_error(status));
  if (!abuf || alen <= 0) {
    if (status == ARES_SUCCESS) return temp_error("malformed answer");
    DnsAnswer a;
    a.status = DnsStatus::kNone;
    a.ttl = clamp_ttl(kDefaultNegativeTtl);
    return a;
  }
  const std::span<const std::uint8_t> msg(abuf, static_cast<std::size_t>(alen));
  Message m;
  switch (parse_message(msg, qtype, qname, m)) {
    case Parse::kOk:
      break;
    case Parse::kMalformed:
      return temp_error("malformed answer");
    case Parse::kOtherQuestion:
      return temp_error("answer to another question");
  }
  DnsAnswer a = extract(msg, m, qtype, qname);
  // NXDOMAIN or NODATA with records of the type asked contradicts itself.
  if (status != ARES_SUCCESS && a.status == DnsStatus::kOk) return temp_error("malformed answer");
  return a;
}

}  // namespace

DnsAnswer interpret_dns_reply(int status, std::span<const std::uint8_t> reply, std::uint16_t qtype,
                              const std::string& qname) {
  return interpret(status, reply.data(), static_cast<int>(reply.size()), qtype, qname);
}

namespace {

// ---------------------------------------------------------------------------
// Names and servers.

// "203.0.113.5" -> "5.113.0.203.in-addr.arpa", IPv6 -> 32 nibbles + "ip6.arpa".
std::string reverse_name(const IpAddress& ip) {
  std::string out;
  if (!ip.v6) {
    for (int i = 3; i >= 0; --i) out += std::to_string(ip.bytes[i]) + '.';
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[ip.bytes[i] & 0x0F];
    out += '.';
    out += kHex[ip.bytes[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

// A host name to query: one trailing dot dropped, lower case; nullopt when it
// cannot be a host name (empty or long labels, characters beyond letters,
// digits, '-' and '_', which would also reach c-ares' own escape handling).
std::optional<std::string> query_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxNameLength) return std::nullopt;
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      out.push_back('.');
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return std::nullopt;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (label == 0) return std::nullopt;
  return out;
}

struct Server {
  IpAddress address;
  int port = 53;
};

// "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:5353".
std::optional<Server> parse_server(std::string_view text) {
  auto hp = split_host_port(text);
  if (!hp) return std::nullopt;
  // IpAddress::parse also takes MTA forms ("IPv6:...", "[...]"); a server
  // is a bare address.
  if (hp->host.empty() ||
      hp->host.find_first_not_of("0123456789abcdefABCDEF.:") != std::string_view::npos)
    return std::nullopt;
  auto address = IpAddress::parse(hp->host);
  if (!address || (hp->bracketed && !address->v6)) return std::nullopt;
  Server s{*address, 53};
  if (!hp->port.empty()) {
    auto port = parse_port(hp->port);
    if (!port) return std::nullopt;
    s.port = *port;
  }
  return s;
}

std::string cache_key(std::uint16_t type, std::string_view name) {
  std::string key = std::to_string(type);
  key += ' ';
  key += name;
  return key;
}

// ---------------------------------------------------------------------------
// The cache: answers by (type, name) until they expire, least recently used
// first out beyond `capacity`. Expired entries go when they are next looked
// up or pushed out. Guarded by Engine::cache_mu_.

class Cache {
 public:
  explicit Cache(std::size_t capacity) : capacity_(capacity) {}

  std::optional<DnsAnswer> get(const std::string& key, Clock::time_point now) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    auto entry = it->second;
    if (entry->expires <= now) {
      index_.erase(it);
      lru_.erase(entry);
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, entry);
    DnsAnswer a = entry->answer;
    a.from_cache = true;
    a.ttl = std::max(std::chrono::seconds(1),
                     std::chrono::ceil<std::chrono::seconds>(entry->expires - now));
    return a;
  }

  void put(const std::string& key, const DnsAnswer& answer, Clock::time_point now) {
    if (capacity_ == 0) return;
    const auto expires = now + answer.ttl;
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->answer = answer;
      it->second->expires = expires;
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    lru_.push_front(Entry{key, answer, expires});
    index_.emplace(lru_.front().key, lru_.begin());
    if (lru_.size() > capacity_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }

  std::size_t size() const { return lru_.size(); }

 private:
  struct Entry {
    std::string key;
    DnsAnswer answer;
    Clock::time_point expires;
  };
  std::size_t capacity_;
  std::list<Entry> lru_;  // most recently used first
  // Keys are views of Entry::key: list nodes never move.
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

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
  bool finished = false;
};

class Engine {
 public:
  Engine(std::chrono::milliseconds budget, std::size_t cache_entries)
      : budget_(budget), cache_(cache_entries) {}
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
  Cache cache_;

  // Resolver thread only.
  std::unordered_map<std::string, Lookup*> inflight_;
  std::multimap<Clock::time_point, Lookup*> deadlines_;
  std::unordered_map<ares_socket_t, short> sockets_;  // poll events c-ares wants

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
  std::vector<Server> servers;
  for (const std::string& s : options.servers) {
    auto server = parse_server(s);
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
    const auto now = Clock::now();
    for (const Request& r : requests) {
      if (r.name.empty()) return false;
      auto hit = cache_.get(cache_key(r.type, r.name), now);
      if (!hit) return false;
      answers.push_back(std::move(*hit));
    }
  }
  cache_hits_.fetch_add(requests.size());
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
  l->engine->finish(*l, interpret(status, abuf, alen, l->type, l->name));
}

void Engine::start(Request r) {
  if (r.name.empty()) {
    DnsAnswer a;
    a.status = DnsStatus::kNone;
    a.error = "invalid name";
    r.done(a);
    return;
  }
  std::string key = cache_key(r.type, r.name);
  std::optional<DnsAnswer> hit;
  {
    std::lock_guard lock(cache_mu_);
    hit = cache_.get(key, Clock::now());
    cache_size_.store(cache_.size());  // an expired entry may have gone
  }
  if (hit) {
    cache_hits_.fetch_add(1);
    r.done(*hit);
    return;
  }
  if (auto it = inflight_.find(key); it != inflight_.end()) {
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
  inflight_.emplace(l->key, l);
  queries_.fetch_add(1);
  // May call on_reply before it returns (a query that cannot be built).
  ares_query(channel_, l->name.c_str(), kClassIn, l->type, &Engine::on_reply, l);
}

void Engine::finish(Lookup& l, const DnsAnswer& answer) {
  l.finished = true;
  deadlines_.erase(l.deadline);
  inflight_.erase(l.key);
  if (answer.status == DnsStatus::kTempError && answer.error == "timeout") timeouts_.fetch_add(1);
  if (answer.status != DnsStatus::kTempError) {
    std::lock_guard lock(cache_mu_);
    cache_.put(l.key, answer, Clock::now());
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
    std::chrono::seconds ttl{kMaxTtl};
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
    r[0] = Request{kTypePtr, reverse_name(address), std::move(done), Clock::now()};
    engine_->submit(std::move(r));
  }

  void addresses(std::string_view name, Callback done) override {
    const auto asked = Clock::now();
    auto qname = query_name(name);
    if (!qname) {
      std::vector<Request> r(1);
      r[0] = Request{kTypeA, "", std::move(done), asked};
      engine_->submit(std::move(r));
      return;
    }
    auto merge = std::make_shared<Merge>(std::move(done));
    std::vector<Request> r(2);
    r[0] = Request{kTypeA, *qname, [merge](const DnsAnswer& a) { merge->add(0, a); }, asked};
    r[1] = Request{kTypeAaaa, std::move(*qname), [merge](const DnsAnswer& a) { merge->add(1, a); },
                   asked};
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
  auto engine = std::make_shared<Engine>(budget, options.cache_entries);
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
