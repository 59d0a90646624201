#include "common/engine/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "common/util/text.h"

namespace esmtp {
namespace {

constexpr std::size_t kShownMax = 200;  // longest name/address echoed in a log line

std::string_view strip_brackets(std::string_view a) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return a;
}

std::string shown(std::string_view s) {
  if (s.size() <= kShownMax) return std::string(s);
  // Cut at a character boundary so that UTF-8 stays readable in the log.
  std::size_t cut = kShownMax;
  while (cut > kShownMax - 3 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

// Length of "VERB ARG PARAM...\r\n" as the client sent it.
std::uint64_t command_length(std::string_view verb_and_arg, std::size_t arg_len,
                             std::span<const std::string_view> params) {
  std::uint64_t n = verb_and_arg.size() + arg_len + 2;
  for (auto p : params) n += 1 + p.size();
  return n;
}

}  // namespace

Session::Session(std::shared_ptr<const Config> config, Logger* logger)
    : config_(std::move(config)), logger_(logger), profile_(&config_->defaults), scanner_(*this) {
  last_.reserve(kRuleCount + 2);
}

bool Session::active(RuleId id) const {
  return profile_->inspect && profile_->rules[static_cast<std::size_t>(id)].enabled();
}

Verdict Session::outcome() const {
  // `return {}` value-initializes: it zero-fills the whole Verdict (a
  // ~300-byte memset) before constructing it, on every event. A default-
  // initialized local returned on every path is built in place (NRVO).
  Verdict v;
  if (!last_.empty())
    v = *std::max_element(last_.begin(), last_.end(),
                          [](const Verdict& a, const Verdict& b) { return more_severe(b, a); });
  return v;
}

Action Session::fire(RuleId id, Scope scope, std::string actual, std::string limit, bool numeric,
                     std::string where, std::string detail, std::string_view rcpt) {
  const auto idx = static_cast<std::size_t>(id);
  const RuleConfig& rc = profile_->rules[idx];
  Verdict v;
  v.rule = rule_info(id).name;
  set_action(v, rc.action, effective_mode(*config_, *profile_, rc));
  v.actual = std::move(actual);
  v.limit = std::move(limit);
  v.numeric = numeric;
  v.where = std::move(where);
  v.detail = std::move(detail);
  v.recipient = std::string(rcpt);
  v.reply = rc.reply;
  return record(std::move(v), scope, false);
}

void Session::set_action(Verdict& v, Action configured, Mode mode) const {
  if (mode == Mode::kMonitor && configured > Action::kLog) {
    v.action = Action::kLog;
    v.would = configured;
  } else {
    v.action = configured;
  }
}

Action Session::record(Verdict v, Scope scope, bool session_level) {
  v.profile = profile_->name;
  if (is_terminal(v.action) && (scope != Scope::kCommand || v.action == Action::kDisconnect ||
                                v.action == Action::kDiscard)) {
    // The transaction ends here: what was being measured is reported first.
    report_longest_header();
    report_longest_body();
  }
  if (logger_) {
    LogContext ctx{queue_id_, client_name_, client_addr_, helo_, from_, have_from_};
    logger_->verdict(ctx, v);
  }
  switch (v.action) {
    case Action::kTag:
      (session_level ? session_tags_ : tags_)
          .push_back(v.numeric ? fmt::format("rule={}; result=fail; actual={}; limit={}", v.rule,
                                             v.actual, v.limit)
                               : fmt::format("rule={}; result={}", v.rule,
                                             session_level ? v.actual : "fail"));
      break;
    case Action::kQuarantine:
      if (quarantine_reason_.empty())
        quarantine_reason_ = fmt::format("esmtp-inspect rule={}", v.rule);
      break;
    case Action::kDisconnect:
      disconnected_ = true;
      decision_ = v;
      break;
    case Action::kDiscard:
      decision_ = v;  // discards the whole message even at RCPT
      break;
    case Action::kReject:
    case Action::kTempfail:
      if (scope != Scope::kCommand) decision_ = v;
      break;
    default:
      break;
  }
  const Action effective = v.action;
  last_.push_back(std::move(v));
  return effective;
}

Action Session::fire_limit(RuleId id, Scope scope, std::uint64_t actual, std::string where,
                           std::string detail, std::string_view rcpt) {
  const RuleConfig& rc = profile_->rules[static_cast<std::size_t>(id)];
  return fire(id, scope, std::to_string(actual), std::to_string(rc.max), true, std::move(where),
              std::move(detail), rcpt);
}

void Session::select(bool authenticated) {
  ClientFacts facts{client_ip_, authenticated, daemon_};
  profile_ = &select_profile(*config_, facts);
}

Verdict Session::connect(std::string_view address, std::uint16_t, std::string_view name) {
  begin_event();
  client_addr_ = std::string(address);
  client_name_ = std::string(name);
  client_ip_ = IpAddress::parse(address);
  select(!auth_user_.empty());
  return outcome();
}

Verdict Session::helo(std::string_view name) {
  begin_event();
  if (shown(name) != helo_) {
    // A new HELO name: the identity checks are made again.
    checks_fired_.reset();
    session_tags_.clear();
  }
  helo_ = shown(name);
  if (disconnected_) return *decision_;
  const std::uint64_t len = command_length("HELO ", name.size(), {});
  if (active(RuleId::kCommandLineLength) &&
      len > profile_->rules[static_cast<std::size_t>(RuleId::kCommandLineLength)].max)
    fire_limit(RuleId::kCommandLineLength, Scope::kCommand, len, "helo");
  return outcome();
}

void Session::start_transaction() {
  have_from_ = false;
  from_.clear();
  accepted_ = refused_ = to_fields_ = 0;
  header_octets_ = message_octets_ = 0;
  in_body_ = false;
  fired_.reset();
  longest_header_ = longest_body_ = longest_body_line_ = 0;
  longest_header_name_.clear();
  if (!disconnected_) decision_.reset();
  tags_.clear();
  quarantine_reason_.clear();
  const RuleConfig& lines = profile_->rules[static_cast<std::size_t>(RuleId::kBodyLineLength)];
  const RuleConfig& mime = profile_->rules[static_cast<std::size_t>(RuleId::kMimeStructure)];
  // The body is scanned only when some rule reads it.
  scanning_ = profile_->inspect &&
              (lines.enabled() || mime.enabled() || active(RuleId::kMimeFilenameLength) ||
               active(RuleId::kMimeFilename) || active(RuleId::kMimeEncoding));
  scanner_.reset(mime.mime, lines.enabled() ? lines.max : UINT64_MAX);
}

bool Session::forbidden_character(std::string_view address, char* found) const {
  const std::string& extra =
      profile_->rules[static_cast<std::size_t>(RuleId::kSpecialCharacters)].characters;
  for (char c : address) {
    if (c == '\0' || c == '\r' || c == '\n' || extra.find(c) != std::string::npos) {
      *found = c;
      return true;
    }
  }
  return false;
}

Verdict Session::mail(std::string_view address, std::span<const std::string_view> params) {
  begin_event();
  if (disconnected_) return *decision_;
  select(!auth_user_.empty());
  start_transaction();
  const std::string_view addr = strip_brackets(address);
  from_ = shown(addr);
  have_from_ = true;
  const auto& rules = profile_->rules;
  auto max_of = [&](RuleId id) { return rules[static_cast<std::size_t>(id)].max; };

  // Most specific rules first: one refusal per command.
  char bad = 0;
  if (active(RuleId::kSpecialCharacters) && forbidden_character(addr, &bad))
    fire(RuleId::kSpecialCharacters, Scope::kTransaction, fmt::format("0x{:02x}", bad & 0xff), "",
         false, "mail");
  if (!blocked() && active(RuleId::kSenderAddressLength) &&
      addr.size() > max_of(RuleId::kSenderAddressLength))
    fire_limit(RuleId::kSenderAddressLength, Scope::kTransaction, addr.size(), "mail");
  if (!blocked() && active(RuleId::kSenderAddress)) {
    const auto& p = rules[static_cast<std::size_t>(RuleId::kSenderAddress)].patterns;
    if (const std::string* hit = p.match(addr))
      fire(RuleId::kSenderAddress, Scope::kTransaction, shown(addr), *hit, false, "mail");
  }
  const std::uint64_t len = command_length("MAIL FROM:<>", addr.size(), params);
  if (!blocked() && active(RuleId::kCommandLineLength) && len > max_of(RuleId::kCommandLineLength))
    fire_limit(RuleId::kCommandLineLength, Scope::kTransaction, len, "mail");
  if (!blocked() && active(RuleId::kBodyLength)) {
    for (auto p : params) {
      if (p.size() <= 5 || !iequals(p.substr(0, 5), "SIZE=")) continue;
      std::uint64_t size = 0;
      auto [end, ec] = std::from_chars(p.data() + 5, p.data() + p.size(), size);
      if (ec == std::errc::result_out_of_range) size = UINT64_MAX;
      if ((ec == std::errc() || ec == std::errc::result_out_of_range) &&
          size > max_of(RuleId::kBodyLength))
        fire_limit(RuleId::kBodyLength, Scope::kTransaction, size, "mail:SIZE");
      break;
    }
  }
  if (!blocked() && active(RuleId::kPlaintextSession) && (!tls_ || tls_->empty()))
    fire(RuleId::kPlaintextSession, Scope::kTransaction, "plaintext", "tls", false, "mail");
  return outcome();
}

Verdict Session::rcpt(std::string_view address, std::span<const std::string_view> params,
                      bool rejected_by_mta) {
  begin_event();
  if (blocked()) return *decision_;
  const std::string_view addr = strip_brackets(address);
  const std::string rcpt = shown(addr);
  const auto& rules = profile_->rules;
  auto max_of = [&](RuleId id) { return rules[static_cast<std::size_t>(id)].max; };

  if (rejected_by_mta) {
    ++invalid_;
    ++refused_;
    const auto idx = static_cast<std::size_t>(RuleId::kInvalidRecipients);
    if (active(RuleId::kInvalidRecipients) && invalid_ > max_of(RuleId::kInvalidRecipients) &&
        !session_fired_[idx]) {
      session_fired_[idx] = true;
      fire_limit(RuleId::kInvalidRecipients, Scope::kSession, invalid_, "rcpt", {}, rcpt);
    }
    return outcome();
  }

  Action a = Action::kContinue;
  char bad = 0;
  if (active(RuleId::kSpecialCharacters) && forbidden_character(addr, &bad))
    a = fire(RuleId::kSpecialCharacters, Scope::kCommand, fmt::format("0x{:02x}", bad & 0xff), "",
             false, "rcpt", {}, rcpt);
  const std::uint64_t len = command_length("RCPT TO:<>", addr.size(), params);
  if (reply_class_for(a) == 0 && !blocked() && active(RuleId::kCommandLineLength) &&
      len > max_of(RuleId::kCommandLineLength))
    a = fire_limit(RuleId::kCommandLineLength, Scope::kCommand, len, "rcpt", {}, rcpt);
  if (reply_class_for(a) == 0 && !blocked() && active(RuleId::kRecipientCount) &&
      accepted_ >= max_of(RuleId::kRecipientCount))
    a = fire_limit(RuleId::kRecipientCount, Scope::kCommand, accepted_ + 1, "rcpt", {}, rcpt);
  if (reply_class_for(a) == 0 && !blocked())
    ++accepted_;
  else
    ++refused_;
  return outcome();
}

Verdict Session::header(std::string_view name, std::string_view value, std::string_view raw,
                        const HeaderMetrics* metrics) {
  begin_event();
  if (blocked()) return *decision_;
  HeaderMetrics m;
  if (metrics) {
    m = *metrics;
  } else {
    // Rebuild the physical lines: "Name: value" or, when the MTA passed the
    // leading blank (SMFIP_HDR_LEADSPC) or a raw field, exactly what was sent.
    std::string_view text = raw.empty() ? value : raw;
    std::uint64_t first_extra = 0;
    if (raw.empty())
      first_extra =
          name.size() + 1 + ((value.empty() || (value[0] != ' ' && value[0] != '\t')) ? 1 : 0);
    bool first = true;
    while (true) {
      std::size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      std::uint64_t len = line.size() + (first ? first_extra : 0);
      m.longest_line = std::max(m.longest_line, len);
      m.octets += len + 2;
      first = false;
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
    }
  }
  header_octets_ += m.octets;
  message_octets_ += m.octets;
  if (!profile_->inspect) return outcome();

  const auto& rules = profile_->rules;
  auto max_of = [&](RuleId id) { return rules[static_cast<std::size_t>(id)].max; };
  auto once = [&](RuleId id) {
    const auto idx = static_cast<std::size_t>(id);
    if (fired_[idx] || blocked() || !active(id)) return false;
    return true;
  };
  auto mark = [&](RuleId id) { fired_[static_cast<std::size_t>(id)] = true; };
  // Built only when a rule fires: header() allocates nothing otherwise.
  auto where = [&] { return "header:" + shown(name.substr(0, 64)); };

  if (once(RuleId::kHeaderLineLength) && m.longest_line > max_of(RuleId::kHeaderLineLength)) {
    if (!reports_longest(RuleId::kHeaderLineLength)) {
      mark(RuleId::kHeaderLineLength);
      fire_limit(RuleId::kHeaderLineLength, Scope::kTransaction, m.longest_line, where());
    } else if (m.longest_line > longest_header_) {
      longest_header_ = m.longest_line;
      longest_header_name_ = where();
    }
  }
  if (iequals(name, "to")) ++to_fields_;
  if (once(RuleId::kToFieldsCount) && to_fields_ > max_of(RuleId::kToFieldsCount)) {
    mark(RuleId::kToFieldsCount);
    fire_limit(RuleId::kToFieldsCount, Scope::kTransaction, to_fields_, where());
  }
  if (once(RuleId::kHeaderLength) && header_octets_ > max_of(RuleId::kHeaderLength)) {
    mark(RuleId::kHeaderLength);
    fire_limit(RuleId::kHeaderLength, Scope::kTransaction, header_octets_, where());
  }
  check_message_size(false);
  if (scanning_ && !blocked()) scanner_.header(name, value);
  return outcome();
}

void Session::report_longest_header() {
  const auto idx = static_cast<std::size_t>(RuleId::kHeaderLineLength);
  if (longest_header_ == 0 || fired_[idx]) return;
  fired_[idx] = true;
  fire_limit(RuleId::kHeaderLineLength, Scope::kTransaction, longest_header_, longest_header_name_);
}

void Session::report_longest_body() {
  const auto idx = static_cast<std::size_t>(RuleId::kBodyLineLength);
  if (longest_body_ == 0 || fired_[idx]) return;
  fired_[idx] = true;
  fire_limit(RuleId::kBodyLineLength, Scope::kTransaction, longest_body_,
             fmt::format("body:{}", longest_body_line_));
}

IdentityInput Session::identity_input() const {
  IdentityInput in;
  in.client = client_ip_;
  in.helo = helo_;
  in.self_names = config_->self.names;
  in.self_addresses = config_->self.addresses;
  in.helo_ptr_mode =
      profile_->checks[static_cast<std::size_t>(CheckId::kHeloMatchesPtr)].helo_ptr_mode;
  return in;
}

bool Session::identity_wanted() const {
  if (!profile_->inspect || !profile_->identity || disconnected_) return false;
  for (const auto& c : profile_->checks)
    if (c.action != Action::kOff) return true;
  return false;
}

Verdict Session::identity(const IdentityReport& report, std::string_view where) {
  begin_event();
  if (disconnected_) return *decision_;
  if (!identity_wanted()) return outcome();
  const Mode mode = profile_->mode.value_or(config_->mode);
  for (const auto& info : check_table()) {
    const auto idx = static_cast<std::size_t>(info.id);
    const CheckResult res = report.results[idx];
    if (info.id == CheckId::kSelfBanner || res == CheckResult::kPass || checks_fired_[idx])
      continue;
    const CheckConfig& cc = profile_->checks[idx];
    if (cc.action == Action::kOff) continue;
    Action action = cc.action;
    Reply reply = cc.reply;
    // DNS could not tell: a check that would block mail does what
    // dns.on_temperror says; one that only tags or logs records it.
    if (res == CheckResult::kTempError && reply_class_for(action) != 0) {
      action = config_->dns.on_temperror;
      reply = config_->dns.temperror_reply;
    }
    checks_fired_[idx] = true;
    Verdict v;
    v.rule = info.name;
    set_action(v, action, mode);
    v.actual = std::string(to_string(res));
    v.limit = "pass";
    v.numeric = false;
    v.where = std::string(where);
    v.detail = report.details[idx];
    v.reply = reply;
    record(std::move(v), Scope::kCommand, true);
    if (disconnected_) break;
  }
  return outcome();
}

std::vector<std::string> Session::tags() const {
  std::vector<std::string> all = session_tags_;
  all.insert(all.end(), tags_.begin(), tags_.end());
  return all;
}

bool Session::needs_body() const {
  if (blocked()) return false;
  for (RuleId id : {RuleId::kBodyLineLength, RuleId::kBodyLength, RuleId::kMimeFilenameLength,
                    RuleId::kMimeFilename, RuleId::kMimeEncoding, RuleId::kMimeStructure})
    if (active(id) && !fired_[static_cast<std::size_t>(id)]) return true;
  return false;
}

// The header section is measured field by field; the body only once it is
// complete, so the size logged is the message's, whatever the chunking.
void Session::check_message_size(bool complete) {
  const auto idx = static_cast<std::size_t>(RuleId::kBodyLength);
  if (fired_[idx] || blocked() || !active(RuleId::kBodyLength)) return;
  if (in_body_ && !complete) return;
  if (message_octets_ <= profile_->rules[idx].max) return;
  fired_[idx] = true;
  fire_limit(RuleId::kBodyLength, Scope::kTransaction, message_octets_,
             in_body_ ? "body" : "header");
}

Verdict Session::end_of_headers() {
  begin_event();
  if (blocked()) return *decision_;
  if (in_body_) return outcome();
  in_body_ = true;
  message_octets_ += 2;  // the empty line
  report_longest_header();
  if (scanning_ && !blocked()) scanner_.end_of_headers();
  return outcome();
}

Verdict Session::body(std::string_view chunk) {
  if (!in_body_) {
    // Body before end of headers (a protocol edge the milter may see): the
    // header section is over.
    end_of_headers();
  }
  begin_event();
  if (blocked()) return *decision_;
  message_octets_ += chunk.size();
  if (scanning_ && !blocked()) scanner_.feed(chunk);
  return outcome();
}

Verdict Session::end_of_message() {
  if (!in_body_) end_of_headers();
  begin_event();
  if (blocked()) return *decision_;
  if (scanning_) scanner_.finish();
  if (!blocked()) report_longest_body();
  check_message_size(true);
  if (blocked()) return *decision_;
  return outcome();
}

void Session::reset() {
  last_.clear();
  queue_id_.clear();
  start_transaction();
}

void Session::close() {
  last_.clear();
  start_transaction();
}

void Session::on_long_line(std::uint64_t length, std::uint64_t line_no) {
  const auto idx = static_cast<std::size_t>(RuleId::kBodyLineLength);
  if (fired_[idx] || blocked() || !active(RuleId::kBodyLineLength)) return;
  if (reports_longest(RuleId::kBodyLineLength)) {
    if (length > longest_body_) {
      longest_body_ = length;
      longest_body_line_ = line_no;
    }
    return;
  }
  fired_[idx] = true;
  fire_limit(RuleId::kBodyLineLength, Scope::kTransaction, length, fmt::format("body:{}", line_no));
}

void Session::on_filename(const MimeFilename& f) {
  if (blocked()) return;
  // Built only when a rule fires: a filename costs no allocation otherwise.
  auto detail = [&] {
    return fmt::format("{}{}={}", f.decoded ? "" : "undecodable ", f.source, shown(f.name));
  };
  auto where = [&] { return fmt::format("mime:{}", f.part); };
  const auto len_idx = static_cast<std::size_t>(RuleId::kMimeFilenameLength);
  if (!fired_[len_idx] && active(RuleId::kMimeFilenameLength) &&
      f.name.size() > profile_->rules[len_idx].max) {
    fired_[len_idx] = true;
    fire_limit(RuleId::kMimeFilenameLength, Scope::kTransaction, f.name.size(), where(), detail());
  }
  const auto pat_idx = static_cast<std::size_t>(RuleId::kMimeFilename);
  if (!fired_[pat_idx] && !blocked() && active(RuleId::kMimeFilename)) {
    if (const std::string* hit = profile_->rules[pat_idx].patterns.match(f.name)) {
      fired_[pat_idx] = true;
      fire(RuleId::kMimeFilename, Scope::kTransaction, shown(f.name), *hit, false, where(),
           detail());
    }
  }
}

void Session::on_encoding(std::string_view encoding, std::string_view part) {
  const auto idx = static_cast<std::size_t>(RuleId::kMimeEncoding);
  if (fired_[idx] || blocked() || !active(RuleId::kMimeEncoding)) return;
  const auto& deny = profile_->rules[idx].deny;
  auto hit = std::find(deny.begin(), deny.end(), encoding);
  if (hit == deny.end()) return;
  fired_[idx] = true;
  fire(RuleId::kMimeEncoding, Scope::kTransaction, shown(encoding), *hit, false,
       fmt::format("mime:{}", part));
}

void Session::on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                       std::string_view part) {
  const auto idx = static_cast<std::size_t>(RuleId::kMimeStructure);
  if (fired_[idx] || blocked() || !active(RuleId::kMimeStructure)) return;
  fired_[idx] = true;
  fire(RuleId::kMimeStructure, Scope::kTransaction, std::to_string(actual), std::to_string(limit),
       true, fmt::format("mime:{}", part), std::string(to_string(which)));
}

}  // namespace esmtp
