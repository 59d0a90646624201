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
constexpr std::int64_t kExpirySoon = 14 * 86400;

std::string lower(std::string_view s) {
  std::string r(s);
  while (!r.empty() && r.back() == '.') r.pop_back();
  std::transform(r.begin(), r.end(), r.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

std::string get(const PostconfValues& s, std::string_view name) {
  auto it = s.find(name);
  return it == s.end() ? std::string() : it->second;
}

std::string addresses_text(const std::vector<IpAddress>& v) {
  std::vector<std::string> s;
  for (const auto& a : v) s.push_back(a.str());
  return join(s);
}

// The owner name of an address's PTR record, for "add this record" fixes.
std::string ptr_owner(const IpAddress& a) {
  std::string r;
  static const char* hex = "0123456789abcdef";
  if (!a.v6) {
    for (int i = 3; i >= 0; --i) r += std::to_string(a.bytes[static_cast<std::size_t>(i)]) + ".";
    return r + "in-addr.arpa.";
  }
  for (int i = 15; i >= 0; --i) {
    auto b = a.bytes[static_cast<std::size_t>(i)];
    r += hex[b & 0xf];
    r += '.';
    r += hex[b >> 4];
    r += '.';
  }
  return r + "ip6.arpa.";
}

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

std::string record_type(const IpAddress& a) {
  return a.v6 ? "AAAA" : "A";
}

std::string forward_text(const NameAddressCheck& c) {
  switch (c.forward.status) {
    case DnsStatus::kOk:
      return c.name + " resolves to " + addresses_text(c.forward.addresses);
    case DnsStatus::kNone:
      return c.name + " has no A/AAAA record";
    case DnsStatus::kTempError:
      break;
  }
  return c.name + " could not be resolved (" + c.forward.error + ")";
}

std::string ptr_text(const NameAddressCheck& c) {
  switch (c.ptr.status) {
    case DnsStatus::kOk:
      return "the PTR of " + c.address.str() + " is " + join(c.ptr.names);
    case DnsStatus::kNone:
      return c.address.str() + " has no PTR record";
    case DnsStatus::kTempError:
      break;
  }
  return "the PTR of " + c.address.str() + " could not be looked up (" + c.ptr.error + ")";
}

std::string add_ptr(const IpAddress& a, const std::string& name) {
  return "add PTR " + a.str() + " -> " + name + " (" + ptr_owner(a) + " PTR " + name +
         ".; set by whoever holds the address block, usually the ISP or hosting provider)";
}

std::string add_forward(const IpAddress& a, const std::string& name) {
  return "add " + record_type(a) + " " + name + " -> " + a.str() + " (" + name + ". " +
         record_type(a) + " " + a.str() + ")";
}

// Grouped by check, in the order an operator fixes them.
void sort_findings(std::vector<Finding>& findings) {
  static const std::vector<std::string> order = {"names",      "addresses",   "helo_ptr",
                                                 "banner_dns", "certificate", "wiring"};
  auto rank = [](const std::string& c) { return std::find(order.begin(), order.end(), c); };
  std::stable_sort(findings.begin(), findings.end(), [&](const Finding& a, const Finding& b) {
    return rank(a.check) < rank(b.check);
  });
}

class Checker {
 public:
  Checker(const PostconfValues& settings, DnsResolver& resolver, const EvaluateOptions& options)
      : resolver_(resolver), options_(options) {
    r_.settings = settings;
  }

  Report run() {
    names();
    addresses();
    dns();
    certificates();
    // Grouped by check, in the order an operator fixes them.
    sort_findings(r_.findings);
    return std::move(r_);
  }

 private:
  void add(Severity s, std::string check, std::string subject, std::string message,
           std::string meaning = {}, std::string fix = {}) {
    r_.findings.push_back({s, std::move(check), std::move(subject), std::move(message),
                           std::move(meaning), std::move(fix)});
  }

  std::string setting(std::string_view name) const { return get(r_.settings, name); }

  void names() {
    r_.myhostname = lower(setting("myhostname"));
    std::string banner = setting("smtpd_banner");
    r_.banner_name = lower(banner_hostname(banner));
    r_.helo_name = lower(setting("smtp_helo_name"));
    bool ok = true;
    if (!is_fqdn(r_.myhostname)) {
      ok = false;
      add(Severity::kProblem, "names", "myhostname",
          "myhostname '" + r_.myhostname + "' is not a fully qualified domain name",
          "Postfix uses myhostname in its banner and HELO by default; receivers reject a "
          "HELO that is not fully qualified (504 5.5.2 need fully-qualified hostname).",
          "postconf -e 'myhostname = mail.example.org' (the name with A and PTR records)");
    }
    if (!is_fqdn(r_.banner_name)) {
      ok = false;
      bool masked =
          r_.banner_name.find_first_not_of("*xX") == std::string::npos && !r_.banner_name.empty();
      add(Severity::kProblem, "names", "smtpd_banner",
          "smtpd_banner '" + banner + "' does not start with a host name",
          std::string("RFC 5321 section 4.2: the 220 greeting starts with the server's "
                      "name; Postfix requires $myhostname at the start of smtpd_banner.") +
              (masked ? " A banner of asterisks or X's is what an inspecting firewall "
                        "shows; hiding the name protects nothing."
                      : ""),
          "postconf -e 'smtpd_banner = $myhostname ESMTP'");
    } else if (r_.banner_name != r_.myhostname) {
      ok = false;
      add(Severity::kWarning, "names", "smtpd_banner",
          "banner name " + r_.banner_name + " differs from myhostname " + r_.myhostname,
          "Outside checks compare the banner name with the DNS of the address; keeping one "
          "name everywhere keeps them consistent.",
          "postconf -e 'smtpd_banner = $myhostname ESMTP'");
    }
    if (!is_fqdn(r_.helo_name)) {
      ok = false;
      add(Severity::kProblem, "names", "smtp_helo_name",
          "HELO name '" + r_.helo_name + "' is not a fully qualified domain name",
          "Receiving servers reject or score mail whose HELO is not a fully qualified name "
          "with A and PTR records (504 5.5.2 need fully-qualified hostname).",
          "postconf -e 'smtp_helo_name = $myhostname'");
    } else if (r_.helo_name != r_.banner_name && is_fqdn(r_.banner_name)) {
      ok = false;
      add(Severity::kWarning, "names", "smtp_helo_name",
          "HELO name " + r_.helo_name + " differs from banner name " + r_.banner_name,
          "Not wrong in itself if each name has matching DNS, but receivers check the HELO "
          "name against the PTR of the sending address, and one name for both is easiest to "
          "keep right.",
          r_.helo_name != r_.myhostname ? "postconf -e 'smtp_helo_name = $myhostname'"
                                        : "postconf -e 'smtpd_banner = $myhostname ESMTP'");
    }
    if (ok)
      add(Severity::kOk, "names", r_.myhostname,
          "banner name, HELO name and myhostname agree: " + r_.myhostname);
  }

  bool ipv4() const { return protocols_.find("ipv4") != std::string::npos || all_protocols_; }
  bool ipv6() const { return protocols_.find("ipv6") != std::string::npos || all_protocols_; }

  // Addresses of a list entry: itself, or the host name's A/AAAA.
  std::vector<IpAddress> resolve(const InterfaceEntry& e, const std::string& param) {
    if (e.address) return {*e.address};
    auto deadline = std::chrono::steady_clock::now() + options_.dns_wait;
    DnsAnswer a = addresses_wait(resolver_, e.text, deadline);
    if (a.status != DnsStatus::kOk) {
      add(Severity::kWarning, "addresses", e.text,
          param + " entry " + e.text + " does not resolve in the DNS (" +
              std::string(a.status == DnsStatus::kNone ? "no A/AAAA record" : a.error) + ")",
          "Postfix resolves " + param +
              " names at start-up (hosts file, then DNS) and refuses to start when one has no "
              "address on this host; the DNS checks below cannot use it.",
          "postconf -e '" + param + " = ADDRESS' with the address itself");
      return {};
    }
    std::vector<IpAddress> out;
    for (const auto& ip : a.addresses)
      if (ip.v6 ? ipv6() : ipv4()) out.push_back(ip);
    return out;
  }

  static void add_use(std::vector<AddressUse>& v, const IpAddress& a, const std::string& src) {
    for (const auto& u : v)
      if (u.address == a) return;
    v.push_back({a, src});
  }

  void addresses() {
    protocols_ = lower(setting("inet_protocols"));
    all_protocols_ = protocols_.empty() || protocols_.find("all") != std::string::npos;

    Interfaces inet = parse_interfaces(setting("inet_interfaces"));
    std::vector<IpAddress> listen;
    for (const auto& e : inet.entries)
      for (const auto& a : resolve(e, "inet_interfaces")) listen.push_back(a);

    // Sending: --address, else smtp_bind_address(6), else what Postfix
    // itself takes from inet_interfaces (smtp_bind_address docs: one
    // non-loopback address of a family is used as the source address).
    for (const auto& a : options_.addresses) add_use(r_.sending, a, "--address");
    if (r_.sending.empty()) {
      for (const char* p : {"smtp_bind_address", "smtp_bind_address6"}) {
        for (const auto& e : parse_interfaces(setting(p)).entries) {
          if (!e.address) {
            add(Severity::kWarning, "addresses", e.text,
                std::string(p) + " '" + e.text + "' is not an IP address",
                "Postfix's SMTP client binds to an address, not a name.",
                std::string("postconf -e '") + p + " = ADDRESS'");
            continue;
          }
          add_use(r_.sending, *e.address, p);
        }
      }
    }
    if (r_.sending.empty() && inet.keyword.empty()) {
      for (bool v6 : {false, true}) {
        std::vector<IpAddress> fam;
        for (const auto& a : listen)
          if (a.v6 == v6) fam.push_back(a);
        if (fam.size() == 1 && !is_loopback(fam[0])) add_use(r_.sending, fam[0], "inet_interfaces");
      }
    }
    if (r_.sending.empty())
      add(Severity::kInfo, "helo_ptr", "sending address",
          "the address mail is sent from is not configured (smtp_bind_address is empty and "
          "inet_interfaces names no single outside address): the kernel picks it, so the "
          "HELO name could not be checked against its PTR",
          "Receivers compare the HELO name with the PTR of the address the mail comes from; "
          "behind NAT that is the public address.",
          "run again with --address PUBLIC_IP (repeatable), or postconf -e "
          "'smtp_bind_address = IP'");

    // Receiving: --address (the public side), else inet_interfaces; plus
    // proxy_interfaces, the addresses a proxy or NAT receives mail on.
    if (!options_.addresses.empty()) {
      for (const auto& a : options_.addresses) add_use(r_.receiving, a, "--address");
    } else {
      // Nobody outside connects to a loopback address: a Postfix listening on
      // 192.0.2.1 and 127.0.0.1 is checked on 192.0.2.1 only.
      for (const auto& a : listen)
        if (!is_loopback(a)) add_use(r_.receiving, a, "inet_interfaces");
    }
    for (const auto& e : parse_interfaces(setting("proxy_interfaces")).entries)
      for (const auto& a : resolve(e, "proxy_interfaces"))
        add_use(r_.receiving, a, "proxy_interfaces");
    if (r_.receiving.empty()) {
      if (inet.keyword == "loopback-only" || !listen.empty())
        add(Severity::kInfo, "banner_dns", "receiving address",
            "inet_interfaces = " + setting("inet_interfaces") +
                ": this Postfix receives no mail from outside (loopback only), so its banner "
                "name is not checked against DNS",
            "",
            "if a proxy or NAT forwards mail to it, name the public address: postconf -e "
            "'proxy_interfaces = PUBLIC_IP' or --address PUBLIC_IP");
      else
        add(Severity::kInfo, "banner_dns", "receiving address",
            "inet_interfaces = " +
                (inet.keyword.empty() ? setting("inet_interfaces") : inet.keyword) +
                ": the public addresses are not known, so the banner name could not be "
                "checked against them",
            "", "run again with --address PUBLIC_IP (repeatable)");
    }
  }

  void dns() {
    // Every pair at once: a slow or dead DNS costs one wait, not one per pair.
    auto check = [this](std::string name, IpAddress a) {
      auto deadline = std::chrono::steady_clock::now() + options_.dns_wait;
      return check_name_address(resolver_, name, a, deadline);
    };
    std::vector<std::future<NameAddressCheck>> send, recv;
    if (is_fqdn(r_.helo_name))
      for (const auto& u : r_.sending)
        send.push_back(std::async(std::launch::async, check, r_.helo_name, u.address));
    if (is_fqdn(r_.banner_name))
      for (const auto& u : r_.receiving)
        recv.push_back(std::async(std::launch::async, check, r_.banner_name, u.address));
    for (std::size_t i = 0; i < send.size(); ++i) helo_ptr(send[i].get(), r_.sending[i]);
    for (std::size_t i = 0; i < recv.size(); ++i) banner_dns(recv[i].get(), r_.receiving[i]);
  }

  bool is_sending(const IpAddress& a) const {
    return std::any_of(r_.sending.begin(), r_.sending.end(),
                       [&](const AddressUse& u) { return u.address == a; });
  }

  void helo_ptr(const NameAddressCheck& c, const AddressUse& use) {
    const std::string subject = c.address.str();
    const std::string why =
        "Receiving servers look up the PTR of the address mail comes from and expect it to "
        "name the HELO host, which must resolve back to the address (forward-confirmed "
        "reverse DNS); otherwise many reject the mail or file it as spam.";
    // A known-wrong PTR is a problem even when the other lookup failed.
    bool ptr_known = c.ptr.status != DnsStatus::kTempError;
    bool forward_known = c.forward.status != DnsStatus::kTempError;
    if (!ptr_known || (c.ptr_matches() && !forward_known)) {
      add(Severity::kWarning, "helo_ptr", subject,
          "could not check HELO name " + c.name + " against " + subject + " (sending, " +
              use.source + "): " + ptr_text(c) + "; " + forward_text(c),
          "A temporary DNS failure: nothing is known either way.",
          "check the DNS servers (--dns) and run again");
      return;
    }
    if (c.consistent()) {
      add(Severity::kOk, "helo_ptr", subject,
          "HELO name " + c.name + " and sending address " + subject +
              " agree: PTR and A/AAAA point at each other");
      return;
    }
    if (!c.ptr_matches()) {
      std::string fix = add_ptr(c.address, c.name);
      if (forward_known && !c.forward_matches()) fix += "\n" + add_forward(c.address, c.name);
      for (const auto& n : c.confirmed_names) {
        fix += "\nor instead use the name the PTR gives: postconf -e 'smtp_helo_name = " + n + "'";
        break;
      }
      add(Severity::kProblem, "helo_ptr", subject,
          ptr_text(c) + ", not the HELO name " + c.name + " (sending, " + use.source + ")", why,
          fix);
      return;
    }
    add(Severity::kProblem, "helo_ptr", subject,
        "the PTR of " + subject + " is the HELO name, but " + forward_text(c) +
            " (not forward-confirmed)",
        why, add_forward(c.address, c.name));
  }

  void banner_dns(const NameAddressCheck& c, const AddressUse& use) {
    const std::string subject = c.address.str();
    const std::string why =
        "The text after 220 is informational (RFC 5321 section 4.2): senders do not check it. "
        "Outside test tools report \"Reverse DNS does not match SMTP banner\" for it; it "
        "matters only where this host also sends mail under this name from this address.";
    // Only the forward lookup decides the severity here; a failed PTR lookup
    // shows in the message.
    if (c.forward.status == DnsStatus::kTempError) {
      add(Severity::kWarning, "banner_dns", subject,
          "could not check banner name " + c.name + " against " + subject + " (receiving, " +
              use.source + "): " + ptr_text(c) + "; " + forward_text(c),
          "A temporary DNS failure: nothing is known either way.",
          "check the DNS servers (--dns) and run again");
      return;
    }
    if (c.consistent()) {
      add(Severity::kOk, "banner_dns", subject,
          "banner name " + c.name + " resolves to receiving address " + subject +
              " and its PTR names it");
      return;
    }
    bool sends = is_sending(c.address) && c.name == r_.helo_name;
    std::string fix;
    if (!c.forward_matches()) fix = add_forward(c.address, c.name);
    if (!c.ptr_matches() && !sends)
      fix += std::string(fix.empty() ? "" : "\n") + "optionally " + add_ptr(c.address, c.name);
    if (c.forward.status == DnsStatus::kNone) {
      add(Severity::kWarning, "banner_dns", subject,
          "banner name " + c.name + " does not exist in the DNS (receiving on " + subject + ", " +
              use.source + ")",
          "Senders and TLS clients that look the server up by its banner name find nothing; "
          "an MX host's name should resolve to the address it answers on.",
          fix);
      return;
    }
    std::string what = !c.forward_matches()
                           ? forward_text(c) + ", not to receiving address " + subject
                           : forward_text(c) + ", but " + ptr_text(c);
    // The sending side of the same pair is reported by helo_ptr already.
    add(Severity::kInfo, "banner_dns", subject, what + " (" + use.source + ")",
        sends ? why + " This address also sends as " + c.name + ": see helo_ptr." : why, fix);
  }

  void certificates() {
    std::vector<std::string> files;
    std::string chain = setting("smtpd_tls_chain_files");
    if (!chain.empty()) {
      files = split_list(chain);  // Postfix ignores the legacy parameters then
    } else {
      for (const char* p : {"smtpd_tls_cert_file", "smtpd_tls_eccert_file"})
        if (!setting(p).empty()) files.push_back(setting(p));
    }
    std::string level = lower(setting("smtpd_tls_security_level"));
    if (files.empty()) {
      bool wants = level == "may" || level == "encrypt";
      add(wants ? Severity::kProblem : Severity::kInfo, "certificate", "smtpd_tls_cert_file",
          wants ? "smtpd_tls_security_level = " + level + " but no server certificate is set"
                : "no server certificate is set: STARTTLS is not offered",
          "Without a certificate senders deliver in plaintext (or, with "
          "smtpd_tls_security_level = may, Postfix logs 'cannot load certificate' and "
          "answers STARTTLS with 454 4.7.0 TLS not available).",
          "postconf -e 'smtpd_tls_cert_file = /etc/ssl/certs/" +
              (r_.banner_name.empty() ? std::string("mail.example.org") : r_.banner_name) +
              ".pem' 'smtpd_tls_key_file = /etc/ssl/private/KEY.pem' "
              "'smtpd_tls_security_level = may'");
      return;
    }
    if (level.empty() || level == "none")
      add(Severity::kInfo, "certificate", "smtpd_tls_security_level",
          "a certificate is set but smtpd_tls_security_level is " +
              (level.empty() ? std::string("empty (none)") : level) + ": STARTTLS is not offered",
          "Senders deliver in plaintext.", "postconf -e 'smtpd_tls_security_level = may'");
    for (const auto& f : files) certificate(f);
  }

  void certificate(const std::string& path) {
    std::string error;
    auto cert = load_certificate(path, &error);
    if (!cert) {
      add(Severity::kProblem, "certificate", path, "cannot read the certificate: " + error,
          "smtpd cannot load it either: STARTTLS fails (454 4.7.0 TLS not available) and "
          "senders fall back to plaintext. (Run selfcheck as root: Postfix reads the file as "
          "root.)",
          "fix the path or permissions, or postconf -e 'smtpd_tls_cert_file = /path/to/cert.pem'");
      return;
    }
    std::string names = join(cert->names);
    if (cert->seconds_left < 0)
      add(Severity::kProblem, "certificate", path, "the certificate expired on " + cert->not_after,
          "Verifying senders (DANE, MTA-STS) refuse to deliver; others log TLS errors.",
          "renew it (e.g. certbot renew) and run postfix reload");
    else if (cert->not_yet_valid)
      add(Severity::kProblem, "certificate", path, "the certificate is not valid yet",
          "Verifying senders refuse it; check the clock and the certificate.",
          "install a certificate valid now and run postfix reload");
    else if (cert->seconds_left < kExpirySoon)
      add(Severity::kWarning, "certificate", path,
          "the certificate expires soon: " + cert->not_after + " (" +
              std::to_string(cert->seconds_left / 86400) + " days)",
          "After that, verifying senders refuse to deliver.",
          "renew it (e.g. certbot renew) and run postfix reload");
    if (is_fqdn(r_.banner_name)) {
      if (cert->covers(r_.banner_name))
        add(Severity::kOk, "certificate", path,
            "the certificate covers the banner name " + r_.banner_name + " (names: " + names +
                "; expires " + cert->not_after + ")");
      else
        add(Severity::kWarning, "certificate", path,
            "the certificate names (" + names + ") do not cover the banner name " + r_.banner_name,
            "Senders that verify the server name (DANE, MTA-STS, smtp_tls_security_level = "
            "verify) refuse the connection; opportunistic TLS still encrypts.",
            "get a certificate with subjectAltName DNS:" + r_.banner_name +
                " (e.g. certbot certonly -d " + r_.banner_name +
                ") and postconf -e 'smtpd_tls_cert_file = /path/to/it.pem'");
    }
    if (is_fqdn(r_.helo_name) && r_.helo_name != r_.banner_name && !cert->covers(r_.helo_name))
      add(Severity::kInfo, "certificate", path,
          "the certificate does not cover the HELO name " + r_.helo_name,
          "Only matters if this host is reached under its HELO name too.",
          "add DNS:" + r_.helo_name + " to the certificate's subjectAltName");
    if (cert->self_signed)
      add(Severity::kInfo, "certificate", path, "the certificate is self-signed",
          "Opportunistic TLS (what most senders do) still encrypts; MTA-STS and verifying "
          "senders reject it (DANE-EE with a TLSA record accepts it).",
          "use a certificate from a public CA (e.g. Let's Encrypt) for " +
              (r_.banner_name.empty() ? std::string("the banner name") : r_.banner_name));
    r_.certificates.push_back(std::move(*cert));
  }

  DnsResolver& resolver_;
  const EvaluateOptions& options_;
  Report r_;
  std::string protocols_;
  bool all_protocols_ = true;
};

}  // namespace

Severity Report::worst() const {
  return worst_severity(findings);
}

int Report::exit_code() const {
  return exit_code_for(worst());
}

Report evaluate(const PostconfValues& settings, DnsResolver& resolver,
                const EvaluateOptions& options) {
  return Checker(settings, resolver, options).run();
}

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
  add_classes(get(main, "smtpd_restriction_classes"));
  for (const auto& [id, values] : in.overrides)
    add_classes(get(values, "smtpd_restriction_classes"));
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
  o << "Postfix " << get(r.settings, "mail_version") << ", config "
    << get(r.settings, "config_directory") << "\n";
  line("myhostname", r.myhostname);
  line("banner name", r.banner_name + "  (smtpd_banner = " + get(r.settings, "smtpd_banner") + ")");
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
  if (get(*settings, "myhostname").empty())
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
