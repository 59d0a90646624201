// message_reader: splits a raw message (an .eml file, stdin) into the events
// an MTA gives a milter: header fields, end of headers, body chunks.
//
// Like an MTA, the header section ends at the first empty line or at the first
// line that is neither a header field nor a continuation; a leading mbox
// "From " line is skipped. Header lines are measured exactly (HeaderMetrics)
// however long they are, but at most `max_field` octets of one field are kept.
// Body bytes are passed through in the chunks they arrive in.
//
// Thread-safety: one reader per message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/engine/session.h"

namespace esmtp {

class MessageListener {
 public:
  virtual ~MessageListener() = default;
  // `value` starts after the colon and leading blanks; `raw` is the whole
  // field as sent, folding included, final line ending excluded.
  virtual void on_header(std::string_view name, std::string_view value, std::string_view raw,
                         const HeaderMetrics& metrics) = 0;
  virtual void on_end_of_headers() = 0;
  virtual void on_body(std::string_view chunk) = 0;
};

class MessageReader {
 public:
  explicit MessageReader(MessageListener& listener, std::size_t max_field = 1 << 20)
      : listener_(listener), max_field_(max_field) {}

  void feed(std::string_view data);
  void finish();  // end of input

 private:
  void end_header_line();
  void flush_field();
  void start_body(std::string_view first);

  MessageListener& listener_;
  std::size_t max_field_;
  bool in_body_ = false;
  bool first_line_ = true;
  std::string field_;           // current field: raw lines with their line endings
  std::size_t line_start_ = 0;  // offset of the current line in field_
  std::uint64_t line_len_ = 0;  // octets of the current line so far (CR included)
  bool line_cr_ = false;
  bool truncated_ = false;
  HeaderMetrics metrics_;
};

}  // namespace esmtp
