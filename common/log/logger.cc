#include "common/log/logger.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include "common/log/log_fields.h"
#include "common/log/verdict_json.h"

#include <cerrno>
#include <cstring>
#include <ctime>

namespace esmtp {
namespace {

int syslog_priority(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return LOG_DEBUG;
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kNotice:
      return LOG_NOTICE;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kError:
      return LOG_ERR;
  }
  return LOG_INFO;
}

int facility_code(std::string_view f) {
  if (f == "daemon") return LOG_DAEMON;
  if (f == "user") return LOG_USER;
  if (f.size() == 6 && f.substr(0, 5) == "local" && f[5] >= '0' && f[5] <= '7')
    return (16 + (f[5] - '0')) << 3;
  return LOG_MAIL;
}

// A reply only shows when the client is, or in monitor mode would be, sent one.
bool shows_reply(const Verdict& v) {
  return !v.reply.empty() && (reply_class_for(v.action) != 0 || reply_class_for(v.would) != 0);
}

class SyslogSink : public LogSink {
 public:
  SyslogSink(std::string tag, int facility) : tag_(std::move(tag)) {
    // openlog keeps the pointer: tag_ lives as long as the sink.
    openlog(tag_.c_str(), LOG_PID | LOG_NDELAY, facility);
  }
  ~SyslogSink() override { closelog(); }
  void write(LogLevel level, std::string_view line) override {
    syslog(syslog_priority(level), "%.*s", static_cast<int>(line.size()), line.data());
  }

 private:
  std::string tag_;
};

class StreamSink : public LogSink {
 public:
  StreamSink(int fd, bool owned, std::string tag) : fd_(fd), owned_(owned), tag_(std::move(tag)) {
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) == 0) host[sizeof host - 1] = '\0';
    host_ = host;
    host_ = host_.substr(0, host_.find('.'));
  }
  ~StreamSink() override {
    if (owned_) close(fd_);
  }
  void write(LogLevel, std::string_view line) override {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
    std::string out = fmt::format("{} {} {}[{}]: {}\n", stamp, host_, tag_, getpid(), line);
    std::lock_guard lock(mu_);
    std::string_view rest = out;
    while (!rest.empty()) {
      ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk must not stop mail
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 protected:
  // Writes go to `fd` from now on; the old descriptor is closed.
  void replace_fd(int fd) {
    std::lock_guard lock(mu_);
    if (owned_) close(fd_);
    fd_ = fd;
    owned_ = true;
  }

 private:
  std::mutex mu_;
  int fd_;
  bool owned_;
  std::string tag_;
  std::string host_;
};

}  // namespace

std::string quote_value(std::string_view s) {
  return quote_token(s);
}

namespace {

// The fields of one verdict line, for both formats (log_fields.h).
LogRecord make_record(const LogContext* ctx, const Verdict& v) {
  LogRecord r;
  if (ctx) r.queue_id = ctx->queue_id.empty() ? std::string_view("NOQUEUE") : ctx->queue_id;
  r.set(LogField::kAction, to_string(v.action));
  if (v.would != Action::kContinue) r.set(LogField::kWould, to_string(v.would));
  r.set(LogField::kRule, v.rule);
  if (!v.actual.empty()) r.set(LogField::kActual, v.actual);
  if (!v.limit.empty()) r.set(LogField::kLimit, v.limit);
  if (!v.where.empty()) r.set(LogField::kWhere, v.where);
  if (!v.detail.empty()) r.set(LogField::kDetail, v.detail);
  r.numeric = v.numeric;
  if (ctx) {
    r.set(LogField::kClient,
          ctx->client_name.empty() ? std::string_view("unknown") : ctx->client_name);
    r.client_addr = ctx->client_addr.empty() ? std::string_view("unknown") : ctx->client_addr;
    if (!ctx->helo.empty()) r.set(LogField::kHelo, ctx->helo);
    if (ctx->have_from) r.set(LogField::kFrom, ctx->from);
  }
  if (!v.recipient.empty()) r.set(LogField::kTo, v.recipient);
  if (shows_reply(v)) r.set(LogField::kReply, v.reply.str());
  r.set(LogField::kProfile, v.profile);
  return r;
}

}  // namespace

std::string format_verdict_text(const LogContext* ctx, const Verdict& v) {
  return log_record_text(make_record(ctx, v));
}

nlohmann::ordered_json verdict_to_json(const Verdict& v) {
  return nlohmann::ordered_json::parse(log_record_json(make_record(nullptr, v)));
}

std::string json_line(const nlohmann::ordered_json& j) {
  // Bytes from the network may not be UTF-8: replace rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string format_verdict_json(const LogContext* ctx, const Verdict& v) {
  return log_record_json(make_record(ctx, v));
}

void CaptureSink::write(LogLevel, std::string_view line) {
  std::lock_guard lock(mu_);
  lines_.emplace_back(line);
}

std::vector<std::string> CaptureSink::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

Logger::Logger(std::unique_ptr<LogSink> sink, LogFormat format, LogLevel min_level, std::string tag)
    : sink_(std::move(sink)), format_(format), min_level_(min_level), tag_(std::move(tag)) {}

std::unique_ptr<Logger> Logger::from_config(const LogConfig& c, std::string tag,
                                            std::string* error) {
  std::unique_ptr<LogSink> sink;
  switch (c.to) {
    case LogTarget::kSyslog:
      sink = make_syslog_sink(tag, c.facility);
      break;
    case LogTarget::kStderr:
      sink = make_stream_sink(STDERR_FILENO, tag);
      break;
    case LogTarget::kFile:
      sink = make_file_sink(c.file, tag, error);
      if (!sink) return nullptr;
      break;
  }
  return std::make_unique<Logger>(std::move(sink), c.format, c.level, std::move(tag));
}

void Logger::verdict(const LogContext& ctx, const Verdict& v) {
  // Discards lose mail by design: they are logged as warnings (esmtp-inspect.yaml(5), ACTIONS).
  LogLevel level = v.action == Action::kDiscard ? LogLevel::kWarning : LogLevel::kInfo;
  if (level < min_level_) return;
  sink_->write(level, format_ == LogFormat::kJson ? format_verdict_json(&ctx, v)
                                                  : format_verdict_text(&ctx, v));
}

void Logger::message(LogLevel level, std::string_view text) {
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json j;
    j["level"] = log_level_name(level);
    j["message"] = text;
    sink_->write(level, json_line(j));
  } else {
    // Like Postfix: "warning: ..." and "error: ...", info and notice unprefixed.
    sink_->write(level, level >= LogLevel::kWarning
                            ? fmt::format("{}: {}", log_level_name(level), text)
                            : std::string(text));
  }
}

std::unique_ptr<LogSink> make_syslog_sink(std::string_view tag, std::string_view facility) {
  return std::make_unique<SyslogSink>(std::string(tag), facility_code(facility));
}

std::unique_ptr<LogSink> make_stream_sink(int fd, std::string tag) {
  return std::make_unique<StreamSink>(fd, false, std::move(tag));
}

namespace {

int open_log_file(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0 && error)
    *error = fmt::format("cannot open log file {}: {}", path, std::strerror(errno));
  return fd;
}

// A `file:` log. logrotate renames the file and signals the daemon, which
// opens PATH again (esmtp-inspect-milter(8), SIGNALS); lines written in between go to the
// renamed file, none is lost.
class FileSink : public StreamSink {
 public:
  FileSink(int fd, std::string path, std::string tag)
      : StreamSink(fd, true, std::move(tag)), path_(std::move(path)) {}
  bool reopen(std::string* error) override {
    int fd = open_log_file(path_, error);
    if (fd < 0) return false;
    replace_fd(fd);
    return true;
  }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<LogSink> make_file_sink(const std::string& path, std::string tag,
                                        std::string* error) {
  int fd = open_log_file(path, error);
  if (fd < 0) return nullptr;
  return std::make_unique<FileSink>(fd, path, std::move(tag));
}

}  // namespace esmtp
