#include "tools/selfcheck/selfcheck.h"
#include "common/util/text.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/config/config_loader.h"
#include "tools/name_check.h"
#include "tools/selfcheck/socket_probe.h"

namespace esmtp::selfcheck {
namespace {

constexpr std::chrono::milliseconds kPostconfTimeout{10000};
// What the daemons read when not told otherwise (esmtp-inspect.yaml(5)).
constexpr const char* kSystemConfig = "/etc/esmtp-inspect/esmtp-inspect.yaml";

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    out.emplace_back(s.substr(0, nl));
    s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
  }
  return out;
}

// Greedy word wrap at kWidth columns, continuation lines indented as the first.
std::string wrap(std::string_view lead, std::string_view text) {
  constexpr std::size_t kWidth = 100;
  std::string out(lead), indent(lead.size(), ' ');
  std::size_t col = lead.size();
  bool first = true;
  while (!text.empty()) {
    auto sp = text.find(' ');
    std::string_view word = text.substr(0, sp);
    text.remove_prefix(sp == std::string_view::npos ? text.size() : sp + 1);
    if (word.empty()) continue;
    if (!first && col + 1 + word.size() > kWidth) {
      out += "\n" + indent;
      col = indent.size();
    } else if (!first) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
    first = false;
  }
  return out + "\n";
}

}  // namespace

void add_wiring(Report& r, WiringReport wiring) {
  r.smtpd = std::move(wiring.services);
  for (auto& f : wiring.findings) r.findings.push_back(std::move(f));
  sort_findings(r.findings);
}

std::optional<WiringInput> read_wiring(const std::string& postconf, const std::string& config_dir,
                                       const PostconfValues& main, std::string* error) {
  WiringInput in;
  in.main = main;
  auto m = run_postconf_text(postconf, config_dir, {"-M"}, kPostconfTimeout, error);
  if (!m) return std::nullopt;
  in.services = parse_master_services(*m);
  // Postfix expands $name in -o values itself with -xP (3.7 does); without
  // it, expand them against main.cf here.
  std::string ignored;
  if (auto p = run_postconf_text(postconf, config_dir, {"-xP"}, kPostconfTimeout, &ignored)) {
    in.overrides = parse_service_overrides(*p);
  } else {
    auto raw = run_postconf_text(postconf, config_dir, {"-P"}, kPostconfTimeout, error);
    if (!raw) return std::nullopt;
    in.overrides = parse_service_overrides(*raw);
    std::vector<std::string> names;
    for (const auto& [id, values] : in.overrides)
      for (const auto& [k, v] : values)
        for (auto& n : referenced_parameters(v))
          if (!in.main.count(n) && std::find(names.begin(), names.end(), n) == names.end())
            names.push_back(std::move(n));
    if (!names.empty()) {
      auto more = run_postconf(postconf, config_dir, names, kPostconfTimeout, error);
      if (!more) return std::nullopt;
      in.main.insert(more->begin(), more->end());
    }
    for (auto& [id, values] : in.overrides)
      for (auto& [k, v] : values) v = expand_parameters(v, in.main);
  }
  // Restriction classes are parameters of their own: ask for their values.
  std::vector<std::string> classes;
  auto add_classes = [&](const std::string& list) {
    for (auto& n : split_list(list))
      if (!in.main.count(n) && std::find(classes.begin(), classes.end(), n) == classes.end())
        classes.push_back(std::move(n));
  };
  add_classes(postconf_value(main, "smtpd_restriction_classes"));
  for (const auto& [id, values] : in.overrides)
    add_classes(postconf_value(values, "smtpd_restriction_classes"));
  if (!classes.empty()) {
    auto more = run_postconf(postconf, config_dir, classes, kPostconfTimeout, error);
    if (!more) return std::nullopt;
    in.main.insert(more->begin(), more->end());
  }
  return in;
}

std::string format_text(const Report& r) {
  std::ostringstream o;
  auto line = [&](std::string_view label, const std::string& value) {
    o << "  " << label << std::string(label.size() < 14 ? 14 - label.size() : 1, ' ') << value
      << "\n";
  };
  o << "Postfix " << postconf_value(r.settings, "mail_version") << ", config "
    << postconf_value(r.settings, "config_directory") << "\n";
  line("myhostname", r.myhostname);
  line("banner name",
       r.banner_name + "  (smtpd_banner = " + postconf_value(r.settings, "smtpd_banner") + ")");
  line("HELO name", r.helo_name);
  auto uses = [](const std::vector<AddressUse>& v) {
    std::string s;
    for (const auto& u : v) s += (s.empty() ? "" : ", ") + u.address.str() + " (" + u.source + ")";
    return s.empty() ? std::string("unknown") : s;
  };
  line("sends from", uses(r.sending));
  line("receives on", uses(r.receiving));
  for (const auto& c : r.certificates)
    line("certificate", c.path + " (" + join(c.names) + "; expires " + c.not_after + ")");
  for (const auto& s : r.smtpd) {
    std::string how = s.chrooted ? "chrooted in " + s.queue_directory : "not chrooted";
    how += ", user " + s.user;
    if (!s.milters.empty()) how += "; milters " + join(s.milters);
    if (!s.policies.empty()) how += "; policy " + join(s.policies);
    line("smtpd", s.id + " (" + how + ")");
  }
  o << "\n";
  std::size_t counts[4] = {};
  for (const auto& f : r.findings) {
    ++counts[static_cast<int>(f.severity)];
    std::string sev(to_string(f.severity));
    std::transform(sev.begin(), sev.end(), sev.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    o << sev << std::string(9 - sev.size(), ' ') << f.check << ": " << f.message << "\n";
    if (f.severity != Severity::kOk) {
      if (!f.meaning.empty()) o << wrap("         why: ", f.meaning);
      // One line per step or alternative, unwrapped: commands are copied.
      std::string_view fix = f.fix, lead = "         fix: ";
      while (!fix.empty()) {
        auto nl = fix.find('\n');
        o << lead << fix.substr(0, nl) << "\n";
        fix.remove_prefix(nl == std::string_view::npos ? fix.size() : nl + 1);
        lead = "              ";
      }
    }
  }
  auto plural = [](std::size_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
  };
  o << "\n"
    << plural(counts[3], "problem") << ", " << plural(counts[2], "warning") << ", " << counts[1]
    << " info, " << counts[0] << " ok (exit " << r.exit_code() << ")\n";
  return o.str();
}

std::string format_json(const Report& r) {
  nlohmann::ordered_json j;
  j["status"] = std::string(to_string(r.worst()));
  j["exit_code"] = r.exit_code();
  j["myhostname"] = r.myhostname;
  j["banner_name"] = r.banner_name;
  j["helo_name"] = r.helo_name;
  auto uses = [](const std::vector<AddressUse>& v) {
    auto a = nlohmann::ordered_json::array();
    for (const auto& u : v) a.push_back({{"address", u.address.str()}, {"source", u.source}});
    return a;
  };
  j["sending"] = uses(r.sending);
  j["receiving"] = uses(r.receiving);
  j["certificates"] = nlohmann::ordered_json::array();
  for (const auto& c : r.certificates)
    j["certificates"].push_back({{"path", c.path},
                                 {"subject", c.subject},
                                 {"names", c.names},
                                 {"not_after", c.not_after},
                                 {"days_left", c.seconds_left / 86400},
                                 {"self_signed", c.self_signed}});
  nlohmann::ordered_json counts = {{"ok", 0}, {"info", 0}, {"warning", 0}, {"problem", 0}};
  j["smtpd"] = nlohmann::ordered_json::array();
  for (const auto& s : r.smtpd)
    j["smtpd"].push_back({{"service", s.id},
                          {"chrooted", s.chrooted},
                          {"queue_directory", s.queue_directory},
                          {"user", s.user},
                          {"milters", s.milters},
                          {"policy_services", s.policies}});
  j["findings"] = nlohmann::ordered_json::array();
  for (const auto& f : r.findings) {
    counts[std::string(to_string(f.severity))] =
        counts[std::string(to_string(f.severity))].get<int>() + 1;
    j["findings"].push_back(
        {{"severity", std::string(to_string(f.severity))},
         {"check", f.check},
         {"subject", f.subject},
         {"message", f.message},
         {"meaning", f.meaning},
         {"fix", f.fix},
         {"fixes", f.fix.empty() ? std::vector<std::string>{} : split_lines(f.fix)}});
  }
  j["counts"] = counts;
  j["settings"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.settings) j["settings"][k] = v;
  // Replace, not throw, on bytes that are not UTF-8 (a hostile main.cf).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

CLI::App* add_selfcheck_command(CLI::App& app, Options& o) {
  auto* sc = app.add_subcommand(
      "selfcheck",
      "Check the local Postfix's names (myhostname, smtpd_banner, smtp_helo_name, TLS "
      "certificate) against DNS for its addresses, and esmtp-inspect's milter and policy "
      "sockets as each smtpd of master.cf opens them (exit 0 fine, 1 warnings, 2 problems, 3 "
      "could not run)");
  sc->add_option("-c,--config-dir", o.config_dir, "Postfix configuration directory (postconf -c)");
  sc->add_option("--postconf", o.postconf, "the postconf program (default: postconf on PATH)");
  sc->add_option("--address", o.addresses,
                 "public address the server sends and receives on, as the world sees it "
                 "(NAT; repeatable; default from smtp_bind_address / inet_interfaces)");
  sc->add_option("--dns", o.dns, "DNS server 127.0.0.1:PORT (repeatable; default resolv.conf)");
  sc->add_option("--dns-timeout", o.dns_timeout_ms, "DNS timeout per try, ms (default 2000)")
      ->check(CLI::Range(1u, 60000u));
  sc->add_option("--config", o.config,
                 std::string("esmtp-inspect.yaml whose milter.socket and policy.listen name our "
                             "sockets (default ") +
                     kSystemConfig + " if readable, else the built-in defaults)");
  sc->add_flag("--json", o.json, "print JSON");
  return sc;
}

int run_selfcheck(const Options& o) {
  auto fail = [&](const std::string& message) {
    std::cerr << "esmtp-inspect selfcheck: " << message << "\n";
    if (o.json) {
      nlohmann::ordered_json j = {
          {"status", "error"}, {"exit_code", kExitCannotRun}, {"error", message}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return kExitCannotRun;
  };
  EvaluateOptions eo;
  for (const auto& a : o.addresses) {
    auto ip = IpAddress::parse(a);
    if (!ip) return fail("--address " + a + ": not an IP address");
    eo.addresses.push_back(*ip);
  }
  std::string error;
  auto settings =
      run_postconf(o.postconf, o.config_dir, postconf_parameters(), kPostconfTimeout, &error);
  if (!settings) return fail(error);
  if (postconf_value(*settings, "myhostname").empty())
    return fail(o.postconf + " printed no myhostname: is it Postfix's postconf?");

  // Wiring first: its probe forks, best done before the resolver's threads.
  std::vector<Finding> notes;
  OurSockets ours;
  std::shared_ptr<const Config> config;
  std::string config_file = o.config;
  if (config_file.empty() && access(kSystemConfig, R_OK) == 0) config_file = kSystemConfig;
  if (!config_file.empty()) {
    LoadResult loaded = load_config_file(config_file);
    if (loaded.ok()) {
      config = loaded.config;
      ours.config_file = config_file;
    } else if (!o.config.empty()) {
      return fail(loaded.errors.front().str());
    } else {
      notes.push_back({Severity::kWarning, "wiring", config_file,
                       "cannot read " + config_file + ": " + loaded.errors.front().str(),
                       "The daemons cannot start with it either; selfcheck recognised "
                       "esmtp-inspect's sockets by the built-in defaults and by name only.",
                       "esmtp-inspect check-config " + config_file});
    }
  }
  if (!config) config = default_config();
  ours.milter = {config->milter.socket};
  ours.policy = config->policy.listen;
  WiringReport wiring;
  if (auto in = read_wiring(o.postconf, o.config_dir, *settings, &error)) {
    in->ours = ours;
    SystemProbe probe;
    wiring = check_wiring(*in, probe);
  } else {
    notes.push_back({Severity::kWarning, "wiring", "master.cf",
                     "the wiring was not checked: " + error,
                     "Without master.cf's services selfcheck cannot tell which smtpd opens "
                     "which socket.",
                     "postconf -c DIR -M must work: check master.cf"});
  }
  wiring.findings.insert(wiring.findings.begin(), std::make_move_iterator(notes.begin()),
                         std::make_move_iterator(notes.end()));

  DnsOptions dns;
  dns.servers = o.dns;
  dns.timeout = std::chrono::milliseconds(o.dns_timeout_ms);
  auto resolver = DnsResolver::create(dns, &error);
  if (!resolver) return fail("DNS: " + error);
  // Forward lookups of PTR names start after the PTR answer: two budgets.
  eo.dns_wait = 2 * resolver->budget() + std::chrono::milliseconds(200);
  Report r = evaluate(*settings, *resolver, eo);
  add_wiring(r, std::move(wiring));
  std::cout << (o.json ? format_json(r) + "\n" : format_text(r));
  return r.exit_code();
}

}  // namespace esmtp::selfcheck
