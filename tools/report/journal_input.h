// journal_input: reads Postfix's and esmtp-inspect's entries from the
// systemd journal (`report --journal`, `--journal-file F...`) and hands each
// out as one mail-log line, the shape the plain-file reader (log_input)
// produces, so that log_line and report count journal and file input by the
// same rules.
//
// Mapping (journal_entry_line, a pure function): an entry becomes
// "TIME HOST IDENTIFIER[PID]: MESSAGE". TIME is __REALTIME_TIMESTAMP as RFC
// 3339 in UTC with microseconds ("2026-11-23T14:30:00.123456+00:00"); an
// entry without it (never from sd-journal, kept for the pure function) uses
// SYSLOG_TIMESTAMP ("Nov 23 14:30:00", local time, year guessed like a
// syslog file). HOST is _HOSTNAME ("-" when absent), PID is SYSLOG_PID, else
// _PID (no "[PID]" when neither). The line is cut to max_line octets like
// log_input cuts long lines.
//
// Selection (journal_wanted): SYSLOG_IDENTIFIER "postfix/DAEMON",
// "postfix-INSTANCE/DAEMON" (multi-instance Postfix), "esmtp-inspect-milter"
// and "esmtp-inspect-policyd". The journal has no wildcard match, so
// read_journal asks the journal which identifiers it holds
// (sd_journal_query_unique), keeps those journal_wanted accepts and adds one
// exact match per identifier: only wanted entries are read, whatever the
// Postfix instance names are, and a busy journal's other entries are not
// decoded at all.
//
// Memory: the data threshold is set just above max_line, so a huge MESSAGE
// is never copied whole; each line is built in one reused buffer.
//
// Errors are returned as text ("FILE: not a journal file (...)", "no access
// to the system journal ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/report/log_input.h"

namespace esmtp::report {

// The fields of one journal entry that the report uses (values without the
// "FIELD=" prefix; empty = absent).
struct JournalEntry {
  std::optional<std::uint64_t> realtime_usec;  // __REALTIME_TIMESTAMP
  std::string_view syslog_timestamp;           // SYSLOG_TIMESTAMP
  std::string_view hostname;                   // _HOSTNAME
  std::string_view identifier;                 // SYSLOG_IDENTIFIER
  std::string_view syslog_pid;                 // SYSLOG_PID
  std::string_view pid;                        // _PID
  std::string_view message;                    // MESSAGE
};

// Whether entries with this SYSLOG_IDENTIFIER belong in the report.
bool journal_wanted(std::string_view identifier);

// The mail-log line for one entry, at most max_line octets, into *out; true
// when the entry had to be cut.
bool journal_entry_line(const JournalEntry& e, std::size_t max_line, std::string* out);

struct JournalSource {
  bool local = false;              // the machine's journal (sd_journal_open)
  std::vector<std::string> files;  // else these files (sd_journal_open_files)
};

// Reads the wanted entries of `src` in time order, from `since` (seconds
// since the epoch) when has_since. Returns an empty string on success, else
// the reason.
std::string read_journal(const JournalSource& src, bool has_since, std::int64_t since,
                         std::size_t max_line, const LineFn& fn, InputStats* stats);

}  // namespace esmtp::report
