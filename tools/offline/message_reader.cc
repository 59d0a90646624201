#include "tools/offline/message_reader.h"

#include <algorithm>
#include <cstring>

namespace esmtp {
namespace {

// A header field name: printable ASCII except colon (RFC 5322 section 3.6.8),
// optionally followed by blanks before the colon (the obsolete syntax of
// RFC 5322 section 4.5.3, which Postfix's is_header() accepts too).
bool header_line(std::string_view line, std::size_t* colon) {
  std::size_t i = 0;
  while (i < line.size() && line[i] != ':' && static_cast<unsigned char>(line[i]) > 32 &&
         static_cast<unsigned char>(line[i]) < 127)
    ++i;
  if (i == 0) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i >= line.size() || line[i] != ':') return false;
  *colon = i;
  return true;
}

}  // namespace

void MessageReader::feed(std::string_view data) {
  while (!data.empty()) {
    if (in_body_) {
      listener_.on_body(data);
      return;
    }
    const char* nl = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
    std::size_t seg = nl ? static_cast<std::size_t>(nl - data.data()) : data.size();
    if (seg > 0) {
      std::size_t room = max_field_ > field_.size() ? max_field_ - field_.size() : 0;
      field_.append(data.data(), std::min(seg, room));
      truncated_ = truncated_ || seg > room;
      line_len_ += seg;
      line_cr_ = data[seg - 1] == '\r';
    }
    if (!nl) return;
    if (field_.size() < max_field_) field_ += '\n';
    data.remove_prefix(seg + 1);
    end_header_line();
    if (in_body_ && !data.empty()) {
      listener_.on_body(data);
      return;
    }
  }
}

void MessageReader::end_header_line() {
  const std::uint64_t len = line_len_ - (line_cr_ ? 1 : 0);
  std::string_view line = std::string_view(field_).substr(line_start_);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const bool first = first_line_;
  first_line_ = false;
  line_len_ = 0;
  line_cr_ = false;

  if (len == 0) {  // the empty line: end of the header section
    field_.resize(line_start_);
    flush_field();
    start_body({});
    return;
  }
  if (line.empty()) {  // storage full: the line is counted as part of the open field
    metrics_.longest_line = std::max(metrics_.longest_line, len);
    metrics_.octets += len + 2;
    return;
  }
  if (first && line.substr(0, 5) == "From ") {  // mbox separator
    field_.resize(line_start_);
    return;
  }
  if (line.front() == ' ' || line.front() == '\t') {
    if (line_start_ > 0) {  // continuation of the open field
      metrics_.longest_line = std::max(metrics_.longest_line, len);
      metrics_.octets += len + 2;
      line_start_ = field_.size();
      return;
    }
  }
  std::size_t colon = 0;
  if (line.front() != ' ' && line.front() != '\t' && header_line(line, &colon)) {
    // A new field: emit the previous one, keep this line.
    std::string current(std::string_view(field_).substr(line_start_));
    field_.resize(line_start_);
    flush_field();
    field_ = std::move(current);
    metrics_ = {len, len + 2};
    line_start_ = field_.size();
    return;
  }
  // Not a header: the body starts with this line.
  std::string body_start(std::string_view(field_).substr(line_start_));
  field_.resize(line_start_);
  flush_field();
  start_body(body_start);
}

void MessageReader::flush_field() {
  if (field_.empty()) return;
  std::string_view raw(field_);
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.remove_suffix(1);
  std::size_t colon = raw.find(':');
  if (colon != std::string_view::npos) {
    std::string_view name = raw.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    std::string_view value = raw.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    listener_.on_header(name, value, raw, metrics_);
  }
  field_.clear();
  line_start_ = 0;
  metrics_ = {};
  truncated_ = false;
}

void MessageReader::start_body(std::string_view first) {
  in_body_ = true;
  listener_.on_end_of_headers();
  if (!first.empty()) listener_.on_body(first);
}

void MessageReader::finish() {
  if (in_body_) return;
  if (line_len_ > 0) {
    field_ += '\n';
    end_header_line();
  }
  if (!in_body_) {
    flush_field();
    start_body({});
  }
}

}  // namespace esmtp
