#include "policy/policy_server.h"

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "policy/policy_handler.h"

namespace esmtp {

namespace asio = boost::asio;
using boost::system::error_code;

// Each connection reads into a buffer of this size. While a request is
// being answered nothing more is read: pipelined requests wait in the kernel's
// socket buffer, so a connection holds at most one request (kMaxRequest)
// and this buffer, whatever the client sends.
constexpr std::size_t kReadBuffer = 4096;

// A request at least this large leaves freed heap memory behind; the server
// then gives free pages back to the kernel (malloc_trim(3)) soon after.
constexpr std::size_t kLargeRequest = 64 * 1024;

struct PolicyServer::Listener {
  std::string spec;
  std::optional<SocketFile> file;  // unix: removed when the server stops
  std::optional<asio::local::stream_protocol::acceptor> local;
  std::optional<asio::ip::tcp::acceptor> tcp;
};

class PolicyServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `address`: the client's address for policy.max_connections_per_client,
  // empty for a unix socket or stdin (not counted).
  Connection(PolicyServer& server, int in_fd, int out_fd, std::string peer, std::string address)
      : server_(server),
        in_(server.io_, in_fd),
        out_(server.io_, out_fd),
        deadline_(server.io_),
        dns_timer_(server.io_),
        peer_(std::move(peer)),
        address_(std::move(address)),
        handler_([&rt = server.runtime_] { return rt.current(); }, server.runtime_.metrics()) {}

  void start() {
    guarded([&] { wait_for_request(); });
  }

  void close(std::string_view why = {}) {
    if (closed_) return;
    closed_ = true;
    try {
      if (!why.empty())
        server_.runtime_.logger()->warning("connection from {}: {}; closed", peer_, why);
    } catch (const std::exception&) {
      // Out of memory for the line: the connection is closed all the same.
    }
    // The SMTP session in flight ends with the connection: the lines it
    // still holds (no queue ID came) are written now, as NOQUEUE.
    try {
      handler_.end();
    } catch (const std::exception&) {
      // Out of memory for a line: the connection is closed all the same.
    }
    error_code ignored;
    deadline_.cancel();
    dns_timer_.cancel();
    if (lookup_) lookup_->finish();
    in_.close(ignored);
    out_.close(ignored);
    if (request_bytes_ >= kLargeRequest) server_.trim_soon();
    request_.reset();
    server_.connection_closed(address_);
  }

  // The server stops: a connection waiting for a request closes now; one
  // answering a request closes once its answer is written (Postfix is
  // waiting for it).
  void drain() {
    draining_ = true;
    if (state_ == State::kReading) close();
  }

 private:
  // kReading: waiting for (the rest of) a request, limited by
  // policy.idle_timeout. kResolving: DNS for the request, limited by the
  // resolver's budget. kWriting: the answer is being written, limited by
  // policy.idle_timeout again (the write deadline: a client that does not
  // read its answers is stalled, not busy).
  enum class State { kReading, kResolving, kWriting };

  // Every handler runs through here: whatever it throws ends this
  // connection only, with a log line, never the daemon.
  template <class F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      close_after_exception(e.what());
    } catch (...) {
      close_after_exception("unknown exception");
    }
  }

  void close_after_exception(const char* what) noexcept {
    try {
      close(std::string("internal error (") + what + ")");
    } catch (...) {
      close();  // no memory for the reason
    }
  }

  void arm_deadline() {
    const std::uint64_t seq = ++deadline_seq_;
    deadline_.expires_after(server_.runtime_.current().first->policy.idle_timeout);
    deadline_.async_wait([self = shared_from_this(), seq](error_code ec) {
      if (ec || self->closed_ || seq != self->deadline_seq_) return;
      self->guarded([&] { self->deadline_passed(); });
    });
  }

  void disarm_deadline() {
    ++deadline_seq_;
    deadline_.cancel();
  }

  void deadline_passed() {
    if (state_ == State::kReading) return close();  // idle, as Postfix expects
    if (state_ == State::kWriting)
      close(fmt::format("answer not read for {}s (policy.idle_timeout)",
                        std::chrono::duration_cast<std::chrono::seconds>(
                            server_.runtime_.current().first->policy.idle_timeout)
                            .count()));
  }

  void wait_for_request() {
    state_ = State::kReading;
    arm_deadline();
    parse_buffered();
  }

  // Parses what was read and not yet parsed; reads more when that is not a
  // whole request.
  void parse_buffered() {
    while (pending_ < filled_) {
      std::string_view data(buf_.data() + pending_, filled_ - pending_);
      const std::size_t before = data.size();
      const PolicyParser::Status status = parser_.feed(data);
      pending_ += before - data.size();
      request_bytes_ += before - data.size();
      switch (status) {
        case PolicyParser::Status::kRequest:
          request_.emplace(parser_.take());
          return answer();
        case PolicyParser::Status::kError:
          ++server_.stats_.malformed;
          return close("malformed request (" + parser_.error() + ")");
        case PolicyParser::Status::kNeedMore:
          break;
      }
    }
    read();
  }

  void read() {
    if (closed_) return;
    in_.async_read_some(asio::buffer(buf_),
                        [self = shared_from_this()](error_code ec, std::size_t n) {
                          self->guarded([&] { self->on_read(ec, n); });
                        });
  }

  void on_read(error_code ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      // EOF is how Postfix ends a connection; anything else is worth a line.
      close(ec == asio::error::eof ? std::string_view() : std::string_view(ec.message()));
      return;
    }
    pending_ = 0;
    filled_ = n;
    parse_buffered();
  }

  void answer() {
    state_ = State::kResolving;
    disarm_deadline();
    ++server_.stats_.requests;
    std::optional<CounterQuery> query = handler_.counter_due(*request_);
    if (!query) return resolve();
    std::shared_ptr<Counters> counters = server_.runtime_.counters();
    if (counters->config().type == StoreType::kLocal) {
      // In memory: a lock and a hash lookup, no reason to leave the thread.
      handler_.supply_count(query->rule, counters->add(query->name, query->window, query->add));
      return resolve();
    }
    // The store on the store threads (it may wait store.timeout); the answer
    // comes back here.
    asio::post(
        server_.store_threads(), [self = shared_from_this(), counters, q = std::move(*query)] {
          std::optional<std::uint64_t> n = counters->add(q.name, q.window, q.add);
          asio::post(self->server_.io_,
                     [self, rule = q.rule, n] { self->guarded([&] { self->counted(rule, n); }); });
        });
  }

  void counted(RuleId rule, std::optional<std::uint64_t> count) {
    if (closed_) return;
    handler_.supply_count(rule, count);
    resolve();
  }

  void resolve() {
    std::optional<IdentityInput> input = handler_.prepare(*request_);
    if (!input) return respond(handler_.finish(*request_, nullptr));
    // DNS on the resolver's thread; the answer comes back here. The session
    // never waits longer than the resolver's budget.
    auto self = shared_from_this();
    // Lookups in flight keep their resolver alive across a reload.
    std::shared_ptr<DnsResolver> resolver = server_.runtime_.resolver();
    dns_timer_.expires_after(resolver->budget());
    lookup_ = IdentityLookup::start(
        *resolver, std::move(*input), [self, resolver](const IdentityReport& report) {
          asio::post(self->server_.io_,
                     [self, report] { self->guarded([&] { self->identity_done(report); }); });
        });
    dns_timer_.async_wait([lookup = lookup_](error_code ec) {
      if (!ec) lookup->finish();
    });
  }

  void identity_done(const IdentityReport& report) {
    if (closed_) return;
    dns_timer_.cancel();
    lookup_.reset();
    respond(handler_.finish(*request_, &report));
  }

  void respond(const std::string& action) {
    if (!request_->get("server_address").empty()) {
      auto config = server_.runtime_.current().first;
      if (!config->self.names.empty() && self_banner_on(*config))
        server_.self_banner(config->self.names.front(),
                            std::string(request_->get("server_address")));
    }
    state_ = State::kWriting;
    arm_deadline();
    out_buf_ = policy_reply(action);
    asio::async_write(out_, asio::buffer(out_buf_),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        self->guarded([&] { self->written(ec); });
                      });
  }

  void written(error_code ec) {
    if (closed_) return;
    if (ec) return close(ec.message());
    request_.reset();
    if (request_bytes_ >= kLargeRequest) server_.trim_soon();
    request_bytes_ = 0;
    if (draining_) return close();
    wait_for_request();
  }

  PolicyServer& server_;
  asio::posix::stream_descriptor in_;
  asio::posix::stream_descriptor out_;
  asio::steady_timer deadline_;
  asio::steady_timer dns_timer_;
  std::string peer_;
  std::string address_;
  PolicyHandler handler_;
  PolicyParser parser_;
  std::optional<PolicyRequest> request_;  // the one being answered
  std::size_t request_bytes_ = 0;         // octets parsed since the last answer
  std::shared_ptr<IdentityLookup> lookup_;
  std::array<char, kReadBuffer> buf_;
  std::size_t pending_ = 0;  // buf_[pending_, filled_) is read, not yet parsed
  std::size_t filled_ = 0;
  std::string out_buf_;
  std::uint64_t deadline_seq_ = 0;
  State state_ = State::kReading;
  bool closed_ = false;
  bool draining_ = false;
};

PolicyServer::PolicyServer(asio::io_context& io, Runtime& runtime)
    : io_(io), runtime_(runtime), stop_timer_(io), trim_timer_(io) {}

PolicyServer::~PolicyServer() = default;

boost::asio::thread_pool& PolicyServer::store_threads() {
  if (!store_threads_) store_threads_ = std::make_unique<boost::asio::thread_pool>(2);
  return *store_threads_;
}

void PolicyServer::adopt(std::vector<Listening> listening) {
  for (auto& in : listening) {
    auto l = std::make_unique<Listener>();
    l->spec = in.spec;
    l->file = std::move(in.file);
    if (in.local) {
      l->local.emplace(io_, asio::local::stream_protocol(), in.fd);
    } else {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(in.fd, reinterpret_cast<sockaddr*>(&ss), &len);
      l->tcp.emplace(io_, ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(),
                     in.fd);
    }
    listeners_.push_back(std::move(l));
  }
}

void PolicyServer::start_accepting() {
  for (auto& l : listeners_) accept(*l);
}

void PolicyServer::accept(Listener& l) {
  auto on_socket = [this, &l](error_code ec, int fd, std::string peer, std::string address) {
    if (ec) {
      if (ec != asio::error::operation_aborted && !stopping_) {
        runtime_.logger()->warning("accept on {}: {}", l.spec, ec.message());
        accept(l);
      }
      return;
    }
    accept(l);  // the next one, whatever becomes of this one
    try {
      admit(fd, std::move(peer), std::move(address));
    } catch (const std::exception& e) {
      try {
        runtime_.logger()->warning("accept on {}: internal error ({})", l.spec, e.what());
      } catch (const std::exception&) {
        // No memory for the line either.
      }
    }
  };
  if (l.local) {
    auto sock = std::make_shared<asio::local::stream_protocol::socket>(io_);
    l.local->async_accept(*sock, [sock, on_socket](error_code ec) {
      on_socket(ec, ec ? -1 : sock->release(), "unix", "");
    });
  } else {
    auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
    l.tcp->async_accept(*sock, [sock, on_socket](error_code ec) {
      std::string peer, address;
      if (!ec) {
        error_code e2;
        auto ep = sock->remote_endpoint(e2);
        if (!e2) address = ep.address().to_string();
        peer = e2 ? "?" : address + ":" + std::to_string(ep.port());
      }
      on_socket(ec, ec ? -1 : sock->release(), std::move(peer), std::move(address));
    });
  }
}

void PolicyServer::admit(int fd, std::string peer, std::string address) {
  const auto config = runtime_.current().first;
  const PolicyConfig& policy = config->policy;
  std::string why;
  if (live_ >= policy.max_connections) {
    why = fmt::format("{} connections already (policy.max_connections)", live_);
  } else if (!address.empty()) {
    const auto it = per_address_.find(address);
    if (it != per_address_.end() && it->second >= policy.max_connections_per_client)
      why = fmt::format("{} connections from {} already (policy.max_connections_per_client)",
                        it->second, address);
  }
  if (stopping_ || !why.empty()) {
    ::close(fd);
    if (!stopping_) {
      ++stats_.refused;
      runtime_.logger()->warning("connection from {} refused: {}", peer, why);
    }
    return;
  }
  const int out = ::dup(fd);
  if (out < 0) {
    ::close(fd);
    runtime_.logger()->warning("connection from {}: dup: {}; closed", peer, std::strerror(errno));
    return;
  }
  // Out of memory: the descriptors are closed here, or by the connection
  // once it owns them (whatever throws below destroys it).
  auto* raw = new (std::nothrow) Connection(*this, fd, out, peer, address);
  if (!raw) {
    ::close(fd);
    ::close(out);
    throw std::bad_alloc();
  }
  std::shared_ptr<Connection> c(raw);
  connections_.push_back(c);
  if (!address.empty()) ++per_address_[address];
  ++live_;
  ++stats_.connections;
  c->start();
  if (connections_.size() > 2 * live_ + 64)
    std::erase_if(connections_, [](const auto& w) { return w.expired(); });
}

void PolicyServer::connection_closed(const std::string& address) {
  --live_;
  if (!address.empty()) {
    const auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  if (stopping_ && live_ == 0) stop_timer_.cancel();
}

void PolicyServer::trim_soon() {
  if (trim_pending_ || stopping_) return;
  trim_pending_ = true;
  trim_timer_.expires_after(std::chrono::seconds(1));
  trim_timer_.async_wait([this](error_code ec) {
    trim_pending_ = false;
    // Large requests are below glibc's mmap threshold and come from the
    // heap; once freed, pages between live chunks stay resident until
    // malloc_trim(3) gives them back.
    if (!ec) ::malloc_trim(0);
  });
}

void PolicyServer::serve_stdio() {
  ++live_;
  auto c =
      std::make_shared<Connection>(*this, ::dup(STDIN_FILENO), ::dup(STDOUT_FILENO), "stdin", "");
  connections_.push_back(c);
  c->start();
}

void PolicyServer::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  trim_timer_.cancel();
  for (auto& l : listeners_) {
    error_code ignored;
    if (l->local) l->local->close(ignored);
    if (l->tcp) l->tcp->close(ignored);
    if (l->file) l->file->remove();
  }
  for (auto& w : connections_)
    if (auto c = w.lock()) c->drain();
  if (live_ == 0) return;
  // Answers in flight are bounded by the DNS budget; whoever is still open
  // after `grace` is closed.
  stop_timer_.expires_after(grace);
  stop_timer_.async_wait([this](error_code ec) {
    if (ec) return;
    runtime_.logger()->warning("{} policy connection(s) still busy at shutdown; closed", live_);
    for (auto& w : connections_)
      if (auto c = w.lock()) c->close();
  });
}

void PolicyServer::self_banner(const std::string& name, const std::string& server_address) {
  // The warning is logged on the io_context's thread, not the resolver's.
  banner_.check(name, server_address, *runtime_.resolver(), runtime_.logger(),
                [this](std::function<void()> warn) { asio::post(io_, std::move(warn)); });
}

}  // namespace esmtp
