// rules: the table of inspection rules and identity checks
// (esmtp-inspect.yaml(5), RULES and IDENTITY CHECKS).
//
// One row per rule: name, stage, what it measures, its parameter kind, the
// default limit and action, the default reply and the ASA equivalent. The
// config loader, `check-config`, the annotated conf/esmtp-inspect.yaml and the
// engine all read these rows; nothing else lists the rules.
//
// Thread-safety: immutable data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/mime/mime_limits.h"
#include "common/rules/verdict.h"

namespace esmtp {

enum class RuleId : std::uint8_t {
  kCommandLineLength,
  kRecipientCount,
  kInvalidRecipients,
  kSenderAddressLength,
  kSenderAddress,
  kSpecialCharacters,
  kHeaderLineLength,
  kHeaderLength,
  kToFieldsCount,
  kBodyLineLength,
  kBodyLength,
  kMimeFilenameLength,
  kMimeFilename,
  kMimeEncoding,
  kMimeStructure,
  kPlaintextSession,
};
inline constexpr std::size_t kRuleCount = 16;

// What a rule's configuration carries besides action/reply/mode.
enum class RuleParam : std::uint8_t {
  kMax,         // max: integer limit
  kPatterns,    // patterns: list of globs or "re:" RE2 expressions
  kCharacters,  // characters: string of forbidden characters
  kDeny,        // deny: list of Content-Transfer-Encoding names
  kMimeLimits,  // max_depth, max_parts, max_boundary_length, max_part_header_bytes
  kNone,        // nothing: the rule is a switch
};

struct RuleInfo {
  RuleId id;
  std::string_view name;
  std::string_view stage;  // for documentation and check-config
  RuleParam param;
  bool on_by_default;  // off-by-default rules turn on when their parameter is set
  std::uint64_t default_max;
  std::uint64_t min;  // range of `max` (kMax rules)
  std::uint64_t max;
  Action default_action;
  std::string_view default_reply;
  std::string_view asa;  // the ASA inspect esmtp equivalent, for the docs
  std::string_view help;
};

std::span<const RuleInfo> rule_table();
const RuleInfo& rule_info(RuleId id);
std::optional<RuleId> find_rule(std::string_view name);

enum class CheckId : std::uint8_t {
  kPtrPresent,
  kFcrdns,
  kHeloSyntax,
  kHeloLiteralMatch,
  kHeloResolves,
  kHeloMatchesClient,
  kHeloMatchesPtr,
  kHeloNotSelf,
  kSelfBanner,
};
inline constexpr std::size_t kCheckCount = 9;

struct CheckInfo {
  CheckId id;
  std::string_view name;
  Action default_action;
  std::string_view default_reply;
  std::string_view help;
};
std::span<const CheckInfo> check_table();
const CheckInfo& check_info(CheckId id);
std::optional<CheckId> find_check(std::string_view name);

}  // namespace esmtp
