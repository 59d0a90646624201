// text: small string helpers shared across modules (ASCII only: these are
// for protocol tokens, Postfix parameters and host names, never for text
// in a charset).
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace esmtp {

// A duration as the configuration writes it: "1h", "10m", "2s", "500ms"
// (the largest unit that divides it).
inline std::string duration_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 3600000 == 0 && ms) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0 && ms) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// `s` without leading and trailing white space.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Whether `a` and `b` are equal but for the case of ASCII letters (header
// field names, SMTP keywords, charset names).
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

// `s` with ASCII letters in lower case.
inline std::string to_lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

// `s` cut to at most 200 octets plus "..." for a log line or a verdict, at a
// character boundary so that UTF-8 stays readable.
inline std::string shown(std::string_view s) {
  constexpr std::size_t kShownMax = 200;
  if (s.size() <= kShownMax) return std::string(s);
  std::size_t cut = kShownMax;
  while (cut > kShownMax - 3 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

// The words of `s`, separated by blanks.
inline std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> words;
  while (true) {
    s = trim(s);
    if (s.empty()) return words;
    const std::size_t end = std::min(s.find_first_of(" \t"), s.size());
    words.emplace_back(s.substr(0, end));
    s.remove_prefix(end);
  }
}

// The strings of `v` with `sep` between them.
inline std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string r;
  for (const auto& s : v) {
    if (!r.empty()) r += sep;
    r += s;
  }
  return r;
}

}  // namespace esmtp
