#include "common/util/pattern.h"

#include <re2/re2.h>

namespace esmtp {

std::string glob_to_re2(std::string_view glob) {
  std::string out = "(?is)";
  for (std::size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '*') {
      out += ".*";
    } else if (c == '?') {
      out += '.';
    } else if (c == '[') {
      // Copy a bracket expression; "[!x]" is the shell spelling of "[^x]".
      std::size_t close = glob.find(']', i + 2);
      if (close == std::string_view::npos) {
        out += "\\[";
        continue;
      }
      out += '[';
      std::size_t j = i + 1;
      if (glob[j] == '!' || glob[j] == '^') {
        out += '^';
        ++j;
      }
      for (; j < close; ++j) {
        if (glob[j] == '\\' || glob[j] == '[') out += '\\';
        out += glob[j];
      }
      out += ']';
      i = close;
    } else {
      out += RE2::QuoteMeta(std::string_view(&glob[i], 1));
    }
  }
  return out;
}

std::optional<std::string> PatternList::add(std::string_view source) {
  Entry e;
  e.source = std::string(source);
  std::string expr;
  if (source.substr(0, 3) == "re:") {
    expr = std::string(source.substr(3));
    e.anchored = false;
  } else {
    expr = glob_to_re2(source);
    e.anchored = true;
  }
  RE2::Options opts;
  opts.set_log_errors(false);
  // Filenames and addresses are measured in octets and may not be UTF-8.
  opts.set_encoding(RE2::Options::EncodingLatin1);
  auto re = std::make_shared<const RE2>(expr, opts);
  if (!re->ok()) return re->error();
  e.re = std::move(re);
  entries_.push_back(std::move(e));
  return std::nullopt;
}

const std::string* PatternList::match(std::string_view subject) const {
  for (const auto& e : entries_) {
    bool hit = e.anchored ? RE2::FullMatch(subject, *e.re) : RE2::PartialMatch(subject, *e.re);
    if (hit) return &e.source;
  }
  return nullptr;
}

std::vector<std::string> PatternList::sources() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.source);
  return out;
}

}  // namespace esmtp
