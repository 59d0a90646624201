#include "tools/report/log_line.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "common/log/log_fields.h"

namespace esmtp::report {
namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// n digits at s[pos..]; false if any is not a digit.
bool digits(std::string_view s, std::size_t pos, int n, int* out) {
  if (pos + static_cast<std::size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + static_cast<std::size_t>(i)];
    if (!digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (the
// usual era-based computation: 400-year eras of 146097 days).
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int month_of(std::string_view s) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < 3) return 0;
  for (int i = 0; i < 12; ++i)
    if (std::memcmp(s.data(), kMonths[i], 3) == 0) return i + 1;
  return 0;
}

bool valid_hms(int h, int mi, int s) {
  return h < 24 && mi < 60 && s <= 60;
}

// RFC 3339 at the start of s: "2026-11-23T14:30:00[.frac](Z|+hh:mm)", or
// with "+hhmm" as `journalctl -o short-iso` and the report's own period line
// write it. Sets *len to the characters used.
bool parse_rfc3339(std::string_view s, std::int64_t* out, std::size_t* len) {
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, &mo) ||
      s[7] != '-' || !digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, &h) || s[13] != ':' || !digits(s, 14, 2, &mi) || s[16] != ':' ||
      !digits(s, 17, 2, &se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || !valid_hms(h, mi, se)) return false;
  std::size_t p = 19;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && digit(s[p])) ++p;
  }
  int offset = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh, om;
    const bool colon = p + 3 < s.size() && s[p + 3] == ':';
    if (!digits(s, p + 1, 2, &oh) || !digits(s, p + (colon ? 4 : 3), 2, &om) || oh > 23 || om > 59)
      return false;
    offset = (oh * 60 + om) * 60 * (s[p] == '-' ? -1 : 1);
    p += colon ? 6 : 5;
  } else {
    return false;
  }
  *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
  *len = p;
  return true;
}

// "Nov 23 14:30:00[.frac]" (day may be space-padded).
bool parse_traditional(std::string_view s, YearGuesser& years, std::int64_t* out,
                       std::size_t* len) {
  if (s.size() < 15 || s[3] != ' ') return false;
  int mo = month_of(s);
  if (mo == 0) return false;
  std::size_t p = 4;
  int d = 0;
  if (s[p] == ' ') ++p;
  if (!digit(s[p])) return false;
  d = s[p++] - '0';
  if (p < s.size() && digit(s[p])) d = d * 10 + (s[p++] - '0');
  int h, mi, se;
  if (p >= s.size() || s[p] != ' ' || !digits(s, p + 1, 2, &h) || p + 3 >= s.size() ||
      s[p + 3] != ':' || !digits(s, p + 4, 2, &mi) || p + 6 >= s.size() || s[p + 6] != ':' ||
      !digits(s, p + 7, 2, &se))
    return false;
  if (d < 1 || d > 31 || !valid_hms(h, mi, se)) return false;
  p += 9;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && digit(s[p])) ++p;
  }
  *out = years.resolve(mo, d, h, mi, se);
  *len = p;
  return true;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool is_queue_id(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!digit(c) && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z')) return false;
  return true;
}

// Copies at most `max` octets of v (stored strings are bounded: report.h).
void assign_cut(std::string& out, std::string_view v, std::size_t max) {
  out.assign(v.substr(0, max));
}

// A sender keeps its last `max` octets: the domain, which report counts by.
void assign_sender(std::string& out, std::string_view v) {
  out.assign(v.size() > kMaxValue ? v.substr(v.size() - kMaxValue) : v);
}

// Postfix's from=<S> in its envelope part "; from=<S> to=<R> proto=P
// helo=<H>" (smtpd, cleanup) or "; from=<S>, to=<R>, proto=P, helo=<H>"
// (postscreen). Postfix writes S as the sender gave it, '>' and blanks
// included, so S ends where Postfix's next field starts, not at the first
// '>'. Empty when absent.
std::string_view postfix_sender(std::string_view envelope) {
  constexpr std::string_view kOpen = "; from=<";
  if (envelope.substr(0, kOpen.size()) != kOpen) return {};
  std::string_view s = envelope.substr(kOpen.size());
  std::size_t end = s.size();
  for (std::string_view next : {"> to=<", ">, to=<", "> proto=", ">, proto=", "> helo=<"}) {
    std::size_t at = s.find(next);
    if (at < end) end = at;
  }
  if (end == s.size() && !s.empty() && s.back() == '>') end = s.size() - 1;
  return s.substr(0, end);
}

void split_client(std::string_view client, LogEvent& ev) {
  std::size_t br = client.rfind('[');
  if (br == std::string_view::npos || client.empty() || client.back() != ']') {
    assign_cut(ev.client_name, client, kMaxValue);
    ev.client_addr.clear();
    return;
  }
  assign_cut(ev.client_name, client.substr(0, br), kMaxValue);
  assign_cut(ev.client_addr, client.substr(br + 1, client.size() - br - 2), kMaxAddress);
}

// Postfix's "name[addr]": no blank, ends in ']'.
bool postfix_client_shape(std::string_view c) {
  return !c.empty() && c.back() == ']' && c.find('[') != std::string_view::npos &&
         c.find(' ') == std::string_view::npos;
}

// "550 5.6.0 text" / "5.6.0 text": the code and the enhanced status code.
void parse_reply_codes(LogEvent& ev) {
  std::string_view r = ev.reply;
  std::size_t p = 0;
  if (r.size() >= 4 && digit(r[0]) && digit(r[1]) && digit(r[2]) && (r[3] == ' ' || r[3] == '-')) {
    ev.code = (r[0] - '0') * 100 + (r[1] - '0') * 10 + (r[2] - '0');
    p = 4;
  }
  // class.subject.detail, each 1-3 digits
  std::size_t q = p;
  int parts = 0;
  while (parts < 3) {
    std::size_t start = q;
    while (q < r.size() && digit(r[q]) && q - start < 3) ++q;
    if (q == start) return;
    ++parts;
    if (parts < 3) {
      if (q >= r.size() || r[q] != '.') return;
      ++q;
    }
  }
  if (q < r.size() && r[q] != ' ') return;
  if (r[p] != '2' && r[p] != '4' && r[p] != '5') return;
  ev.enhanced.assign(r.substr(p, q - p));
}

// Postfix's text after "QID: " for reject-type lines.
bool parse_postfix_reject(std::string_view qid, std::string_view action, std::string_view rest,
                          LogEvent& ev) {
  std::size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) return false;
  ev.kind = EventKind::kPostfix;
  assign_cut(ev.queue_id, qid, kMaxQueueId);
  ev.action.assign(action);
  assign_cut(ev.stage, rest.substr(0, sp), kMaxName);
  std::string_view envelope;
  if (ev.stage == "header" || ev.stage == "body") {
    // cleanup: "header Subject: x from name[addr]; from=<a> to=<b> proto=P helo=<h>: 5.7.1 text".
    // The header text, a, b and h are the sender's: the client is the first
    // Postfix-shaped "name[addr]" before a "; from=<", the reply follows the
    // last ">: " that is followed by a status code.
    for (std::size_t env = rest.find("; from=<"); env != std::string_view::npos;
         env = rest.find("; from=<", env + 1)) {
      std::string_view head = rest.substr(0, env);
      std::size_t f = head.rfind(" from ");
      if (f != std::string_view::npos && postfix_client_shape(head.substr(f + 6))) {
        split_client(head.substr(f + 6), ev);
        envelope = rest.substr(env);
        break;
      }
    }
    for (std::size_t r = rest.rfind(">: "); r != std::string_view::npos && r > 0;
         r = rest.rfind(">: ", r - 1)) {
      std::string_view reply = rest.substr(r + 3);
      if (!reply.empty() && (reply[0] == '2' || reply[0] == '4' || reply[0] == '5') &&
          reply.size() > 1 && reply[1] == '.') {
        assign_cut(ev.reply, reply, kMaxValue);
        break;
      }
    }
  } else {
    std::string_view after = rest.substr(sp);
    if (!starts_with(after, " from ")) return true;
    after.remove_prefix(6);
    // smtpd: "name[addr]: REPLY"; postscreen: "[addr]:port: REPLY". Both
    // are Postfix's; the reply that follows starts with Postfix's codes.
    std::size_t end = after.find("]: ");
    std::size_t reply_at = end + 3;
    std::size_t port = after.find("]:");
    if (port != std::string_view::npos && port < end && port + 2 < after.size() &&
        digit(after[port + 2])) {
      std::size_t q = port + 2;
      while (q < after.size() && digit(after[q])) ++q;
      if (after.substr(q, 2) == ": ") {
        end = port;
        reply_at = q + 2;
      }
    }
    if (end == std::string_view::npos) {
      split_client(after.substr(0, after.find(';')), ev);
      return true;
    }
    split_client(after.substr(0, end + 1), ev);
    std::string_view reply = after.substr(reply_at);
    std::size_t stop = reply.find("; from=<");
    if (stop != std::string_view::npos) envelope = reply.substr(stop);
    if (stop == std::string_view::npos) stop = reply.find("; proto=");
    assign_cut(ev.reply, reply.substr(0, stop), kMaxValue);
  }
  assign_sender(ev.from, postfix_sender(envelope));
  parse_reply_codes(ev);
  return true;
}

// Our verdict fields, as log_fields.h writes and reads them, into an event.
bool event_from_record(const LogRecord& rec, LogEvent& ev) {
  const std::string& action = rec.get(LogField::kAction);
  const std::string& rule = rec.get(LogField::kRule);
  if (action.empty() || rule.empty()) return false;
  ev.kind = EventKind::kOurs;
  assign_cut(ev.queue_id, rec.queue_id.empty() ? std::string_view("NOQUEUE") : rec.queue_id,
             kMaxQueueId);
  assign_cut(ev.action, action, kMaxName);
  assign_cut(ev.rule, rule, kMaxName);
  assign_cut(ev.client_name, rec.get(LogField::kClient), kMaxValue);
  assign_cut(ev.client_addr, rec.client_addr, kMaxAddress);
  assign_sender(ev.from, rec.get(LogField::kFrom));
  assign_cut(ev.reply, rec.get(LogField::kReply), kMaxValue);
  ev.stage.assign(stage_of_where(rec.get(LogField::kWhere)));
  parse_reply_codes(ev);
  return true;
}

// Our text line after "QID: ": exactly the fields of the table, in order.
bool parse_our_text(std::string_view qid, std::string_view rest, LogEvent& ev, LogRecord& rec) {
  if (qid != "NOQUEUE" && !is_queue_id(qid)) return false;
  rec.queue_id.assign(qid);
  return parse_log_record_text(rest, rec) && event_from_record(rec, ev);
}

bool parse_our_json(std::string_view text, LogEvent& ev, LogRecord& rec) {
  if (!parse_log_record_json(text, rec)) return false;
  if (!rec.queue_id.empty() && rec.queue_id != "NOQUEUE" && !is_queue_id(rec.queue_id))
    return false;
  return event_from_record(rec, ev);
}

}  // namespace

void LogEvent::clear() {
  kind = EventKind::kNone;
  timed = false;
  unreadable = false;
  time = 0;
  code = 0;
  queue_id.clear();
  stage.clear();
  action.clear();
  client_name.clear();
  client_addr.clear();
  from.clear();
  reply.clear();
  rule.clear();
  program.clear();
  enhanced.clear();
}

std::int64_t YearGuesser::resolve(int month, int day, int hour, int minute, int second) {
  auto midnight = [&](int y) {
    int ymd = y * 10000 + month * 100 + day;
    if (ymd != cached_ymd_) {
      std::tm tm{};
      tm.tm_year = y - 1900;
      tm.tm_mon = month - 1;
      tm.tm_mday = day;
      tm.tm_isdst = -1;
      cached_midnight_ = static_cast<std::int64_t>(std::mktime(&tm));
      cached_ymd_ = ymd;
    }
    return cached_midnight_;
  };
  const std::int64_t secs = hour * 3600 + minute * 60 + second;
  if (year_ == 0) {
    std::tm now_tm{};
    localtime_r(&now_, &now_tm);
    year_ = now_tm.tm_year + 1900;
    if (midnight(year_) + secs > static_cast<std::int64_t>(now_) + 86400) --year_;
  } else if (month + 6 < last_month_) {
    ++year_;  // December -> January
  } else if (month > last_month_ + 6) {
    --year_;  // a late line from the previous year right after New Year
  }
  last_month_ = month;
  return midnight(year_) + secs;
}

std::string_view stage_of_where(std::string_view where) {
  std::string_view w = where.substr(0, where.find(':'));
  if (w == "connect") return "CONNECT";
  if (w == "helo") return "HELO";
  if (w == "mail") return "MAIL";
  if (w == "rcpt") return "RCPT";
  if (w == "data") return "DATA";
  return "END-OF-MESSAGE";
}

bool parse_time_arg(std::string_view s, std::int64_t* out) {
  std::size_t len = 0;
  if (parse_rfc3339(s, out, &len) && len == s.size()) return true;
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, &mo) ||
      s[7] != '-' || !digits(s, 8, 2, &d))
    return false;
  if (s.size() > 10) {
    if ((s[10] != ' ' && s[10] != 'T') || !digits(s, 11, 2, &h) || s.size() < 16 || s[13] != ':' ||
        !digits(s, 14, 2, &mi))
      return false;
    if (s.size() > 16 && (s.size() != 19 || s[16] != ':' || !digits(s, 17, 2, &se))) return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || !valid_hms(h, mi, se)) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  tm.tm_isdst = -1;
  *out = static_cast<std::int64_t>(std::mktime(&tm));
  return true;
}

namespace {

// The next space-delimited field of an RFC 5424 header, and the rest after
// its space; false when there is no space after it.
bool next_field(std::string_view& s, std::string_view* field) {
  const std::size_t sp = s.find(' ');
  if (sp == std::string_view::npos || sp == 0) return false;
  *field = s.substr(0, sp);
  s.remove_prefix(sp + 1);
  return true;
}

// RFC 5424 STRUCTURED-DATA at the start of s: "-" or "[id k="v"...]..."
// (']', '"' and '\\' escaped inside values). Removes it and the space after
// it, if any; false when it is malformed.
bool skip_structured_data(std::string_view& s) {
  if (!s.empty() && s[0] == '-') {
    s.remove_prefix(1);
  } else {
    if (s.empty() || s[0] != '[') return false;
    std::size_t i = 0;
    while (i < s.size() && s[i] == '[') {
      bool quoted = false;
      for (++i; i < s.size(); ++i) {
        if (quoted && s[i] == '\\') {
          ++i;
        } else if (s[i] == '"') {
          quoted = !quoted;
        } else if (!quoted && s[i] == ']') {
          break;
        }
      }
      if (i >= s.size()) return false;
      ++i;  // past ']'
    }
    s.remove_prefix(i);
  }
  if (!s.empty()) {
    if (s[0] != ' ') return false;
    s.remove_prefix(1);
  }
  return true;
}

// "<PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID SD [MSG]" (RFC 5424, after
// the PRI): the time, the program (APP-NAME) and the message.
bool parse_rfc5424(std::string_view s, std::int64_t* t, std::string_view* program,
                   std::string_view* text) {
  std::size_t len = 0;
  if (!starts_with(s, "1 ")) return false;
  s.remove_prefix(2);
  if (!parse_rfc3339(s, t, &len) || len >= s.size() || s[len] != ' ') return false;
  s.remove_prefix(len + 1);
  std::string_view host, procid, msgid;
  if (!next_field(s, &host) || !next_field(s, program) || !next_field(s, &procid) ||
      !next_field(s, &msgid) || !skip_structured_data(s))
    return false;
  if (starts_with(s, "\xEF\xBB\xBF")) s.remove_prefix(3);  // the UTF-8 BOM of an MSG
  *text = s;
  return true;
}

// The time, program and message of a syslog line: traditional ("Nov 23
// 14:30:00 HOST PROGRAM[PID]: TEXT"), RFC 3339 stamped ("2026-11-23T...
// HOST PROGRAM[PID]: TEXT"), either with a "<PRI>" in front, or RFC 5424.
bool parse_syslog(std::string_view line, YearGuesser& years, std::int64_t* t,
                  std::string_view* program, std::string_view* text) {
  if (line[0] == '<') {
    const std::size_t close = line.find('>');
    if (close == std::string_view::npos || close < 2 || close > 4) return false;
    for (std::size_t i = 1; i < close; ++i)
      if (!digit(line[i])) return false;
    line.remove_prefix(close + 1);
    if (line.empty()) return false;
    if (starts_with(line, "1 ")) return parse_rfc5424(line, t, program, text);
  }
  std::size_t len = 0;
  if (digit(line[0])) {
    if (!parse_rfc3339(line, t, &len)) return false;
  } else if (!parse_traditional(line, years, t, &len)) {
    return false;
  }
  // " HOST PROGRAM[PID]: TEXT"
  if (len >= line.size() || line[len] != ' ') return false;
  std::size_t host_end = line.find(' ', len + 1);
  if (host_end == std::string_view::npos) return false;
  std::size_t colon = line.find(": ", host_end + 1);
  if (colon == std::string_view::npos) return false;
  *program = line.substr(host_end + 1, colon - host_end - 1);
  *program = program->substr(0, program->find('['));
  *text = line.substr(colon + 2);
  return true;
}

}  // namespace

bool parse_log_line(std::string_view line, YearGuesser& years, LogEvent& ev) {
  ev.clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return false;
  if (line[0] == '{') {  // a bare JSON line of ours
    if (parse_our_json(line, ev, ev.record)) return true;
    ev.clear();
    ev.unreadable = line.find("\"action\":") != std::string_view::npos;
    return false;
  }
  std::int64_t t = 0;
  std::string_view program, text;
  if (!parse_syslog(line, years, &t, &program, &text)) return false;
  ev.time = t;
  ev.timed = true;

  if (starts_with(program, "esmtp-inspect")) {
    bool ok;
    if (!text.empty() && text[0] == '{') {
      ok = parse_our_json(text, ev, ev.record);
    } else {
      std::size_t q = text.find(": ");
      ok = q != std::string_view::npos &&
           parse_our_text(text.substr(0, q), text.substr(q + 2), ev, ev.record);
    }
    if (!ok) {
      ev.clear();
      ev.time = t;
      ev.timed = true;
      const std::size_t q = text.find(": ");
      ev.unreadable =
          (!text.empty() && text[0] == '{')
              ? text.find("\"action\":") != std::string_view::npos
              : q != std::string_view::npos && starts_with(text.substr(q + 2), "action=");
      return false;
    }
    ev.time = t;
    ev.timed = true;
    ev.program.assign(program);
    return true;
  }
  // Postfix (any syslog_name: "postfix/smtpd", "postfix-out/cleanup", ...).
  std::size_t slash = program.rfind('/');
  std::string_view daemon = slash == std::string_view::npos ? program : program.substr(slash + 1);
  if (daemon == "smtpd" || daemon == "cleanup" || daemon == "postscreen") {
    if (starts_with(text, "connect from ")) {
      if (daemon != "smtpd") return false;
      ev.kind = EventKind::kConnect;
      return true;
    }
    std::size_t q = text.find(": ");
    if (q == std::string_view::npos) return false;
    std::string_view qid = text.substr(0, q);
    if (!is_queue_id(qid)) return false;
    std::string_view rest = text.substr(q + 2);
    std::size_t k = rest.find(": ");
    if (k == std::string_view::npos || k > 16) return false;
    std::string_view action = rest.substr(0, k);
    if (action != "reject" && action != "reject_warning" && action != "milter-reject" &&
        action != "milter-hold" && action != "milter-discard" && action != "hold" &&
        action != "discard")
      return false;
    if (!parse_postfix_reject(qid, action, rest.substr(k + 2), ev)) {
      ev.kind = EventKind::kNone;
      return false;
    }
    ev.program.assign(program);
    return true;
  }
  if (text.find("status=sent") != std::string_view::npos &&
      (daemon == "smtp" || daemon == "lmtp" || daemon == "local" || daemon == "virtual" ||
       daemon == "pipe" || daemon == "relay")) {
    ev.kind = EventKind::kDelivered;
    return true;
  }
  return false;
}

}  // namespace esmtp::report
