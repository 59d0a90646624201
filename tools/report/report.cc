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

std::string hour_label(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t - ((t % 3600) + 3600) % 3600);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:00", &tm);
  return buf;
}

std::string time_label(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

// Bytes that are not printable ASCII shown as \xHH (text output).
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char b[5];
      std::snprintf(b, sizeof b, "\\x%02X", c);
      out += b;
    }
  }
  return out;
}

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

nlohmann::ordered_json table_json(const BoundedCounter& c, std::size_t top, const char* key) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& [k, n] : c.top(top)) a.push_back({{key, k}, {"count", n}});
  return a;
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

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "&#xFFFD;";
        } else {
          out += static_cast<char>(c);
        }
    }
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

// ---------------------------------------------------------------- output

nlohmann::ordered_json Report::json() const {
  nlohmann::ordered_json j;
  j["rejected"] = rejected_;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& f : files_) {
    nlohmann::ordered_json x{{"name", f.name},
                             {"bytes", f.stats.bytes},
                             {"lines", f.stats.lines},
                             {"gzip", f.stats.gzip}};
    if (!f.error.empty()) x["error"] = f.error;
    files.push_back(x);
  }
  j["files"] = files;
  j["period"] = {{"first", have_time_ ? nlohmann::ordered_json(time_label(first_)) : nullptr},
                 {"last", have_time_ ? nlohmann::ordered_json(time_label(last_)) : nullptr}};
  j["totals"] = {{"lines", lines_},
                 {"bytes", bytes_},
                 {"unrecognized_lines", unrecognized_},
                 {"unreadable_esmtp_inspect_lines", unreadable_ours_},
                 {"long_lines", long_lines_},
                 {"outside_period", out_of_range_},
                 {"connections", connections_},
                 {"delivered", delivered_},
                 {"rejected", rejected_},
                 {"permanent", permanent_},
                 {"temporary", temporary_},
                 {"held", held_},
                 {"discarded", discarded_},
                 {"logged_only", logged_},
                 {"tagged", tagged_},
                 {"postfix_reject_lines", postfix_lines_},
                 {"esmtp_inspect_lines", our_lines_}};
  j["dedup"] = {{"logged_by_both", both_},
                {"esmtp_inspect_only", ours_only_},
                {"postfix_only", postfix_only_}};
  j["by_rule"] = table_json(by_rule_, opt_.top, "rule");
  j["by_client"] = table_json(by_client_, opt_.top, "client");
  j["by_network"] = table_json(by_network_, opt_.top, "network");
  j["by_sender_domain"] = table_json(by_domain_, opt_.top, "domain");
  j["by_stage"] = table_json(by_stage_, 0, "stage");
  nlohmann::ordered_json hours = nlohmann::ordered_json::array();
  std::vector<std::pair<std::int64_t, std::uint64_t>> hv;
  for (const auto& [k, n] : by_hour_.all()) hv.emplace_back(std::stoll(k), n);
  std::sort(hv.begin(), hv.end());
  for (const auto& [h, n] : hv) hours.push_back({{"hour", hour_label(h)}, {"count", n}});
  j["by_hour"] = hours;
  j["top_messages"] = table_json(by_message_, opt_.top, "message");
  j["monitor_only"] = table_json(monitor_, opt_.top, "rule");
  bool approx = false;
  for (const auto* c : {&by_rule_, &by_client_, &by_network_, &by_domain_, &by_hour_, &by_message_})
    approx = approx || c->approximate();
  j["approximate"] = approx;
  // What each full table folded away (rows not shown; totals stay exact).
  j["table_other"] = {{"by_rule", by_rule_.other()},       {"by_client", by_client_.other()},
                      {"by_network", by_network_.other()}, {"by_sender_domain", by_domain_.other()},
                      {"by_hour", by_hour_.other()},       {"top_messages", by_message_.other()},
                      {"monitor_only", monitor_.other()}};
  return j;
}

std::string Report::text() const {
  std::string o;
  auto line = [&](const std::string& label, std::uint64_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%10llu  ", static_cast<unsigned long long>(n));
    o += buf + printable(label) + "\n";
  };
  o += "esmtp-inspect report: " + std::to_string(files_.size()) + " file" +
       (files_.size() == 1 ? "" : "s") + ", " + std::to_string(lines_) + " lines, " +
       std::to_string(bytes_) + " bytes\n";
  if (have_time_) o += "period: " + time_label(first_) + " .. " + time_label(last_) + "\n";
  o += "\nTotals\n";
  line("connections", connections_);
  line("delivered (status=sent, per recipient)", delivered_);
  line("rejected (" + std::to_string(permanent_) + " permanent, " + std::to_string(temporary_) +
           " temporary)",
       rejected_);
  line("  logged by Postfix and esmtp-inspect (counted once)", both_);
  line("  logged by esmtp-inspect only", ours_only_);
  line("  logged by Postfix only", postfix_only_);
  line("held (quarantine)", held_);
  line("discarded", discarded_);
  line("esmtp-inspect log/monitor verdicts (not rejected)", logged_);
  line("esmtp-inspect tag verdicts", tagged_);
  if (unrecognized_) line("unrecognized lines", unrecognized_);
  if (unreadable_ours_)
    line("esmtp-inspect verdict lines not counted (malformed: unknown or repeated fields)",
         unreadable_ours_);
  if (long_lines_) line("lines cut at " + std::to_string(opt_.max_line) + " octets", long_lines_);
  if (out_of_range_) line("events outside --since/--until", out_of_range_);
  auto table = [&](const char* title, const BoundedCounter& c, std::size_t top) {
    o += std::string("\n") + title + "\n";
    auto rows = c.top(top);
    if (rows.empty()) o += "      none\n";
    for (const auto& [k, n] : rows) line(k, n);
    if (c.other()) line("(other, table full)", c.other());
  };
  table("Rejections per rule / reason", by_rule_, opt_.top);
  table("Rejections per client", by_client_, opt_.top);
  table("Rejections per client network", by_network_, opt_.top);
  table("Rejections per sender domain", by_domain_, opt_.top);
  table("Rejections per stage", by_stage_, 0);
  o += "\nRejections per hour\n";
  std::vector<std::pair<std::int64_t, std::uint64_t>> hv;
  for (const auto& [k, n] : by_hour_.all()) hv.emplace_back(std::stoll(k), n);
  std::sort(hv.begin(), hv.end());
  if (hv.empty()) o += "      none\n";
  for (const auto& [h, n] : hv) line(hour_label(h), n);
  table("Top messages", by_message_, opt_.top);
  if (!monitor_.all().empty())
    table("Log-only verdicts per rule (monitor mode)", monitor_, opt_.top);
  for (const auto& f : files_)
    if (!f.error.empty()) o += "\nerror: " + printable(f.name) + ": " + f.error + "\n";
  return o;
}

std::string Report::html() const {
  static constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                            "#8c564b", "#e377c2", "#17becf", "#7f7f7f"};
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>esmtp-inspect report</title>\n<style>body{font-family:sans-serif;margin:2em}"
       "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;"
       "padding:2px 8px}td.n{text-align:right}</style></head><body>\n";
  h += "<h1>esmtp-inspect report</h1>\n";
  if (have_time_)
    h += "<p>Period: " + html_escape(time_label(first_)) + " .. " + html_escape(time_label(last_)) +
         "</p>\n";
  h += "<table id=\"totals\"><tr><th>total</th><th>count</th></tr>\n";
  auto row = [&](const std::string& k, std::uint64_t n) {
    h += "<tr><td>" + html_escape(k) + "</td><td class=\"n\">" + std::to_string(n) + "</td></tr>\n";
  };
  row("lines", lines_);
  row("connections", connections_);
  row("delivered", delivered_);
  row("rejected", rejected_);
  row("held", held_);
  row("discarded", discarded_);
  h += "</table>\n";

  // Chart: one polyline per rule (the 8 largest, the rest as "other") over
  // hourly buckets, widened to whole days when the period is long.
  std::vector<std::string> rules;
  for (const auto& [r, n] : by_rule_.top(8)) rules.push_back(r);
  std::int64_t lo = 0, hi = 0;
  bool any = false;
  for (const auto& [k, n] : by_hour_.all()) {
    std::int64_t t = std::stoll(k);
    if (!any || t < lo) lo = t;
    if (!any || t > hi) hi = t;
    any = true;
  }
  h += "<h2>Rejections over time per rule</h2>\n";
  if (!any) {
    h += "<p>No timed rejections.</p>\n";
  } else {
    std::int64_t step = 3600;
    while ((hi - lo) / step > 400) step *= 2;
    const std::size_t buckets = static_cast<std::size_t>((hi - lo) / step) + 1;
    std::vector<std::vector<std::uint64_t>> series(rules.size() + 1,
                                                   std::vector<std::uint64_t>(buckets, 0));
    for (const auto& [k, n] : by_rule_hour_.all()) {
      std::size_t tab = k.rfind('\t');
      std::string rule = k.substr(0, tab);
      std::int64_t t = std::stoll(k.substr(tab + 1));
      std::size_t b = static_cast<std::size_t>((t - lo) / step);
      if (b >= buckets) continue;
      std::size_t s = std::find(rules.begin(), rules.end(), rule) - rules.begin();
      series[s][b] += n;
    }
    std::uint64_t ymax = 1;
    for (const auto& s : series)
      for (auto v : s) ymax = std::max(ymax, v);
    const int W = 900, H = 300, L = 50, B = 30, T = 10, R = 10;
    auto x = [&](std::size_t b) {
      return L + (buckets == 1
                      ? (W - L - R) / 2.0
                      : static_cast<double>(b) * (W - L - R) / static_cast<double>(buckets - 1));
    };
    auto y = [&](std::uint64_t v) {
      return T + (H - T - B) * (1.0 - static_cast<double>(v) / static_cast<double>(ymax));
    };
    char buf[128];
    h += "<svg width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
         "\" role=\"img\" aria-label=\"rejections over time\">\n";
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n", L, H - B,
                  W - R, H - B);
    h += buf;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n", L, T, L,
                  H - B);
    h += buf;
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%llu</text>\n",
                  L - 4, T + 10, static_cast<unsigned long long>(ymax));
    h += buf;
    h += "<text x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(H - 8) +
         "\" font-size=\"11\">" + html_escape(hour_label(lo)) + "</text>\n";
    h += "<text x=\"" + std::to_string(W - R) + "\" y=\"" + std::to_string(H - 8) +
         "\" font-size=\"11\" text-anchor=\"end\">" + html_escape(hour_label(hi)) + "</text>\n";
    for (std::size_t s = 0; s < series.size(); ++s) {
      bool nonzero = false;
      for (auto v : series[s]) nonzero = nonzero || v;
      if (!nonzero) continue;
      std::string name = s < rules.size() ? rules[s] : std::string("other");
      h += "<polyline class=\"series\" fill=\"none\" stroke-width=\"2\" stroke=\"" +
           std::string(kColors[s % 9]) + "\" points=\"";
      for (std::size_t b = 0; b < buckets; ++b) {
        std::snprintf(buf, sizeof buf, "%s%.1f,%.1f", b ? " " : "", x(b), y(series[s][b]));
        h += buf;
      }
      h += "\"><title>" + html_escape(name) + "</title></polyline>\n";
    }
    h += "</svg>\n<ul class=\"legend\">\n";
    for (std::size_t s = 0; s < series.size(); ++s) {
      std::string name = s < rules.size() ? rules[s] : std::string("other");
      if (s == rules.size() && by_rule_.all().size() <= rules.size()) break;
      h += "<li><span style=\"color:" + std::string(kColors[s % 9]) + "\">&#9632;</span> " +
           html_escape(name) + "</li>\n";
    }
    h += "</ul>\n";
    if (step > 3600) h += "<p>One point per " + std::to_string(step / 3600) + " hours.</p>\n";
  }
  auto table = [&](const char* id, const char* title, const BoundedCounter& c) {
    h += std::string("<h2>") + title + "</h2>\n<table id=\"" + id +
         "\"><tr><th>key</th><th>count</th></tr>\n";
    for (const auto& [k, n] : c.top(opt_.top)) row(k, n);
    h += "</table>\n";
  };
  table("by_rule", "Rejections per rule / reason", by_rule_);
  table("by_client", "Rejections per client", by_client_);
  table("by_network", "Rejections per client network", by_network_);
  table("by_sender_domain", "Rejections per sender domain", by_domain_);
  table("top_messages", "Top messages", by_message_);
  h += "</body></html>\n";
  return h;
}

// ---------------------------------------------------------------- CLI

CLI::App* add_report_command(CLI::App& app, ReportCli& cli) {
  auto* r = app.add_subcommand(
      "report",
      "Summarise rejections from mail logs (plain or gzip; - for stdin): Postfix's and "
      "esmtp-inspect's, each counted once (exit 0, 2 on usage or unreadable input)");
  r->add_option("--since", cli.since,
                "only events at or after T (RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]])");
  r->add_option("--until", cli.until, "only events before T");
  r->add_flag("--json", cli.json, "print JSON");
  r->add_option("--html", cli.html, "also write a self-contained HTML page with a chart to OUT");
  r->add_option("--top", cli.opt.top, "rows per table (default 10)")->check(CLI::Range(1, 100000));
  r->add_option("LOG", cli.opt.files, "mail log files, - for standard input")->required();
  return r;
}

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
  return ok ? 0 : kExitUsage;
}

}  // namespace esmtp::report
