#include "milter/milter_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <utility>

#include "common/util/text.h"

namespace esmtp {
namespace {

constexpr std::string_view kTagHeader = "X-ESMTP-Inspect";

}  // namespace

std::string sockaddr_text(const sockaddr* addr) {
  if (!addr) return {};
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

MilterConnection::MilterConnection(std::shared_ptr<const Config> config,
                                   std::shared_ptr<Logger> logger, MilterFeatures features,
                                   std::shared_ptr<DnsResolver> resolver)
    : config_(config),
      logger_(std::move(logger)),
      features_(features),
      resolver_(std::move(resolver)),
      policy_tag_name_(config->tag_secret.empty()
                           ? std::string()
                           : std::string(kTagHeader) + "-" + config->tag_secret),
      session_(std::move(config), logger_.get(), FrontEnd::kMilter) {}

Verdict MilterConnection::identity(Event at) {
  if (!resolver_) return {};
  const auto input = session_.identity_due(at);
  if (!input) return {};
  return session_.identity(lookup_identity_wait(*resolver_, *input), to_string(at));
}

MilterStatus MilterConnection::reply(MtaContext& mta, const Verdict& v) {
  switch (v.action) {
    case Action::kReject:
    case Action::kTempfail:
    case Action::kDisconnect:
      // Postfix and Sendmail close the session after a 421 reply.
      mta.set_reply(v.reply);
      return v.action == Action::kReject ? MilterStatus::kReject : MilterStatus::kTempfail;
    case Action::kDiscard:
      return MilterStatus::kDiscard;
    default:
      return MilterStatus::kContinue;
  }
}

MilterStatus MilterConnection::hold(const Verdict& v) {
  switch (v.action) {
    case Action::kReject:
    case Action::kTempfail:
    case Action::kDisconnect:
    case Action::kDiscard:
      if (!held_) held_ = v;
      break;
    default:
      break;
  }
  return MilterStatus::kNoReply;
}

std::optional<MilterStatus> MilterConnection::release(MtaContext& mta, bool unanswered) {
  if (!held_) return std::nullopt;
  if (unanswered) return MilterStatus::kNoReply;  // keep it for the next stage
  Verdict v = std::move(*held_);
  held_.reset();
  return reply(mta, v);
}

void MilterConnection::take_queue_id(MtaContext& mta) {
  if (auto id = mta.macro("i")) session_.set_queue_id(*id);
}

MilterStatus MilterConnection::connect(MtaContext& mta, const char* hostname,
                                       const sockaddr* addr) {
  std::string ip = sockaddr_text(addr);
  if (ip.empty())
    if (auto a = mta.macro("{client_addr}")) ip = *a;
  std::string name = hostname ? hostname : "";
  // libmilter passes "[1.2.3.4]" when the client has no name: Postfix's "unknown".
  if (!name.empty() && name.front() == '[') name = "unknown";
  if (auto d = mta.macro("{daemon_name}")) session_.set_daemon(*d);
  return reply(mta, session_.connect(ip, 0, name));
}

MilterStatus MilterConnection::helo(MtaContext& mta, const char* name) {
  if (auto tls = mta.macro("{tls_version}")) session_.set_tls(*tls);
  Verdict v = session_.helo(name ? name : "");
  if (v.is_continue()) v = identity(Event::kHelo);
  return reply(mta, v);
}

MilterStatus MilterConnection::envfrom(MtaContext& mta, std::span<const char* const> argv) {
  if (argv.empty() || !argv[0]) return MilterStatus::kContinue;
  in_transaction_ = true;
  incoming_tags_ = 0;
  policy_tags_.clear();
  // A new transaction: the previous message's queue ID must not stick (the
  // MTA may send no `i` yet, and libmilter drops the abort after a message).
  session_.set_queue_id({});
  take_queue_id(mta);
  if (auto user = mta.macro("{auth_authen}")) session_.set_authenticated(*user);
  if (auto tls = mta.macro("{tls_version}")) session_.set_tls(*tls);
  std::string_view params[32];
  std::size_t n = 0;
  for (std::size_t i = 1; i < argv.size() && argv[i] && n < std::size(params); ++i)
    params[n++] = argv[i];
  Verdict v = session_.mail(argv[0], std::span(params, n));
  // Checks a HELO refusal put off, or a client that never said HELO.
  if (!session_.disconnected()) {
    Verdict checks = identity(Event::kMail);
    if (more_severe(checks, v)) v = std::move(checks);
  }
  return reply(mta, v);
}

MilterStatus MilterConnection::envrcpt(MtaContext& mta, std::span<const char* const> argv) {
  if (argv.empty() || !argv[0]) return MilterStatus::kContinue;
  take_queue_id(mta);
  const auto mailer = mta.macro("{rcpt_mailer}");
  const bool rejected = features_.rejected_rcpts && mailer && *mailer == "error";
  std::string_view params[32];
  std::size_t n = 0;
  for (std::size_t i = 1; i < argv.size() && argv[i] && n < std::size(params); ++i)
    params[n++] = argv[i];
  return reply(mta, session_.rcpt(argv[0], std::span(params, n), rejected));
}

MilterStatus MilterConnection::data(MtaContext& mta) {
  take_queue_id(mta);
  // After a verdict that ended the session (421) every command gets it
  // again; unanswered DATA holds it for the next answered stage.
  if (session_.disconnected())
    return features_.no_reply_data ? hold(*session_.decision()) : reply(mta, *session_.decision());
  return features_.no_reply_data ? MilterStatus::kNoReply : MilterStatus::kContinue;
}

MilterStatus MilterConnection::header(MtaContext& mta, const char* name, const char* value) {
  const bool nr = features_.no_reply_headers;
  // Counted even after a held verdict: a quarantined message is delivered
  // later and must not carry a forged verdict either. The MTA numbers the
  // fields it shows us by name from 1, in this order (smfi_chgheader(3)).
  if (name && iequals(name, kTagHeader)) ++incoming_tags_;
  if (name && !policy_tag_name_.empty() && iequals(name, policy_tag_name_) &&
      policy_tags_.size() < 64)
    policy_tags_.emplace_back(value ? value : "");
  // A held verdict decided the message: the rest of the header is not read.
  if (!name || (nr && held_)) return nr ? MilterStatus::kNoReply : MilterStatus::kContinue;
  std::string_view v = value ? value : "";
  Verdict verdict;
  if (features_.leading_space) {
    // The value is exactly what followed the colon: measure the field as sent.
    std::string raw = std::string(name) + ":";
    raw += v;
    std::string_view trimmed = v;
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t'))
      trimmed.remove_prefix(1);
    verdict = session_.header(name, trimmed, raw);
  } else {
    verdict = session_.header(name, v);
  }
  return nr ? hold(verdict) : reply(mta, verdict);
}

MilterStatus MilterConnection::eoh(MtaContext& mta) {
  take_queue_id(mta);
  if (auto held = release(mta, features_.no_reply_eoh)) return *held;
  Verdict v = session_.end_of_headers();
  return features_.no_reply_eoh ? hold(v) : reply(mta, v);
}

MilterStatus MilterConnection::body(MtaContext& mta, const unsigned char* data, std::size_t len) {
  if (features_.no_reply_body) {
    // Nothing to skip with: the chunks the engine no longer needs are dropped.
    if (held_ || !session_.needs_body()) return MilterStatus::kNoReply;
    return hold(session_.body(std::string_view(reinterpret_cast<const char*>(data), len)));
  }
  MilterStatus s =
      reply(mta, session_.body(std::string_view(reinterpret_cast<const char*>(data), len)));
  if (s == MilterStatus::kContinue && features_.skip && !session_.needs_body())
    return MilterStatus::kSkip;
  return s;
}

MilterStatus MilterConnection::eom(MtaContext& mta) {
  in_transaction_ = false;
  take_queue_id(mta);
  const int incoming = std::exchange(incoming_tags_, 0);
  const std::vector<std::string> policy_tags = std::exchange(policy_tags_, {});
  if (auto held = release(mta, false)) return *held;
  MilterStatus s = reply(mta, session_.end_of_message());
  if (s != MilterStatus::kContinue) return s;
  // Last first: whether or not the MTA renumbers the fields after a removal,
  // the ones not yet removed keep their numbers.
  if (features_.change_headers) {
    for (int i = incoming; i > 0; --i) mta.delete_header(kTagHeader, i);
    // The policy service's fields come first (Postfix PREPENDs them): put
    // them back there under the public name.
    for (int i = static_cast<int>(policy_tags.size()); i > 0; --i) {
      mta.delete_header(policy_tag_name_, i);
      mta.insert_header(0, kTagHeader, policy_tags[static_cast<std::size_t>(i - 1)]);
    }
  }
  for (const auto& tag : session_.tags())
    mta.add_header(kTagHeader, features_.leading_space ? " " + tag : tag);
  if (session_.quarantined()) mta.quarantine(session_.quarantine_reason());
  return MilterStatus::kContinue;
}

void MilterConnection::abort() {
  in_transaction_ = false;
  incoming_tags_ = 0;
  policy_tags_.clear();
  held_.reset();
  session_.reset();
}

}  // namespace esmtp
