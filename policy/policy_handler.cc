#include "policy/policy_handler.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "common/util/text.h"

namespace esmtp {
namespace {

// Postfix sends client_name=unknown for an unverified name.
std::string_view known(std::string_view name) {
  return name == "unknown" ? "" : name;
}

bool in_transaction(std::string_view state) {
  return state == "MAIL" || state == "RCPT" || state == "DATA" || state == "END-OF-MESSAGE";
}

// The engine event of a policy request's protocol_state, for the identity
// timing; none before HELO.
std::optional<Event> event_of(std::string_view state) {
  if (state == "HELO" || state == "EHLO") return Event::kHelo;
  if (state == "MAIL") return Event::kMail;
  if (state == "RCPT") return Event::kRcpt;
  if (state == "DATA") return Event::kEndOfHeaders;
  if (state == "END-OF-MESSAGE") return Event::kEndOfMessage;
  return std::nullopt;
}

}  // namespace

Session& PolicyHandler::session_for(const PolicyRequest& req) {
  const std::string key = fmt::format("{}|{}|{}", req.get("client_address"), req.get("client_port"),
                                      req.get("server_port"));
  if (!session_ || key != session_key_) {
    end();  // the session before ended (its lines wait no longer)
    auto [config, logger] = source_();
    logger_ = logger;
    session_ = std::make_unique<Session>(config, logger_.get(), FrontEnd::kPolicy);
    if (metrics_) session_->set_metrics(&metrics_->engine());
    session_key_ = key;
    instance_.clear();
    tags_prepended_ = 0;
    session_->connect(req.get("client_address"), 0, known(req.get("client_name")));
  }
  Session& s = *session_;
  if (!req.get("sasl_username").empty()) s.set_authenticated(req.get("sasl_username"));
  if (req.has("encryption_protocol")) s.set_tls(req.get("encryption_protocol"));
  return s;
}

bool PolicyHandler::new_message(const PolicyRequest& req) const {
  return in_transaction(req.get("protocol_state")) &&
         (req.get("instance") != instance_ || req.get("instance").empty());
}

std::optional<CounterQuery> PolicyHandler::counter_due(const PolicyRequest& req) {
  Session& s = session_for(req);
  if (!new_message(req)) return std::nullopt;
  return s.counter_due(Event::kMail);
}

void PolicyHandler::supply_count(RuleId rule, std::optional<std::uint64_t> count) {
  if (session_) session_->supply_count(rule, count);
}

std::optional<IdentityInput> PolicyHandler::prepare(const PolicyRequest& req) {
  Session& s = session_for(req);
  const std::string state(req.get("protocol_state"));
  if (metrics_) metrics_->policy_request(state);
  worst_ = Verdict();
  auto take = [&](const Verdict& v) {
    if (v.action > worst_.action) worst_ = v;
  };

  // A new message (instance): the transaction before ends first (the lines
  // it still held go out as NOQUEUE), and this one starts (with its sender)
  // before anything else is logged, so no line carries another message's
  // queue ID or sender (a new HELO name's neither).
  const bool new_message = this->new_message(req);
  if (new_message) {
    instance_ = std::string(req.get("instance"));
    tags_prepended_ = 0;
    s.reset();
  }
  const std::string_view helo = req.get("helo_name");
  if (!helo.empty() && helo != s.helo_name()) take(s.helo(helo));
  // Postfix sends queue_id once its queue file is open: empty at MAIL and at
  // the first RCPT, set at later RCPTs, DATA and END-OF-MESSAGE. Only a
  // non-empty one is given to the session: it writes the lines held since
  // MAIL with it, before this request's own. (An empty one would end the
  // wait and write them as NOQUEUE.)
  if (in_transaction(state) && !req.get("queue_id").empty()) s.set_queue_id(req.get("queue_id"));
  if (new_message) {
    std::string size;
    std::string_view params[1];
    std::size_t n = 0;
    if (!req.get("size").empty() && req.get("size") != "0") {
      size = fmt::format("SIZE={}", req.get("size"));
      params[n++] = size;
    }
    take(s.mail(req.get("sender"), std::span(params, n)));
  }
  const auto at = event_of(state);
  return at ? s.identity_due(*at) : std::nullopt;
}

void PolicyHandler::end() {
  if (!session_) return;
  session_->close();
  session_.reset();
  session_key_.clear();
}

std::string PolicyHandler::finish(const PolicyRequest& req, const IdentityReport* identity) {
  Session& s = *session_;
  const std::string state(req.get("protocol_state"));
  Verdict worst = std::exchange(worst_, Verdict());
  auto take = [&](const Verdict& v) {
    if (v.action > worst.action) worst = v;
  };
  if (identity) take(s.identity(*identity, to_lower(state)));
  if (state == "RCPT") take(s.rcpt(req.get("recipient")));
  if (state == "END-OF-MESSAGE") s.message_done();  // counted unless decided

  switch (worst.action) {
    case Action::kReject:
    case Action::kTempfail:
    case Action::kDisconnect:
      return worst.reply.str();
    case Action::kDiscard:
      return fmt::format("DISCARD esmtp-inspect rule={}", worst.rule);
    case Action::kQuarantine:
      return fmt::format("HOLD esmtp-inspect rule={}", worst.rule);
    default:
      break;
  }
  // Tags become one header, prepended once a message exists; tags that
  // appear later in the transaction are prepended by a later request.
  if (state == "MAIL" || state == "RCPT") {
    const std::vector<std::string> tags = s.tags();
    if (tags.size() > tags_prepended_) {
      std::string value;
      for (std::size_t i = tags_prepended_; i < tags.size(); ++i)
        value += (value.empty() ? "" : ", ") + tags[i];
      tags_prepended_ = tags.size();
      // With tag_secret, under a name no sender can know: the milter or a
      // header_checks REPLACE line renames it once the sender's own
      // X-ESMTP-Inspect fields are removed (esmtp-inspect-policyd(8)).
      const std::string& secret = s.config().tag_secret;
      return fmt::format("PREPEND X-ESMTP-Inspect{}{}: {}", secret.empty() ? "" : "-", secret,
                         value);
    }
  }
  return "DUNNO";
}

}  // namespace esmtp
