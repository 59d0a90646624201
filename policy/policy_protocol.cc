#include "policy/policy_protocol.h"

#include <cstring>

namespace esmtp {

namespace {
constexpr std::size_t kKeptLineCapacity = 4096;
}  // namespace

std::string_view PolicyRequest::get(std::string_view name) const {
  for (const auto& [k, v] : attrs_)
    if (k == name) return v;
  return {};
}

bool PolicyRequest::has(std::string_view name) const {
  for (const auto& [k, v] : attrs_)
    if (k == name) return true;
  return false;
}

void PolicyRequest::add(std::string name, std::string value) {
  // Postfix sends each attribute once; a repeated name keeps the first value.
  if (!has(name)) attrs_.emplace_back(std::move(name), std::move(value));
}

PolicyParser::Status PolicyParser::fail(std::string why) {
  error_ = std::move(why);
  line_.clear();
  line_.shrink_to_fit();
  return Status::kError;
}

PolicyParser::Status PolicyParser::feed(std::string_view& data) {
  if (!error_.empty()) return Status::kError;
  while (!data.empty()) {
    const char* nl = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
    const std::size_t n = nl ? static_cast<std::size_t>(nl - data.data()) : data.size();
    if (line_.size() + n > kMaxLine) return fail("line longer than 64 KiB");
    request_bytes_ += n + (nl ? 1 : 0);
    if (request_bytes_ > kMaxRequest) return fail("request larger than 256 KiB");
    line_.append(data.data(), n);
    data.remove_prefix(nl ? n + 1 : n);
    if (!nl) return Status::kNeedMore;
    Status s = end_line();
    if (s != Status::kNeedMore) return s;
  }
  return Status::kNeedMore;
}

PolicyParser::Status PolicyParser::end_line() {
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (line_.empty()) {
    if (current_.size() == 0) return fail("empty request");
    complete_ = true;
    request_bytes_ = 0;
    // A long line's buffer is not kept for the next request.
    if (line_.capacity() > kKeptLineCapacity) std::string().swap(line_);
    return Status::kRequest;
  }
  if (line_.find('\0') != std::string::npos) return fail("NUL octet in request");
  const std::size_t eq = line_.find('=');
  if (eq == std::string::npos) return fail("line without \"=\"");
  if (eq == 0) return fail("attribute without a name");
  if (current_.size() >= kMaxAttributes) return fail("more than 256 attributes");
  current_.add(line_.substr(0, eq), line_.substr(eq + 1));
  line_.clear();
  return Status::kNeedMore;
}

PolicyRequest PolicyParser::take() {
  PolicyRequest r = std::move(current_);
  current_ = PolicyRequest();
  complete_ = false;
  return r;
}

std::string policy_reply(std::string_view action) {
  std::string out = "action=";
  out += action;
  out += "\n\n";
  return out;
}

}  // namespace esmtp
