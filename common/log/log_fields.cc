#include "common/log/log_fields.h"

#include <nlohmann/json.hpp>

#include <charconv>

#include "common/mime/mime_params.h"

namespace esmtp {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::size_t index_of(LogField f) {
  return static_cast<std::size_t>(f);
}

// Octets that also need \xHH outside quotes: they would end an unquoted value
// (blank), its brackets, or the client's [addr].
bool special_for(FieldForm form, unsigned char c) {
  if (form == FieldForm::kAngle || form == FieldForm::kClient)
    if (c == ' ' || c == '<' || c == '>') return true;
  if (form == FieldForm::kClient && (c == '[' || c == ']')) return true;
  return false;
}

// Appends s escaped for `form` (quoted token values use kQuoted). Valid UTF-8
// is kept (filenames in any language stay readable, as Postfix logs SMTPUTF8
// addresses); control octets and invalid octets become \xHH.
void escape_into(std::string& out, std::string_view s, FieldForm form) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = (c & 0xe0) == 0xc0   ? 2
                            : (c & 0xf0) == 0xe0 ? 3
                            : (c & 0xf8) == 0xf0 ? 4
                                                 : 0;
      if (n && i + n <= s.size() && is_valid_utf8(s.substr(i, n))) {
        out.append(s.substr(i, n));
        i += n;
        continue;
      }
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f || special_for(form, c)) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
}

bool plain_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Undoes escape_into(); false on a backslash that starts no escape.
bool unescape(std::string_view s, std::string& out) {
  out.clear();
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 1 >= s.size()) return false;
    const char e = s[i + 1];
    if (e == '\\' || e == '"') {
      out += e;
      ++i;
    } else if (e == 'x' && i + 3 < s.size() && hex_value(s[i + 2]) >= 0 &&
               hex_value(s[i + 3]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3]));
      i += 3;
    } else {
      return false;
    }
  }
  return true;
}

// A "..." value starting at s[at]; *end is just past the closing quote.
bool parse_quoted(std::string_view s, std::size_t at, std::size_t* end, std::string& out) {
  if (at >= s.size() || s[at] != '"') return false;
  std::size_t p = at + 1;
  while (p < s.size() && s[p] != '"') p += s[p] == '\\' ? 2 : 1;
  if (p >= s.size()) return false;
  *end = p + 1;
  return unescape(s.substr(at + 1, p - at - 1), out);
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

void LogRecord::clear() {
  queue_id.clear();
  for (auto& v : value) v.clear();
  present.fill(false);
  client_addr.clear();
  numeric = false;
}

std::string quote_token(std::string_view s) {
  if (plain_token(s)) return std::string(s);
  std::string out = "\"";
  escape_into(out, s, FieldForm::kQuoted);
  out += '"';
  return out;
}

std::string log_record_text(const LogRecord& rec) {
  std::string out;
  out.reserve(256);
  if (!rec.queue_id.empty()) {
    out += rec.queue_id;
    out += ": ";
  }
  bool first = true;
  for (const auto& f : kLogFields) {
    if (!rec.has(f.id)) continue;
    if (!first) out += ' ';
    first = false;
    out += f.key;
    out += '=';
    const std::string& v = rec.get(f.id);
    switch (f.form) {
      case FieldForm::kToken:
        if (plain_token(v)) {
          out += v;
        } else {
          out += '"';
          escape_into(out, v, FieldForm::kQuoted);
          out += '"';
        }
        break;
      case FieldForm::kQuoted:
        out += '"';
        escape_into(out, v, FieldForm::kQuoted);
        out += '"';
        break;
      case FieldForm::kAngle:
        out += '<';
        escape_into(out, v, FieldForm::kAngle);
        out += '>';
        break;
      case FieldForm::kClient:
        escape_into(out, v, FieldForm::kClient);
        out += '[';
        escape_into(out, rec.client_addr, FieldForm::kClient);
        out += ']';
        break;
    }
  }
  return out;
}

std::string log_record_json(const LogRecord& rec) {
  nlohmann::ordered_json j;
  if (!rec.queue_id.empty()) j["queue_id"] = rec.queue_id;
  std::uint64_t actual = 0, limit = 0;
  // Numbers only when they print back as written ("007" stays a string).
  const bool numbers = rec.numeric && parse_u64(rec.get(LogField::kActual), actual) &&
                       parse_u64(rec.get(LogField::kLimit), limit) &&
                       std::to_string(actual) == rec.get(LogField::kActual) &&
                       std::to_string(limit) == rec.get(LogField::kLimit);
  for (const auto& f : kLogFields) {
    const std::string key(f.key);
    if (!rec.has(f.id)) {
      if (f.json_always)
        j[key] = f.id == LogField::kReply ? nlohmann::ordered_json() : nlohmann::ordered_json("");
      continue;
    }
    if (numbers && f.id == LogField::kActual) {
      j[key] = actual;
    } else if (numbers && f.id == LogField::kLimit) {
      j[key] = limit;
    } else {
      j[key] = rec.get(f.id);
      if (f.form == FieldForm::kClient) j[std::string(kJsonClientAddress)] = rec.client_addr;
    }
  }
  // Bytes from the network may not be UTF-8: replace rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool parse_log_record_text(std::string_view s, LogRecord& rec) {
  const std::string queue_id = std::move(rec.queue_id);
  rec.clear();
  rec.queue_id = queue_id;
  std::size_t next = 0;  // the first table row the next key may be
  std::size_t p = 0;
  while (true) {
    const std::size_t eq = s.find('=', p);
    if (eq == std::string_view::npos) return false;
    const std::string_view key = s.substr(p, eq - p);
    std::size_t row = next;
    while (row < kLogFields.size() && kLogFields[row].key != key) ++row;
    if (row == kLogFields.size()) return false;  // unknown, repeated or out of order
    next = row + 1;
    const LogFieldSpec& f = kLogFields[row];
    std::string& out = rec.value[index_of(f.id)];
    rec.present[index_of(f.id)] = true;
    const std::size_t v = eq + 1;
    std::size_t end = 0;
    switch (f.form) {
      case FieldForm::kToken:
        if (v < s.size() && s[v] == '"') {
          if (!parse_quoted(s, v, &end, out)) return false;
        } else {
          end = std::min(s.find(' ', v), s.size());
          const std::string_view raw = s.substr(v, end - v);
          if (raw.empty() || raw.find_first_of("\"\\") != std::string_view::npos) return false;
          out.assign(raw);
        }
        break;
      case FieldForm::kQuoted:
        if (!parse_quoted(s, v, &end, out)) return false;
        break;
      case FieldForm::kAngle: {
        if (v >= s.size() || s[v] != '<') return false;
        const std::size_t close = s.find('>', v + 1);
        if (close == std::string_view::npos) return false;
        if (!unescape(s.substr(v + 1, close - v - 1), out)) return false;
        end = close + 1;
        break;
      }
      case FieldForm::kClient: {
        end = std::min(s.find(' ', v), s.size());
        const std::string_view raw = s.substr(v, end - v);
        const std::size_t br = raw.rfind('[');
        if (br == std::string_view::npos || raw.back() != ']') return false;
        if (!unescape(raw.substr(0, br), out) ||
            !unescape(raw.substr(br + 1, raw.size() - br - 2), rec.client_addr))
          return false;
        break;
      }
    }
    if (end == s.size()) break;
    if (s[end] != ' ' || end + 1 == s.size()) return false;
    p = end + 1;
  }
  return rec.has(LogField::kAction) && rec.has(LogField::kRule) &&
         !rec.get(LogField::kAction).empty() && !rec.get(LogField::kRule).empty();
}

bool parse_log_record_json(std::string_view line, LogRecord& rec) {
  rec.clear();
  // Top-level keys seen, to refuse a repeated one (nlohmann keeps the last).
  bool repeated = false;
  std::array<bool, kLogFieldCount + 2> seen{};
  auto slot = [](const std::string& key) -> std::size_t {
    for (std::size_t i = 0; i < kLogFields.size(); ++i)
      if (kLogFields[i].key == key) return i;
    if (key == kJsonClientAddress) return kLogFieldCount;
    if (key == "queue_id") return kLogFieldCount + 1;
    return kLogFieldCount + 2;
  };
  bool unknown = false;
  nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event,
                                             nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      const std::size_t i = slot(parsed.get_ref<const std::string&>());
      if (i >= seen.size()) {
        unknown = true;
      } else {
        repeated = repeated || seen[i];
        seen[i] = true;
      }
    }
    return true;
  };
  nlohmann::json j = nlohmann::json::parse(line, cb, false);
  if (j.is_discarded() || !j.is_object() || repeated || unknown) return false;
  auto text_of = [](const nlohmann::json& v, std::string& out) {
    if (v.is_string()) {
      out = v.get<std::string>();
    } else if (v.is_number_unsigned()) {
      out = std::to_string(v.get<std::uint64_t>());
    } else {
      return false;
    }
    return true;
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::size_t i = slot(it.key());
    if (it->is_null()) continue;  // reply: null
    std::string v;
    if (!text_of(*it, v)) return false;
    if (i == kLogFieldCount) {
      rec.client_addr = std::move(v);
    } else if (i == kLogFieldCount + 1) {
      rec.queue_id = std::move(v);
    } else {
      if (it->is_number_unsigned()) rec.numeric = true;
      rec.value[index_of(kLogFields[i].id)] = std::move(v);
      rec.present[index_of(kLogFields[i].id)] = true;
    }
  }
  return !rec.get(LogField::kAction).empty() && !rec.get(LogField::kRule).empty();
}

}  // namespace esmtp
