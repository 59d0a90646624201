#include "common/rules/rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "common/util/text.h"

namespace esmtp {
namespace {

constexpr std::uint64_t kBig = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kHuge = std::uint64_t{1} << 40;  // 1 TiB: no real message

// ---- Evaluators: one per rule, each deciding the events of its row. ----

// Length of "VERB ARG PARAM...\r\n" as the client sent it.
std::uint64_t command_length(std::string_view verb_and_arg, std::size_t arg_len,
                             std::span<const std::string_view> params) {
  std::uint64_t n = verb_and_arg.size() + arg_len + 2;
  for (auto p : params) n += 1 + p.size();
  return n;
}

Finding over_max(const RuleConfig& rc, std::uint64_t actual, std::string where,
                 std::string detail = {}) {
  return {std::to_string(actual), std::to_string(rc.max), true, std::move(where),
          std::move(detail)};
}

// Rules whose action does not end the transaction report the largest value
// once the stage is over; the others act on the first value over the limit.
bool worst_or_first(const RuleConfig& rc, RuleMemory& mem, std::uint64_t actual, std::string where,
                    Finding& out) {
  if (is_terminal(rc.action)) {
    mem.fired = true;
    out = over_max(rc, actual, std::move(where));
    return true;
  }
  if (actual > mem.pending) {
    mem.pending = actual;
    mem.pending_where = std::move(where);
  }
  return false;
}

bool pending_at_end(const RuleConfig& rc, RuleMemory& mem, Finding& out) {
  if (mem.pending == 0 || mem.fired) return false;
  out = pending_finding(rc, mem);
  return true;
}

std::string header_where(std::string_view name) {
  return "header:" + shown(name.substr(0, 64));
}

bool command_line_length(const RuleConfig& rc, const Facts& f, RuleMemory&, Finding& out) {
  std::uint64_t len = 0;
  if (f.event == Event::kHelo)
    len = command_length("HELO ", f.helo.size(), {});
  else if (f.event == Event::kMail)
    len = command_length("MAIL FROM:<>", f.address.size(), f.params);
  else
    len = command_length("RCPT TO:<>", f.address.size(), f.params);
  if (len <= rc.max) return false;
  out = over_max(rc, len, std::string(to_string(f.event)));
  return true;
}

bool recipient_count(const RuleConfig& rc, const Facts& f, RuleMemory&, Finding& out) {
  if (f.accepted < rc.max) return false;
  out = over_max(rc, f.accepted + std::uint64_t{1}, "rcpt");
  return true;
}

bool invalid_recipients(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (f.invalid <= rc.max || mem.fired_in_session) return false;
  mem.fired_in_session = true;
  out = over_max(rc, f.invalid, "rcpt");
  return true;
}

bool sender_address_length(const RuleConfig& rc, const Facts& f, RuleMemory&, Finding& out) {
  if (f.address.size() <= rc.max) return false;
  out = over_max(rc, f.address.size(), "mail");
  return true;
}

bool sender_address(const RuleConfig& rc, const Facts& f, RuleMemory&, Finding& out) {
  const std::string* hit = rc.patterns.match(f.address);
  if (!hit) return false;
  out = Finding{shown(f.address), *hit, false, "mail", {}};
  return true;
}

// NUL, CR and LF are always forbidden.
bool special_characters(const RuleConfig& rc, const Facts& f, RuleMemory&, Finding& out) {
  for (char c : f.address) {
    if (c == '\0' || c == '\r' || c == '\n' || rc.characters.find(c) != std::string::npos) {
      out = Finding{
          fmt::format("0x{:02x}", c & 0xff), "", false, std::string(to_string(f.event)), {}};
      return true;
    }
  }
  return false;
}

bool header_line_length(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (f.event == Event::kEndOfHeaders) return pending_at_end(rc, mem, out);
  if (mem.fired || f.header_longest_line <= rc.max) return false;
  return worst_or_first(rc, mem, f.header_longest_line, header_where(f.header_name), out);
}

bool header_length(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (mem.fired || f.header_octets <= rc.max) return false;
  mem.fired = true;
  out = over_max(rc, f.header_octets, header_where(f.header_name));
  return true;
}

bool to_fields_count(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (iequals(f.header_name, "to")) ++mem.count;
  if (mem.fired || mem.count <= rc.max) return false;
  mem.fired = true;
  out = over_max(rc, mem.count, header_where(f.header_name));
  return true;
}

bool body_line_length(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (f.event == Event::kEndOfMessage) return pending_at_end(rc, mem, out);
  if (mem.fired || f.line_length <= rc.max) return false;
  return worst_or_first(rc, mem, f.line_length, fmt::format("body:{}", f.line_no), out);
}

// The SIZE= declared at MAIL (not remembered: the message as received is
// measured again), then the header section and body as they arrive; the body
// only once it is complete, so the size logged is the message's, whatever
// the chunking.
bool body_length(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (f.event == Event::kMail) {
    for (auto p : f.params) {
      if (p.size() <= 5 || !iequals(p.substr(0, 5), "SIZE=")) continue;
      std::uint64_t size = 0;
      auto [end, ec] = std::from_chars(p.data() + 5, p.data() + p.size(), size);
      if (ec == std::errc::result_out_of_range) size = UINT64_MAX;
      if ((ec == std::errc() || ec == std::errc::result_out_of_range) && size > rc.max) {
        out = over_max(rc, size, "mail:SIZE");
        return true;
      }
      break;
    }
    return false;
  }
  if (mem.fired || f.message_octets <= rc.max) return false;
  mem.fired = true;
  out = over_max(rc, f.message_octets, f.event == Event::kEndOfMessage ? "body" : "header");
  return true;
}

std::string filename_detail(const MimeFilename& n) {
  return fmt::format("{}{}={}", n.decoded ? "" : "undecodable ", n.source, shown(n.name));
}

bool mime_filename_length(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (mem.fired || f.filename->name.size() <= rc.max) return false;
  mem.fired = true;
  out = over_max(rc, f.filename->name.size(), fmt::format("mime:{}", f.filename->part),
                 filename_detail(*f.filename));
  return true;
}

bool mime_filename(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (mem.fired) return false;
  const std::string* hit = rc.patterns.match(f.filename->name);
  if (!hit) return false;
  mem.fired = true;
  out = Finding{shown(f.filename->name), *hit, false, fmt::format("mime:{}", f.filename->part),
                filename_detail(*f.filename)};
  return true;
}

bool mime_encoding(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (mem.fired) return false;
  auto hit = std::find(rc.deny.begin(), rc.deny.end(), f.encoding);
  if (hit == rc.deny.end()) return false;
  mem.fired = true;
  out = Finding{shown(f.encoding), *hit, false, fmt::format("mime:{}", f.part), {}};
  return true;
}

bool mime_structure(const RuleConfig&, const Facts& f, RuleMemory& mem, Finding& out) {
  if (mem.fired) return false;
  mem.fired = true;
  out = Finding{std::to_string(f.mime_actual), std::to_string(f.mime_max), true,
                fmt::format("mime:{}", f.part), std::string(to_string(f.mime_limit))};
  return true;
}

bool plaintext_session(const RuleConfig&, const Facts& f, RuleMemory&, Finding& out) {
  if (f.tls) return false;
  out = Finding{"plaintext", "tls", false, "mail", {}};
  return true;
}

// harvest and client_rate: a count over a sliding window, from the counter
// store, which the session asks for the events of these rows only: harvest
// reads at CONNECT (a client over the limit is refused for the rest of the
// window) and counts at each rejected RCPT; client_rate counts at the
// session's first MAIL. No count: the store could not tell (on_error:
// skip), or the client has no IP address. Fires once per session.
bool over_window(const RuleConfig& rc, const Facts& f, RuleMemory& mem, Finding& out) {
  if (!f.window_count || *f.window_count <= rc.max || mem.fired_in_session) return false;
  mem.fired_in_session = true;
  out = over_max(rc, *f.window_count, std::string(to_string(f.event)),
                 fmt::format("{} in {}", shown(f.counter),
                             duration_text(std::chrono::seconds(rc.window_seconds))));
  return true;
}

using E = Event;
using D = Decider;

// Order matches RuleId.
constexpr std::array<RuleInfo, kRuleCount> kRules{{
    {RuleId::kCommandLineLength, "command_line_length", events_of({E::kHelo, E::kMail, E::kRcpt}),
     D::kPolicy, 3, RuleParam::kMax, true, 512, 16, 65536, "", "", Action::kReject,
     "500 5.5.2 Command line too long", "match cmd line length gt 512",
     "Octets of a HELO/EHLO, MAIL or RCPT command line rebuilt from verb, argument and ESMTP "
     "parameters, CRLF included (RFC 5321 allows 512).",
     command_line_length},
    {RuleId::kRecipientCount, "recipient_count", events_of({E::kRcpt}), D::kPolicy, 4,
     RuleParam::kMax, true, 100, 1, kBig, "", "", Action::kTempfail,
     "452 4.5.3 Too many recipients", "match cmd RCPT count gt 100",
     "Accepted recipients per transaction. Each recipient past the limit gets the reply; the "
     "message is delivered to the others and the sender retries the rest.",
     recipient_count},
    {RuleId::kInvalidRecipients, "invalid_recipients", events_of({E::kRcptRejected}), D::kMilter, 5,
     RuleParam::kMax, true, 20, 1, kBig, "", "", Action::kDisconnect,
     "421 4.7.0 Too many invalid recipients", "match invalid-recipients count gt",
     "Recipients the MTA rejected in one session (directory harvesting).", invalid_recipients},
    {RuleId::kSenderAddressLength, "sender_address_length", events_of({E::kMail}), D::kPolicy, 1,
     RuleParam::kMax, true, 320, 1, 65536, "", "", Action::kReject,
     "501 5.1.7 Sender address too long", "match sender-address length gt 320",
     "Octets of the envelope sender address.", sender_address_length},
    {RuleId::kSenderAddress, "sender_address", events_of({E::kMail}), D::kPolicy, 2,
     RuleParam::kPatterns, false, 0, 0, 0, "", "*@spam.example", Action::kReject,
     "550 5.7.1 Sender address rejected", "match sender-address regex",
     "Envelope senders matching any pattern (glob like \"*@spam.example\", case-insensitive, "
     "or \"re:\" followed by an RE2 expression).",
     sender_address},
    {RuleId::kSpecialCharacters, "special_characters", events_of({E::kMail, E::kRcpt}), D::kPolicy,
     0, RuleParam::kCharacters, true, 0, 0, 0, "|`", "", Action::kReject,
     "501 5.1.3 Invalid character in address", "special-character (pipe signature)",
     "Forbidden characters in envelope addresses. NUL, CR and LF are always forbidden.",
     special_characters},
    {RuleId::kHeaderLineLength, "header_line_length", events_of({E::kHeader, E::kEndOfHeaders}),
     D::kMilter, 6, RuleParam::kMax, true, 998, 78, kBig, "", "", Action::kReject,
     "550 5.6.0 Header line too long", "match header line length gt 998",
     "Longest physical line of any header field, CRLF excluded (RFC 5322 allows 998).",
     header_line_length},
    {RuleId::kHeaderLength, "header_length", events_of({E::kHeader}), D::kMilter, 8,
     RuleParam::kMax, false, 102400, 1024, kBig, "", "", Action::kReject,
     "552 5.3.4 Message header too large", "match header length gt",
     "Total octets of the header section.", header_length},
    {RuleId::kToFieldsCount, "to_fields_count", events_of({E::kHeader}), D::kMilter, 7,
     RuleParam::kMax, false, 1, 1, kBig, "", "", Action::kReject, "550 5.6.0 Too many To fields",
     "match header to-fields count gt", "Number of To: header fields (RFC 5322 allows one).",
     to_fields_count},
    {RuleId::kBodyLineLength, "body_line_length", events_of({E::kBodyLine, E::kEndOfMessage}),
     D::kMilter, 9, RuleParam::kMax, true, 998, 78, kBig, "", "", Action::kLog,
     "550 5.6.0 Body line too long", "match body line length gt 998",
     "Longest body line, CRLF excluded, MIME part headers included.", body_line_length},
    {RuleId::kBodyLength, "body_length", events_of({E::kMail, E::kHeader, E::kEndOfMessage}),
     D::kMilter, 14, RuleParam::kMax, false, 52428800, 1024, kHuge, "", "", Action::kReject,
     "552 5.3.4 Message too big", "match body length gt",
     "Message size in octets: the SIZE= declared at MAIL, then the header section plus body "
     "as received.",
     body_length},
    {RuleId::kMimeFilenameLength, "mime_filename_length", events_of({E::kMimeFilename}), D::kMilter,
     10, RuleParam::kMax, true, 255, 1, 65536, "", "", Action::kReject,
     "550 5.6.0 Attachment filename too long", "match MIME filename length gt 255",
     "Attachment filename length in UTF-8 octets after RFC 2231 and RFC 2047 decoding; "
     "undecodable names are measured raw.",
     mime_filename_length},
    {RuleId::kMimeFilename, "mime_filename", events_of({E::kMimeFilename}), D::kMilter, 11,
     RuleParam::kPatterns, false, 0, 0, 0, "", "*.exe", Action::kReject,
     "550 5.7.1 Attachment type not allowed", "match mime filetype",
     "Attachment filenames matching any pattern (glob like \"*.exe\", case-insensitive, or "
     "\"re:\" followed by an RE2 expression).",
     mime_filename},
    {RuleId::kMimeEncoding, "mime_encoding", events_of({E::kMimeEncoding}), D::kMilter, 12,
     RuleParam::kDeny, false, 0, 0, 0, "", "uuencode binhex", Action::kReject,
     "554 5.6.0 Content encoding not allowed", "match mime encoding",
     "Content-Transfer-Encoding values that are refused (case-insensitive).", mime_encoding},
    {RuleId::kMimeStructure, "mime_structure", events_of({E::kMimeLimit}), D::kMilter, 13,
     RuleParam::kMimeLimits, true, 0, 0, 0, "", "", Action::kReject,
     "554 5.6.0 MIME structure too complex", "none",
     "MIME nesting depth, part count, boundary length and part header size (MIME bombs).",
     mime_structure},
    {RuleId::kPlaintextSession, "plaintext_session", events_of({E::kMail}), D::kPolicy, 15,
     RuleParam::kNone, false, 0, 0, 0, "", "", Action::kLog,
     "530 5.7.0 Must issue a STARTTLS command first", "allow-tls (log)",
     "A transaction on a session not protected by TLS. Off unless an action is set.",
     plaintext_session},
    {RuleId::kHarvest, "harvest", events_of({E::kConnect, E::kRcptRejected}), D::kMilter, 16,
     RuleParam::kWindow, false, 50, 1, kBig, "", "", Action::kDisconnect,
     "421 4.7.0 Too many invalid recipients, try again later", "none",
     "Recipients the MTA rejected from one client address or network (per:) within a sliding "
     "window, over all its sessions and, with a shared store, all MTAs. Counted at each rejected "
     "RCPT; a client over the limit is refused at CONNECT for the rest of the window.",
     over_window},
    {RuleId::kClientRate, "client_rate", events_of({E::kMail}), D::kPolicy, 17, RuleParam::kWindow,
     false, 600, 1, kBig, "", "", Action::kDisconnect,
     "421 4.7.0 Too many connections, try again later", "none",
     "Sessions from one client address or network (per:) within a sliding window, over all MTAs "
     "sharing the store; counted at the session's first MAIL, with the client address the MTA "
     "reports then (an XCLIENT or proxy-reported client, not the proxy).",
     over_window},
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

constexpr bool ranks_distinct(const std::array<RuleInfo, kRuleCount>& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t j = i + 1; j < t.size(); ++j)
      if (t[i].rank == t[j].rank) return false;
  return true;
}
static_assert(ranks_distinct(kRules), "two rules of one event need an order: distinct ranks");

constexpr RankOrder rank_order_of(const std::array<RuleInfo, kRuleCount>& t) {
  RankOrder o{};
  std::size_t k = 0;
  for (unsigned rank = 0; rank <= 255; ++rank)
    for (const RuleInfo& r : t) {
      if (r.rank != rank) continue;
      o.rule[k] = &r;
      o.bit[static_cast<std::size_t>(r.id)] = static_cast<std::uint8_t>(k);
      for (std::size_t e = 0; e < kEventCount; ++e)
        if (has(r.events, static_cast<Event>(e))) o.of_event[e] |= 1u << k;
      ++k;
    }
  return o;
}
constexpr RankOrder kRankOrder = rank_order_of(kRules);
static_assert(kRuleCount <= 32, "RankOrder::of_event has a bit per rule");

constexpr std::string_view kEventNames[kEventCount] = {"connect", "helo",   "mail",   "rcpt",
                                                       "rcpt",    "header", "header", "body",
                                                       "body",    "body",   "body",   "body"};

}  // namespace

std::string_view to_string(Event e) {
  return kEventNames[static_cast<std::size_t>(e)];
}

std::string stage_text(EventSet events) {
  std::string out;
  for (std::size_t i = 0; i < kEventCount; ++i) {
    if (!has(events, static_cast<Event>(i))) continue;
    const std::string_view name = kEventNames[i];
    if (out == name || out.ends_with(", " + std::string(name))) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::uint32_t default_window_seconds(RuleId id) {
  switch (id) {
    case RuleId::kHarvest:
      return 600;
    case RuleId::kClientRate:
      return 60;
    default:
      return 0;
  }
}

std::optional<CounterScope> parse_counter_scope(std::string_view text) {
  text = trim(text);
  if (text == "address") return CounterScope{};
  CounterScope s;
  bool v4 = false, v6 = false;
  while (!text.empty()) {
    const std::size_t sp = text.find(' ');
    std::string_view word = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view{} : trim(text.substr(sp));
    unsigned n = 0;
    if (word.size() < 2 || word[0] != '/') return std::nullopt;
    auto [end, ec] = std::from_chars(word.data() + 1, word.data() + word.size(), n);
    if (ec != std::errc() || end != word.data() + word.size() || n == 0 || n > 128)
      return std::nullopt;
    if (n <= 32 && !v4) {
      s.v4 = static_cast<std::uint8_t>(n);
      v4 = true;
    } else if (n > 32 && !v6) {
      s.v6 = static_cast<std::uint8_t>(n);
      v6 = true;
    } else {
      return std::nullopt;  // two IPv4 or two IPv6 prefixes
    }
  }
  if (!v4 && !v6) return std::nullopt;
  // One IPv4 prefix: an IPv6 client counts by its /64 (one site's subnet).
  if (v4 && !v6 && s.v4 < 32) s.v6 = 64;
  return s;
}

std::string to_string(const CounterScope& s) {
  if (s == CounterScope{}) return "address";
  if (s.v4 < 32 && s.v6 == 64) return fmt::format("/{}", s.v4);
  if (s.v4 == 32) return fmt::format("/{}", s.v6);
  return fmt::format("/{} /{}", s.v4, s.v6);
}

Finding pending_finding(const RuleConfig& rc, RuleMemory& mem) {
  mem.fired = true;
  Finding f = over_max(rc, mem.pending, std::move(mem.pending_where));
  mem.pending = 0;
  return f;
}

const RankOrder& rank_order() {
  return kRankOrder;
}

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
