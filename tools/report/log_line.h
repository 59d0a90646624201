// log_line: turns one mail-log line into a report event (issue 5, `report`).
//
// Input: one line without its newline, from a syslog file (traditional
// "Nov 23 14:30:00" or RFC 3339 timestamps), Postfix's maillog_file (postlogd
// writes the same "TIME HOST PROGRAM[PID]: TEXT" shape), or a bare JSON line
// of ours. Recognised: Postfix's `reject:`, `milter-reject:`, `milter-hold:`,
// `milter-discard:` lines at every stage (the END-OF-MESSAGE form from
// cleanup carries no 3-digit code), `connect from`, `status=sent`, and our
// own verdict lines (esmtp-inspect.yaml(5), LOGGING) in text and JSON form.
//
// Traditional timestamps carry no year. YearGuesser infers it per input
// file: the first stamp gets the latest year that does not put it more than
// a day after "now" (a log is read after it was written), and each later
// stamp whose month is more than six months before the previous one starts
// the next year (a file spanning New Year). Traditional stamps are local
// time (as syslog writes them); RFC 3339 stamps carry their own offset.
//
// Our text lines are read with the field table of common/log/log_fields.h (the
// one the logger writes with): a line with an unknown, repeated or
// out-of-order key is not an event. In Postfix's lines only Postfix's own
// parts (queue ID, action, stage, client, status codes) decide what is
// counted; the sender's parts (addresses, HELO, header text) cannot add or
// pair rejections.
//
// Limits: each string copied out of a line is cut (kMaxValue octets for
// replies, names and addresses; see below), so an event is small whatever
// the line; callers cut lines to a maximum length before calling. Non-UTF-8
// bytes are carried through as they are (the printers escape them).
//
// Thread-safety: none needed; one parser per input stream.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "common/log/log_fields.h"

namespace esmtp::report {

enum class EventKind {
  kNone,       // not a line we count (or not parseable)
  kConnect,    // smtpd "connect from"
  kDelivered,  // a delivery agent's status=sent
  kPostfix,    // Postfix reject / milter-reject / milter-hold / milter-discard
  kOurs,       // an esmtp-inspect-milter / -policyd verdict
};

// Octets kept of each string copied out of a line (esmtp-inspect(1), report).
inline constexpr std::size_t kMaxValue = 256;   // reply, client name, from
inline constexpr std::size_t kMaxName = 64;     // rule, action
inline constexpr std::size_t kMaxAddress = 64;  // client address
inline constexpr std::size_t kMaxQueueId = 32;

struct LogEvent {
  EventKind kind = EventKind::kNone;
  bool timed = false;       // time is known
  std::int64_t time = 0;    // seconds since the epoch
  std::string queue_id;     // "NOQUEUE" or the queue ID
  std::string stage;        // CONNECT HELO MAIL RCPT DATA END-OF-MESSAGE header body
  std::string action;       // Postfix: reject reject_warning milter-reject milter-hold
                            // milter-discard hold discard;
                            // ours: reject tempfail disconnect quarantine discard tag log
  std::string client_name;  // "unknown" when not known
  std::string client_addr;
  std::string from;         // envelope sender without <> (its last kMaxValue octets)
  std::string reply;        // "550 5.6.0 Header line too long" (as logged)
  std::string rule;         // ours only
  std::string program;      // "postfix/smtpd", "esmtp-inspect-milter", ...
  int code = 0;             // 3-digit SMTP code, 0 when the line has none
  std::string enhanced;     // "5.6.0", empty when none
  bool unreadable = false;  // a verdict line of ours that does not parse (kNone)
  LogRecord record;         // scratch: our line's fields (log_fields.h)
  void clear();
};

class YearGuesser {
 public:
  explicit YearGuesser(std::time_t now) : now_(now) {}
  // Seconds since the epoch for a year-less local stamp; month 1..12.
  std::int64_t resolve(int month, int day, int hour, int minute, int second);
  void reset() { year_ = 0; }  // a new file

 private:
  std::time_t now_;
  int year_ = 0;
  int last_month_ = 0;
  // Cache of the last day's local midnight (mktime is slow).
  int cached_ymd_ = -1;
  std::int64_t cached_midnight_ = 0;
};

// Parses one line. Returns false (and kind kNone) for lines we do not count;
// ev.timed tells whether a log-line prefix with a timestamp was recognised.
bool parse_log_line(std::string_view line, YearGuesser& years, LogEvent& ev);

// "YYYY-MM-DD[ HH:MM[:SS]]" (local time) or RFC 3339; false when neither.
bool parse_time_arg(std::string_view s, std::int64_t* out);

// Stage of one of our verdicts from its where= field ("rcpt" -> RCPT; header,
// body and MIME stages answer at END-OF-MESSAGE).
std::string_view stage_of_where(std::string_view where);

}  // namespace esmtp::report
