#include "tools/probe/smtp_reply.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace esmtp::probe {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string upper(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

bool is_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_')) return false;
    if (c == '-' && label == 0) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

}  // namespace

std::string SmtpReply::first_line() const {
  std::string s = std::to_string(code);
  if (!lines.empty() && !lines.front().empty()) s += " " + lines.front();
  return s;
}

ReplyReader::State ReplyReader::fail(std::string msg) {
  error_ = std::move(msg);
  state_ = State::kError;
  return state_;
}

ReplyReader::State ReplyReader::feed(std::string_view data) {
  if (state_ != State::kNeedMore) return state_;
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    std::string_view piece = data.substr(0, nl == std::string_view::npos ? data.size() : nl);
    total_ += piece.size() + (nl == std::string_view::npos ? 0 : 1);
    if (total_ > kMaxReplyBytes)
      return fail(fmt::format("reply longer than {} octets", kMaxReplyBytes));
    if (line_.size() + piece.size() > kMaxLineLength + 1)  // +1: the CR of CRLF
      return fail(fmt::format("reply line longer than {} octets", kMaxLineLength));
    line_.append(piece);
    if (nl == std::string_view::npos) return state_;
    data.remove_prefix(nl + 1);
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    std::string l = std::move(line_);
    line_.clear();
    if (line(l) != State::kNeedMore) {
      if (state_ == State::kDone) rest_.assign(data);
      return state_;
    }
  }
  return state_;
}

ReplyReader::State ReplyReader::line(std::string_view l) {
  if (l.size() < 3 || !is_digit(l[0]) || !is_digit(l[1]) || !is_digit(l[2]) || l[0] < '2' ||
      l[0] > '5')
    return fail("not an SMTP reply line: \"" + printable(l, 80) + "\"");
  int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
  char sep = l.size() > 3 ? l[3] : ' ';
  if (sep != ' ' && sep != '-') return fail("not an SMTP reply line: \"" + printable(l, 80) + "\"");
  if (!reply_.lines.empty() && code != reply_.code)
    return fail(fmt::format("reply code changes within a reply ({} then {})", reply_.code, code));
  if (reply_.lines.size() >= kMaxReplyLines)
    return fail(fmt::format("reply of more than {} lines", kMaxReplyLines));
  reply_.code = code;
  reply_.lines.emplace_back(l.size() > 4 ? l.substr(4) : std::string_view());
  if (sep == ' ') state_ = State::kDone;
  return state_;
}

std::string ReplyReader::take_rest() {
  std::string r = std::move(rest_);
  rest_.clear();
  return r;
}

void ReplyReader::reset() {
  state_ = State::kNeedMore;
  reply_ = SmtpReply{};
  line_.clear();
  rest_.clear();
  total_ = 0;
  error_.clear();
}

std::vector<EhloExtension> parse_ehlo(const SmtpReply& reply) {
  std::vector<EhloExtension> out;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view l = reply.lines[i];
    while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t')) l.remove_suffix(1);
    if (l.empty()) continue;
    std::size_t sp = l.find_first_of(" \t=");
    std::string_view kw = l.substr(0, sp);
    std::string_view params;
    if (sp != std::string_view::npos) {
      params = l.substr(sp + 1);
      while (!params.empty() && (params.front() == ' ' || params.front() == '\t'))
        params.remove_prefix(1);
    }
    bool keyword = !kw.empty() && (is_alpha(kw[0]) || is_digit(kw[0])) &&
                   std::all_of(kw.begin(), kw.end(),
                               [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
    out.push_back({keyword ? upper(kw) : std::string(kw), std::string(params)});
  }
  return out;
}

bool is_masked_text(std::string_view text) {
  std::size_t stars = 0, xs = 0, run = 0, longest_x_run = 0, other = 0, len = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      run = 0;
      continue;
    }
    ++len;
    if (c == 'X' || c == 'x') {
      ++xs;
      longest_x_run = std::max(longest_x_run, ++run);
      continue;
    }
    run = 0;
    if (c == '*')
      ++stars;
    else if (is_alpha(c))
      ++other;  // letters other than X: real words
  }
  if (len < 4) return false;
  std::size_t mask = stars + (longest_x_run >= 4 ? xs : 0);
  // Mostly mask, and hardly any letters left: "220 ****0**0*" or "220 XXXXXXXX".
  return mask * 10 >= len * 7 && other * 10 <= len;
}

std::optional<std::string> masked_keyword(std::string_view keyword) {
  if (keyword.size() < 4) return std::nullopt;
  std::size_t x = 0;
  while (x < keyword.size() && (keyword[x] == 'X' || keyword[x] == 'x')) ++x;
  if (x < 4) return std::nullopt;
  if (x == keyword.size()) return std::string();
  if (x + 1 != keyword.size() || !is_alpha(keyword[x])) return std::nullopt;
  char last = static_cast<char>(std::toupper(static_cast<unsigned char>(keyword[x])));
  if (keyword.size() == 8 && last == 'A') return std::string("STARTTLS");
  if (keyword.size() == 8 && last == 'B') return std::string("CHUNKING");
  return std::string();
}

std::string banner_hostname(const SmtpReply& banner) {
  if (banner.lines.empty()) return "";
  std::string_view t = banner.lines.front();
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  std::string_view word = t.substr(0, t.find_first_of(" \t"));
  if (!word.empty() && word.back() == '.') word.remove_suffix(1);
  if (!is_hostname(word)) return "";
  std::string r(word);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string printable(std::string_view s, std::size_t max) {
  std::string r;
  bool cut = s.size() > max;
  if (cut) s = s.substr(0, max);
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f)
      r += static_cast<char>(c);
    else
      r += fmt::format("\\x{:02x}", c);
  }
  if (cut) r += "...";
  return r;
}

}  // namespace esmtp::probe
