#include "common/engine/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "common/util/text.h"

namespace esmtp {
namespace {

std::string_view strip_brackets(std::string_view a) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return a;
}

// Constant-initialized in rules.cc; the reference saves a call per event.
const RankOrder& kOrder = rank_order();

}  // namespace

Session::Session(std::shared_ptr<const Config> config, Logger* logger, FrontEnd front_end)
    : config_(std::move(config)), logger_(logger), front_end_(front_end), scanner_(*this) {
  set_profile(config_->defaults);
  last_.reserve(kRuleCount + 2);
}

Session::~Session() {
  log_unlogged();
  if (counted_session_) metrics_->session_closed();
}

void Session::set_queue_id(std::string_view id) {
  if (id.empty()) log_unlogged();  // before the ID goes: they had none
  queue_id_ = id;
  if (!id.empty()) log_unlogged();
}

bool Session::holds_line(const Verdict& v) const {
  return front_end_ != FrontEnd::kOffline && have_from_ && queue_id_.empty() &&
         (v.action == Action::kLog || v.action == Action::kTag ||
          v.action == Action::kQuarantine) &&
         unlogged_.size() < kMaxUnlogged;
}

void Session::log_unlogged() {
  if (unlogged_.empty()) return;
  LogContext ctx{queue_id_, client_name_, client_addr_, helo_, from_, have_from_};
  for (const Verdict& v : unlogged_) logger_->verdict(ctx, v);
  unlogged_.clear();
}

static_assert(kRuleCount <= 32, "Session::active_ has a bit per rule");

// Which rules the session runs, worked out once per profile: the rules of
// an event are then the set bits of one AND (RankOrder).
void Session::set_profile(const Profile& p) {
  profile_ = &p;
  active_ = 0;
  ranked_ = 0;
  if (p.inspect) {
    for (const auto& info : rule_table()) {
      const auto i = static_cast<std::size_t>(info.id);
      if (!p.rules[i].enabled() || !decides(*config_, front_end_, info.decider)) continue;
      active_ |= 1u << i;
      ranked_ |= 1u << kOrder.bit[i];
    }
  }
  // The body is scanned only when some rule reads the scanner's findings.
  std::uint32_t scanned = 0;
  for (Event e : {Event::kBodyLine, Event::kMimeFilename, Event::kMimeEncoding, Event::kMimeLimit})
    scanned |= kOrder.of_event[static_cast<std::size_t>(e)];
  scanning_rules_ = (ranked_ & scanned) != 0;
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

Action Session::decide(const Facts& facts, Scope scope, std::string_view rcpt) {
  Action worst = Action::kContinue;
  // A HELO is decided whatever happened to an earlier transaction.
  const bool in_transaction = facts.event >= Event::kMail;
  auto closed = [&] { return disconnected_ || (in_transaction && decision_); };
  std::uint32_t left = ranked_ & kOrder.of_event[static_cast<std::size_t>(facts.event)];
  if (left == 0 || closed()) return worst;
  for (; left != 0; left &= left - 1) {
    const RuleInfo& info = *kOrder.rule[static_cast<std::size_t>(std::countr_zero(left))];
    const auto i = static_cast<std::size_t>(info.id);
    touched_ |= 1u << i;
    // One Finding for every evaluation: nothing is built unless a rule fires.
    if (!info.evaluate(profile_->rules[i], facts, memory_[i], finding_)) continue;
    const Action a = fire(info.id, scope, std::move(finding_), rcpt);
    worst = std::max(worst, a);
    // One refusal per command; nothing more once the transaction is over.
    if (reply_class_for(a) != 0 || closed()) break;
  }
  return worst;
}

Action Session::fire(RuleId id, Scope scope, Finding&& f, std::string_view rcpt) {
  const RuleConfig& rc = profile_->rules[static_cast<std::size_t>(id)];
  Verdict v;
  v.rule = rule_info(id).name;
  set_action(v, rc.action, effective_mode(*config_, *profile_, rc));
  v.actual = std::move(f.actual);
  v.limit = std::move(f.limit);
  v.numeric = f.numeric;
  v.where = std::move(f.where);
  v.detail = std::move(f.detail);
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
    for (const auto& info : rule_table()) {
      RuleMemory& mem = memory(info.id);
      if (mem.pending == 0 || mem.fired) continue;
      fire(info.id, Scope::kTransaction,
           pending_finding(profile_->rules[static_cast<std::size_t>(info.id)], mem));
    }
  }
  if (logger_ && holds_line(v)) {
    unlogged_.push_back(v);
  } else if (logger_) {
    log_unlogged();  // the log keeps the order of the decisions
    LogContext ctx{queue_id_, client_name_, client_addr_, helo_, from_, have_from_};
    logger_->verdict(ctx, v);
  }
  const bool decided = decision_.has_value();
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
  if (metrics_) {
    metrics_->verdict(v);
    if (!decided && decision_ && have_from_ && !counted_message_) {
      counted_message_ = true;
      metrics_->message(v.action);
    }
  }
  const Action effective = v.action;
  last_.push_back(std::move(v));
  return effective;
}

void Session::select(bool authenticated) {
  ClientFacts facts{client_ip_, authenticated, daemon_};
  const Profile& p = select_profile(*config_, facts);
  if (&p != profile_) set_profile(p);
}

Verdict Session::connect(std::string_view address, std::uint16_t, std::string_view name) {
  begin_event();
  client_addr_ = std::string(address);
  client_name_ = std::string(name);
  client_ip_ = IpAddress::parse(address);
  rate_counted_ = false;  // XCLIENT: another client, counted at its first MAIL
  if (metrics_ && !counted_session_) {
    counted_session_ = true;
    metrics_->session_opened();
  }
  select(!auth_user_.empty());
  if (disconnected_) return *decision_;
  if (active(RuleId::kHarvest)) {
    // A client over the harvest limit is refused for the rest of the window.
    Facts f;
    f.event = Event::kConnect;
    count(RuleId::kHarvest, 0, f);
    decide(f, Scope::kSession);
  }
  return outcome();
}

std::optional<CounterQuery> Session::counter_query(RuleId id, std::uint32_t add) const {
  if (!client_ip_) return std::nullopt;
  const RuleConfig& rc = profile_->rules[static_cast<std::size_t>(id)];
  IpAddress ip = *client_ip_;
  const unsigned bits = ip.v6 ? 128 : 32;
  const unsigned prefix = ip.v6 ? rc.per.v6 : rc.per.v4;
  std::string net;
  if (prefix >= bits) {
    net = ip.str();
  } else {
    for (unsigned i = prefix; i < bits; ++i)
      ip.bytes[i / 8] = static_cast<std::uint8_t>(ip.bytes[i / 8] & ~(0x80u >> (i % 8)));
    net = fmt::format("{}/{}", ip.str(), prefix);
  }
  return CounterQuery{id, fmt::format("{}:{}", rule_info(id).name, net),
                      std::chrono::seconds(rc.window_seconds), add};
}

void Session::count(RuleId id, std::uint32_t add, Facts& f) {
  const auto q = counter_query(id, add);
  Supplied& given = supplied_[static_cast<std::size_t>(id)];
  if (given.given) {
    f.window_count = given.count;
    given = Supplied{};
  } else if (counters_ && q) {
    f.window_count = counters_->add(q->name, q->window, q->add);
  }
  // What the log line shows: the address or network, without the rule.
  counter_ = q ? q->name.substr(rule_info(id).name.size() + 1) : std::string();
  f.counter = counter_;
}

std::optional<CounterQuery> Session::counter_due(Event at) {
  if (at != Event::kMail || rate_counted_ || disconnected_) return std::nullopt;
  select(!auth_user_.empty());
  if (!active(RuleId::kClientRate)) return std::nullopt;
  return counter_query(RuleId::kClientRate, 1);
}

void Session::supply_count(RuleId rule, std::optional<std::uint64_t> count) {
  supplied_[static_cast<std::size_t>(rule)] = Supplied{true, count};
}

Verdict Session::helo(std::string_view name) {
  begin_event();
  helo_ = shown(name);
  if (identity_done_ && !iequals(identity_checked_, helo_)) {
    // A new HELO name: the identity checks are made again.
    identity_done_ = false;
    checks_fired_.reset();
    session_tags_.clear();
  }
  if (disconnected_) return *decision_;
  Facts f;
  f.event = Event::kHelo;
  f.helo = name;
  decide(f, Scope::kCommand);
  return outcome();
}

void Session::start_transaction() {
  log_unlogged();  // the transaction before ended without a queue ID
  have_from_ = false;
  counted_message_ = false;
  from_.clear();
  accepted_ = refused_ = 0;
  header_octets_ = message_octets_ = 0;
  in_body_ = false;
  // Only the rules that ran have anything to forget.
  for (std::uint32_t left = touched_; left != 0; left &= left - 1) {
    RuleMemory& m = memory_[static_cast<std::size_t>(std::countr_zero(left))];
    const bool in_session = m.fired_in_session;
    m = RuleMemory{};
    m.fired_in_session = in_session;
  }
  touched_ = 0;
  if (!disconnected_) decision_.reset();
  tags_.clear();
  quarantine_reason_.clear();
  // The scanner reports lines longer than body_line_length's max and enforces mime_structure's
  // limits (which also bound its memory when the rule is off).
  scanning_ = scanning_rules_;
  const RuleConfig& lines = profile_->rules[static_cast<std::size_t>(RuleId::kBodyLineLength)];
  const RuleConfig& mime = profile_->rules[static_cast<std::size_t>(RuleId::kMimeStructure)];
  scanner_.reset(mime.mime, active(RuleId::kBodyLineLength) ? lines.max : UINT64_MAX);
}

Verdict Session::mail(std::string_view address, std::span<const std::string_view> params) {
  begin_event();
  if (disconnected_) return *decision_;
  select(!auth_user_.empty());
  start_transaction();
  const std::string_view addr = strip_brackets(address);
  from_ = shown(addr);
  have_from_ = true;
  Facts f;
  f.event = Event::kMail;
  f.address = addr;
  f.params = params;
  f.tls = tls_ && !tls_->empty();
  if (!rate_counted_ && active(RuleId::kClientRate)) {
    rate_counted_ = true;
    count(RuleId::kClientRate, 1, f);
  }
  decide(f, Scope::kTransaction);
  return outcome();
}

Verdict Session::rcpt(std::string_view address, std::span<const std::string_view> params,
                      bool rejected_by_mta) {
  begin_event();
  if (blocked()) return *decision_;
  const std::string_view addr = strip_brackets(address);
  const std::string rcpt = shown(addr);
  Facts f;
  f.address = addr;
  f.params = params;
  if (rejected_by_mta) {
    ++invalid_;
    ++refused_;
    f.event = Event::kRcptRejected;
    f.invalid = invalid_;
    if (active(RuleId::kHarvest)) count(RuleId::kHarvest, 1, f);
    decide(f, Scope::kSession, rcpt);
    return outcome();
  }
  f.event = Event::kRcpt;
  f.accepted = accepted_;
  const Action a = decide(f, Scope::kCommand, rcpt);
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
  Facts f;
  f.event = Event::kHeader;
  f.header_name = name;
  f.header_longest_line = m.longest_line;
  f.header_octets = header_octets_;
  // The size is checked field by field until the body begins, then once the
  // message is complete (a header after the body is a protocol edge).
  f.message_octets = in_body_ ? 0 : message_octets_;
  decide(f, Scope::kTransaction);
  if (scanning_ && !blocked()) scanner_.header(name, value);
  return outcome();
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
  if (!decides_identity(*config_, front_end_)) return false;
  for (const auto& c : profile_->checks)
    if (c.action != Action::kOff) return true;
  return false;
}

std::optional<IdentityInput> Session::identity_due(Event at) const {
  if (identity_done_ || !identity_wanted()) return std::nullopt;
  // Before HELO and MAIL there is nothing to check but the address, which a
  // later HELO would check again.
  if (at == Event::kHelo ? helo_.empty() : at < Event::kMail) return std::nullopt;
  return identity_input();
}

Verdict Session::identity(const IdentityReport& report, std::string_view where) {
  begin_event();
  identity_done_ = true;
  identity_checked_ = helo_;
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
  for (const auto& info : rule_table())
    if ((info.events & kBodyEvents) && active(info.id) &&
        !memory_[static_cast<std::size_t>(info.id)].fired)
      return true;
  return false;
}

Verdict Session::end_of_headers() {
  begin_event();
  if (blocked()) return *decision_;
  if (in_body_) return outcome();
  in_body_ = true;
  message_octets_ += 2;  // the empty line
  Facts f;
  f.event = Event::kEndOfHeaders;
  decide(f, Scope::kTransaction);
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
  Facts f;
  f.event = Event::kEndOfMessage;
  f.message_octets = message_octets_;
  decide(f, Scope::kTransaction);
  if (blocked()) return *decision_;
  message_done();
  return outcome();
}

void Session::message_done() {
  if (!metrics_ || counted_message_ || blocked()) return;
  counted_message_ = true;
  metrics_->message(quarantined() ? Action::kQuarantine : Action::kContinue);
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
  Facts f;
  f.event = Event::kBodyLine;
  f.line_length = length;
  f.line_no = line_no;
  decide(f, Scope::kTransaction);
}

void Session::on_filename(const MimeFilename& f) {
  Facts facts;
  facts.event = Event::kMimeFilename;
  facts.filename = &f;
  decide(facts, Scope::kTransaction);
}

void Session::on_encoding(std::string_view encoding, std::string_view part) {
  Facts f;
  f.event = Event::kMimeEncoding;
  f.encoding = encoding;
  f.part = part;
  decide(f, Scope::kTransaction);
}

void Session::on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                       std::string_view part) {
  Facts f;
  f.event = Event::kMimeLimit;
  f.mime_limit = which;
  f.mime_actual = actual;
  f.mime_max = limit;
  f.part = part;
  decide(f, Scope::kTransaction);
}

}  // namespace esmtp
