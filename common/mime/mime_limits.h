// mime_limits: the limits of the mime_structure rule (esmtp-inspect.yaml(5),
// RULES: mime_structure), with their configuration keys and ranges. They live
// with the MIME scanner, which enforces them; the rule table and the config
// loader read this table.
//
// Thread-safety: immutable data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace esmtp {

// MIME structure limits (the parameters of mime_structure), with their ranges.
struct MimeLimits {
  std::uint32_t max_depth = 20;
  std::uint32_t max_parts = 1000;
  std::uint32_t max_boundary_length = 70;
  std::uint32_t max_part_header_bytes = 65536;
};

struct MimeLimitInfo {
  std::string_view key;
  std::uint32_t MimeLimits::*field;
  std::uint32_t min;
  std::uint32_t max;
  std::string_view help;
};
std::span<const MimeLimitInfo> mime_limit_table();

// The longest boundary the scanner stores. Longer boundaries are a structure
// violation at any configured limit, and their parts are not descended into.
inline constexpr std::size_t kBoundaryStoreMax = 256;

}  // namespace esmtp
