#include "tools/probe/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/dns/dns_resolver.h"
#include "common/util/net.h"
#include "tools/name_check.h"
#include "tools/probe/probe_findings.h"
#include "tools/probe/probe_output.h"
#include "tools/probe/smtp_reply.h"
#include "tools/x509_summary.h"

namespace esmtp::probe {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "no details from OpenSSL";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

// One SMTP client connection with a deadline on every operation. Plain
// sockets and poll(): a probe makes one connection, so no event library is
// needed; OpenSSL runs over the same non-blocking socket after STARTTLS.
class Connection {
 public:
  ~Connection() {
    ssl_.reset();
    if (fd_ >= 0) close(fd_);
  }

  // "" on success, else why not.
  std::string connect_to(const IpAddress& a, int port, Clock::time_point deadline) {
    sockaddr_storage ss{};
    socklen_t len;
    if (a.v6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(static_cast<std::uint16_t>(port));
      std::memcpy(&s6->sin6_addr, a.bytes.data(), 16);
      len = sizeof(sockaddr_in6);
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(static_cast<std::uint16_t>(port));
      std::memcpy(&s4->sin_addr, a.bytes.data(), 4);
      len = sizeof(sockaddr_in);
    }
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::strerror(errno);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0) return "";
    if (errno != EINPROGRESS) return std::strerror(errno);
    pollfd p{fd_, POLLOUT, 0};
    int n = poll(&p, 1, ms_left(deadline));
    if (n == 0) return "timeout";
    if (n < 0) return std::strerror(errno);
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &el);
    return err == 0 ? "" : std::strerror(err);
  }

  std::string local_address_literal() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
      return std::string("[IPv6:") + buf + "]";
    }
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    return std::string("[") + buf + "]";
  }

  // Reads one reply into `reader`; "" when complete, else the error.
  std::string read_reply(ReplyReader& reader, Clock::time_point deadline) {
    reader.reset();
    if (!pending_.empty()) {
      std::string p = std::move(pending_);
      pending_.clear();
      reader.feed(p);
    }
    char buf[4096];
    while (reader.state() == ReplyReader::State::kNeedMore) {
      std::string err;
      long n = read_some(buf, sizeof buf, deadline, &err);
      if (n <= 0) return err;
      reader.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
    if (reader.state() == ReplyReader::State::kError) return reader.error();
    pending_ = reader.take_rest();
    return "";
  }

  std::string send_line(std::string_view line, Clock::time_point deadline) {
    std::string data = std::string(line) + "\r\n";
    std::size_t off = 0;
    while (off < data.size()) {
      if (ssl_) {
        ERR_clear_error();
        int n = SSL_write(ssl_.get(), data.data() + off, static_cast<int>(data.size() - off));
        if (n > 0) {
          off += static_cast<std::size_t>(n);
          continue;
        }
        int e = SSL_get_error(ssl_.get(), n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return "TLS write failed";
        if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return "timeout";
        continue;
      }
      ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLOUT, deadline)) return "timeout";
        continue;
      }
      return n < 0 ? std::string(std::strerror(errno)) : "connection closed";
    }
    return "";
  }

  bool has_pending() const { return !pending_.empty(); }

  // Waits until the deadline for the peer to close or reset the connection:
  // "reset", "closed", or "" when it stayed open (data that arrives is read
  // and dropped: a server says nothing in the middle of DATA).
  std::string wait_for_close(Clock::time_point deadline) {
    char buf[1024];
    for (;;) {
      std::string err;
      long n = read_some(buf, sizeof buf, deadline, &err);
      if (n > 0) continue;
      if (err == "timeout") return "";
      return err == "connection reset" || err == "connection closed" ? err : "reset: " + err;
    }
  }

  // TLS client handshake; "" on success.
  std::string start_tls(SSL_CTX* ctx, const std::string& sni, Clock::time_point deadline) {
    ssl_.reset(SSL_new(ctx));
    if (!ssl_) return openssl_error();
    SSL_set_fd(ssl_.get(), fd_);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
    for (;;) {
      ERR_clear_error();
      int n = SSL_connect(ssl_.get());
      if (n == 1) return "";
      int e = SSL_get_error(ssl_.get(), n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return "timeout";
        continue;
      }
      std::string why = e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN
                            ? "connection closed during the handshake"
                            : openssl_error();
      ssl_.reset();
      return why;
    }
  }

  SSL* ssl() const { return ssl_.get(); }

 private:
  bool wait(short events, Clock::time_point deadline) {
    for (;;) {
      pollfd p{fd_, events, 0};
      int n = poll(&p, 1, ms_left(deadline));
      if (n > 0) return true;
      if (n == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  long read_some(char* buf, std::size_t size, Clock::time_point deadline, std::string* err) {
    for (;;) {
      if (ssl_) {
        ERR_clear_error();
        int n = SSL_read(ssl_.get(), buf, static_cast<int>(size));
        if (n > 0) return n;
        int e = SSL_get_error(ssl_.get(), n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
            *err = "timeout";
            return -1;
          }
          continue;
        }
        *err = e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? "connection closed"
                                                                    : openssl_error();
        return -1;
      }
      ssize_t n = recv(fd_, buf, size, 0);
      if (n > 0) return n;
      if (n == 0) {
        *err = "connection closed";
        return -1;
      }
      if (errno == EAGAIN || errno == EINTR) {
        if (!wait(POLLIN, deadline)) {
          *err = "timeout";
          return -1;
        }
        continue;
      }
      *err = errno == ECONNRESET ? "connection reset" : std::strerror(errno);
      return -1;
    }
  }

  int fd_ = -1;
  std::unique_ptr<SSL, SslFree> ssl_;
  std::string pending_;
};

TlsInfo tls_info(SSL* ssl, const std::string& banner_name) {
  TlsInfo t;
  t.protocol = SSL_get_version(ssl);
  t.cipher = SSL_get_cipher_name(ssl);
  t.verify = X509_verify_cert_error_string(SSL_get_verify_result(ssl));
  std::unique_ptr<X509, X509Free> cert(SSL_get1_peer_certificate(ssl));
  if (!cert) {
    t.verify = "no certificate";
    return t;
  }
  // The server's certificate is untrusted input: printable() on every string.
  const X509Summary s = summarize_x509(cert.get());
  t.subject = printable(s.subject, 300);
  t.issuer = printable(s.issuer, 300);
  for (const auto& n : s.names) t.dns_names.push_back(printable(n, 253));
  t.not_after = s.not_after;
  // Whole days, rounded down (-1 on the day after expiry).
  t.days_left = static_cast<long>(s.seconds_left >= 0 ? s.seconds_left / 86400
                                                      : (s.seconds_left - 86399) / 86400);
  t.self_signed = s.self_signed;
  if (!banner_name.empty()) t.matches_banner_name = x509_covers(cert.get(), banner_name);
  return t;
}

void extensions_from(ProbeResult& r) {
  bool starttls = false, masked = false;
  for (const auto& e : r.extensions) {
    if (e.keyword == "STARTTLS") starttls = true;
    if (auto hidden = masked_keyword(e.keyword)) {
      r.masked_extensions.push_back(e.keyword);
      if (*hidden == "STARTTLS") masked = true;
    }
  }
  r.starttls = starttls ? Starttls::kOffered : masked ? Starttls::kMasked : Starttls::kAbsent;
}

std::string default_ehlo_name(const Connection& c) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && std::strchr(host, '.') &&
      host[std::strlen(host) - 1] != '.')
    return host;
  std::string literal = c.local_address_literal();
  return literal.empty() ? "[127.0.0.1]" : literal;
}

// A second connection that starts a message and sends one header line of
// kLongLine octets, then abandons the message (it never sends the final
// dot, so nothing is delivered): does something on the path drop the
// connection, as an inspecting firewall with a header line limit does?
void long_line_test(ProbeResult& r, const ProbeOptions& o) {
  const auto step = std::chrono::milliseconds(static_cast<long>(o.timeout * 1000));
  LongLineTest& t = r.long_line.emplace();
  t.octets = kLongLine;
  Connection c;
  ReplyReader reader;
  std::string err = c.connect_to(*r.address, r.port, Clock::now() + step);
  if (err.empty()) err = c.read_reply(reader, Clock::now() + step);
  auto command = [&](const std::string& line, int expect) -> bool {
    if (!err.empty()) return false;
    err = c.send_line(line, Clock::now() + step);
    if (err.empty()) err = c.read_reply(reader, Clock::now() + step);
    if (err.empty() && reader.reply().code != expect)
      err = line.substr(0, line.find(' ')) + " refused: " + printable(reader.reply().first_line());
    return err.empty();
  };
  if (!(command("EHLO " + r.ehlo_name, 250) && command("MAIL FROM:<>", 250) &&
        command("RCPT TO:<" + o.long_line_rcpt + ">", 250) && command("DATA", 354))) {
    t.outcome = "untested";
    t.detail = err;
    return;
  }
  std::string header = "X-Esmtp-Inspect-Probe: ";
  header.append(kLongLine - header.size(), 'a');
  err = c.send_line(header, Clock::now() + step);
  if (!err.empty()) {
    t.outcome = "reset";
    t.detail = err;
    return;
  }
  std::string closed =
      c.wait_for_close(Clock::now() + std::min<Clock::duration>(step, std::chrono::seconds(2)));
  t.outcome = closed.empty() ? "passed" : "reset";
  t.detail = closed;
}

// The SMTP part: banner, EHLO, STARTTLS, TLS, EHLO, QUIT.
void smtp_session(ProbeResult& r, const ProbeOptions& o) {
  const auto step = std::chrono::milliseconds(static_cast<long>(o.timeout * 1000));
  Connection c;
  auto t0 = Clock::now();
  std::string err = c.connect_to(*r.address, r.port, t0 + step);
  r.connect_ms = ms_since(t0);
  if (!err.empty()) {
    r.connect_error = err;
    return;
  }
  r.connected = true;
  auto t1 = Clock::now();
  ReplyReader reader;
  err = c.read_reply(reader, t1 + step);
  r.banner_ms = ms_since(t1);
  if (!err.empty()) {
    r.banner_error = err;
    if (!reader.partial().empty())
      r.banner_error += " (after \"" + printable(reader.partial(), 80) + "\")";
    return;
  }
  r.banner_received = true;
  r.banner = reader.reply();
  r.banner_name = banner_hostname(r.banner);
  r.banner_masked = !r.banner.lines.empty() && is_masked_text(r.banner.lines.front());
  if (r.banner.code != 220) return;

  r.ehlo_name = o.ehlo.empty() ? default_ehlo_name(c) : o.ehlo;
  auto ehlo = [&](std::vector<EhloExtension>* exts, SmtpReply* reply) -> std::string {
    std::string e = c.send_line("EHLO " + r.ehlo_name, Clock::now() + step);
    if (e.empty()) e = c.read_reply(reader, Clock::now() + step);
    if (!e.empty()) return e;
    if (reply) *reply = reader.reply();
    if (reader.reply().code == 250) *exts = parse_ehlo(reader.reply());
    return "";
  };
  err = ehlo(&r.extensions, &r.ehlo);
  if (!err.empty()) {
    r.ehlo_error = err;
    return;
  }
  r.ehlo_done = true;
  if (r.ehlo.code != 250) return;
  r.ehlo_greeting_name = banner_hostname(r.ehlo);
  extensions_from(r);

  if (r.starttls == Starttls::kOffered && !o.no_tls) {
    r.tls_attempted = true;
    err = c.send_line("STARTTLS", Clock::now() + step);
    if (err.empty()) err = c.read_reply(reader, Clock::now() + step);
    if (!err.empty()) {
      r.tls_error = "STARTTLS: " + err;
      return;
    }
    if (reader.reply().code != 220) {
      r.tls_error = "STARTTLS refused: " + printable(reader.reply().first_line());
      return;
    }
    if (c.has_pending()) {
      // Plaintext after the 220 would be taken as TLS data (CVE-2011-0411 style).
      r.tls_error = "the server sent data after its 220 reply to STARTTLS";
      return;
    }
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
      r.tls_error = openssl_error();
      return;
    }
    // Verification is reported, not enforced: a self-signed certificate is
    // a finding, not a reason to stop.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_default_verify_paths(ctx.get());
    err = c.start_tls(ctx.get(), r.banner_name, Clock::now() + step);
    if (!err.empty()) {
      r.tls_error = err;
      return;
    }
    r.tls = tls_info(c.ssl(), r.banner_name);
    SmtpReply again;
    if (ehlo(&r.tls_extensions, &again).empty() && again.code != 250) r.tls_extensions.clear();
  }
  if (c.send_line("QUIT", Clock::now() + step).empty())
    (void)c.read_reply(reader,
                       Clock::now() + std::min<Clock::duration>(step, std::chrono::seconds(2)));
}

}  // namespace

bool split_target(const std::string& target, std::string* host, int* port) {
  *port = 0;
  auto hp = split_host_port(target);
  if (!hp || hp->host.empty() || hp->host.size() > 253) return false;
  if (!hp->port.empty()) {
    auto p = parse_port(hp->port);
    if (!p) return false;
    *port = *p;
  }
  *host = std::string(hp->host);
  return true;
}

CLI::App* add_probe_command(CLI::App& app, ProbeOptions& o) {
  auto* p = app.add_subcommand(
      "probe",
      "Connect to an SMTP server as an outside client and report banner, EHLO, STARTTLS, TLS "
      "and reverse DNS, with findings (exit 0 fine, 1 warnings, 2 problems, 3 could not probe)");
  p->add_option("TARGET", o.target, "HOST, HOST:PORT, [IPv6]:PORT")->required();
  p->add_option("--port", o.port, "port when TARGET has none (default 25)")
      ->check(CLI::Range(1, 65535));
  p->add_option("--dns", o.dns, "DNS server IP[:PORT] (repeatable; default /etc/resolv.conf)");
  p->add_option("--ehlo", o.ehlo,
                "EHLO name to send (default: this host's name if qualified, else [address])");
  p->add_option("--timeout", o.timeout, "seconds for each step (connect, banner, reply, TLS)")
      ->check(CLI::Range(0.1, 600.0));
  p->add_option("--slow-banner", o.slow_banner, "seconds after which a banner is slow (default 3)")
      ->check(CLI::Range(0.0, 600.0));
  p->add_flag("--no-tls", o.no_tls, "do not try STARTTLS");
  p->add_flag("--sends-mail", o.sends_mail,
              "this host also sends mail with its banner name as HELO: rate reverse-DNS "
              "mismatches as warnings");
  p->add_option("--long-line-test", o.long_line_rcpt,
                "RCPT: on a second connection start a message to RCPT, send one header line of "
                "1100 octets and abandon the message (nothing is delivered): reports a path "
                "that drops the connection");
  p->add_flag("--json", o.json, "print one JSON object");
  return p;
}

int run_probe(const ProbeOptions& o) {
  std::signal(SIGPIPE, SIG_IGN);
  ProbeResult r;
  r.target = o.target;
  int port = 0;
  if (!split_target(o.target, &r.host, &port)) {
    std::cerr << "esmtp-inspect: probe: bad target \"" << printable(o.target, 100)
              << "\" (HOST, HOST:PORT or [IPv6]:PORT)\n";
    return kExitCannotProbe;
  }
  if (port != 0 && o.port != 0 && port != o.port) {
    std::cerr << "esmtp-inspect: probe: the target's port " << port << " and --port " << o.port
              << " disagree\n";
    return kExitCannotProbe;
  }
  r.port = port != 0 ? port : o.port != 0 ? o.port : 25;
  // These go into SMTP command lines: no spaces or control characters.
  auto one_word = [](const std::string& v) {
    return std::none_of(v.begin(), v.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
  };
  if (!one_word(o.ehlo) || !one_word(o.long_line_rcpt) || o.ehlo.size() > 255 ||
      o.long_line_rcpt.size() > 254) {
    std::cerr << "esmtp-inspect: probe: --ehlo and --long-line-test take one word without "
                 "spaces or control characters\n";
    return kExitCannotProbe;
  }

  DnsOptions dopt;
  dopt.servers = o.dns;
  dopt.timeout = std::chrono::milliseconds(static_cast<long>(std::min(o.timeout, 2.0) * 1000));
  dopt.tries = 2;
  std::string error;
  auto resolver = DnsResolver::create(dopt, &error);
  if (!resolver) {
    std::cerr << "esmtp-inspect: probe: DNS: " << error << "\n";
    return kExitCannotProbe;
  }

  r.address = IpAddress::parse(r.host);
  if (!r.address) {
    DnsAnswer a = addresses_wait(*resolver, r.host, Clock::now() + resolver->budget());
    if (a.status == DnsStatus::kOk && !a.addresses.empty())
      r.address = a.addresses.front();
    else
      r.resolve_error = a.status == DnsStatus::kNone ? "no A/AAAA record" : a.error;
  }
  if (r.address) smtp_session(r, o);
  if (r.connected && r.banner_received && r.banner.code == 220 && !o.long_line_rcpt.empty())
    long_line_test(r, o);
  // Reverse DNS of the address, and the banner name both ways (a masked or
  // missing name still gets the PTR: that is what outside checks compare).
  if (r.connected) {
    std::string name = r.banner_masked ? std::string() : r.banner_name;
    r.names =
        check_name_address(*resolver, name, *r.address, Clock::now() + 2 * resolver->budget());
  }

  AnalyzeOptions ao;
  ao.slow_banner_ms = o.slow_banner * 1000;
  ao.sends_mail = o.sends_mail;
  ao.no_tls = o.no_tls;
  auto findings = analyze(r, ao);
  int code = exit_code(r, findings);
  if (o.json)
    print_json(r, findings, code);
  else
    print_text(r, findings, code);
  return code;
}

}  // namespace esmtp::probe
