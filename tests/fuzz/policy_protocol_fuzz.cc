// policy_protocol_fuzz: the Postfix policy delegation parser
// (policy/policy_protocol.h) on arbitrary connection bytes.
//
// Input: one octet choosing the chunk size, then the bytes a client sends.
//
// Invariants (abort() on violation):
//  - the parser agrees with an independent model of SMTPD_POLICY_README as
//    the header describes it (name=value lines, CRLF or LF, empty line ends a
//    request, first value of a repeated name wins, limits kMaxLine,
//    kMaxRequest, kMaxAttributes, NUL, missing "=" or name, empty request);
//  - chunking does not matter: fed in one piece or in the chosen chunks, the
//    same requests come out and the error (if any) happens at the same request;
//  - kNeedMore consumes all input; after kError the parser stays in error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/policy_protocol.h"

namespace esmtp {
namespace {

[[noreturn]] void fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "policy_protocol_fuzz: invariant violated: %.*s\n  %.*s\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

using Attributes = std::vector<std::pair<std::string, std::string>>;

struct Outcome {
  std::vector<Attributes> requests;
  bool error = false;
};

// The protocol as policy_protocol.h states it, written without the parser.
Outcome model(std::string_view in) {
  Outcome out;
  Attributes attrs;
  std::size_t request_bytes = 0;
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t nl = in.find('\n', pos);
    const std::size_t n = (nl == std::string_view::npos ? in.size() : nl) - pos;
    request_bytes += n + (nl == std::string_view::npos ? 0 : 1);
    if (n > kMaxLine || request_bytes > kMaxRequest) {
      out.error = true;
      return out;
    }
    if (nl == std::string_view::npos) return out;  // an incomplete line waits
    std::string_view line = in.substr(pos, n);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (attrs.empty()) {
        out.error = true;
        return out;
      }
      out.requests.push_back(std::move(attrs));
      attrs.clear();
      request_bytes = 0;
      continue;
    }
    const std::size_t eq = line.find('=');
    if (line.find('\0') != std::string_view::npos || eq == std::string_view::npos || eq == 0 ||
        attrs.size() >= kMaxAttributes) {
      out.error = true;
      return out;
    }
    const std::string_view name = line.substr(0, eq);
    bool seen = false;
    for (const auto& a : attrs) seen = seen || a.first == name;
    if (!seen) attrs.emplace_back(name, line.substr(eq + 1));
  }
  return out;
}

// What the parser makes of `in` cut into pieces of `chunk` octets, checked
// against the model's requests as they come out.
Outcome parse(std::string_view in, std::size_t chunk, const Outcome& want) {
  Outcome out;
  PolicyParser p;
  for (std::size_t i = 0; i < in.size() && !out.error; i += chunk) {
    std::string_view data = in.substr(i, chunk);
    while (true) {
      const PolicyParser::Status s = p.feed(data);
      if (s == PolicyParser::Status::kNeedMore) {
        check(data.empty(), "kNeedMore left input unconsumed");
        break;
      }
      if (s == PolicyParser::Status::kError) {
        check(!p.error().empty(), "error without a reason");
        std::string_view more = "x=y\n\n";
        check(p.feed(more) == PolicyParser::Status::kError, "parser leaves the error state");
        out.error = true;
        break;
      }
      const PolicyRequest r = p.take();
      const std::size_t k = out.requests.size();
      check(k < want.requests.size(), "parser returns a request the model does not");
      const Attributes& attrs = want.requests[k];
      check(r.size() == attrs.size(), "attribute count differs from the model");
      for (const auto& [name, value] : attrs) {
        check(r.has(name), "attribute missing", name);
        check(r.get(name) == value, "attribute value differs from the model", name);
      }
      out.requests.push_back(attrs);
    }
  }
  return out;
}

}  // namespace
}  // namespace esmtp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace esmtp;
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t chunk = 1 + (std::size_t{data[0]} * 257) % 8192;
  const Outcome want = model(in);
  for (std::size_t c : {in.size() + 1, chunk}) {
    const Outcome got = parse(in, c, want);
    check(got.requests.size() == want.requests.size(), "request count differs from the model",
          std::to_string(got.requests.size()) + " vs " + std::to_string(want.requests.size()));
    check(got.error == want.error, "parser and model disagree on an error",
          got.error ? "parser failed" : "model failed");
  }
  return 0;
}
