// mime_params_fuzz: structured MIME fields and filename decoding
// (common/mime/mime_params.h) on hostile field bodies.
//
// The input is used four ways:
//  1. as a field body: parse_structured_field, then decoded_param("filename")
//     and decoded_param("name");
//  2. as text for decode_rfc2047;
//  3. split as [n][charset: n % 48 octets][bytes] for charset_to_utf8;
//  4. as a filename to encode (RFC 2047 B and Q words, RFC 2231 extended value
//     and continuations in fuzzer-chosen order) and decode again.
//
// Invariants (abort() on violation):
//  - decoded == true means valid UTF-8 (decoded_param; decode_rfc2047 of
//    UTF-8 text; charset_to_utf8 on success), and is_valid_utf8 agrees with a
//    reference validator (RFC 3629);
//  - parsing is linear: field value, names and values together are no longer
//    than the input; names and the value are lower case; at most kMaxParams;
//  - work is linear: parsing the field (with and without a list of wanted
//    names), decoding filename, name, boundary and charset and decoding it as
//    RFC 2047 text costs at most kStepsPerOctet * n + kStepsFixed steps for n
//    octets (mime_params.h). Why 64: each octet is looked at a bounded number
//    of times: about 6 when parsed twice (cursor, lower-casing, the wanted
//    check), up to 3 per decoded name for the name comparison (4 names),
//    about 10 in the one value it belongs to (sort share, percent-decoding,
//    charset conversion and validation of up to 4 output octets), and about
//    10 in RFC 2047 decoding (the three forward-only searches, the copy, the
//    word's decoding and conversion): under 40, so 64 leaves headroom without
//    hiding a search restarted from each position, which at the fuzzer's
//    4096 octets costs hundreds of steps per octet;
//  - encoding any UTF-8 filename the ways clients do and decoding it yields
//    the same octets, decoded; non-UTF-8 octets under charset utf-8 are not
//    "decoded".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mime/mime_params.h"

namespace esmtp {
namespace {

[[noreturn]] void fail(std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  std::fprintf(stderr, "mime_params_fuzz: invariant violated: %.*s\n  [%.*s]\n  [%.*s]\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(a.size()), a.data(),
               static_cast<int>(b.size()), b.data());
  std::abort();
}

void check(bool ok, std::string_view what, std::string_view a = {}, std::string_view b = {}) {
  if (!ok) fail(what, a, b);
}

// RFC 3629 section 4, written independently of is_valid_utf8.
bool reference_utf8(std::string_view s) {
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto tail = [&](std::size_t k, unsigned lo, unsigned hi) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  while (i < s.size()) {
    const unsigned c = byte(i);
    if (c <= 0x7f) {
      i += 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (!tail(i + 1, 0x80, 0xbf)) return false;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      const unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
      if (!tail(i + 1, lo, hi) || !tail(i + 2, 0x80, 0xbf)) return false;
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
      if (!tail(i + 1, lo, hi) || !tail(i + 2, 0x80, 0xbf) || !tail(i + 3, 0x80, 0xbf))
        return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

void check_decoded(const DecodedText& d, std::string_view input, std::string_view what) {
  if (d.decoded) check(is_valid_utf8(d.text), what, d.text, input);
  // Output is bounded by the input: at most 4 UTF-8 octets per input octet
  // plus iconv's slack per encoded word.
  check(d.text.size() <= 4 * input.size() + 64, "decoded text out of proportion", what);
}

constexpr char kHex[] = "0123456789ABCDEF";

std::string base64(std::string_view in) {
  static constexpr char kAlpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlpha[(v >> k) & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    const unsigned v =
        static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string hex_escape(unsigned char c, char mark) {
  return std::string{mark, kHex[c >> 4], kHex[c & 15]};
}

// Encodes `name` as clients do and checks that it decodes to itself.
void round_trip(std::string_view name, std::uint8_t shape) {
  const bool utf8 = reference_utf8(name);
  auto expect = [&](const std::optional<DecodedText>& d, std::string_view how) {
    check(d.has_value(), "encoded filename not found", how);
    if (utf8) {
      check(d->decoded && d->text == name, "filename does not survive encoding", how, d->text);
    } else {
      check(!d->decoded, "non-UTF-8 octets decoded as utf-8", how, d->text);
    }
  };

  // RFC 2047 B, quoted as clients do.
  std::string field = "attachment; filename=\"=?utf-8?B?" + base64(name) + "?=\"";
  expect(decoded_param(parse_structured_field(field), "filename"), field);

  // RFC 2047 Q: every octet escaped, so no "?=" or quote can appear.
  std::string q = "=?UTF-8?Q?";
  for (unsigned char c : name) q += hex_escape(c, '=');
  q += "?=";
  expect(decode_rfc2047(q), q);

  // RFC 2231 extended value, in one piece and in continuations.
  std::vector<std::string> escaped;
  for (unsigned char c : name) escaped.push_back(hex_escape(c, '%'));
  field = "application/octet-stream; name*=utf-8'en'";
  for (const auto& e : escaped) field += e;
  expect(decoded_param(parse_structured_field(field), "name"), field);

  // Continuations of `per` octets each (at most kMaxSegments segments), in
  // order, reversed or rotated; segment 0 carries the charset.
  const std::size_t min_per = (escaped.size() + kMaxSegments - 1) / kMaxSegments;
  const std::size_t per = std::max<std::size_t>({1, min_per, std::size_t{shape & 15u}});
  std::vector<std::string> segs;
  for (std::size_t i = 0; i * per < escaped.size() || i == 0; ++i) {
    std::string v = i == 0 ? "utf-8''" : "";
    for (std::size_t k = i * per; k < std::min(escaped.size(), (i + 1) * per); ++k) v += escaped[k];
    segs.push_back("filename*" + std::to_string(i) + "*=" + v);
  }
  if (shape & 16) std::reverse(segs.begin(), segs.end());
  if (shape & 32) std::rotate(segs.begin(), segs.begin() + segs.size() / 2, segs.end());
  field = "attachment";
  for (const auto& s : segs) field += (shape & 64 ? ";\r\n\t" : "; ") + s;
  expect(decoded_param(parse_structured_field(field, {"filename"}), "filename"), field);
}

}  // namespace
}  // namespace esmtp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace esmtp;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  check(is_valid_utf8(in) == reference_utf8(in), "is_valid_utf8 disagrees with RFC 3629", in);

  // 1. A field body.
  std::uint64_t steps = 0;
  StructuredField f = parse_structured_field(in, {}, &steps);
  check(f.params.size() <= kMaxParams, "too many parameters kept");
  check(!has_upper(f.value), "field value not lower case", f.value);
  std::size_t total = f.value.size();
  for (const auto& p : f.params) {
    check(!p.name.empty() && !has_upper(p.name), "bad parameter name", p.name);
    check(p.name.find_first_of("=;") == std::string::npos, "separator in a parameter name", p.name);
    total += p.name.size() + p.value.size();
  }
  check(total <= size, "parsed field larger than its input");
  for (std::string_view name : {"filename", "name"})
    if (auto d = decoded_param(f, name, EncodedWords::kYes, &steps)) check_decoded(*d, in, name);
  // As the MIME scanner reads it: every parameter it needs, however many
  // others come first.
  StructuredField wanted = parse_structured_field(in, {"filename", "name", "boundary"}, &steps);
  for (const auto& p : wanted.params) {
    const std::string_view base = std::string_view(p.name).substr(0, p.name.find('*'));
    check(base == "filename" || base == "name" || base == "boundary", "unwanted parameter kept",
          p.name);
  }
  for (std::string_view name : {"filename", "name", "boundary", "charset"}) {
    auto d = decoded_param(wanted, name,
                           name == "boundary" ? EncodedWords::kNo : EncodedWords::kYes, &steps);
    if (d && name != "charset") check_decoded(*d, in, name);
  }
  for (std::string_view name : {"filename", "name"})
    if (auto d = plain_param(wanted, name, EncodedWords::kYes, &steps)) check_decoded(*d, in, name);

  // 2. Free text with encoded words. Text outside the words is kept as it is
  // (decoded_param() above vets raw 8-bit names), so only decoding must not
  // turn UTF-8 into something else.
  const DecodedText words = decode_rfc2047(in, &steps);
  if (is_valid_utf8(in)) check_decoded(words, in, "decode_rfc2047");
  if (steps > kStepsPerOctet * size + kStepsFixed) {
    const std::string cost =
        std::to_string(steps) + " steps for " + std::to_string(size) + " octets";
    fail("work out of proportion to the input", cost, in.substr(0, 200));
  }

  // 3. A charset and octets.
  if (size > 0) {
    const std::size_t n = std::min<std::size_t>(data[0] % 48, size - 1);
    const std::string_view charset = in.substr(1, n), bytes = in.substr(1 + n);
    std::string out;
    if (charset_to_utf8(charset, bytes, out))
      check(is_valid_utf8(out), "charset_to_utf8 output is not UTF-8", charset, out);
  }

  // 4. A filename through the encoders clients use.
  if (size > 0 && size <= 1024) round_trip(in.substr(1), data[0]);
  return 0;
}
