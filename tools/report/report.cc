#include "tools/report/report.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

namespace esmtp::report {
namespace {

constexpr int kExitUsage = 2;

std::string client_label(const std::string& name, const std::string& addr) {
  return (name.empty() ? std::string("unknown") : name) + "[" +
         (addr.empty() ? std::string("unknown") : addr) + "]";
}

// Postfix's reason without the status codes: "Relay access denied".
std::string postfix_reason(std::string_view reply) {
  std::string key = message_key(reply);
  std::string_view r = key;
  if (r.size() >= 4 && r[3] == ' ' && std::isdigit(static_cast<unsigned char>(r[0])))
    r.remove_prefix(4);
  std::size_t sp = r.find(' ');
  if (sp != std::string_view::npos && sp > 0 && std::isdigit(static_cast<unsigned char>(r[0])) &&
      r.substr(0, sp).find('.') != std::string_view::npos)
    r.remove_prefix(sp + 1);
  constexpr std::string_view kElided = "<...>: ";
  if (r.substr(0, kElided.size()) == kElided) r.remove_prefix(kElided.size());
  return std::string(r.substr(0, 120));
}

}  // namespace

// ---------------------------------------------------------------- helpers

std::string network_of(std::string_view addr) {
  std::string a(addr);
  in_addr v4{};
  if (inet_pton(AF_INET, a.c_str(), &v4) == 1) {
    unsigned char* b = reinterpret_cast<unsigned char*>(&v4);
    char out[32];
    std::snprintf(out, sizeof out, "%u.%u.%u.0/24", b[0], b[1], b[2]);
    return out;
  }
  std::string_view s = addr;
  if (s.substr(0, 5) == "IPv6:" || s.substr(0, 5) == "ipv6:") a = std::string(s.substr(5));
  in6_addr v6{};
  if (inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
    std::memset(reinterpret_cast<unsigned char*>(&v6) + 8, 0, 8);
    char out[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &v6, out, sizeof out);
    return std::string(out) + "/64";
  }
  return "unknown";
}

std::string sender_domain(std::string_view from) {
  if (from.empty()) return "<>";
  std::size_t at = from.rfind('@');
  if (at == std::string_view::npos) return "(no domain)";
  std::string d(from.substr(at + 1, 255));
  for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return d.empty() ? std::string("(no domain)") : d;
}

std::string message_key(std::string_view reply) {
  // Replace each <...> (recipient or sender address) with <...> so that one
  // reason is one row.
  std::string out;
  out.reserve(std::min<std::size_t>(reply.size(), 200));
  for (std::size_t i = 0; i < reply.size() && out.size() < 200; ++i) {
    if (reply[i] == '<') {
      std::size_t end = reply.find('>', i);
      if (end != std::string_view::npos) {
        out += "<...>";
        i = end;
        continue;
      }
    }
    out += reply[i];
  }
  return out;
}

void BoundedCounter::add(const std::string& key, std::uint64_t n) {
  map_[key] += n;
  if (map_.size() <= max_) return;
  // Full: keep the larger half, fold the rest into "other".
  std::vector<std::uint64_t> counts;
  counts.reserve(map_.size());
  for (const auto& kv : map_) counts.push_back(kv.second);
  auto mid = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2);
  std::nth_element(counts.begin(), mid, counts.end());
  const std::uint64_t cut = *mid;
  std::size_t keep = max_ / 2;
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second < cut || (it->second == cut && map_.size() > keep)) {
      other_ += it->second;
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
  approximate_ = true;
}

std::vector<std::pair<std::string, std::uint64_t>> BoundedCounter::top(std::size_t limit) const {
  std::vector<std::pair<std::string, std::uint64_t>> v(map_.begin(), map_.end());
  auto cmp = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (limit && v.size() > limit) {
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit), v.end(), cmp);
    v.resize(limit);
  } else {
    std::sort(v.begin(), v.end(), cmp);
  }
  return v;
}

// ---------------------------------------------------------------- Report

Report::Report(const ReportOptions& o)
    : opt_(o),
      years_(o.now ? o.now : std::time(nullptr)),
      by_rule_(o.max_keys),
      by_client_(o.max_keys),
      by_network_(o.max_keys),
      by_domain_(o.max_keys),
      by_hour_(o.max_keys),
      by_stage_(o.max_keys),
      by_message_(o.max_keys),
      by_rule_hour_(o.max_keys),
      monitor_(o.max_keys) {}

bool Report::add_file(const std::string& path) {
  FileResult fr;
  fr.name = path;
  years_.reset();
  fr.error = read_log_lines(
      path, opt_.max_line, [this](std::string_view line) { add_line(line); }, &fr.stats);
  bytes_ += fr.stats.bytes;
  long_lines_ += fr.stats.long_lines;
  files_.push_back(fr);
  return fr.error.empty();
}

bool Report::add_journal(const JournalSource& src, const std::string& name) {
  FileResult fr;
  fr.name = name;
  years_.reset();
  fr.error = read_journal(
      src, opt_.has_since, opt_.since, opt_.max_line,
      [this](std::string_view line) { add_line(line); }, &fr.stats);
  bytes_ += fr.stats.bytes;
  long_lines_ += fr.stats.long_lines;
  files_.push_back(fr);
  return fr.error.empty();
}

void Report::add_line(std::string_view line) {
  ++lines_;
  parse_log_line(line, years_, ev_);
  if (ev_.kind == EventKind::kNone) {
    if (ev_.unreadable) ++unreadable_ours_;
    if (!ev_.timed) ++unrecognized_;
    return;
  }
  if (ev_.timed) {
    if ((opt_.has_since && ev_.time < opt_.since) || (opt_.has_until && ev_.time >= opt_.until)) {
      ++out_of_range_;
      return;
    }
    if (!have_time_ || ev_.time < first_) first_ = ev_.time;
    if (!have_time_ || ev_.time > last_) last_ = ev_.time;
    have_time_ = true;
  } else if (opt_.has_since || opt_.has_until) {
    ++out_of_range_;  // an untimed line cannot be placed in the period
    return;
  }
  on_event(ev_);
}

void Report::on_event(const LogEvent& ev) {
  switch (ev.kind) {
    case EventKind::kConnect:
      ++connections_;
      return;
    case EventKind::kDelivered:
      ++delivered_;
      return;
    case EventKind::kPostfix: {
      ++postfix_lines_;
      if (ev.action == "reject_warning") {
        // warn_if_reject: what a restriction would have rejected, Postfix's
        // monitor mode. A warning, like our log-only verdicts.
        ++warned_;
        monitor_.add("postfix: " + postfix_reason(ev.reply), 1);
        return;
      }
      Outcome o = ev.action == "milter-hold" || ev.action == "hold"         ? Outcome::kHold
                  : ev.action == "milter-discard" || ev.action == "discard" ? Outcome::kDiscard
                                                                            : Outcome::kReject;
      add_rejection(ev, o, false);
      return;
    }
    case EventKind::kOurs: {
      ++our_lines_;
      const std::string& a = ev.action;
      if (a == "reject" || a == "tempfail" || a == "disconnect") {
        add_rejection(ev, Outcome::kReject, true);
      } else if (a == "quarantine") {
        add_rejection(ev, Outcome::kHold, true);
      } else if (a == "discard") {
        add_rejection(ev, Outcome::kDiscard, true);
      } else if (a == "tag") {
        ++tagged_;
      } else {
        ++logged_;
        monitor_.add(ev.rule, 1);
      }
      return;
    }
    case EventKind::kNone:
      return;
  }
}

void Report::absorb(Pending& p, const LogEvent& ev, bool ours) {
  if (ours) {
    ++p.ours;
    if (p.rule.empty()) p.rule = ev.rule;
  } else {
    ++p.postfix;
    if (p.reason.empty()) p.reason = postfix_reason(ev.reply);
    if (p.stage.empty() || p.ours > 0) p.stage = ev.stage;  // Postfix's stage is the SMTP one
  }
  if (p.client_name.empty() || p.client_name == "unknown") p.client_name = ev.client_name;
  if (p.client_addr.empty()) p.client_addr = ev.client_addr;
  if (p.from.empty()) p.from = ev.from;
  if (p.reply.empty() || (ours && !ev.reply.empty())) p.reply = ev.reply;
  if (p.stage.empty()) p.stage = ev.stage;
  if (!p.timed && ev.timed) {
    p.timed = true;
    p.time = ev.time;
  }
  if ((ev.code >= 400 && ev.code < 500) || (ev.code == 0 && ev.enhanced.substr(0, 1) == "4"))
    p.temporary = true;
}

void Report::add_rejection(const LogEvent& ev, Outcome outcome, bool ours) {
  // Key: outcome, then queue ID, or client and second for NOQUEUE.
  const bool noqueue = ev.queue_id == "NOQUEUE" || ev.queue_id.empty();
  auto make_key = [&](std::int64_t second) {
    key_.clear();
    key_ += static_cast<char>('0' + static_cast<int>(outcome));
    key_ += '|';
    key_ += ev.enhanced;
    key_ += '|';
    if (noqueue) {
      key_ += ev.client_addr;
      key_ += '|';
      key_ += std::to_string(second);
    } else {
      key_ += ev.queue_id;
    }
  };
  auto wants = [&](const Pending& p) { return ours ? p.ours < p.postfix : p.postfix < p.ours; };
  if (noqueue && ev.timed) {
    // A partner in the same second, else one second either side.
    for (std::int64_t d : {0, -1, 1}) {
      make_key(ev.time + d);
      auto it = pending_.find(key_);
      if (it != pending_.end() && wants(it->second)) {
        absorb(it->second, ev, ours);
        return;
      }
    }
  }
  make_key(ev.timed ? ev.time : 0);
  auto [it, inserted] = pending_.try_emplace(key_);
  if (inserted) {
    it->second.outcome = outcome;
    it->second.seq = ++seq_;
    order_.emplace_back(key_, it->second.seq);
  }
  absorb(it->second, ev, ours);
  if (inserted) evict_if_full();
}

void Report::evict_if_full() {
  while (pending_.size() > opt_.window && !order_.empty()) {
    auto [key, seq] = order_.front();
    order_.pop_front();
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second.seq == seq) {
      count(it->second);
      pending_.erase(it);
    }
  }
}

void Report::finish() {
  for (const auto& [key, seq] : order_) {
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second.seq == seq) count(it->second);
  }
  pending_.clear();
  order_.clear();
}

void Report::count(const Pending& p) {
  const std::uint64_t n = std::max(p.ours, p.postfix);
  if (p.outcome == Outcome::kHold) {
    held_ += n;
    return;
  }
  if (p.outcome == Outcome::kDiscard) {
    discarded_ += n;
    return;
  }
  rejected_ += n;
  (p.temporary ? temporary_ : permanent_) += n;
  const std::uint64_t pairs = std::min(p.ours, p.postfix);
  both_ += pairs;
  ours_only_ += p.ours - pairs;
  postfix_only_ += p.postfix - pairs;
  const std::string rule = !p.rule.empty() ? p.rule : "postfix: " + p.reason;
  by_rule_.add(rule, n);
  by_client_.add(client_label(p.client_name, p.client_addr), n);
  by_network_.add(network_of(p.client_addr), n);
  by_domain_.add(sender_domain(p.from), n);
  by_stage_.add(p.stage.empty() ? std::string("unknown") : p.stage, n);
  by_message_.add(message_key(p.reply), n);
  if (p.timed) {
    std::int64_t hour = p.time - ((p.time % 3600) + 3600) % 3600;
    std::string h = std::to_string(hour);
    by_hour_.add(h, n);
    by_rule_hour_.add(rule + '\t' + h, n);
  }
}

// ---------------------------------------------------------------- CLI

CLI::App* add_report_command(CLI::App& app, ReportCli& cli) {
  auto* r = app.add_subcommand(
      "report",
      "Summarise rejections from mail logs (plain or gzip; - for stdin): Postfix's and "
      "esmtp-inspect's, each counted once (exit 0, 2 on usage or unreadable input); or from "
      "the systemd journal (--journal, --journal-file)");
  r->add_option("--since", cli.since,
                "only events at or after T (RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]])");
  r->add_option("--until", cli.until, "only events before T");
  r->add_flag("--json", cli.json, "print JSON");
  r->add_option("--html", cli.html, "also write a self-contained HTML page with a chart to OUT");
  r->add_option("--top", cli.opt.top, "rows per table (default 10)")->check(CLI::Range(1, 100000));
  auto* journal = r->add_flag("--journal", cli.journal,
                              "read the local systemd journal (root or group systemd-journal/adm)");
  auto* journal_files =
      r->add_option("--journal-file", cli.journal_files, "read these systemd journal files")
          ->expected(1, -1);
  auto* logs = r->add_option("LOG", cli.opt.files, "mail log files, - for standard input");
  journal->excludes(journal_files)->excludes(logs);
  journal_files->excludes(logs);
  return r;
}

namespace {
// Finishes the report and prints it (text or JSON, and the HTML page);
// 0, or 2 when the page cannot be written.
int print_report(Report& report, const ReportCli& cli);
}  // namespace

int run_report(ReportCli& cli) {
  if (!cli.since.empty()) {
    if (!parse_time_arg(cli.since, &cli.opt.since)) {
      std::cerr << "esmtp-inspect: report: --since: not a time: " << cli.since << "\n";
      return kExitUsage;
    }
    cli.opt.has_since = true;
  }
  if (!cli.until.empty()) {
    if (!parse_time_arg(cli.until, &cli.opt.until)) {
      std::cerr << "esmtp-inspect: report: --until: not a time: " << cli.until << "\n";
      return kExitUsage;
    }
    cli.opt.has_until = true;
  }
  if (!cli.journal && cli.journal_files.empty() && cli.opt.files.empty()) {
    std::cerr << "esmtp-inspect: report: give LOG..., --journal or --journal-file FILE...\n";
    return kExitUsage;
  }
  if (cli.journal || !cli.journal_files.empty()) {
    JournalSource src;
    src.local = cli.journal;
    src.files = cli.journal_files;
    std::string name = "journal";
    if (!src.local) {
      name.clear();
      for (const auto& f : src.files) name += (name.empty() ? "" : " ") + f;
    }
    Report report(cli.opt);
    const bool ok = report.add_journal(src, name);
    if (!ok) {
      std::cerr << "esmtp-inspect: report: " << (src.local ? "--journal: " : "")
                << report.files().back().error << "\n";
      return kExitUsage;
    }
    return print_report(report, cli);
  }
  int stdin_uses = 0;
  for (const auto& f : cli.opt.files) stdin_uses += f == "-";
  if (stdin_uses > 1) {
    std::cerr << "esmtp-inspect: report: - (standard input) given more than once\n";
    return kExitUsage;
  }
  Report report(cli.opt);
  bool ok = true;
  for (const auto& f : cli.opt.files) {
    if (!report.add_file(f)) {
      ok = false;
      std::cerr << "esmtp-inspect: report: " << (f == "-" ? "standard input" : f) << ": "
                << report.files().back().error << "\n";
    }
  }
  const int printed = print_report(report, cli);
  return ok ? printed : kExitUsage;
}

namespace {

int print_report(Report& report, const ReportCli& cli) {
  report.finish();
  if (!cli.html.empty()) {
    std::ofstream out(cli.html, std::ios::binary | std::ios::trunc);
    out << report.html();
    out.close();
    if (!out) {
      std::cerr << "esmtp-inspect: report: " << cli.html << ": cannot write\n";
      return kExitUsage;
    }
  }
  if (cli.json) {
    std::cout << report.json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << report.text();
  }
  return 0;
}

}  // namespace

}  // namespace esmtp::report
