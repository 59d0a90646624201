#include "tools/report/journal_input.h"

#include <grp.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

namespace esmtp::report {
namespace {

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// Appends v, keeping out within max octets; false when v did not fit.
bool append_cut(std::string* out, std::string_view v, std::size_t max) {
  const std::size_t room = out->size() < max ? max - out->size() : 0;
  out->append(v.substr(0, room));
  return v.size() <= room;
}

struct JournalCloser {
  void operator()(sd_journal* j) const { sd_journal_close(j); }
};
using Journal = std::unique_ptr<sd_journal, JournalCloser>;

// The reason for a negative sd-journal return, for a person.
std::string journal_error(int r) {
  switch (-r) {
    case EBADMSG:
    case EPROTONOSUPPORT:
    case ENODATA:
    case EIO:
      return std::string("not a journal file, or a corrupt one (") + std::strerror(-r) + ")";
    default:
      return std::strerror(-r);
  }
}

// The value of FIELD in the current entry (without "FIELD="), empty if
// absent.
std::string_view field(sd_journal* j, const char* name) {
  const void* data = nullptr;
  std::size_t len = 0;
  if (sd_journal_get_data(j, name, &data, &len) < 0) return {};
  std::string_view v(static_cast<const char*>(data), len);
  const std::size_t eq = v.find('=');
  return eq == std::string_view::npos ? std::string_view{} : v.substr(eq + 1);
}

// Whether this process may read the whole system journal: root, or a member
// of systemd-journal or adm (what journald's file ACLs grant).
bool may_read_system_journal() {
  if (geteuid() == 0) return true;
  std::vector<gid_t> groups(static_cast<std::size_t>(getgroups(0, nullptr)) + 1);
  const int n = getgroups(static_cast<int>(groups.size()), groups.data());
  groups.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  groups.push_back(getegid());
  for (const char* name : {"systemd-journal", "adm"}) {
    const struct group* g = getgrnam(name);
    if (!g) continue;
    for (gid_t id : groups)
      if (id == g->gr_gid) return true;
  }
  return false;
}

std::string open_journal(const JournalSource& src, Journal* out) {
  sd_journal* j = nullptr;
  if (src.local) {
    if (!may_read_system_journal())
      return "no access to the system journal: run as root or as a member of the "
             "systemd-journal or adm group";
    const int r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0) return std::string("cannot open the system journal: ") + std::strerror(-r);
    out->reset(j);
    std::uint64_t usage = 0;
    if (sd_journal_get_usage(j, &usage) < 0 || usage == 0)
      return "no journal files (/run/log/journal and /var/log/journal hold none; is "
             "systemd-journald running?)";
    return {};
  }
  // Each file alone first, so that an error names the file.
  for (const auto& f : src.files) {
    const char* one[] = {f.c_str(), nullptr};
    const int r = sd_journal_open_files(&j, one, 0);
    if (r < 0) return f + ": " + journal_error(r);
    sd_journal_close(j);
  }
  std::vector<const char*> paths;
  for (const auto& f : src.files) paths.push_back(f.c_str());
  paths.push_back(nullptr);
  const int r = sd_journal_open_files(&j, paths.data(), 0);
  if (r < 0) return journal_error(r);
  out->reset(j);
  return {};
}

}  // namespace

bool journal_wanted(std::string_view id) {
  if (id == "esmtp-inspect-milter" || id == "esmtp-inspect-policyd") return true;
  if (starts_with(id, "postfix/")) return id.size() > 8;
  if (!starts_with(id, "postfix-")) return false;
  const std::size_t slash = id.find('/');
  return slash != std::string_view::npos && slash > 8 && slash + 1 < id.size();
}

bool journal_entry_line(const JournalEntry& e, std::size_t max_line, std::string* out) {
  out->clear();
  if (e.realtime_usec) {
    const std::uint64_t us = *e.realtime_usec;
    const std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06u+00:00", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<unsigned>(us % 1000000));
    out->append(buf);
  } else {
    std::string_view ts = e.syslog_timestamp;
    while (!ts.empty() && ts.back() == ' ') ts.remove_suffix(1);  // journald keeps the blank
    out->append(ts.empty() ? std::string_view("-") : ts);
  }
  out->push_back(' ');
  out->append(e.hostname.empty() ? std::string_view("-") : e.hostname);
  out->push_back(' ');
  out->append(e.identifier.empty() ? std::string_view("-") : e.identifier);
  const std::string_view pid = e.syslog_pid.empty() ? e.pid : e.syslog_pid;
  if (!pid.empty()) {
    out->push_back('[');
    out->append(pid);
    out->push_back(']');
  }
  out->append(": ");
  if (out->size() > max_line) {
    out->resize(max_line);
    return true;
  }
  return !append_cut(out, e.message, max_line);
}

std::string read_journal(const JournalSource& src, bool has_since, std::int64_t since,
                         std::size_t max_line, const LineFn& fn, InputStats* stats) {
  Journal j;
  std::string err = open_journal(src, &j);
  if (!err.empty()) return err;
  // Longer fields may come back cut (compressed ones); still over max_line,
  // so they are counted as cut lines.
  sd_journal_set_data_threshold(j.get(), max_line + 64);

  std::vector<std::string> ids;
  int r = sd_journal_query_unique(j.get(), "SYSLOG_IDENTIFIER");
  if (r < 0) return std::string("cannot list SYSLOG_IDENTIFIER values: ") + std::strerror(-r);
  const void* data = nullptr;
  std::size_t len = 0;
  SD_JOURNAL_FOREACH_UNIQUE(j.get(), data, len) {
    std::string_view v(static_cast<const char*>(data), len);
    constexpr std::string_view kField = "SYSLOG_IDENTIFIER=";
    if (starts_with(v, kField) && journal_wanted(v.substr(kField.size()))) ids.emplace_back(v);
  }
  if (ids.empty()) return {};  // no match at all would mean every entry
  for (const auto& m : ids) {
    r = sd_journal_add_match(j.get(), m.data(), m.size());
    if (r < 0) return std::string("cannot add a journal match: ") + std::strerror(-r);
  }
  r = has_since ? sd_journal_seek_realtime_usec(
                      j.get(), since < 0 ? 0 : static_cast<std::uint64_t>(since) * 1000000)
                : sd_journal_seek_head(j.get());
  if (r < 0) return std::string("cannot seek in the journal: ") + std::strerror(-r);

  std::string line;
  for (;;) {
    r = sd_journal_next(j.get());
    if (r < 0) return std::string("cannot read the journal: ") + std::strerror(-r);
    if (r == 0) break;
    JournalEntry e;
    std::uint64_t usec = 0;
    if (sd_journal_get_realtime_usec(j.get(), &usec) >= 0) e.realtime_usec = usec;
    // Each get_data may invalidate the previous pointer (it can remap), so
    // copy the short fields before reading MESSAGE.
    std::string id(field(j.get(), "SYSLOG_IDENTIFIER"));
    std::string host(field(j.get(), "_HOSTNAME"));
    std::string spid(field(j.get(), "SYSLOG_PID"));
    std::string pid(field(j.get(), "_PID"));
    std::string stamp(e.realtime_usec ? std::string_view{} : field(j.get(), "SYSLOG_TIMESTAMP"));
    e.identifier = id;
    e.hostname = host;
    e.syslog_pid = spid;
    e.pid = pid;
    e.syslog_timestamp = stamp;
    e.message = field(j.get(), "MESSAGE");
    if (journal_entry_line(e, max_line, &line)) ++stats->long_lines;
    stats->bytes += line.size() + 1;
    ++stats->lines;
    fn(line);
  }
  return {};
}

}  // namespace esmtp::report
