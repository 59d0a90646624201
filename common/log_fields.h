// log_fields: the one table of verdict log fields (esmtp-inspect.yaml(5),
// LOGGING). The text writer, the JSON writer and the parser of
// `esmtp-inspect report` all walk this table, so report reads exactly the
// fields the logger wrote.
//
// Text form: "QUEUEID: key=value key=value ..." with the fields in table
// order, each at most once, separated by one space. Values are written in
// the field's form:
//   token   key=value, or key="..." when the value is empty or holds a blank,
//           '"', '\', '=', a control octet or a non-ASCII octet
//   angle   key=<...>   (from, to)
//   quoted  key="..."   (reply)
//   client  key=name[addr]
// Inside a value, '\\' and '\"' stand for a backslash and a quote, and \xHH
// for an octet: control octets, DEL and invalid UTF-8 everywhere; also
// blanks, '<', '>' (and '[', ']' in client) in the unquoted forms. Valid
// UTF-8 and everything else stay as they are, so an ordinary
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
  bool json_always;  // JSON writes it even when empty (reply: null)
};

// In text (and JSON) order.
inline constexpr std::array<LogFieldSpec, kLogFieldCount> kLogFields{{
    {LogField::kAction, "action", FieldForm::kToken, true},
    {LogField::kWould, "would", FieldForm::kToken, false},
    {LogField::kRule, "rule", FieldForm::kToken, true},
    {LogField::kActual, "actual", FieldForm::kToken, true},
    {LogField::kLimit, "limit", FieldForm::kToken, true},
    {LogField::kWhere, "where", FieldForm::kToken, true},
    {LogField::kDetail, "detail", FieldForm::kToken, false},
    {LogField::kClient, "client", FieldForm::kClient, false},
    {LogField::kHelo, "helo", FieldForm::kToken, false},
    {LogField::kFrom, "from", FieldForm::kAngle, false},
    {LogField::kTo, "to", FieldForm::kAngle, false},
    {LogField::kReply, "reply", FieldForm::kQuoted, true},
    {LogField::kProfile, "profile", FieldForm::kToken, true},
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
