#include "policy/policy_handler.h"

#include <fmt/format.h>

#include <algorithm>

namespace esmtp {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Postfix sends client_name=unknown for an unverified name.
std::string_view known(std::string_view name) {
  return name == "unknown" ? "" : name;
}

bool in_transaction(std::string_view state) {
  return state == "MAIL" || state == "RCPT" || state == "DATA" || state == "END-OF-MESSAGE";
}

}  // namespace

std::optional<IdentityInput> PolicyHandler::prepare(const PolicyRequest& req) {
  const std::string key = fmt::format("{}|{}|{}", req.get("client_address"), req.get("client_port"),
                                      req.get("server_port"));
  if (!session_ || key != session_key_) {
    auto [config, logger] = source_();
    logger_ = logger;
    session_ = std::make_unique<Session>(config, logger_.get());
    session_key_ = key;
    identity_key_.clear();
    instance_.clear();
    tags_prepended_ = 0;
    session_->connect(req.get("client_address"), 0, known(req.get("client_name")));
  }
  if (!req.get("sasl_username").empty()) session_->set_authenticated(req.get("sasl_username"));
  if (req.has("encryption_protocol")) session_->set_tls(req.get("encryption_protocol"));
  const std::string_view helo = req.get("helo_name");
  if (helo.empty() || !session_->identity_wanted()) return std::nullopt;
  const std::string ikey = fmt::format("{}|{}", req.get("client_address"), lower(helo));
  if (ikey == identity_key_) return std::nullopt;
  IdentityInput in = session_->identity_input();
  in.helo = std::string(helo);
  return in;
}

std::string PolicyHandler::finish(const PolicyRequest& req, const IdentityReport* identity) {
  if (!session_) prepare(req);
  Session& s = *session_;
  const std::string state(req.get("protocol_state"));
  const std::string where = lower(state);
  Verdict worst;
  auto take = [&](const Verdict& v) {
    if (v.action > worst.action) worst = v;
  };

  const std::string_view helo = req.get("helo_name");
  if (!helo.empty() && helo != s.helo_name()) take(s.helo(helo));
  // A new message (instance): its transaction starts (with its sender)
  // before anything else is logged, so no line carries another message's.
  const bool new_message =
      in_transaction(state) && (req.get("instance") != instance_ || req.get("instance").empty());
  if (new_message) {
    instance_ = std::string(req.get("instance"));
    tags_prepended_ = 0;
    s.reset();
    s.set_queue_id(req.get("queue_id"));
    std::string size;
    std::string_view params[1];
    std::size_t n = 0;
    if (!req.get("size").empty() && req.get("size") != "0") {
      size = fmt::format("SIZE={}", req.get("size"));
      params[n++] = size;
    }
    take(s.mail(req.get("sender"), std::span(params, n)));
  }
  if (in_transaction(state)) s.set_queue_id(req.get("queue_id"));
  if (identity) {
    identity_key_ = fmt::format("{}|{}", req.get("client_address"), lower(helo));
    take(s.identity(*identity, where));
  }
  if (state == "RCPT") take(s.rcpt(req.get("recipient")));

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
