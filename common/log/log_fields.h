// log_fields: the one table of verdict log fields (esmtp-inspect.yaml(5),
// LOGGING). The text writer, the JSON writer and the parser of
// `esmtp-inspect report` all walk this table, so report reads exactly the
// fields the logger wrote.
//
// Text form: "QUEUEID: key=value key=value ..." with the fields in table
// order, each at most once, separated by one space. Values are written in
// the field's form:
//   token   key=value, or key="..." when the value is empty or holds a blank,
//           '"', '\', a control octet or a non-ASCII octet
//   angle   key=<...>   (from, to)
//   quoted  key="..."   (reply)
//   client  key=name[addr]
// Inside a value, '\\' and '\"' stand for a backslash and a quote, and \xHH
// for an octet: control octets, DEL and invalid UTF-8 everywhere; also
// blanks, '<', '>' (and '[', ']' in client) in the unquoted forms. Valid
// UTF-8 and everything else stay as they are ('=' too: with blanks escaped
// or quoted it cannot start a field, and "detail=ptr=host" or SRS senders
// stay as admins grep them), so an ordinary
// from=<a@example.org> or reply="550 5.6.0 Header line too long" reads as it
// always did. A value can therefore never end its field early or add a
// field, and unescaping gives back the octets exactly.
//
// The parser is strict: a key not in the table, a key out of table order
// (which includes a repeated key), a broken escape or a value that does not
// end where its form says makes the whole line unparseable (never "the later
// key wins"). It accepts the unescaped blanks older versions wrote inside
// <...> (the first '>' ends the value; what follows must still be fields in
// order).
//
// JSON form: one object, "queue_id" first, then the same keys (client as
// "client" and "client_address"); actual/limit are numbers when numeric.
//
// Limits: parsing is linear in the line and copies only the values; it
// allocates nothing else. Thread-safety: pure functions and a constant table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace esmtp {

enum class LogField : std::uint8_t {
  kAction,
  kWould,
  kRule,
  kActual,
  kLimit,
  kWhere,
  kDetail,
  kClient,
  kHelo,
  kFrom,
  kTo,
  kReply,
  kProfile,
};
inline constexpr std::size_t kLogFieldCount = 13;

enum class FieldForm : std::uint8_t { kToken, kAngle, kQuoted, kClient };

struct LogFieldSpec {
  LogField id;
  std::string_view key;  // text key and JSON key
  FieldForm form;
  bool json_always;        // JSON writes it even when empty (reply: null)
  std::string_view shape;  // for esmtp-inspect.yaml(5): "client=NAME[ADDRESS]"
  std::string_view doc;    // esmtp-inspect.yaml(5), LOGGING
};

// In text (and JSON) order.
inline constexpr std::array<LogFieldSpec, kLogFieldCount> kLogFields{{
    {LogField::kAction, "action", FieldForm::kToken, true, "action=ACTION",
     "The action taken: one of the ACTIONS below. In monitor mode always log."},
    {LogField::kWould, "would", FieldForm::kToken, false, "would=ACTION",
     "Monitor mode only: the action the rule would have taken in enforce mode."},
    {LogField::kRule, "rule", FieldForm::kToken, true, "rule=NAME",
     "The rule or identity check that decided."},
    {LogField::kActual, "actual", FieldForm::kToken, true, "actual=VALUE",
     "What was measured: a number (octets, a count), the result of an identity check (fail, "
     "none, temperror), the character found (0x7c) or the matched name. JSON writes numbers "
     "as numbers."},
    {LogField::kLimit, "limit", FieldForm::kToken, true, "limit=VALUE",
     "What it was compared with: the configured maximum, the pattern that matched, or pass "
     "for identity checks."},
    {LogField::kWhere, "where", FieldForm::kToken, true, "where=PLACE",
     "Where it was measured: helo, mail, mail:SIZE (the SIZE= parameter), rcpt, "
     "header:NAME, body:LINE (1-based body line), mime:PART (root, 1, 1.2, ... as IMAP "
     "numbers parts), or the policy request's protocol state (rcpt, data, "
     "end-of-message)."},
    {LogField::kDetail, "detail", FieldForm::kToken, false, "detail=TEXT",
     "Context, when there is some: the attachment's filename (undecodable filename=... when "
     "it could not be decoded), the MIME limit crossed, or the DNS facts behind an identity "
     "check."},
    {LogField::kClient, "client", FieldForm::kClient, false, "client=NAME[ADDRESS]",
     "The SMTP client, as Postfix writes it; unknown when the name or address is not known. "
     "JSON has the name in client and the address in client_address."},
    {LogField::kHelo, "helo", FieldForm::kToken, false, "helo=NAME",
     "The HELO/EHLO name, once the client has sent one."},
    {LogField::kFrom, "from", FieldForm::kAngle, false, "from=<ADDRESS>",
     "The envelope sender, once the client has sent MAIL (<> for the null sender)."},
    {LogField::kTo, "to", FieldForm::kAngle, false, "to=<ADDRESS>",
     "The recipient a RCPT-stage verdict is about."},
    {LogField::kReply, "reply", FieldForm::kQuoted, true, "reply=\"TEXT\"",
     "The SMTP reply the client is sent, or in monitor mode would be sent: only for actions "
     "that send one (reject, tempfail, disconnect). JSON writes null otherwise."},
    {LogField::kProfile, "profile", FieldForm::kToken, true, "profile=NAME",
     "The profile whose settings decided: default for the top level."},
}};
inline constexpr std::string_view kJsonClientAddress = "client_address";

// One verdict line: the values by field. `present` tells which fields the
// line has (an empty from=<> is present, an absent one is not).
struct LogRecord {
  std::string queue_id;  // "NOQUEUE" when there is none; empty: not written
  std::array<std::string, kLogFieldCount> value;
  std::array<bool, kLogFieldCount> present{};
  std::string client_addr;  // the [addr] half of client
  bool numeric = false;     // actual/limit are integers (JSON numbers)

  void set(LogField f, std::string_view v) {
    value[static_cast<std::size_t>(f)].assign(v);
    present[static_cast<std::size_t>(f)] = true;
  }
  bool has(LogField f) const { return present[static_cast<std::size_t>(f)]; }
  const std::string& get(LogField f) const { return value[static_cast<std::size_t>(f)]; }
  void clear();
};

// "QUEUEID: key=value ..." (no queue ID part when rec.queue_id is empty).
std::string log_record_text(const LogRecord& rec);
// The JSON object as one line (invalid UTF-8 replaced).
std::string log_record_json(const LogRecord& rec);

// Parses the text after "QUEUEID: ". False (rec unspecified) when the line
// is not exactly a sequence of table fields in table order.
bool parse_log_record_text(std::string_view fields, LogRecord& rec);
// Parses one JSON verdict object; false for anything else, for unknown keys
// and for a key given twice.
bool parse_log_record_json(std::string_view line, LogRecord& rec);

// Escapes for a token value: the value itself when plain, else "..." with
// \" \\ \xHH inside.
std::string quote_token(std::string_view s);

}  // namespace esmtp
