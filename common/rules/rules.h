// rules: the table of inspection rules and identity checks
// (esmtp-inspect.yaml(5), RULES and IDENTITY CHECKS).
//
// A rule is one row and one evaluator. The row says everything the rest of
// the product needs to know about it: name, the events it acts on, which
// daemon decides it when both serve one MTA, what it measures, its parameter
// (config keys, types, ranges and defaults), the default action and reply,
// the ASA equivalent. Its evaluator, next to the row in rules.cc, decides one
// event from the facts the session measured. The config loader, check-config,
// the annotated conf/esmtp-inspect.yaml, the manual, the session (which rules
// run on which event, in which order, whether the body must be scanned) and
// the front ends (what to ask the MTA for: engine/mta_needs.h) all read these
// rows; nothing else lists the rules.
//
// Thread-safety: immutable data; evaluators are pure functions of their
// arguments.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/mime/mime_limits.h"
#include "common/mime/mime_scanner.h"
#include "common/rules/verdict.h"
#include "common/util/pattern.h"

namespace esmtp {

enum class RuleId : std::uint8_t {
  kCommandLineLength,
  kRecipientCount,
  kInvalidRecipients,
  kSenderAddressLength,
  kSenderAddress,
  kSpecialCharacters,
  kHeaderLineLength,
  kHeaderLength,
  kToFieldsCount,
  kBodyLineLength,
  kBodyLength,
  kMimeFilenameLength,
  kMimeFilename,
  kMimeEncoding,
  kMimeStructure,
  kPlaintextSession,
  kHarvest,
  kClientRate,
};
inline constexpr std::size_t kRuleCount = 18;  // at most 32 (a bit per rule in a session)

// What a rule's configuration carries besides action/reply/mode.
enum class RuleParam : std::uint8_t {
  kMax,         // max: integer limit
  kPatterns,    // patterns: list of globs or "re:" RE2 expressions
  kCharacters,  // characters: string of forbidden characters
  kDeny,        // deny: list of Content-Transfer-Encoding names
  kMimeLimits,  // max_depth, max_parts, max_boundary_length, max_part_header_bytes
  kWindow,      // max, window, per: a count over a sliding window (the counter store)
  kNone,        // nothing: the rule is a switch
};

// The events of a session a rule can act on, in SMTP order. The body is
// seen through the MIME scanner's findings (kBodyLine ... kMimeLimit).
enum class Event : std::uint8_t {
  kConnect,       // the client connected (or XCLIENT named another one)
  kHelo,          // HELO/EHLO
  kMail,          // MAIL FROM, starts a transaction
  kRcpt,          // RCPT TO the MTA accepted so far
  kRcptRejected,  // RCPT TO the MTA rejected (milter, SMFIP_RCPT_REJ)
  kHeader,        // one header field
  kEndOfHeaders,  // the empty line
  kBodyLine,      // a body line over body_line_length's max
  kMimeFilename,  // an attachment filename
  kMimeEncoding,  // a Content-Transfer-Encoding
  kMimeLimit,     // a MIME structure limit exceeded
  kEndOfMessage,  // the final dot
};
inline constexpr std::size_t kEventCount = 12;
using EventSet = std::uint16_t;
constexpr EventSet events_of(std::initializer_list<Event> list) {
  EventSet s = 0;
  for (Event e : list) s = static_cast<EventSet>(s | (1u << static_cast<unsigned>(e)));
  return s;
}
constexpr bool has(EventSet s, Event e) {
  return (s >> static_cast<unsigned>(e)) & 1u;
}
std::string_view to_string(Event e);  // "helo", "mail", ...
// The events that need the message body, and those that need its header.
inline constexpr EventSet kBodyEvents =
    events_of({Event::kBodyLine, Event::kMimeFilename, Event::kMimeEncoding, Event::kMimeLimit,
               Event::kEndOfMessage});
inline constexpr EventSet kHeaderEvents = events_of({Event::kHeader, Event::kEndOfHeaders});
// The MIME scanner's findings about parts (they need the header section too).
inline constexpr EventSet kMimeEvents =
    events_of({Event::kMimeFilename, Event::kMimeEncoding, Event::kMimeLimit});

// Which daemon decides a rule when esmtp-inspect-milter and
// esmtp-inspect-policyd serve the same MTA (both_daemons: true). Alone, each
// decides every rule it sees events for.
enum class Decider : std::uint8_t {
  kPolicy,  // the envelope (HELO, MAIL, RCPT): the policy service
  kMilter,  // content, or what only the milter sees
};

// What a windowed rule counts by (`per:`): the client address, or its
// network. "address" is /32 and /128; "/24" keeps IPv4 /24 and counts IPv6
// by /64; "/48" (over 32) keeps IPv6 /48 and IPv4 by address; "/24 /56"
// gives both.
struct CounterScope {
  std::uint8_t v4 = 32;
  std::uint8_t v6 = 128;
  friend bool operator==(const CounterScope&, const CounterScope&) = default;
};
std::optional<CounterScope> parse_counter_scope(std::string_view text);
std::string to_string(const CounterScope& s);  // "address", "/24", "/24 /56"

// A rule's configuration (esmtp-inspect.yaml(5), RULES).
struct RuleConfig {
  Action action = Action::kOff;  // kOff: the rule is disabled
  Reply reply;                   // the reply for `action` (adapted or configured)
  bool reply_configured = false;
  std::optional<Mode> mode;          // per-rule override of the profile/global mode
  std::uint64_t max = 0;             // RuleParam::kMax
  PatternList patterns;              // RuleParam::kPatterns
  std::string characters;            // RuleParam::kCharacters
  std::vector<std::string> deny;     // RuleParam::kDeny, lower case
  MimeLimits mime;                   // RuleParam::kMimeLimits
  std::uint32_t window_seconds = 0;  // RuleParam::kWindow
  CounterScope per;                  // RuleParam::kWindow

  bool enabled() const { return action != Action::kOff; }
};

// What the session measured, for the event being decided. Each event fills
// the fields its comment names; the rest keep their last or zero values.
struct Facts {
  Event event = Event::kHelo;
  std::string_view helo;                     // kHelo: the name as sent
  std::string_view address;                  // kMail, kRcpt*: without <>
  std::span<const std::string_view> params;  // kMail, kRcpt: ESMTP parameters
  bool tls = false;                          // kMail: the session uses TLS
  std::uint32_t accepted = 0;                // kRcpt: recipients accepted before this one
  std::uint32_t invalid = 0;                 // kRcptRejected: in the session, this one included
  std::string_view header_name;              // kHeader
  std::uint64_t header_longest_line = 0;     // kHeader: CRLF excluded
  std::uint64_t header_octets = 0;           // kHeader: the header section so far
  std::uint64_t message_octets = 0;          // kHeader, kEndOfMessage: the message so far
  std::uint64_t line_length = 0;             // kBodyLine
  std::uint64_t line_no = 0;                 // kBodyLine
  const MimeFilename* filename = nullptr;    // kMimeFilename
  std::string_view encoding;                 // kMimeEncoding
  std::string_view part;                     // kMimeEncoding, kMimeLimit: "root", "1.2"...
  MimeLimit mime_limit = MimeLimit::kDepth;  // kMimeLimit
  std::uint64_t mime_actual = 0;             // kMimeLimit
  std::uint64_t mime_max = 0;                // kMimeLimit
  // kConnect, kMail, kRcptRejected: a windowed rule's count in the counter
  // store (Session::count()), when the store answered; `counter` is what was
  // counted ("192.0.2.0/24").
  std::optional<std::uint64_t> window_count;
  std::string_view counter;
};

// What a rule found: the fields of its verdict (esmtp-inspect.yaml(5),
// LOGGING).
struct Finding {
  std::string actual;
  std::string limit;
  bool numeric = false;
  std::string where;
  std::string detail;
};

// What a rule remembers, kept by the session for each rule: `fired`,
// `count` and `pending` for the transaction, `fired_in_session` for the
// session.
struct RuleMemory {
  bool fired = false;  // message-scoped rules act once per transaction
  bool fired_in_session = false;
  std::uint64_t count = 0;
  // The largest value over the limit not reported yet, for a rule whose
  // action lets mail through: it reports once its stage is over (or before
  // another rule's verdict ends the transaction), so the log shows the worst
  // line, not the first.
  std::uint64_t pending = 0;
  std::string pending_where;
};

// Decides one event: true when the rule fired, with its finding in `out`.
// Called only for the events of the row, when the rule is active and the
// transaction still open.
using Evaluator = bool (*)(const RuleConfig&, const Facts&, RuleMemory&, Finding& out);

struct RuleInfo {
  RuleId id;
  std::string_view name;
  EventSet events;
  Decider decider;
  // Order among the rules of one event: the most specific first, as one
  // command gets at most one refusal.
  std::uint8_t rank;
  RuleParam param;
  bool on_by_default;  // off-by-default rules turn on when their parameter is set
  std::uint64_t default_max;
  std::uint64_t min;  // range of `max` (kMax rules)
  std::uint64_t max;
  std::string_view default_characters;  // kCharacters: the default set
  std::string_view example;             // kPatterns, kDeny: shown for the rule when it is off
  Action default_action;
  std::string_view default_reply;
  std::string_view asa;  // the ASA inspect esmtp equivalent, for the docs
  std::string_view help;
  Evaluator evaluate;
};

// The rules in rank order, and each event's rules as bits of that order: a
// session keeps its active rules as such bits too, so the rules of an event
// are the set bits of one AND, walked lowest first.
struct RankOrder {
  std::array<const RuleInfo*, kRuleCount> rule{};     // bit k: rule[k]
  std::array<std::uint32_t, kEventCount> of_event{};  // the rules that act on the event
  std::array<std::uint8_t, kRuleCount> bit{};         // by RuleId: its bit
};
const RankOrder& rank_order();

// A windowed rule's default window, in seconds (0 for other rules).
std::uint32_t default_window_seconds(RuleId id);

// "helo, mail, rcpt": the stages of a rule's events, for the documentation.
std::string stage_text(EventSet events);

// Reports a pending value (RuleMemory::pending) as a finding, and forgets it.
Finding pending_finding(const RuleConfig& rc, RuleMemory& mem);

std::span<const RuleInfo> rule_table();
const RuleInfo& rule_info(RuleId id);
std::optional<RuleId> find_rule(std::string_view name);

enum class CheckId : std::uint8_t {
  kPtrPresent,
  kFcrdns,
  kHeloSyntax,
  kHeloLiteralMatch,
  kHeloResolves,
  kHeloMatchesClient,
  kHeloMatchesPtr,
  kHeloNotSelf,
  kSelfBanner,
};
inline constexpr std::size_t kCheckCount = 9;

struct CheckInfo {
  CheckId id;
  std::string_view name;
  Action default_action;
  std::string_view default_reply;
  std::string_view help;
};
std::span<const CheckInfo> check_table();
const CheckInfo& check_info(CheckId id);
std::optional<CheckId> find_check(std::string_view name);

}  // namespace esmtp
