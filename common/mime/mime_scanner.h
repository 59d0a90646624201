// mime_scanner: a push parser for the body of a message.
//
// Why hand-written: libraries such as GMime, mimetic or vmime build a tree of
// the whole message in memory; the milter receives the body in 64 KiB pieces
// and must decide with memory bounded by configuration, never by the message,
// as Postfix's mime_state_update() does. No packaged library parses MIME
// incrementally under such limits, so this one does, with the same model:
// feed bytes in any chunking, get events out.
//
// Inputs: the top-level header fields (header()), then end_of_headers(), then
// the body bytes in any chunking (feed()), then finish(). Lines end at LF; a CR
// before the LF is not part of the line.
//
// Parameters are decoded as mail clients decode them (mime_params.h): a
// boundary in RFC 2231 form (boundary*0*=us-ascii''...) splits the parts like
// a plain one, and junk parameters before it do not hide it.
//
// Events (to a MimeListener): each body line longer than `long_line` (MIME part
// headers are body lines too), each attachment filename (Content-Disposition
// filename, Content-Type name, decoded per mime_params.h), each part's
// Content-Transfer-Encoding, and each structure limit crossed.
//
// A message/rfc822 part sent base64 or quoted-printable encoded (invalid per
// RFC 2046 5.2.1, but mail clients decode and show it, so it would hide an
// attachment) is decoded on the fly into a nested scanner whose events are
// reported with the outer part's number as prefix.
//
// Limits (MimeLimits, from mime_structure): nesting depth, part count,
// boundary length, part header octets (the blank line that ends a header
// section is not counted; values are measured at line ends, so they do not
// depend on chunking). State is O(1) per chunk plus a boundary stack of at
// most max_depth entries of at most kBoundaryStoreMax octets, one header field
// buffer of at most max_part_header_bytes, and at most max_depth nested
// scanners for encoded messages. A part nested past max_depth, or with a
// boundary longer than kBoundaryStoreMax, is scanned as opaque text. A
// delimiter line longer than kLineCapture octets (boundary plus transport
// padding) is not recognised.
//
// Errors: none; malformed MIME is parsed the lenient way mail clients do
// (missing close delimiters, headers cut short by a boundary, junk).
//
// Thread-safety: one scanner per session; not shared.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mime/mime_limits.h"
#include "common/mime/mime_params.h"

namespace esmtp {

enum class MimeLimit : std::uint8_t { kDepth, kParts, kBoundaryLength, kPartHeaderBytes };
std::string_view to_string(MimeLimit l);  // the config key: "max_depth", ...

struct MimeFilename {
  std::string_view name;    // UTF-8 when decoded, else raw
  bool decoded;             // false: measured raw
  std::string_view source;  // "filename" or "name"
  std::string_view part;    // "root", "1", "1.2", ...
};

class MimeListener {
 public:
  virtual ~MimeListener() = default;
  virtual void on_long_line(std::uint64_t length, std::uint64_t line_no) = 0;
  virtual void on_filename(const MimeFilename& f) = 0;
  virtual void on_encoding(std::string_view encoding, std::string_view part) = 0;
  virtual void on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                        std::string_view part) = 0;
};

class MimeScanner {
 public:
  static constexpr std::size_t kLineCapture = 2 + kBoundaryStoreMax + 2 + 64;

  explicit MimeScanner(MimeListener& listener);
  ~MimeScanner();

  // Starts a new message. Lines longer than `long_line` are reported.
  void reset(const MimeLimits& limits, std::uint64_t long_line);

  void header(std::string_view name, std::string_view value);  // top-level field
  void end_of_headers();
  void feed(std::string_view chunk);
  void finish();

  std::uint64_t lines() const { return line_no_; }
  std::uint32_t parts() const { return parts_; }

 private:
  enum class State : std::uint8_t { kHeaders, kBody };
  enum class Decoding : std::uint8_t { kNone, kBase64, kQuotedPrintable };
  struct Level {
    std::string boundary;
    std::uint32_t depth = 0;
    std::uint32_t children = 0;
    std::size_t path_len = 0;
    bool digest = false;
  };
  class Nested;

  void segment(const char* p, std::size_t n) {
    if (line_len_ == 0) {
      candidate_ = top_ > 0 && p[0] == '-';
      if (state_ == State::kHeaders && p[0] != ' ' && p[0] != '\t') flush_field();
    }
    if (candidate_) {
      if (line_len_ + n <= kLineCapture) {
        std::memcpy(line_ + line_len_, p, n);
      } else {
        candidate_ = false;  // too long for a delimiter: plain content after all
        if (decoding_ != Decoding::kNone) decode(line_, line_len_);
      }
    }
    if (state_ == State::kHeaders) {
      const std::size_t cap = limits_.max_part_header_bytes;
      if (field_.size() < cap) field_.append(p, std::min(n, cap - field_.size()));
    } else if (decoding_ != Decoding::kNone && !candidate_) {
      decode(p, n);
    }
    last_cr_ = p[n - 1] == '\r';
    line_len_ += n;
  }
  void end_line();
  bool boundary_line(std::size_t len);
  void delimiter(std::size_t level, bool close);
  void begin_entity(std::uint32_t depth, bool default_rfc822);
  void end_entity_headers(bool descend);
  void flush_field();
  void field(std::string_view name, std::string_view value);
  void report_filename(const StructuredField& f, std::string_view param);
  std::string_view path();
  // Encoded message/rfc822 parts.
  void start_decoding(Decoding d);
  void decode(const char* p, std::size_t n);
  void decode_line_end();
  void stop_decoding();
  void emit(char c);
  void flush_decoded();

  MimeListener& listener_;
  MimeLimits limits_;
  std::uint64_t long_line_ = UINT64_MAX;

  // Current line.
  std::uint64_t line_len_ = 0;
  std::uint64_t line_no_ = 0;
  bool last_cr_ = false;
  bool candidate_ = false;  // starts with '-' and may be a delimiter
  char line_[kLineCapture];

  // Current entity.
  State state_ = State::kHeaders;
  std::uint32_t depth_ = 0;
  bool default_rfc822_ = false;
  bool has_type_ = false;
  std::string type_;      // "multipart/mixed"
  std::string boundary_;  // at most kBoundaryStoreMax + 1 octets kept
  std::size_t boundary_len_ = 0;
  std::string encoding_;
  std::string field_;  // the header field being read, unfolded
  std::uint64_t header_octets_ = 0;
  bool header_overflow_ = false;

  // Enclosing multiparts, innermost last; levels_[0, top_) are live.
  std::vector<Level> levels_;
  std::size_t top_ = 0;
  std::vector<std::uint32_t> path_;
  std::string path_text_;
  std::uint32_t parts_ = 0;               // every part, decoded messages' too
  std::uint32_t* total_parts_ = &parts_;  // the outermost scanner's parts_

  // Decoding an encoded message/rfc822 part into `nested_`.
  Decoding decoding_ = Decoding::kNone;
  std::uint32_t b64_acc_ = 0;
  int b64_bits_ = 0;
  int qp_state_ = 0;  // 0: plain, 1: after '=', 2: after '=' and one hex digit
  char qp_hex_ = 0;
  char out_[4096];
  std::size_t out_len_ = 0;
  std::unique_ptr<Nested> nested_;
};

}  // namespace esmtp
