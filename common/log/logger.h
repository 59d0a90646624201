// logger: one line per decision, as esmtp-inspect.yaml(5), LOGGING, shows.
//
//   QUEUEID: action=reject rule=header_line_length actual=1204 limit=998
//   where=header:Subject client=mx.example.org[203.0.113.5] helo=mx.example.org
//   from=<a@example.org> reply="550 5.6.0 Header line too long" profile=default
//
// The queue ID comes first (or NOQUEUE) so that `grep QUEUEID mail.log` shows
// our line beside Postfix's. Values from the network are escaped so that one
// verdict is always one line. `format: json` writes the same fields as one
// JSON object per line.
//
// Sinks: syslog (tag[pid], facility from config; a missing /dev/log drops the
// line and never stops the daemon), stderr and file:PATH (each line prefixed
// "Mmm dd hh:mm:ss host tag[pid]: " like a syslog file, so `report` reads
// them), and a capture sink for tests.
//
// Free-form messages are fmt format strings, checked at compile time.
//
// Thread-safety: a Logger may be used from many threads; each line is written
// with one call under a lock.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/rules/verdict.h"

namespace esmtp {

// The session facts printed beside a verdict.
struct LogContext {
  std::string_view queue_id;  // empty: NOQUEUE
  std::string_view client_name;
  std::string_view client_addr;
  std::string_view helo;
  std::string_view from;  // envelope sender without <>; empty: none yet
  bool have_from = false;
};

// With a null context only the verdict's own fields are written (the CLI).
std::string format_verdict_text(const LogContext* ctx, const Verdict& v);
std::string format_verdict_json(const LogContext* ctx, const Verdict& v);

// Quotes a value for key=value output when it holds anything but printable
// non-blank ASCII; escapes quotes, backslashes and non-printable octets (\xHH).
std::string quote_value(std::string_view s);

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void write(LogLevel level, std::string_view line) = 0;
  // Opens the target again (a file renamed by logrotate); the old one stays
  // in use when that fails. Sinks without a file have nothing to do.
  virtual bool reopen(std::string* /*error*/) { return true; }
};

// Keeps lines in memory (tests, the CLI).
class CaptureSink : public LogSink {
 public:
  void write(LogLevel level, std::string_view line) override;
  std::vector<std::string> lines() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class Logger {
 public:
  Logger(std::unique_ptr<LogSink> sink, LogFormat format, LogLevel min_level, std::string tag);

  // A logger as configured; `tag` is the program name ("esmtp-inspect-milter").
  // Returns null and sets *error when the log file cannot be opened.
  static std::unique_ptr<Logger> from_config(const LogConfig& c, std::string tag,
                                             std::string* error);

  void verdict(const LogContext& ctx, const Verdict& v);

  template <typename... A>
  void log(LogLevel level, fmt::format_string<A...> f, A&&... args) {
    if (level < min_level_) return;
    message(level, fmt::format(f, std::forward<A>(args)...));
  }
  template <typename... A>
  void info(fmt::format_string<A...> f, A&&... args) {
    log(LogLevel::kInfo, f, std::forward<A>(args)...);
  }
  template <typename... A>
  void warning(fmt::format_string<A...> f, A&&... args) {
    log(LogLevel::kWarning, f, std::forward<A>(args)...);
  }
  template <typename... A>
  void error(fmt::format_string<A...> f, A&&... args) {
    log(LogLevel::kError, f, std::forward<A>(args)...);
  }

  // See LogSink::reopen(): SIGHUP and SIGUSR1 call it for `file:` logs.
  bool reopen(std::string* error) { return sink_->reopen(error); }

  LogSink& sink() { return *sink_; }
  const std::string& tag() const { return tag_; }

 private:
  void message(LogLevel level, std::string_view text);

  std::unique_ptr<LogSink> sink_;
  LogFormat format_;
  LogLevel min_level_;
  std::string tag_;
};

std::unique_ptr<LogSink> make_syslog_sink(std::string_view tag, std::string_view facility);
std::unique_ptr<LogSink> make_stream_sink(int fd, std::string tag);  // stderr, files
// Opens PATH for appending (mode 0640 when created); null on error (message
// in *error). reopen() opens PATH again, for logrotate.
std::unique_ptr<LogSink> make_file_sink(const std::string& path, std::string tag,
                                        std::string* error);

}  // namespace esmtp
