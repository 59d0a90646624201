#include "policy/policy_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <deque>

#include "policy/policy_handler.h"

namespace esmtp {

namespace asio = boost::asio;
using boost::system::error_code;

// Requests read ahead of the one being answered; past this the connection
// stops reading until the queue drains (Postfix sends one at a time anyway).
constexpr std::size_t kMaxQueued = 64;

struct PolicyServer::Listener {
  std::string spec;
  std::optional<SocketFile> file;  // unix: removed when the server stops
  std::optional<asio::local::stream_protocol::acceptor> local;
  std::optional<asio::ip::tcp::acceptor> tcp;
};

class PolicyServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(PolicyServer& server, int in_fd, int out_fd, std::string peer)
      : server_(server),
        in_(server.io_, in_fd),
        out_(server.io_, out_fd),
        idle_(server.io_),
        dns_timer_(server.io_),
        peer_(std::move(peer)),
        handler_([&rt = server.runtime_] { return rt.current(); }) {}

  void start() {
    arm_idle();
    read();
  }

  void close(std::string_view why = {}) {
    if (closed_) return;
    closed_ = true;
    if (!why.empty())
      server_.runtime_.logger()->warning("connection from {}: {}; closed", peer_, why);
    error_code ignored;
    idle_.cancel();
    dns_timer_.cancel();
    if (lookup_) lookup_->finish();
    in_.close(ignored);
    out_.close(ignored);
    --server_.live_;
    if (server_.stopping_ && server_.live_ == 0) server_.stop_timer_.cancel();
  }

  // The server stops: an idle connection closes now; one answering a
  // request closes once its answer is written (Postfix is waiting for it).
  void drain() {
    draining_ = true;
    if (!busy_) close();
  }

 private:
  void arm_idle() {
    auto config = server_.runtime_.current().first;
    idle_.expires_after(config->policy.idle_timeout);
    idle_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->closed_ && !self->busy_) self->close();
    });
  }

  void read() {
    if (closed_ || reading_ || queue_.size() >= kMaxQueued) return;
    reading_ = true;
    in_.async_read_some(asio::buffer(buf_),
                        [self = shared_from_this()](error_code ec, std::size_t n) {
                          self->reading_ = false;
                          self->on_read(ec, n);
                        });
  }

  void on_read(error_code ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      // EOF is how Postfix ends a connection; anything else is worth a line.
      close(ec == asio::error::eof ? std::string_view() : std::string_view(ec.message()));
      return;
    }
    std::string_view data(buf_.data(), n);
    while (!data.empty()) {
      switch (parser_.feed(data)) {
        case PolicyParser::Status::kRequest:
          queue_.push_back(parser_.take());
          break;
        case PolicyParser::Status::kError:
          ++server_.stats_.malformed;
          close("malformed request (" + parser_.error() + ")");
          return;
        case PolicyParser::Status::kNeedMore:
          break;
      }
    }
    process_next();
    read();
  }

  void process_next() {
    if (closed_ || busy_ || queue_.empty()) return;
    busy_ = true;
    arm_idle();
    ++server_.stats_.requests;
    const PolicyRequest& req = queue_.front();
    std::optional<IdentityInput> input = handler_.prepare(req);
    if (!input) {
      respond(handler_.finish(req, nullptr));
      return;
    }
    // DNS on the resolver's thread; the answer comes back here. The session
    // never waits longer than the resolver's budget.
    auto self = shared_from_this();
    // Lookups in flight keep their resolver alive across a reload.
    std::shared_ptr<DnsResolver> resolver = server_.runtime_.resolver();
    dns_timer_.expires_after(resolver->budget());
    lookup_ = IdentityLookup::start(
        *resolver, std::move(*input), [self, resolver](const IdentityReport& report) {
          asio::post(self->server_.io_, [self, report] { self->identity_done(report); });
        });
    dns_timer_.async_wait([lookup = lookup_](error_code ec) {
      if (!ec) lookup->finish();
    });
  }

  void identity_done(const IdentityReport& report) {
    if (closed_) return;
    dns_timer_.cancel();
    lookup_.reset();
    respond(handler_.finish(queue_.front(), &report));
  }

  void respond(const std::string& action) {
    const PolicyRequest& req = queue_.front();
    if (!req.get("server_address").empty()) {
      auto config = server_.runtime_.current().first;
      if (!config->self.names.empty())
        server_.self_banner(config->self.names.front(), std::string(req.get("server_address")));
    }
    out_buf_ = policy_reply(action);
    asio::async_write(out_, asio::buffer(out_buf_),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->close(ec.message());
                        self->queue_.pop_front();
                        self->busy_ = false;
                        if (self->draining_) return self->close();
                        self->process_next();
                        self->read();
                      });
  }

  PolicyServer& server_;
  asio::posix::stream_descriptor in_;
  asio::posix::stream_descriptor out_;
  asio::steady_timer idle_;
  asio::steady_timer dns_timer_;
  std::string peer_;
  PolicyHandler handler_;
  PolicyParser parser_;
  std::deque<PolicyRequest> queue_;
  std::shared_ptr<IdentityLookup> lookup_;
  std::array<char, 16384> buf_;
  std::string out_buf_;
  bool reading_ = false;
  bool busy_ = false;
  bool closed_ = false;
  bool draining_ = false;
};

PolicyServer::PolicyServer(asio::io_context& io, Runtime& runtime)
    : io_(io), runtime_(runtime), stop_timer_(io) {}

PolicyServer::~PolicyServer() = default;

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
  auto on_socket = [this, &l](error_code ec, int fd, std::string peer) {
    if (ec) {
      if (ec != asio::error::operation_aborted && !stopping_) {
        runtime_.logger()->warning("accept on {}: {}", l.spec, ec.message());
        accept(l);
      }
      return;
    }
    const std::uint32_t max = runtime_.current().first->policy.max_connections;
    if (stopping_ || live_ >= max) {
      ::close(fd);
      if (!stopping_) {
        ++stats_.refused;
        runtime_.logger()->warning(
            "connection from {} refused: {} connections already "
            "(policy.max_connections)",
            peer, live_);
      }
    } else {
      ++live_;
      ++stats_.connections;
      auto c = std::make_shared<Connection>(*this, fd, ::dup(fd), std::move(peer));
      connections_.push_back(c);
      c->start();
      if (connections_.size() > 2 * live_ + 64)
        std::erase_if(connections_, [](const auto& w) { return w.expired(); });
    }
    accept(l);
  };
  if (l.local) {
    auto sock = std::make_shared<asio::local::stream_protocol::socket>(io_);
    l.local->async_accept(*sock, [sock, on_socket](error_code ec) {
      on_socket(ec, ec ? -1 : sock->release(), "unix");
    });
  } else {
    auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
    l.tcp->async_accept(*sock, [sock, on_socket](error_code ec) {
      std::string peer;
      if (!ec) {
        error_code e2;
        auto ep = sock->remote_endpoint(e2);
        peer = e2 ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
      }
      on_socket(ec, ec ? -1 : sock->release(), peer);
    });
  }
}

void PolicyServer::serve_stdio() {
  ++live_;
  auto c = std::make_shared<Connection>(*this, ::dup(STDIN_FILENO), ::dup(STDOUT_FILENO), "stdin");
  connections_.push_back(c);
  c->start();
}

void PolicyServer::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
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
  auto address = IpAddress::parse(server_address);
  if (!address || !banner_monitor_.due(name, *address, std::chrono::steady_clock::now())) return;
  auto logger = runtime_.logger();
  runtime_.resolver()->addresses(name, [this, name, address, logger](const DnsAnswer& a) {
    asio::post(io_, [name, address, logger, a] {
      const CheckResult r = self_banner_result(a, *address);
      if (r == CheckResult::kPass) return;
      logger->warning(
          "self_banner: our banner name {} does not resolve to {}, the address we answer on "
          "(result={}{}): outside checks will report \"reverse DNS does not match SMTP "
          "banner\"; fix the name's A/AAAA record or identity.self.names",
          name, address->str(), to_string(r), a.error.empty() ? "" : ", " + a.error);
    });
  });
}

}  // namespace esmtp
