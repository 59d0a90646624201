// report: `esmtp-inspect report` summarises rejections from mail logs
// (esmtp-inspect(1), report).
//
// Input: mail logs read by log_input (plain or gzip, several files, "-" for
// stdin), or the systemd journal read by journal_input (--journal,
// --journal-file), whose entries become the same lines; all parsed by
// log_line. Output: text for people, --json for machines
// (top-level "rejected" total), --html OUT for one self-contained page with
// an inline SVG chart of rejections over time per rule.
//
// Counting: one rejection logged by both Postfix and us counts once and
// carries our rule name. Pairs are found by (queue ID, outcome, enhanced
// status code) for queued mail and by (client address, outcome, enhanced
// status code, second ±1) for NOQUEUE; the stage is not part of the key
// because the stage Postfix logs can differ from where our rule measured (a
// sender rule answered by the policy service from smtpd_recipient_restrictions
// is logged at RCPT). Within a key, N lines of ours and M of Postfix's are
// max(N, M) rejections (50 recipients over the limit in one transaction are
// 50 lines on each side, and 50 rejections).
//
// Memory: bounded whatever the input. Unpaired rejections wait in a FIFO
// window of at most `window` entries (oldest counted when it overflows, so
// partners further apart than that are counted twice; one syslog file or
// files given in time order keep partners close). Each table (rule, client,
// network, sender domain, hour, message) keeps at most `max_keys` keys:
// when full it drops its smaller half into an "other" count (lossy counting:
// totals stay exact; the table is then marked approximate, and a key that
// returns after being dropped is undercounted). This is simpler than a
// space-saving stream summary and is exact in the usual case of fewer
// distinct keys than the cap.
//
// Code: report.cc counts (and holds the CLI glue); report_output.cc renders
// the text, JSON and HTML.
//
// Thread-safety: a Report is used by one thread.
#pragma once

#include <cstdint>
#include <ctime>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tools/report/journal_input.h"
#include "tools/report/log_input.h"
#include "tools/report/log_line.h"

namespace CLI {
class App;
}

namespace esmtp::report {

struct ReportOptions {
  std::vector<std::string> files;
  bool has_since = false, has_until = false;
  std::int64_t since = 0, until = 0;  // [since, until)
  std::size_t top = 10;
  std::size_t max_keys = 50000;
  std::size_t window = 100000;
  std::size_t max_line = 64 * 1024;
  std::time_t now = 0;  // year inference; 0 = the current time
};

// A table of counts with at most max_keys keys (see the header comment).
class BoundedCounter {
 public:
  explicit BoundedCounter(std::size_t max_keys) : max_(max_keys < 2 ? 2 : max_keys) {}
  void add(const std::string& key, std::uint64_t n);
  // Largest first, ties by key; at most `limit` (0 = all).
  std::vector<std::pair<std::string, std::uint64_t>> top(std::size_t limit) const;
  const std::unordered_map<std::string, std::uint64_t>& all() const { return map_; }
  std::uint64_t other() const { return other_; }
  bool approximate() const { return approximate_; }

 private:
  std::size_t max_;
  std::unordered_map<std::string, std::uint64_t> map_;
  std::uint64_t other_ = 0;
  bool approximate_ = false;
};

enum class Outcome { kReject, kHold, kDiscard };

struct FileResult {
  std::string name;
  InputStats stats;
  std::string error;
};

class Report {
 public:
  explicit Report(const ReportOptions& o);

  // Reads one file; false (with the reason in the FileResult) when it could
  // not be read completely.
  bool add_file(const std::string& path);
  // Reads the journal (journal_input.h) as one input named `name`; false
  // (with the reason in the FileResult) when it could not be read.
  bool add_journal(const JournalSource& src, const std::string& name);
  // One line of a stream (tests and add_file).
  void add_line(std::string_view line);
  // Counts what still waits for a partner. Call once before output.
  void finish();

  nlohmann::ordered_json json() const;
  std::string text() const;
  std::string html() const;

  std::uint64_t rejected() const { return rejected_; }
  const std::vector<FileResult>& files() const { return files_; }

 private:
  struct Pending {
    Outcome outcome = Outcome::kReject;
    std::uint32_t ours = 0, postfix = 0;
    std::uint64_t seq = 0;
    bool timed = false;
    bool temporary = false;
    std::int64_t time = 0;
    std::string rule;  // ours; empty when only Postfix logged it
    std::string reason, stage, client_name, client_addr, from, reply;
  };

  void on_event(const LogEvent& ev);
  void add_rejection(const LogEvent& ev, Outcome outcome, bool ours);
  void absorb(Pending& p, const LogEvent& ev, bool ours);
  void count(const Pending& p);
  void evict_if_full();

  ReportOptions opt_;
  YearGuesser years_;
  LogEvent ev_;
  std::vector<FileResult> files_;
  std::unordered_map<std::string, Pending> pending_;
  std::deque<std::pair<std::string, std::uint64_t>> order_;
  std::uint64_t seq_ = 0;
  std::string key_;

  // Totals.
  std::uint64_t lines_ = 0, bytes_ = 0, unrecognized_ = 0, long_lines_ = 0, out_of_range_ = 0;
  std::uint64_t unreadable_ours_ = 0;
  std::uint64_t connections_ = 0, delivered_ = 0;
  std::uint64_t rejected_ = 0, permanent_ = 0, temporary_ = 0, held_ = 0, discarded_ = 0;
  std::uint64_t warned_ = 0;  // Postfix reject_warning lines (warn_if_reject)
  std::uint64_t both_ = 0, ours_only_ = 0, postfix_only_ = 0;
  std::uint64_t our_lines_ = 0, postfix_lines_ = 0;
  std::uint64_t logged_ = 0, tagged_ = 0;
  bool have_time_ = false;
  std::int64_t first_ = 0, last_ = 0;

  BoundedCounter by_rule_, by_client_, by_network_, by_domain_, by_hour_, by_stage_, by_message_,
      by_rule_hour_, monitor_;
};

// CLI glue: adds the `report` subcommand; run_report reads and prints.
struct ReportCli {
  ReportOptions opt;
  std::string since, until, html;
  bool json = false;
  bool journal = false;                    // --journal
  std::vector<std::string> journal_files;  // --journal-file
};
CLI::App* add_report_command(CLI::App& app, ReportCli& cli);
int run_report(ReportCli& cli);

// Helpers shared with the tests.
std::string network_of(std::string_view addr);     // "203.0.113.0/24", "2001:db8:1:2::/64"
std::string sender_domain(std::string_view from);  // "example.org", "<>" for the null sender
std::string message_key(std::string_view reply);   // reply with <addresses> elided
std::string html_escape(std::string_view s);

}  // namespace esmtp::report
