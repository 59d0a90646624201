#include "common/mime/mime_scanner.h"

#include <algorithm>
#include <array>

#include "common/util/text.h"

namespace esmtp {
namespace {

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

constexpr std::size_t kTypeMax = 128;  // longer media types are not real

}  // namespace

std::string_view to_string(MimeLimit l) {
  for (const auto& row : mime_limit_table()) {
    if (l == MimeLimit::kDepth && row.field == &MimeLimits::max_depth) return row.key;
    if (l == MimeLimit::kParts && row.field == &MimeLimits::max_parts) return row.key;
    if (l == MimeLimit::kBoundaryLength && row.field == &MimeLimits::max_boundary_length)
      return row.key;
    if (l == MimeLimit::kPartHeaderBytes && row.field == &MimeLimits::max_part_header_bytes)
      return row.key;
  }
  return "?";
}

// Scans a decoded message/rfc822 part and passes its events on. Lines of the
// decoded text were never transmitted, so their lengths are not reported.
class MimeScanner::Nested : public MimeListener {
 public:
  explicit Nested(MimeListener& outer) : outer_(outer), scanner(*this) {}

  void on_long_line(std::uint64_t, std::uint64_t) override {}
  void on_filename(const MimeFilename& f) override { outer_.on_filename(f); }
  void on_encoding(std::string_view e, std::string_view part) override {
    outer_.on_encoding(e, part);
  }
  void on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                std::string_view part) override {
    outer_.on_limit(which, actual, limit, part);
  }

 private:
  MimeListener& outer_;

 public:
  MimeScanner scanner;
};

MimeScanner::MimeScanner(MimeListener& listener) : listener_(listener) {
  field_.reserve(1024);
  path_text_.reserve(64);
}

MimeScanner::~MimeScanner() = default;

void MimeScanner::reset(const MimeLimits& limits, std::uint64_t long_line) {
  limits_ = limits;
  long_line_ = long_line;
  line_len_ = 0;
  line_no_ = 0;
  last_cr_ = false;
  candidate_ = false;
  top_ = 0;
  path_.clear();
  parts_ = 0;
  total_parts_ = &parts_;
  decoding_ = Decoding::kNone;
  out_len_ = 0;
  begin_entity(0, false);
}

void MimeScanner::begin_entity(std::uint32_t depth, bool default_rfc822) {
  state_ = State::kHeaders;
  depth_ = depth;
  default_rfc822_ = default_rfc822;
  has_type_ = false;
  type_.clear();
  boundary_.clear();
  boundary_len_ = 0;
  encoding_.clear();
  field_.clear();
  header_octets_ = 0;
  header_overflow_ = false;
}

void MimeScanner::header(std::string_view name, std::string_view value) {
  field(name, value);
}

void MimeScanner::end_of_headers() {
  end_entity_headers(true);
}

void MimeScanner::feed(std::string_view chunk) {
  const char* p = chunk.data();
  std::size_t n = chunk.size();
  while (n > 0) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
    std::size_t seg = nl ? static_cast<std::size_t>(nl - p) : n;
    if (seg > 0) segment(p, seg);
    if (!nl) break;
    end_line();
    p += seg + 1;
    n -= seg + 1;
  }
}

void MimeScanner::finish() {
  if (line_len_ > 0) end_line();
  if (state_ == State::kHeaders) end_entity_headers(false);
  stop_decoding();
}

void MimeScanner::end_line() {
  const std::size_t full = line_len_;  // CR included
  const std::uint64_t len = line_len_ - (last_cr_ ? 1 : 0);
  ++line_no_;
  if (len > long_line_) listener_.on_long_line(len, line_no_);
  const bool was_candidate = candidate_;
  line_len_ = 0;
  last_cr_ = false;
  candidate_ = false;
  if (was_candidate && boundary_line(static_cast<std::size_t>(len))) return;
  if (decoding_ != Decoding::kNone) {
    if (was_candidate) decode(line_, full);  // held back in case it was a delimiter
    decode_line_end();
    return;
  }
  if (state_ != State::kHeaders) return;
  if (len == 0) {  // the blank line: not part of the header section
    end_entity_headers(true);
    return;
  }
  header_octets_ += full + 1;
  if (!header_overflow_ && header_octets_ > limits_.max_part_header_bytes) {
    header_overflow_ = true;
    listener_.on_limit(MimeLimit::kPartHeaderBytes, header_octets_, limits_.max_part_header_bytes,
                       path());
  }
  if (!field_.empty() && field_.back() == '\r') field_.pop_back();  // unfold
}

bool MimeScanner::boundary_line(std::size_t len) {
  std::string_view line(line_, len);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() < 3 || line[0] != '-' || line[1] != '-') return false;
  line.remove_prefix(2);
  // Innermost first: a close of an outer boundary also ends every inner part.
  for (std::size_t i = top_; i-- > 0;) {
    const std::string& b = levels_[i].boundary;
    if (line.size() < b.size() || line.compare(0, b.size(), b) != 0) continue;
    std::string_view rest = line.substr(b.size());
    if (rest.empty()) {
      delimiter(i, false);
      return true;
    }
    if (rest == "--") {
      delimiter(i, true);
      return true;
    }
  }
  return false;
}

void MimeScanner::delimiter(std::size_t level, bool close) {
  stop_decoding();
  // Headers cut short by a delimiter still name their filenames.
  if (state_ == State::kHeaders) end_entity_headers(false);
  Level& l = levels_[level];
  path_.resize(l.path_len);
  if (close) {
    top_ = level;
    state_ = State::kBody;  // epilogue: scanned for enclosing delimiters only
    return;
  }
  top_ = level + 1;
  ++l.children;
  path_.push_back(l.children);
  // Parts of decoded message/rfc822 parts count towards the message's total.
  std::uint32_t& parts = *total_parts_;
  ++parts;
  if (parts == static_cast<std::uint64_t>(limits_.max_parts) + 1)
    listener_.on_limit(MimeLimit::kParts, parts, limits_.max_parts, path());
  begin_entity(l.depth + 1, l.digest);
}

void MimeScanner::end_entity_headers(bool descend) {
  flush_field();
  if (!encoding_.empty()) listener_.on_encoding(encoding_, path());
  state_ = State::kBody;
  if (!descend) return;
  std::string_view type =
      has_type_ ? std::string_view(type_) : (default_rfc822_ ? "message/rfc822" : "text/plain");
  if (type.substr(0, 10) == "multipart/") {
    if (boundary_len_ == 0) return;  // no boundary: the body is opaque text
    if (boundary_len_ > limits_.max_boundary_length)
      listener_.on_limit(MimeLimit::kBoundaryLength, boundary_len_, limits_.max_boundary_length,
                         path());
    if (boundary_len_ > kBoundaryStoreMax) return;
    if (depth_ + 1 > limits_.max_depth) {
      listener_.on_limit(MimeLimit::kDepth, depth_ + 1, limits_.max_depth, path());
      return;
    }
    if (top_ == levels_.size()) levels_.emplace_back();
    Level& l = levels_[top_++];
    l.boundary.assign(boundary_);
    l.depth = depth_;
    l.children = 0;
    l.path_len = path_.size();
    l.digest = type == "multipart/digest";
    return;
  }
  if (type == "message/rfc822" || type == "message/global") {
    if (depth_ + 1 > limits_.max_depth) {
      listener_.on_limit(MimeLimit::kDepth, depth_ + 1, limits_.max_depth, path());
      return;
    }
    if (encoding_.empty() || encoding_ == "7bit" || encoding_ == "8bit" || encoding_ == "binary")
      begin_entity(depth_ + 1, false);
    else if (encoding_ == "base64")
      start_decoding(Decoding::kBase64);
    else if (encoding_ == "quoted-printable")
      start_decoding(Decoding::kQuotedPrintable);
  }
}

void MimeScanner::start_decoding(Decoding d) {
  if (!nested_) nested_ = std::make_unique<Nested>(listener_);
  MimeScanner& s = nested_->scanner;
  s.reset(limits_, UINT64_MAX);
  s.total_parts_ = total_parts_;
  s.path_ = path_;  // the decoded message's parts are numbered under this one
  s.begin_entity(depth_ + 1, false);
  decoding_ = d;
  b64_acc_ = 0;
  b64_bits_ = 0;
  qp_state_ = 0;
  out_len_ = 0;
}

void MimeScanner::decode(const char* p, std::size_t n) {
  auto hex = [](char c) { return hex_value(c); };
  for (std::size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (decoding_ == Decoding::kBase64) {
      if (c == '=') {  // padding ends a quantum
        b64_acc_ = 0;
        b64_bits_ = 0;
        continue;
      }
      const int v = base64_value(static_cast<unsigned char>(c));
      if (v < 0) continue;  // line breaks, blanks and junk are skipped, as decoders do
      b64_acc_ = ((b64_acc_ << 6) | static_cast<std::uint32_t>(v)) & 0xffffff;
      b64_bits_ += 6;
      if (b64_bits_ >= 8) {
        b64_bits_ -= 8;
        emit(static_cast<char>((b64_acc_ >> b64_bits_) & 0xff));
      }
      continue;
    }
    // quoted-printable
    if (c == '\r') continue;  // the line end is emitted by decode_line_end()
    if (qp_state_ == 0) {
      if (c == '=')
        qp_state_ = 1;
      else
        emit(c);
    } else if (qp_state_ == 1) {
      if (hex(c) >= 0) {
        qp_hex_ = c;
        qp_state_ = 2;
      } else if (c != ' ' && c != '\t') {  // "= " before a soft break is padding
        emit('=');
        emit(c);
        qp_state_ = 0;
      }
    } else {
      if (hex(c) >= 0) {
        emit(static_cast<char>(hex(qp_hex_) * 16 + hex(c)));
      } else {
        emit('=');
        emit(qp_hex_);
        emit(c);
      }
      qp_state_ = 0;
    }
  }
}

void MimeScanner::decode_line_end() {
  if (decoding_ != Decoding::kQuotedPrintable) return;
  if (qp_state_ == 1) {  // "=" at the end of a line: a soft line break
    qp_state_ = 0;
    return;
  }
  if (qp_state_ == 2) {
    emit('=');
    emit(qp_hex_);
    qp_state_ = 0;
  }
  emit('\r');
  emit('\n');
}

void MimeScanner::emit(char c) {
  out_[out_len_++] = c;
  if (out_len_ == sizeof out_) flush_decoded();
}

void MimeScanner::flush_decoded() {
  if (out_len_ > 0) nested_->scanner.feed(std::string_view(out_, out_len_));
  out_len_ = 0;
}

void MimeScanner::stop_decoding() {
  if (decoding_ == Decoding::kNone) return;
  flush_decoded();
  nested_->scanner.finish();
  decoding_ = Decoding::kNone;
}

void MimeScanner::flush_field() {
  if (field_.empty()) return;
  std::string_view f(field_);
  std::size_t colon = f.find(':');
  if (colon != std::string_view::npos && colon > 0 && f[0] != ' ' && f[0] != '\t')
    field(trim_blanks(f.substr(0, colon)), f.substr(colon + 1));
  field_.clear();
}

void MimeScanner::field(std::string_view name, std::string_view value) {
  if (iequals(name, "content-type")) {
    StructuredField f = parse_structured_field(value, {"boundary", "name"});
    if (!has_type_) {
      has_type_ = true;
      type_.assign(f.value, 0, kTypeMax);
      // Decoded as clients decode it: boundary*0*=us-ascii''... (RFC 2231,
      // as Python's email package writes long boundaries) is the same
      // boundary as boundary="...". RFC 2047 words are not decoded in it.
      if (auto b = decoded_param(f, "boundary", EncodedWords::kNo)) {
        boundary_len_ = b->text.size();
        boundary_.assign(b->text, 0, kBoundaryStoreMax + 1);
      }
    }
    report_filename(f, "name");
  } else if (iequals(name, "content-disposition")) {
    report_filename(parse_structured_field(value, {"filename"}), "filename");
  } else if (iequals(name, "content-transfer-encoding") && encoding_.empty()) {
    encoding_ = parse_structured_field(value).value.substr(0, kTypeMax);
  }
}

void MimeScanner::report_filename(const StructuredField& f, std::string_view param) {
  auto d = decoded_param(f, param);
  if (!d) return;
  listener_.on_filename({d->text, d->decoded, param, path()});
  // With both forms, clients disagree on which is the name (Thunderbird
  // shows the RFC 2231 one, Python's email package the first): both count.
  auto p = plain_param(f, param);
  if (p && p->text != d->text) listener_.on_filename({p->text, p->decoded, param, path()});
}

std::string_view MimeScanner::path() {
  if (path_.empty()) return "root";
  path_text_.clear();
  for (std::size_t i = 0; i < path_.size(); ++i) {
    if (i) path_text_ += '.';
    path_text_ += std::to_string(path_[i]);
  }
  return path_text_;
}

}  // namespace esmtp
