#include "common/store/redis_store.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "common/util/net.h"

namespace esmtp {

namespace {

struct ServerSpec {
  std::string text;   // as configured, for error messages
  std::string error;  // not empty: invalid, why
  bool unix_socket = false;
  std::string host;  // or the socket's path
  int port = 0;
};

using Clock = std::chrono::steady_clock;

struct ReplyFree {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

ServerSpec parse_server(std::string_view spec) {
  ServerSpec s;
  s.text = std::string(spec);
  auto fail = [&](std::string why) {
    s.error = std::move(why);
    return s;
  };
  if (spec.empty()) return fail("empty server");
  if (spec.find("://") != std::string_view::npos)
    return fail("expected HOST:PORT, [IPv6]:PORT or unix:/path, not a URL");
  if (spec.starts_with("unix:")) {
    const std::string_view path = spec.substr(5);
    if (path.empty() || path.front() != '/') return fail("a unix socket path must be absolute");
    if (path.size() >= sizeof(sockaddr_un::sun_path))
      return fail(
          fmt::format("unix socket path longer than {} bytes", sizeof(sockaddr_un::sun_path) - 1));
    if (path.find('\0') != std::string_view::npos) return fail("NUL in unix socket path");
    s.unix_socket = true;
    s.host = std::string(path);
    return s;
  }
  const auto hp = split_host_port(spec);
  if (!hp) return fail("expected HOST:PORT, [IPv6]:PORT or unix:/path");
  if (hp->port.empty()) {
    if (hp->bracketed) return fail("no port ([IPv6]:PORT)");
    return fail(std::count(spec.begin(), spec.end(), ':') > 1
                    ? "an IPv6 address needs brackets and a port: [ADDRESS]:PORT"
                    : "no port (HOST:PORT)");
  }
  const auto port = parse_port(hp->port);
  if (!port) return fail("invalid port \"" + std::string(hp->port) + "\"");
  if (hp->host.empty()) return fail("no host");
  const auto ip = IpAddress::parse(hp->host);
  if (hp->bracketed) {
    if (!ip || !ip->v6) return fail("not an IPv6 address in brackets");
  } else if (!ip) {
    // A host name: letters, digits, '-', '_', dots between labels.
    const std::string_view h = hp->host;
    const bool chars_ok = h.find_first_not_of(
                              "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == std::string_view::npos;
    if (!chars_ok || h.size() > 253 || h.front() == '.' || h.find("..") != std::string_view::npos)
      return fail("not an address or host name: \"" + std::string(h) + "\"");
  } else if (ip->v6) {
    return fail("an IPv6 address needs brackets: [ADDRESS]:PORT");
  }
  s.host = std::string(hp->host);
  s.port = *port;
  return s;
}

timeval to_timeval(Clock::duration d) {
  const auto us = std::max<std::int64_t>(
      1000, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return tv;
}

// hiredis' messages start with a capital ("Connection refused"); ours are
// read after "SERVER: ".
std::string lower_first(std::string s) {
  if (!s.empty() && s.front() >= 'A' && s.front() <= 'Z') s.front() = char(s.front() - 'A' + 'a');
  return s;
}

// What the server said in an error reply, printable and bounded.
std::string reply_text(const redisReply& r) {
  std::string out;
  const std::size_t n = std::min<std::size_t>(r.str ? r.len : 0, 200);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(r.str[i]);
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  return out;
}

std::string_view type_name(int type) {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "a string";
    case REDIS_REPLY_ARRAY:
      return "an array";
    case REDIS_REPLY_INTEGER:
      return "an integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "a status";
    case REDIS_REPLY_ERROR:
      return "an error";
  }
  return "an unknown reply";
}

// A command in RESP, as hiredis formats it.
bool append_command(std::string* out, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (n < 0 || !cmd) return false;
  out->append(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return true;
}

}  // namespace

struct RedisStore::Server : ServerSpec {
  explicit Server(ServerSpec s) : ServerSpec(std::move(s)) {}
};

// One connection: its hiredis context (a blocking socket that we only read
// when poll() says so, so that a whole call keeps to one deadline) and the
// server it goes to.
struct RedisStore::Connection {
  redisContext* ctx = nullptr;
  std::size_t server = 0;
  Clock::time_point deadline;
  std::size_t read_bytes = 0;  // in the current round trip

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (ctx) redisFree(ctx);
  }

  // Waits for `events` on the socket until the deadline: 1 ready, 0 timed
  // out, -1 poll failed (errno).
  int wait(short events) const {
    for (;;) {
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) return 0;
      // Rounded up, so that a wait never ends before the deadline.
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      pollfd p{ctx->fd, events, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(ms, 60000)));
      if (rc > 0) return 1;
      if (rc < 0 && errno != EINTR) return -1;
    }
  }

  // Nothing to read and no hang-up: an idle connection the server has not
  // closed (a closed one, or one with unsolicited bytes, is not reused).
  bool idle_and_open() const {
    pollfd p{ctx->fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  bool send_all(std::string_view data, std::string_view timeout_text, std::string* why) {
    while (!data.empty()) {
      const int w = wait(POLLOUT);
      if (w == 0) {
        *why = std::string(timeout_text);
        return false;
      }
      if (w < 0) {
        *why = std::string("poll: ") + std::strerror(errno);
        return false;
      }
      const ssize_t n = ::send(ctx->fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        *why = lower_first(std::strerror(errno));
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The next reply, reading as needed until the deadline. Error replies are
  // returned as replies; false means the connection is unusable (`why`).
  bool read_reply(Reply* out, std::string_view timeout_text, std::string* why) {
    for (;;) {
      void* r = nullptr;
      if (redisGetReplyFromReader(ctx, &r) != REDIS_OK) {
        *why = "unreadable reply: " + lower_first(ctx->errstr);
        return false;
      }
      if (r) {
        out->reset(static_cast<redisReply*>(r));
        return true;
      }
      const int w = wait(POLLIN);
      if (w == 0) {
        *why = std::string(timeout_text);
        return false;
      }
      if (w < 0) {
        *why = std::string("poll: ") + std::strerror(errno);
        return false;
      }
      // The socket is readable: one read(2), which does not block.
      const std::size_t before = ctx->reader ? ctx->reader->len : 0;
      if (redisBufferRead(ctx) != REDIS_OK) {
        *why = ctx->err == REDIS_ERR_EOF ? "connection closed by the server"
                                         : lower_first(ctx->errstr);
        return false;
      }
      const std::size_t after = ctx->reader ? ctx->reader->len : 0;
      read_bytes += after > before ? after - before : 0;
      if (read_bytes > kMaxReplyBytes) {
        *why = fmt::format("reply longer than {} bytes", kMaxReplyBytes);
        return false;
      }
    }
  }
};

bool valid_redis_server(std::string_view spec, std::string* why) {
  auto s = parse_server(spec);
  if (s.error.empty()) return true;
  if (why) *why = std::move(s.error);
  return false;
}

RedisStore::RedisStore(RedisOptions options) : options_(std::move(options)) {
  for (const std::string& s : options_.servers) servers_.emplace_back(parse_server(s));
  if (options_.timeout < std::chrono::milliseconds(1))
    options_.timeout = std::chrono::milliseconds(1);
}

RedisStore::~RedisStore() = default;

std::unique_ptr<RedisStore::Connection> RedisStore::connect(std::size_t index,
                                                            Clock::time_point deadline,
                                                            std::string* error) {
  const Server& server = servers_[index];
  if (!server.error.empty()) {
    *error = server.text + ": " + server.error;
    return nullptr;
  }
  const auto timeout_text = fmt::format("timed out after {} ms", options_.timeout.count());
  auto c = std::make_unique<Connection>();
  c->server = index;
  c->deadline = deadline;
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) {
    *error = server.text + ": not tried, " + timeout_text;
    return nullptr;
  }
  const timeval tv = to_timeval(left);
  c->ctx = server.unix_socket ? redisConnectUnixWithTimeout(server.host.c_str(), tv)
                              : redisConnectWithTimeout(server.host.c_str(), server.port, tv);
  if (!c->ctx) {
    *error = server.text + ": cannot allocate a connection";
    return nullptr;
  }
  if (c->ctx->err) {
    const bool timed_out = std::strcmp(c->ctx->errstr, std::strerror(ETIMEDOUT)) == 0 ||
                           std::strcmp(c->ctx->errstr, std::strerror(EINPROGRESS)) == 0;
    *error = server.text + ": " + (timed_out ? timeout_text : lower_first(c->ctx->errstr));
    return nullptr;
  }
  // A backstop only: every read and write waits in poll() for the deadline.
  redisSetTimeout(c->ctx, tv);

  std::string hello;
  std::size_t replies = 0;
  const std::string db = std::to_string(options_.database);
  if (!options_.password.empty()) {
    if (options_.username.empty())
      append_command(&hello, {"AUTH", options_.password});
    else
      append_command(&hello, {"AUTH", options_.username, options_.password});
    ++replies;
  }
  if (options_.database != 0) {
    append_command(&hello, {"SELECT", db});
    ++replies;
  }
  if (replies == 0) return c;
  std::string why;
  if (!c->send_all(hello, timeout_text, &why)) {
    *error = server.text + ": " + why;
    return nullptr;
  }
  // Both replies are read even when the first is an error, so that the
  // message is AUTH's (SELECT then fails with NOAUTH).
  std::string refused;
  for (std::size_t i = 0; i < replies; ++i) {
    Reply r;
    if (!c->read_reply(&r, timeout_text, &why)) {
      *error = server.text + ": " + why;
      return nullptr;
    }
    const bool auth = i == 0 && !options_.password.empty();
    if (r->type == REDIS_REPLY_ERROR) {
      if (refused.empty()) refused = (auth ? "AUTH: " : "SELECT " + db + ": ") + reply_text(*r);
    } else if (r->type != REDIS_REPLY_STATUS) {
      if (refused.empty())
        refused = fmt::format("{}: unexpected reply ({})", auth ? "AUTH" : "SELECT " + db,
                              type_name(r->type));
    }
  }
  if (!refused.empty()) {
    *error = server.text + ": " + refused;
    return nullptr;
  }
  return c;
}

std::unique_ptr<RedisStore::Connection> RedisStore::take(std::string* error) {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard lock(mu_);
      if (idle_.empty()) break;
      c = std::move(idle_.back());
      idle_.pop_back();
    }
    if (c->idle_and_open()) {
      c->deadline = Clock::now() + options_.timeout;
      return c;
    }
    // Closed by the server (restart, idle timeout): freed here, outside the lock.
  }
  // One deadline for the whole call: a server that does not answer uses up
  // what is left of it, one that refuses (down) leaves it to the next.
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  const std::size_t first = first_.load(std::memory_order_relaxed);
  std::string reasons;
  for (std::size_t k = 0; k < servers_.size(); ++k) {
    const std::size_t i = (first + k) % servers_.size();
    std::string why;
    if (auto c = connect(i, deadline, &why)) return c;
    skip_past(i);
    if (!reasons.empty()) reasons += "; ";
    reasons += why;
  }
  *error = servers_.empty() ? "no redis server configured" : reasons;
  return nullptr;
}

void RedisStore::skip_past(std::size_t server) {
  std::size_t expected = server;
  first_.compare_exchange_strong(expected, (server + 1) % std::max<std::size_t>(servers_.size(), 1),
                                 std::memory_order_relaxed);
}

void RedisStore::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < options_.max_idle) idle_.push_back(std::move(c));
  // else c is closed as the lock is released (a close(2), nothing to wait for).
}

void RedisStore::drop_idle(std::size_t server) {
  std::vector<std::unique_ptr<Connection>> dropped;
  {
    std::lock_guard lock(mu_);
    auto keep = std::stable_partition(idle_.begin(), idle_.end(),
                                      [&](const auto& c) { return c->server != server; });
    std::move(keep, idle_.end(), std::back_inserter(dropped));
    idle_.erase(keep, idle_.end());
  }
}

CountResult RedisStore::add(std::string_view name, std::chrono::seconds window, std::uint32_t add,
                            WallTime now) {
  std::string error;
  auto c = take(&error);
  if (!c) return CountResult::failed(std::move(error));
  const Server& server = servers_[c->server];

  const std::int64_t width = SlidingWindow::slot_seconds(window);
  const std::int64_t slot = SlidingWindow::slot_of(now, width);
  std::string base = options_.prefix;
  base.append(name);
  base += ':';
  base += std::to_string(width);
  base += ':';
  std::vector<std::string> keys;
  keys.reserve(SlidingWindow::kSlots);
  for (std::int64_t i = 0; i < SlidingWindow::kSlots; ++i)
    keys.push_back(base + std::to_string(slot - i));

  std::string request;
  if (add > 0) {
    const std::string by = std::to_string(add);
    const std::string ttl_ms = std::to_string((SlidingWindow::kSlots + 1) * width * 1000);
    append_command(&request, {"INCRBY", keys[0], by});
    append_command(&request, {"PEXPIRE", keys[0], ttl_ms});
  }
  std::vector<std::string_view> mget{"MGET"};
  for (const std::string& k : keys) mget.push_back(k);
  if (!append_command(&request, mget))
    return CountResult::failed(server.text + ": cannot format MGET");

  const auto timeout_text = fmt::format("timed out after {} ms", options_.timeout.count());
  auto connection_failed = [&](const std::string& why) {
    const std::size_t index = c->server;
    c.reset();  // freed, not pooled
    drop_idle(index);
    skip_past(index);
    return CountResult::failed(server.text + ": " + why);
  };
  c->read_bytes = 0;
  std::string why;
  if (!c->send_all(request, timeout_text, &why)) return connection_failed(why);

  // Every reply is read before judging any, so that the connection stays in
  // step with the server whatever they say.
  const std::size_t expected = add > 0 ? 3 : 1;
  std::vector<Reply> replies(expected);
  for (Reply& r : replies)
    if (!c->read_reply(&r, timeout_text, &why)) return connection_failed(why);

  auto failed = [&](const std::string& what) {
    c.reset();
    return CountResult::failed(server.text + ": " + what);
  };
  auto unexpected = [&](std::string_view command, const redisReply& r) {
    // A server that answers a command with the wrong type is not one to
    // keep talking to.
    const std::size_t index = c->server;
    c.reset();
    drop_idle(index);
    return CountResult::failed(
        fmt::format("{}: unexpected reply to {} ({})", server.text, command, type_name(r.type)));
  };
  for (const Reply& r : replies)
    if (r->type == REDIS_REPLY_ERROR) return failed(reply_text(*r));
  if (add > 0) {
    if (replies[0]->type != REDIS_REPLY_INTEGER) return unexpected("INCRBY", *replies[0]);
    if (replies[1]->type != REDIS_REPLY_INTEGER) return unexpected("PEXPIRE", *replies[1]);
  }
  const redisReply& values = *replies.back();
  if (values.type != REDIS_REPLY_ARRAY) return unexpected("MGET", values);
  if (values.elements != keys.size())
    return failed(fmt::format("unexpected reply to MGET ({} values for {} keys)", values.elements,
                              keys.size()));
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < values.elements; ++i) {
    const redisReply* v = values.element[i];
    if (!v) return unexpected("MGET", values);
    if (v->type == REDIS_REPLY_NIL) continue;
    std::uint64_t n = 0;
    const char* begin = v->str;
    const char* end = v->str ? v->str + v->len : nullptr;
    if (v->type != REDIS_REPLY_STRING || !begin || begin == end ||
        std::from_chars(begin, end, n).ptr != end)
      return failed(fmt::format("key {}{} holds {}, not a count", base,
                                slot - static_cast<std::int64_t>(i),
                                v->type == REDIS_REPLY_STRING ? "\"" + reply_text(*v) + "\""
                                                              : std::string(type_name(v->type))));
    total = n > std::numeric_limits<std::uint64_t>::max() - total
                ? std::numeric_limits<std::uint64_t>::max()
                : total + n;
  }
  give_back(std::move(c));
  return CountResult::of(total);
}

}  // namespace esmtp
