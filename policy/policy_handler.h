// policy_handler: one policy connection's logic, without sockets.
//
// Maps Postfix policy requests to engine events (common/engine/session.h) and the
// verdicts back to an "action=" reply (esmtp-inspect.yaml(5), ACTIONS): reject/tempfail/
// disconnect send the rule's reply, quarantine is HOLD, discard is DISCARD,
// tag is PREPEND X-ESMTP-Inspect (X-ESMTP-Inspect-SECRET with tag_secret),
// anything else DUNNO.
//
// One policy connection carries the requests of many SMTP sessions, one after
// another (Postfix's smtpd reuses it); a session is told apart by client
// address and port, a transaction by the "instance" attribute. Each new SMTP
// session starts on the configuration current at that moment, so a reload
// takes effect without dropping connections, and a session keeps the
// configuration it started with.
//
// Log lines of verdicts that let the message go on (log, tag, quarantine,
// monitor mode) decided before Postfix has a queue ID (MAIL, the first
// RCPT) wait in the session until a request brings one: a later RCPT, or
// the DATA and END-OF-MESSAGE requests of the shipped snippet
// (conf/postfix/main.cf.policy). Those requests answer DUNNO and decide
// nothing again. A new instance, a new SMTP session and end() (the policy
// connection closes) write what still waits as NOQUEUE.
//
// Identity checks need DNS: prepare() feeds the request's HELO and MAIL to
// the session and returns the lookup the session says is due, if any (its
// timing is the engine's: Session::identity_due()); the server runs it
// asynchronously and passes the report to finish(), which decides the rest
// of the request. Every request goes through prepare() then finish().
//
// Thread-safety: one handler per connection, used by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/config/config.h"
#include "common/engine/identity.h"
#include "common/engine/session.h"
#include "common/log/logger.h"
#include "common/runtime/metrics.h"
#include "policy/policy_protocol.h"

namespace esmtp {

class PolicyHandler {
 public:
  using ConfigSource =
      std::function<std::pair<std::shared_ptr<const Config>, std::shared_ptr<Logger>>()>;

  // `metrics`: where requests, sessions, verdicts and messages are counted,
  // if anywhere. An accepted message is counted at its END-OF-MESSAGE
  // request (smtpd_end_of_data_restrictions, as the shipped snippet sets).
  explicit PolicyHandler(ConfigSource source, DaemonMetrics* metrics = nullptr)
      : source_(std::move(source)), metrics_(metrics) {}

  // The counter-store call this request needs before prepare(), if any:
  // client_rate at the session's first MAIL (Session::counter_due()). The
  // server makes it off its I/O thread and passes the answer to
  // supply_count(); it may call prepare() directly when this returns none.
  std::optional<CounterQuery> counter_due(const PolicyRequest& req);
  void supply_count(RuleId rule, std::optional<std::uint64_t> count);

  // Starts or continues the SMTP session the request belongs to. Returns the
  // identity lookup to run before finish(), if one is needed.
  std::optional<IdentityInput> prepare(const PolicyRequest& req);
  // The reply action (without "action="), e.g. "550 5.7.1 text" or "DUNNO".
  std::string finish(const PolicyRequest& req, const IdentityReport* identity);

  // The policy connection closes: the SMTP session in flight ends here, and
  // the lines it still holds are written (NOQUEUE).
  void end();

  const Session* session() const { return session_.get(); }

 private:
  // Starts a new SMTP session when the request belongs to another one, and
  // gives the session the request's facts (authentication, TLS).
  Session& session_for(const PolicyRequest& req);
  bool new_message(const PolicyRequest& req) const;

  ConfigSource source_;
  DaemonMetrics* metrics_;
  std::shared_ptr<Logger> logger_;  // kept alive for the session
  std::unique_ptr<Session> session_;
  std::string session_key_;
  Verdict worst_;  // of the request being answered, from prepare()
  std::string instance_;
  std::size_t tags_prepended_ = 0;
};

}  // namespace esmtp
