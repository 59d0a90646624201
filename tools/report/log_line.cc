#include "tools/report/log_line.h"

#include <nlohmann/json.hpp>

#include <cstring>

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

// RFC 3339 at the start of s: "2026-11-23T14:30:00[.frac](Z|+hh:mm)". Sets
// *len to the characters used.
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
    if (!digits(s, p + 1, 2, &oh) || p + 3 >= s.size() || s[p + 3] != ':' ||
        !digits(s, p + 4, 2, &om))
      return false;
    offset = (oh * 60 + om) * 60 * (s[p] == '-' ? -1 : 1);
    p += 6;
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

// Value of key=<...> (Postfix's from=<a@b>), empty when absent.
std::string_view angle_field(std::string_view s, std::string_view key) {
  std::size_t at = s.find(key);
  if (at == std::string_view::npos) return {};
  std::size_t start = at + key.size();
  std::size_t end = s.find('>', start);
  if (end == std::string_view::npos) end = s.size();
  return s.substr(start, end - start);
}

void split_client(std::string_view client, LogEvent& ev) {
  std::size_t br = client.rfind('[');
  if (br == std::string_view::npos || client.back() != ']') {
    ev.client_name.assign(client);
    ev.client_addr.clear();
    return;
  }
  ev.client_name.assign(client.substr(0, br));
  ev.client_addr.assign(client.substr(br + 1, client.size() - br - 2));
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
  ev.queue_id.assign(qid);
  ev.action.assign(action);
  ev.stage.assign(rest.substr(0, sp));
  std::size_t env = rest.find("; from=<");
  std::string_view envelope = env == std::string_view::npos ? std::string_view() : rest.substr(env);
  if (ev.stage == "header" || ev.stage == "body") {
    // cleanup: "header Subject: x from name[addr]; from=<a> to=<b> proto=P helo=<h>: 5.7.1 text"
    std::string_view head = rest.substr(0, env == std::string_view::npos ? rest.size() : env);
    std::size_t f = head.rfind(" from ");
    if (f != std::string_view::npos) split_client(head.substr(f + 6), ev);
    std::size_t r = envelope.find(">: ");
    if (r != std::string_view::npos) ev.reply.assign(envelope.substr(r + 3));
  } else {
    std::string_view after = rest.substr(sp);
    if (!starts_with(after, " from ")) return true;
    after.remove_prefix(6);
    // smtpd: "name[addr]: REPLY"; postscreen: "[addr]:port: REPLY".
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
    if (stop == std::string_view::npos) stop = reply.find("; proto=");
    ev.reply.assign(reply.substr(0, stop));
  }
  ev.from.assign(angle_field(envelope, "from=<"));
  parse_reply_codes(ev);
  return true;
}

void unescape_into(std::string& out, std::string_view v) {
  out.clear();
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == '"' || v[i + 1] == '\\')) ++i;
    out += v[i];
  }
}

// Our text line after "QID: ": key=value fields (values quoted when they
// hold blanks; from=<...> and to=<...> in angle brackets).
bool parse_our_text(std::string_view qid, std::string_view rest, LogEvent& ev) {
  if (!starts_with(rest, "action=")) return false;
  ev.queue_id.assign(qid);
  std::string where;
  std::size_t p = 0;
  while (p < rest.size()) {
    while (p < rest.size() && rest[p] == ' ') ++p;
    std::size_t eq = rest.find('=', p);
    if (eq == std::string_view::npos) break;
    std::string_view key = rest.substr(p, eq - p);
    std::size_t v = eq + 1, end;
    std::string_view value;
    if (v < rest.size() && rest[v] == '"') {
      end = v + 1;
      while (end < rest.size() && rest[end] != '"') end += rest[end] == '\\' ? 2 : 1;
      value = rest.substr(v + 1, std::min(end, rest.size()) - v - 1);
      ++end;
    } else if (v < rest.size() && rest[v] == '<' && (key == "from" || key == "to")) {
      end = rest.find("> ", v);
      if (end == std::string_view::npos) end = rest.size() - (rest.back() == '>' ? 1 : 0);
      value = rest.substr(v + 1, end - v - 1);
      ++end;
    } else {
      end = rest.find(' ', v);
      if (end == std::string_view::npos) end = rest.size();
      value = rest.substr(v, end - v);
    }
    p = end;
    if (key == "action")
      ev.action.assign(value);
    else if (key == "rule")
      ev.rule.assign(value);
    else if (key == "where")
      where.assign(value);
    else if (key == "client")
      split_client(value, ev);
    else if (key == "from")
      unescape_into(ev.from, value);
    else if (key == "reply")
      unescape_into(ev.reply, value);
  }
  if (ev.rule.empty() || ev.action.empty()) return false;
  ev.stage.assign(stage_of_where(where));
  ev.kind = EventKind::kOurs;
  parse_reply_codes(ev);
  return true;
}

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool parse_our_json(std::string_view text, LogEvent& ev) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  ev.rule = json_string(j, "rule");
  ev.action = json_string(j, "action");
  if (ev.rule.empty() || ev.action.empty()) return false;
  ev.queue_id = json_string(j, "queue_id");
  if (ev.queue_id.empty()) ev.queue_id = "NOQUEUE";
  ev.client_name = json_string(j, "client");
  ev.client_addr = json_string(j, "client_address");
  ev.from = json_string(j, "from");
  ev.reply = json_string(j, "reply");
  ev.stage.assign(stage_of_where(json_string(j, "where")));
  ev.kind = EventKind::kOurs;
  parse_reply_codes(ev);
  return true;
}

bool is_queue_id(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!digit(c) && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z')) return false;
  return true;
}

}  // namespace

void LogEvent::clear() {
  kind = EventKind::kNone;
  timed = false;
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

bool parse_log_line(std::string_view line, YearGuesser& years, LogEvent& ev) {
  ev.clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return false;
  if (line[0] == '{') return parse_our_json(line, ev);  // a bare JSON line of ours
  std::size_t len = 0;
  std::int64_t t = 0;
  if (digit(line[0])) {
    if (!parse_rfc3339(line, &t, &len)) return false;
  } else if (!parse_traditional(line, years, &t, &len)) {
    return false;
  }
  // " HOST PROGRAM[PID]: TEXT"
  if (len >= line.size() || line[len] != ' ') return false;
  std::size_t host_end = line.find(' ', len + 1);
  if (host_end == std::string_view::npos) return false;
  std::size_t colon = line.find(": ", host_end + 1);
  if (colon == std::string_view::npos) return false;
  std::string_view program = line.substr(host_end + 1, colon - host_end - 1);
  program = program.substr(0, program.find('['));
  std::string_view text = line.substr(colon + 2);
  ev.time = t;
  ev.timed = true;

  if (starts_with(program, "esmtp-inspect")) {
    bool ok;
    if (!text.empty() && text[0] == '{') {
      ok = parse_our_json(text, ev);
    } else {
      std::size_t q = text.find(": ");
      ok = q != std::string_view::npos && parse_our_text(text.substr(0, q), text.substr(q + 2), ev);
    }
    if (!ok) {
      ev.kind = EventKind::kNone;
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
    if (action != "reject" && action != "milter-reject" && action != "milter-hold" &&
        action != "milter-discard" && action != "hold" && action != "discard")
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
