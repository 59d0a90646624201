// text: small string helpers shared across modules (ASCII only: these are
// for protocol tokens, Postfix parameters and host names, never for text
// in a charset).
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace esmtp {

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
