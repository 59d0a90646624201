#include "common/mime/mime_limits.h"

#include <array>

namespace esmtp {
namespace {

constexpr std::array<MimeLimitInfo, 4> kMimeLimits{{
    {"max_depth", &MimeLimits::max_depth, 1, 100,
     "Deepest nesting of multipart and message/rfc822 parts."},
    {"max_parts", &MimeLimits::max_parts, 1, 100000, "Most MIME parts in one message."},
    {"max_boundary_length", &MimeLimits::max_boundary_length, 1,
     static_cast<std::uint32_t>(kBoundaryStoreMax),
     "Longest multipart boundary (RFC 2046 allows 70)."},
    {"max_part_header_bytes", &MimeLimits::max_part_header_bytes, 1024, 1048576,
     "Largest header section of one MIME part, in octets."},
}};

}  // namespace

std::span<const MimeLimitInfo> mime_limit_table() {
  return kMimeLimits;
}

}  // namespace esmtp
