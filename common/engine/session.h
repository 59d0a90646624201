// session: the inspection engine's per-connection state: events in SMTP order in,
// verdicts out.
//
// A front end (milter, policy service, CLI) feeds SMTP events in order:
// connect, helo, mail, rcpt..., header..., end_of_headers, body...,
// end_of_message, and reset (RSET/abort) or close. Each event returns the most
// severe Verdict of the rules it triggered (kContinue when none); last() lists
// every verdict of that event. Each non-continue verdict is logged once, with
// the session's queue ID, client, HELO and sender.
//
// The session decides nothing itself: for each event it fills the Facts, and
// runs the evaluators of the rules whose rows name that event
// (common/rules/rules.h), active in the profile and decided by this front end,
// in the rows' rank order; then it applies each finding's action with the
// event's scope. The identity checks' timing is the session's too:
// identity_due() says when a lookup is due and for which HELO name, so that
// every front end checks at the same points.
//
// Scope: a reject/tempfail of a RCPT refuses that recipient only; one at MAIL,
// header, body or end of message ends the transaction (later events of it
// return the same verdict without logging again); disconnect ends the session.
// Message-scoped rules fire at most once per transaction. Tags and quarantine
// are collected and applied by the front end at end of message.
//
// Limits: memory per session is bounded by the configuration (MIME limits),
// not by the message; body() allocates nothing unless a rule fires.
//
// Thread-safety: one Session per SMTP connection, used by one thread at a
// time. The Config is shared, immutable, and kept alive by the session, so a
// reload never changes the rules of a session in flight.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/engine/engine_metrics.h"
#include "common/engine/front_end.h"
#include "common/engine/identity.h"
#include "common/log/logger.h"
#include "common/mime/mime_scanner.h"
#include "common/rules/verdict.h"
#include "common/store/counters.h"

namespace esmtp {

// Header measurements a caller that has the raw header already made (the
// offline reader). Without them the session rebuilds the lines from name and
// value.
// One count a windowed rule needs from the counter store: add `add` to
// counter `name` over `window` (Counters::add()).
struct CounterQuery {
  RuleId rule = RuleId::kHarvest;
  std::string name;  // "client_rate:192.0.2.0/24"
  std::chrono::seconds window{0};
  std::uint32_t add = 0;
};

struct HeaderMetrics {
  std::uint64_t longest_line = 0;  // CRLF excluded
  std::uint64_t octets = 0;        // CRLFs included
};

class Session : private MimeListener {
 public:
  // `front_end` decides, with both_daemons, which rules this session runs
  // (Decider in rules.h); kOffline runs every rule.
  explicit Session(std::shared_ptr<const Config> config, Logger* logger = nullptr,
                   FrontEnd front_end = FrontEnd::kOffline);
  ~Session() override;  // logs what is still held (NOQUEUE)
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Facts the MTA supplies (milter macros, policy attributes). A queue ID
  // releases the held log lines of the transaction (see unlogged_); an empty
  // one, at the start of a transaction, logs them as NOQUEUE.
  void set_queue_id(std::string_view id);
  void set_daemon(std::string_view name) { daemon_ = name; }
  void set_authenticated(std::string_view user) { auth_user_ = user; }
  void set_tls(std::string_view version) { tls_ = std::string(version); }
  // Counts the session, its verdicts and its messages (engine_metrics.h);
  // set before connect().
  void set_metrics(EngineMetrics* metrics) { metrics_ = metrics; }
  // The counter store of the windowed rules (harvest, client_rate): the
  // session counts in it synchronously, waiting at most store.timeout once
  // per outage (counters.h). Without one those rules decide nothing, unless
  // the front end supplies the counts itself (counter_due()).
  void set_counters(std::shared_ptr<Counters> counters) { counters_ = std::move(counters); }

  Verdict connect(std::string_view address, std::uint16_t port, std::string_view name);
  Verdict helo(std::string_view name);
  Verdict mail(std::string_view address, std::span<const std::string_view> params = {});
  Verdict rcpt(std::string_view address, std::span<const std::string_view> params = {},
               bool rejected_by_mta = false);
  Verdict header(std::string_view name, std::string_view value, std::string_view raw = {},
                 const HeaderMetrics* metrics = nullptr);
  Verdict end_of_headers();
  Verdict body(std::string_view chunk);
  Verdict end_of_message();
  // The message got through to its end (the policy service's END-OF-MESSAGE
  // request): counted as accepted, or quarantined, unless a verdict already
  // decided it. end_of_message() calls it.
  void message_done();
  void reset();  // RSET, abort, or the start of a new transaction
  void close();

  // For a front end that asks the store asynchronously (the policy service):
  // the count the session will need at its next event `at`, if any. The
  // front end gets it (Counters::add()) and hands the answer to
  // supply_count() before feeding the event; the session then uses it
  // instead of asking the store. client_rate at the session's first MAIL is
  // the only one: harvest counts what only the milter sees.
  std::optional<CounterQuery> counter_due(Event at);
  void supply_count(RuleId rule, std::optional<std::uint64_t> count);

  // Every verdict of the last event, in the order the rules fired.
  std::span<const Verdict> last() const { return last_; }

  // Identity checks (esmtp-inspect.yaml(5), IDENTITY CHECKS). The front end
  // asks identity_due() after each command it sees from HELO on (`at`: the
  // command's event); when it returns a lookup, the front end runs it and
  // hands the report to identity(). A lookup is due once per HELO name
  // (case-insensitive) in the session, and for a client that never said HELO
  // once, from its first MAIL; each check that did not pass acts once per
  // HELO name. `where` is the stage ("helo", "mail", "rcpt", ...).
  std::optional<IdentityInput> identity_due(Event at) const;
  bool identity_wanted() const;
  IdentityInput identity_input() const;
  Verdict identity(const IdentityReport& report, std::string_view where);

  // Header values ("rule=...; result=fail; ...") to add as X-ESMTP-Inspect:
  // the session's (identity checks) and this message's.
  std::vector<std::string> tags() const;
  bool quarantined() const { return !quarantine_reason_.empty(); }
  const std::string& quarantine_reason() const { return quarantine_reason_; }
  // The verdict that ended the transaction or session, if any.
  const std::optional<Verdict>& decision() const { return decision_; }
  bool disconnected() const { return disconnected_; }
  // False once no rule can still act on more body octets (every body rule has
  // fired, none is enabled, or the transaction is decided): the front end may
  // tell the MTA to stop sending the body (SMFIS_SKIP).
  bool needs_body() const;
  std::uint32_t accepted_recipients() const { return accepted_; }
  std::uint32_t refused_recipients() const { return refused_; }

  const Config& config() const { return *config_; }
  const Profile& profile() const { return *profile_; }
  const std::string& client_address() const { return client_addr_; }
  const std::string& helo_name() const { return helo_; }

 private:
  enum class Scope : std::uint8_t { kCommand, kTransaction, kSession };

  void begin_event() { last_.clear(); }
  Verdict outcome() const;
  bool blocked() const { return disconnected_ || decision_.has_value(); }
  bool active(RuleId id) const { return (active_ >> static_cast<unsigned>(id)) & 1u; }
  void set_profile(const Profile& p);
  // Runs the rules of facts.event; returns the most severe action.
  Action decide(const Facts& facts, Scope scope, std::string_view rcpt = {});
  // Records a verdict of rule `id`; returns its effective action.
  Action fire(RuleId id, Scope scope, Finding&& f, std::string_view rcpt = {});
  void set_action(Verdict& v, Action configured, Mode mode) const;
  // Logs a verdict and applies its effect (tags, quarantine, decision).
  Action record(Verdict v, Scope scope, bool session_level);
  void select(bool authenticated);
  void start_transaction();
  RuleMemory& memory(RuleId id) { return memory_[static_cast<std::size_t>(id)]; }
  // The store call of a windowed rule for this client (counter
  // "harvest:192.0.2.0/24"); none when the client has no IP address.
  std::optional<CounterQuery> counter_query(RuleId id, std::uint32_t add) const;
  // Counts for a windowed rule into `f` (window_count, counter).
  void count(RuleId id, std::uint32_t add, Facts& f);

  // MimeListener: the scanner's findings are events of their own.
  void on_long_line(std::uint64_t length, std::uint64_t line_no) override;
  void on_filename(const MimeFilename& f) override;
  void on_encoding(std::string_view encoding, std::string_view part) override;
  void on_limit(MimeLimit which, std::uint64_t actual, std::uint64_t limit,
                std::string_view part) override;

  std::shared_ptr<const Config> config_;
  Logger* logger_;
  EngineMetrics* metrics_ = nullptr;
  bool counted_session_ = false;
  bool counted_message_ = false;  // this transaction's outcome is counted
  FrontEnd front_end_;
  const Profile* profile_ = nullptr;
  std::uint32_t active_ = 0;     // bit per RuleId: enabled in the profile and decided here
  std::uint32_t ranked_ = 0;     // the same rules as bits of RankOrder (rules.h)
  bool scanning_rules_ = false;  // some active rule reads the MIME scanner's findings
  std::uint32_t touched_ = 0;    // bit per RuleId: its memory changed in this transaction

  // Session.
  std::string client_addr_;
  std::string client_name_;
  std::optional<IpAddress> client_ip_;
  std::string daemon_;
  std::string helo_;
  std::string identity_checked_;  // lower-cased HELO name the checks were made for
  bool identity_done_ = false;
  std::string auth_user_;
  std::optional<std::string> tls_;
  std::uint32_t invalid_ = 0;
  bool disconnected_ = false;
  bool rate_counted_ = false;  // client_rate counted this client (first MAIL)
  std::shared_ptr<Counters> counters_;
  std::string counter_;  // Facts::counter of the last count
  struct Supplied {
    bool given = false;
    std::optional<std::uint64_t> count;
  };
  std::array<Supplied, kRuleCount> supplied_{};
  std::bitset<kCheckCount> checks_fired_;
  std::vector<std::string> session_tags_;  // identity tags: every message of the session

  // Transaction.
  std::string queue_id_;
  std::string from_;
  bool have_from_ = false;
  std::uint32_t accepted_ = 0;
  std::uint32_t refused_ = 0;
  std::uint64_t header_octets_ = 0;
  std::uint64_t message_octets_ = 0;
  bool in_body_ = false;
  bool scanning_ = false;
  std::array<RuleMemory, kRuleCount> memory_;
  std::optional<Verdict> decision_;
  std::vector<std::string> tags_;
  std::string quarantine_reason_;

  // The front ends' (milter, policy service) log lines of verdicts that let
  // the message go on (log, tag, quarantine, monitor mode), decided in a
  // transaction before the MTA had a queue ID (Postfix has one from the first
  // accepted recipient): written with the queue ID once it comes (the milter's
  // macro; the policy service's DATA, END-OF-MESSAGE or a later RCPT
  // request), or as NOQUEUE when the transaction ends without one (the next
  // transaction, reset(), close(), the destructor), so that grep QUEUEID
  // finds them (esmtp-inspect.yaml(5), LOGGING). The offline CLI has no MTA:
  // it writes every line at once. A line that is not held (a refusal, or one decided after the
  // queue ID came) first writes those held before it, as they are, so that
  // the log keeps the order of the decisions. At most kMaxUnlogged; past
  // that a line is written at once.
  static constexpr std::size_t kMaxUnlogged = 64;
  std::vector<Verdict> unlogged_;
  bool holds_line(const Verdict& v) const;
  void log_unlogged();

  Finding finding_;  // filled by the evaluator that fires (decide())
  std::vector<Verdict> last_;
  MimeScanner scanner_;
};

}  // namespace esmtp
