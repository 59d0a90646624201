// Report's output: the text summary, the JSON object and the HTML page with
// its SVG chart (report.h). The counting is in report.cc.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>

#include "tools/report/report.h"

namespace esmtp::report {
namespace {

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

nlohmann::ordered_json table_json(const BoundedCounter& c, std::size_t top, const char* key) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& [k, n] : c.top(top)) a.push_back({{key, k}, {"count", n}});
  return a;
}

}  // namespace

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
                 {"postfix_warnings", warned_},
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
  line("Postfix reject_warning (warn_if_reject; not rejected)", warned_);
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
    table("Log-only verdicts per rule (monitor mode; Postfix's reject_warning)", monitor_,
          opt_.top);
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

}  // namespace esmtp::report
