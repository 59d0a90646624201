// smtp_reply: what `esmtp-inspect probe` reads from an SMTP server, as pure
// functions over bytes (no sockets), so that unit tests drive them with fakes.
//
//   ReplyReader     push parser for one SMTP reply (RFC 5321 section 4.2):
//                   "250-first", "250-next", "250 last"; bytes in any chunking.
//   parse_ehlo()    the extension keywords and parameters of an EHLO reply.
//   is_masked_text() text rewritten by an inspecting firewall (asterisks or
//                   X's in place of the banner, as Cisco ASA `mask-banner`).
//   masked_keyword() an EHLO keyword replaced by X's (ASA: STARTTLS ->
//                   XXXXXXXA).
//   banner_hostname() the domain a 220 banner starts with, if any.
//
// Limits (the server is untrusted): a reply line longer than kMaxLineLength,
// a reply of more than kMaxReplyLines lines or kMaxReplyBytes octets, a line
// that does not start with a 3-digit code followed by ' ', '-' or the end of
// the line, and continuation lines whose code differs are errors that stop
// reading; the caller turns them into findings. Line ends may be CRLF or a
// bare LF (seen from broken servers; the reply is still readable).
//
// Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace esmtp::probe {

inline constexpr std::size_t kMaxLineLength = 2048;  // RFC 5321 says 512; be lenient
inline constexpr std::size_t kMaxReplyLines = 200;
inline constexpr std::size_t kMaxReplyBytes = 64 * 1024;

struct SmtpReply {
  int code = 0;
  std::vector<std::string> lines;  // text of each line after the code and separator
  // "250 first line" (the first line as sent, for display).
  std::string first_line() const;
};

class ReplyReader {
 public:
  enum class State { kNeedMore, kDone, kError };

  // Feeds bytes; returns kDone once a complete reply was read (bytes after it
  // stay buffered: take_rest()), kError with error() set on bad input. Once
  // kDone or kError, further feeds are ignored until reset().
  State feed(std::string_view data);
  State state() const { return state_; }
  const SmtpReply& reply() const { return reply_; }
  const std::string& error() const { return error_; }
  // Bytes received after the end of the reply (a server that sends ahead).
  std::string take_rest();
  // The partial line read so far (to show what a server sent before closing).
  const std::string& partial() const { return line_; }
  void reset();

 private:
  State line(std::string_view l);
  State fail(std::string msg);

  State state_ = State::kNeedMore;
  SmtpReply reply_;
  std::string line_;
  std::string rest_;
  std::size_t total_ = 0;
  std::string error_;
};

struct EhloExtension {
  std::string keyword;  // upper case
  std::string params;   // the rest of the line, as sent
};

// The extensions of a 250 EHLO reply: every line after the first (the first
// is the server's greeting name). Keywords are upper-cased; lines that are
// not keywords (RFC 5321: ALPHA / DIGIT then ALPHA / DIGIT / '-') are kept
// as given so that a masked or mangled reply is visible.
std::vector<EhloExtension> parse_ehlo(const SmtpReply& reply);

// True when a text looks rewritten by a firewall: at least 4 characters and
// mostly masking characters ('*', or 'X'/'x' as a run of at least 4), with
// only digits, spaces and punctuation besides (the ASA leaves some digits).
bool is_masked_text(std::string_view text);

// An EHLO keyword replaced by X's: four or more 'X' optionally followed by
// one letter ("XXXXXXXA"). nullopt when not masked; otherwise the keyword
// the mask most likely hides ("STARTTLS" for 8 characters ending in 'A',
// "CHUNKING" for 8 ending in 'B' as the ASA does, else "").
std::optional<std::string> masked_keyword(std::string_view keyword);

// The host name a 220 banner starts with ("220 mx.example.org ESMTP" ->
// "mx.example.org", lower case, trailing dot removed), when that first word
// is a syntactically valid host name with at least one dot; "" otherwise
// (masked banner, address literal, greeting text).
std::string banner_hostname(const SmtpReply& banner);

// Printable form of server bytes for output: control characters and bytes
// outside printable ASCII become \xNN, cut at `max` octets with "...".
std::string printable(std::string_view s, std::size_t max = 200);

}  // namespace esmtp::probe
