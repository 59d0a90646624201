#include "tools/offline/offline.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/engine/session.h"
#include "tools/offline/message_reader.h"

namespace esmtp {
namespace {

class Feeder : public MessageListener {
 public:
  Feeder(Session& s, OfflineResult& r) : session_(s), result_(r) {}

  void on_header(std::string_view name, std::string_view value, std::string_view raw,
                 const HeaderMetrics& metrics) override {
    if (!done()) collect(session_.header(name, value, raw, &metrics));
  }
  void on_end_of_headers() override {
    if (!done()) collect(session_.end_of_headers());
  }
  void on_body(std::string_view chunk) override {
    if (!done()) collect(session_.body(chunk));
  }
  void collect(const Verdict&) {
    for (const auto& v : session_.last()) result_.verdicts.push_back(v);
  }
  bool done() const { return session_.decision().has_value(); }

 private:
  Session& session_;
  OfflineResult& result_;
};

}  // namespace

std::optional<OfflineResult> run_offline(std::shared_ptr<const Config> config, const Envelope& env,
                                         int fd, Logger* logger, std::string* error,
                                         std::size_t chunk) {
  OfflineResult result;
  Session s(std::move(config), logger);
  Feeder feeder(s, result);
  s.set_authenticated(env.auth_user);
  if (!env.tls_version.empty()) s.set_tls(env.tls_version);
  s.set_queue_id(env.queue_id);
  feeder.collect(s.connect(env.client_address, 0, env.client_name));
  Action helo_refused = Action::kContinue;
  if (!env.helo.empty()) {
    Verdict v = s.helo(env.helo);
    feeder.collect(v);
    if (reply_class_for(v.action)) helo_refused = v.action;
  }
  // A client whose HELO is refused sends no mail in this test.
  bool send_data = !s.disconnected() && helo_refused == Action::kContinue;
  if (send_data && env.from) {
    std::vector<std::string_view> params(env.mail_params.begin(), env.mail_params.end());
    feeder.collect(s.mail(*env.from, params));
    for (const auto& r : env.rcpts) {
      if (feeder.done()) break;
      feeder.collect(s.rcpt(r));
    }
    send_data = !feeder.done() && (env.rcpts.empty() || s.accepted_recipients() > 0);
  }
  if (send_data) {
    MessageReader reader(feeder);
    std::string buf(chunk, '\0');
    while (!feeder.done()) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        if (error) *error = std::strerror(errno);
        return std::nullopt;
      }
      if (n == 0) break;
      reader.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    reader.finish();
    if (!feeder.done()) feeder.collect(s.end_of_message());
  }

  if (s.disconnected()) {
    result.final = "disconnect";
  } else if (helo_refused != Action::kContinue) {
    result.final = std::string(to_string(helo_refused));
  } else if (s.decision()) {
    result.final = std::string(to_string(s.decision()->action));
  } else if (!env.rcpts.empty() && s.accepted_recipients() == 0) {
    // Every recipient refused: the message was never sent.
    Action worst = Action::kContinue;
    for (const auto& v : result.verdicts)
      if (v.action == Action::kReject || v.action == Action::kTempfail)
        worst = std::max(worst, v.action);
    result.final = worst == Action::kContinue ? "reject" : std::string(to_string(worst));
  } else if (s.quarantined()) {
    result.final = "quarantine";
  } else {
    result.final = "accept";
  }
  result.tags = s.tags();
  return result;
}

std::string offline_text(std::span<const std::string> verdict_lines,
                         std::span<const std::string> tags, std::string_view final) {
  std::string out;
  for (const auto& line : verdict_lines) out.append(line).append("\n");
  for (const auto& t : tags) out.append("tag: X-ESMTP-Inspect: ").append(t).append("\n");
  out.append("final: ").append(final).append("\n");
  return out;
}

std::string offline_text(const OfflineResult& result) {
  std::vector<std::string> lines;
  lines.reserve(result.verdicts.size());
  for (const auto& v : result.verdicts) lines.push_back(format_verdict_text(nullptr, v));
  return offline_text(lines, result.tags, result.final);
}

}  // namespace esmtp
