#include "tools/probe/probe_output.h"

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/probe/smtp_reply.h"

namespace esmtp::probe {
namespace {

nlohmann::ordered_json dns_json(const DnsAnswer& a) {
  nlohmann::ordered_json j;
  j["status"] = std::string(to_string(a.status));
  if (a.status == DnsStatus::kTempError) j["error"] = a.error;
  j["names"] = a.names;
  std::vector<std::string> addrs;
  for (const auto& ip : a.addresses) addrs.push_back(ip.str());
  j["addresses"] = addrs;
  return j;
}

nlohmann::ordered_json extensions_json(const std::vector<EhloExtension>& v) {
  auto j = nlohmann::ordered_json::array();
  for (const auto& e : v) j.push_back(e.params.empty() ? e.keyword : e.keyword + " " + e.params);
  return j;
}

void row(const char* key, const std::string& value) {
  std::cout << fmt::format("{:<13} {}\n", key, value);
}

std::string join_ext(const std::vector<EhloExtension>& v) {
  std::string s;
  for (const auto& e : v) s += (s.empty() ? "" : " ") + printable(e.keyword, 60);
  return s;
}

std::string answer_text(const DnsAnswer& a, bool names) {
  if (a.status == DnsStatus::kNone) return "none";
  if (a.status == DnsStatus::kTempError) return "lookup failed (" + a.error + ")";
  std::string s;
  if (names)
    for (const auto& n : a.names) s += (s.empty() ? "" : ", ") + n;
  else
    for (const auto& ip : a.addresses) s += (s.empty() ? "" : ", ") + ip.str();
  return s;
}

}  // namespace

void print_json(const ProbeResult& r, const std::vector<Finding>& findings, int code) {
  nlohmann::ordered_json j;
  j["target"] = r.target;
  j["host"] = r.host;
  j["address"] = r.address ? nlohmann::ordered_json(r.address->str()) : nlohmann::ordered_json();
  j["port"] = r.port;
  j["connected"] = r.connected;
  if (!r.connect_error.empty()) j["connect_error"] = r.connect_error;
  j["connect_ms"] = r.connect_ms;
  nlohmann::ordered_json b;
  b["received"] = r.banner_received;
  b["ms"] = r.banner_ms;
  b["code"] = r.banner.code;
  b["text"] = r.banner_received ? printable(r.banner.first_line(), 1000) : "";
  b["hostname"] = r.banner_name;
  b["masked"] = r.banner_masked;
  if (!r.banner_error.empty()) b["error"] = r.banner_error;
  j["banner"] = b;
  nlohmann::ordered_json e;
  e["sent"] = r.ehlo_name;
  e["code"] = r.ehlo.code;
  e["greeting_name"] = r.ehlo_greeting_name;
  e["extensions"] = extensions_json(r.extensions);
  e["masked"] = r.masked_extensions;
  if (!r.ehlo_error.empty()) e["error"] = r.ehlo_error;
  j["ehlo"] = e;
  j["starttls"] = to_string(r.starttls);
  if (r.tls) {
    nlohmann::ordered_json t;
    t["protocol"] = r.tls->protocol;
    t["cipher"] = r.tls->cipher;
    t["subject"] = r.tls->subject;
    t["issuer"] = r.tls->issuer;
    t["names"] = r.tls->dns_names;
    t["not_after"] = r.tls->not_after;
    t["days_left"] = r.tls->days_left;
    t["self_signed"] = r.tls->self_signed;
    t["verify"] = r.tls->verify;
    t["matches_banner_name"] = r.tls->matches_banner_name
                                   ? nlohmann::ordered_json(*r.tls->matches_banner_name)
                                   : nlohmann::ordered_json();
    t["extensions"] = extensions_json(r.tls_extensions);
    j["tls"] = t;
  } else {
    j["tls"] = nullptr;
    if (!r.tls_error.empty()) j["tls_error"] = r.tls_error;
  }
  if (r.names) {
    nlohmann::ordered_json d;
    d["name"] = r.names->name;
    d["ptr"] = dns_json(r.names->ptr);
    d["forward"] = dns_json(r.names->forward);
    d["fcrdns_names"] = r.names->confirmed_names;
    d["forward_matches"] = r.names->forward_matches();
    d["ptr_matches"] = r.names->ptr_matches();
    j["dns"] = d;
  } else {
    j["dns"] = nullptr;
  }
  auto fs = nlohmann::ordered_json::array();
  for (const auto& f : findings) {
    nlohmann::ordered_json x;
    x["id"] = f.id;
    x["severity"] = to_string(f.severity);
    x["title"] = f.title;
    x["meaning"] = f.meaning;
    x["action"] = f.action;
    fs.push_back(x);
  }
  if (r.long_line) {
    nlohmann::ordered_json l;
    l["octets"] = r.long_line->octets;
    l["outcome"] = r.long_line->outcome;
    l["detail"] = r.long_line->detail;
    j["long_line"] = l;
  }
  j["findings"] = fs;
  j["status"] = code == 3 ? "unreachable" : to_string(worst(findings));
  j["exit_code"] = code;
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void print_text(const ProbeResult& r, const std::vector<Finding>& findings, int code) {
  row("target",
      r.target +
          (r.address ? " (" + r.address->str() + " port " + std::to_string(r.port) + ")" : ""));
  if (r.address)
    row("connect",
        r.connected ? fmt::format("{:.1f} ms", r.connect_ms) : "failed: " + r.connect_error);
  if (r.connected) {
    if (r.banner_received)
      row("banner",
          fmt::format("{:.1f} ms  {}", r.banner_ms, printable(r.banner.first_line(), 200)));
    else
      row("banner", "none: " + r.banner_error);
    if (r.banner_received)
      row("banner name", r.banner_masked         ? "(masked)"
                         : r.banner_name.empty() ? "(none)"
                                                 : r.banner_name);
  }
  if (r.names) {
    std::string ptr = answer_text(r.names->ptr, true);
    if (r.names->fcrdns())
      ptr += " (forward-confirmed: " + r.names->confirmed_names.front() + ")";
    else if (r.names->ptr.status == DnsStatus::kOk)
      ptr += " (not forward-confirmed)";
    row("PTR", ptr);
    if (!r.names->name.empty())
      row("name A/AAAA", r.names->name + ": " + answer_text(r.names->forward, false));
  }
  if (r.ehlo_done)
    row("EHLO", fmt::format("{} {}", r.ehlo.code, join_ext(r.extensions)));
  else if (!r.ehlo_error.empty())
    row("EHLO", "failed: " + r.ehlo_error);
  if (r.ehlo_done) row("STARTTLS", to_string(r.starttls));
  if (r.tls) {
    row("TLS", r.tls->protocol + " " + r.tls->cipher);
    std::string names;
    for (const auto& n : r.tls->dns_names) names += (names.empty() ? "" : ", ") + n;
    row("certificate", names + (r.tls->self_signed ? " (self-signed)" : "") + ", expires " +
                           r.tls->not_after + fmt::format(" ({} days)", r.tls->days_left));
    row("verify", r.tls->verify);
  } else if (!r.tls_error.empty()) {
    row("TLS", "failed: " + r.tls_error);
  }
  if (r.long_line)
    row("long line",
        fmt::format("{} octets: {}{}", r.long_line->octets, r.long_line->outcome,
                    r.long_line->detail.empty() ? "" : " (" + r.long_line->detail + ")"));
  std::cout << "\nfindings:\n";
  for (const auto& f : findings) {
    std::cout << fmt::format("  [{}] {}\n", to_string(f.severity), f.title);
    if (!f.meaning.empty()) std::cout << "      means: " << f.meaning << "\n";
    if (!f.action.empty()) std::cout << "      do:    " << f.action << "\n";
  }
  std::cout << fmt::format("\nresult: {} (exit {})\n",
                           code == 3 ? "could not probe" : to_string(worst(findings)), code);
}

}  // namespace esmtp::probe
