// rfc2047_bench: RFC 2047 decoding of 100 KiB hostile field bodies against
// plain text of the same size (RFC 2047; every parser must be linear).
//
// For each pattern, decode_rfc2047() alone and the whole filename path
// (parse_structured_field + decoded_param on `filename="..."`) run over a
// 100 KiB input; the best of 7 rounds is printed as ns/octet, the ratio to
// plain text of the same size (target <= 2 for the hostile patterns) and the
// work counter's steps per octet (mime_params.h). Run a Release build:
//
//   build/bin/rfc2047_bench [KiB]
//
// Figures are recorded in bench/README.md; nothing here is a pass/fail test
// (tests/unit/mime_params_test.cc checks the step counts).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/mime/mime_params.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string repeat(std::string_view unit, std::size_t octets) {
  std::string s;
  while (s.size() + unit.size() <= octets) s += unit;
  while (s.size() < octets) s += 'x';
  return s;
}

struct Result {
  double ns_per_octet;
  double steps_per_octet;
};

volatile std::size_t g_sink;

template <typename F>
Result measure(const std::string& in, F&& f) {
  // Enough iterations for ~20 ms per round, best of 7 rounds.
  std::uint64_t steps = 0;
  auto t0 = Clock::now();
  f(in, &steps);
  const double once = std::chrono::duration<double>(Clock::now() - t0).count();
  const int iters = std::max(1, static_cast<int>(0.02 / std::max(once, 1e-9)));
  double best = 1e30;
  for (int round = 0; round < 7; ++round) {
    auto start = Clock::now();
    for (int i = 0; i < iters; ++i) f(in, nullptr);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count() / iters);
  }
  return {best * 1e9 / static_cast<double>(in.size()),
          static_cast<double>(steps) / static_cast<double>(in.size())};
}

Result words(const std::string& in) {
  return measure(in, [](const std::string& s, std::uint64_t* steps) {
    g_sink = esmtp::decode_rfc2047(s, steps).text.size();
  });
}

Result filename(const std::string& in) {
  const std::string field = "attachment; filename=\"" + in + "\"";
  return measure(field, [](const std::string& s, std::uint64_t* steps) {
    auto f = esmtp::parse_structured_field(s, {"filename"}, steps);
    auto d = esmtp::decoded_param(f, "filename", esmtp::EncodedWords::kYes, steps);
    g_sink = d ? d->text.size() : 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t size = (argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100) * 1024;
  struct Pattern {
    const char* name;
    std::string unit;
  };
  const std::vector<Pattern> patterns = {
      {"plain text", "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "},
      {"=?a?b?Z (unterminated)", "=?a?b?Z"},
      {"=? only", "=?"},
      {"=?a? (no encoding)", "=?a?"},
      {"=?a?q? (no end)", "=?a?q?"},
      {"?= only", "?="},
      {"=?=?a?b? (nested opens)", "=?=?a?b?"},
      {"utf-8 words", "=?utf-8?q?abc?= "},
      {"iso-8859-1 words", "=?iso-8859-1?q?caf=E9?= "},
      {"alternating charsets", "=?iso-8859-1?q?a?= =?iso-8859-2?q?b?= "},
  };
  std::printf("RFC 2047 decoding, %zu KiB inputs (best of 7 rounds)\n", size / 1024);
  std::printf("%-26s %13s %8s %10s | %13s %8s %10s\n", "pattern", "words ns/oct", "ratio",
              "steps/oct", "param ns/oct", "ratio", "steps/oct");
  Result plain_w{}, plain_f{};
  for (const auto& p : patterns) {
    const std::string in = repeat(p.unit, size);
    const Result w = words(in), f = filename(in);
    if (&p == &patterns.front()) plain_w = w, plain_f = f;
    std::printf("%-26s %13.3f %8.2f %10.2f | %13.3f %8.2f %10.2f\n", p.name, w.ns_per_octet,
                w.ns_per_octet / plain_w.ns_per_octet, w.steps_per_octet, f.ns_per_octet,
                f.ns_per_octet / plain_f.ns_per_octet, f.steps_per_octet);
  }
  return 0;
}
