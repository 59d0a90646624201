#include "common/mime/mime_params.h"

#include <errno.h>
#include <iconv.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/util/text.h"

namespace esmtp {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s, std::uint64_t& steps) {
  steps += s.size();
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

// iconv descriptors opened during one decode_rfc2047() call, by charset: a
// field of many encoded words in one charset opens its converter once (an
// iconv_open per word costs more than the word's octets).
class Converters {
 public:
  static constexpr std::size_t kMax = 16;
  Converters() = default;
  Converters(const Converters&) = delete;
  Converters& operator=(const Converters&) = delete;
  ~Converters() {
    for (auto& e : open_) iconv_close(e.cd);
  }
  // A descriptor for `charset` (a vetted MIME token), reset to its initial
  // state, or (iconv_t)-1. `owned` is set when the caller must close it (the
  // cache is full).
  iconv_t get(const std::string& charset, bool& owned) {
    owned = false;
    for (auto& e : open_)
      if (e.charset == charset) {
        iconv(e.cd, nullptr, nullptr, nullptr, nullptr);
        return e.cd;
      }
    iconv_t cd = iconv_open("UTF-8", charset.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) return cd;
    if (open_.size() < kMax)
      open_.push_back({charset, cd});
    else
      owned = true;
    return cd;
  }

 private:
  struct Entry {
    std::string charset;
    iconv_t cd;
  };
  std::vector<Entry> open_;
};

bool charset_to_utf8(std::string_view charset, std::string_view bytes, std::string& out,
                     std::uint64_t& steps, Converters* converters = nullptr);

bool is_wsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// A cursor over a field body that skips RFC 822 comments. Comments nest;
// an unclosed comment runs to the end of the field. It never moves back, so
// its position is the work done on the body.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  void advance() { ++i_; }
  std::size_t position() const { return i_; }

  void skip_cfws() {
    while (!done()) {
      if (is_wsp(peek())) {
        ++i_;
      } else if (peek() == '(') {
        skip_comment();
      } else {
        break;
      }
    }
  }

  // Reads up to (not including) any of `stops`, outside quotes and comments;
  // comments are dropped.
  std::string until(std::string_view stops) {
    std::string out;
    // A bit per octet value: the stops, and '(' which opens a comment.
    std::uint64_t stop_bits[4] = {};
    auto mark = [&](char c) {
      const auto u = static_cast<unsigned char>(c);
      stop_bits[u >> 6] |= std::uint64_t{1} << (u & 63);
    };
    auto marked = [&](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (stop_bits[u >> 6] >> (u & 63)) & 1;
    };
    for (char c : stops) mark(c);
    const bool paren_stops = marked('(');
    mark('(');
    while (!done()) {
      // The run before the next stop or comment is copied in one go.
      std::size_t end = i_;
      while (end < s_.size() && !marked(s_[end])) ++end;
      out.append(s_.substr(i_, end - i_));
      i_ = end;
      if (done() || peek() != '(' || paren_stops) break;
      skip_comment();  // at '('
      out += ' ';
    }
    return out;
  }

  // Reads a quoted string starting at '"'; an unterminated one runs to the end.
  std::string quoted() {
    std::string out;
    ++i_;  // opening quote
    while (!done()) {
      char c = peek();
      ++i_;
      if (c == '"') break;
      if (c == '\\' && !done()) {
        out += peek();
        ++i_;
        continue;
      }
      if (c == '\r' || c == '\n') continue;  // folding inside quotes
      out += c;
    }
    return out;
  }

 private:
  void skip_comment() {
    int depth = 0;
    while (!done()) {
      char c = peek();
      ++i_;
      if (c == '\\') {
        if (!done()) ++i_;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (--depth == 0) return;
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// Percent-decodes an RFC 2231 extended value; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out, std::uint64_t& steps) {
  steps += in.size();
  bool ok = true;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
        hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      if (in[i] == '%') ok = false;
      out += in[i];
    }
  }
  return ok;
}

bool base64_decode(std::string_view in, std::string& out) {
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    int v = base64_value(static_cast<unsigned char>(in[i]));
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  for (; i < in.size(); ++i)
    if (in[i] != '=') return false;  // data after padding
  return bits < 6;                   // 6 leftover bits: a truncated quantum
}

bool q_decode(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=') {
      if (i + 2 >= in.size() || hex_value(in[i + 1]) < 0 || hex_value(in[i + 2]) < 0) return false;
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

// The next occurrence of `pat` (one or two octets) at or after `from`, for
// calls whose `from` never decreases: every octet is looked at once over all
// calls. An encoded word needs a "?" after its charset and a "?=" after its
// text; once no "?=" is left, no later "=?" can start a word, so the decoder
// stops looking (the search from each "=?" to the end of the field made an
// unterminated "=?a?b?Z" repeated cost quadratic time).
class NextOf {
 public:
  NextOf(std::string_view s, std::string_view pat) : s_(s), pat_(pat) {}

  std::size_t at(std::size_t from, std::uint64_t& steps) {
    if (hit_ != std::string_view::npos && hit_ >= from) return hit_;
    if (exhausted_) return std::string_view::npos;
    const std::size_t i = std::min(std::max(from, scanned_), s_.size());
    // One octet: memchr. Two: a plain loop, whose speed does not depend on
    // how often the first octet occurs (memchr per "?" costs 5 times more
    // on "=?a?b?Z" repeated than on text).
    std::size_t hit = std::string_view::npos;
    if (pat_.size() == 1) {
      hit = s_.find(pat_[0], i);
    } else {
      for (std::size_t k = i; k + 1 < s_.size(); ++k)
        if (s_[k] == pat_[0] && s_[k + 1] == pat_[1]) {
          hit = k;
          break;
        }
    }
    steps += (hit == std::string_view::npos ? s_.size() : hit + 1) - i;
    if (hit == std::string_view::npos) {
      exhausted_ = true;
      hit_ = std::string_view::npos;
      return hit;
    }
    hit_ = hit;
    scanned_ = hit + 1;
    return hit;
  }

 private:
  std::string_view s_;
  std::string_view pat_;
  std::size_t hit_ = std::string_view::npos;
  std::size_t scanned_ = 0;  // octets before this one were looked at
  bool exhausted_ = false;
};

// Decodes the encoded word "=?charset?E?text?=" spanning [start, end + 2) of
// `s`, q1 being the "?" after the charset; false when undecodable.
bool encoded_word(std::string_view s, std::size_t start, std::size_t q1, std::size_t end,
                  std::string& out, std::uint64_t& steps, Converters& converters) {
  std::string_view charset = s.substr(start + 2, q1 - (start + 2));
  charset = charset.substr(0, charset.find('*'));  // RFC 2231 section 5 language tag
  char enc = lower(s[q1 + 1]);
  std::string_view text = s.substr(q1 + 3, end - (q1 + 3));
  steps += charset.size() + text.size();
  std::string bytes;
  bool ok = enc == 'b' ? base64_decode(text, bytes) : enc == 'q' ? q_decode(text, bytes) : false;
  if (!ok) return false;
  std::string utf8;
  if (!charset_to_utf8(charset, bytes, utf8, steps, &converters)) return false;
  out += utf8;
  return true;
}

struct Segment {
  unsigned index;
  bool extended;
  const std::string* value;
};

// A plain parameter value, RFC 2047-decoded when `words` says so.
DecodedText decode_plain(const std::string& plain, EncodedWords words, std::uint64_t& steps) {
  DecodedText d;
  if (words == EncodedWords::kYes) {
    d = decode_rfc2047(plain, &steps);
  } else {
    d.text = plain;
    steps += plain.size();
  }
  // Raw 8-bit octets without a charset label cannot be read as UTF-8.
  steps += d.text.size();
  if (d.decoded && !is_valid_utf8(d.text)) {
    d.text = plain;
    d.decoded = false;
  }
  return d;
}

}  // namespace

const std::string* StructuredField::param(std::string_view name) const {
  for (const auto& p : params)
    if (p.name == name) return &p.value;
  return nullptr;
}

StructuredField parse_structured_field(std::string_view body,
                                       std::initializer_list<std::string_view> wanted,
                                       std::uint64_t* steps_out) {
  std::uint64_t steps = 0;
  StructuredField f;
  Cursor c(body);
  c.skip_cfws();
  f.value = to_lower(trim_wsp(c.until(";")), steps);
  auto keep = [&](std::string_view name) {
    if (wanted.size() == 0) return f.params.size() < kMaxParams;
    std::string_view base = name.substr(0, name.find('*'));
    steps += name.size();
    return std::find(wanted.begin(), wanted.end(), base) != wanted.end();
  };
  while (!c.done() && (wanted.size() > 0 || f.params.size() < kMaxParams)) {
    if (c.peek() == ';') c.advance();
    c.skip_cfws();
    std::string name = to_lower(trim_wsp(c.until("=;")), steps);
    if (c.done() || c.peek() == ';') continue;  // attribute without a value
    c.advance();                                // '='
    c.skip_cfws();
    std::string value;
    if (!c.done() && c.peek() == '"') {
      value = c.quoted();
      // Whatever follows the closing quote up to ';' is junk; skip it.
      (void)c.until(";");
    } else {
      value = std::string(trim_wsp(c.until(";")));
    }
    if (!name.empty() && keep(name)) f.params.push_back({std::move(name), std::move(value)});
  }
  steps += c.position();
  if (steps_out) *steps_out += steps;
  return f;
}

DecodedText decode_rfc2047(std::string_view in, std::uint64_t* steps_out) {
  std::uint64_t steps = 0;
  DecodedText r;
  auto done = [&] {
    if (steps_out) *steps_out += steps;
    return std::move(r);
  };
  NextOf open(in, "=?");
  NextOf qmark(in, "?");
  NextOf close(in, "?=");
  Converters converters;
  std::string out;
  // Whitespace after an encoded word: dropped if another word follows
  // (RFC 2047 section 6.2), kept otherwise.
  std::string_view pending;
  bool last_was_word = false;
  std::size_t i = 0;
  while (i < in.size()) {
    // Text up to the next "=?" is copied as it is, in one piece.
    const std::size_t j = open.at(i, steps);
    const std::size_t stop = j == std::string_view::npos ? in.size() : j;
    if (stop > i) {
      const std::string_view text = in.substr(i, stop - i);
      steps += text.size();
      if (last_was_word && std::all_of(text.begin(), text.end(), is_wsp)) {
        pending = text;
      } else {
        out.append(pending).append(text);
        pending = {};
        last_was_word = false;
      }
      i = stop;
    }
    if (j == std::string_view::npos) break;
    // "=?" charset "?" E "?" text "?=": the charset's "?" and the text's
    // "?=" are found by forward-only searches.
    const std::size_t q1 = qmark.at(j + 2, steps);
    const std::size_t end = q1 == std::string_view::npos || q1 + 2 >= in.size() || in[q1 + 2] != '?'
                                ? std::string_view::npos
                                : close.at(q1 + 3, steps);
    if (end != std::string_view::npos) {
      std::string decoded;
      if (!encoded_word(in, j, q1, end, decoded, steps, converters)) {
        // A well-formed shape with undecodable content.
        steps += in.size();
        r.text = std::string(in);
        r.decoded = false;
        return done();
      }
      out += decoded;
      pending = {};
      last_was_word = true;
      i = end + 2;
      continue;
    }
    out.append(pending);
    pending = {};
    last_was_word = false;
    if (close.at(j, steps) == std::string_view::npos) {
      // No "?=" is left: no encoded word can start from here on.
      steps += in.size() - j;
      out.append(in.substr(j));
      i = in.size();
      break;
    }
    out += '=';
    i = j + 1;
  }
  out.append(pending);
  r.text = std::move(out);
  return done();
}

std::optional<DecodedText> decoded_param(const StructuredField& f, std::string_view name,
                                         EncodedWords words, std::uint64_t* steps_out) {
  std::uint64_t steps = 0;
  auto done = [&](std::optional<DecodedText> r) {
    if (steps_out) *steps_out += steps;
    return r;
  };
  // RFC 2231: name*=charset'lang'value, or segments name*0[*], name*1[*], ...
  std::vector<Segment> segs;
  const std::string* single_ext = nullptr;
  const std::string* plain = nullptr;
  bool too_many = false;
  for (const auto& p : f.params) {
    steps += 1 + std::min(p.name.size(), name.size() + 1);
    if (p.name.size() < name.size() || p.name.compare(0, name.size(), name) != 0) continue;
    if (p.name.size() == name.size()) {
      if (!plain) plain = &p.value;
      continue;
    }
    if (p.name[name.size()] != '*') continue;
    std::string_view rest = std::string_view(p.name).substr(name.size() + 1);
    steps += rest.size();
    if (rest.empty()) {
      if (!single_ext) single_ext = &p.value;
      continue;
    }
    bool ext = rest.back() == '*';
    if (ext) rest.remove_suffix(1);
    unsigned idx = 0;
    if (rest.empty() || rest.size() > 3 || !std::all_of(rest.begin(), rest.end(), ::isdigit))
      continue;
    for (char ch : rest) idx = idx * 10 + static_cast<unsigned>(ch - '0');
    if (segs.size() < kMaxSegments)
      segs.push_back({idx, ext, &p.value});
    else
      too_many = true;
  }

  DecodedText r;
  if (!segs.empty() || single_ext) {
    std::string raw;
    std::string charset;
    std::string bytes;
    bool ok = !too_many;
    auto take_charset = [&](std::string_view v) -> std::string_view {
      // charset'language'value; a value without two quotes is treated as plain.
      std::size_t q1 = v.find('\'');
      std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
      if (q2 == std::string_view::npos) return v;
      charset = std::string(v.substr(0, q1));
      return v.substr(q2 + 1);
    };
    if (!segs.empty()) {
      // At most kMaxSegments (1000) segments: the sort's log factor is at
      // most 10, and each segment took at least 4 octets of the field.
      steps += 10 * segs.size();
      std::stable_sort(segs.begin(), segs.end(),
                       [](const Segment& a, const Segment& b) { return a.index < b.index; });
      // Segments must run 0, 1, 2, ...; a gap or a duplicate makes the value
      // undecodable (RFC 2231 section 3), and it is then measured raw: every
      // segment in index order.
      unsigned expect = 0;
      for (const auto& s : segs) {
        steps += s.value->size();
        raw += *s.value;
        if (s.index != expect) ok = false;
        ++expect;
        if (!ok) continue;
        std::string_view v = *s.value;
        if (s.extended) {
          if (s.index == 0) v = take_charset(v);
          ok = percent_decode(v, bytes, steps);
        } else {
          bytes += v;
        }
      }
    } else {
      raw = *single_ext;
      steps += raw.size();
      ok = percent_decode(take_charset(*single_ext), bytes, steps);
    }
    std::string utf8;
    if (ok && charset_to_utf8(charset, bytes, utf8, steps)) {
      r.text = std::move(utf8);
    } else {
      r.text = std::move(raw);
      r.decoded = false;
    }
    return done(std::move(r));
  }
  if (!plain) return done(std::nullopt);
  return done(decode_plain(*plain, words, steps));
}

std::optional<DecodedText> plain_param(const StructuredField& f, std::string_view name,
                                       EncodedWords words, std::uint64_t* steps_out) {
  std::uint64_t steps = 0;
  std::optional<DecodedText> r;
  for (const auto& p : f.params) {
    steps += 1 + std::min(p.name.size(), name.size());
    if (p.name == name) {
      r = decode_plain(p.value, words, steps);
      break;
    }
  }
  if (steps_out) *steps_out += steps;
  return r;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    unsigned min;
    if ((c & 0xe0) == 0xc0) {
      n = 1, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, min = 0x10000;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    unsigned cp = c & (0x3fu >> n);
    for (int k = 1; k <= n; ++k) {
      if ((p[k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += n + 1;
  }
  return true;
}

bool charset_to_utf8(std::string_view charset, std::string_view bytes, std::string& out) {
  std::uint64_t steps = 0;
  return charset_to_utf8(charset, bytes, out, steps);
}

namespace {

// charset_to_utf8() counting its work: validation and conversion look at
// every octet, and the output (at most 4 octets per input octet) is
// validated again.
bool charset_to_utf8(std::string_view charset, std::string_view bytes, std::string& out,
                     std::uint64_t& steps, Converters* converters) {
  steps += 2 * bytes.size() + charset.size();
  if (charset.empty() || iequals(charset, "us-ascii") || iequals(charset, "utf-8") ||
      iequals(charset, "utf8")) {
    if (!is_valid_utf8(bytes)) return false;
    out.assign(bytes);
    return true;
  }
  // Charset names are MIME tokens (RFC 2978). glibc's iconv_open drops other
  // characters and reads "//" as conversion flags: such a name would open a
  // converter it does not say.
  if (charset.size() > 40) return false;
  for (char c : charset)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&+-^_`{}~.:").find(c) == std::string_view::npos)
      return false;
  std::string cs(charset);
  bool owned = true;
  iconv_t cd = converters ? converters->get(cs, owned) : iconv_open("UTF-8", cs.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  // UTF-8 needs at most 4 octets per input character of any charset iconv
  // knows (4 octets per octet covers the worst case of 1-octet charsets).
  out.assign(bytes.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  char* o = out.data();
  std::size_t o_left = out.size();
  std::size_t rc = iconv(cd, &in, &in_left, &o, &o_left);
  bool ok = rc != static_cast<std::size_t>(-1) && in_left == 0;
  if (ok) ok = iconv(cd, nullptr, nullptr, &o, &o_left) != static_cast<std::size_t>(-1);
  if (owned) iconv_close(cd);
  out.resize(out.size() - o_left);
  // iconv's decoders are lenient (glibc's UTF-8 one passes code points past
  // U+10FFFF): what is called decoded must be UTF-8.
  steps += out.size();
  return ok && is_valid_utf8(out);
}

}  // namespace

}  // namespace esmtp
