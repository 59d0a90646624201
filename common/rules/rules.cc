#include "common/rules/rules.h"

#include <limits>

namespace esmtp {
namespace {

constexpr std::uint64_t kBig = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kHuge = std::uint64_t{1} << 40;  // 1 TiB: no real message

// Order matches RuleId.
constexpr std::array<RuleInfo, kRuleCount> kRules{{
    {RuleId::kCommandLineLength, "command_line_length", "helo, mail, rcpt", RuleParam::kMax, true,
     512, 16, 65536, Action::kReject, "500 5.5.2 Command line too long",
     "match cmd line length gt 512",
     "Octets of a HELO/EHLO, MAIL or RCPT command line rebuilt from verb, argument and ESMTP "
     "parameters, CRLF included (RFC 5321 allows 512)."},
    {RuleId::kRecipientCount, "recipient_count", "rcpt", RuleParam::kMax, true, 100, 1, kBig,
     Action::kTempfail, "452 4.5.3 Too many recipients", "match cmd RCPT count gt 100",
     "Accepted recipients per transaction. Each recipient past the limit gets the reply; the "
     "message is delivered to the others and the sender retries the rest."},
    {RuleId::kInvalidRecipients, "invalid_recipients", "rcpt", RuleParam::kMax, true, 20, 1, kBig,
     Action::kDisconnect, "421 4.7.0 Too many invalid recipients",
     "match invalid-recipients count gt",
     "Recipients the MTA rejected in one session (directory harvesting)."},
    {RuleId::kSenderAddressLength, "sender_address_length", "mail", RuleParam::kMax, true, 320, 1,
     65536, Action::kReject, "501 5.1.7 Sender address too long",
     "match sender-address length gt 320", "Octets of the envelope sender address."},
    {RuleId::kSenderAddress, "sender_address", "mail", RuleParam::kPatterns, false, 0, 0, 0,
     Action::kReject, "550 5.7.1 Sender address rejected", "match sender-address regex",
     "Envelope senders matching any pattern (glob like \"*@spam.example\", case-insensitive, "
     "or \"re:\" followed by an RE2 expression)."},
    {RuleId::kSpecialCharacters, "special_characters", "mail, rcpt", RuleParam::kCharacters, true,
     0, 0, 0, Action::kReject, "501 5.1.3 Invalid character in address",
     "special-character (pipe signature)",
     "Forbidden characters in envelope addresses. NUL, CR and LF are always forbidden."},
    {RuleId::kHeaderLineLength, "header_line_length", "header", RuleParam::kMax, true, 998, 78,
     kBig, Action::kReject, "550 5.6.0 Header line too long", "match header line length gt 998",
     "Longest physical line of any header field, CRLF excluded (RFC 5322 allows 998)."},
    {RuleId::kHeaderLength, "header_length", "header", RuleParam::kMax, false, 102400, 1024, kBig,
     Action::kReject, "552 5.3.4 Message header too large", "match header length gt",
     "Total octets of the header section."},
    {RuleId::kToFieldsCount, "to_fields_count", "header", RuleParam::kMax, false, 1, 1, kBig,
     Action::kReject, "550 5.6.0 Too many To fields", "match header to-fields count gt",
     "Number of To: header fields (RFC 5322 allows one)."},
    {RuleId::kBodyLineLength, "body_line_length", "body", RuleParam::kMax, true, 998, 78, kBig,
     Action::kLog, "550 5.6.0 Body line too long", "match body line length gt 998",
     "Longest body line, CRLF excluded, MIME part headers included."},
    {RuleId::kBodyLength, "body_length", "mail, body", RuleParam::kMax, false, 52428800, 1024,
     kHuge, Action::kReject, "552 5.3.4 Message too big", "match body length gt",
     "Message size in octets: the SIZE= declared at MAIL, then the header section plus body "
     "as received."},
    {RuleId::kMimeFilenameLength, "mime_filename_length", "body", RuleParam::kMax, true, 255, 1,
     65536, Action::kReject, "550 5.6.0 Attachment filename too long",
     "match MIME filename length gt 255",
     "Attachment filename length in UTF-8 octets after RFC 2231 and RFC 2047 decoding; "
     "undecodable names are measured raw."},
    {RuleId::kMimeFilename, "mime_filename", "body", RuleParam::kPatterns, false, 0, 0, 0,
     Action::kReject, "550 5.7.1 Attachment type not allowed", "match mime filetype",
     "Attachment filenames matching any pattern (glob like \"*.exe\", case-insensitive, or "
     "\"re:\" followed by an RE2 expression)."},
    {RuleId::kMimeEncoding, "mime_encoding", "body", RuleParam::kDeny, false, 0, 0, 0,
     Action::kReject, "554 5.6.0 Content encoding not allowed", "match mime encoding",
     "Content-Transfer-Encoding values that are refused (case-insensitive)."},
    {RuleId::kMimeStructure, "mime_structure", "body", RuleParam::kMimeLimits, true, 0, 0, 0,
     Action::kReject, "554 5.6.0 MIME structure too complex", "none",
     "MIME nesting depth, part count, boundary length and part header size (MIME bombs)."},
    {RuleId::kPlaintextSession, "plaintext_session", "mail", RuleParam::kNone, false, 0, 0, 0,
     Action::kLog, "530 5.7.0 Must issue a STARTTLS command first", "allow-tls (log)",
     "A transaction on a session not protected by TLS. Off unless an action is set."},
}};

// Order matches CheckId.
constexpr std::array<CheckInfo, kCheckCount> kChecks{{
    {CheckId::kPtrPresent, "ptr_present", Action::kTag,
     "550 5.7.25 Client address has no PTR record",
     "The client address has at least one PTR name."},
    {CheckId::kFcrdns, "fcrdns", Action::kTag,
     "550 5.7.25 Reverse DNS of client address is not forward-confirmed",
     "Some PTR name of the client resolves (A/AAAA) back to the client address."},
    {CheckId::kHeloSyntax, "helo_syntax", Action::kReject,
     "504 5.5.2 Helo command rejected: need fully-qualified hostname",
     "HELO is a fully-qualified domain name or an address literal."},
    {CheckId::kHeloLiteralMatch, "helo_literal_match", Action::kTag,
     "550 5.7.1 Helo command rejected: address literal does not match client",
     "An address-literal HELO equals the client address."},
    {CheckId::kHeloResolves, "helo_resolves", Action::kTag,
     "550 5.7.1 Helo command rejected: host not found", "The HELO name has A or AAAA records."},
    {CheckId::kHeloMatchesClient, "helo_matches_client", Action::kTag,
     "550 5.7.1 Helo command rejected: name does not match client address",
     "The HELO name's A/AAAA records include the client address."},
    {CheckId::kHeloMatchesPtr, "helo_matches_ptr", Action::kTag,
     "550 5.7.1 Helo command rejected: name does not match reverse DNS",
     "HELO equals a forward-confirmed PTR name (mode: exact) or shares its registered domain "
     "(mode: domain)."},
    {CheckId::kHeloNotSelf, "helo_not_self", Action::kReject,
     "550 5.7.1 Helo command rejected: you are not me",
     "HELO is not one of our own names or addresses."},
    {CheckId::kSelfBanner, "self_banner", Action::kLog, "",
     "Our banner hostname forward-confirms to the address we answer on. Warns at most once per "
     "name and address per hour; never affects mail."},
}};

template <typename Table>
constexpr bool rows_in_enum_order(const Table& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (static_cast<std::size_t>(t[i].id) != i) return false;
  return true;
}
static_assert(rows_in_enum_order(kRules), "kRules rows must follow RuleId order");
static_assert(rows_in_enum_order(kChecks), "kChecks rows must follow CheckId order");

}  // namespace

std::span<const RuleInfo> rule_table() {
  return kRules;
}
const RuleInfo& rule_info(RuleId id) {
  return kRules[static_cast<std::size_t>(id)];
}
std::optional<RuleId> find_rule(std::string_view name) {
  for (const auto& r : kRules)
    if (r.name == name) return r.id;
  return std::nullopt;
}

std::span<const CheckInfo> check_table() {
  return kChecks;
}
const CheckInfo& check_info(CheckId id) {
  return kChecks[static_cast<std::size_t>(id)];
}
std::optional<CheckId> find_check(std::string_view name) {
  for (const auto& c : kChecks)
    if (c.name == name) return c.id;
  return std::nullopt;
}

}  // namespace esmtp
