// pattern: operator-supplied match patterns for filenames and addresses.
//
// A pattern is a glob ("*.exe", "*@spam.example"; case-insensitive, matches the
// whole string) or "re:" followed by an RE2 expression (searched anywhere; add
// ^/$ and (?i) as needed). RE2 guarantees linear-time matching, so a hostile
// filename cannot make a pattern take exponential time.
//
// Errors: compile() returns nullopt and the RE2 error text for a bad pattern.
// Thread-safety: a compiled PatternList is immutable and may be shared.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace esmtp {

class PatternList {
 public:
  // Adds one pattern; returns an error message if it does not compile.
  std::optional<std::string> add(std::string_view source);

  // The source text of the first pattern that matches, or nullptr.
  const std::string* match(std::string_view subject) const;

  bool empty() const { return entries_.empty(); }
  std::vector<std::string> sources() const;

 private:
  struct Entry {
    std::string source;
    std::shared_ptr<const re2::RE2> re;
    bool anchored;  // globs match the whole subject
  };
  std::vector<Entry> entries_;
};

// Translates a glob to RE2 syntax (exposed for tests).
std::string glob_to_re2(std::string_view glob);

}  // namespace esmtp
