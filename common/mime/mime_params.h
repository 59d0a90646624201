// mime_params: structured MIME header fields and attachment filenames.
//
// Parses the body of Content-Type / Content-Disposition / Content-Transfer-
// Encoding fields (RFC 2045: value; attribute=value; ... with comments and
// quoted strings) and decodes filename parameters the ways mail clients write
// them: RFC 2231 extended values and continuations (name*=, name*0*=, name*1=),
// with or without a charset, and RFC 2047 encoded words (B and Q), usually
// inside quotes where RFC 2047 says they should not be. The result is UTF-8.
//
// Inputs are hostile: unbalanced quotes and comments, missing or out-of-order
// continuation segments, bad base64, unknown charsets. Parsing is lenient (do
// what clients and Postfix do) and never fails; a value that cannot be decoded
// is returned raw with `decoded == false`.
//
// Every parameter decodes the same way (boundary, name, filename, charset,
// ...): a part's structure cannot be hidden by writing its boundary in RFC
// 2231 form (boundary*0*=us-ascii''..., as Python's email package does).
//
// Work is linear in the input: no scan restarts from each position (an
// unterminated "=?" does not send a search to the end of the field again for
// every later "=?"). Each function adds the octets it looks at to an optional
// step counter, so tests and the fuzz target check linearity by counting,
// not by timing: a field of n octets costs at most kStepsPerOctet * n +
// kStepsFixed steps through parse_structured_field, decoded_param for a few
// names and decode_rfc2047.
//
// Charset conversion uses iconv(3) from the C library.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace esmtp {

inline constexpr std::size_t kMaxParams = 256;  // parameters kept per field, unless named
// RFC 2231 continuation segments read per parameter: indexes have at most
// three digits (name*0 ... name*999), so more segments cannot be a valid
// sequence; a value with more is undecodable.
inline constexpr std::size_t kMaxSegments = 1000;

// The bound the step counters are checked against (see above).
inline constexpr std::uint64_t kStepsPerOctet = 64;
inline constexpr std::uint64_t kStepsFixed = 256;

struct MimeParam {
  std::string name;   // lower case, including any "*" / "*N" / "*N*" suffix
  std::string value;  // unquoted, backslash escapes removed
};

struct StructuredField {
  std::string value;  // "multipart/mixed", "attachment", "base64": lower case
  std::vector<MimeParam> params;

  // The raw value of the plain parameter `name` (no RFC 2231 handling).
  const std::string* param(std::string_view name) const;
};

// Parses a field body. Without `wanted`, the first kMaxParams parameters are
// kept. With `wanted`, every parameter whose name (before any "*") is one of
// them is kept, whatever number of other parameters comes before it, and no
// other: junk parameters cannot push a boundary or filename out of view.
StructuredField parse_structured_field(std::string_view body,
                                       std::initializer_list<std::string_view> wanted = {},
                                       std::uint64_t* steps = nullptr);

struct DecodedText {
  std::string text;     // UTF-8 when decoded, else the raw text
  bool decoded = true;  // false: some encoding could not be decoded
};

// Whether a plain (not RFC 2231) value may hold RFC 2047 encoded words:
// clients decode them in filenames, never in a boundary.
enum class EncodedWords : bool { kNo, kYes };

// The value of parameter `name` ("filename", "name", "boundary", ...) with
// RFC 2231 decoding (name*=, name*0*=, name*1=, ..., charset'lang'%XX)
// applied, and RFC 2047 decoding of a plain value when `words` says so;
// nullopt when absent. The RFC 2231 form wins over a plain value of the same
// name, as in Thunderbird. An undecodable RFC 2231 value is the raw
// concatenation of its segments, `decoded == false`.
std::optional<DecodedText> decoded_param(const StructuredField& f, std::string_view name,
                                         EncodedWords words = EncodedWords::kYes,
                                         std::uint64_t* steps = nullptr);

// The plain (not RFC 2231) value of parameter `name`, RFC 2047-decoded when
// `words` says so; nullopt when there is none. Clients disagree on which
// form wins when a field has both (Thunderbird: name*; Python's email
// package: the first one), so the MIME scanner reports both.
std::optional<DecodedText> plain_param(const StructuredField& f, std::string_view name,
                                       EncodedWords words = EncodedWords::kYes,
                                       std::uint64_t* steps = nullptr);

// Decodes RFC 2047 encoded words in `in`; text outside encoded words is kept.
// Whitespace between adjacent encoded words is dropped (RFC 2047 section 6.2).
// Words longer than RFC 2047's 75 octets are decoded too, as clients do.
DecodedText decode_rfc2047(std::string_view in, std::uint64_t* steps = nullptr);

// Converts `bytes` in `charset` to UTF-8. Empty charset, us-ascii and utf-8
// are validated, not converted. Returns false for unknown charsets and
// invalid input.
bool charset_to_utf8(std::string_view charset, std::string_view bytes, std::string& out);

bool is_valid_utf8(std::string_view s);

// The 6-bit value of a base64 character (RFC 2045), -1 for any other octet.
// Inline: the MIME scanner calls it for every octet of a base64 body.
inline int base64_value(unsigned char c) {
  // A table, not comparisons: base64 bodies are random-looking and branches
  // on them mispredict.
  static constexpr auto kTable = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    constexpr std::string_view alpha =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alpha.size(); ++i)
      t[static_cast<unsigned char>(alpha[i])] = static_cast<signed char>(i);
    return t;
  }();
  return kTable[c];
}

// The value of a hexadecimal digit, -1 for any other character.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace esmtp
