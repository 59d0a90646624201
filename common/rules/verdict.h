// verdict: the vocabulary shared by the engine and both front ends.
//
// An Action says what the MTA should do (esmtp-inspect.yaml(5), ACTIONS); a Reply is the SMTP
// reply text that goes with it; a Verdict is one decision of one rule, with the
// value measured, the limit it was compared to, and where in the message.
//
// Thread-safety: plain values, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace esmtp {

// Ordered by severity: when several rules fire on one event, the front end acts
// on the most severe verdict. Continue means "no objection".
enum class Action : std::uint8_t {
  kContinue = 0,
  kOff,
  kLog,
  kTag,
  kQuarantine,
  kDiscard,
  kTempfail,
  kReject,
  kDisconnect,
};

std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view s);

// Actions that end the transaction (the MTA stops sending us this message).
inline bool is_terminal(Action a) {
  return a == Action::kReject || a == Action::kTempfail || a == Action::kDisconnect ||
         a == Action::kDiscard;
}

enum class Mode : std::uint8_t { kEnforce, kMonitor };
std::string_view to_string(Mode m);
std::optional<Mode> parse_mode(std::string_view s);

// An SMTP reply: "550 5.6.0 Header line too long". The enhanced status code is
// optional on input; text is never empty.
struct Reply {
  int code = 0;          // 200..599
  std::string enhanced;  // "5.6.0" or empty
  std::string text;

  std::string str() const;  // "550 5.6.0 text"
  bool empty() const { return code == 0; }
  friend bool operator==(const Reply&, const Reply&) = default;
};

// Parses "DDD [D.D.D ]text". Returns nullopt and sets *why on error.
std::optional<Reply> parse_reply(std::string_view s, std::string* why);

// The reply class an action requires ('5' for reject, '4' for tempfail and
// disconnect), or 0 when the action sends no reply of its own.
char reply_class_for(Action a);

// Adapts a rule's default reply to the action an operator chose, so that
// "header_line_length: {action: tempfail}" answers "451 4.6.0 Header line too
// long" rather than a 5xx that would contradict the action.
Reply adapt_reply(const Reply& base, Action a);

struct Verdict {
  Action action = Action::kContinue;
  // The action the rule would take in enforce mode when mode is monitor; the
  // action itself is then kLog.
  Action would = Action::kContinue;
  std::string_view rule;  // points into the static rule table
  std::string actual;     // measured value: a number, or a matched string
  std::string limit;      // the limit or pattern it was compared with
  bool numeric = true;    // actual/limit are integers (JSON prints numbers)
  std::string where;      // "header:Subject", "body:42", "mime:1.2", "mail", ...
  std::string detail;     // extra context: the filename, the MIME limit, ...
  std::string recipient;  // the RCPT a recipient-stage verdict is about
  Reply reply;            // what the SMTP client is (or would be) told
  std::string profile;    // the profile whose settings decided

  bool is_continue() const { return action == Action::kContinue; }
};

// Severity order for choosing between verdicts of one event.
inline bool more_severe(const Verdict& a, const Verdict& b) {
  return a.action > b.action;
}

}  // namespace esmtp
